"""Bad input, tried as a hostile user would: every case ends in one line that names the field (or
file, or flag) and the reason, exit status 2, no traceback, and no output file written or changed.

Most cases run the command line in this process (``adaptres.cli.main``); a few run it as a real
process to show the exit status and the absence of a traceback there too.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import cli, refused
from optim_helpers import small_scenario

from adaptres.cli import main
from adaptres.io import atomic_write_bytes
from adaptres.report.notebook import ParameterError, check_parameters

REPO = Path(__file__).resolve().parent.parent


def assert_bad(result, *words):
    refused(result, *words)


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    sc = small_scenario(5, 2, 4, 2, tight=3.0)
    sc.save(d / "scenario.json")
    assert main(["solve", str(d / "scenario.json"), "--method", "relaxed", "--out", str(d / "plan.json")]) == 0
    return d, json.loads((d / "scenario.json").read_text()), json.loads((d / "plan.json").read_text())


def write(path: Path, content) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else
                     (content if isinstance(content, str) else json.dumps(content)).encode())
    return path


def edit(obj, fn):
    obj = json.loads(json.dumps(obj))
    fn(obj)
    return obj


# ---------------------------------------------------------------------------- the scenario file
SCENARIO_TEXT = [
    ("malformed", "{not json", "is not JSON"),
    ("empty", "", "is not JSON"),
    ("binary", bytes(range(256)), "is not a text file"),
    ("a list", "[1, 2]", "scenario: must be an object"),
    ("NaN", None, "NaN is not a JSON number"),
    ("Infinity", None, "Infinity is not a JSON number"),
    ("over 4300 digits", None, "over 4300 digits"),
]


@pytest.mark.parametrize("name,text,words", SCENARIO_TEXT, ids=[c[0] for c in SCENARIO_TEXT])
def test_unreadable_scenario_files(name, text, words, valid, tmp_path, capsys):
    d, sc, _ = valid
    raw = json.dumps(sc)
    if name == "NaN":
        text = raw.replace('"alpha": 0.5', '"alpha": NaN')
    elif name == "Infinity":
        text = raw.replace('"input_bytes": 600000', '"input_bytes": Infinity')
    elif name == "over 4300 digits":
        text = raw.replace('"input_bytes": 600000', '"input_bytes": 1' + "0" * 5000)
    path = write(tmp_path / "s.json", text)
    out = tmp_path / "plan.json"
    assert_bad(cli(["solve", path, "--out", out], capsys), str(path), words)
    assert not out.exists()


SCENARIO_FIELDS = [
    (lambda s: s.pop("alpha"), "missing field 'alpha'"),
    (lambda s: s.update(colour=1), "unknown field 'colour'"),
    (lambda s: s.update(units="stem"), "units: must be a list"),
    (lambda s: s["devices"][0].update(memory_bytes="lots"), "devices[0].memory_bytes: must be a number"),
    (lambda s: s["devices"][0].update(memory_bytes=True), "devices[0].memory_bytes: must be a number"),
    (lambda s: s["devices"][0].update(compute_macs=-5), "devices[0].compute_macs: must be above 0"),
    (lambda s: s["devices"][1].update(macs_per_s=0), "devices[1].macs_per_s: must be at least 1e+06"),
    (lambda s: s["devices"][1].update(macs_per_s=1e-300), "devices[1].macs_per_s"),
    (lambda s: s["devices"][0].update(energy_j=-1), "devices[0].energy_j"),
    (lambda s: s["devices"][0].update(p_transmit_w=1e9), "devices[0].p_transmit_w: must be at least 0 and at most 10000"),
    (lambda s: s["devices"][0].pop("name"), "devices[0]: missing field 'name'"),
    (lambda s: s.update(input_bytes=10**400), "input_bytes: must be above 0 and at most 1e+12, got an integer of 401 digits"),
    (lambda s: s.update(input_bytes=0), "input_bytes: must be above 0"),
    (lambda s: s["rate_mbps"][0].__setitem__(1, 1e-20), "rate_mbps[0][1]: must be at least 0.001"),
    (lambda s: s["rate_mbps"][0].__setitem__(1, -3.0), "rate_mbps[0][1]"),
    (lambda s: s["rate_mbps"][0].__setitem__(1, 99.0), "symmetric"),
    (lambda s: s["rate_mbps"].append([1.0, 1.0]), "square"),
    (lambda s: s["rate_mbps"][0].__setitem__(0, "x"), "rate_mbps[0][0]"),
    (lambda s: s.update(alpha=0.5, beta=0.6), "alpha, beta: must add up to 1"),
    (lambda s: s.update(alpha=-0.5, beta=1.5), "alpha: must be at least 0"),
    (lambda s: s.update(accuracy_threshold=120), "accuracy_threshold: must be at least 0 and at most 100"),
    (lambda s: s.update(accuracy_threshold=-1), "accuracy_threshold"),
    (lambda s: s["configs"][1].update(accuracy=101), "configs[1].accuracy"),
    (lambda s: s["configs"].append({"dropped": ["u9"], "accuracy": 50.0}), "unknown unit 'u9'"),
    (lambda s: s["configs"].append({"dropped": ["u0"], "accuracy": 50.0}), "cannot be dropped"),
    (lambda s: s["configs"][0].update(dropped=["u1"]), "configs[0].dropped: must be []"),
    (lambda s: s["configs"].append({"dropped": "u1", "accuracy": 50.0}), "dropped: must be a list"),
    (lambda s: s["requests"].append({"source": 7}), "requests[2].source: must be a device index in 0..1, got 7"),
    (lambda s: s["requests"].append({"source": -1}), "requests[2].source"),
    (lambda s: s["requests"].append({"source": True}), "requests[2].source"),
    (lambda s: s["requests"].append({"source": 1.0}), "requests[2].source"),
    (lambda s: s.update(memory_model="magic"), "memory_model: must be one of per_request, shared_weights"),
    (lambda s: s.update(latency_ref_s=0), "latency_ref_s"),
    (lambda s: s.update(units=s["units"][:1]), "units: must be a list of at least two units"),
    (lambda s: s["units"][1].update(name=s["units"][0]["name"]), "unit names must be unique"),
    (lambda s: s["units"][1].update(kind="dense"), "units[1].kind"),
    (lambda s: s["units"][0].update(macs_dropped=5), "units[0].macs_dropped: must be null"),
    (lambda s: s["units"][1].update(output_bytes=1e13), "units[1].output_bytes"),
]


@pytest.mark.parametrize("mutate,words", SCENARIO_FIELDS, ids=[w[1] for w in SCENARIO_FIELDS])
def test_bad_scenario_fields(mutate, words, valid, tmp_path, capsys):
    d, sc, _ = valid
    path = write(tmp_path / "s.json", edit(sc, mutate))
    out = write(tmp_path / "plan.json", "previous")
    assert_bad(cli(["solve", path, "--method", "relaxed", "--out", out], capsys), str(path), words)
    assert out.read_text() == "previous"


# ---------------------------------------------------------------------------- solve's flags and output
SOLVE_FLAGS = [
    (["--method", "magic"], "--method: must be one of"),
    (["--time-limit", "nan"], "--time-limit: must be a number of seconds"),
    (["--time-limit", "0"], "--time-limit"),
    (["--time-limit", "-5"], "--time-limit"),
    (["--time-limit", "inf"], "--time-limit"),
    (["--time-limit", "abc"], "--time-limit"),
    (["--gap", "nan"], "--gap: must be a number in [0, 1]"),
    (["--gap", "-1"], "--gap"),
    (["--gap", "2"], "--gap"),
    (["--threads", "-4"], "--threads: must be an integer in [1, 1024]"),
    (["--threads", "0"], "--threads"),
    (["--max-nodes", "-1"], "--max-nodes"),
    (["--seed", "-1"], "--seed"),
    (["--max-nodes", "1e400"], "--max-nodes"),
]


@pytest.mark.parametrize("flags,words", SOLVE_FLAGS, ids=[" ".join(f[0]) for f in SOLVE_FLAGS])
def test_bad_solve_flags(flags, words, valid, tmp_path, capsys):
    d, _, _ = valid
    out = tmp_path / "plan.json"
    assert_bad(cli(["solve", d / "scenario.json", "--out", out, *flags], capsys), words)
    assert not out.exists()


def test_bad_outputs(valid, tmp_path, capsys):
    d, _, _ = valid
    scenario = d / "scenario.json"
    before = scenario.read_bytes()
    assert_bad(cli(["solve", scenario, "--out", scenario], capsys), "--out", "is the input")
    assert scenario.read_bytes() == before
    assert_bad(cli(["solve", scenario, "--out", tmp_path], capsys), "--out", "is a folder")
    assert_bad(cli(["solve", scenario, "--out", "/dev/null"], capsys), "--out", "is a system path")
    os.mkfifo(tmp_path / "fifo")
    assert_bad(cli(["solve", scenario, "--out", tmp_path / "fifo"], capsys), "--out", "not a regular file")
    write(tmp_path / "file", "x")
    assert_bad(cli(["solve", scenario, "--out", tmp_path / "file" / "plan.json"], capsys), "--out", "is not a folder")
    assert_bad(cli(["solve", tmp_path, "--out", tmp_path / "p.json"], capsys), "scenario", "is a folder")
    assert_bad(cli(["solve", tmp_path / "missing.json"], capsys), "scenario", "does not exist")
    assert_bad(cli(["scenario", "--profile", "fast", "--out", tmp_path], capsys), "--out", "is a folder")
    # a symlink is written through: its target gets the plan, the link stays a link
    target = write(tmp_path / "target.json", "old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert cli(["solve", scenario, "--method", "relaxed", "--out", link], capsys)[0] == 0
    assert link.is_symlink() and json.loads(target.read_text())["method"] == "relaxed"
    # a symlink to the input itself is the input
    loop = tmp_path / "loop.json"
    loop.symlink_to(scenario)
    assert_bad(cli(["solve", scenario, "--out", loop], capsys), "is the input")
    assert scenario.read_bytes() == before


def test_a_plan_that_fails_the_evaluator_is_not_written(valid, tmp_path, capsys, registry):
    """Whatever a solver returns passes the evaluator before it is written (here an exact solver that
    puts every unit of every request on device 0, far beyond its memory)."""
    from adaptres import solvers
    from adaptres.problem.plan import Assignment

    @solvers.register("test-overfull", proven=True)
    def _overfull(sc, options, start=None):
        reqs = [Assignment(True, 0, {n: 0 for n in sc.unit_names}) for _ in sc.requests]
        return solvers.finish(sc, "test-overfull", reqs, solve_s=0.0, status="optimal")

    d, sc, _ = valid
    tiny = write(tmp_path / "tiny.json", edit(sc, lambda s: [dv.update(memory_bytes=1.0) for dv in s["devices"]]))
    out = write(tmp_path / "plan.json", "previous")
    assert_bad(cli(["solve", tiny, "--method", "test-overfull", "--out", out], capsys),
               "plan: the test-overfull solver's plan is infeasible", "memory", "nothing written")
    assert out.read_text() == "previous"


# ---------------------------------------------------------------------------- evaluate's plan file
PLANS = [
    (lambda p: p["requests"].pop(), "plan.requests: has 1 entries for 2 requests"),
    (lambda p: p["requests"][0]["placement"].pop("u0"), "plan.requests[0].placement: lacks unit 'u0'"),
    (lambda p: p["requests"][0]["placement"].update(u1=5), "plan.requests[0].placement.u1: must be a device index in 0..1"),
    (lambda p: p["requests"][0]["placement"].update(u1=-1), "plan.requests[0].placement.u1: must be a device index"),
    (lambda p: p["requests"][0]["placement"].update(u9=0), "unknown unit 'u9'"),
    (lambda p: p["requests"][0].update(config=99), "plan.requests[0].config: must be a configuration index in"),
    (lambda p: p["requests"][0].update(config="0"), "plan.requests[0].config"),
    (lambda p: p["requests"][0].update(served="yes"), "plan.requests[0].served: must be true or false"),
    (lambda p: p["requests"][0].update(placement=[0, 1]), "plan.requests[0].placement: must be an object"),
    (lambda p: p.update(requests={}), "plan.requests: must be a list"),
    (lambda p: p.pop("requests"), "plan: missing field 'requests'"),
    (lambda p: p.update(extra=1), "plan: unknown field 'extra'"),
    (lambda p: p.update(objective="low"), "plan.objective: must be a finite number or null"),
    (lambda p: p["requests"].__setitem__(0, {"served": False, "config": 2, "placement": {}}),
     "an unserved request has no config"),
]


@pytest.mark.parametrize("mutate,words", PLANS, ids=[w[1][:60] for w in PLANS])
def test_bad_plans(mutate, words, valid, tmp_path, capsys):
    d, _, plan = valid
    plan = edit(plan, lambda p: [q.update(served=True, config=0, placement={f"u{j}": 0 for j in range(4)})
                                 for q in p["requests"]])
    path = write(tmp_path / "p.json", edit(plan, mutate))
    assert_bad(cli(["evaluate", d / "scenario.json", path], capsys), words)


def test_bad_plan_files(valid, tmp_path, capsys):
    d, _, plan = valid
    scenario = d / "scenario.json"
    assert_bad(cli(["evaluate", scenario, write(tmp_path / "a.json", "{")], capsys), "plan", "is not JSON")
    nan = json.dumps(plan).replace('"objective": ' + json.dumps(plan["objective"]), '"objective": NaN', 1)
    assert_bad(cli(["evaluate", scenario, write(tmp_path / "b.json", nan)], capsys), "NaN is not a JSON number")
    assert_bad(cli(["evaluate", scenario, tmp_path], capsys), "plan", "is a folder")
    assert_bad(cli(["evaluate", scenario], capsys), "plan")  # argparse: the plan is required
    # an infeasible plan: every unit on device 0 of devices with 1 byte of memory
    tiny = write(tmp_path / "tiny.json", edit(json.loads(scenario.read_text()),
                                              lambda s: [dv.update(memory_bytes=1.0) for dv in s["devices"]]))
    full = edit(plan, lambda p: [q.update(served=True, config=0, placement={f"u{j}": 0 for j in range(4)})
                                 for q in p["requests"]])
    full.update(objective=None, bound=None, gap=None, scenario_sha256=None)  # made by hand, for no scenario
    assert_bad(cli(["evaluate", tiny, write(tmp_path / "c.json", full)], capsys), "plan: infeasible", "memory")


# ---------------------------------------------------------------------------- scenario, costs, study
OTHER = [
    (["scenario", "--profile", "nosuch"], "profile: unknown profile 'nosuch'"),
    (["scenario", "--devices", "0"], "n_devices: must be an integer in [1, 1000]"),
    (["scenario", "--devices", "100000"], "n_devices"),
    (["scenario", "--requests", "-1"], "requests: must be an integer in [0, 10000]"),
    (["scenario", "--seed", "-1"], "seed: must be an integer in [0, 4294967295]"),
    (["scenario", "--seed", "4294967296"], "seed: must be an integer in [0, 4294967295]"),
    (["scenario", "--section", "V-Z"], "--section"),
    (["scenario", "--devices", "two"], "--devices"),
    (["costs", "--arch", "vgg"], "--arch: must be one of"),
    (["costs", "--image-size", "4"], "--image-size: must be an integer in [8, 4096] (pixels), got 4"),
    (["costs", "--num-classes", "0"], "--num-classes: must be an integer in [1, 100000], got 0"),
    (["simulate", "--devices", "0"], "--devices: must be an integer in [1, 1000], got 0"),
    (["profile-units", "--repeats", "0"], "--repeats: must be an integer in [1, 100000], got 0"),
    (["costs", "--stem", "round"], "--stem"),
    (["study", "--profile", "nosuch"], "profile: unknown profile"),
    (["study", "--only", ""], "--only: give notebook name prefixes"),
    (["study", "--only", "zz"], "--only: no notebook matches zz"),
    (["bench", "model", "--steps", "0"], "--steps: must be an integer in [1, 1048576]"),
    (["bench", "solvers", "--out", "/"], "--out: / ends with '/', a folder"),
    (["bench", "solvers", "--out", "/tmp"], "--out: /tmp is a folder"),
    (["nosuch"], "invalid choice"),
]


@pytest.mark.parametrize("argv,words", OTHER, ids=[" ".join(a[0]) for a in OTHER])
def test_other_commands(argv, words, capsys):
    assert_bad(cli(argv, capsys), words)


@pytest.mark.parametrize("flags,words", [
    (["--energy-budget", "0"], "--energy-budget: must be a number above 0 (joules), got 0.0"),
    (["--energy-budget", "inf"], "--energy-budget: must be a number above 0 (joules), got inf"),
    (["--alphas", "0.5", "1.5"], "--alphas: must be a number in [0, 1] (each a weight), got 1.5"),
], ids=["budget 0", "budget inf", "alpha 1.5"])
def test_a_fronts_flags_in_range(flags, words, valid, capsys):
    """Every range check of the command line says the same thing the same way (``io.check_range``)."""
    d, _, _ = valid
    assert_bad(cli(["solve", str(d / "scenario.json"), "--pareto", "3", *flags, "--out", str(d / "f.json")], capsys),
               words)
    assert not (d / "f.json").exists()


# ---------------------------------------------------------------------------- train and ablation
TRAIN = [
    (["--profile", "nosuch"], "profile: unknown profile"),
    (["--set", "color=red"], "--set: 'color=red' is not FIELD=VALUE"),
    (["--set", "epochs"], "--set: 'epochs' is not FIELD=VALUE"),
    (["--set", "epochs=0"], "--set epochs: must be an integer in [1, 10000], got 0"),
    (["--set", "train_limit=0"], "--set train_limit: must be a positive integer or none"),
    (["--set", "train_limit=-5"], "--set train_limit"),
    (["--set", "lr=nan"], "--set lr: must be a positive number"),
    (["--set", "lr=1e400"], "--set lr"),
    (["--set", "dataset=mnist"], "--set dataset: must be one of fashion-mnist, cifar10"),
    (["--set", "batch_size=1.5"], "--set batch_size"),
    (["--set", "amp=maybe"], "--set amp"),
    (["--device", "nosuch"], "device: 'nosuch' is not a device"),
    (["--device", "tpu"], "device: 'tpu' is not"),
]


@pytest.mark.parametrize("flags,words", TRAIN, ids=[" ".join(t[0]) for t in TRAIN])
def test_bad_train_flags(flags, words, tmp_path, capsys):
    out = tmp_path / "run"
    assert_bad(cli(["train", "--profile", "fast", "--out", out, *flags], capsys), words)  # a later --profile wins
    assert not (out / "model.pt").exists()


def test_train_without_a_gpu_or_with_a_file_as_out(tmp_path, capsys):
    import torch
    if not torch.cuda.is_available():
        assert_bad(cli(["train", "--profile", "fast", "--out", tmp_path / "r", "--device", "cuda"], capsys),
                   "device: 'cuda' asked for, but this machine has no CUDA GPU")
    out = write(tmp_path / "file", "x")
    assert_bad(cli(["train", "--profile", "fast", "--out", out], capsys), "--out", "is a file, not a folder")
    assert out.read_text() == "x"


@pytest.mark.parametrize("content,words", [(b"", "damaged"), (b"garbage" * 100, "damaged"),
                                           ("pickle", "not an adaptres training checkpoint")],
                         ids=["empty", "garbage", "a foreign pickle"])
def test_damaged_checkpoints(content, words, fmnist_root, tmp_path, capsys):
    import torch
    out = tmp_path / "run"
    out.mkdir()
    if content == "pickle":
        torch.save({"weights": 1}, out / "checkpoint.pt")
    else:
        write(out / "checkpoint.pt", content)
    before = (out / "checkpoint.pt").read_bytes()
    assert_bad(cli(["train", "--profile", "fast", "--out", out, "--data", fmnist_root, "--set", "arch=resnet18"],
                   capsys), "checkpoint", words, "--restart")
    assert (out / "checkpoint.pt").read_bytes() == before and not (out / "model.pt").exists()


def test_missing_and_damaged_data(fmnist_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    args = ["train", "--profile", "fast", "--out", out]
    (tmp_path / "empty").mkdir()
    assert_bad(cli([*args, "--set", "dataset=cifar10", "--data", tmp_path / "empty"], capsys),
               "CIFAR-10 not found", "train --download")
    monkeypatch.setenv("ADAPTRES_DATA", str(write(tmp_path / "a-file", "x")))
    assert_bad(cli(args, capsys), "dataset: the data root", "is a file")
    monkeypatch.delenv("ADAPTRES_DATA")
    assert_bad(cli([*args, "--data", tmp_path / "a-file"], capsys), "--data", "is a file")
    raw = fmnist_root / "FashionMNIST" / "raw"
    from adaptres.nn import data
    data.load("fashion-mnist", "train", fmnist_root)  # unpacks the .gz files
    img = raw / "train-images-idx3-ubyte"
    assert oct(img.stat().st_mode & 0o777) == "0o644"  # readable like the files it came from
    img.write_bytes(img.read_bytes()[:1000])  # truncated
    assert_bad(cli([*args, "--data", fmnist_root, "--set", "arch=resnet18"], capsys), "dataset: fashion-mnist",
               "could not be read")
    assert not out.exists() or not (out / "model.pt").exists()


def test_bad_ablation_input(tmp_path, capsys):
    run = tmp_path / "run"
    args = lambda *extra: ["ablation", "--profile", "fast", "--run", run, "--out", tmp_path / "t.csv", *extra]
    assert_bad(cli(args(), capsys), "--run", "is not a training output folder")
    run.mkdir()
    assert_bad(cli(args(), capsys), "model: no trained model")
    write(run / "model.pt", b"not a model")
    assert_bad(cli(args(), capsys), "recipe", "does not exist")
    write(run / "recipe.json", "{broken")
    assert_bad(cli(args(), capsys), "recipe", "is not JSON")
    write(run / "recipe.json", {"dataset": "fashion-mnist", "colour": "red"})
    assert_bad(cli(args(), capsys), "recipe", "unknown field 'colour'")
    write(run / "recipe.json", {"dataset": "fashion-mnist", "epochs": 0})
    assert_bad(cli(args(), capsys), "epochs: must be an integer")
    write(run / "recipe.json", {"dataset": "fashion-mnist", "arch": "resnet18"})
    assert_bad(cli(args(), capsys), "model:", "is not a trained adaptres model")
    assert_bad(cli(["ablation", "--run", run, "--out", tmp_path], capsys), "--out", "is a folder")
    assert_bad(cli(["ablation", "--run", run, "--out", run / "model.pt"], capsys), "--out", "is the input")
    assert_bad(cli([*args("--batch-size", "0")], capsys), "--batch-size: must be an integer in [1, 1048576]")
    assert not (tmp_path / "t.csv").exists()


# ---------------------------------------------------------------------------- notebook parameters
NOTEBOOK = [
    ({"profile": "nosuch"}, "profile: must be one of fast, cpu, paper, got 'nosuch'"),
    ({"profile": "fast", "steps": 0}, "steps: must be None or a positive integer"),
    ({"profile": "fast", "steps": 2.5}, "steps"),
    ({"profile": "fast", "seeds": []}, "seeds: must be None or a non-empty list"),
    ({"profile": "fast", "seeds": [-1]}, "seeds"),
    ({"profile": "fast", "seeds": "0"}, "seeds"),
    ({"profile": "fast", "time_limit": float("nan")}, "time_limit"),
    ({"profile": "fast", "time_limit": -1}, "time_limit"),
    ({"profile": "fast", "replay": "yes"}, "replay: must be True or False"),
    ({"alpha": 0.5, "beta": 0.6}, "alpha, beta: must add up to 1"),
    ({"alpha": 1.5, "beta": -0.5}, "alpha: must be a number in [0, 1]"),
    ({"threshold": 101}, "threshold: must be a number in [0, 100]"),
    ({"accuracy_threshold": -3}, "accuracy_threshold"),
    ({"device": "nosuch"}, "device: 'nosuch' is not a device"),
    ({"arch": "vgg"}, "arch: must be one of"),
    ({"num_classes": 0}, "num_classes: must be a positive integer"),
    ({"seed": -2}, "seed: must be an integer in [0, 4294967295]"),
    ({"seed": 2**32}, "seed: must be an integer in [0, 4294967295]"),
]


@pytest.mark.parametrize("params,words", NOTEBOOK, ids=[w[1][:50] for w in NOTEBOOK])
def test_bad_notebook_parameters(params, words):
    with pytest.raises(ParameterError) as err:
        check_parameters(**params)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_papermill_with_a_bad_parameter_stops_at_the_check_cell(tmp_path):
    """Through papermill, the first error is the check cell's one line (not a traceback of the sweep)."""
    import papermill as pm
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(REPO / "notebooks" / "04_eval_weights.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "nosuch"}, cwd=str(REPO / "notebooks"), progress_bar=False)
    e = err.value
    assert e.ename == "ParameterError" and e.evalue.startswith("profile: must be one of fast, cpu, paper")
    lines = [ln for ln in "".join(e.traceback).splitlines() if ln.strip()]
    assert len(lines) <= 2, lines  # the minimal traceback: the error itself


# ---------------------------------------------------------------------------- real processes
def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "adaptres", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.slow
def test_real_processes_exit_2_without_a_traceback(valid, tmp_path):
    d, sc, _ = valid
    for args in (["solve", write(tmp_path / "bin.json", bytes(range(256)))],
                 ["solve", d / "scenario.json", "--time-limit", "nan"],
                 ["evaluate", d / "scenario.json", tmp_path],
                 ["train", "--profile", "fast", "--out", tmp_path / "r", "--set", "train_limit=0"]):
        r = run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, (args, r.stderr)


@pytest.mark.slow
def test_ctrl_c_stops_an_exact_solve_and_keeps_the_previous_plan(tmp_path):
    """SIGINT during a long exact solve: exit 130 within seconds, the previous plan.json untouched."""
    scenario = tmp_path / "hard.json"
    assert main(["scenario", "--profile", "cpu", "--devices", "20", "--requests", "10", "--seed", "0",
                 "--out", str(scenario)]) == 0
    out = write(tmp_path / "plan.json", "previous")
    proc = subprocess.Popen([sys.executable, "-m", "adaptres", "solve", str(scenario), "--method", "exact",
                             "--time-limit", "120", "--verbose", "--out", str(out)], cwd=REPO, stderr=subprocess.PIPE,
                            text=True,
                            # a launcher that ignores SIGINT (``cmd &`` in a script) would pass that on
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""  # the readiness signal: HiGHS' log (--verbose, on standard error) once the model is handed over
    while "Running HiGHS" not in seen and proc.poll() is None:
        seen += proc.stderr.readline()
    assert "Running HiGHS" in seen, seen
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    _, err = proc.communicate(timeout=60)
    err = seen + err
    assert proc.returncode == 130 and time.time() - t0 < 15, err
    assert "interrupted" in err and "Traceback" not in err
    assert out.read_text() == "previous"


def test_an_interrupted_write_leaves_the_previous_file(tmp_path):
    path = write(tmp_path / "table.csv", "previous")

    def half(fh):
        fh.write(b"half a new fi")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, half)
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_every_flag_and_argument_says_what_it_is():
    """``--help`` explains every argument of every command (none left without a line)."""
    import argparse

    from adaptres.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.dest}" for name, p in sub.choices.items() for a in p._actions if a.dest != "help" and not a.help]
    assert not missing, missing
