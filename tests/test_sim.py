import copy

import numpy as np
import pandas as pd
import pytest
from optim_helpers import small_scenario

from adaptres import milp, sim
from adaptres.scenario import Plan, unserved


def _parts(seed=0, n_devices=3):
    sc = small_scenario(seed, n_devices, 4, 1)
    costs = pd.DataFrame(sc.units)  # the columns units_from_costs reads
    costs.attrs["input_bytes"] = sc.input_bytes
    return costs, sc.configs, sc.devices


def _nobody(sc):
    return Plan("none", unserved(len(sc.requests)), status="feasible")


def test_poisson_counts_and_empty_steps():
    costs, configs, devices = _parts()
    df = sim.run(costs, configs, devices, steps=400, lam=2.0, solver=_nobody, seed=1, progress=False)
    assert len(df) == 400
    assert abs(df.n_requests.mean() - 2.0) < 0.25 and abs(df.n_requests.var() - 2.0) < 0.5
    assert (df.n_requests == 0).any() and df.loc[df.n_requests == 0, "served_fraction"].isna().all()
    assert (df.served == 0).all()


def test_batteries_carry_over():
    costs, configs, devices = _parts(seed=2)
    before = copy.deepcopy(devices)
    solver = lambda sc: milp.solve(sc, rel_gap=1e-6)
    df = sim.run(costs, configs, devices, steps=6, lam=1.5, solver=solver, seed=3, progress=False)
    total0 = sum(d["energy_j"] for d in devices)
    # what each step spends comes off the next step's batteries
    assert df.battery_total_j.iloc[0] == pytest.approx(total0)
    for t in range(1, len(df)):
        assert df.battery_total_j.iloc[t] == pytest.approx(df.battery_total_j.iloc[t - 1] - df.energy_j.iloc[t - 1])
    assert devices == before  # the caller's devices are not modified
    assert (df.violations == 0).all()


def test_same_seed_same_results():
    costs, configs, devices = _parts(seed=4)
    solver = lambda sc: milp.solve(sc, rel_gap=1e-9)
    a = sim.run(costs, configs, devices, steps=4, lam=1.0, solver=solver, seed=7, progress=False).drop(columns="solve_s")
    b = sim.run(costs, configs, devices, steps=4, lam=1.0, solver=solver, seed=7, progress=False).drop(columns="solve_s")
    assert a.equals(b)


def test_exhausted_batteries_are_recorded_not_crashed():
    costs, configs, devices = _parts(seed=5)
    flat = [dict(d, energy_j=0.0) for d in devices]
    df = sim.run(costs, configs, flat, steps=3, lam=3.0, solver=lambda sc: milp.solve(sc), seed=0, progress=False)
    assert (df.devices_exhausted == len(devices)).all()
    assert (df.served == 0).all() and np.isfinite(df.objective).all()


@pytest.mark.parametrize("kw,match", [({"steps": 0}, "steps"), ({"lam": -1.0}, "lam")])
def test_bad_arguments(kw, match):
    costs, configs, devices = _parts()
    args = dict(steps=2, lam=1.0)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sim.run(costs, configs, devices, solver=_nobody, progress=False, **args)


def test_sweep_settings_resume_and_summary(tmp_path, monkeypatch):
    costs, configs, _ = _parts(seed=6)
    out = tmp_path / "sweep.csv"
    points = [{"lam": 0.5}, {"lam": 2.0, "battery_j": (1, 2)}]
    kw = dict(steps=3, base={"n_devices": 2}, method="exact", time_limit=30, rel_gap=1e-9, out=out, progress=False)
    df = sim.sweep(costs, configs, points, [0, 1], **kw)
    assert len(df) == 2 * 2 * 3
    assert set(df.lam) == {0.5, 2.0} and set(df.battery_j) == {"800/1000", "1/2"} and set(df.n_devices) == {2}
    # common random numbers: a seed's request sources and rates do not depend on the point
    a, b = (df[(df.point == p) & (df.seed == 0)] for p in (0, 1))
    assert len(a) == len(b) == 3
    assert out.exists() and "# method: exact" in out.read_text().splitlines()[0]
    # a rerun with the same inputs reads the saved runs instead of simulating again
    monkeypatch.setattr(sim, "run", lambda *a, **k: pytest.fail("simulated again"))
    again = sim.sweep(costs, configs, points, [0, 1], **kw)
    pd.testing.assert_frame_equal(again, df, check_dtype=False, rtol=1e-10)
    # per run: accuracy averaged over served requests; tiny batteries serve less
    runs = sim.summarise(df)
    assert len(runs) == 4 and set(runs.columns) >= {"accuracy_pct", "latency_s", "served_fraction", "lam"}
    for (p, s), g in df.groupby(["point", "seed"]):
        row = runs[(runs.point == p) & (runs.seed == s)].iloc[0]
        if g.served.sum():
            assert row.accuracy_pct == pytest.approx((g.mean_accuracy.fillna(0) * g.served).sum() / g.served.sum())
        assert row.served_fraction == pytest.approx(g.served.sum() / max(g.n_requests.sum(), 1))


def test_sweep_refuses_unknown_settings():
    with pytest.raises(ValueError, match="unknown setting 'speed'"):
        sim.setting({}, {"speed": 1})
    with pytest.raises(ValueError, match="battery_j: must be two positive numbers"):
        sim.setting({}, {"battery_j": (0, 5)})


def test_claims_trend_direction():
    from adaptres import claims
    runs = pd.DataFrame({"lam": [1, 1, 2, 2, 3, 3], "latency_s": [1.0, 1.1, 2.0, 2.1, 3.0, 3.2],
                         "accuracy_pct": [80.0] * 6})
    assert claims.trend(runs, "lam", [1, 2, 3], "latency_s", +1, "x", "rises")["held"] == "held"
    assert claims.trend(runs, "lam", [1, 2, 3], "latency_s", -1, "x", "falls")["held"] == "not held"
    flat = claims.trend(runs, "lam", [1, 2, 3], "accuracy_pct", +1, "x", "rises")
    assert flat["held"] == "not held" and "no change" in flat["this run"]
