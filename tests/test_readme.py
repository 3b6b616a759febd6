"""The README is a guide that cannot disagree with the committed results: short, its commands and an example
first, its run numbers generated from the committed results (``report.readme``), every link inside the
repository, and nothing in the repository pointing outside it."""
import re
from pathlib import Path

import pytest

from adaptres.report import readme

REPO = Path(__file__).resolve().parent.parent
TEXT = (REPO / "README.md").read_text()


def test_a_short_guide_with_its_commands_and_an_example_first():
    lines = TEXT.splitlines()
    assert len(lines) <= 400, len(lines)
    first = "\n".join(lines[:60])
    assert "make test" in first and "make study" in first
    assert "python -m adaptres scenario" in first and "python -m adaptres solve" in first
    assert "python -m adaptres evaluate" in first


def test_its_run_numbers_are_the_committed_results():
    assert set(re.findall(r"<!-- generated: (\w+) -->", TEXT)) == set(readme.BLOCKS)
    assert readme.stale() == [], "run `python -m adaptres readme` to write the committed results into the README"


def test_the_readme_command_says_whether_they_are(capsys):
    from adaptres.cli import main
    assert main(["readme", "--check"]) == 0
    assert capsys.readouterr().out.strip() == "README.md: up to date"


def test_every_link_resolves_inside_the_repository():
    for target in re.findall(r"\]\(([^)#]+)", TEXT):
        if target.startswith(("http://", "https://")):
            continue
        assert not target.startswith(".."), target
        assert (REPO / target).exists(), target


def test_nothing_points_outside_the_repository():
    """The specification is the repository's own (SPEC.md): no path to a sibling folder anywhere."""
    bad = []
    paths = [*REPO.glob("*.md"), *(REPO / "adaptres").rglob("*.py"), *(REPO / "tests").glob("*.py"),
             *(REPO / "notebooks").glob("*.ipynb"), REPO / "Makefile", REPO / ".ci" / "run"]
    for path in paths:
        text = path.read_text()
        for hit in re.findall(r"\.\./shared|shared/(?:SPEC|paper|tours)", text):
            if path.name != "test_readme.py":
                bad.append(f"{path.relative_to(REPO)}: {hit}")
    assert not bad, bad
    assert (REPO / "SPEC.md").is_file()


def test_timings_keep_a_row_per_kind_of_machine(tmp_path, monkeypatch):
    """A measurement replaces the row of its command on its kind of machine only: the AVX-512 and the AVX2-only
    machines' rows stand side by side."""
    import pandas as pd

    from adaptres.report import timings
    monkeypatch.setattr(timings, "TIMINGS", tmp_path / "timings.csv")
    for machine, minutes in (("AMD EPYC; AVX-512 BF16, 2 cores", 14.2), ("AMD EPYC; AVX2, 2 cores", 20.0),
                             ("AMD EPYC; AVX2, 2 cores", 18.5)):
        monkeypatch.setattr(timings, "machine", lambda m=machine: m)
        timings.record("test", minutes, f"c{minutes}")
    t = pd.read_csv(tmp_path / "timings.csv", comment="#")
    assert sorted(zip(t.machine, t.minutes, t.commit)) == [("AMD EPYC; AVX-512 BF16, 2 cores", 14.2, "c14.2"),
                                                           ("AMD EPYC; AVX2, 2 cores", 18.5, "c18.5")]


def test_where_the_time_of_make_test_went_is_summed_per_file(tmp_path):
    from adaptres.report import timings
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite name="pytest">'
                     '<testcase classname="tests.test_a" name="test_one" time="1.5"/>'
                     '<testcase classname="tests.test_a.TestGroup" name="test_two[x]" time="2.25"/>'
                     '<testcase classname="notebooks.09_live.ipynb" name="Cell 2" time="30.0"/>'
                     '<testcase classname="notebooks.09_live.ipynb" name="Cell 4" time="0.5"/>'
                     '</testsuite></testsuites>')
    rows = timings.where_the_time_went(junit)
    assert rows == [{"file": "notebooks/09_live.ipynb", "items": 2, "seconds": 30.5, "longest_s": 30.0, "longest": "Cell 2"},
                    {"file": "tests/test_a.py", "items": 2, "seconds": 3.8, "longest_s": 2.2, "longest": "test_two[x]"}]


