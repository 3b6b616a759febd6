"""How long the README's commands take on this machine, measured from a fresh clone with its set-up (a new
``.venv``, the data), into ``data/results/timings.csv`` — the README's ``timings`` block.

``python -m adaptres.report.timings test`` clones the committed HEAD into a temporary folder, runs
``make test`` there (``check``: in this checkout, already set up), and records the minutes with the
machine (its processor, and whether it has AVX-512 with BF16) and the commit. pip's cache is used as any
machine's would be; the clone is removed after.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..io import git_commit, provenance, write_table
from ..paths import REPO

TIMINGS = REPO / "data" / "results" / "timings.csv"
WHAT = {"test": "make test (fresh clone, set-up included)", "check": "make check (set up)",
        "study": "make study (fresh clone, set-up included)"}


def machine() -> str:
    """This machine's processor, its cores, and whether it has AVX-512 with BF16."""
    import os

    from ..experiments.load_test import cpu_model
    return f"{cpu_model()}, {os.cpu_count()} cores"


def measure(target: str) -> tuple[float, int, str]:
    """Minutes that ``make <target>`` takes in a fresh clone of HEAD (``check``: in this checkout, set up), its
    exit status, and the commit measured (taken before the run: the checkout may move on while it runs)."""
    commit = git_commit()[:12]
    if target == "check":
        t = time.perf_counter()
        code = subprocess.run(["make", target], cwd=REPO).returncode
        return (time.perf_counter() - t) / 60, code, commit
    with tempfile.TemporaryDirectory(prefix="adaptres-clone-") as tmp:
        clone = Path(tmp) / "adaptres"
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=clone, check=True)
        t = time.perf_counter()
        p = subprocess.run(["make", target], cwd=clone)
        minutes = (time.perf_counter() - t) / 60
        shutil.rmtree(clone / ".venv", ignore_errors=True)
    return minutes, p.returncode, commit


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
    minutes, code, commit = measure(args.target)
    if code:
        print(f"make {args.target}: exit status {code} after {minutes:.1f} min; nothing recorded", file=sys.stderr)
        return code
    record(args.target, minutes, commit)
    print(f"make {args.target}: {minutes:.1f} min, recorded in {TIMINGS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
