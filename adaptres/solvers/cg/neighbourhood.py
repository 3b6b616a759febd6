"""Large-neighbourhood search on the integer master: a primal heuristic for steps too large for HiGHS' MIP to
improve the incumbent in the time it has (Shaw's related removal, "Using constraint programming and local search
methods to solve vehicle routing problems", CP 1998; Pisinger and Ropke's adaptive LNS, 2007).

Each round frees the requests of a few sources — one drawn at random and those whose plans share the most
devices with it — holds every other source at the incumbent's plans, and solves the integer master on the
columns found so far (``integer.mip`` with ``free``) from the incumbent (its start). Held plans keep their
devices' capacity, so the freed requests can only trade the devices among themselves and what is left free;
a small master of this kind is solved in well under a second where the whole one is not within the time.
After ``GROW`` rounds in a row without a better plan a round frees one source more. The search stops after
``STALL`` such rounds or at its deadline; a step of at most ``FREE`` sources has no neighbourhood smaller than
the whole master, which the proof by listing has had already. Rounds are drawn from a generator seeded by the
step (the same step, the same rounds); how many run depends on the time each takes.
"""

from __future__ import annotations

import time

import numpy as np

from .data import Arrays, Column
from .integer import MipResult
from .master import Master

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


def search(ar: Arrays, master: Master, best: MipResult, mip, deadline: float, log: dict) -> MipResult:
    """Rounds of ``related`` neighbourhoods from ``best`` until ``deadline``; the best plan found.
    ``mip(seconds, start=, free=)`` solves the integer master with only the ``free`` sources' plans open.
    ``log["lns"]``: rounds run, rounds that found a better plan, seconds."""
    t0, rounds, better, stall = time.perf_counter(), 0, 0, 0
    rng = np.random.default_rng([ar.N, *map(int, ar.sources)])
    S = len(ar.sources)
    while best.objective is not None and runs_on(ar) and stall < STALL and time.perf_counter() < deadline:
        free = related(ar, master, best.counts, rng, min(FREE + stall // GROW, S - 1))
        found = mip(min(ROUND_S, deadline - time.perf_counter()), start=best.counts, free=free)
        rounds += 1
        if found.objective is not None and found.objective < best.objective - 1e-12:
            best, stall, better = MipResult("lns", found.objective, None, found.counts), 0, better + 1
        else:
            stall += 1
    log["lns"] = {"rounds": rounds, "better": better, "s": round(time.perf_counter() - t0, 3)}
    return best
