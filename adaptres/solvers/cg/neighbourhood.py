"""Large-neighbourhood search on the integer master: a primal heuristic for steps too large for HiGHS' MIP to
improve the incumbent in the time it has (Shaw's related removal, "Using constraint programming and local search
methods to solve vehicle routing problems", CP 1998; Pisinger and Ropke's adaptive LNS, 2007).

Each round frees the requests of a few sources — one drawn at random and those whose plans share the most
devices with it — holds every other source at the incumbent's plans, and solves the integer master on the
columns found so far (``integer.mip`` with ``free``) from the incumbent (its start). Held plans keep their
devices' capacity, so the freed requests can only trade the devices among themselves and what is left free;
a small master of this kind is solved in well under a second where the whole one is not within the time.
Before its integer master a neighbourhood makes columns of its own (``price``): the free sources priced at the
prices of its LP — what the held plans leave of each device priced, not the whole master's — a few rounds of
column generation on the small model.
After ``GROW`` rounds in a row without a better plan a round frees one source more. The search stops after
``STALL`` such rounds or at its deadline; a step of at most ``FREE`` sources has no neighbourhood smaller than
the whole master, which the proof by listing has had already. Rounds are drawn from a generator seeded by the
step (the same step, the same rounds); how many run depends on the time each takes.
"""

from __future__ import annotations

import time

import numpy as np

from .._highs_thread import limit_time, new_highs, run_within, status
from .data import Arrays, Column
from .generation import PER_ROUND, Clock, improving, price_all
from .integer import MipResult, neighbourhood_model, restricted
from .master import Master
from .pricing import Pricer

FREE = 5  # sources freed per round
ROUND_S = 1.0  # seconds per round's integer master at most
GROW = 15  # rounds without a better plan after which a round frees one source more
STALL = 60  # rounds in a row without a better plan, after which the search stops


def runs_on(ar: Arrays) -> bool:
    """Whether the search runs on a step: one of more sources than a neighbourhood frees (``FREE``)."""
    return len(ar.sources) > FREE


def related(ar: Arrays, master: Master, counts: dict, rng: np.random.Generator, size: int) -> set[int]:
    """A source drawn at random and the ``size`` − 1 sources whose incumbent plans share the most devices
    with its plans (ties drawn at random)."""
    S = len(ar.sources)
    devices: list[set[int]] = [set() for _ in range(S)]
    for c in counts:
        what = master.columns[c]
        if isinstance(what, Column):
            devices[what.s] |= set(what.place)
    s0 = int(rng.integers(S))
    order = sorted(range(S), key=lambda s: (s != s0, -len(devices[s] & devices[s0]), rng.random()))
    return set(order[:size])


PRICE_ROUNDS = 5  # rounds of pricing of the free sources per neighbourhood, at its LP's prices (0: none). At N = 100,
# R = 50 a search on the columns found so far stalled within seconds (seed 3: 60 rounds in a row without a better plan
# by 49 s of a 300-s run); with the columns its neighbourhoods price it went on finding better plans


def price(pricer: Pricer, master: Master, free: set, start: dict, deadline: float) -> int:
    """Columns for the free sources of a neighbourhood: its model's LP (the held sources' use taken off the rows),
    each free source priced at that LP's prices, and its columns that improve the LP — the cheapest the pricing makes
    and the plans the root's cut rounds purged (``pool.Pool.improving``) — added to the master and to the LP (which keeps its
    basis), round after round (``PRICE_ROUNDS``) while some do. Returns how many were added."""
    added, h, n_rows, rows = 0, None, 0, np.zeros(0, dtype=np.int64)  # the LP's rows: set as it is made
    for _ in range(PRICE_ROUNDS):
        if time.perf_counter() >= deadline:
            break
        if h is None:  # the neighbourhood's LP, made again when the master has new rows (shared weights' links)
            lp, _, _, rows = neighbourhood_model(master, free, start)
            lp.integrality_ = []
            h, n_rows = new_highs(), master.h.getNumRow()
            h.passModel(lp)
        left = max(deadline - time.perf_counter(), 1e-3)
        limit_time(h, left)
        run_within(h, left)
        if status(h) != "optimal":
            break
        y = np.zeros(n_rows)  # the master's rows: those the model leaves out (cuts, branching rows) priced at zero
        y[rows] = np.asarray(h.getSolution().row_dual)
        prices, pi = master.prices_at(y)
        priced = price_all(pricer, prices, Clock(deadline - time.perf_counter()), sorted(free))
        if priced is None:
            break
        cols = master.pool.improving(y, free, PER_ROUND, master.index)  # the purged plans first: no pricing pass
        cols += [col for s, (value, column, _) in zip(sorted(free), priced) for col in improving(value, column, pi[s])]
        before = len(master.columns)
        new = master.add_many(cols)
        added += new
        if not new:
            break
        if master.h.getNumRow() != n_rows:
            h = None
            continue
        idx = np.array([c for c in range(before, len(master.columns)) if master.fits[c]], dtype=np.int32)
        if len(idx):
            a, cost, lo, hi = restricted(master.h, idx, n_rows, rows)
            h.addCols(len(idx), cost, lo, hi, a.nnz, a.indptr[:-1].astype(np.int32), a.indices.astype(np.int32),
                      a.data)
    return added


def search(ar: Arrays, master: Master, best: MipResult, mip, deadline: float, log: dict,
           pricer: Pricer | None = None) -> MipResult:
    """Rounds of ``related`` neighbourhoods from ``best`` until ``deadline``; the best plan found.
    ``mip(seconds, start=, free=)`` solves the integer master with only the ``free`` sources' plans open; with
    ``pricer``, each neighbourhood first makes columns of its own (``price``, within the round's seconds).
    ``log["lns"]``: rounds run, rounds that found a better plan, seconds, columns the neighbourhoods added."""
    t0, rounds, better, stall, priced = time.perf_counter(), 0, 0, 0, 0
    rng = np.random.default_rng([ar.N, *map(int, ar.sources)])
    S = len(ar.sources)
    while best.objective is not None and runs_on(ar) and stall < STALL and time.perf_counter() < deadline:
        free = related(ar, master, best.counts, rng, min(FREE + stall // GROW, S - 1))
        if pricer is not None and PRICE_ROUNDS:
            priced += price(pricer, master, free, best.counts, min(deadline, time.perf_counter() + ROUND_S))
        found = mip(min(ROUND_S, deadline - time.perf_counter()), start=best.counts, free=free)
        rounds += 1
        if found.objective is not None and found.objective < best.objective - 1e-12:
            best, stall, better = MipResult("lns", found.objective, None, found.counts), 0, better + 1
        else:
            stall += 1
    log["lns"] = {"rounds": rounds, "better": better, "s": round(time.perf_counter() - t0, 3), "priced": priced}
    return best
