"""The cases of a hostile tour (a person trying every command with bad input) that were not clear: each now ends in
one line naming the field or flag and the reason (exit 2: bad input; exit 3: no result to give),
without a traceback, a hang or anything written — or, where the tour found a wrong answer, gives the
right one. Case ids are the tour's."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import cli, refused

from adaptres.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The tour's baseline: a §V-A step of the cpu profile (6 devices, 4 requests, seed 1) and its plan."""
    d = tmp_path_factory.mktemp("tour")
    assert main(["scenario", "--profile", "cpu", "--devices", "6", "--requests", "4", "--seed", "1",
                 "--out", str(d / "s.json")]) == 0
    assert main(["solve", str(d / "s.json"), "--method", "colgen_round", "--out", str(d / "p.json")]) == 0
    return d, json.loads((d / "s.json").read_text()), json.loads((d / "p.json").read_text())


def corrupt(base, tmp_path, fn) -> Path:
    _, s, _ = base
    s = json.loads(json.dumps(s))
    fn(s)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(s))
    return path


def _zero(s):
    for u in s["units"]:
        u["macs"] = 0
        if u["macs_dropped"] is not None:
            u["macs_dropped"] = 0


def _head_inside(s):
    s["units"].insert(2, {**s["units"][-1], "name": "head2"})


SCENARIOS = [
    ("S09", lambda s: [d.update(name="d") for d in s["devices"]], "devices[1].name: 'd' is also devices[0]'s"),
    ("S10", lambda s: s["devices"][0].update(name=""), "devices[0].name: must be a non-empty string"),
    ("S16", _zero, "latency_ref_s: must be given when no unit has multiplications"),
    ("S22", lambda s: s["configs"].append({"dropped": list(s["configs"][5]["dropped"]), "accuracy": 99.9}),
     "the same drops as configs[5]"),
    ("S44", lambda s: s.update(units=s["units"][::-1]), "units["),
    ("S45b", _head_inside, "units[2].kind: a head inside the chain"),
    ("S45c", lambda s: s.update(units=s["units"][1:]), "units[0].kind: the network starts with its stem"),
    ("S47", lambda s: [u.update(macs_dropped=u["macs"] * 100) for u in s["units"] if u["macs_dropped"] is not None],
     "macs_dropped: must be at most macs"),
]


@pytest.mark.parametrize("case,fn,words", SCENARIOS, ids=[c[0] for c in SCENARIOS])
def test_bad_scenarios_are_refused_by_solve_and_evaluate(case, fn, words, base, tmp_path, capsys):
    path = corrupt(base, tmp_path, fn)
    refused(cli(["solve", path, "--method", "colgen_round", "--out", tmp_path / "p.json"], capsys), words)
    refused(cli(["evaluate", path, base[0] / "p.json"], capsys), words)
    assert not (tmp_path / "p.json").exists()


def test_S42_a_key_given_twice_is_refused(base, tmp_path, capsys):
    text = (base[0] / "s.json").read_text().replace('"alpha":', '"alpha": 0.9, "alpha":', 1)
    path = tmp_path / "dup.json"
    path.write_text(text)
    refused(cli(["solve", path, "--out", tmp_path / "p.json"], capsys), "the key 'alpha' is given twice")


@pytest.mark.timeout(60)  # a FIFO opened for reading would block, /dev/zero read forever: a hang fails here
def test_S53_S54_S55_inputs_that_are_not_regular_files(tmp_path, capsys, monkeypatch):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    refused(cli(["solve", fifo], capsys), "scenario", "not a regular file")
    refused(cli(["solve", "/dev/zero"], capsys), "scenario", "not a regular file")
    refused(cli(["solve", ""], capsys), "scenario: the path is empty")


@pytest.mark.slow
def test_S69_a_unit_without_output_solves_without_warnings(base, tmp_path):
    path = corrupt(base, tmp_path, lambda s: s["units"][1].update(output_bytes=0))
    r = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "adaptres", "solve", str(path), "--method",
                        "colgen_round"], capture_output=True, text=True)
    assert r.returncode == 0 and "Warning" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["method"] == "colgen_round"  # O1: standard output is the document alone


def test_S68_a_penalty_no_plan_avoids_does_not_make_a_plan_optimal(base):
    from adaptres.problem.bounds import relative_gap, served_bound
    from adaptres.problem.scenario import Scenario
    sc = Scenario.load(base[0] / "s.json")
    many = sc.replace(requests=sc.requests * 500)  # 2 000 requests
    can = served_bound(many)
    assert 0 < can < len(many.requests)
    none = 10.0 * len(many.requests)  # nobody served
    bound = none - 10.0 * can  # had every servable request been served at no cost
    assert (none - bound) / none < 1e-2  # by the plain relative gap, "optimal" within 1 %
    assert relative_gap(many, none, bound) == pytest.approx(1.0)  # on what a plan can change: nowhere near


