"""The one closed loop under load (``serving``): arrivals, the planner's model of the queues, the static
chain, the four policies and the simulated executor; the ``load`` command on the simulated queues."""
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli, refused
from optim_helpers import small_scenario

from adaptres.experiments import load_test as load
from adaptres.problem.plan import Assignment, Plan
from adaptres.runtime import routes as R
from adaptres.serving import arrivals, backlog, chain, loop, policies
from adaptres.serving.execute import Batch
from adaptres.serving.simulated import Queues


def _fast(policy, **kw):
    return load.run(load.Spec(policy=policy, profile="fast", n_devices=4, **kw))


# ---------------------------------------------------------------------------- arrivals
def test_poisson_arrivals_are_the_seeds_and_fall_in_their_epochs():
    a = arrivals.Poisson(4, rate=3.0, duration_s=40.0, epoch_s=1.0, seed=7)
    b = arrivals.Poisson(4, rate=3.0, duration_s=40.0, epoch_s=1.0, seed=7)
    assert a.arrivals == b.arrivals and 80 < len(a.arrivals) < 160  # 120 expected
    epochs = list(a)
    assert len(epochs) == 40 and sum(len(e.arrivals) for e in epochs) == len(a.arrivals)
    for e in epochs:
        assert all(e.start_s <= x.at_s < e.end_s for x in e.arrivals)
    assert [e.rates for e in epochs] == [e.rates for e in b]  # the same rates whatever a policy does


def test_a_failed_device_issues_no_more_requests():
    a = arrivals.Poisson(3, rate=5.0, duration_s=30.0, epoch_s=1.0, seed=1, silent={2: 10.0})
    assert any(x.source == 2 for x in a.arrivals if x.at_s < 10)
    assert not any(x.source == 2 for x in a.arrivals if x.at_s >= 10)


# ---------------------------------------------------------------------------- the planner's model of the queues
def _route(sc, device_of, r=0):
    names = sc.unit_names
    plan = Plan("hand", (Assignment(True, 0, {n: device_of(j) for j, n in enumerate(names)}),))
    return R.routes(sc, plan)[0]


def test_the_backlog_serves_first_come_first_served():
    """A later request that reaches an idle device before an earlier one's next segment runs first."""
    sc = small_scenario(0, n_devices=2).replace(requests=[small_scenario(0).requests[0]] * 1)
    src = sc.requests[0].source
    long = _route(sc, lambda j: src if j < len(sc.units) - 1 else 1 - src)  # ends on the other device
    b = backlog.Backlog(2)
    b.commit([long], 0.0)
    other_end_alone = R.reserve([_route(sc, lambda j: 1 - src)], 0.0, {}, {})[0]
    # the other device is idle until the long request's last unit gets there: a new request runs at once
    new = b.predict([_route(sc, lambda j: 1 - src)], 0.0)[0]
    assert new == pytest.approx(other_end_alone)
    assert b.ready_s(0.0)[src] > 0 and b.ready_s(1e9) == [0.0, 0.0]


def test_the_simulated_queues_end_where_the_model_says():
    """On idle devices, SimPy's queues and the planner's replay are one model."""
    sc = small_scenario(3, n_devices=3, n_requests=4, alpha=0.9)
    from adaptres import solvers
    plan = solvers.solve(sc, "colgen")
    epoch = arrivals.Epoch(0, 0.0, 0.0, tuple(arrivals.Arrival(r, 0.0, q.source) for r, q in enumerate(sc.requests)),
                           sc.rate_mbps)
    q = Queues(3)
    q.submit(Batch(epoch, sc, plan, 0.5))
    rep = q.drain()
    ends = {o.id: o.ended_at for o in rep.outcomes if o.status == "answered"}
    model = R.reserve(R.routes(sc, plan), 0.5, {}, {})
    assert ends == {r: pytest.approx(e) for r, e in enumerate(model) if e is not None}
    assert rep.energy.sum() == pytest.approx(sum(d["energy_j"] for d in __import__(
        "adaptres.problem.evaluate", fromlist=["evaluate"]).evaluate(sc, plan).devices))


