"""Work run side by side in lanes: each lane a list of tasks done one after another in a process of its own,
the lanes at once (``multiprocessing``'s spawn: a fresh interpreter, nothing inherited but the environment).

A task that fails (raises) stops its lane; the other lanes finish the task they are on and start no other; the
first failure is raised here, as a ``RuntimeError`` with its message, once every lane has stopped. Ctrl-C stops
every lane (each gets it too) and is raised here. With one lane the tasks run in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Sequence
from typing import Any

LANE_DIED = "lane {i} ended with status {code} before it reported"


def run(lanes: Sequence[Sequence[Any]], work: Callable[[Any], dict]) -> list[dict]:
    """``work(task)`` for every task of every lane (see the module); the rows it returned, lane by lane. ``work``
    must be picklable (a module's function, or a ``functools.partial`` of one)."""
    lanes = [list(lane) for lane in lanes if lane]
    if len(lanes) <= 1:
        return [work(t) for lane in lanes for t in lane]
    ctx = mp.get_context("spawn")
    stop, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_lane, args=(i, lane, work, stop, done), name=f"lane-{i}")
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


def _lane(i: int, tasks: list, work: Callable[[Any], dict], stop, done) -> None:
    rows: list[dict] = []
    error = None
    try:
        for task in tasks:
            if stop.is_set():
                break
            rows.append(work(task))
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as exc:  # noqa: BLE001 -- any failure of a task ends its lane and stops the others, named
        error = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
    if error is not None:
        stop.set()
    done.put((i, rows, error))
