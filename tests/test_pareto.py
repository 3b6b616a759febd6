"""Fronts: the ε-constraint on the column generation's master against brute force, plans that the evaluator
accepts with the points' numbers, budgets kept, which points a weighted sum reaches, NSGA-II beside it, and
``solve --pareto`` on bad input."""
import dataclasses
import itertools
import json

import numpy as np
import pytest
from cli_helpers import cli, refused
from optim_helpers import request_options, small_scenario

from adaptres.problem.evaluate import check_stored, evaluate
from adaptres.problem.plan import Plan
from adaptres.solvers import Options
from adaptres.solvers.pareto import (
    FrontError,
    Point,
    check,
    exact_front,
    hypervolume,
    loss_of,
    nondominated,
    nsga2_front,
    reference,
    supported,
    weighted_sums,
)


def every_plan(sc):
    """(served, mean latency, mean accuracy, energy) of every feasible plan of a small step."""
    out = []
    for combo in itertools.product(request_options(sc), repeat=len(sc.requests)):
        ev = evaluate(sc, Plan("brute", combo))
        if ev.feasible:
            m = ev.metrics()
            out.append((m["served"], m["mean_latency_s"] or 0.0, m["mean_accuracy"] or 0.0, m["energy_j"]))
    return out


def true_front(plans, energy_budget=None):
    """The (latency, accuracy) pairs of the non-dominated plans among those serving the most (within a budget)."""
    plans = [p for p in plans if energy_budget is None or p[3] <= energy_budget + 1e-9]
    most = max(p[0] for p in plans)
    pts = {(round(p[1], 9), round(p[2], 9)) for p in plans if p[0] == most}
    return sorted(p for p in pts if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in pts))


def pairs(front):
    return sorted((round(p.mean_latency_s, 9), round(p.mean_accuracy, 9)) for p in front.points)


