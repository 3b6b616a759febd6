"""A plan found by diving on the master LP: the column generation's primal heuristic at scale.

From the root's LP (cuts included), the plan column with the largest fractional value is fixed up (its
lower bound raised to the next integer: one more request of its source takes that plan), columns are
generated again under the fixing, and so on until the LP is integer — a plan — or it needs an artificial
column, or time is up. The fixings are undone after; the master's LP is solved again, so that what follows
reads the root's solution. The dive proves nothing: its plan only competes with the integer master's.
"""

from __future__ import annotations

import time

import numpy as np

from .data import Arrays, Column
from .generation import Clock, generate
from .integer import MipResult
from .master import Master
from .pricing import Pricer
from .tree import integral


def fractional(master: Master) -> int | None:
    """The plan column of the LP whose value is furthest above its floor (the lowest index among equals), or
    None when every plan column is whole. Only columns that can be served on their own are fixed."""
    x = master.x
    best, pick = 1e-6, None
    for c, what in enumerate(master.columns):
        if isinstance(what, Column) and master.fits[c]:
            f = x[c] - np.floor(x[c])
            if f > best:
                best, pick = f, c
    return pick


def dive(ar: Arrays, pricer: Pricer, master: Master, clock: Clock, deadline: float, log: dict,
         allow_unserved: bool = True) -> MipResult | None:
    """The plan the dive ends on (``time.perf_counter`` ``deadline``), or None when it found none."""
    h = master.h
    fixed: dict[int, float] = {}  # column -> its upper bound, to undo the fixing
    found = None
    reserve = clock.t0 + clock.limit - deadline  # seconds left at the deadline (``generate``'s stop_at)
    try:
        for _ in range(ar.R + 1):  # each round fixes one more request of a source: at most R rounds
            counts = integral(master, allow_unserved)
            if counts is not None:
                if all(master.fits[c] for c in counts if isinstance(master.columns[c], Column)):
                    found = MipResult("feasible", master.value(counts), None, counts)
                break
            c = fractional(master)
            if c is None or time.perf_counter() >= deadline:
                break
            _, _, _, upper, _ = h.getCol(c)
            lower = float(np.ceil(master.x[c] - 1e-9))
            if lower > upper:
                break
            fixed.setdefault(c, upper)
            h.changeColBounds(c, lower, upper)
            status, _, converged = generate(ar, pricer, master, clock, max(reserve, 0.0), log)
            if status != "optimal" or not converged:
                break
    finally:
        for c, upper in fixed.items():
            h.changeColBounds(c, 0.0, upper)
        if fixed:
            master.solve_lp(max(clock.left(), 1.0))
    log["dive_fixed"] = len(fixed)
    return found
