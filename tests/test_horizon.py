"""Decisions over time: ties broken on purpose (every method the same way), a controller's price of
energy in every solver's objective, the horizon-aware controller and the ``simulate`` command."""
import dataclasses

import pytest
from optim_helpers import brute_force, small_scenario, solve

from adaptres.problem import formulas
from adaptres.problem.evaluate import evaluate
from adaptres.problem.plan import Assignment, Plan
from adaptres.problem.scenario import Device, Scenario, ScenarioError

METHODS = ("exact", "relaxed", "colgen", "colgen_round", "ga")


# ---------------------------------------------------------------------------- the price of energy
def priced(sc: Scenario, prices) -> Scenario:
    return Scenario.from_dict({**sc.to_dict(), "energy_price": list(prices)})


def test_energy_price_is_one_term_added_to_eq5():
    sc = small_scenario(2, n_requests=2)
    assert sc.energy_price is None and "energy_price" not in sc.to_dict()  # the paper's scenarios are unchanged
    p = priced(sc, [0.01, 0.02])
    assert p.fingerprint() != sc.fingerprint()
    _, plan = brute_force(sc)
    assert any(q.served for q in plan.requests)
    ev0, ev = evaluate(sc, Plan("x", plan.requests)), evaluate(p, Plan("x", plan.requests))
    charge = sum(formulas.energy_charge(q, d["energy_j"]) for q, d in zip((0.01, 0.02), ev.devices))
    assert charge > 0 and ev.objective == pytest.approx(ev0.objective + charge, rel=1e-12)
    assert ev.paper_objective == pytest.approx(ev0.objective, rel=1e-12)


@pytest.mark.parametrize("bad, words", [([0.1], "2 numbers"), ([-1.0, 0.0], "energy_price\\[0\\]"),
                                        ([0.0, float("nan")], "energy_price\\[1\\]"), ("x", "energy_price")])
def test_bad_energy_price_is_one_line(bad, words):
    with pytest.raises(ScenarioError, match=words):
        Scenario.from_dict({**small_scenario(0).to_dict(), "energy_price": bad})


@pytest.mark.parametrize("seed, prices", [(2, [0.0, 0.3]), (4, [0.0, 1.0]), (9, [0.3, 0.0]), (11, [1.0, 0.0])])
def test_exact_methods_equal_brute_force_with_a_price(seed, prices):
    """A price on energy high enough to change the plan: the exact methods still find the brute-force
    optimum of the priced objective, and the solver's own objective is the evaluator's."""
    sc = small_scenario(seed, n_requests=2)
    p = priced(sc, prices)
    best, plan = brute_force(p)
    assert brute_force(sc)[1] != plan  # the price changes the optimum
    for method in ("exact", "colgen"):
        got = solve(p, method, ties=False)
        assert got.objective == pytest.approx(best, rel=1e-6, abs=1e-9), method
        if method == "exact":
            assert got.metrics["solver_objective"] == pytest.approx(got.objective, rel=1e-6, abs=1e-9)


# ---------------------------------------------------------------------------- ties
def tied_scenario() -> Scenario:
    """Two identical devices joined by a slow link, α = 0: one request from device 0. Every placement of the
    full model has the same objective (0: full accuracy, served); the one on device 0 has no transfer."""
    sc = small_scenario(3, n_devices=2, n_requests=1, alpha=0.0)
    big = Device("d", 1e15, 1e15, 2.8e9, 1e6, 8.0, 10.0)
    devices = (dataclasses.replace(big, name="d0"), dataclasses.replace(big, name="d1"))
    return Scenario.from_dict({**sc.to_dict(), "devices": [dataclasses.asdict(d) for d in devices],
                               "rate_mbps": [[0.0, 7.2], [7.2, 0.0]], "requests": [{"source": 0}]})


@pytest.mark.parametrize("method", METHODS)
def test_constructed_ties_go_to_the_lower_latency_plan(method):
    sc = tied_scenario()
    names = sc.unit_names
    zigzag = Assignment(True, 0, {n: j % 2 for j, n in enumerate(names)})
    local = Assignment(True, 0, {n: 0 for n in names})
    ev_z, ev_l = evaluate(sc, Plan("x", (zigzag,))), evaluate(sc, Plan("x", (local,)))
    assert ev_z.objective == ev_l.objective  # a tie of the primary objective ...
    assert ev_z.requests[0]["latency_s"] > ev_l.requests[0]["latency_s"]  # ... between unequal latencies
    plan = solve(sc, method, time_limit=5, ga_generations=5)
    assert plan.objective == pytest.approx(ev_l.objective, abs=1e-12)
    assert plan.metrics["mean_latency_s"] == pytest.approx(ev_l.requests[0]["latency_s"], rel=1e-9), method
    assert set(plan.requests[0].placement.values()) == {0}


def test_the_tie_break_never_raises_the_objective():
    """On random steps of both α regimes, every method's objective with the tie-break is at most its
    objective without (the stage keeps configurations and accepts only moves that do not raise it), and the
    proven methods stay within their gap of the brute-force optimum."""
    for seed in range(4):
        for alpha in (0.0, 0.5):
            sc = small_scenario(seed, n_devices=3, n_requests=2, alpha=alpha, n_units=4)
            best, _ = brute_force(sc)
            for method in ("relaxed", "colgen", "colgen_round"):
                plain, tied = solve(sc, method, ties=False), solve(sc, method)
                assert tied.objective <= plain.objective + 1e-12, (seed, alpha, method)
                assert [q.config for q in tied.requests] == [q.config for q in plain.requests]
                if method == "colgen":
                    assert tied.objective == pytest.approx(best, rel=1e-6, abs=1e-9)
                    assert tied.metrics["violations"] == 0
