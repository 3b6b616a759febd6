"""The solver interface (registry, options, finish) and Algorithm 1's rules (device order, ties, repair)."""
import dataclasses

import pytest
from optim_helpers import small_scenario

from adaptres import solvers
from adaptres.problem.evaluate import evaluate
from adaptres.problem.plan import Assignment
from adaptres.problem.scenario import Device, Request
from adaptres.solvers import relaxed


def test_methods_are_the_modules_and_a_new_solver_is_one_registration(registry):
    assert {"exact", "relaxed", "ga", "colgen", "colgen_round"} <= set(solvers.methods())
    assert all(solvers.info(m).name == m for m in solvers.methods())  # every module of the package is a method

    @solvers.register("test-everything-on-the-source")
    def _all_on_source(sc, options, start=None):
        reqs = [Assignment(True, 0, {n: q.source for n in sc.unit_names}) for q in sc.requests]
        return solvers.finish(sc, "test-everything-on-the-source", reqs, solve_s=0.0)

    sc = small_scenario(3, 2, 4, 2, tight=3.0)
    plan = solvers.solve(sc, "test-everything-on-the-source")
    ev = evaluate(sc, plan)
    assert plan.objective == ev.objective and plan.metrics["served"] == 2
    assert plan.status == ("feasible" if ev.feasible else "infeasible")
    assert "test-everything-on-the-source" in solvers.methods()
    with pytest.raises(solvers.OptionError, match=r"method: must be one of .*exact.*got 'nosuch'"):
        solvers.solve(sc, "nosuch")


def test_finish_takes_the_evaluators_objective_and_the_gap_to_the_bound():
    sc = small_scenario(0, 2, 4, 1, tight=3.0)
    reqs = [Assignment(True, 0, {n: 0 for n in sc.unit_names})]
    plan = solvers.finish(sc, "x", reqs, solve_s=1.5, bound=0.0)
    assert plan.objective == evaluate(sc, plan).objective and plan.gap == pytest.approx(1.0)
    assert plan.solve_s == 1.5 and plan.metrics["violations"] == 0


@pytest.mark.parametrize("kw,field", [({"time_limit": float("nan")}, "time_limit"), ({"time_limit": 0}, "time_limit"),
                                      ({"rel_gap": -1}, "rel_gap"), ({"rel_gap": float("inf")}, "rel_gap"),
                                      ({"threads": 0}, "threads"), ({"threads": 2.5}, "threads"),
                                      ({"max_nodes": -1}, "max_nodes"), ({"seed": -1}, "seed"),
                                      ({"ga_pop_size": 1}, "ga_pop_size"), ({"highs": []}, "highs")])
def test_options_are_checked(kw, field):
    with pytest.raises(solvers.OptionError) as err:
        solvers.Options(**kw)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


def three_devices(sc, compute=(1e11, 2e11, 2e11), memory=(1e11, 1e11, 2e11), speed=(1e9, 1e9, 1e9)):
    devs = tuple(Device(f"d{i}", memory[i], compute[i], speed[i], 1e4) for i in range(3))
    rates = [[0, 10.0, 30.0], [10.0, 0, 20.0], [30.0, 20.0, 0]]
    return sc.replace(devices=devs, rate_mbps=rates, requests=(Request(0),))


def test_algorithm_1_device_order_and_its_ties():
    sc = three_devices(small_scenario(0, 2, 4, 1))
    # the largest fractional share wins, whatever the rates or capacities
    assert relaxed.device_order(sc, [0.2, 0.7, 0.1], prev=0)[0] == 1
    # first unit, equal shares: the higher capacity (compute, then memory, then speed), then the lower index
    assert relaxed.device_order(sc, [0.5, 0.5, 0.0], prev=None) == [1, 0, 2]
    assert relaxed.device_order(sc, [1 / 3] * 3, prev=None) == [2, 1, 0]
    # shares that differ by less than the tie tolerance are equal
    assert relaxed.device_order(sc, [0.5, 0.5 + 1e-8, 0.0], prev=None) == [1, 0, 2]
    # later units, equal shares: the previous unit's device (no transfer), then the higher rate from it
    assert relaxed.device_order(sc, [0.5, 0.5, 0.0], prev=0) == [0, 1, 2]
    assert relaxed.device_order(sc, [0.0, 0.5, 0.5], prev=0) == [2, 1, 0]
    assert relaxed.device_order(sc, [1 / 3] * 3, prev=1) == [1, 2, 0]


