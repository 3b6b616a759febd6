"""The README's numbers, generated from the committed results so that they cannot disagree with them.

The README holds blocks between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; ``render(NAME)``
writes each from the committed notes of the main job (``data/results/main_job_cpu/notes/*.json``) and the
committed timings (``data/results/timings.csv``, ``timings_tests.csv``, ``timings_study.csv``) and column generation's gaps
(``colgen_time_limit_ab.csv``). ``refresh`` rewrites them in place
(``python -m adaptres readme``); ``stale`` lists those that no longer match (a test fails on any).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from ..paths import REPO

NOTES = REPO / "data" / "results" / "main_job_cpu" / "notes"
TIMINGS = REPO / "data" / "results" / "timings.csv"
TEST_TIME = REPO / "data" / "results" / "timings_tests.csv"  # where the last measured make test spent its time
STUDY_TIME = REPO / "data" / "results" / "timings_study.csv"  # and make study, per notebook
STUDY_BUSY = REPO / "data" / "results" / "timings_study_cpu_busy.csv"  # how busy the cores were meanwhile
COLGEN_GAPS = REPO / "data" / "results" / "colgen_time_limit_ab.csv"  # colgen at 224 px, 60 s, seeds 0-4
STUDY_AIM_AVX2 = 45  # minutes that make study is aimed to take on the AVX2-only 2-core machines
README = REPO / "README.md"


def _note(name: str) -> dict:
    path = NOTES / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _timings_table():
    """The committed timings (one row per command and machine kind), or None when there are none."""
    from ..io import read_table
    if not TIMINGS.is_file():
        return None
    return read_table(TIMINGS, required=("what", "minutes", "machine", "commit"), what="timings")[0]


def _timings() -> str:
    t = _timings_table()
    if t is None:
        return "_no timing committed yet_"
    rows = ["| what | minutes | machine | commit |", "|---|---|---|---|"]
    rows += [f"| {r.what} | {r.minutes:g} | {r.machine} | `{r.commit}` |" for r in t.itertuples()]
    return "\n".join(rows)


def _test_time(longest: int = 8) -> str:
    from ..io import read_table
    if not TEST_TIME.is_file():
        return "_no breakdown committed yet_"
    t, meta = read_table(TEST_TIME, required=("file", "items", "seconds", "longest_s", "longest"), what="test time")
    top = ", ".join(f"`{r.file}` {r.seconds:.0f} s" for r in t.head(longest).itertuples())
    return (f"Where the last measured `make test` spent its time ({meta.get('minutes', '?')} min on {meta.get('machine', '?')}, "
            f"commit `{meta.get('commit', '?')}`; seconds summed over both workers, {t.seconds.sum():.0f} s in all over "
            f"{len(t)} files and notebooks): {top}.")


def _study_time() -> str:
    import pandas as pd

    from ..io import read_table
    if not STUDY_TIME.is_file():
        return "_no breakdown committed yet_"
    t, meta = read_table(STUDY_TIME, required=("notebook", "seconds", "started_min", "ended_min", "lane"),
                         what="study time")
    for c in ("seconds", "started_min", "ended_min", "lane"):  # empty where a notebook has none (no lane: first)
        t[c] = pd.to_numeric(t[c], errors="coerce")
    parts = []
    for lane, g in t.groupby(t["lane"].fillna(-1), sort=True):
        name = "first, one after another" if lane < 0 else f"lane {int(lane)}"
        parts.append(f"{name}: " + ", ".join(f"`{r.notebook.removesuffix('.ipynb')}` {r.seconds:.0f} s "
                                             f"({r.started_min:g}–{r.ended_min:g} min)"
                                             for r in g.sort_values("started_min").itertuples() if pd.notna(r.seconds)))
    return (_study_aim(meta) + _study_busy() +
            f"Where the last measured `make study` spent its time ({meta.get('minutes', '?')} min on "
            f"{meta.get('machine', '?')} with the set-up, commit `{meta.get('commit', '?')}`; each notebook's seconds and "
            f"the minutes of the job it ran in): " + "; ".join(parts) + ".")


def _study_aim(meta: dict) -> str:
    """Whether the measured ``make study`` kept to its aim, where the machine is one the aim is set for."""
    machine = str(meta.get("machine", ""))
    try:
        minutes = float(meta.get("minutes", ""))
    except ValueError:
        return ""
    if not _avx2_only(machine):
        return _study_aim_elsewhere(machine)
    return f"`make study` took {minutes:g} min, {_against_aim(minutes)} on the AVX2-only 2-core machines. "


def _avx2_only(machine: str) -> bool:
    """A machine the study's aim is set for: AVX2 without AVX-512 (as ``timings`` names machines)."""
    return "AVX2" in machine and "AVX-512" not in machine


def _against_aim(minutes: float) -> str:
    return f"{'within' if minutes <= STUDY_AIM_AVX2 else 'more than'} the {STUDY_AIM_AVX2} minutes aimed at"


def _study_aim_elsewhere(machine: str) -> str:
    """A breakdown measured on a machine the aim is not set for: the last AVX2-only ``make study`` of the timings
    table, against the aim, or nothing when there is none."""
    t = _timings_table()
    if t is None:
        return ""
    avx2 = t[t.what.str.startswith("make study") & t.machine.map(_avx2_only)]
    if not len(avx2):
        return ""
    r = avx2.iloc[-1]
    return (f"`make study` last took {r.minutes:g} min on an AVX2-only 2-core machine (commit `{r.commit}`), "
            f"{_against_aim(r.minutes)} there; the breakdown below is of a later run on {machine}. ")


