"""The main job: reuse of committed results, skipping what is done, failures named by notebook and cell."""
import dataclasses

import nbformat
import pytest

from adaptres.experiments import profiles
from adaptres.nn import train
from adaptres.report import study


def test_committed_cpu_results_are_found_and_matched_to_their_recipe(monkeypatch):
    done = profiles.committed_results("cpu")
    assert done is not None
    want = profiles.get("cpu")["recipe"].sha256()
    assert done["history_meta"]["recipe_sha256"] == want == done["ablation_meta"]["recipe_sha256"]
    assert len(done["ablation"]) == 153 and done["history"].epoch.tolist() == [1, 2]
    # reused without training
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("trained although results are committed"))
    history, meta, reused = study.training("cpu")
    assert reused and history.equals(done["history"])
    table, reused = study.ablation_table("cpu")
    assert reused and table.attrs["test_set_size"] == "10000"
    # another recipe: the committed results are not its own
    other = dataclasses.replace(profiles.get("cpu")["recipe"], lr=0.1)
    monkeypatch.setitem(profiles.PROFILES["cpu"], "recipe", other)
    assert profiles.committed_results("cpu") is None
    assert profiles.committed_results("fast") is None  # the fast profile never reuses


def _notebook(path, code):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "fast"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_skips_what_is_done_and_names_a_failing_cell(tmp_path, monkeypatch):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "00_ok.ipynb", "x = 1 + 1")
    _notebook(nbs / "01_bad.ipynb", "raise ValueError('broken on purpose')")
    monkeypatch.setattr(study, "NOTEBOOKS", nbs)
    monkeypatch.setenv("ADAPTRES_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ADAPTRES_FIGURES", str(tmp_path / "figures"))
    with pytest.raises(RuntimeError, match=r"notebook 01_bad.ipynb failed in cell .*ValueError: broken on purpose"):
        study.run("fast", progress=False)
    assert (tmp_path / "run" / "00_ok.done.json").exists()
    report = study.run("fast", only=["00"], progress=False)
    assert "skipped (up to date)" in report.read_text()