def test_a_device_failure_in_the_simulated_queues_loses_no_request():
    res = _fast("static", load=1.0, duration_s=20.0, fail=("1@6",))
    t = res.table
    assert len(t) == res.summary["arrived"] and t["id"].is_unique
    assert res.summary["lost"] == 0 and set(t["status"]) <= {"answered", "refused", "unserved", "failed"}
    assert t["replanned"].any()  # the chain went around the failed device
    after = t[t["planned_s"] > 6.5]
    assert not any("1" in d.split() for d in after[after["status"] == "answered"]["devices"])


# ---------------------------------------------------------------------------- the static chain
def _brute_chain(sc, devices, rate):
    k = sc.replace(rate_mbps=[[0.0 if a == b else rate for b in range(sc.n_devices)]
                              for a in range(sc.n_devices)]).kernel
    J = len(sc.units)
    best = (math.inf, math.inf)
    for cuts in itertools.chain.from_iterable(itertools.combinations(range(1, J), m) for m in range(len(devices))):
        bounds = [0, *cuts, J]
        for devs in itertools.permutations(devices, len(bounds) - 1):
            stages, ok = [], True
            for d, a, b in zip(devs, bounds, bounds[1:]):
                if sum(k.weight[j, 0] + k.activation[j, 0] for j in range(a, b)) > sc.devices[d].memory_bytes:
                    ok = False
                    break
                comp = sum(k.unit_s(j, False, d) for j in range(a, b))
                stages.append((comp, k.send_s(a, 0, 1)))
            if ok:
                best = min(best, (max(max(s) for s in stages), sum(sum(s) for s in stages)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_static_chain_is_the_least_bottleneck(seed):
    sc = small_scenario(seed, n_devices=3, n_units=5, tight=0.7)
    c = chain.partition(sc, range(3), 20.0)
    best = _brute_chain(sc, range(3), 20.0)
    if c is None:
        assert best[0] == math.inf
        return
    assert (c.bottleneck_s, c.latency_s) == (pytest.approx(best[0]), pytest.approx(best[1]))
    assert len(set(c.devices)) == len(c.devices)  # each device one stage
    assert [a for _, a, _ in c.stages][0] == 0 and c.stages[-1][2] == len(sc.units)


# ---------------------------------------------------------------------------- the policies
def test_every_request_ends_once_under_every_policy():
    for p in policies.POLICIES:
        res = _fast(p, load=2.0, duration_s=15.0)
        s, t = res.summary, res.table
        assert s["lost"] == 0 and t["id"].is_unique and len(t) == s["arrived"]
        assert s["answered"] + s["refused"] + s["unserved"] + s["failed"] == s["arrived"]
        assert t[t["status"] == "refused"]["reason"].str.len().min() > 0 if s["refused"] else True
        answered = t[t["status"] == "answered"]
        assert (answered["latency_s"] > 0).all() and (answered["accuracy"] >= s["accuracy_threshold"]).all()


def test_static_drops_nothing_and_local_sends_nothing():
    st = _fast("static", load=0.5, duration_s=10.0).table
    assert (st[st["status"] == "answered"]["dropped"] == "").all()
    lo = _fast("local", load=0.5, duration_s=10.0).table
    ans = lo[lo["status"] == "answered"]
    assert (ans["devices"] == ans["source"].astype(str)).all()


def test_the_adaptive_policy_keeps_its_promise_where_the_others_do_not():
    """Over twice the static chain's modelled capacity, on the simulated queues (fast profile, fixed planner
    time): the adaptive policy answers within the SLO far more often than the static chain."""
    a = _fast("adaptive", load=2.0, duration_s=20.0).summary
    s = _fast("static", load=2.0, duration_s=20.0).summary
    assert a["slo_attainment"] > s["slo_attainment"] + 0.3
    assert a["p99_s"] < s["p99_s"]


def test_the_same_seed_gives_the_same_table():
    a = _fast("adaptive", load=1.5, duration_s=10.0).table
    b = _fast("adaptive", load=1.5, duration_s=10.0).table
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------------------- the command
def test_load_writes_one_row_per_request_and_its_numbers(tmp_path, capsys):
    out = tmp_path / "load.csv"
    rc, stdout, err = cli(["load", "--policy", "adaptive", "--profile", "fast", "--devices", "4", "--load", "1",
                           "--duration", "8", "--seed", "3", "--out", out], capsys)
    assert rc == 0, err
    t = pd.read_csv(out, comment="#")
    s = json.loads(out.with_suffix(".json").read_text())
    for key in ("policy", "rate", "duration_s", "epoch_s", "slo_s", "arrived", "answered", "refused", "unserved",
                "failed", "lost", "throughput_rps", "goodput_rps", "slo_attainment", "p50_s", "p95_s", "p99_s",
                "mean_accuracy", "energy_per_answer_j", "max_backlog_s", "planner_s_mean", "planner_s_max",
                "static_capacity_rps", "behind_s"):
        assert key in s, key
    assert len(t) == s["arrived"] and set(load.metrics.COLUMNS) == set(t.columns)
    assert s["goodput_rps"] == pytest.approx(t["within_slo"].sum() / 8.0)
    assert "wrote" in stdout


@pytest.mark.parametrize("argv, words", [
    (["--rate", "0"], "--rate"), (["--rate", "nan"], "--rate"), (["--rate", "inf"], "--rate"),
    (["--rate", "1", "--load", "1"], "--rate, --load"), ([], "--rate, --load"), (["--load", "-1"], "--load"),
    (["--load", "1", "--duration", "0"], "--duration"), (["--load", "1", "--epoch", "0"], "--epoch"),
    (["--load", "1", "--epoch", "100", "--duration", "5"], "--epoch"), (["--load", "1", "--slo", "0"], "--slo"),
    (["--load", "1", "--policy", "best"], "--policy"), (["--load", "1", "--executor", "gpu"], "--executor"),
    (["--load", "1", "--fail", "9@1"], "--fail"), (["--load", "1", "--fail", "1@99", "--duration", "5"], "--fail"),
    (["--load", "1", "--fail", "1@0:1"], "--fail"), (["--load", "1", "--fail", "１@1"], "--fail"),
    (["--load", "1", "--cut", "0-1@1"], "--cut"), (["--load", "1", "--cut", "0-0@1"], "--cut"),
    (["--load", "1", "--testbed", "netns"], "--testbed"), (["--load", "1", "--weights", "x.pt"], "--weights"),
    (["--load", "1", "--seed", "-1"], "--seed"), (["--load", "1", "--devices", "0"], "--devices"),
])
def test_bad_load_flags_are_refused_before_anything_starts(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(load, "run", lambda *a, **k: pytest.fail("the load test started"))
    monkeypatch.setattr(load, "run_live", lambda *a, **k: pytest.fail("the load test started"))
    if "--policy" not in argv:
        argv = ["--policy", "adaptive", *argv]
    out = tmp_path / "load.csv"
    refused(cli(["load", *argv, "--out", out], capsys), words)
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_the_loop_is_the_simulator():
    """``sim.run`` is the loop with the paper's steps, policy and model: its rows are the evaluator's."""
    from adaptres.experiments import sim
    from adaptres.problem.evaluate import evaluate
    sc = small_scenario(1, n_devices=3, n_requests=2)
    from optim_helpers import unit_table
    df = sim.run(unit_table(sc), sc.configs, sc.devices, 3, 2.0, sim.solver_for("colgen"), seed=4, progress=False,
                 alpha=sc.alpha, beta=sc.beta, accuracy_threshold=sc.accuracy_threshold)
    hist = loop.run(loop.Fleet(unit_table(sc), sc.configs, sc.devices, dict(alpha=sc.alpha, beta=sc.beta,
                                                                             accuracy_threshold=sc.accuracy_threshold)),
                    arrivals.Steps(3, 2.0, 3, 4), policies.Paper(sim.solver_for("colgen")),
                    __import__("adaptres.serving.execute", fromlist=["Modelled"]).Modelled(3))
    assert df["objective"].tolist() == pytest.approx([evaluate(e.scenario, e.decision.plan).objective
                                                      for e in hist.epochs])
    assert np.isclose(df["battery_total_j"].iloc[-1], sum(hist.epochs[-1].battery_before))


@pytest.fixture
def ctrl_c_watched(monkeypatch):
    """Ctrl-C raises KeyboardInterrupt here (pytest-xdist's workers ignore it) and is remembered
    (``processes.watch_ctrl_c``); both as they were afterwards."""
    import signal

    from adaptres import processes
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(processes, "_CTRL_C", __import__("threading").Event())
    processes.watch_ctrl_c()
    yield processes
    signal.signal(signal.SIGINT, before)


def _ctrl_c_as_another_error():
    """Ctrl-C during a library call that catches the KeyboardInterrupt and raises something else (numpy did)."""
    import signal
    try:
        signal.raise_signal(signal.SIGINT)
        for _ in range(10**6):  # the handler runs between bytecodes, before this ends
            pass
    except KeyboardInterrupt:
        raise TypeError("Cannot compare structured arrays unless they have a common dtype") from None
    raise AssertionError("the handler did not run")


def test_ctrl_c_turned_into_another_error_ends_the_loop_as_interrupted(ctrl_c_watched):
    """The loop keeps the epochs that finished and says it was interrupted, whatever error the Ctrl-C became;
    without a Ctrl-C the same error is raised."""
    from optim_helpers import unit_table

    from adaptres.experiments import sim
    from adaptres.serving.execute import Modelled
    sc = small_scenario(1, n_devices=3, n_requests=2)
    solve = sim.solver_for("colgen")
    calls = []

    def solver(scenario):
        calls.append(1)
        if len(calls) == 2:
            _ctrl_c_as_another_error()
        return solve(scenario)

    fleet = loop.Fleet(unit_table(sc), sc.configs, sc.devices, dict(alpha=sc.alpha, beta=sc.beta,
                                                                    accuracy_threshold=sc.accuracy_threshold))
    hist = loop.run(fleet, arrivals.Steps(3, 2.0, 3, 4), policies.Paper(solver), Modelled(3))
    assert hist.interrupted and len(hist.epochs) == 1 and ctrl_c_watched.interrupted()
    ctrl_c_watched._CTRL_C.clear()
    calls.clear()

    def failing(scenario):
        raise TypeError("a bug, not a Ctrl-C")
    with pytest.raises(TypeError, match="a bug"):
        loop.run(fleet, arrivals.Steps(3, 2.0, 3, 4), policies.Paper(failing), Modelled(3))


def test_ctrl_c_turned_into_another_error_is_exit_130_in_one_line(ctrl_c_watched, capsys, monkeypatch):
    from adaptres import cli as adaptres_cli
    from adaptres.cli import problem as cli_problem
    monkeypatch.setattr(cli_problem, "cmd_scenario", lambda args: _ctrl_c_as_another_error())
    monkeypatch.setattr(adaptres_cli.processes, "watch_ctrl_c", lambda: None)  # the fixture's handler stays
    assert adaptres_cli.main(["scenario", "--devices", "3"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "adaptres scenario: interrupted; no output was written", err


def test_the_command_lines_choices_are_the_modules():
    from adaptres.cli import serving as cli_serving
    assert cli_serving.POLICIES == policies.POLICIES
    assert (cli_serving.EXECUTORS, cli_serving.TESTBEDS) == (load.EXECUTORS, load.TESTBEDS)


def test_a_device_found_down_with_no_kill_is_named_so_among_the_kills():
    """The load targets' line on kills: a device found down that no kill took down (a live run beside another
    notebook once found one) reads as such, not as a time after a kill that never was."""
    import pandas as pd

    from adaptres.report.under_load import _found
    d = pd.DataFrame([{"device": 1, "killed_s": 15.0, "detected_s": 15.4, "replanned_s": 15.5},
                      {"device": 0, "killed_s": None, "detected_s": 15.66, "replanned_s": 15.74}])
    assert [_found(x) for x in d.itertuples()] == [
        "device 1: found 0.40 s after its kill, re-planned at 0.50 s",
        "device 0: found down at 15.66 s with no kill (its requests re-planned)"]
