"""One evaluation section (§V-A..D) end to end: sweep, summary, figure, claims — the work of notebooks 04-07.

    res = run_section("V-B", "cpu")
    res.summary, res.checks, res.figures, res.pinned()

The sweep's per-step rows are saved to ``<results>/<notebook>_<profile>.csv`` with provenance (a
stopped run resumes there); ``replay=True`` reads a finished run with the same inputs back instead
of simulating again, and the result says so (``replayed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..experiments import claims, profiles, sections, sim
from ..io import git_commit
from ..paths import relative, results_path
from . import plots

SUMMARY_COLUMNS = ["accuracy_pct", "latency_s", "shared_mb", "gmacs", "energy_j", "served_fraction", "dropped_blocks"]


@dataclass
class SectionRun:
    """What ``run_section`` computed, with everything a notebook shows."""

    section: sections.Section
    profile: str
    settings: profiles.Sim  # the profile's simulation settings, overridden
    table_meta: dict  # the accuracy table's provenance
    steps: pd.DataFrame  # one row per (point, seed, step)
    runs: pd.DataFrame  # one row per (point, seed): sim.summarise
    checks: pd.DataFrame  # the paper's claims against this run
    results: Path  # the per-step CSV
    figures: dict = field(default_factory=dict)  # "sweep" -> plots.Saved: the section's figure
    replayed: str | None = None  # the file read back instead of simulating (replay=True)
    controller: str = "myopic"  # what each step's solver was asked (``serving.controllers``)

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and sd over seeds of each metric, per sweep point."""
        return self.runs.groupby(list(self.section.by), sort=False)[SUMMARY_COLUMNS].agg(["mean", "std"])

    @property
    def solver_table(self) -> pd.DataFrame:
        """Per sweep point: steps, requests, served, and the solver's gap to its own bound and time."""
        return self.steps.groupby("label", sort=False).agg(
            steps=("step", "count"), requests=("n_requests", "sum"), served=("served", "sum"),
            median_gap=("gap", "median"), max_gap=("gap", "max"), mean_solve_s=("solve_s", "mean")).round(3)

    def pinned(self) -> pd.DataFrame:
        """The numbers nbval pins in the (deterministic) fast profile: per sweep point, the requests,
        and the mean over seeds of accuracy, latency and served fraction, rounded."""
        g = self.runs.groupby(list(self.section.by), sort=False)
        out = pd.DataFrame({"requests": g["requests"].sum().astype(int),
                            "accuracy_pct": g["accuracy_pct"].mean().round(2),
                            "latency_s": g["latency_s"].mean().round(3),
                            "served_fraction": g["served_fraction"].mean().round(3)})
        return out

    def describe(self) -> str:
        m = self.table_meta
        return (f"accuracy table {m['table']} ({m.get('dataset')}, {m.get('px')} px, full model {m.get('full_accuracy')} %); "
                f"profile {self.profile}: {sim.describe(self.settings)}; commit {git_commit()}\n"
                f"{len(self.steps)} steps, {int(self.steps.n_requests.sum())} requests; "
                + (f"replayed from {relative(self.replayed)}" if self.replayed else f"saved to {relative(self.results)}"))

    def note(self) -> dict:
        """The key numbers for the main job's report, with what was reused."""
        step, req = (claims.read(self.checks, r) for r in ("per step", "per request"))
        held = (f"{step['held'].eq('held').sum()}/{len(step)} read per step, "
                f"{req['held'].eq('held').sum()}/{len(req)} per served request")
        reused = [f"accuracy table {self.table_meta['table']} (device {self.table_meta.get('device')}, "
                  f"commit {self.table_meta.get('commit')})"]
        if self.replayed:
            reused.append(f"per-step results {relative(self.replayed)} (replayed, not simulated)")
        tag = f"[{self.settings.table}{'' if self.controller == 'myopic' else ', ' + self.controller}] "
        return {f"{tag}claims_held": held,
                **{f"{tag}{r.figure} {r.paper} ({r.reading})": f"{r.held}: {r['this run']}"
                   for _, r in self.checks.iterrows()},
                f"{tag}steps": len(self.steps), f"{tag}mean_solve_s": round(float(self.steps.solve_s.mean()), 2),
                "reused": "; ".join(reused), "commit": git_commit()}