def _study_busy() -> str:
    """How busy the cores were during the measured ``make study`` (its 30-s samples), or nothing."""
    from ..io import read_table
    from ..paths import relative
    if not STUDY_BUSY.is_file():
        return ""
    t, _ = read_table(STUDY_BUSY, required=("minute", "busy_pct"), what="study CPU use")
    if not len(t):
        return ""
    median = float(t.busy_pct.median())
    steal = (f"; of the cores' time {t.steal_pct.mean():.0f} % on mean went to the virtual machine's host (steal)"
             if "steal_pct" in t else "")
    return (f"Its cores were busy {median:.0f} % of the time on median over its 30-s samples, "
            f"{(t.busy_pct >= 90).mean():.0%} of the samples at 90 % or more{steal} (`{relative(STUDY_BUSY)}`)"
            + (": CPU, not waiting, sets its length. " if median >= 90 else ". "))


def _headline() -> str:
    abl, solv = _note("02_ablation"), _note("03_solvers")
    par, live, hor, run = _note("11_pareto"), _note("09_live"), _note("10_horizon"), _note("08_runtime")
    rows = ["| result | measured (the `cpu` main job) |", "|---|---|"]

    def add(label, value):
        if value not in (None, ""):
            rows.append(f"| {label} | {value} |")
    add("ResNet-50 at 32 px on Fashion-MNIST, 4 epochs on a CPU: full model, standard / drop-aware",
        f"{abl.get('full_accuracy [standard]')} % / {abl.get('full_accuracy [dropaware]')} %")
    add("one block dropped: mean loss, standard / drop-aware",
        f"{abl.get('mean_single_loss [standard]')} / {abl.get('mean_single_loss [dropaware]')} points")
    add("pairs of blocks dropped within 3 points, standard / drop-aware",
        f"{abl.get('pairs_within_3pt [standard]')} / {abl.get('pairs_within_3pt [dropaware]')}")
    add("most multiplications saved within 3 points (drop-aware)", abl.get("most_saved_within_3pt [dropaware]"))
    add("column generation: root bound at least the compact MILP's (03)", solv.get("colgen_root_bound_at_least_compact"))
    add("column generation: steps proven optimal within the limit (03)", solv.get("colgen_optimal_steps"))
    add("plans executed on Ray: answers equal to the whole model's (08)", run.get("answers_equal_monolithic"))
    add("network test bed: fixed time per transfer the model misses (09)",
        f"{live.get('calibration_link_overhead_s')} s" if live else None)
    add("horizon-aware controller against the better per-step method, §V-B (10)", hor.get("V-B horizon vs best per-step"))
    add("exact latency–accuracy front, drop-aware table, seed 0 (11)", par.get("cpu-dropaware seed 0 trade-off"))
    add("commit of each result", ", ".join(f"{n}: `{c}`" for n, c in (("02", abl.get("commit")), ("03", solv.get("commit")),
                                                                         ("11", par.get("commit"))) if c))
    return "\n".join(rows)


def _load() -> str:
    note = _note("12_load")
    if not note:
        return "_notebook 12 has no committed cpu run yet_"
    rows = ["| target | verdict | measured |", "|---|---|---|"]
    for k, v in note.items():
        if k.startswith("target: "):
            verdict, _, measured = v.partition(": ")
            verdict = f"**{verdict}**" if verdict in ("met", "not met") else "—"  # a figure without a threshold
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in (k[len("target: "):], verdict, measured)) + " |")
    rows.append(f"\n_Commit `{note.get('commit')}`; live on `{note.get('where')}`; see notebook 12._")
    return "\n".join(rows)


def _colgen_gaps() -> str:
    """The gaps of column generation's last measured variant at 224 px (the last rows of ``COLGEN_GAPS``), per size."""
    from ..io import read_table
    if not COLGEN_GAPS.is_file():
        return "_no committed measurement of column generation's gaps_"
    runs = read_table(COLGEN_GAPS, required=("variant", "n", "r", "seed", "gap_pct", "peak_rss_mb"), what="colgen gaps")[0]
    last = runs[runs["variant"] == runs["variant"].iloc[-1]]
    parts = [f"N = {n}, R = {int(g['r'].iloc[0])}: {g['gap_pct'].min():.2f}–{g['gap_pct'].max():.2f} % on seeds "
             f"{g['seed'].min()}–{g['seed'].max()}, {int((g['gap_pct'] <= 1.0).sum())} of {len(g)} within 1 %, "
             f"at most {int(g['peak_rss_mb'].max())} MB" for n, g in last.groupby("n")]
    head = f"Column generation within 60 s on 2 cores (`{COLGEN_GAPS.name}`, {last['variant'].iloc[0]}): "
    return head + "; ".join(parts) + "."


BLOCKS: dict[str, Callable[[], str]] = {"timings": _timings, "test_time": _test_time, "study_time": _study_time,
                                        "headline": _headline, "load": _load, "colgen_gaps": _colgen_gaps}
_BLOCK = re.compile(r"<!-- generated: (\w+) -->\n(.*?)<!-- end: \1 -->", re.S)


def render(name: str) -> str:
    return BLOCKS[name]()


def _block(name: str) -> str:
    return f"<!-- generated: {name} -->\n{render(name)}\n<!-- end: {name} -->"


def stale(path: Path = README) -> list[str]:
    """The generated blocks of ``path`` whose text is not what the committed results give."""
    text = path.read_text()
    return [m.group(1) for m in _BLOCK.finditer(text) if m.group(0) != _block(m.group(1))]


def refresh(path: Path = README) -> list[str]:
    """Rewrite the generated blocks of ``path``; returns those that changed."""
    from ..io import atomic_write_text
    changed = stale(path)
    if changed:
        atomic_write_text(path, _BLOCK.sub(lambda m: _block(m.group(1)), path.read_text()))
    return changed
