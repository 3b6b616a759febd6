"""The main job: reuse of committed results, skipping what is done, failures named by notebook and cell."""
import dataclasses

import pandas as pd
import pytest
import torch
from notebook_helpers import notebook

from adaptres.experiments import profiles
from adaptres.io import file_hash
from adaptres.nn import train
from adaptres.report import cpu_busy, study


@pytest.mark.parametrize("model", ["standard", "dropaware"])
def test_committed_cpu_results_are_found_and_matched_to_their_recipe(model, monkeypatch):
    done = profiles.committed_results("cpu", model)
    assert done is not None
    want = profiles.recipes("cpu")[model].sha256()
    assert done["history_meta"]["recipe_sha256"] == want == done["ablation_meta"]["recipe_sha256"]
    assert done["history"].epoch.tolist() == [1, 2, 3, 4] and done["history_meta"]["precision"] == "fp32"
    table = done["ablation"]
    assert len(table) > 153 and set(table.family) >= {"full", "single", "sc-single", "pair", "nested", "random"}
    if model == "dropaware":  # its weights are committed, and the table was measured on them
        out = profiles.outputs("cpu", model)
        assert done["history_meta"]["weights_sha256"] == file_hash(out["weights"]) == done["ablation_meta"]["model_sha256"]
    # reused without training
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("trained although results are committed"))
    history, meta, reused = study.training("cpu", model=model)
    assert reused and history.equals(done["history"])
    table, reused = study.ablation_table("cpu", model=model)
    assert reused and table.attrs["test_set_size"] == "10000"
    # another recipe: the committed results are not its own
    other = dataclasses.replace(profiles.get("cpu").recipe, lr=0.1)
    monkeypatch.setitem(profiles.PROFILES, "cpu", dataclasses.replace(profiles.PROFILES["cpu"], recipe=other))
    assert profiles.committed_results("cpu", model) is None
    assert profiles.committed_results("fast", model) is None  # the fast profile never reuses


@pytest.mark.slow
def test_run_skips_what_is_done_and_names_a_failing_cell(tmp_path, monkeypatch):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    notebook(nbs / "00_ok.ipynb", "x = 1 + 1")
    notebook(nbs / "01_bad.ipynb", "raise ValueError('broken on purpose')")
    monkeypatch.setattr(study, "NOTEBOOKS", nbs)
    monkeypatch.setenv("ADAPTRES_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ADAPTRES_FIGURES", str(tmp_path / "figures"))
    with pytest.raises(RuntimeError, match=r"notebook 01_bad.ipynb failed in cell .*ValueError: broken on purpose"):
        study.run("fast", progress=False)
    assert (tmp_path / "run" / "00_ok.done.json").exists()
    report = study.run("fast", only=["00"], progress=False)
    assert "skipped (up to date" in report.read_text()


@pytest.mark.slow
def test_a_run_writes_only_into_its_folder_names_reuse_and_publishes_on_request(tmp_path, monkeypatch):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    notebook(nbs / "00_fig.ipynb",
              "import matplotlib.pyplot as plt\nimport pandas as pd\nfrom adaptres.io import write_table\n"
              "from adaptres.paths import results_path\nfrom adaptres.report import plots, study\n"
              "fig, ax = plt.subplots(); ax.plot([1, 2], [3, 4])\nplots.save_figure(fig, 'line', profile)\n"
              "write_table(pd.DataFrame({'x': [1]}), results_path('00_fig', profile), {'k': 'v'})\n"
              "study.note('00_fig', profile, reused='data/study/a-table.csv (device cuda)')")
    monkeypatch.setattr(study, "NOTEBOOKS", nbs)
    run, figures, results = tmp_path / "run", tmp_path / "figures", tmp_path / "results"
    monkeypatch.setenv("ADAPTRES_RUN_DIR", str(run))
    monkeypatch.setenv("ADAPTRES_FIGURES", str(figures))
    monkeypatch.setenv("ADAPTRES_RESULTS", str(results))
    report = study.run("fast", progress=False)
    assert (run / "figures" / "fast" / "line.png").exists() and (run / "results" / "00_fig_fast.csv").exists()
    assert not figures.exists() and not results.exists()  # nothing outside the run's folder
    busy = pd.read_csv(run / "cpu_busy.csv", comment="#")  # how busy the CPUs were: sampled at the job's end too
    assert len(busy) >= 1 and busy.busy_pct.between(0, 100).all() and (busy.steal_pct <= busy.busy_pct).all()
    text = report.read_text()
    assert "| [00_fig.ipynb](00_fig.ipynb) | ran |" in text and "data/study/a-table.csv (device cuda)" in text
    # publishing an up-to-date run only copies it to the committed places
    study.run("fast", progress=False, publish=True)
    assert (figures / "fast" / "line.png").read_bytes() == (run / "figures" / "fast" / "line.png").read_bytes()
    assert (results / "00_fig_fast.csv").exists() and (results / "main_job_fast" / "00_fig.ipynb").exists()
    published = (results / "main_job_fast" / "report.md").read_text()
    assert "skipped (up to date" in published and "](../../figures/fast/line.png)" in published


