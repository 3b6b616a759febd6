import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from optim_helpers import small_scenario, solve, unit_table

from adaptres.experiments import sim
from adaptres.io import read_header
from adaptres.problem.plan import Plan, unserved
from adaptres.solvers import Options


def _parts(seed=0, n_devices=3):
    sc = small_scenario(seed, n_devices, 4, 1)
    return unit_table(sc), sc.configs, sc.devices


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
    solver = lambda sc: solve(sc, rel_gap=1e-6)
    df = sim.run(costs, configs, devices, steps=6, lam=1.5, solver=solver, seed=3, progress=False)
    total0 = sum(d.energy_j for d in devices)
    # what each step spends comes off the next step's batteries
    assert df.battery_total_j.iloc[0] == pytest.approx(total0)
    for t in range(1, len(df)):
        assert df.battery_total_j.iloc[t] == pytest.approx(df.battery_total_j.iloc[t - 1] - df.energy_j.iloc[t - 1])
    assert devices == before  # the caller's devices are not modified
    assert (df.violations == 0).all()


def test_same_seed_same_results():
    costs, configs, devices = _parts(seed=4)
    solver = lambda sc: solve(sc, rel_gap=1e-9)
    a = sim.run(costs, configs, devices, steps=4, lam=1.0, solver=solver, seed=7, progress=False).drop(columns="solve_s")
    b = sim.run(costs, configs, devices, steps=4, lam=1.0, solver=solver, seed=7, progress=False).drop(columns="solve_s")
    assert a.equals(b)


def test_exhausted_batteries_are_recorded_not_crashed():
    costs, configs, devices = _parts(seed=5)
    flat = [dataclasses.replace(d, energy_j=0.0) for d in devices]
    df = sim.run(costs, configs, flat, steps=3, lam=3.0, solver=lambda sc: solve(sc), seed=0, progress=False)
    assert (df.devices_exhausted == len(devices)).all()
    assert (df.served == 0).all() and np.isfinite(df.objective).all()


@pytest.mark.parametrize("kw,match", [({"steps": 0}, "steps"), ({"lam": -1.0}, "lam")])
def test_bad_arguments(kw, match):
    costs, configs, devices = _parts()
    args = dict(steps=2, lam=1.0)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sim.run(costs, configs, devices, solver=_nobody, progress=False, **args)


