"""The runtime: routes equal the evaluator's model, re-plans respect what a step has executed, and on
Ray (one session, four device actors): answers equal the monolithic model's with the same drops,
bytes sent equal the model's, and a failed device loses no request and answers none twice."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from adaptres import solvers
from adaptres.experiments import trials
from adaptres.problem.evaluate import evaluate
from adaptres.problem.plan import Assignment, Plan
from adaptres.runtime import routes as R

N = 4


def fast(sc, factor=20.0):
    """The scenario's devices and links ``factor`` times faster (short tests, same plans' shapes)."""
    devices = [dataclasses.replace(d, macs_per_s=d.macs_per_s * factor) for d in sc.devices]
    rates = [[v * factor for v in row] for row in sc.rate_mbps]
    return sc.replace(devices=tuple(devices), rate_mbps=rates)


def random_plan(sc, rng, n_served=None):
    """A plan with random allowed configurations and random contiguous placements (capacity ignored)."""
    names, allowed, reqs = sc.unit_names, sc.allowed_configs(), []
    for r in range(len(sc.requests)):
        if n_served is not None and r >= n_served:
            reqs.append(Assignment(False))
            continue
        cuts = sorted(rng.choice(np.arange(1, len(names)), size=rng.integers(0, 4), replace=False).tolist())
        devs = rng.integers(0, sc.n_devices, len(cuts) + 1)
        place = {n: int(devs[sum(j >= c for c in cuts)]) for j, n in enumerate(names)}
        reqs.append(Assignment(True, int(rng.choice(allowed)), place))
    return Plan("random", tuple(reqs))


# ---------------------------------------------------------------------------- no Ray
@pytest.mark.parametrize("seed", range(6))
def test_routes_are_the_evaluators_model(seed):
    sc = trials.scenario(N + seed % 3, 5, seed)
    plan = random_plan(sc, np.random.default_rng(seed))
    ev = evaluate(sc, plan)
    for rt, q in zip(R.routes(sc, plan), ev.requests):
        assert rt.latency_s == pytest.approx(q["latency_s"], rel=1e-12)
        assert rt.bytes == pytest.approx(q["dc_bytes"] + q["sc_bytes"], rel=1e-12)
        assert sum(s.stop - s.start for s in rt.segments) == len(sc.units)
    used = R.usage(sc)
    for rt in R.routes(sc, plan):
        if rt is not None:
            R.charge(used, sc, rt.segments, rt.dropped)
    assert used.macs == pytest.approx([d["macs"] for d in ev.devices])
    assert used.energy() == pytest.approx([d["energy_j"] for d in ev.devices])
    assert used.memory_bytes() == pytest.approx([d["memory_bytes"] for d in ev.devices])


def test_queue_aware_estimate():
    sc = trials.scenario(N, 6, 1)
    plan = random_plan(sc, np.random.default_rng(1))
    rts = R.routes(sc, plan)
    model = [rt.latency_s for rt in rts]
    assert R.queued_latency(sc, rts, exclusive=True) == pytest.approx(model)
    queued = R.queued_latency(sc, rts)
    assert all(q >= m - 1e-12 for q, m in zip(queued, model))
    assert sum(queued) > sum(model)  # six requests on four devices share some


@pytest.mark.parametrize("start", [0, 1, 7, 17])
def test_continuation_keeps_the_executed_drops_and_the_survivors_capacity(start):
    sc = trials.scenario(N, 2, 3)
    k = next(k for k, c in enumerate(sc.configs) if len(c.dropped) >= 3)
    done = frozenset(n for n in sc.configs[k].dropped if sc.unit_names.index(n) < start)
    used = R.usage(sc)
    group = [R.Resume(0, start, 2, done, sc.configs[k].accuracy), R.Resume(1, start, 0, done, sc.configs[k].accuracy)]
    alive = [0, 2, 3]
    sub = R.continuation(sc, group, alive, used)
    assert tuple(n for n in sub.unit_names if n != R.SENTINEL) == sc.unit_names[start:]
    if start == len(sc.units) - 1:  # a lone head gets a zero-cost pass-through before it
        assert sub.unit_names == (R.SENTINEL, "head") and sub.units[0].macs == 0
    assert sub.configs[0].dropped == ()
    assert all(set(c.dropped) <= set(sc.unit_names[start:]) for c in sub.configs)
    assert [q.source for q in sub.requests] == [1, 0]
    new, plan = R.replan(sc, group, alive, used)
    assert plan.n_served == 2, plan.status
    for q in group:
        rt = new[q.request]
        assert rt.segments[0].start == start and rt.segments[0].src == q.holder
        assert {s.device for s in rt.segments} <= set(alive)
        assert rt.dropped & set(sc.unit_names[:start]) == done
    assert sum(used.macs) == pytest.approx(sum(s.macs for q in group for s in new[q.request].segments))


def test_replan_respects_what_the_step_used():
    sc = trials.scenario(N, 1, 3)
    used = R.usage(sc)
    for i, d in enumerate(sc.devices):  # every survivor already spent its compute budget
        used.macs[i] = d.compute_macs
    new, plan = R.replan(sc, [R.Resume(0, 1, 0, frozenset(), sc.configs[0].accuracy)], [0, 1, 3], used)
    assert new[0] is None and plan.n_served == 0


# ---------------------------------------------------------------------------- on Ray
@pytest.fixture(scope="module")
def runtime(ray_session):
    from adaptres.runtime.cluster import Cluster
    model, recipe = trials.load_model()
    cl = Cluster(model, N)
    yield cl, model, recipe
    cl.close()


@pytest.mark.slow
def test_answers_equal_the_monolithic_model(runtime):
    cl, model, recipe = runtime
    for seed in (0, 1):
        sc = fast(trials.scenario(N, 4, seed))
        plan = random_plan(sc, np.random.default_rng(10 + seed))
        run = trials.run_step(cl, recipe, sc, plan, seed)
        x, labels, idx = trials.images(recipe, len(sc.requests), seed)
        for q, img in zip(run["requests"], x):
            assert q["status"] == "answered", q["reason"]
            assert set(q["dropped"]) == set(sc.configs[plan.requests[q["request"]].config].dropped)
            with torch.inference_mode():
                ref = model(img, drop_dc=q["dropped"])[0]
            assert q["prediction"] == int(ref.argmax())
            assert torch.allclose(torch.tensor(q["logits"]), ref, atol=1e-4)
            assert q["bytes_sent"] == q["bytes_model"]
            assert q["devices"] == R.routes(sc, plan)[q["request"]].devices
        held = {d["device"]: d for d in run["devices"]}
        assert all(h["weight_bytes"] == h["weight_bytes_model"] for h in held.values())


@pytest.mark.slow
def test_a_failed_device_loses_no_request(runtime):
    cl, model, recipe = runtime
    sc = fast(trials.scenario(N, 5, 4), factor=5.0)
    plan = solvers.solve(sc, "colgen_round")
    victim = trials.pick_failures(sc, plan, 1, 0, 0.05)
    run = trials.run_step(cl, recipe, sc, plan, 4, victim)
    assert not run["ended_twice"]
    assert len(run["requests"]) == len(sc.requests)
    assert {q["status"] for q in run["requests"]} <= {"answered", "unserved"}, \
        [(q["request"], q["status"], q["reason"]) for q in run["requests"]]
    f = run["failures"][0]
    assert f["device"] == victim[0][0] and f["detected_s"] >= f["at_s"] and f["replanned_s"] >= f["detected_s"]
    for q in run["requests"]:
        if q["status"] == "unserved":
            assert q["reason"]
        elif q["replanned"]:
            after = [h for h in q["hops"] if h["arrive"] > f["replanned_s"]]
            assert all(h["device"] != f["device"] for h in after)
    # every request that still needed the victim when it died was re-planned around it or ended unserved
    routes, dead = R.routes(sc, plan), f["device"]
    needed = [q for q in run["requests"] if routes[q["request"]] is not None and dead in routes[q["request"]].devices
              and not any(h["device"] == dead and h["end"] <= f["at_s"] for h in q["hops"])]
    assert needed, "the kill hit no work in progress: the test proves nothing"
    assert all(q["replanned"] or q["status"] == "unserved" for q in needed), needed
    assert run["heartbeat"]["pings"] > 0 and run["heartbeat"]["max_s"] < run["options"]["heartbeat_timeout_s"]
    again = trials.run_step(cl, recipe, sc, plan, 4)  # Ray restarted the device for the next step
    assert all(q["status"] == "answered" for q, p in zip(again["requests"], plan.requests) if p.served)


@pytest.mark.slow
def test_a_segment_that_raises_fails_its_request_not_its_device(runtime):
    """Non-finite weights on one device: its segments raise, those requests fail with the error named,
    no device is taken for failed, nothing is re-planned; the next step (good weights) answers all."""
    cl, model, recipe = runtime
    sc = fast(trials.scenario(N, 3, 2))
    rng = np.random.default_rng(2)
    plan = Plan("t", [Assignment(True, 0, {u: int(rng.integers(N)) for u in sc.unit_names}) for _ in sc.requests])
    good = cl.slices["layer1.0"]
    bad = {k: v.clone() for k, v in cl.ray.get(good).items()}
    bad["conv1.weight"][:] = float("nan")
    cl.slices["layer1.0"] = cl.ray.put(bad)
    try:
        run = trials.run_step(cl, recipe, sc, plan, 2)
    finally:
        cl.slices["layer1.0"] = good
    assert run["failures"] == [] and not run["ended_twice"]
    for q in run["requests"]:
        assert q["status"] == "failed" and not q["replanned"], q
        assert "FloatingPointError" in q["reason"] and "layer1.0" in q["reason"] and q["logits"] is None
    again = trials.run_step(cl, recipe, sc, plan, 2)
    assert [q["status"] for q in again["requests"]] == ["answered"] * len(sc.requests)


# ---------------------------------------------------------------------------- the command line
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adaptres", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.slow
def test_run_refuses_bad_input_in_one_line(tmp_path):
    sc = trials.scenario(N, 2, 0)
    sc.save(tmp_path / "sc.json")
    Plan("x", (Assignment(False),) * 2).save(tmp_path / "plan.json")
    Plan("x", (Assignment(False),) * 3).save(tmp_path / "plan3.json")
    cases = [(["--fail", "7@0.1"], "plan.json", "--fail"), (["--fail", "1@x"], "plan.json", "--fail"),
             (["--links", "fast"], "plan.json", "--links"), ([], "plan3.json", "plan.requests")]
    for extra, plan, field in cases:
        p = _cli("run", "sc.json", plan, "--out", "run.json", *extra, cwd=tmp_path)
        assert p.returncode == 2 and field in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    other = json.loads((tmp_path / "sc.json").read_text())
    other["input_bytes"] = 3 * 224 * 224 * 4
    (tmp_path / "other.json").write_text(json.dumps(other))
    p = _cli("run", "other.json", "plan.json", "--out", "run.json", cwd=tmp_path)
    assert p.returncode == 2 and "scenario.input_bytes" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run.json").exists()


@pytest.mark.slow
def test_profile_units_measures_every_unit():
    from adaptres.runtime.unit_timing import device_speed, profile_units
    model, recipe = trials.load_model()
    threads_before = torch.get_num_threads()
    table = profile_units(model, recipe.image_size, repeats=2, warmup=0, threads=1, progress=False)
    assert len(table) == len(model.units) + len(model.block_names())
    assert (table["median_s"] > 0).all() and device_speed(table) > 0
    assert table.loc[(table["kind"] == "identity") & (table["mode"] == "dropped"), "macs"].eq(0).all()
    assert torch.get_num_threads() == threads_before  # the process's setting is left as it was
