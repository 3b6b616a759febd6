"""This machine's processes, by PID (from ``/proc``): whether one still runs, this process's ancestors and
descendants, and stopping a set of them (SIGTERM, then SIGKILL) — for what the project starts and must leave nothing of;
and whether this process was sent Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time


def exists(pid: int) -> bool:
    """Does ``pid`` run (a zombie does not)?"""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def parent(pid: int) -> int:
    """``pid``'s parent (OSError when ``pid`` is gone)."""
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def own() -> set[int]:
    """This process and its ancestors (a driver inside the test bed's hub must not kill itself)."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            pid = parent(pid)
        except (OSError, ValueError, IndexError):
            break
    return out


def descendants(pid: int | None = None) -> set[int]:
    """The children of ``pid`` (default: this process), theirs, and so on."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry)] = parent(int(entry))
    out, frontier = set(), {os.getpid() if pid is None else pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in out}
        out |= frontier
    return out


def kill(pids, signals=((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0))) -> None:
    """Stop ``pids``: each signal of ``signals`` in turn, with up to its seconds for them to end (by default
    SIGTERM, up to 3 s, then SIGKILL, up to 2 s)."""
    pids = list(pids)
    for sig, grace in signals:
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        end = time.time() + grace
        while pids and time.time() < end:
            pids = [p for p in pids if exists(p)]
            time.sleep(0.05)
        if not pids:
            return


_CTRL_C = threading.Event()


def _on_ctrl_c(signum, frame):
    _CTRL_C.set()
    signal.default_int_handler(signum, frame)  # KeyboardInterrupt, as always


def watch_ctrl_c() -> None:
    """Remember a Ctrl-C (SIGINT) besides raising KeyboardInterrupt, so that ``interrupted()`` can name it when
    code that caught the KeyboardInterrupt raised inside it turned it into another error (numpy comparing
    structured arrays reports a TypeError). Only where Ctrl-C raises KeyboardInterrupt (not where it is ignored)."""
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_ctrl_c)


def interrupted() -> bool:
    """Has this process been sent Ctrl-C since ``watch_ctrl_c``?"""
    return _CTRL_C.is_set()