PLANS = [
    ("P18 gap", lambda p: p.update(gap=-5), ("plan.gap: must be at least 0",)),
    ("P18 bound", lambda p: p.update(bound=1e300), ("plan.bound: a lower bound above the objective",)),
    ("P18 method", lambda p: p.update(method=""), ("plan.method: must be a non-empty string",)),
    ("P03 fingerprint", lambda p: p.update(scenario_sha256="0123456789abcdef"),
     ("plan.scenario_sha256: the plan was made for another scenario",)),
    ("P03 objective", lambda p: p.update(objective=p["objective"] * 0.83, bound=None, scenario_sha256=None),
     ("plan.objective", "stated", "another scenario")),
]


@pytest.mark.parametrize("case,fn,words", PLANS, ids=[c[0] for c in PLANS])
def test_plans_whose_metadata_lie_are_refused(case, fn, words, base, tmp_path, capsys):
    d, _, plan = base
    plan = json.loads(json.dumps(plan))
    fn(plan)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(plan))
    refused(cli(["evaluate", d / "s.json", path], capsys), *words)


SOLVE_FLAGS = [
    ("F15", ["--method", "ga", "--warm-start"], "--warm-start: the ga method does not use it"),
    ("F16", ["--method", "relaxed", "--max-nodes", "5"], "--max-nodes: the relaxed method does not use it"),
    ("F24", ["--out", ""], "--out: the path is empty"),
    ("X11", ["--out", "newdir/"], "--out: newdir/ ends with '/'"),
    ("G15", ["--out", "-"], "--out: '-' is not a file name"),
    ("X20", ["--out", "/dev/stdout"], "--out: /dev/stdout is a system path"),
    ("X12", ["--out", "/proc/version"], "--out: /proc/version is a system path"),
    ("X18", ["--out", "/sys/p.json"], "--out: /sys/p.json is a system path"),
]


@pytest.mark.parametrize("case,flags,words", SOLVE_FLAGS, ids=[c[0] for c in SOLVE_FLAGS])
def test_solve_flags_and_outputs_are_refused_before_any_work(case, flags, words, base, tmp_path, capsys,
                                                             monkeypatch):
    from adaptres import solvers
    monkeypatch.setattr(solvers, "solve", lambda *a, **k: pytest.fail("solved before refusing"))
    monkeypatch.chdir(tmp_path)
    refused(cli(["solve", base[0] / "s.json", *flags], capsys), words)
    assert not any(tmp_path.iterdir())


def test_X03_X17_symlink_loops_as_outputs(base, tmp_path, capsys):
    loop = tmp_path / "loop1"
    os.symlink(tmp_path / "loop2", loop)
    os.symlink(loop, tmp_path / "loop2")
    s = base[0] / "s.json"
    for argv in (["solve", s, "--out", loop], ["scenario", "--devices", "2", "--requests", "1", "--out", loop],
                 ["bench", "solvers", "--out", loop], ["solve", s, "--out", loop / "p.json"]):
        refused(cli(argv, capsys), "--out", "cannot be resolved")


def test_X23_an_existing_output_keeps_its_permissions(base, tmp_path, capsys):
    out = tmp_path / "private.json"
    out.write_text("{}")
    out.chmod(0o600)
    assert cli(["solve", base[0] / "s.json", "--method", "colgen_round", "--out", out], capsys)[0] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and json.loads(out.read_text())["method"] == "colgen_round"


def test_G14_G04_scenario_outputs_and_seeds(tmp_path, capsys):
    refused(cli(["scenario", "--devices", "3", "--out", ""], capsys), "--out: the path is empty")
    refused(cli(["scenario", "--seed", str(2**64)], capsys), "seed: must be an integer in [0, 4294967295]")
    refused(cli(["solve", tmp_path / "x.json", "--method", "ga", "--seed", str(2**32)], capsys),
            "--seed: must be an integer in [0, 4294967295]")


@pytest.mark.slow
def test_F23_I07_a_method_without_a_usable_plan_exits_3(tmp_path, capsys):
    big = tmp_path / "big.json"
    assert main(["scenario", "--profile", "cpu", "--devices", "100", "--requests", "50", "--out", str(big)]) == 0
    capsys.readouterr()
    refused(cli(["solve", big, "--method", "exact", "--time-limit", "100", "--out", tmp_path / "p.json"], capsys),
            "the exact method declined", "transfer variables", "nothing written", rc=3)
    refused(cli(["solve", big, "--method", "ga", "--time-limit", "0.001", "--out", tmp_path / "p.json"], capsys),
            "the ga method found no feasible plan within 0.001 s", "a longer --time-limit", rc=3)
    assert not (tmp_path / "p.json").exists()


