"""Column generation at one node: the master LP, the pricing of every source, the Lagrangian bound.

At each round the master LP gives prices; every source's cheapest columns are priced exactly
(``Pricer.best``) and those that would improve the LP are added. Each round also gives a Lagrangian
lower bound (``lagrangian_bound``), valid for any prices of the right signs — so the bound is sound
whether or not the generation has converged, and at convergence it equals the LP's value.
"""

from __future__ import annotations

import time

import numpy as np

from ...problem.formulas import UNSERVED_PENALTY
from .data import Arrays, Column
from .master import Master
from .pricing import Pricer, Prices

PER_ROUND = 8  # columns added per source and round (its cheapest configurations)
SMOOTHING = 0.5  # the weight of the best bound's prices in the prices a round prices at (0: the LP's own)


class Clock:
    """A solve's time limit: ``limit`` seconds from when it was made (``time.perf_counter``)."""

    def __init__(self, limit: float):
        self.t0, self.limit = time.perf_counter(), limit

    def left(self) -> float:
        return self.limit - (time.perf_counter() - self.t0)

    def deadline(self, reserve: float = 0.0) -> float:
        """The ``time.perf_counter`` value at which only ``reserve`` seconds are left."""
        return self.t0 + self.limit - reserve

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def lagrangian_bound(ar: Arrays, master: Master, prices: Prices, floors: list[float]) -> float:
    """A lower bound on the optimum of the master's node from prices λ, η ≥ 0 and any branching duals:
    −λ · capacities + the branching rows' duals × their active bounds + Σ_s n_s · min(10, the cheapest
    column price of s) + Σ over loaded-unit variables of min(0, their price) − the budget rows' prices × their
    budgets and the cuts' prices (each at most 1). ``floors[s]`` may be any lower bound on source s's cheapest price."""
    bound = -sum(float(getattr(prices, kind) @ ar.cap[kind]) for kind in ("compute", "energy", "memory"))
    for kind, price in (("loss", prices.loss), ("energy", prices.total_energy)):  # a front's budget rows
        if price:
            bound -= price * master.budgets[kind]
    bound -= float(sum(prices.cut.values()))  # the cuts over segment sizes: each at most 1
    bound -= sum(price * key.m for key, price in prices.level.items())  # the loss budget's level rows
    lo, hi = master.served
    bound += prices.served * (lo if prices.served > 0 else hi)
    for (s, j, i), (lo, hi) in master.arcs.items():
        y = prices.arc[s][j, i] if s in prices.arc else 0.0
        bound += y * (lo if y > 0 else hi) if y else 0.0
    bound += float(sum(n * min(UNSERVED_PENALTY, b) for n, b in zip(ar.n_s, floors)))
    for what in master.loaded:
        i, j, lvl = what.i, what.j, what.level
        price = ar.levels[j][lvl] * prices.memory[i]
        for s, eta in prices.eta.items():
            price -= ar.n_s[s] * eta[j, lvl:len(ar.levels[j]), i].sum()
        bound += min(0.0, price)
    return bound


def price_all(pricer: Pricer, prices: Prices, clock: Clock, sources=None):
    """Every source's (or those of ``sources``', in order) per-configuration prices and column builders (None when
    time ran out); sources without prices of their own share one pricing pass."""
    shared_dp, out = None, []
    for s in range(len(pricer.ar.sources)) if sources is None else sources:
        if clock.left() <= 0:
            return None
        own = s in prices.eta or s in prices.arc
        value, column, dp = pricer.best(prices, s, None if own else shared_dp)
        if not own:
            shared_dp = dp
        out.append((value, column, dp))
    return out


def improving(value: np.ndarray, column, pi: float) -> list[Column]:
    """A source's cheapest columns (at most ``PER_ROUND``, from its per-configuration prices ``value`` and builder
    ``column``) whose price is below its row's dual ``pi``: those that would improve the LP."""
    out, tol = [], 1e-9 * max(1.0, abs(pi))
    for c in np.argsort(value, kind="stable")[:PER_ROUND]:
        if not value[c] < pi - tol:
            break
        out.append(column(int(c)))
    return out


def add_columns(master: Master, priced, pi) -> int:
    """Add each source's cheapest columns that would improve the LP (those that cannot be served on
    their own too: the LP stays a relaxation, the integer master leaves them out)."""
    cols = [col for s, (value, column, _) in enumerate(priced) for col in improving(value, column, pi[s])]
    if master.cut_keys():  # many rows to fill: vectorised, by source and configuration
        return master.add_many(cols)
    return sum(master.add(c) for c in cols)  # one by one, in price order (the LP's ties resolved as they were)


def generate(ar: Arrays, pricer: Pricer, master: Master, clock: Clock, stop_at: float, log: dict):
    """Column generation at the master's node until no column improves the LP (or only ``stop_at``
    seconds are left). Returns the LP's status, the node's best bound with its prices and the sources'
    floors (bound −inf when no round finished), and whether the generation converged.

    The pricing is smoothed (Wentges): each source is priced at ``SMOOTHING`` × the prices of the best bound
    so far + the rest × the LP's, which damps the LP's prices jumping from one extreme point to another.
    Where that finds no column that improves the LP (a mis-price), the weight of the best bound's prices falls by
    1 − ``SMOOTHING`` for the next round (at 0.5: the LP's own prices), so the generation still ends only when no
    column improves the LP at its own prices or the bound meets the LP's value."""
    best: tuple[float, Prices, list[float] | None] = (-np.inf, Prices.zero(ar.N), None)
    converged, k, z_last, center, status = False, 0, np.inf, None, "time_limit"
    while not converged and clock.left() > stop_at:
        status, z_lp, prices, pi = master.solve_lp(clock.left() - stop_at)
        log["lp_solves"] += 1
        if status != "optimal":
            break
        if z_lp < z_last - 1e-9 * max(1.0, abs(z_lp)):  # the last columns improved the LP: smooth again
            k = 0
        z_last = z_lp
        while True:  # price at this LP's prices, moved toward them after each mis-price
            k += 1
            a = max(0.0, 1.0 - k * (1.0 - SMOOTHING)) if center is not None else 0.0
            here, pi_here = (prices, pi) if center is None or a == 0.0 else \
                (center[0].toward(prices, a), a * center[1] + (1 - a) * pi)
            priced = price_all(pricer, here, clock)
            if priced is None:
                return status, best, False
            added = add_columns(master, priced, pi_here)
            floors = [float(v.min()) for v, _, _ in priced]
            value = lagrangian_bound(ar, master, here, floors)
            if value > best[0]:
                best, center = (value, here, floors), (here, pi_here)
            # converged: no column improves the LP at its own prices, or the bound meets the LP's value
            converged = (added == 0 and a == 0.0) or z_lp - best[0] <= 1e-9 * max(1.0, abs(z_lp))
            if converged or added or clock.left() <= stop_at:
                break
    return status, best, converged


def seed_columns(ar: Arrays, pricer: Pricer, master: Master, start) -> None:
    """First columns: each source's cheapest plans at zero prices, and the caller's plan if any."""
    for value, column, _ in price_all(pricer, Prices.zero(ar.N), Clock(np.inf)):
        for c in np.argsort(value, kind="stable")[:PER_ROUND]:
            if np.isfinite(value[c]):
                master.add(column(int(c)))
    if start is not None:
        names = ar.sc.unit_names
        allowed = set(ar.K.tolist())
        for q, a in zip(ar.sc.requests, start.requests):
            if a.served and a.config in allowed:
                master.add(Column(ar.sources.index(q.source), a.config, tuple(a.placement[n] for n in names)))