def run_section(section: str, profile: str, steps: int | None = None, seeds=None, time_limit: float | None = None,
                replay: bool = False, progress: bool = True, table: str | None = None,
                controller: str | None = None) -> SectionRun:
    """Sweep one evaluation section in a profile (``steps``, ``seeds``, ``time_limit``, ``table``: the
    profile's unless given), then summarise it, draw and save its figure and check the paper's claims.
    ``controller`` "horizon" runs every step under the horizon-aware controller (the profile's V; its
    results and figure are named with ``-horizon``); None or "myopic": each step on its own, the paper's."""
    sec = sections.get(section)
    units, configs, meta, S = sim.inputs(profile, steps=steps, seeds=None if seeds is None else tuple(seeds),
                                         time_limit=time_limit, table=table)
    shift = S.threshold_shift
    points = [sections.shifted(p, shift) for p in sec.points(S)]
    other = "" if table is None or table == profiles.get(profile).sim.table else f"-{table}"
    controller = controller or "myopic"
    if controller != "myopic":
        other += f"-{controller}"
    from ..serving.controllers import Params
    out = results_path(sec.notebook + other, profile)
    df = sim.sweep(units, configs, points, S.seeds, S.steps,
                   base=sections.shifted({"n_devices": S.n_devices, **sec.base}, shift), method=S.method,
                   options=profiles.solver_options(S), out=out, scale=S.scale,
                   meta={"table_sha256": meta["table_sha256"], "n_devices": S.n_devices}, progress=progress,
                   replay=replay, engine=S.engine, controller=controller,
                   params=Params(v=profiles.get(profile).horizon.v))
    runs = sim.summarise(df)
    order = sec.order(points)
    res = SectionRun(sec, profile, S, meta, df, runs, sec.claims(runs, order, float(meta["full_accuracy"])), out,
                     replayed=df.attrs.get("replayed"), controller=controller)
    if sec.hue == "A_th":
        runs["A_th"] = runs["accuracy_threshold"].map(lambda v: f"{v:g} %")
    fig = plots.sweep_figure(runs, sec.x, metrics=sec.metrics, hue=sec.hue, xlabel=sec.xlabel,
                             order=None if sec.x == "beta" else order,
                             title=sec.title.format(N=S.n_devices, seeds=len(S.seeds)))
    res.figures = {"sweep": plots.save_figure(fig, sec.figure + other, profile)}
    plt.close(fig)
    return res


def run_sections(section: str, profile: str, steps: int | None = None, seeds=None, time_limit: float | None = None,
                 replay: bool = False, progress: bool = True, table: str | None = None,
                 compare_with: str | None = None, controller: str | None = None) -> list[SectionRun]:
    """``run_section`` on the profile's accuracy table (or ``table``), then again on ``compare_with``
    (None: the profile's ``compare_table``, "" for none), so that the paper's claims are checked on both."""
    from ..experiments import profiles
    if compare_with is None:
        compare_with = profiles.get(profile).sim.compare_table
    from .. import cluster
    with cluster.scoped():  # the sweeps' Ray, if they started it, ends with them
        runs = [run_section(section, profile, steps, seeds, time_limit, replay, progress, table, controller)]
        if compare_with and compare_with != runs[0].settings.table:
            runs.append(run_section(section, profile, steps, seeds, time_limit, replay, progress, compare_with,
                                    controller))
    return runs


def claims_side_by_side(runs: list[SectionRun]) -> pd.DataFrame:
    """The paper's claims with each table's verdict and numbers, one column pair per table."""
    cols = {}
    for r in runs:
        c = r.checks.set_index(["figure", "paper", "reading"])
        name = r.settings.table + ("" if r.controller == "myopic" else f", {r.controller}")
        cols[(name, "verdict")] = c["held"]
        cols[(name, "this run")] = c["this run"]
    return pd.DataFrame(cols)


def side_by_side(runs: list[SectionRun], columns=("dropped_blocks", "accuracy_pct", "latency_s", "energy_j",
                                                 "shared_mb", "gmacs", "served_fraction")) -> pd.DataFrame:
    """Per sweep point, the mean over seeds of what each table's plans drop and spend (one column
    group per metric, one column per table): where a drop-aware table changes the optimiser's choices.
    Accuracy thresholds are the paper's (each table's own are shifted by its full model)."""
    parts = {}
    for r in runs:
        df = r.runs
        if "accuracy_threshold" in df:
            df = df.assign(accuracy_threshold=(df.accuracy_threshold - r.settings.threshold_shift).round(2))
        parts[r.settings.table] = df.groupby(list(r.section.by), sort=False)[list(columns)].mean()
    out = pd.concat(parts, axis=1).swaplevel(axis=1)[list(columns)]
    return out.rename_axis(index={"accuracy_threshold": "A_th (paper)"})


def notes(runs: list[SectionRun]) -> dict:
    """The runs' notes for the report, merged (each claim keyed by its table)."""
    out, reused = {}, []
    for r in runs:
        n = r.note()
        reused += [x for x in n.pop("reused").split("; ") if x not in reused]
        out.update(n)
    return {**out, "reused": "; ".join(reused)}