OTHER = [
    ("T05", ["train", "--profile", "fast", "--out", "{tmp}/r", "--device", ""], "--device: empty"),
    ("T08", ["train", "--profile", "fast", "--out", "{tmp}/r", "--data", "{tmp}/nonexistent/dir"],
     "--data: {tmp}/nonexistent/dir does not exist"),
    ("T12", ["train", "--profile", "fast", "--out", ""], "--out: the path is empty"),
    ("BN01", ["bench", "solvers", "--steps", "0"], "--steps: bench solvers does not use it"),
    ("BN08", ["bench", "solvers", "--seed", "-1"], "--seed: must be an integer in [0, 4294967295]"),
    ("PU03", ["profile-units", "--threads", "0"], "--threads: must be an integer in [1, 1024]"),
    ("PU04", ["profile-units", "--threads", "10000"], "--threads: must be an integer in [1, 1024]"),
    ("PU05", ["profile-units", "--weights", "{tmp}/nosuch.pt"], "--weights: {tmp}/nosuch.pt does not exist"),
]


def _no_work(monkeypatch):
    """Training, an ablation, a benchmark, profiling or Ray starting fails the test: a refusal comes first."""
    from adaptres import cluster
    from adaptres.experiments import compare
    from adaptres.nn import ablation, bench, train
    from adaptres.runtime import unit_timing as profile
    for module, name in ((train, "train"), (ablation, "measure"), (compare, "bench_solvers"), (compare, "bench_sweep"),
                         (bench, "run_model_bench"), (bench, "run_ablation_bench"), (profile, "profile_units"),
                         (cluster, "start")):
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: pytest.fail(f"{_n} started before refusing"))


@pytest.mark.parametrize("case,argv,words", OTHER, ids=[c[0] for c in OTHER])
def test_other_commands_refuse_before_any_work(case, argv, words, tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    refused(cli([a.format(tmp=tmp_path) for a in argv], capsys), words.format(tmp=tmp_path))
    assert not (tmp_path / "nonexistent").exists() and not (tmp_path / "r").exists()


RUN = [
    ("R12", ["--weights", "{tmp}/nosuch.pt"], "--weights: {tmp}/nosuch.pt does not exist"),
    ("R15", ["--seed", "-1"], "--seed: must be an integer in [0, 4294967295]"),
    ("R11", ["--address", "127.0.0.1:1"], "--address: no Ray cluster answers at 127.0.0.1:1"),
    ("R18", ["--out", "/dev/stdout"], "--out: /dev/stdout is a system path"),
]


@pytest.mark.parametrize("case,flags,words", RUN, ids=[c[0] for c in RUN])
def test_run_refuses_before_starting_anything(case, flags, words, base, tmp_path, capsys, monkeypatch):
    from adaptres import cluster
    from adaptres.experiments import trials
    monkeypatch.setattr(cluster, "start", lambda *a, **k: pytest.fail("Ray started before refusing"))
    monkeypatch.setattr(trials, "load_model", lambda *a, **k: pytest.fail("the model loaded before refusing"))
    d = base[0]
    argv = ["run", d / "s.json", d / "p.json", "--out", tmp_path / "r.json"]
    argv += [f.format(tmp=tmp_path) for f in flags]
    refused(cli(argv, capsys), words.format(tmp=tmp_path))
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_a_step_that_serves_nobody_starts_no_device(base, tmp_path, capsys, monkeypatch):
    d, s, plan = base
    plan = {**plan, "requests": [{"served": False, "config": None, "placement": {}}] * len(s["requests"]),
            "objective": None, "bound": None, "gap": None}
    (tmp_path / "p.json").write_text(json.dumps(plan))
    from adaptres import cluster
    monkeypatch.setattr(cluster, "start", lambda *a, **k: pytest.fail("Ray started for a step that serves nobody"))
    rc, out, err = cli(["run", d / "s.json", tmp_path / "p.json", "--out", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    run = json.loads((tmp_path / "r.json").read_text())
    assert [q["status"] for q in run["requests"]] == ["unserved"] * len(s["requests"]) and run["devices"] == []
    assert "0 of 4 requests answered" in out


@pytest.mark.slow
def test_a_closed_standard_output_ends_quietly():
    r = subprocess.run(f"{sys.executable} -m adaptres scenario --profile fast --devices 3 | head -c 10",
                       shell=True, capture_output=True, text=True, executable="/bin/bash")
    assert r.stdout == '{\n "units"' and r.stderr == ""


@pytest.mark.slow
def test_N05_an_unknown_notebook_parameter_stops_at_the_check_cell(tmp_path):
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(REPO / "notebooks" / "00_costs.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"colour": "red"}, cwd=str(REPO / "notebooks"), progress_bar=False)
    assert err.value.ename == "ParameterError"
    assert err.value.evalue.startswith("colour: not a parameter of this notebook (it takes profile, arch, num_classes)")
