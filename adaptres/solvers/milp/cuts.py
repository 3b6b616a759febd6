"""Valid cuts: constraints every integer plan already meets, which tighten the LP relaxation.

None changes the optimum (the tests check each against brute force while it binds): a dropped
block is dropped on one device; runs of units that fit only some devices are cut or start on one
of those; a request too large for any one device is cut that often; requests from one source are
ordered; and at most as many requests are served as the summed capacities fit.
"""

from __future__ import annotations

import pyomo.environ as pyo

from ...problem.bounds import least_cost, least_cost_runs
from ...problem.scenario import Scenario
from .model import Data


def dropped_once(m: pyo.ConcreteModel, d: Data) -> None:
    @m.Constraint(m.R, m.JD)
    def dropped_once(m, r, j):
        """Eqs 4 and 15 (implied, a valid cut): a dropped block is dropped on the one device that runs it."""
        return sum(m.z[r, j, i] for i in m.I) == m.dropped[r, j]


def runs_that_fit(m: pyo.ConcreteModel, d: Data) -> None:
    """Eqs 13-15 (implied): the least a run of units a..b costs under any allowed configuration
    decides which devices could hold all of it; where that is not every device, the run is cut
    somewhere or starts on one of those that can. Declares ``cut[r, j]`` (units j, j+1 apart)."""
    sc, devs, M, N = d.sc, d.sc.devices, d.M, d.N

    least_macs, least_mem = least_cost_runs(sc, ("macs",)), least_cost_runs(sc, ("weight", "activation"))

    def holders(a: int, b: int) -> frozenset:
        macs, mem = least_macs[a, b], least_mem[a, b]
        return frozenset(i for i in range(N)
                         if devs[i].compute_macs >= macs * (1 - 1e-9) and devs[i].memory_bytes >= mem * (1 - 1e-9))

    every = frozenset(range(N))
    hold = {(a, b): holders(a, b) for a in range(M) for b in range(a, M)}
    # only the shortest runs for each set of holders: a longer run with the same holders is implied
    runs = [(a, b) for a in range(M - 1) for b in range(a + 1, M)
            if hold[a, b] != every and hold[a + 1, b] != hold[a, b] and hold[a, b - 1] != hold[a, b]]
    m.W = pyo.Set(initialize=runs, dimen=2)
    m.cut = pyo.Var(m.R, m.T, domain=pyo.NonNegativeReals)

    @m.Constraint(m.R, m.T)
    def cut_between(m, r, j):
        """Eqs 10-11: units j and j+1 of request r are on different devices (the cross flows)."""
        return m.cut[r, j] == sum(m.f[r, j, i, k] for i in m.I for k in m.I if i != k)

    @m.Constraint(m.R, m.W)
    def run_fits(m, r, a, b):
        """Eqs 13-15 (implied, a valid cut): units a..b on one device only where they fit there."""
        return sum(m.cut[r, j] for j in range(a, b)) + sum(m.x[r, a, i] for i in sorted(hold[a, b])) >= m.s[r]


def fewest_cuts(m: pyo.ConcreteModel, d: Data) -> None:
    """The fewest devices any allowed configuration needs: Σ over segments ≤ segments · largest capacity."""
    sc, devs = d.sc, d.sc.devices
    segments = max(1, -(-least_cost(sc, ("macs",)) // max(dv.compute_macs for dv in devs)),
                   -(-least_cost(sc, ("weight", "activation")) // max(dv.memory_bytes for dv in devs))
                   if sc.memory_model == "per_request" else 1)
    m.min_transfers = int(segments) - 1

    @m.Constraint(m.R)
    def fewest_cuts(m, r):
        """Eqs 13-15 (implied, a valid cut): a request too large for any one device is cut that often."""
        if m.min_transfers == 0:
            return pyo.Constraint.Skip
        return sum(m.cut[r, j] for j in m.T) >= m.min_transfers * m.s[r]


def twins(sc: Scenario) -> list[tuple[int, int]]:
    """Consecutive pairs of requests from the same source."""
    R = len(sc.requests)
    src = [q.source for q in sc.requests]
    return [(a, b) for a in range(R) for b in range(a + 1, R)
            if src[a] == src[b] and not any(src[c] == src[a] for c in range(a + 1, b))]


def ordered_twins(m: pyo.ConcreteModel, d: Data) -> None:
    """Requests from the same source are interchangeable: each such pair is ordered by served, then
    by the device of their stem (``start_values`` orders a start the same way)."""
    m.twins = pyo.Set(initialize=twins(d.sc), dimen=2)
    N = d.N

    @m.Constraint(m.twins)
    def twins_served(m, a, b):
        """Eq 18 (symmetry): of two requests from one source, the first is served if the second is."""
        return m.s[a] >= m.s[b]

    @m.Constraint(m.twins)
    def twins_stem(m, a, b):
        """Eq 3 (symmetry): of two served requests from one source, the first's stem is on the lower device."""
        return sum(i * m.x[a, 0, i] for i in m.I) <= sum(i * m.x[b, 0, i] for i in m.I) + (N - 1) * (1 - m.s[b])


def served_at_most(m: pyo.ConcreteModel, d: Data, max_served: int | None) -> None:
    if max_served is not None and max_served < d.R:
        m.served_at_most = pyo.Constraint(expr=sum(m.s[r] for r in m.R) <= max_served,
                                          doc="Eqs 13-14 (implied, a valid cut): at most as many requests are served "
                                              "as the summed capacities fit (``served_bound``)")


def valid_cuts(m: pyo.ConcreteModel, d: Data, max_served: int | None = None) -> None:
    """Every valid cut, in the order the model has always declared them."""
    dropped_once(m, d)
    runs_that_fit(m, d)
    fewest_cuts(m, d)
    ordered_twins(m, d)
    served_at_most(m, d, max_served)
