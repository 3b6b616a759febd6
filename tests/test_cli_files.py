"""No command destroys a file it reads: an output that is one of the command's inputs — named on the
command line however it is spelt (the same path, ``./``, a symlink, a hard link), or committed data it
reads without a flag (the model's weights, the accuracy tables) — is refused before anything starts,
as are two outputs that are one file (a results table and its per-request twin). Legal long names
are written; names too long for the file system are refused before the work."""
import hashlib
import os
from pathlib import Path

import pytest
from cli_helpers import cli, refused

from adaptres.cli import files
from adaptres.paths import MODELS_DIR, STUDY

WEIGHTS = next(MODELS_DIR.glob("*.pt"))
TABLE = STUDY / "fmnist_r50_32px_cpu-dropaware_ablation.csv"


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def step(tmp_path, capsys):
    """A small step and its plan, and a copy of the weights under the test's folder."""
    assert cli(["scenario", "--devices", "2", "--requests", "1", "--out", tmp_path / "s.json"], capsys)[0] == 0
    assert cli(["solve", tmp_path / "s.json", "--method", "colgen_round", "--out", tmp_path / "p.json"], capsys)[0] == 0
    (tmp_path / "wt.pt").write_bytes(b"weights stand-in: never read, for the refusal comes first")
    return tmp_path


SPELLINGS = {
    "same": lambda d, name: d / name,
    "dot": lambda d, name: Path(os.path.relpath(d, Path.cwd())) / "." / name,
    "symlink": lambda d, name: (d / "link").symlink_to(d / name) or d / "link",
    "hardlink": lambda d, name: os.link(d / name, d / "hard") or d / "hard",
}


def _never_started(monkeypatch):
    """Any command's work fails the test: the refusal must come before it."""
    from adaptres.cli import nn, problem, runtime

    def started(*_):
        raise AssertionError("the command started its work")
    for module in (nn, problem, runtime):
        for name in dir(module):
            if name.startswith("cmd_"):
                monkeypatch.setattr(module, name, started)


COMMANDS = {
    "run --weights": (lambda d, out: ["run", d / "s.json", d / "p.json", "--weights", d / "wt.pt", "--out", out],
                      "wt.pt", "the input --weights"),
    "run scenario": (lambda d, out: ["run", d / "s.json", d / "p.json", "--out", out], "s.json", "the input scenario"),
    "run plan": (lambda d, out: ["run", d / "s.json", d / "p.json", "--out", out], "p.json", "the input plan"),
    "serve --weights": (lambda d, out: ["serve", "--devices", "1", "--steps", "1", "--weights", d / "wt.pt",
                                        "--out", out], "wt.pt", "the input --weights"),
    "profile-units --weights": (lambda d, out: ["profile-units", "--weights", d / "wt.pt", "--out", out], "wt.pt",
                                "the input --weights"),
    "solve scenario": (lambda d, out: ["solve", d / "s.json", "--out", out], "s.json", "the input scenario"),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_that_is_an_input_is_refused_before_the_work(command, spelling, step, capsys, monkeypatch):
    argv, name, words = COMMANDS[command]
    before = _sha(step / name)
    out = SPELLINGS[spelling](step, name)
    _never_started(monkeypatch)
    refused(cli(argv(step, out), capsys), "--out", words, "choose another output file")
    assert _sha(step / name) == before


@pytest.mark.parametrize("argv", [
    ["serve", "--devices", "1", "--steps", "1", "--out", WEIGHTS],
    ["run", "S", "P", "--out", WEIGHTS],
    ["profile-units", "--out", WEIGHTS],
    ["scenario", "--out", TABLE],
    ["simulate", "--steps", "1", "--out", TABLE],
    ["bench", "solvers", "--out", TABLE],
], ids=lambda a: a[0])
def test_committed_data_a_command_reads_is_never_an_output(argv, step, capsys, monkeypatch):
    argv = [step / "s.json" if a == "S" else step / "p.json" if a == "P" else a for a in argv]
    before = _sha(argv[-1])
    _never_started(monkeypatch)
    refused(cli(argv, capsys), "--out", "committed data the command reads")
    assert _sha(argv[-1]) == before


def test_a_results_table_and_its_twin_are_two_files(tmp_path, capsys, monkeypatch):
    _never_started(monkeypatch)
    refused(cli(["serve", "--devices", "1", "--steps", "1", "--out", tmp_path / "live.json"], capsys),
            "twin", "live.json", "choose another output file")
    assert files.twin(tmp_path / "live.csv") == tmp_path / "live.json"


def test_an_ablation_never_writes_over_its_training_run(tmp_path, capsys, monkeypatch):
    run = tmp_path / "train"
    run.mkdir()
    (run / "model.pt").write_bytes(b"model")
    _never_started(monkeypatch)
    refused(cli(["ablation", "--run", run, "--out", run / "model.pt"], capsys), "--out", "--run's model.pt")
    assert (run / "model.pt").read_bytes() == b"model"


def test_a_legal_long_name_is_written_and_a_longer_one_refused_first(tmp_path, capsys, monkeypatch):
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    ok = tmp_path / ("a" * (longest - 5) + ".json")
    assert cli(["scenario", "--devices", "2", "--requests", "1", "--out", ok], capsys)[0] == 0
    assert ok.is_file() and [p.name for p in tmp_path.iterdir()] == [ok.name]  # no temporary file left
    _never_started(monkeypatch)
    refused(cli(["scenario", "--out", tmp_path / ("a" * longest + ".json")], capsys), "--out")
