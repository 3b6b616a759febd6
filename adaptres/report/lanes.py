"""Work run side by side in lanes: each lane a process of its own (``multiprocessing``'s spawn: a fresh
interpreter, nothing inherited but the environment) doing its own tasks one after another, then taking shared
ones until none is left, the lanes at once; and one piece of work beside whatever the caller does meanwhile
(``beside``).

A task that fails (raises) stops its lane; the other lanes finish the task they are on and start no other; the
first failure is raised here, as a ``RuntimeError`` with its message, once every lane has stopped. Ctrl-C stops
every lane (each gets it too) and is raised here. With one lane the tasks run in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
from collections.abc import Callable, Iterator, Sequence
from typing import Any

LANE_DIED = "lane {i} ended with status {code} before it reported"


def run(lanes: Sequence[Sequence[Any]], work: Callable[[Any], dict], shared: Sequence[Any] = ()) -> list[dict]:
    """``work(task)`` for every task: each lane does its own tasks, then takes the ``shared`` ones, in their order,
    until none is left (so a lane that ends early helps the others). The rows ``work`` returned, each with the
    ``lane`` (its index) that ran it, lane by lane. ``work`` must be picklable (a module's function, or a
    ``functools.partial`` of one)."""
    lanes, shared = [list(lane) for lane in lanes], list(shared)
    if len(lanes) <= 1:
        return [{**work(t), "lane": 0} for t in [*(lanes[0] if lanes else []), *shared]]
    ctx = mp.get_context("spawn")
    stop, done, taken = ctx.Event(), ctx.Queue(), ctx.Value("i", 0)
    procs = [ctx.Process(target=_lane, args=(i, lane, shared, taken, work, stop, done), name=f"lane-{i}")
             for i, lane in enumerate(lanes)]
    for p in procs:
        p.start()
    got: dict[int, tuple[list[dict], str | None]] = {}
    try:
        while len(got) < len(procs):
            try:
                i, rows, error = done.get(timeout=1.0)
                got[i] = (rows, error)
            except queue.Empty:
                for i, p in enumerate(procs):  # a lane killed from outside reports nothing
                    if i not in got and p.exitcode not in (None, 0):
                        got[i] = ([], LANE_DIED.format(i=i, code=p.exitcode))
                        stop.set()
    except KeyboardInterrupt:
        stop.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        raise
    finally:
        for p in procs:
            p.join()
    errors = [e for i in sorted(got) if (e := got[i][1])]
    if errors:
        raise RuntimeError(errors[0])
    return [row for i in sorted(got) for row in got[i][0]]


def _tasks(own: list, shared: list, taken) -> Iterator[Any]:
    """A lane's own tasks, then the shared ones that no other lane has taken."""
    yield from own
    while True:
        with taken.get_lock():
            k = taken.value
            taken.value = k + 1
        if k >= len(shared):
            return
        yield shared[k]


def _lane(i: int, own: list, shared: list, taken, work: Callable[[Any], dict], stop, done) -> None:
    rows: list[dict] = []
    error = None
    try:
        for task in _tasks(own, shared, taken):
            if stop.is_set():
                break
            rows.append({**work(task), "lane": i})
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as exc:  # noqa: BLE001 -- any failure of a task ends its lane and stops the others, named
        error = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
    if error is not None:
        stop.set()
    done.put((i, rows, error))


@contextlib.contextmanager
def beside(work: Callable[..., Any], *args) -> Iterator[Callable[[], Any]]:
    """``work(*args)`` in a process of its own (spawned) while the body runs: yields a function that waits for its
    result (its error raised here as it was raised there; a process that ended without one: ``RuntimeError``). If
    the body raises, the process is ended."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_beside, args=(work, args, out), name="beside")
    proc.start()
    got: list = []

    def result() -> Any:
        while not got:
            try:
                got.append(out.get(timeout=1.0))
            except queue.Empty:
                if proc.exitcode is not None and out.empty():  # ended without a word (killed, or its start failed)
                    raise RuntimeError(f"the work beside ({getattr(work, '__name__', work)}) ended with status "
                                       f"{proc.exitcode} before it reported") from None
        ok, value = got[0]
        if not ok:
            raise value
        return value
    try:
        yield result
        result()  # waited for even when the body did not ask (a process does not end before its result is read)
    except BaseException:
        proc.terminate()
        raise
    finally:
        proc.join()


def _beside(work: Callable[..., Any], args: tuple, out) -> None:
    try:
        out.put((True, work(*args)))
    except BaseException as exc:  # noqa: BLE001 -- handed to the caller, who raises it
        out.put((False, exc))
