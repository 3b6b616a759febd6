"""Work side by side in lanes (the main job's notebooks): every lane's rows come back in lane order, a failure
stops the lanes and is raised once, and a lane starts no task once stopped."""
import os
import queue
import threading

import pytest
from notebook_helpers import notebook

from adaptres.report import lanes, study


def work(task):
    """A task of the tests' lanes: ``fail`` raises, anything else says which process ran it."""
    if task == "fail":
        raise ValueError("broken on purpose")
    return {"task": task, "pid": os.getpid()}


@pytest.mark.slow
def test_lanes_run_in_processes_of_their_own_and_rows_come_back_in_lane_order():
    rows = lanes.run([["a", "b"], ["c"]], work)
    assert [(r["task"], r["lane"]) for r in rows] == [("a", 0), ("b", 0), ("c", 1)]
    assert rows[0]["pid"] == rows[1]["pid"] != rows[2]["pid"] and os.getpid() not in {r["pid"] for r in rows}
    # one lane: in this process, its own tasks then the shared ones
    assert [(r["task"], r["pid"]) for r in lanes.run([["a"]], work, shared=["b"])] == [("a", os.getpid()),
                                                                                    ("b", os.getpid())]


@pytest.mark.slow
def test_shared_tasks_are_each_run_once_by_whichever_lane_is_free():
    rows = lanes.run([["a"], []], work, shared=["b", "c", "d", "e"])
    assert sorted(r["task"] for r in rows) == ["a", "b", "c", "d", "e"]
    assert [r["lane"] for r in rows if r["task"] == "a"] == [0]


def test_a_lane_takes_its_own_tasks_then_shared_ones_no_other_lane_took():
    import multiprocessing as mp
    taken = mp.get_context("spawn").Value("i", 0)
    first, second = lanes._tasks(["own"], ["s1", "s2", "s3"], taken), lanes._tasks([], ["s1", "s2", "s3"], taken)
    assert [next(second), next(first), next(first), next(second)] == ["s1", "own", "s2", "s3"]
    assert list(first) == list(second) == []


@pytest.mark.slow
def test_a_failure_in_one_lane_is_raised_with_its_message():
    with pytest.raises(RuntimeError, match="ValueError: broken on purpose"):
        lanes.run([["a"], ["fail"]], work)


def test_a_lane_stops_at_its_failure_and_starts_nothing_once_another_failed():
    import multiprocessing as mp
    stop, done = threading.Event(), queue.Queue()
    taken = mp.get_context("spawn").Value("i", 0)
    lanes._lane(0, ["a", "fail", "never"], ["shared"], taken, work, stop, done)
    i, rows, error = done.get_nowait()
    assert stop.is_set() and [r["task"] for r in rows] == ["a"] and error == "ValueError: broken on purpose"
    lanes._lane(1, [], ["shared"], taken, work, stop, done)  # another lane, after the stop
    assert done.get_nowait() == (1, [], None)


def test_the_notebooks_on_the_testbed_have_a_lane_and_the_others_are_shared(tmp_path):
    names = ["00_costs", "01_train", "03_solvers", "09_live", "11_pareto", "12_load"]
    paths = [tmp_path / f"{n}.ipynb" for n in names]
    own, shared = study.lanes(paths)
    assert [[p.stem for p in g] for g in own] == [["09_live", "12_load"], []]
    assert [p.stem for p in shared] == ["03_solvers", "11_pareto"]
    # the longest first by the last measured run, those without one last, in order
    own, shared = study.lanes(paths, seconds={"11_pareto.ipynb": 240.0, "03_solvers.ipynb": 1144.0, "09_live.ipynb": 9e9})
    assert [p.stem for p in shared] == ["03_solvers", "11_pareto"] and [p.stem for p in own[0]] == ["09_live", "12_load"]
    own, shared = study.lanes(paths + [tmp_path / "10_horizon.ipynb"], seconds={"10_horizon.ipynb": 700.0})
    assert [p.stem for p in shared] == ["10_horizon", "03_solvers", "11_pareto"]
    assert list(study.last_seconds())[:3] == ["00_costs.ipynb", "01_train.ipynb", "02_ablation.ipynb"]
    own, shared = study.lanes(paths, side_by_side=False)
    assert [[p.stem for p in g] for g in own] == [["03_solvers", "09_live", "11_pareto", "12_load"]] and shared == []


