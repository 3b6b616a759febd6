"""The live system: the closed loop (``serve``), the network test bed, a link's fixed overhead in the
cost model. The test-bed tests need root and iproute2 (skipped elsewhere, with the reason)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli, refused
from optim_helpers import brute_force, small_scenario, solve

from adaptres import testbed
from adaptres.experiments import serve as live
from adaptres.problem import formulas
from adaptres.problem.scenario import Scenario
from adaptres.runtime import faults
from adaptres.serving import arrivals

REPO = Path(__file__).resolve().parent.parent
NO_TESTBED = testbed.available()
needs_testbed = pytest.mark.skipif(NO_TESTBED is not None, reason=f"network test bed: {NO_TESTBED}")


# ---------------------------------------------------------------------------- the cost model
def test_link_overhead_is_one_term_of_eqs_10_11():
    sc = small_scenario(0)
    assert sc.link_overhead_s == 0.0 and "link_overhead_s" not in sc.to_dict()  # the paper's scenarios are unchanged
    slow = Scenario.from_dict({**sc.to_dict(), "link_overhead_s": 0.02})
    assert slow.to_dict()["link_overhead_s"] == 0.02 and slow.fingerprint() != sc.fingerprint()
    a, b = 0, 1
    for j in range(len(sc.units)):
        assert slow.kernel.send_s(j, a, b) == pytest.approx(sc.kernel.send_s(j, a, b) + 0.02, abs=1e-12)
        assert slow.kernel.send_s(j, a, a) == 0.0  # nothing crosses a link on one device
        assert np.allclose(slow.kernel.hop_s(j)[a, b], slow.kernel.send_s(j, a, b))
    assert formulas.transmission_latency(1e6, 8.0) == pytest.approx(1.0)
    assert formulas.transmission_latency(1e6, 8.0, 0.5) == pytest.approx(1.5)


def test_link_overhead_out_of_range_is_one_line():
    from adaptres.problem.scenario import ScenarioError
    sc = small_scenario(0)
    for bad in (-1.0, float("nan"), "x", 1e9):
        with pytest.raises(ScenarioError, match="link_overhead_s"):
            Scenario.from_dict({**sc.to_dict(), "link_overhead_s": bad})


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_methods_equal_brute_force_with_an_overhead(seed):
    """With a per-transfer overhead the exact methods still find the brute-force optimum."""
    sc = Scenario.from_dict({**small_scenario(seed).to_dict(), "link_overhead_s": 0.05})
    best, _ = brute_force(sc)
    for method in ("exact", "colgen"):
        assert solve(sc, method).objective == pytest.approx(best, rel=1e-6, abs=1e-9), method


# ---------------------------------------------------------------------------- the loop's inputs
@pytest.mark.parametrize("spec, words", [("3@0:0.1", "no device '3'"), ("1@5:0.1", "STEP in 0..1"),
                                         ("1", "DEVICE@STEP:SECONDS"), ("1@0:-1", "SECONDS"), ("x@0:1", "no device")])
def test_bad_failures_are_named(spec, words):
    with pytest.raises(ValueError, match="--fail") as e:
        faults.parse_failures([spec], 3, 2)
    assert words in str(e.value)


@pytest.mark.parametrize("specs, words", [(["0-3@0:0.1"], "no link '0-3'"), (["1-1@0:0.1"], "no link"),
                                          (["0-1@2:0"], "STEP in 0..1"), (["0-1@0:0", "1-0@1:0"], "cut twice")])
def test_bad_cuts_are_named(specs, words):
    with pytest.raises(ValueError, match="--cut") as e:
        faults.parse_cuts(specs, 3, 2)
    assert words in str(e.value)


def test_good_specs():
    assert faults.parse_failures(["2@1:0.5"], 3, 2) == [faults.Failure(2, 1, 0.5)]
    assert faults.parse_cuts(["0-2@0:0.25"], 3, 2) == [faults.Cut(0, 2, 0, 0.25)]


@pytest.mark.parametrize("argv, words", [
    (["--devices", "0"], "--devices"), (["--steps", "0"], "--steps"), (["--lam", "nan"], "--lam"),
    (["--lam", "-1"], "--lam"), (["--fail", "9@0:0.1"], "--fail"), (["--cut", "0-1@0:0.1"], "--cut: cutting a link"),
    (["--section", "V-Z"], "section"), (["--profile", "fast"], "--profile"), (["--seed", "-1"], "--seed"),
    (["--method", "nope"], "nope"), (["--compute", "fake"], "compute")])
def test_serve_refuses_bad_flags_before_starting_anything(argv, words, tmp_path, capsys, monkeypatch):
    from adaptres.experiments import trials
    monkeypatch.setattr(trials, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    monkeypatch.setattr(testbed, "up", lambda *a, **k: pytest.fail("a test bed was started"))
    out = tmp_path / "live.csv"
    refused(cli(["serve", "--devices", "3", "--steps", "2", "--out", out, *argv], capsys), words)
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_testbed_refuses_bad_devices(capsys):
    refused(cli(["testbed", "up", "--devices", "0"], capsys), "--devices")
    refused(cli(["testbed", "up", "--devices", "100000"], capsys), "--devices")


# ---------------------------------------------------------------------------- the loop, on one host
def test_live_draws_are_the_simulators():
    """The live loop and the simulator draw the same arrivals, sources and rates from one seed."""
    st = live.setting("V-B", 4)
    sim_rows = live.simulate(st, 3, seed=5, method="relaxed")
    rng = np.random.default_rng(5)
    draws = [arrivals.draw(rng, 4, st.lam, st.scale) for _ in range(3)]
    assert [len(s) for s, _ in draws] == sim_rows["n_requests"].tolist()


@pytest.mark.slow
def test_serve_locally_ends_every_request_once(tmp_path, capsys, ray_session):
    out = tmp_path / "live.csv"
    rc, stdout, err = cli(["serve", "--devices", "4", "--steps", "2", "--seed", "1", "--testbed", "local",
                           "--fail", "3@1:0.2", "--out", out], capsys)
    assert rc == 0, err
    rows = pd.read_csv(out, comment="#")
    recs = json.loads(out.with_suffix(".json").read_text())
    assert len(rows) == 2 and rows["lost"].sum() == 0
    assert rows["answered"].sum() + rows["unserved"].sum() + rows["failed"].sum() == rows["n_requests"].sum()
    assert len(recs["requests"]) == rows["n_requests"].sum()
    assert all(q["status"] in ("answered", "unserved", "failed") for q in recs["requests"])
    # the simulator's draws: the same number of requests per step
    sim_rows = live.simulate(live.setting("V-B", 4), 2, seed=1, method="colgen_round")
    assert rows["n_requests"].tolist() == sim_rows["n_requests"].tolist()


# ---------------------------------------------------------------------------- the network test bed
def _left() -> dict:
    """What of the test bed exists: namespaces, veths of its prefix on the host, its Ray processes."""
    host = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {"namespaces": len(testbed.namespaces()), "host_links": host.count(testbed.PREFIX),
            "processes": sum(len(testbed.ns_pids(ns)) for ns in testbed.namespaces())}


@needs_testbed
@pytest.mark.slow
def test_serve_on_the_testbed_with_a_cut_link(tmp_path):
    """N = 3, 2 steps, link 0-2 cut early in step 0: every request ends once, no plan after the
    detection crosses the cut link, the test bed is gone afterwards (namespaces, veths, processes)."""
    testbed.down()
    out = tmp_path / "live.csv"
    p = subprocess.run([sys.executable, "-m", "adaptres", "serve", "--devices", "3", "--steps", "2", "--seed", "0",
                        "--testbed", "netns", "--cut", "0-2@0:0.2", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=280)
    assert p.returncode == 0, p.stderr[-2000:]
    assert _left() == {"namespaces": 0, "host_links": 0, "processes": 0}
    rows = pd.read_csv(out, comment="#")
    recs = json.loads(out.with_suffix(".json").read_text())
    assert rows["lost"].sum() == 0 and len(recs["requests"]) == rows["n_requests"].sum()
    assert all(q["status"] in ("answered", "unserved", "failed") for q in recs["requests"])
    assert any(e["kind"] == "cut" and e["link"] == [0, 2] for e in recs["events"])
    found = [e for e in recs["events"] if e["kind"] == "link"]
    for e in found:  # detected: later segments never cross it
        assert e["link"] == [0, 2] and e["detected_s"] >= 0.2
        later = [h for q in recs["requests"] if q["step"] > e["step"] for h in q["hops"]]
        assert not any({h["src"], h["device"]} == {0, 2} for h in later)
    answered = [q for q in recs["requests"] if q["status"] == "answered"]
    assert all(q["bytes_sent"] == sum(h["bytes"] for h in q["hops"]) for q in answered)
    # bytes crossed real links: the htb counters saw at least the payload
    assert rows["wire_bytes"].sum() >= rows["bytes_sent"].sum()


@needs_testbed
@pytest.mark.slow
def test_interrupted_and_killed_drivers_leave_nothing(tmp_path):
    """Ctrl-C ends serve with status 130 and takes the test bed down; after kill -9 of the driver,
    ``testbed down`` removes everything."""
    testbed.down()
    out = tmp_path / "live.csv"
    argv = [sys.executable, "-m", "adaptres", "serve", "--devices", "2", "--steps", "50", "--seed", "0",
            "--testbed", "netns", "--out", str(out)]
    for how in ("SIGINT", "SIGKILL"):
        p = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        end = time.time() + 200
        while time.time() < end and not out.exists():  # the first step written
            time.sleep(0.5)
        assert out.exists(), "no step finished within 200 s"
        os.killpg(p.pid, getattr(signal, how))
        rc = p.wait(timeout=120)
        if how == "SIGINT":
            assert rc == 130, p.stderr.read()[-2000:]
            assert len(pd.read_csv(out, comment="#")) >= 1
            assert _left() == {"namespaces": 0, "host_links": 0, "processes": 0}
        else:
            assert testbed.namespaces()  # killed: nothing took it down
            assert cli_down() == 0
            assert _left() == {"namespaces": 0, "host_links": 0, "processes": 0}
        out.unlink()


def cli_down() -> int:
    return subprocess.run([sys.executable, "-m", "adaptres", "testbed", "down"], cwd=REPO, capture_output=True,
                          timeout=60).returncode


def test_each_image_travels_alone():
    """An image sent to its source device carries its own bytes only (a view would carry the batch)."""
    from adaptres.experiments import trials
    _, recipe = trials.load_model()
    x, labels, idx = trials.images(recipe, 4, 0)
    assert len(x) == len(labels) == len(idx) == 4
    for t in x:
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size() == 3 * 32 * 32 * 4
