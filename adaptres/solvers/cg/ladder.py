"""A primal heuristic on the root's LP: the integer master over the plans of least reduced cost, a few more
at each rung.

After the root's column generation (with its cuts) the plans a good integer solution takes are mostly among
those the LP prices cheapest; a master restricted to a few hundred of them is solved to optimality in seconds,
where the whole master (thousands of plans) is not within the minute. Each rung doubles the plans (``RUNGS``)
from the incumbent, while a rung is solved to its end and its deadline allows. On a 224-px step of N = 50
devices and R = 20 requests the rung of 400 plans gave a plan 0.2 % better than the neighbourhood search found
in the rest of the minute; at N = 100, R = 50 the rungs found little (the neighbourhood search does better).
"""

from __future__ import annotations

import time

from .data import Column
from .integer import MipResult
from .master import Master

RUNGS = (100, 200, 400)  # plans of least reduced cost the integer master may take, rung by rung


def climb(master: Master, best: MipResult, mip, deadline: float, log: dict) -> MipResult:
    """The rungs of ``RUNGS`` from ``best`` until one is not solved to its end or ``deadline`` (a
    ``time.perf_counter`` value); the best plan found. ``mip(seconds, keep, start)`` solves the integer master
    on the ``keep`` plans of least reduced cost at the master's last LP (``Master.mip``). ``log["ladder"]``: the
    rungs climbed, those that found a better plan, seconds."""
    t0, rungs, better = time.perf_counter(), 0, 0
    if master.stale:  # columns added since the last LP: their reduced costs are not known
        master.solve_lp(deadline - t0)
    plans = sum(isinstance(w, Column) for w in master.columns)
    for keep in RUNGS:
        left = deadline - time.perf_counter()
        if best.objective is None or left <= 0:
            break
        found = mip(left, keep, best.counts)
        rungs += 1
        if found.objective is not None and found.objective < best.objective - 1e-12:
            best, better = MipResult("ladder", found.objective, None, found.counts), better + 1
        if found.status != "optimal" or keep >= plans:
            break
    log["ladder"] = {"rungs": rungs, "better": better, "s": round(time.perf_counter() - t0, 3)}
    return best