def test_where_the_time_of_make_study_went_is_told_lane_by_lane(tmp_path, monkeypatch):
    import pandas as pd

    from adaptres.io import write_table
    from adaptres.report import readme
    rows = pd.DataFrame([
        {"notebook": "00_costs.ipynb", "status": "ran", "seconds": 14.0, "started_min": 0.0, "ended_min": 0.2, "lane": None},
        {"notebook": "03_solvers.ipynb", "status": "ran", "seconds": 900.0, "started_min": 0.8, "ended_min": 15.8,
         "lane": 1},
        {"notebook": "09_live.ipynb", "status": "ran", "seconds": 800.0, "started_min": 0.8, "ended_min": 14.2, "lane": 0},
        {"notebook": "11_pareto.ipynb", "status": "ran", "seconds": 120.0, "started_min": 14.2, "ended_min": 16.2,
         "lane": 0}])
    monkeypatch.setattr(readme, "STUDY_TIME", tmp_path / "t.csv")
    monkeypatch.setattr(readme, "STUDY_BUSY", tmp_path / "none.csv")
    monkeypatch.setattr(readme, "TIMINGS", tmp_path / "none.csv")
    write_table(rows, tmp_path / "t.csv", {"commit": "abc", "machine": "a CPU", "minutes": "18.0"})
    text = readme.render("study_time")
    assert text.startswith("Where the last measured `make study` spent its time (18.0 min on a CPU with the set-up, "
                           "commit `abc`")
    assert text.endswith("first, one after another: `00_costs` 14 s (0–0.2 min); lane 0: `09_live` 800 s (0.8–14.2 "
                         "min), `11_pareto` 120 s (14.2–16.2 min); lane 1: `03_solvers` 900 s (0.8–15.8 min).")


@pytest.mark.parametrize("machine, minutes, aim, avx2_row", [
    ("AMD EPYC; AVX2", "44.9", "within", None), ("AMD EPYC; AVX2", "45.1", "more than", None),
    ("Xeon; AVX-512 BF16", "50", None, None), ("Xeon; AVX-512 BF16", "30", "elsewhere", 48.2)])
def test_the_study_time_says_whether_it_kept_to_its_aim_and_how_busy_the_cores_were(tmp_path, monkeypatch, machine,
                                                                                      minutes, aim, avx2_row):
    """The aim is set for the AVX2-only machines: a breakdown measured there says whether it kept to it; one measured
    elsewhere says what the timings table's last AVX2-only run took against it (nothing when there is none)."""
    import pandas as pd

    from adaptres.io import write_table
    monkeypatch.setattr(readme, "STUDY_TIME", tmp_path / "t.csv")
    monkeypatch.setattr(readme, "STUDY_BUSY", tmp_path / "b.csv")
    monkeypatch.setattr(readme, "TIMINGS", tmp_path / "timings.csv")
    rows = [{"what": "make study (fresh clone, set-up included)", "minutes": float(minutes), "machine": machine, "commit": "abc"},
            {"what": "make test (fresh clone, set-up included)", "minutes": 14.4, "machine": "AMD EPYC; AVX2, 2 cores",
             "commit": "ccc"}]
    if avx2_row is not None:
        rows.append({"what": "make study (fresh clone, set-up included)", "minutes": avx2_row,
                     "machine": "AMD EPYC; AVX2, 2 cores", "commit": "def"})
    write_table(pd.DataFrame(rows), tmp_path / "timings.csv", {})
    write_table(pd.DataFrame([{"notebook": "00_costs.ipynb", "status": "ran", "seconds": 14.0, "started_min": 0.0,
                               "ended_min": 0.2, "lane": None}]), tmp_path / "t.csv",
                {"commit": "abc", "machine": machine, "minutes": minutes})
    write_table(pd.DataFrame({"minute": [0.5, 1.0, 1.5, 2.0], "busy_pct": [50.0, 95.0, 99.0, 100.0],
                              "steal_pct": [0.0, 10.0, 0.0, 10.0]}), tmp_path / "b.csv", {})
    text = readme.render("study_time")
    if aim is None:
        assert text.startswith("Its cores were busy")
    elif aim == "elsewhere":
        assert text.startswith("`make study` last took 48.2 min on an AVX2-only 2-core machine (commit `def`), more than "
                               f"the 45 minutes aimed at there; the breakdown below is of a later run on {machine}. Its cores")
    else:
        assert text.startswith(f"`make study` took {float(minutes):g} min, {aim} the 45 minutes aimed at on the "
                               "AVX2-only 2-core machines. ")
    assert (f"busy 97 % of the time on median over its 30-s samples, 75% of the samples at 90 % or more; of the "
            f"cores' time 5 % on mean went to the virtual machine's host (steal) (`{tmp_path / 'b.csv'}`): CPU, not "
            "waiting, sets its length. ") in text
