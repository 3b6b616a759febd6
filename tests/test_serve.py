"""The closed loop on the device actors (``serve``), on one host, and a link's fixed overhead in the cost
model (the network test bed's tests are ``test_testbed``)."""
import json

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


def test_each_image_travels_alone():
    """An image sent to its source device carries its own bytes only (a view would carry the batch)."""
    from adaptres.experiments import trials
    _, recipe = trials.load_model()
    x, labels, idx = trials.images(recipe, 4, 0)
    assert len(x) == len(labels) == len(idx) == 4
    for t in x:
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size() == 3 * 32 * 32 * 4