@pytest.mark.slow
def test_figures_are_byte_identical_from_run_to_run(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    import pandas as pd

    from adaptres.report import plots
    monkeypatch.setenv("ADAPTRES_FIGURES", str(tmp_path))
    runs = pd.DataFrame({"lam": [1, 1, 2, 2], "accuracy_pct": [80, 81, 79, 78], "latency_s": [1, 1.1, 2, 2.2]})
    blobs = []
    for _ in range(2):
        fig = plots.sweep_figure(runs, "lam", metrics=("accuracy_pct", "latency_s"), title="t")
        saved = plots.save_figure(fig, "f", "fast")
        plt.close(fig)
        blobs.append([p.read_bytes() for p in (saved.png, saved.pdf)])
    assert blobs[0] == blobs[1]


@pytest.mark.slow
def test_committed_dropaware_weights_are_the_model_of_its_table():
    """The fp16 weights in data/models/ (which the runtime and a fresh clone's ablation use) give the
    table's full accuracy and that of its largest configuration within 3 pt, on the whole test set
    (up to a few images: another CPU's arithmetic may flip a prediction)."""
    from adaptres.io import read_table
    from adaptres.nn import ablation, data
    out = profiles.outputs("cpu", "dropaware")
    table, meta = read_table(out["ablation"])
    net, recipe = train.load_trained(out["train_dir"], "cpu", weights=out["weights"], recipe=profiles.recipes("cpu")["dropaware"])
    assert next(net.parameters()).dtype == torch.float32  # fp16 on disk, fp32 in memory
    full = float(table.accuracy.iloc[0])
    near = table[(table.kind == "dc") & (table.accuracy >= full - 3)].sort_values("n_dropped").iloc[-1]
    test = data.load(recipe.dataset, "test")
    got = ablation.run(net, test, recipe.image_size, "cpu", 500, False, progress=False,
                       extra=[("check", tuple(near.dropped.split(";")))], base=False)
    assert abs(got.accuracy.iloc[0] - full) <= 0.15 and abs(got.accuracy.iloc[1] - near.accuracy) <= 0.15
    assert meta["model_sha256"] == file_hash(out["weights"])


def test_a_run_folder_of_another_recipe_is_set_aside_not_resumed(tmp_path):
    from adaptres.io import atomic_write_text
    recipe = profiles.recipes("fast")["dropaware"]
    older = dataclasses.replace(recipe, drop_path=recipe.drop_path + 0.1)
    run = tmp_path / "train-dropaware"
    run.mkdir()
    atomic_write_text(run / "recipe.json", __import__("json").dumps(older.to_dict()))
    (run / "checkpoint.pt").write_bytes(b"old")
    study._set_aside_other_recipe(run, recipe)
    assert not run.exists() and (tmp_path / f"train-dropaware-{older.sha256()}" / "checkpoint.pt").read_bytes() == b"old"
    run.mkdir()
    atomic_write_text(run / "recipe.json", __import__("json").dumps(recipe.to_dict()))
    study._set_aside_other_recipe(run, recipe)  # its own recipe: left to resume
    assert (run / "recipe.json").exists()


def test_a_notebooks_outputs_do_not_make_other_runs_stale(tmp_path):
    """The inputs hash reads a notebook's sources: executing it (new outputs) leaves the hash as it was;
    editing a cell changes it."""
    import json as _json
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1"], "outputs": [], "metadata": {}}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "00_x.ipynb"
    path.write_text(_json.dumps(nb))
    before = study._inputs_hash(path, "fast")
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]
    path.write_text(_json.dumps(nb))
    assert study._inputs_hash(path, "fast") == before
    nb["cells"][0]["source"] = ["x = 2"]
    path.write_text(_json.dumps(nb))
    assert study._inputs_hash(path, "fast") != before


def test_cpu_busy_share_is_the_non_idle_time_of_all_cores_between_two_reads():
    before = cpu_busy.read("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n")
    after = cpu_busy.read("cpu  250 0 100 800 100 0 0 50 0 0\n")  # 200 busy of 300 (idle 100, iowait 0 more), 50 stolen
    assert before == (200, 1000, 0) and after == (400, 1300, 50)
    assert cpu_busy.busy_pct(before, after) == pytest.approx(66.7) and cpu_busy.busy_pct(before, after, 2) == pytest.approx(16.7)
    assert cpu_busy.read("intr 1 2\n") is None and cpu_busy.busy_pct(after, after) == 0.0
