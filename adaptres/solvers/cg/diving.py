"""Price-and-dive: a primal heuristic on the master LP (the diving of Sadykov, Vanderbeck, Pessoa, Tahiri and
Uchoa, "Primal heuristics for branch and price: the assets of diving methods", INFORMS J. Computing 2019).

From the LP's solution, the plan whose count is closest to a whole number above it is fixed at that number (its
lower bound raised), columns are generated again under the fix (the prices see it), and so on until every plan's
count is whole. A plan that does not fit beside those fixed is bounded to the number below instead; one that
cannot be served on its own (the LP may use it) to none. Each fix takes a request's plan out of the LP's hands,
so a dive makes at most R fixes. A fix that leaves the LP infeasible is turned the other way (the count at most
the number below), a few times per dive. The first time no fractional plan fits beside those fixed, the dive
also completes what it has (``complete``): the plans fixed so far kept, the other requests placed one after the
other on what they leave — a plan even where the dive goes on to leave requests unserved (at N = 50 devices and
20 requests it did: 10.32 for the dive's own plan, 0.330 completed). The cheaper of the two is the dive's plan;
a dive that meets an infeasible LP or runs out of time gives only its completion. Plans are checked by the
evaluator (the LP counts a unit's weights on a device in part, the integer master whole). The bounds are put
back and the root's LP solved again before the search goes on.
"""

from __future__ import annotations

import math

from ...problem.evaluate import evaluate
from ...problem.plan import Plan
from .data import Arrays, Column
from .generation import Clock, generate
from .heuristics import greedy
from .integer import MipResult, plan_of
from .master import Master
from .pricing import Pricer, Prices
from .tree import integral

WHOLE = 1e-6  # a count this close to a whole number is whole
CANDIDATES = 50  # columns tried per fix at most (those that do not fit beside the fixed plans are bounded out)
BACKTRACKS = 5  # fixes undone and turned the other way (the count at most the number below) when the LP fails


def _candidates(master: Master) -> list[tuple[int, int]]:
    """The plan columns (those that fit on their own) whose LP count is fractional, with the whole number above
    it, closest to it first (ties: the larger count, then the first column)."""
    x, out = master.x, []
    for c in range(len(master.columns)):
        if not isinstance(master.columns[c], Column) or not master.fits[c]:
            continue
        v = x[c]
        f = v - math.floor(v)
        if WHOLE < f < 1 - WHOLE:
            out.append((-f, -v, c))
    return [(c, math.ceil(x[c])) for _, _, c in sorted(out)]


def feasible(ar: Arrays, master: Master, counts: dict) -> bool:
    """Does the evaluator find the counts' plan within every device's and link's capacity?"""
    return evaluate(ar.sc, Plan("dive", tuple(plan_of(ar, master, counts)))).feasible


def dive(ar: Arrays, pricer: Pricer, master: Master, seconds: float, log: dict,
         allow_unserved: bool = True) -> MipResult | None:
    """One dive from the master's current LP solution, within ``seconds``; the plan (as the integer master's
    counts, no bound) or None. ``log["dive"]`` records the fixes made and how the dive ended."""
    clock = Clock(seconds)
    h = master.h
    changed: list[tuple[int, float, float]] = []  # column, its lower and upper bounds before the dive changed them
    chosen: dict[int, int] = {}  # the plans fixed so far: column -> count
    end, counts, backtracks, completed = "time", None, 0, None

    def bound(c: int, lo: float | None = None, hi: float | None = None) -> None:
        """Column c's bounds changed (None: the old one kept), the old ones noted to be put back."""
        lp = h.getLp()
        old = float(lp.col_lower_[c]), float(lp.col_upper_[c])
        changed.append((c, *old))
        h.changeColBounds(c, old[0] if lo is None else lo, old[1] if hi is None else hi)
    try:
        while clock.left() > 0:
            counts = integral(master, allow_unserved, shares=False)
            if counts is not None:
                end = "whole" if master.within_budgets(counts) and feasible(ar, master, counts) else "over capacity"
                break
            tried = _candidates(master)[:CANDIDATES]
            if not tried:  # plans that cannot be served on their own, out (as in the integer master)
                x = master.x
                alone = [c for c, what in enumerate(master.columns) if isinstance(what, Column) and not master.fits[c]
                         and x[c] > WHOLE]
                if not alone:  # only the unserved counts or the weights' shares are fractional
                    end = "nothing to fix"
                    break
                for c in alone:
                    bound(c, hi=0.0)
            pick = next(((c, n) for c, n in tried if feasible(ar, master, {**chosen, c: n})), None)
            if pick is None and completed is None:  # stuck: the plans fixed so far, the rest placed greedily
                completed = complete(ar, pricer, master, chosen, clock)
            for c, n in tried[:tried.index(pick) if pick else len(tried)]:
                bound(c, hi=float(n - 1))  # does not fit beside the plans fixed: at most the number below
            if pick is not None:
                bound(pick[0], lo=float(pick[1]))
                chosen[pick[0]] = pick[1]
            status, _, _ = generate(ar, pricer, master, clock, 0.0, log)
            if status == "infeasible" and pick is not None and backtracks < BACKTRACKS:  # the other way
                backtracks += 1
                c, lo, hi = changed.pop()
                h.changeColBounds(c, lo, hi)
                chosen.pop(c)
                bound(c, hi=float(pick[1] - 1))
                status, _, _ = generate(ar, pricer, master, clock, 0.0, log)
            if status != "optimal":
                end = f"LP {status}"
                break
    finally:
        for c, lo, hi in reversed(changed):
            h.changeColBounds(c, lo, hi)
        master.solve_lp(max(5.0, clock.left()))  # the root's LP solution again (with the columns the dive added)
    log["dive"] = {"fixes": len(chosen), "bounds_changed": len(changed), "backtracks": backtracks, "end": end,
                   "s": round(clock.elapsed(), 3), "completed": None if completed is None else master.value(completed)}
    found = ([counts] if end == "whole" and counts is not None else []) + ([completed] if completed else [])
    best = min(found, key=master.value, default=None)
    return None if best is None else MipResult("dive", master.value(best), None, best)


def complete(ar: Arrays, pricer: Pricer, master: Master, chosen: dict, clock: Clock) -> dict | None:
    """The plans fixed so far and the other requests placed one after the other on what is left (``greedy``,
    at the LP's prices and at none, in order and reversed): the cheapest that fits, or None."""
    _, _, prices, _ = master.solve_lp(max(1.0, clock.left()))
    out = []
    for p in (prices, Prices.zero(ar.N)):
        for reverse in (False, True):
            counts = greedy(ar, pricer, master, p, clock.deadline(), reverse, fixed=chosen)
            if counts is not None and master.within_budgets(counts) and feasible(ar, master, counts):
                out.append(counts)
    return min(out, key=master.value) if out else None