def same_pairs(a, b):
    return len(a) == len(b) and np.allclose(np.array(a, dtype=float).reshape(-1, 2),
                                            np.array(b, dtype=float).reshape(-1, 2), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_front_is_the_brute_force_front(seed):
    sc = small_scenario(seed, 2, 4, 2, tight=[1.0, 0.8, 1.5][seed])
    plans = every_plan(sc)
    front = exact_front(sc, 200, Options(time_limit=30, rel_gap=1e-9))
    assert same_pairs(pairs(front), true_front(plans)), (pairs(front), true_front(plans))
    assert all(p.gap is not None and p.gap <= 1e-9 for p in front.points)
    # a coarse front: its points are on the true front, the fastest and the most accurate among them
    coarse = exact_front(sc, 3, Options(time_limit=30, rel_gap=1e-9))
    truth = true_front(plans)
    assert len(coarse.points) <= 3 and set(pairs(coarse)) <= {tuple(np.round(t, 9)) for t in truth}
    assert same_pairs(pairs(coarse)[0], truth[0]) and same_pairs(pairs(coarse)[-1], truth[-1])


def test_points_carry_plans_the_evaluator_accepts_with_their_numbers():
    sc = small_scenario(3, 3, 5, 2, tight=1.2)
    front = exact_front(sc, 6, Options(time_limit=30))
    assert front.points and front.meta["scenario_sha256"] == sc.fingerprint()
    for p in front.points:
        plan = Plan.from_dict(json.loads(json.dumps(p.to_dict()["plan"])))
        ev = evaluate(sc, plan)
        check_stored(plan, ev)  # the plan's stated objective is the one it has on this step
        m = ev.metrics()
        assert ev.feasible and (m["mean_latency_s"], m["mean_accuracy"], m["energy_j"], m["served"]) == \
            (p.mean_latency_s, p.mean_accuracy, p.energy_j, p.served)
        if p.loss_budget is not None:  # the accuracy budget it was found under is kept
            assert loss_of(sc, plan) <= p.loss_budget + 1e-9
    lat = [p.mean_latency_s for p in front.points]
    acc = [p.mean_accuracy for p in front.points]
    assert lat == sorted(lat) and acc == sorted(acc) and len(set(zip(lat, acc))) == len(lat)  # a front, no duplicate


def test_energy_budget_front_is_the_brute_force_front_within_it():
    sc = small_scenario(0, 2, 4, 2)
    plans = every_plan(sc)
    energies = sorted(p[3] for p in plans if p[0] == max(q[0] for q in plans))
    budget = float(np.median(energies))
    front = exact_front(sc, 200, Options(time_limit=30, rel_gap=1e-9), energy_budget_j=budget)
    assert all(p.energy_j <= budget + 1e-9 and p.energy_budget_j == budget for p in front.points)
    assert same_pairs(pairs(front), true_front(plans, budget)), (pairs(front), true_front(plans, budget))


def test_weighted_sums_are_marked_and_unsupported_points_found():
    sc = small_scenario(1, 2, 4, 2, tight=0.8)
    front = exact_front(sc, 200, Options(time_limit=30, rel_gap=1e-9))
    ws = weighted_sums(sc, front, [1.0, 0.5], Options(time_limit=30, rel_gap=1e-9))
    assert ws[0]["point"] == 0 and 1.0 in front.points[0].alphas  # α = 1: the fastest point
    for w in ws:  # every weighted-sum optimum with α > 0 is a supported point of the front
        assert w["point"] is not None and front.points[w["point"]].supported
    # constructed: a point above the segment joining its neighbours is reached by no weighted sum
    plan = front.points[0].plan
    pts = [Point(x, a, 1.0, 2, plan) for x, a in ((1.0, 70.0), (1.5, 71.0), (2.0, 80.0))]
    assert supported(pts, l_ref=1.0, full_accuracy=90.0) == [True, False, True]


def test_front_geometry():
    plan = Plan("x", ())
    a, b, c = Point(1.0, 80.0, 5.0, 2, plan), Point(2.0, 85.0, 5.0, 2, plan), Point(2.0, 84.0, 1.0, 2, plan)
    assert nondominated([b, a, c]) == [a, b]  # c is dominated in latency and accuracy (energy left out)
    assert nondominated([a, dataclasses.replace(a, energy_j=9.0)]) == [a]  # duplicates once
    ref = reference([a, b])
    assert hypervolume([a, b], ref) > hypervolume([a], ref) > 0
    assert hypervolume([], ref) == 0.0


def test_nsga2_front_is_feasible_and_never_beyond_the_exact_front():
    sc = small_scenario(3, 2, 4, 2, tight=1.5)  # both requests can be served: six points
    exact = exact_front(sc, 200, Options(time_limit=30, rel_gap=1e-9))
    heur = nsga2_front(sc, 1.0, seed=0, pop_size=20)
    assert heur.points and heur.meta["generations"] >= 1
    for p in heur.points:
        assert evaluate(sc, p.plan).feasible and p.served == len(sc.requests)
        assert not any(p.mean_latency_s < q.mean_latency_s - 1e-9 and p.mean_accuracy >= q.mean_accuracy
                       for q in exact.points)
    ref = reference(exact.points, heur.points)
    assert hypervolume(heur.points, ref) <= hypervolume(exact.points, ref) + 1e-9


def test_check_refuses_bad_fronts():
    sc = small_scenario(0, 2, 4, 2)
    for k in (0, -1, 1001, 2.5, True, "3"):
        with pytest.raises(FrontError, match="pareto"):
            check(sc, k)
    with pytest.raises(FrontError, match="accuracy_threshold.*empty"):
        check(dataclasses.replace(sc, accuracy_threshold=99.0), 3)


def test_solve_pareto_command(tmp_path, capsys):
    sc = small_scenario(0, 2, 4, 2)
    path, out = tmp_path / "sc.json", tmp_path / "front.json"
    sc.save(path)
    rc, stdout, _ = cli(["solve", path, "--pareto", 5, "--alphas", 1, "--out", out], capsys)
    assert rc == 0
    doc = json.loads(out.read_text())
    assert [p["mean_latency_s"] for p in json.loads(stdout)["points"]] == [p["mean_latency_s"] for p in doc["points"]]
    for p in doc["points"]:
        plan_path = tmp_path / "plan.json"
        plan_path.write_text(json.dumps(p["plan"]))
        rc, stdout, _ = cli(["evaluate", path, plan_path], capsys)
        assert rc == 0 and json.loads(stdout)["mean_latency_s"] == p["mean_latency_s"]
    assert doc["weighted_sum"][0]["point"] == 0


@pytest.mark.parametrize("args,words", [
    (["--pareto", 0], ["--pareto", "positive integer"]),
    (["--pareto", 1001], ["--pareto", "1000"]),
    (["--pareto", "x"], ["--pareto", "invalid int"]),
    (["--pareto", 3, "--energy-budget", -2], ["--energy-budget", "above 0"]),
    (["--energy-budget", 3], ["--energy-budget", "--pareto"]),
    (["--pareto", 3, "--method", "ga"], ["--method", "colgen"]),
    (["--pareto", 3, "--alphas", 1.5], ["--alphas", "[0, 1]"]),
])
def test_solve_pareto_bad_input(tmp_path, capsys, args, words):
    path, out = tmp_path / "sc.json", tmp_path / "front.json"
    small_scenario(0, 2, 4, 2).save(path)
    refused(cli(["solve", path, *args, "--out", out], capsys), *words)
    assert not out.exists()


def test_solve_pareto_empty_accuracy_range(tmp_path, capsys):
    path, out = tmp_path / "sc.json", tmp_path / "front.json"
    dataclasses.replace(small_scenario(0, 2, 4, 2), accuracy_threshold=99.0).save(path)
    refused(cli(["solve", path, "--pareto", 4, "--out", out], capsys), "accuracy_threshold", "empty")
    assert not out.exists()


@pytest.mark.slow
def test_bench_fronts_reports_each_held_out_front(monkeypatch):
    """``bench fronts``: one row per seed (outside notebook 11's), its points and how many are not proven."""
    from adaptres.experiments import fronts, profiles
    assert len(fronts.HELD_OUT) == 20 and not set(fronts.HELD_OUT) & set(profiles.get("cpu").pareto.seeds)
    df = fronts.held_out(seeds=(3,), k=2, progress=False)
    assert df.to_dict("records")[0].keys() == {"seed", "points", "unproven", "max_gap", "front_s", "longest_point_s"}
    row = df.iloc[0]
    assert row.seed == 3 and 1 <= row.points <= 2 and row.unproven == 0 and row.max_gap <= 1e-4
    assert 0 < row.longest_point_s <= row.front_s


def test_bench_fronts_takes_only_out(capsys):
    refused(cli(["bench", "fronts", "--seed", "1"], capsys), "--seed: bench fronts does not use it")


@pytest.mark.parametrize("r", [2, 3, 4])
def test_the_loss_budgets_level_rows_keep_every_choice_of_configurations_within_it(r):
    """``Arrays.loss_levels`` (the master's ``LevelRow``): whatever configurations r requests take within a loss
    budget ε, at most m of them are in level m; and ε just below a configuration's loss pair puts it in a level."""
    from adaptres.solvers.cg.data import Arrays
    sc = dataclasses.replace(small_scenario(2, 2, 6, r), accuracy_threshold=0.0)
    ar = Arrays(sc)
    losses = sorted({float(v) for v in ar.loss if v > 0})
    assert len(losses) >= 2
    for eps in [*losses, *(a + b for a, b in itertools.combinations(losses, 2)), 0.5 * losses[0]]:
        levels = ar.loss_levels(eps)
        for ks in itertools.product(range(len(ar.loss)), repeat=r):
            if sum(ar.loss[k] for k in ks) <= eps + 1e-9:
                assert all(sum(members[k] for k in ks) <= m for m, members in levels.items()), (eps, ks)
    eps = 2 * losses[-1] - 1e-3  # two requests at the lossiest configuration would pass ε: level 1 holds it
    assert ar.loss_levels(eps)[1][int(np.argmax(ar.loss))] == 1.0


@pytest.mark.slow
def test_the_level_rows_raise_the_root_bound_where_the_lp_mixes_configurations(monkeypatch):
    """A §V-A step of ``bench fronts`` (N = 10, three requests) at the loss budget its front sets just above zero (the
    point that took most of that front's time): the root's bound is higher with the level rows than without."""
    from adaptres.experiments import profiles
    from adaptres.experiments.sections import scenario_for
    from adaptres.solvers.cg.master import Master
    from adaptres.solvers.colgen import Root
    P = profiles.get("cpu").pareto
    sc = scenario_for("cpu", P.n_devices, P.n_requests, 3, "V-A")
    lat = dataclasses.replace(sc, alpha=1.0, beta=0.0, energy_price=None)
    opts = Options(time_limit=60.0, rel_gap=1e-4)
    fastest = Root(lat, opts, None, budgets={"loss": None, "energy": None})
    best, bound = fastest.search()
    eps = loss_of(sc, fastest.finish("colgen", best, bound)) / 11  # the front of 12 points: its last ε above zero
    with_levels = Root(lat, opts, None, budgets={"loss": eps, "energy": None}, dive=False).node[0]
    monkeypatch.setattr(Master, "_set_levels", lambda self, eps: None)
    without = Root(lat, opts, None, budgets={"loss": eps, "energy": None}, dive=False).node[0]
    assert with_levels > without * (1 + 1e-3), (with_levels, without)
