"""A first integer plan for the column generation: requests placed one after the other.

Each request takes the cheapest plan (under given prices: the master's, so that scarce devices are
spared for the requests still to come, or none) that fits what the devices have left; the pricing
passes run on the remaining capacities (``Arrays.residual``), and when their plan overflows a device
it comes back to, on plans that visit the devices in one order. Memory is counted per request (weights
too), a safe bound under both memory models. The plans become columns of the master.
"""

from __future__ import annotations

import time

import numpy as np

from .data import MB, Arrays, Column
from .keys import RESOURCES, UnservedCol
from .master import Master
from .pricing import Pricer, Prices


def place(pricer: Pricer, prices: Prices, s: int) -> Column | None:
    """The cheapest plan of source s under ``prices`` that fits ``pricer``'s capacities, or None.
    The pricing pass checks each segment (a run of units on one device) alone; when its plan comes back
    to a device and together its segments overflow it, the pass runs again on plans that visit the
    devices in one order (each device once, so each segment is all it puts there): fastest first,
    slowest first, and most room first; the cheapest of those that fit is taken (and if none does, the
    same again with the batteries' margin for sending, ``Arrays.sparing``)."""
    ar = pricer.ar
    found = _fitting(pricer, prices, s)
    if found is not None:
        return found[1]
    orders = (np.argsort(-ar.kernel.speed, kind="stable"), np.argsort(ar.kernel.speed, kind="stable"),
              np.argsort(-ar.macs_limit, kind="stable"))
    for arrays in (ar, ar.sparing()):  # then with the batteries' margin for sending
        tries = [_fitting(pricer.on(arrays, order), prices, s) for order in (None, *orders)]
        tries = [t for t in tries if t is not None and ar.fits_alone(np.array([t[1].place]), t[1].k, s)[0]]
        if tries:
            return min(tries, key=lambda t: t[0])[1]
    return None


def place_listed(pricer: Pricer, prices: Prices, s: int, limit: float, cap: int = 100_000,
                 seconds: float = 2.0) -> Column | None:
    """The cheapest plan of source s priced at most ``limit`` that fits, found by listing the plans within a
    price (``Pricer.enumerate``) — from just above the cheapest plan's price (which may not fit) up to
    ``limit`` — where the plan that fits must come back to a device, which ``place``'s passes (each device
    once) cannot build. None when there is none, or past ``cap`` partial plans or ``seconds``."""
    value, _, _ = pricer.best(prices, s)
    low = float(np.min(value))
    if not np.isfinite(low):
        return None
    deadline = time.perf_counter() + seconds
    step = max(abs(low), 1e-9) * 0.1
    while True:
        within = min(limit, low + step)
        found = pricer.enumerate(prices, s, within, cap, deadline=deadline)
        if found is None:
            return None
        if found:
            return found[0][1]
        if within >= limit:
            return None
        step *= 2


def _fitting(pricer: Pricer, prices: Prices, s: int):
    """(price, column) of the cheapest configuration whose cheapest plan fits on its own, or None: the
    cheapest first, then every other at once."""
    ar = pricer.ar
    value, column, _ = pricer.best(prices, s)
    order = np.argsort(value, kind="stable")
    order = order[np.isfinite(value[order])]
    if not len(order):
        return None
    col = column(int(order[0]))
    if ar.fits_alone(np.array([col.place]), col.k, s)[0]:
        return float(value[order[0]]), col
    rest = order[1:]
    fits = ar.fits_alone(column.places(rest), ar.K[rest], s)
    if not fits.any():
        return None
    c = int(rest[fits.argmax()])
    return float(value[c]), column(c)


def greedy(ar: Arrays, pricer: Pricer, master: Master, prices: Prices, deadline: float,
           reverse: bool = False, fixed: dict | None = None) -> dict | None:
    """Requests in order (or the reverse), each on the cheapest plan that still fits; returns the
    master's counts (its columns added), or None when time ran out. ``fixed``: counts of plan columns
    taken already (a dive's fixes), their requests' places kept; only the others are placed."""
    used = {kind: np.zeros(ar.N) for kind in RESOURCES}
    counts: dict[int, int] = {}
    left = ar.n_s.astype(int).copy()  # requests of each source still to place

    def take(col: Column, n: int = 1) -> None:
        _, use = ar.column(col)
        for kind in RESOURCES:
            for i, v in use[kind].items():
                used[kind][i] += n * v
        if ar.shared:  # the weights too, per request (a safe bound)
            for j, i in enumerate(col.place):
                used["memory"][i] += n * ar.weight[j, int(ar.drop[col.k, j])] / MB
        c = master.index[col]
        counts[c] = counts.get(c, 0) + n
        left[col.s] -= n
    for c, n in (fixed or {}).items():
        take(master.columns[c], n)
    for q in (reversed(ar.sc.requests) if reverse else ar.sc.requests):
        if time.perf_counter() > deadline:
            return None
        s = ar.sources.index(q.source)
        if left[s] <= 0:
            continue
        col = place(pricer.on(ar.residual(used)), prices, s)
        if col is None:
            continue
        master.add(col)
        take(col)
    for c, what in enumerate(master.columns):  # the rest unserved
        if isinstance(what, UnservedCol) and left[what.s] > 0:
            counts[c] = int(left[what.s])
    return counts
