"""Ties broken on purpose: a second stage every method's plan goes through (``Options.ties``).

With α = 0 (§V-B, §V-D) latency is not in the objective, so among the many plans of equal objective a
solver returns whichever it meets first — a request's units alternating between two devices, a link
crossed at every block. This stage makes the choice explicit and the same for every method: each
served request keeps its configuration (so its accuracy, and whether it is served, are unchanged) and
is moved to the placement of lowest latency, then lowest energy, that fits what the other requests
leave on the devices; a move is kept only when the whole plan stays feasible and its objective does
not rise. The objective can therefore only fall (with α > 0 latency is part of it): a proven bound
stays a bound, and the primary optimum is never traded for a tie. An infeasible plan is left as the
method made it (its violations are the method's to report).

The placements come from the column generation's pricing pass (``cg.pricing``: a shortest path over
units × devices, every segment within what its device holds), priced in seconds of latency plus
``ENERGY_S_PER_J`` seconds per joule, so that energy decides only between placements of equal latency;
where the one that fits must come back to a device (more than the pass's plans can), every placement
cheaper than the current one is listed and the cheapest that fits taken.
"""

from __future__ import annotations

import copy

import numpy as np

from ..problem.evaluate import evaluate
from ..problem.plan import Assignment, Plan
from ..problem.scenario import Scenario
from .cg.data import MB, Arrays, Column
from .cg.heuristics import place, place_listed
from .cg.keys import RESOURCES
from .cg.pricing import Pricer, Prices

ENERGY_S_PER_J = 1e-6  # a joule weighs as a microsecond of latency: energy breaks latency's ties only
PASSES = 3  # over the requests, while a pass still moves one
TOL = 1e-12


def _use(ar: Arrays, col: Column) -> dict[str, np.ndarray]:
    """What a column uses of each device, per kind (weights counted per request: a safe bound)."""
    _, use = ar.column(col)
    out = {kind: np.zeros(ar.N) for kind in RESOURCES}
    for kind in RESOURCES:
        for i, v in use[kind].items():
            out[kind][i] += v
    if ar.shared:
        for j, i in enumerate(col.place):
            out["memory"][i] += ar.weight[j, int(ar.drop[col.k, j])] / MB
    return out


def _key(ar: Arrays, col: Column) -> tuple[float, float]:
    """(latency in seconds, energy in joules) of a column."""
    latency, use = ar.column(col)
    return float(latency), float(sum(use["energy"].values()))


def break_ties(sc: Scenario, requests: tuple[Assignment, ...]) -> tuple[tuple[Assignment, ...], int]:
    """``requests`` with each served request moved to its placement of least latency, then energy (see the
    module's docstring). Returns the assignments and how many moves were kept."""
    served = [r for r, q in enumerate(requests) if q.served]
    if not served or sc.n_devices < 2:
        return requests, 0
    ev = evaluate(sc, Plan("ties", tuple(requests)))
    if ev.violations:  # ties are broken between feasible plans; an infeasible one is the method's to report
        return requests, 0
    ar = copy.copy(Arrays(sc))
    ar.lat_w, ar.price = 1.0, np.zeros(ar.N)  # columns priced in seconds of latency ...
    names = sc.unit_names
    ar_s = {s: ar.sources.index(s) for s in ar.sources}
    cols = {r: Column(ar_s[sc.requests[r].source], int(requests[r].config or 0),
                      tuple(requests[r].placement[n] for n in names)) for r in served}
    uses = {r: _use(ar, c) for r, c in cols.items()}
    keys = {r: _key(ar, c) for r, c in cols.items()}
    prices = Prices.zero(ar.N)
    prices.energy = np.full(ar.N, ENERGY_S_PER_J)  # ... plus a microsecond per joule
    pricers: dict[int, Pricer] = {}  # per configuration, a pass over its plans alone
    for c in cols.values():
        if c.k not in pricers:
            own = copy.copy(ar)
            own.K = np.array([c.k])
            own.acc_cost = np.where(np.arange(len(sc.configs)) == c.k, 0.0, np.inf)  # priced in latency alone
            pricers[c.k] = Pricer(own)
    current = list(requests)
    moves = 0
    for _ in range(PASSES):
        moved = False
        for r in served:
            col = cols[r]
            others = {kind: sum(uses[o][kind] for o in served if o != r) for kind in RESOURCES}
            here = pricers[col.k].on(pricers[col.k].ar.residual(others))  # its own configuration only
            lat0, en0 = keys[r]
            new = place(here, prices, col.s) or place_listed(here, prices, col.s, lat0 + ENERGY_S_PER_J * en0)
            if new is None or new.place == col.place:
                continue
            (lat, en), (lat0, en0) = _key(ar, new), keys[r]
            if not (lat < lat0 - TOL * max(1.0, lat0) or (lat <= lat0 + TOL * max(1.0, lat0) and en < en0 - TOL)):
                continue
            trial = current[:]
            trial[r] = Assignment(True, new.k, dict(zip(names, new.place)))
            ev_new = evaluate(sc, Plan("ties", tuple(trial)))
            if ev_new.violations or ev_new.objective > ev.objective + TOL * max(1.0, abs(ev.objective)):
                continue
            current, ev, cols[r], uses[r], keys[r] = trial, ev_new, new, _use(ar, new), (lat, en)
            moves, moved = moves + 1, True
        if not moved:
            break
    return tuple(current), moves
