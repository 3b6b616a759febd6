"""SPEC §5 as a mixed-integer linear program in Pyomo, for HiGHS: the formulation the ``exact`` and
``relaxed`` methods share.

``build_model`` assembles it from ``model`` (the paper's decisions and constraints, Eqs 3-19),
``cuts`` (valid cuts) and ``objective`` (Eq 5); ``highs`` runs HiGHS on it. ``extract_plan``
reads an integer solution, ``start_values`` encodes a plan as a MIP start.
"""

from __future__ import annotations

import pyomo.environ as pyo

from ...problem.bounds import least_cost, served_bound  # noqa: F401  (part of this package's interface)
from ...problem.plan import UNSERVED, Assignment, Plan
from ...problem.scenario import Scenario
from . import cuts, model, objective

# transfer-flow variables per second that Pyomo builds and hands to HiGHS as arrays on a 2-core machine, rounded
# down (about 20 000 with models of 40 000-120 000 flows, three fifths of it building): a model whose flows would
# take most of the time limit to build is declined up front (``too_large``)
BUILD_RATE = 15_000
MAX_FLOWS = 600_000  # beyond this many the model takes more than 4 GB (about 6 kB a flow, measured)


def too_large(sc: Scenario, seconds: float) -> str | None:
    """Why the model of ``sc`` cannot be built and handed to HiGHS within ``seconds`` (or a few GB), or
    None. The model has R · (M − 1) · N² transfer flows (Eqs 10-11); building it is what takes the time."""
    flows = len(sc.requests) * (len(sc.units) - 1) * sc.n_devices ** 2
    if flows > MAX_FLOWS:
        return f"the model would have {flows:,} transfer variables (more than {MAX_FLOWS:,}: several GB)"
    if flows / BUILD_RATE > 0.8 * seconds:
        return (f"building the model ({flows:,} transfer variables) would take about {flows / BUILD_RATE:.0f} s "
                f"of the {seconds:g} s allowed")
    return None


def build_model(sc: Scenario, relax: bool = False, allow_unserved: bool = True,
                max_served: int | None = None) -> pyo.ConcreteModel:
    """The Pyomo model of one step. ``relax=True`` gives the LP relaxation (Eq 20); ``max_served``
    adds the cut Σ served ≤ max_served (see ``cuts.served_bound``)."""
    d = model.Data.of(sc)
    m = pyo.ConcreteModel(name="adaptres-step")
    model.decisions(m, d, relax, allow_unserved)
    model.latency(m, d)
    model.assignment(m, d)
    model.links(m, d)
    model.memory(m, d)
    model.computation_and_energy(m, d)
    cuts.valid_cuts(m, d, max_served)
    model.accuracy(m, d)
    objective.weighted_sum(m, d)
    return m


def extract_plan(sc: Scenario, m: pyo.ConcreteModel) -> list[Assignment]:
    """The integer decisions of a solved (non-relaxed) model."""
    names = sc.unit_names
    out = []
    for r in range(len(sc.requests)):
        if pyo.value(m.s[r]) < 0.5:
            out.append(UNSERVED)
            continue
        k = max(m.K, key=lambda k: pyo.value(m.y[r, k]))
        place = {names[j]: int(max(m.I, key=lambda i: pyo.value(m.x[r, j, i]))) for j in m.J}
        out.append(Assignment(True, int(k), place))
    return out


def start_values(sc: Scenario, m: pyo.ConcreteModel, plan: Plan) -> dict:
    """A complete assignment of the model's variables that encodes ``plan`` (for a MIP start),
    keyed by ``id`` of each variable (Pyomo's variables are not hashable)."""
    names = sc.unit_names
    vals: dict[int, float] = {}
    for r, req in enumerate(twins_in_order(sc, plan.requests)):
        if not req.served or req.config is None:
            continue
        k = req.config
        ones = [m.s[r], m.y[r, k]]
        dev = [req.placement[n] for n in names]
        for j, i in enumerate(dev):
            ones.append(m.x[r, j, i])
            if j in m.JD and sc.drops(k, j):
                ones.append(m.z[r, j, i])
            if j < len(names) - 1:
                ones.append(m.f[r, j, i, dev[j + 1]])
                if dev[j + 1] != i:
                    ones.append(m.cut[r, j])
        vals.update((id(v), 1.0) for v in ones)
    return vals  # every other variable is 0


def twins_in_order(sc: Scenario, requests) -> list[Assignment]:
    """The plan's requests with those from one source permuted into the order the model's symmetry
    cuts ask for: served first, then by the device of the stem."""
    out = list(requests)
    first = sc.unit_names[0]
    for src in {q.source for q in sc.requests}:
        idx = [r for r, q in enumerate(sc.requests) if q.source == src]
        group = sorted((requests[r] for r in idx), key=lambda q: (0, q.placement[first]) if q.served else (1, 0))
        for r, q in zip(idx, group):
            out[r] = q
    return out
