import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from conftest import slow_after
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optim_helpers import brute_force, small_scenario, solve

from adaptres.problem.evaluate import evaluate
from adaptres.problem.plan import UNSERVED, Assignment, Plan
from adaptres.problem.scenario import Request, Scenario
from adaptres.solvers import milp

REPO = Path(__file__).resolve().parent.parent
SIZES = [(3, 4, 1), (2, 5, 1), (3, 6, 1), (2, 4, 2), (2, 3, 2)]  # devices, units, requests


@pytest.mark.parametrize("seed,memory_model", [(0, "per_request"), (1, "shared_weights"), (2, "per_request")])
def test_brute_force_leaves_out_only_options_in_no_feasible_plan(seed, memory_model):
    """The reference's shortcut (an option infeasible alone is in no feasible combination) returns what
    evaluating every combination returns — the same value and the same plan — and does leave options out."""
    import itertools

    from optim_helpers import request_options
    sc = small_scenario(seed, 2, 3, 2, memory_model=memory_model, tight=0.6)
    opts = request_options(sc)
    feasible = [(ev.objective, c) for c in itertools.product(opts, repeat=2) if (ev := evaluate(sc, Plan("b", c))).feasible]
    best, plan = brute_force(sc)
    assert best == min(o for o, _ in feasible) and plan.requests == next(c for o, c in feasible if o == best)
    assert any(not evaluate(sc, Plan("alone", (o, UNSERVED))).feasible for o in opts)  # something is left out


@pytest.mark.parametrize("seed", slow_after(range(6), 1))
@pytest.mark.parametrize("n,m,r", SIZES)
def test_exact_equals_brute_force(seed, n, m, r):
    sc = small_scenario(seed, n, m, r, alpha=[0.0, 0.3, 0.7, 1.0][seed % 4])
    best, _ = brute_force(sc)
    plan = solve(sc, rel_gap=1e-9, time_limit=60)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-9)
    ev = evaluate(sc, plan)
    assert ev.feasible, ev.violations
    if sc.alpha > 0:  # the solver's own objective is the evaluator's (with α = 0 it adds 1e-6 · L̂)
        assert plan.metrics["solver_objective"] == pytest.approx(ev.objective, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_shared_weights_model_against_brute_force(seed):
    sc = small_scenario(seed, 2, 4, 2, memory_model="shared_weights", tight=0.8)
    best, _ = brute_force(sc)
    plan = solve(sc, rel_gap=1e-9)
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("seed", slow_after(range(6), 1))
def test_valid_cuts_keep_the_optimum(seed):
    """Twins (requests from one source) and runs that fit only some devices: the symmetry and
    capacity cuts are active and the optimum is still brute force's."""
    sc = small_scenario(seed, 2, 5, 2, alpha=0.5, tight=0.7)
    sc = sc.replace(requests=(Request(seed % 2), Request(seed % 2)))
    m = milp.build_model(sc)
    assert list(m.twins) == [(0, 1)]
    assert len(m.W) > 0  # some run of units does not fit every device
    best, best_plan = brute_force(sc)
    plan = solve(sc, rel_gap=1e-9)
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-9)
    # a start with the twins in the other order is put in the model's order
    swapped = Plan("relaxed", best_plan.requests[::-1])
    warm = milp.start_values(sc, m, swapped)
    for v in m.component_data_objects(pyo.Var):
        v.set_value(warm.get(id(v), 0.0), skip_validation=True)
    for c in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(c.body)
        assert (c.lower is None or body >= pyo.value(c.lower) - 1e-7) and \
            (c.upper is None or body <= pyo.value(c.upper) + 1e-7), c.name


