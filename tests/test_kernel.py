"""The cost model is written once: ``formulas`` holds each equation, ``CostKernel`` is the only place
that applies Eqs 9, 10-11 and 19 to a scenario, and every consumer — the evaluator, the runtime's
routes, the column generation, the compact MILP, the relaxation — follows a change of a formula."""
import ast
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from optim_helpers import brute_force, small_scenario, solve

from adaptres.problem import formulas
from adaptres.problem.evaluate import evaluate
from adaptres.problem.kernel import Usage
from adaptres.problem.plan import Assignment, Plan
from adaptres.runtime import routes as R
from adaptres.solvers.cg.data import Arrays, Column
from adaptres.solvers.milp import build_model, start_values

PKG = Path(__file__).resolve().parent.parent / "adaptres"
EQUATIONS = {"computation_latency": "Eq 9", "transmission_latency": "Eqs 10-11", "energy": "Eq 19"}
# who may call those formulas: the kernel, and the scenario for L_ref (the whole model on the slowest device)
CALLERS = {"problem/kernel.py": set(EQUATIONS), "problem/scenario.py": {"computation_latency"}}
DEVICE_FIGURES = ("macs_per_s", "p_compute_w", "p_transmit_w", "rate_mbps")


def _calls_and_arithmetic(path: Path):
    """The formulas a module calls, and its arithmetic on devices' speeds, powers or link rates."""
    tree = ast.parse(path.read_text())
    calls, arithmetic = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func  # formulas.x(...), F.x(...), or x(...) imported from formulas
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("F", "formulas"):
                calls.add(f.attr)
            elif isinstance(f, ast.Name) and f.id in EQUATIONS:
                calls.add(f.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult)):
            names = {n.attr for side in (node.left, node.right) for n in ast.walk(side) if isinstance(n, ast.Attribute)}
            powers, rates = names & {"p_compute_w", "p_transmit_w"}, names & {"macs_per_s", "rate_mbps"}
            if powers or (rates and isinstance(node.op, ast.Div)):  # Eq 19, or Eqs 9-11 (scaling by a factor is not)
                arithmetic.append(f"{path.relative_to(PKG)}:{node.lineno}")
    return calls, arithmetic


def test_each_equation_is_applied_by_the_kernel_only():
    """Eqs 9, 10-11 and 19 are called in ``kernel.py`` only (and Eq 9 for L_ref), and no module divides
    by a device's speed or a link's rate or multiplies a power: they read the kernel instead."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel == "problem/formulas.py":
            continue
        calls, arithmetic = _calls_and_arithmetic(path)
        extra = (calls & set(EQUATIONS)) - CALLERS.get(rel, set())
        bad += [f"{rel} calls formulas.{name} ({EQUATIONS[name]})" for name in sorted(extra)]
        if rel not in CALLERS:
            bad += [f"{a}: arithmetic on a device's speed or power or a link's rate" for a in arithmetic]
    assert not bad, bad


def one_request_plans(sc, n: int, seed: int):
    rng = np.random.default_rng(seed)
    allowed = sc.allowed_configs()
    for _ in range(n):
        k = int(rng.choice(allowed))
        yield Plan("t", [Assignment(True, k, {u: int(rng.integers(sc.n_devices)) for u in sc.unit_names})])


@pytest.fixture
def overhead(monkeypatch):
    """A calibrated model: 0.25 s more per transfer, computing 1.5 × slower, and sending energy doubled."""
    comp, send, energy = formulas.computation_latency, formulas.transmission_latency, formulas.energy
    monkeypatch.setattr(formulas, "transmission_latency", lambda b, r, o=0.0: send(b, r, o) + 0.25)
    monkeypatch.setattr(formulas, "computation_latency", lambda m, s: 1.5 * comp(m, s))
    monkeypatch.setattr(formulas, "energy", lambda c, t, pc, pt: energy(c, 2 * t, pc, pt))
    return comp, send, energy


def test_every_consumer_follows_a_changed_formula(overhead):
    comp, send, energy = overhead
    sc = small_scenario(3, n_devices=3, n_units=5, n_requests=1, alpha=0.6, tight=2.0)
    ar, src = Arrays(sc), sc.requests[0].source
    for plan in one_request_plans(sc, 20, 0):
        q = plan.requests[0]
        place = [q.placement[n] for n in sc.unit_names]
        dropped = set(sc.configs[q.config].dropped)
        # the evaluator: by hand with the original formulas and the changes above
        hops = [(j, a, b) for j, (a, b) in enumerate(zip([src] + place[:-1], place)) if a != b]
        by_hand = sum(1.5 * comp(sc.units[j].cost(sc.unit_names[j] in dropped).macs, sc.devices[i].macs_per_s)
                      for j, i in enumerate(place))
        by_hand += sum(send(sc.input_bytes if j == 0 else sc.units[j - 1].output_bytes, sc.rate_mbps[a][b]) + 0.25
                       for j, a, b in hops)
        ev = evaluate(sc, plan)
        assert ev.requests[0]["latency_s"] == pytest.approx(by_hand, rel=1e-12)
        assert [d["energy_j"] for d in ev.devices] == pytest.approx(
            [energy(d["compute_s"], 2 * d["transmit_s"], dv.p_compute_w, dv.p_transmit_w)
             for d, dv in zip(ev.devices, sc.devices)], rel=1e-12)
        # the runtime's routes
        assert R.routes(sc, plan)[0].latency_s == pytest.approx(by_hand, rel=1e-12)
        # the column generation's column: its latency in the objective, its energy in the rows
        cost, use = ar.column(Column(ar.sources.index(src), q.config, tuple(place)))
        assert cost == pytest.approx(ar.lat_w * by_hand + ar.acc_cost[q.config], rel=1e-12)
        assert sum(use["energy"].values()) == pytest.approx(sum(d["energy_j"] for d in ev.devices), rel=1e-12)
        many, muse = ar.columns(np.array([place]), q.config, ar.sources.index(src))
        assert many[0] == pytest.approx(cost, rel=1e-12)
        assert muse["energy"].sum() == pytest.approx(sum(use["energy"].values()), rel=1e-12)
        # the compact MILP: its latency and energy expressions at this plan
        m = build_model(sc)
        values = start_values(sc, m, plan)
        for v in m.component_data_objects(pyo.Var):
            v.set_value(values.get(id(v), 0.0), skip_validation=True)
        assert m.latency[0]() == pytest.approx(by_hand, rel=1e-9)
        # the relaxation's ledger: the same usage as the evaluator's
        used = Usage(sc.kernel)
        prev = src
        for j, i in enumerate(place):
            used.run(j, sc.unit_names[j] in dropped, i)
            used.send(j, prev, i)
            prev = i
        assert used.energy() == pytest.approx([d["energy_j"] for d in ev.devices], rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_solvers_agree_with_brute_force_under_a_changed_formula(overhead, seed):
    """With the model changed, the exact methods still find the brute-force optimum of the changed model."""
    sc = small_scenario(seed, n_devices=3, n_units=4, n_requests=1, alpha=0.7, tight=1.0)
    best, _ = brute_force(sc)
    for method in ("colgen", "exact"):
        plan = solve(sc, method, rel_gap=1e-9, time_limit=30)
        assert plan.status == "optimal", method
        assert plan.objective == pytest.approx(best, rel=1e-7, abs=1e-9), method
    relaxed = solve(sc, "relaxed", time_limit=30)
    assert evaluate(sc, relaxed).feasible
