"""Notebook 10: decisions over a horizon — the per-step optimum, the paper's relaxation + Algorithm 1 and
the horizon-aware controller side by side on §V-B and §V-D settings whose batteries bind; tables,
figures, pinned counts and the note for the report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .. import cluster
from ..experiments import battery_horizon as horizon
from ..experiments import profiles
from ..io import git_commit
from ..paths import results_path
from . import plots

ARM_ORDER = [a for a, _, _ in horizon.ARMS]


@dataclass
class HorizonRun:
    profile: str
    settings: profiles.Horizon
    rows: pd.DataFrame
    summary: pd.DataFrame
    versus: pd.DataFrame
    initial: dict
    figures: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Per section and arm, the mean over seeds (the first-exhausted step: the horizon's length where
        no device was, counted as such)."""
        cols = ["objective", "requests", "served", "served_x_accuracy", "accuracy_pct", "first_exhausted",
                "energy_j_req", "solve_s", "control_s", "violations"]
        g = self.summary.groupby(["section", "arm"], sort=False)
        out = g[cols].mean()
        out["exhausted_in"] = g["exhausted"].sum().astype(int).astype(str) + f"/{len(self.settings.seeds)}"
        return out

    def describe(self) -> str:
        H = self.settings
        pts = "; ".join(f"§{s}: " + ", ".join(f"{k} = {'/'.join(f'{x:g}' for x in v)}" for k, v in p) for s, p in H.points)
        return (f"profile {self.profile}: table {H.table}, N = {H.n_devices}, T = {H.steps} steps, seeds "
                f"{list(H.seeds)}, {pts}; per-step method {H.method} ({H.time_limit:g} s/step), horizon controller "
                f"V = {H.v:g}; commit {git_commit()}; saved to {results_path('10_horizon', self.profile).name}")

    def pinned(self) -> pd.DataFrame:
        """What the seeds and the code decide: per section and arm, the requests, those served and the
        constraint violations (0), summed over seeds."""
        return self.summary.groupby(["section", "arm"], sort=False)[["requests", "served", "violations"]].sum().astype(int)

    def note(self) -> dict:
        t = self.table()
        out = {}
        for (sec, arm), r in t.iterrows():
            out[f"{sec} {arm}"] = (f"Σ objective {r.objective:.1f}, served {r.served:.1f}/{r.requests:.1f}, accuracy "
                                   f"{r.accuracy_pct:.2f} %, first exhausted step {r.first_exhausted:.1f} "
                                   f"({r.exhausted_in} seeds), {r.energy_j_req:.2f} J/request")
        for _, v in self.versus.iterrows():
            out[f"{v.section} horizon vs best per-step"] = (
                f"Σ objective {v.objective_change_pct:+.1f} %, first exhausted ×{v.first_exhausted_ratio:.2f}, "
                f"controller {v.control_share_pct:.2f} % of the solve time")
        return {**out, "commit": git_commit()}


def run(profile: str, steps: int | None = None, seeds=None, v: float | None = None, progress: bool = True) -> HorizonRun:
    """Every arm on every horizon setting of the profile (``horizon.compare``, saved and resumable), the
    summaries and the figures."""
    H = profiles.get(profile).horizon
    H = dataclasses.replace(H, **{k: x for k, x in (("steps", steps), ("seeds", None if seeds is None else tuple(seeds)),
                                                     ("v", v)) if x is not None})
    with cluster.scoped():  # the horizons' Ray, if they started it, ends with them
        rows = horizon.compare(profile, out=results_path("10_horizon", profile), progress=progress, steps=H.steps,
                               seeds=H.seeds, v=H.v)
    initial = horizon.initial_batteries(profile)
    summ = horizon.summary(rows, initial)
    res = HorizonRun(profile, H, rows, summ, horizon.versus(summ), initial)
    res.figures = _figures(res)
    return res


def _figures(res: HorizonRun) -> dict:
    plots.style()
    figs = {}
    rows, secs = res.rows, [s for s, _ in res.settings.points]
    # per section: Σ objective over time, requests served over time, batteries per device class over time
    fig, axes = plt.subplots(len(secs), 3, figsize=(14, 3.6 * len(secs)), squeeze=False)
    for ax_row, sec in zip(axes, secs):
        d = rows[rows.section == sec].sort_values(["arm", "seed", "step"]).copy()
        d["Σ objective"] = d.groupby(["arm", "seed"])["objective"].cumsum()
        d["served so far"] = d.groupby(["arm", "seed"])["served"].cumsum()
        n = len(res.initial[sec])
        low, high = [f"battery_{i}" for i in range(n // 2)], [f"battery_{i}" for i in range(n // 2, n)]
        d["low-capacity devices"] = d[low].mean(axis=1)
        d["high-capacity devices"] = d[high].mean(axis=1)
        sns.lineplot(data=d, x="step", y="Σ objective", hue="arm", hue_order=ARM_ORDER, errorbar="sd", ax=ax_row[0],
                     palette="colorblind")
        sns.lineplot(data=d, x="step", y="served so far", hue="arm", hue_order=ARM_ORDER, errorbar="sd", ax=ax_row[1],
                     palette="colorblind", legend=False)
        b = d.melt(id_vars=["arm", "seed", "step"], value_vars=["low-capacity devices", "high-capacity devices"],
                   var_name="class", value_name="battery (J)")
        sns.lineplot(data=b, x="step", y="battery (J)", hue="arm", hue_order=ARM_ORDER, style="class", errorbar=None,
                     ax=ax_row[2], palette="colorblind")
        ax_row[0].set_title(f"§{sec}: Σ of Eq 5 (unserved: +10 each)", loc="left", fontsize=10)
        ax_row[1].set_title(f"§{sec}: requests served", loc="left", fontsize=10)
        ax_row[2].set_title(f"§{sec}: mean battery per device class", loc="left", fontsize=10)
    fig.suptitle("Decisions over a horizon: the per-step optimum (myopic), relaxation + Algorithm 1, "
                 "and the horizon-aware controller\nlines: mean over seeds; bands: ± 1 sd")
    fig.tight_layout()
    figs["horizon"] = plots.save_figure(fig, "horizon", res.profile)
    plt.close(fig)
    # per section and arm: the trade — Σ objective against accuracy of what was served
    t = res.table().reset_index()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for ax, col, label in zip(axes, ("objective", "served", "energy_j_req"),
                              ("Σ objective over the horizon", "requests served", "energy per served request (J)")):
        sns.barplot(data=t, x="section", y=col, hue="arm", hue_order=ARM_ORDER, ax=ax, palette="colorblind",
                    legend=ax is axes[0])
        ax.set_ylabel(label)
        ax.set_xlabel("")
    fig.suptitle("Over the whole horizon (mean over seeds)")
    fig.tight_layout()
    figs["totals"] = plots.save_figure(fig, "horizon_totals", res.profile)
    plt.close(fig)
    return figs


def per_step_mean(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` per step, mean over seeds, one column per (section, arm)."""
    return rows.groupby(["section", "arm", "step"], sort=False)[column].mean().unstack([0, 1]).round(3)