@pytest.mark.slow
def test_the_main_job_runs_its_lanes_side_by_side_and_says_so(tmp_path, monkeypatch):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for name in ("00_first", "03_beside", "09_bed"):
        notebook(nbs / f"{name}.ipynb", f"import os\nprint('{name}', os.getpid())")
    monkeypatch.setattr(study, "NOTEBOOKS", nbs)
    monkeypatch.setenv("ADAPTRES_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ADAPTRES_FIGURES", str(tmp_path / "figures"))
    text = study.run("fast", progress=False).read_text()
    assert "in two lanes side by side after 00, 01, 02" in text and "The job took" in text
    assert "| [00_first.ipynb](00_first.ipynb) | ran |" in text
    assert " (0) |" in text.split("09_bed.ipynb)")[1].splitlines()[0]  # the test bed's lane
    import pandas as pd
    table = pd.read_csv(tmp_path / "run" / "notebooks.csv", comment="#").set_index("notebook")
    lane = table["lane"].to_dict()  # the first notebooks in no lane; the test bed's in lane 0; 03 in whichever was free
    assert pd.isna(lane["00_first.ipynb"]) and lane["09_bed.ipynb"] == 0 and lane["03_beside.ipynb"] in (0, 1)
    assert (table["ended_min"] >= table["started_min"]).all()
    for name in ("00_first", "03_beside", "09_bed"):
        assert (tmp_path / "run" / f"{name}.done.json").exists()


def wait_for(started, go, pid):
    """A piece of work beside the test: says it started (and its process id), then waits (bounded) for ``go``."""
    pid.value = os.getpid()
    started.set()
    return "seen" if go.wait(60) else "never"


@pytest.mark.slow
def test_work_beside_the_body_gives_its_result_raises_its_error_and_ends_with_the_body():
    import multiprocessing as mp

    from adaptres.processes import exists
    ctx = mp.get_context("spawn")
    started, go, pid = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    with lanes.beside(wait_for, started, go, pid) as result:
        assert started.wait(60)  # the work runs while the body does
        go.set()
        assert result() == "seen"
    assert pid.value not in (0, os.getpid())
    with pytest.raises(ValueError, match="broken on purpose"), lanes.beside(work, "fail") as result:
        result()
    # the body fails first: the work beside it is ended, not waited for
    started, go = ctx.Event(), ctx.Event()
    with pytest.raises(KeyError), lanes.beside(wait_for, started, go, pid):
        assert started.wait(60)
        raise KeyError("the body's own error")
    assert not exists(pid.value)


def test_an_interrupted_job_takes_down_a_testbed_it_brought_up_and_leaves_one_it_found(tmp_path, monkeypatch):
    from adaptres import testbed
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for name in ("03_beside", "09_bed"):
        notebook(nbs / f"{name}.ipynb", "x = 1")
    monkeypatch.setattr(study, "NOTEBOOKS", nbs)
    monkeypatch.setenv("ADAPTRES_RUN_DIR", str(tmp_path / "run"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(lanes, "run", interrupted)
    downs = []
    monkeypatch.setattr(testbed, "down", lambda: downs.append(1) or 0.0)
    for before, want in ((False, [1]), (True, [])):
        ups = iter([before, True])  # at the start, then when the job was interrupted: up
        monkeypatch.setattr(study, "_bed_up", lambda ups=ups: next(ups))
        downs.clear()
        with pytest.raises(KeyboardInterrupt):
            study.run("fast", progress=False)
        assert downs == want
