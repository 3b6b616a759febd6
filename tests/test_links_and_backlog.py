"""A missing link (rate 0: cut) and the devices' backlog (``ready_s``) live in the cost kernel, and every
solver reads them there: none sends over a missing link, and the proven methods find the brute-force
optimum of the latency that includes the wait behind each device's backlog."""
import json

import numpy as np
import pytest
from optim_helpers import brute_force, small_scenario, solve

from adaptres import solvers
from adaptres.problem.evaluate import evaluate
from adaptres.problem.plan import Assignment, Plan
from adaptres.problem.scenario import Scenario, ScenarioError

METHODS = ("exact", "relaxed", "ga", "colgen", "colgen_round")


def _free_sending(sc: Scenario) -> Scenario:
    """Sending costs no energy and batteries are ample: nothing but the mask keeps a plan off a slow link."""
    import dataclasses
    return sc.replace(devices=[dataclasses.replace(d, p_transmit_w=0.0, energy_j=1e9) for d in sc.devices])


def _cut(sc: Scenario, pairs) -> Scenario:
    rates = [list(r) for r in sc.rate_mbps]
    for a, b in pairs:
        rates[a][b] = rates[b][a] = 0
    return sc.replace(rate_mbps=rates)


def _crossings(sc: Scenario, plan: Plan) -> list[tuple[int, int]]:
    out = []
    for r, q in enumerate(plan.requests):
        if not q.served:
            continue
        place = [q.placement[n] for n in sc.unit_names]
        for a, b in zip([sc.requests[r].source, *place[:-1]], place):
            if not sc.linked(a, b):
                out.append((a, b))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", METHODS)
def test_no_solver_routes_over_a_missing_link(method, seed):
    sc = _cut(_free_sending(small_scenario(seed, n_devices=3, n_requests=1, alpha=0.0, tight=0.8)), [(0, 1), (1, 2)])
    plan = solve(sc, method, time_limit=10 if solvers.info(method).proven else 2)  # the GA runs to its limit
    assert _crossings(sc, plan) == []
    assert evaluate(sc, plan).feasible
    if solvers.info(method).proven:  # and the best plan that avoids it
        assert plan.objective == pytest.approx(brute_force(sc)[0], rel=1e-6, abs=1e-9)


def test_the_evaluator_refuses_a_plan_over_a_missing_link():
    sc = _cut(small_scenario(0, n_devices=2, n_requests=1), [(0, 1)])
    src = sc.requests[0].source
    other = 1 - src
    plan = Plan("hand", (Assignment(True, 0, {n: other for n in sc.unit_names}),))
    ev = evaluate(sc, plan)
    assert not ev.feasible and any("no link (rate 0)" in v for v in ev.violations)
    assert ev.excess > 0  # a GA's penalty sees it


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_proven_methods_equal_brute_force_with_a_backlog(seed):
    sc = small_scenario(seed, n_devices=2, n_requests=1, alpha=0.8)
    sc = sc.replace(ready_s=[3.0, 0.0])
    best, _ = brute_force(sc)
    for method in ("exact", "colgen"):
        assert solve(sc, method).objective == pytest.approx(best, rel=1e-6, abs=1e-9), method


def test_a_backlog_adds_its_wait_to_each_device_a_request_enters():
    sc = small_scenario(1, n_devices=2, n_requests=1, alpha=1.0)
    src = sc.requests[0].source
    names = sc.unit_names
    split = {n: (src if j < 2 else 1 - src) for j, n in enumerate(names)}  # starts on its source, then moves once
    plan = Plan("hand", (Assignment(True, 0, split),))
    base = evaluate(sc, plan).requests[0]
    waited = evaluate(sc.replace(ready_s=[2.0, 5.0] if src == 0 else [5.0, 2.0]), plan).requests[0]
    assert waited["wait_s"] == pytest.approx(2.0 + 5.0)
    assert waited["latency_s"] == pytest.approx(base["latency_s"] + 7.0)
    assert evaluate(sc.replace(ready_s=[4.0, 4.0]), plan).devices == evaluate(sc, plan).devices  # no energy


def test_a_backlog_moves_the_plan_away_from_a_busy_device():
    sc = small_scenario(2, n_devices=3, n_requests=1, alpha=1.0)
    plan = solvers.solve(sc, "colgen")
    busy = sorted({i for q in plan.requests if q.served for i in q.placement.values()})
    ready = [100.0 if i in busy else 0.0 for i in range(3)]
    moved = solvers.solve(sc.replace(ready_s=ready), "colgen")
    assert not {i for q in moved.requests if q.served for i in q.placement.values()} & set(busy)


@pytest.mark.parametrize("field, value, words", [
    ("ready_s", [1.0], "ready_s: must be a list of 2 numbers"),
    ("ready_s", [-1.0, 0.0], "ready_s[0]: must be at least 0"),
    ("ready_s", [float("inf"), 0.0], "ready_s[0]: must be a finite number"),
])
def test_bad_backlogs_are_named(field, value, words):
    sc = small_scenario(0, n_devices=2)
    with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace("]", r"\]")):
        sc.replace(**{field: value})


def test_backlog_and_missing_links_round_trip_through_scenario_json(tmp_path):
    sc = _cut(small_scenario(0, n_devices=3), [(0, 2)]).replace(ready_s=[0.5, 0.0, 1.5])
    sc.save(tmp_path / "s.json")
    back = Scenario.load(tmp_path / "s.json")
    assert back == sc and not back.linked(0, 2) and back.linked(1, 1)
    assert json.loads((tmp_path / "s.json").read_text())["rate_mbps"][0][2] == 0
    assert np.all(back.kernel.hop_wait(0) == np.array([0.5, 0.0, 1.5])[None, :])
