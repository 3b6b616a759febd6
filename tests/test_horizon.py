"""Decisions over time: ties broken on purpose (every method the same way), a controller's price of
energy in every solver's objective, the horizon-aware controller and the ``simulate`` command."""
import dataclasses

import pandas as pd
import pytest
from optim_helpers import brute_force, small_scenario, solve

from adaptres import solvers
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


@pytest.mark.slow
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


# ---------------------------------------------------------------------------- the controllers
def test_controller_parameters_are_checked():
    from adaptres.serving import controllers as controller
    for bad in (-1.0, 0.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(controller.ControllerError, match="^v: "):
            controller.Params(v=bad)
    with pytest.raises(controller.ControllerError, match="^controller: "):
        controller.make("oracle", 3, 10)


def test_notebook_parameter_v_is_checked():
    from adaptres.report.notebook import problems
    assert problems(v=None) == [] and problems(v=5.0) == []
    assert problems(v=-1.0)[0].startswith("v: ") and problems(v=float("nan"))[0].startswith("v: ")
    assert problems(steps=0)[0].startswith("steps: ")


def test_drift_plus_penalty_deficits_and_prices():
    """The deficit grows by what a device spent beyond its battery over the steps left, never below 0; the
    price is deficit / V; a step with no deficit is asked as it is."""
    from adaptres.serving import controllers as controller
    c = controller.Horizon(2, steps=4, params=controller.Params(v=10.0))
    sc = small_scenario(2, n_requests=1)
    assert c.scenario(sc, 0) is sc
    c.observe(0, spent=[30.0, 1.0], battery=[40.0, 40.0])  # shares 10 J each
    assert c.deficit.tolist() == [20.0, 0.0]
    asked = c.scenario(sc, 1)
    assert asked.energy_price == (2.0, 0.0) and asked.devices == sc.devices
    c.observe(1, spent=[0.0, 0.0], battery=[10.0, 39.0])  # 3 steps left: shares 10/3 and 13
    assert c.deficit == pytest.approx([20.0 - 10.0 / 3, 0.0])


@pytest.mark.slow
def test_a_horizon_scores_eq5_and_is_deterministic():
    """``sim.run`` under the horizon controller: its rows score the plans on Eq 5 alone (the price is
    the controller's, not the paper's), add the controller's time and prices, and the same seed gives
    the same rows."""
    from adaptres.experiments import battery_horizon as horizon
    st = horizon.setting("fast", "V-B", n_devices=3)
    opts = solvers.Options(time_limit=10, rel_gap=1e-2, max_nodes=50)
    a = horizon.run(st, 5, seed=1, controller="horizon", method="colgen_round", options=opts)
    b = horizon.run(st, 5, seed=1, controller="horizon", method="colgen_round", options=opts)
    cols = ["n_requests", "served", "objective", "energy_j", "price_mean", "battery_0", "battery_2"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["price_mean"].gt(0).any() and a["violations"].eq(0).all()
    unserved = a["n_requests"] - a["served"]
    assert (a["objective"] >= 10 * unserved - 1e-9).all() and (a["objective"] <= 10 * unserved + 1).all()
    assert a["battery_0"].is_monotonic_decreasing


def test_simulate_command(capsys, tmp_path):
    import json

    from cli_helpers import cli

    from adaptres.io import read_header
    out = tmp_path / "rows.csv"
    rc, text, err = cli(["simulate", "--profile", "fast", "--section", "V-D", "--steps", 3, "--seed", 2,
                         "--controller", "horizon", "--devices", 3, "--out", out, "--quiet"], capsys)
    assert rc == 0, err
    doc = json.loads(text)
    rows = pd.read_csv(out, comment="#")
    assert len(rows) == 3 and doc["requests"] == rows["n_requests"].sum() and doc["served"] == rows["served"].sum()
    meta = read_header(out)
    assert meta["controller"] == "horizon" and meta["section"] == "V-D" and meta["seed"] == "2" and "commit" in meta


@pytest.mark.parametrize("flags, words", [(["--steps", 0], "--steps"), (["--v", -1], "--v"), (["--v", "nan"], "--v"),
                                          (["--seed", -1], "--seed"), (["--method", "oracle"], "--method"),
                                          (["--controller", "oracle"], "--controller"), (["--devices", 0], "--devices")])
def test_simulate_refuses_bad_flags(capsys, tmp_path, flags, words):
    from cli_helpers import cli, refused
    out = tmp_path / "rows.csv"
    refused(cli(["simulate", "--profile", "fast", *flags, "--out", out], capsys), words)
    assert not out.exists()


def test_an_infeasible_plan_is_left_as_the_method_made_it():
    """The tie-break moves requests of feasible plans only: a plan that breaks a capacity keeps its
    violations and its status (a heuristic that ran out of time still says so)."""
    from adaptres.solvers._ties import break_ties
    sc = tied_scenario()
    tight = [dataclasses.replace(d, compute_macs=1e3) for d in sc.devices]
    bad = Scenario.from_dict({**sc.to_dict(), "devices": [dataclasses.asdict(d) for d in tight]})
    names = bad.unit_names
    zigzag = (Assignment(True, 0, {n: j % 2 for j, n in enumerate(names)}),)
    assert evaluate(bad, Plan("x", zigzag)).violations
    assert break_ties(bad, zigzag) == (zigzag, 0)
