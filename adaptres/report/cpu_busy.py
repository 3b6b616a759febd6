"""How busy the machine's CPUs were while a job ran: ``sampled`` writes, every ``every_s`` seconds, the share
of all cores' time that was not idle since the last sample, and the share a virtual machine's host took for
others (*steal*: time this machine's CPUs were busy but not for it) (Linux' ``/proc/stat``; nothing elsewhere).

The main job keeps it beside its report (``runs/<profile>/cpu_busy.csv``): with notebooks side by side, it says
whether the cores were full (a third notebook at once would only slow the others) or waiting (on the test bed's
modelled times, a solver's time limit, a live run's fixed duration)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pandas as pd

from ..io import provenance, write_table

STAT = Path("/proc/stat")


def read(stat: str) -> tuple[int, int, int] | None:
    """(busy, total, steal) jiffies of all cores from the text of ``/proc/stat`` (idle and iowait are not busy;
    steal, the host's, is)."""
    for line in stat.splitlines():
        if line.startswith("cpu "):
            ticks = [int(x) for x in line.split()[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            return sum(ticks) - idle, sum(ticks), ticks[7] if len(ticks) > 7 else 0
    return None


def busy_pct(before: tuple[int, ...], after: tuple[int, ...], part: int = 0) -> float:
    """The share (%) of the cores' time between two ``read``s that was busy (``part`` 2: stolen by the host)."""
    total = after[1] - before[1]
    return round(100.0 * (after[part] - before[part]) / total, 1) if total > 0 else 0.0


@contextlib.contextmanager
def sampled(out: Path, t0: float, every_s: float = 30.0):
    """Within the block, a thread samples the CPUs' busy share every ``every_s`` seconds; at its end the rows
    (minutes since ``t0``, a ``time.time()`` value; busy %; of it stolen %) are written to ``out``, the last sample
    taken then."""
    if not STAT.is_file():
        yield
        return
    rows: list[dict] = []
    stop = threading.Event()
    last = [read(STAT.read_text())]

    def sample() -> None:
        now = read(STAT.read_text())
        if now is not None and last[0] is not None:
            rows.append({"minute": round((time.time() - t0) / 60, 2), "busy_pct": busy_pct(last[0], now),
                         "steal_pct": busy_pct(last[0], now, 2)})
        last[0] = now

    def loop() -> None:
        while not stop.wait(every_s):
            sample()

    thread = threading.Thread(target=loop, name="cpu-busy", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sample()
        write_table(pd.DataFrame(rows, columns=["minute", "busy_pct", "steal_pct"]), out,
                    provenance(what="the CPUs' busy share (all cores) since the sample before, and the part of it "
                                    "the host took for others (steal)", every_s=every_s))