@pytest.mark.parametrize("seed", range(0, 12, 2))
def test_served_bound_is_valid_and_keeps_the_optimum(seed):
    """Σ served ≤ ⌊summed capacities / least per-request need⌋: never below what brute force serves,
    and the exact solver with the cut is still brute force's optimum (seed 6 has room for one request
    of two: the cut is active)."""
    sc = small_scenario(seed, 2, 4, 2, alpha=0.5, tight=0.5)
    best, best_plan = brute_force(sc)
    cap = milp.served_bound(sc)
    assert sum(q.served for q in best_plan.requests) <= cap <= 2
    if seed == 6:
        assert cap == 1 and hasattr(milp.build_model(sc, max_served=cap), "served_at_most")
    plan = solve(sc, rel_gap=1e-9)
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_least_cost_of_every_run_at_once_is_each_runs_plain_sum(seed):
    """The table of the least a run of units a..b costs under any allowed configuration (the bounds and the
    compact model's run cuts read it): to the bit, the least over the allowed configurations of the plain sum
    unit by unit and part by part (a threshold no configuration reaches on seed 2: 0; every one allowed on 3)."""
    from adaptres.problem.bounds import least_cost, least_cost_runs
    sc = small_scenario(seed, 2, 6, 1, tight=0.7)
    sc = dataclasses.replace(sc, accuracy_threshold={2: 100.0, 3: 0.0}.get(seed, sc.accuracy_threshold))
    M = len(sc.units)
    for parts in (("macs",), ("weight", "activation")):
        table = least_cost_runs(sc, parts)
        for a in range(M):
            for b in range(M):
                plain = min((sum(getattr(sc.unit_cost(j, sc.drops(k, j)), p) for j in range(a, b + 1) for p in parts)
                             for k in sc.allowed_configs()), default=0) if a <= b else np.inf
                assert table[a, b] == plain
        assert least_cost(sc, parts) == table[0, M - 1] and least_cost(sc, parts, 3, 2) == 0


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 3), m=st.integers(3, 6), r=st.integers(1, 2),
       alpha=st.sampled_from([0.0, 0.5, 1.0]), tight=st.sampled_from([0.6, 1.0, 2.0]))
def test_plans_satisfy_every_constraint_and_heuristics_never_beat_exact(seed, n, m, r, alpha, tight):
    sc = small_scenario(seed, n, m, r, alpha=alpha, tight=tight)
    exact = solve(sc, rel_gap=1e-9)
    relaxed = solve(sc, "relaxed")
    genetic = solve(sc, "ga", ga_pop_size=20, ga_generations=15, seed=seed)
    for plan in (exact, relaxed):
        ev = evaluate(sc, plan)
        assert ev.feasible, (plan.method, ev.violations)
    for plan in (relaxed, genetic):
        if evaluate(sc, plan).feasible:
            assert plan.objective >= exact.objective - 1e-9
    # the LP relaxation is a lower bound (with α = 0 both carry the 1e-6 · L̂ tie-breaker)
    assert relaxed.bound <= exact.objective + (1e-5 if alpha == 0 else 1e-7)


def test_no_requests_and_unservable_requests():
    sc = small_scenario(1, 2, 4, 0)
    for method in ("exact", "relaxed", "ga"):
        plan = solve(sc, method)
        assert (plan.objective, plan.status, plan.gap, plan.requests) == (0.0, "optimal", 0.0, ())
    sc = small_scenario(1, 2, 4, 2).replace(accuracy_threshold=99.0)  # nothing accurate enough: both unserved
    plan = solve(sc)
    assert [q.served for q in plan.requests] == [False, False] and plan.objective == pytest.approx(20.0)
    assert solve(sc, "relaxed").objective == pytest.approx(20.0)


def test_evaluator_splits_latency_and_bytes():
    sc = small_scenario(3, 2, 4, 1)
    names = sc.unit_names
    src = sc.requests[0].source
    other = 1 - src
    block = next(u.name for u in sc.units if u.droppable)
    k = next(i for i, c in enumerate(sc.configs) if c.dropped == (block,))
    # stem on the other device, then the dropped block's output goes back to the source: SC transfer
    j = names.index(block)
    place = {n: (other if idx <= j else src) for idx, n in enumerate(names)}
    ev = evaluate(sc, Plan("t", [Assignment(True, k, place)]))
    req = ev.requests[0]
    assert req["dc_bytes"] == sc.input_bytes
    assert req["sc_bytes"] == sc.units[j].output_bytes
    assert req["latency_s"] == pytest.approx(req["computation_s"] + req["dc_transfer_s"] + req["sc_transfer_s"])


