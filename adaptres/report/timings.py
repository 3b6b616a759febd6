"""How long the README's commands take on this machine, measured from a fresh clone with its set-up (a new
``.venv``, the data), into ``data/results/timings.csv`` — the README's ``timings`` block.

``python -m adaptres.report.timings test`` clones the committed HEAD into a temporary folder, runs
``make test`` there (``check``: in this checkout, already set up), and records the minutes with the
machine (its processor, and whether it has AVX-512 with BF16) and the commit. pip's cache is used as any
machine's would be; the clone is removed after. Where the time of ``make test`` went — seconds per test file and
notebook, summed over both workers, with its longest item — goes to ``data/results/timings_tests.csv``; ``make
study``'s run is kept in ``runs/clone-<commit>/`` and its notebooks' seconds, minutes of the job and lanes go to
``data/results/timings_study.csv``, how busy the CPUs were through it (``cpu_busy``) to
``data/results/timings_study_cpu_busy.csv``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..io import git_commit, provenance, write_table
from ..paths import REPO

TIMINGS = REPO / "data" / "results" / "timings.csv"
WHERE = {"test": REPO / "data" / "results" / "timings_tests.csv",  # make test's seconds per test file and notebook
         "study": REPO / "data" / "results" / "timings_study.csv"}  # make study's per notebook (its lane, its minutes)
BUSY = REPO / "data" / "results" / "timings_study_cpu_busy.csv"  # make study's CPUs, busy % every 30 s
WHAT = {"test": "make test (fresh clone, set-up included)", "check": "make check (set up)",
        "study": "make study (fresh clone, set-up included)"}


def machine() -> str:
    """This machine's processor, its cores, and whether it has AVX-512 with BF16."""
    import os

    from ..experiments.load_test import cpu_model
    return f"{cpu_model()}, {os.cpu_count()} cores"


def measure(target: str) -> tuple[float, int, str, list[dict]]:
    """Minutes that ``make <target>`` takes in a fresh clone of HEAD (``check``: in this checkout, set up), its
    exit status, the commit measured (taken before the run: the checkout may move on while it runs) and, for
    ``test``, pytest's seconds per test file and notebook (``where_the_time_went``)."""
    commit = git_commit()[:12]
    if target == "check":
        t = time.perf_counter()
        code = subprocess.run(["make", target], cwd=REPO).returncode
        return (time.perf_counter() - t) / 60, code, commit, []
    with tempfile.TemporaryDirectory(prefix="adaptres-clone-") as tmp:
        clone, junit = Path(tmp) / "adaptres", Path(tmp) / "junit.xml"
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=clone, check=True)
        env = {**os.environ, "PYTEST_ADDOPTS": f"{os.environ.get('PYTEST_ADDOPTS', '')} --junitxml={junit}".strip()}
        t = time.perf_counter()
        p = subprocess.run(["make", target], cwd=clone, env=env)
        minutes = (time.perf_counter() - t) / 60
        shutil.rmtree(clone / ".venv", ignore_errors=True)
        if (clone / "runs").is_dir():  # make study's run (its report says where the time went): kept, to read
            keep = REPO / "runs" / f"clone-{commit}"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(clone / "runs", keep, symlinks=True)
        where = where_the_time_went(junit) if junit.is_file() else []
        job = clone / "runs" / "cpu" / "notebooks.csv"
        if target == "study" and job.is_file():
            import pandas as pd
            where = pd.read_csv(job, comment="#").to_dict("records")
    return minutes, p.returncode, commit, where


def where_the_time_went(junit: Path) -> list[dict]:
    """pytest's junit report as one row per test file or notebook: its items, their seconds (setup, call and
    teardown; summed, though two workers ran side by side) and its longest item; longest first."""
    import xml.etree.ElementTree as ET
    files: dict[str, dict] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")  # tests.test_x[.TestClass], notebooks.NN_name.ipynb
        where = "/".join(parts[:2]) + (".ipynb" if parts[-1] == "ipynb" else ".py")
        row = files.setdefault(where, {"file": where, "items": 0, "seconds": 0.0, "longest_s": 0.0, "longest": ""})
        s = float(case.get("time") or 0.0)
        row["items"] += 1
        row["seconds"] += s
        if s > row["longest_s"]:
            row["longest_s"], row["longest"] = s, case.get("name", "")
    rows = sorted(files.values(), key=lambda r: -r["seconds"])
    return [{**r, "seconds": round(r["seconds"], 1), "longest_s": round(r["longest_s"], 1)} for r in rows]


def record(target: str, minutes: float, commit: str) -> None:
    """Write (or replace) ``target``'s row of ``timings.csv`` for this kind of machine (a row per processor kind:
    the AVX-512 and the AVX2-only machines differ by up to 2x)."""
    import pandas as pd
    here = machine()
    rows = []
    if TIMINGS.is_file():
        rows = [r for r in pd.read_csv(TIMINGS, comment="#").to_dict("records")
                if (r["what"], r["machine"]) != (WHAT[target], here)]
    rows.append({"what": WHAT[target], "minutes": round(minutes, 1), "machine": here, "commit": commit})
    rows.sort(key=lambda r: (r["what"], r["machine"]))
    write_table(pd.DataFrame(rows), TIMINGS, {**provenance(measured="python -m adaptres.report.timings"),
                                              "commit": commit})  # the clone's, not this checkout's


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m adaptres.report.timings", description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=sorted(WHAT), help="the make target to time from a fresh clone")
    args = p.parse_args(argv)
    minutes, code, commit, where = measure(args.target)
    if code:
        print(f"make {args.target}: exit status {code} after {minutes:.1f} min; nothing recorded", file=sys.stderr)
        return code
    record(args.target, minutes, commit)
    if where:
        import pandas as pd
        meta = provenance(measured=f"python -m adaptres.report.timings {args.target}")
        write_table(pd.DataFrame(where), WHERE[args.target],
                    {**meta, "commit": commit, "machine": machine(), "minutes": f"{minutes:.1f}"})
    busy = REPO / "runs" / f"clone-{commit}" / "cpu" / "cpu_busy.csv"
    if args.target == "study" and busy.is_file():
        shutil.copyfile(busy, BUSY)
    print(f"make {args.target}: {minutes:.1f} min, recorded in {TIMINGS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
