"""Bounds every method shares (no solver library): how many requests the devices could serve at most,
and the gap of a plan to a bound measured on what a plan can still change."""

from __future__ import annotations

import numpy as np

from .formulas import UNSERVED_PENALTY
from .scenario import Scenario


def least_cost(sc: Scenario, parts: tuple[str, ...], first: int = 0, last: int | None = None) -> float:
    """The least that units ``first..last`` (default: the whole request) cost in ``parts`` (of macs,
    weight, activation) under any allowed configuration (0 when none is allowed)."""
    last = len(sc.units) - 1 if last is None else last
    return float(least_cost_runs(sc, parts)[first, last]) if 0 <= first <= last else 0.0


def least_cost_runs(sc: Scenario, parts: tuple[str, ...]) -> np.ndarray:
    """``least_cost`` of every run of units a ≤ b at once: (M, M), its [a, b] entry (inf below the diagonal; 0 on
    and above it when no configuration is allowed), each summed unit by unit and part by part from unit a."""
    allowed, M = sc.allowed_configs(), len(sc.units)
    if not allowed:
        return np.where(np.triu(np.ones((M, M), dtype=bool)), 0.0, np.inf)
    drops = np.array([[sc.drops(k, j) for j in range(M)] for k in allowed], dtype=bool).reshape(len(allowed), M)
    # (units × parts, 2): each unit's parts kept and dropped (where some allowed configuration drops it)
    cost = np.array([[getattr(sc.unit_cost(j, d), p) if not d or drops[:, j].any() else np.nan for d in (False, True)]
                     for j in range(M) for p in parts], dtype=float).reshape(-1, 2)
    picked = np.take_along_axis(cost.T, np.repeat(drops, len(parts), axis=1).astype(int), axis=0)  # (configs, M·parts)
    n, out = len(parts), np.full((M, M), np.inf)
    for a in range(M):
        ends = np.cumsum(picked[:, a * n:], axis=1)[:, n - 1::n]  # (configs, M − a): units a … b
        out[a, a:] = ends.min(axis=0)
    return out


def served_bound(sc: Scenario) -> int:
    """The most requests the devices' capacities together could serve (Eqs 13-14 summed over devices,
    each request at its cheapest allowed configuration), rounded down. No plan serves more; rounding
    makes the bound on the number unserved an integer, which the LP relaxation alone does not see."""
    R = len(sc.requests)
    if R == 0 or not sc.allowed_configs():
        return 0
    memory = ("activation",) if sc.memory_model == "shared_weights" else ("weight", "activation")
    fits = [sum(d.compute_macs for d in sc.devices) / max(least_cost(sc, ("macs",)), 1e-12),
            sum(d.memory_bytes for d in sc.devices) / max(least_cost(sc, memory), 1e-12)]
    return min(R, int(min(fits) * (1 + 1e-9)))


def relative_gap(sc: Scenario, objective: float, bound: float) -> float:
    """(objective − bound) / objective where every request could be served. Where some cannot — more
    requests than the devices' summed capacities fit (``served_bound``) — their penalty of 10 each is in
    every plan's objective: it is a lower bound (``floor``) no plan goes below, and it would make any plan
    look optimal by the plain measure (400 000 requests, 5 servable, none served: within 1e-5 of an
    objective of 4e6). There the gap is (objective − max(bound, floor)) / (objective − floor): the share
    of what a plan can change that is not proven minimal, in [0, 1]."""
    diff, floor = objective - bound, UNSERVED_PENALTY * (len(sc.requests) - served_bound(sc))
    if not floor:  # every request could be served: the usual relative gap
        return max(0.0, diff / max(abs(objective), 1e-12))
    if diff <= 1e-9 * max(1.0, abs(objective)):  # the plan meets the bound
        return 0.0
    return min(1.0, max(0.0, objective - max(bound, floor)) / max(abs(objective - floor), 1e-12))