def test_algorithm_1_configuration_order_and_repair():
    sc = three_devices(small_scenario(1, 2, 4, 1))
    M = len(sc.units)
    on_1 = [[[0.0, 1.0, 0.0] for _ in range(M)]]
    ks = sc.allowed_configs()
    assert len(ks) >= 2
    # equal configuration shares: the more accurate one first
    y = [{k: 1 / len(ks) for k in ks}]
    plan, moved = relaxed.round_and_repair(sc, [1.0], y, on_1)
    best = max(ks, key=lambda k: sc.configs[k].accuracy)
    assert plan[0].config == best and set(plan[0].placement.values()) == {1} and moved == 0
    # a clear share for another configuration wins over accuracy
    other = min(ks, key=lambda k: sc.configs[k].accuracy)
    plan, _ = relaxed.round_and_repair(sc, [1.0], [{k: float(k == other) for k in ks}], on_1)
    assert plan[0].config == other
    # repair: device 1 cannot hold the request's memory, so its units move to the next in Algorithm 1's order
    tight = sc.replace(devices=tuple(d if i != 1 else Device("d1", 1.0, d.compute_macs, d.macs_per_s, d.energy_j)
                                     for i, d in enumerate(sc.devices)))
    plan, moved = relaxed.round_and_repair(tight, [1.0], y, on_1)
    assert plan[0].served and 1 not in plan[0].placement.values() and moved == M
    assert evaluate(tight, solvers.finish(tight, "r", plan, solve_s=0)).feasible
    # below one half served in the LP: left unserved
    plan, _ = relaxed.round_and_repair(sc, [0.4], y, on_1)
    assert not plan[0].served


def test_a_registered_solver_appears_in_the_sweep_the_comparison_and_the_command_line(registry, tmp_path, capsys):
    """A toy solver's registry entry is all the study needs: the sweep seeds it (stochastic), describes it,
    the comparison runs it by default and reads its bound as proven, the command line takes only its options."""
    import pandas as pd

    from adaptres.cli import main
    from adaptres.experiments import compare, sim

    @solvers.register("toy", proven=True, stochastic=True, options=("time_limit", "seed"),
                      describe=lambda o: f"a toy that serves every other request (seed {o.seed})")
    def _toy(sc, options, start=None):
        reqs = [Assignment(True, 0, {n: q.source for n in sc.unit_names}) if (options.seed + r) % 2 == 0
                else Assignment(False) for r, q in enumerate(sc.requests)]
        return solvers.finish(sc, "toy", reqs, solve_s=0.0, bound=0.0)

    units, configs, _, S = sim.inputs("fast")
    df = sim.sweep(units, configs, [{"lam": 4.0}], seeds=(0, 1), steps=2, base={"n_devices": 3}, method="toy",
                   progress=False, scale=S.scale)
    expect = {seed: sum((n + 1) // 2 if seed % 2 == 0 else n // 2 for n in g.n_requests) for seed, g in df.groupby("seed")}
    assert df.groupby("seed").served.sum().to_dict() == expect  # each run got its own seed
    assert "a toy that serves every other request" in sim.describe(dataclasses.replace(S, method="toy"))
    steps = compare.compare_steps(units, configs, 1, n_devices=3, lam=1.0, options=solvers.Options(
        time_limit=5, ga_time_limit=0.5, ga_generations=2), progress=False)
    assert set(steps.method) == set(solvers.methods()) and "toy" in set(steps.method)
    toy = steps[steps.method == "toy"].iloc[0]
    assert toy.proven_bound == 0.0 and isinstance(steps, pd.DataFrame)
    assert main(["scenario", "--profile", "fast", "--devices", "3", "--requests", "1", "--out", str(tmp_path / "s.json")]) == 0
    assert main(["solve", str(tmp_path / "s.json"), "--method", "toy", "--seed", "1", "--time-limit", "2"]) == 0
    assert main(["solve", str(tmp_path / "s.json"), "--method", "toy", "--warm-start"]) == 2
    assert "--warm-start: the toy method does not use it (it takes --time-limit, --seed)" in capsys.readouterr().err
