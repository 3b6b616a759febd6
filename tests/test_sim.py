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