def test_sweep_settings_resume_replay_and_summary(tmp_path, monkeypatch):
    costs, configs, _ = _parts(seed=6)
    out = tmp_path / "sweep.csv"
    points = [{"lam": 0.5}, {"lam": 2.0, "battery_j": (1, 2)}]
    kw = dict(steps=3, base={"n_devices": 2}, method="exact", options=Options(time_limit=30, rel_gap=1e-9), out=out,
              progress=False)
    df = sim.sweep(costs, configs, points, [0, 1], **kw)
    assert len(df) == 2 * 2 * 3 and df.attrs["replayed"] is None
    assert set(df.lam) == {0.5, 2.0} and set(df.battery_j) == {"800/1000", "1/2"} and set(df.n_devices) == {2}
    header = read_header(out)
    assert header["method"] == "exact" and header["status"] == "complete" and len(header["code_sha256"]) == 16
    # a run stopped after its first (point, seed) resumes there and ends with the same rows
    real_run, calls = sim.run, []

    def stopped(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_run(*a, **k)
    monkeypatch.setattr(sim, "run", stopped)
    with pytest.raises(KeyboardInterrupt):
        sim.sweep(costs, configs, points, [0, 1], **kw)
    assert read_header(out)["status"] == "partial" and len(pd.read_csv(out, comment="#")) == 3
    counted = []
    monkeypatch.setattr(sim, "run", lambda *a, **k: counted.append(1) or real_run(*a, **k))
    resumed = sim.sweep(costs, configs, points, [0, 1], **kw)
    assert len(counted) == 3  # the three (point, seed) pairs not done before
    cols = [c for c in df.columns if c != "solve_s"]
    pd.testing.assert_frame_equal(resumed[cols], df[cols], check_dtype=False, rtol=1e-10)
    # a finished run is simulated again, unless replay=True reads it back
    counted.clear()
    sim.sweep(costs, configs, points, [0, 1], **kw)
    assert len(counted) == 4
    monkeypatch.setattr(sim, "run", lambda *a, **k: pytest.fail("simulated again"))
    again = sim.sweep(costs, configs, points, [0, 1], replay=True, **kw)
    assert again.attrs["replayed"] == str(out) and len(again) == len(df)
    # per run: accuracy averaged over served requests; served fraction over all requests
    runs = sim.summarise(df)
    assert len(runs) == 4 and set(runs.columns) >= {"accuracy_pct", "latency_s", "served_fraction", "lam"}
    for (p, s), g in df.groupby(["point", "seed"]):
        row = runs[(runs.point == p) & (runs.seed == s)].iloc[0]
        if g.served.sum():
            assert row.accuracy_pct == pytest.approx((g.mean_accuracy.fillna(0) * g.served).sum() / g.served.sum())
        assert row.served_fraction == pytest.approx(g.served.sum() / max(g.n_requests.sum(), 1))


def test_common_random_numbers_across_sweep_points(monkeypatch):
    """At every sweep point a seed draws the same arrivals, sources and link rates; another seed
    draws others. Only the swept setting (here batteries and memory) differs."""
    costs, configs, _ = _parts(seed=6)
    seen = []

    def recorder(method, options=None):
        def solve(sc):
            seen.append(([q.source for q in sc.requests], sc.rate_mbps, sc.devices[0]))
            return _nobody(sc)
        return solve
    monkeypatch.setattr(sim, "solver_for", recorder)
    points = [{"battery_j": (800, 1000)}, {"battery_j": (1, 2)}, {"memory_mb": (50, 60)}]
    df = sim.sweep(costs, configs, points, [0, 1], steps=4, base={"n_devices": 3, "lam": 2.0}, progress=False)
    runs = {(p, s): seen[4 * i:4 * i + 4] for i, (p, s) in enumerate((p, s) for p in range(3) for s in (0, 1))}
    for seed in (0, 1):
        draws = [[(src, rates) for src, rates, _ in runs[p, seed]] for p in range(3)]
        assert draws[0] == draws[1] == draws[2]
        counts = [df[(df.point == p) & (df.seed == seed)].n_requests.tolist() for p in range(3)]
        assert counts[0] == counts[1] == counts[2] and sum(counts[0]) > 0
    assert [r for _, r, _ in runs[0, 0]] != [r for _, r, _ in runs[0, 1]]
    first = {p: runs[p, 0][0][2] for p in range(3)}  # device 0 (a low-capacity one) at the first step
    assert (first[0].energy_j, first[1].energy_j, first[2].memory_bytes) == (800.0, 1.0, 50e6)


def test_sweep_refuses_unknown_settings():
    with pytest.raises(ValueError, match="unknown setting 'speed'"):
        sim.setting({}, {"speed": 1})
    with pytest.raises(ValueError, match="battery_j: must be two positive numbers"):
        sim.setting({}, {"battery_j": (0, 5)})


def test_claims_trend_direction():
    from adaptres.experiments import claims
    runs = pd.DataFrame({"lam": [1, 1, 2, 2, 3, 3], "latency_s": [1.0, 1.1, 2.0, 2.1, 3.0, 3.2],
                         "accuracy_pct": [80.0] * 6})
    assert claims.trend(runs, "lam", [1, 2, 3], "latency_s", +1, "x", "rises")["held"] == "held"
    assert claims.trend(runs, "lam", [1, 2, 3], "latency_s", -1, "x", "falls")["held"] == "not held"
    flat = claims.trend(runs, "lam", [1, 2, 3], "accuracy_pct", +1, "x", "rises")
    assert flat["held"] == "not held" and "no change" in flat["this run"]


@pytest.mark.slow
def test_sweep_on_ray_gives_the_serial_rows_and_resumes(tmp_path, ray_session):
    """The (point, seed) runs as Ray tasks: the same rows as the serial loop, saved with the same
    provenance, and a sweep stopped half-way resumes on Ray with only the runs not done."""
    costs, configs, _ = _parts(seed=6)
    points = [{"lam": 0.5}, {"lam": 2.0, "battery_j": (1, 2)}]
    kw = dict(steps=3, base={"n_devices": 2}, method="colgen_round", progress=False)
    serial = sim.sweep(costs, configs, points, [0, 1], **kw)
    out = tmp_path / "sweep.csv"
    on_ray = sim.sweep(costs, configs, points, [0, 1], engine="ray", out=out, **kw)
    cols = [c for c in serial.columns if c != "solve_s"]
    pd.testing.assert_frame_equal(on_ray[cols], serial[cols], check_dtype=False, rtol=1e-10)
    assert read_header(out)["status"] == "complete"
    text = out.read_text().splitlines()  # half of it done before: the Ray run resumes from the saved rows
    part = [line for line in text if not line.startswith("#")]
    out.write_text("\n".join([line.replace("complete", "partial") if line.startswith("# status") else line
                              for line in text if line.startswith("#")] + part[:1 + 6]) + "\n")
    resumed = sim.sweep(costs, configs, points, [0, 1], engine="ray", out=out, **kw)
    pd.testing.assert_frame_equal(resumed[cols], serial[cols], check_dtype=False, rtol=1e-10)
    with pytest.raises(ValueError, match="engine: must be one of serial, ray"):
        sim.sweep(costs, configs, points, [0], engine="dask", **kw)


def test_a_sweep_under_the_horizon_controller(tmp_path):
    """A sweep's runs under the horizon controller: the controller's columns in the rows, its name and
    parameters in the provenance (so that a myopic run is never read back for it), the per-request
    readings in the summary; a bad controller is refused before any work."""
    from adaptres.serving import controllers as controller
    costs, configs, _ = _parts(seed=6)
    out = tmp_path / "sweep.csv"
    kw = dict(steps=3, base={"n_devices": 2}, method="colgen", options=Options(time_limit=30), out=out, progress=False)
    df = sim.sweep(costs, configs, [{"battery_j": (5, 10)}], [0], controller="horizon",
                   params=controller.Params(v=5.0), **kw)
    assert {"control_s", "price_mean"} <= set(df.columns) and df["violations"].eq(0).all()
    header = read_header(out)
    assert header["controller"] == "horizon" and "v=5.0" in header["params"]
    myopic = sim.sweep(costs, configs, [{"battery_j": (5, 10)}], [0], replay=True, **kw)
    assert myopic.attrs["replayed"] is None and "price_mean" not in myopic.columns
    runs = sim.summarise(df)
    served = df["served"].sum()
    if served:
        assert runs["energy_j_req"].iloc[0] == pytest.approx(df["energy_j"].sum() / served)
    with pytest.raises(controller.ControllerError, match="controller"):
        sim.sweep(costs, configs, [{"lam": 1.0}], [0], controller="oracle", **kw)


@pytest.mark.slow
def test_ray_started_for_a_sweep_is_stopped_with_it(tmp_path):
    """``cluster.scoped``: a Ray that the work inside started is shut down when it ends and nothing of it is left
    under Ray's temporary folder — its session folder (logs, sockets), Ray's ``session_latest`` link to it (a
    notebook's kernel is killed, so no exit handler would remove them); a Ray running before is left."""
    import subprocess
    import sys
    code = """
import os, sys
from adaptres import cluster
with cluster.scoped():
    ray = cluster.start(num_cpus=1)
    session = cluster.session_dir()
    assert ray.is_initialized() and os.path.isdir(session) and session == cluster._OWN_SESSION
assert not ray.is_initialized() and not os.path.exists(session), session
latest = os.path.join(os.path.dirname(session), "session_latest")
assert not (os.path.islink(latest) and os.path.realpath(latest) == os.path.realpath(session)), latest
ray = cluster.start(num_cpus=1)
with cluster.scoped():
    pass
assert ray.is_initialized()
cluster.stop()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