@pytest.mark.slow
def test_round_trip_and_command_line(tmp_path):
    sc = small_scenario(5, 2, 4, 2)
    path = tmp_path / "scenario.json"
    sc.save(path)
    assert Scenario.load(path).to_dict() == sc.to_dict()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = lambda *a: subprocess.run([sys.executable, "-m", "adaptres", *a], capture_output=True, text=True, env=env)
    for method in ("exact", "relaxed", "ga"):
        out = tmp_path / f"{method}.json"
        r = run("solve", str(path), "--method", method, "--out", str(out), "--time-limit", "20")
        assert r.returncode == 0, r.stderr
        plan = json.loads(out.read_text())
        assert plan["method"] == method and len(plan["requests"]) == 2
        r = run("evaluate", str(path), str(out))
        if plan["status"] in ("optimal", "feasible"):
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["objective"] == pytest.approx(plan["objective"])
    # the exact solver warm-started from Algorithm 1 with a node budget (deterministic)
    r = run("solve", str(path), "--method", "exact", "--warm-start", "--max-nodes", "3", "--out", str(tmp_path / "w.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "w.json").read_text())["status"] in ("optimal", "node_limit")
    # malformed input: exit status 2, one line
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in (("solve", str(bad)), ("evaluate", str(path), str(bad)), ("solve", str(path), "--method", "magic"),
                 ("solve", str(tmp_path / "missing.json")), ("solve", str(path), "--max-nodes", "-1"),
                 ("solve", str(path), "--time-limit", "0")):
        r = run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    # an infeasible plan is refused by evaluate
    plan = json.loads((tmp_path / "exact.json").read_text())
    for q in plan["requests"]:
        q.update(served=True, config=0, placement={n: 0 for n in sc.unit_names})
    plan.update(objective=None, bound=None, gap=None, scenario_sha256=None)  # made by hand, for no scenario
    sc2 = Scenario.from_dict({**sc.to_dict(), "devices": [dict(d, memory_bytes=1.0) for d in sc.to_dict()["devices"]]})
    sc2.save(tmp_path / "tiny.json")
    (tmp_path / "forced.json").write_text(json.dumps(plan))
    r = run("evaluate", str(tmp_path / "tiny.json"), str(tmp_path / "forced.json"))
    assert r.returncode == 2 and "infeasible" in r.stderr


@pytest.mark.parametrize("seed", range(5))
def test_mip_start_encodes_the_plan_and_warm_solves_stay_exact(seed):
    sc = small_scenario(seed, 2, 4, 2, alpha=0.5, tight=0.8)
    best, best_plan = brute_force(sc)
    m = milp.build_model(sc)
    vals = milp.start_values(sc, m, best_plan)
    for v in m.component_data_objects(pyo.Var):
        v.set_value(vals.get(id(v), 0.0), skip_validation=True)
    for c in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(c.body)
        assert c.lower is None or body >= pyo.value(c.lower) - 1e-7, c.name
        assert c.upper is None or body <= pyo.value(c.upper) + 1e-7, c.name
    assert pyo.value(m.obj) == pytest.approx(best, rel=1e-7, abs=1e-9)
    warm = solve(sc, warm_start=True, rel_gap=1e-9)
    assert warm.status == "optimal" and warm.objective == pytest.approx(best, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("seed", slow_after(range(5), 1))
def test_node_limited_warm_solve_is_deterministic_and_no_worse_than_its_start(seed):
    sc = small_scenario(seed, 3, 6, 2, alpha=0.5, tight=0.7)
    start = solve(sc, "relaxed")
    a = solve(sc, warm_start=True, max_nodes=1, rel_gap=1e-9)
    b = solve(sc, warm_start=True, max_nodes=1, rel_gap=1e-9)
    assert a.requests == b.requests and a.objective == b.objective
    assert a.status in ("optimal", "node_limit")
    assert evaluate(sc, a).feasible
    if evaluate(sc, start).feasible:
        assert a.objective <= start.objective + 1e-9
