"""A first integer plan for the column generation: requests placed one after the other.

Each request takes the cheapest plan (under given prices: the master's, so that scarce devices are
spared for the requests still to come, or none) that fits what the devices have left; the pricing
passes run on the remaining capacities (``Arrays.residual``). Memory is counted per request (weights
too), a safe bound under both memory models. The plans become columns of the master.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from .data import MB, Arrays, Column
from .master import KINDS, Master
from .pricing import Prices, Pricer

TRIES = 6  # halvings of an overflowed device's limits before a request is left unserved


def place(pricer: Pricer, prices: Prices, s: int) -> Column | None:
    """The cheapest plan of source s under ``prices`` that fits ``pricer``'s capacities, or None.
    The pricing pass checks each segment (a run of units on one device) alone; when the plan comes back
    to a device and together its segments overflow it, that device's limits are halved and the pass
    runs again (a heuristic: at most ``TRIES`` times)."""
    ar = pricer.ar
    for _ in range(TRIES):
        value, column, _ = pricer.best(prices, s)
        if not np.isfinite(value).any():
            return None
        for c in np.argsort(value, kind="stable")[:8]:
            if not np.isfinite(value[c]):
                break
            col = column(int(c))
            if ar.fits_alone(np.array([col.place]), col.k, s)[0]:
                return col
        col = column(int(np.argmin(value)))
        over = overflowing(ar, col)
        ar = copy.copy(ar)
        ar.macs_limit, ar.mem_limit = ar.macs_limit.copy(), ar.mem_limit.copy()
        ar.macs_limit[over] /= 2
        ar.mem_limit[over] /= 2
        pricer = pricer.on(ar)
    return None


def overflowing(ar: Arrays, col: Column) -> list[int]:
    """The devices whose multiplications or memory a column overflows (summed over its segments)."""
    macs, mem = np.zeros(ar.N), np.zeros(ar.N)
    for j, i in enumerate(col.place):
        v = int(ar.drop[col.k, j])
        macs[i] += ar.macs[j, v]
        mem[i] += ar.request_mem[j, v]
    return list(np.flatnonzero((macs > ar.macs_limit) | (mem > ar.mem_limit)))


def greedy(ar: Arrays, pricer: Pricer, master: Master, prices: Prices, deadline: float,
           reverse: bool = False) -> dict | None:
    """Requests in order (or the reverse), each on the cheapest plan that still fits; returns the
    master's counts (its columns added), or None when time ran out."""
    used = {kind: np.zeros(ar.N) for kind in KINDS}
    counts: dict[int, int] = {}
    for q in (reversed(ar.sc.requests) if reverse else ar.sc.requests):
        if time.perf_counter() > deadline:
            return None
        s = ar.sources.index(q.source)
        col = place(pricer.on(ar.residual(used)), prices, s)
        if col is None:
            continue
        _, use = ar.column(col)
        for kind in KINDS:
            for i, v in use[kind].items():
                used[kind][i] += v
        if ar.shared:  # the weights too, per request (a safe bound)
            for j, i in enumerate(col.place):
                used["memory"][i] += ar.weight[j, int(ar.drop[col.k, j])] / MB
        master.add(col)
        c = master.index[col]
        counts[c] = counts.get(c, 0) + 1
    served = np.zeros(len(ar.sources), dtype=int)
    for c, n in counts.items():
        served[master.columns[c].s] += n
    for c, what in enumerate(master.columns):  # the rest unserved
        if isinstance(what, tuple) and what[0] == "u" and ar.n_s[what[1]] > served[what[1]]:
            counts[c] = int(ar.n_s[what[1]]) - int(served[what[1]])
    return counts
