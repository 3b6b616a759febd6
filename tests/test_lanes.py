"""Work side by side in lanes (the main job's notebooks): every lane's rows come back in lane order, a failure
stops the lanes and is raised once, and a lane starts no task once stopped."""
import os
import queue
import threading

import nbformat
import pytest

from adaptres.report import lanes, study


def work(task):
    """A task of the tests' lanes: ``fail`` raises, anything else says which process ran it."""
    if task == "fail":
        raise ValueError("broken on purpose")
    return {"task": task, "pid": os.getpid()}


def test_lanes_run_in_processes_of_their_own_and_rows_come_back_in_lane_order():
    rows = lanes.run([["a", "b"], [], ["c"]], work)
    assert [r["task"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["pid"] == rows[1]["pid"] != rows[2]["pid"] and os.getpid() not in {r["pid"] for r in rows}
    # one lane: in this process
    assert {r["pid"] for r in lanes.run([["a"], []], work)} == {os.getpid()}


def test_a_failure_in_one_lane_is_raised_with_its_message():
    with pytest.raises(RuntimeError, match="ValueError: broken on purpose"):
        lanes.run([["a"], ["fail"]], work)


def test_a_lane_stops_at_its_failure_and_starts_nothing_once_another_failed():
    stop, done = threading.Event(), queue.Queue()
    lanes._lane(0, ["a", "fail", "never"], work, stop, done)
    i, rows, error = done.get_nowait()
    assert stop.is_set() and [r["task"] for r in rows] == ["a"] and error == "ValueError: broken on purpose"
    lanes._lane(1, ["never"], work, stop, done)  # another lane, after the stop
    assert done.get_nowait() == (1, [], None)


def _notebook(path, code):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "fast"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_the_notebooks_on_the_testbed_form_one_lane_beside_the_others(tmp_path):
    names = ["00_costs", "01_train", "03_solvers", "09_live", "11_pareto", "12_load"]
    paths = [tmp_path / f"{n}.ipynb" for n in names]
    got = study.lanes(paths)
    assert [[p.stem for p in g] for g in got] == [["09_live", "12_load"], ["03_solvers", "11_pareto"]]
    assert [[p.stem for p in g] for g in study.lanes(paths, side_by_side=False)] == [["03_solvers", "09_live",
                                                                                      "11_pareto", "12_load"]]


@pytest.mark.slow
def test_the_main_job_runs_its_lanes_side_by_side_and_says_so(tmp_path, monkeypatch):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for name in ("00_first", "03_beside", "09_bed"):
        _notebook(nbs / f"{name}.ipynb", f"import os\nprint('{name}', os.getpid())")
    monkeypatch.setattr(study, "NOTEBOOKS", nbs)
    monkeypatch.setenv("ADAPTRES_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ADAPTRES_FIGURES", str(tmp_path / "figures"))
    text = study.run("fast", progress=False).read_text()
    assert "side by side: (09_bed) beside (03_beside)" in text and "The job took" in text
    for name in ("00_first", "03_beside", "09_bed"):
        assert f"| [{name}.ipynb]({name}.ipynb) | ran |" in text
        assert (tmp_path / "run" / f"{name}.done.json").exists()
