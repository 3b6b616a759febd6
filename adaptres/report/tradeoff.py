"""Notebook 11: exact latency–accuracy fronts — tables, figures, pinned counts and the note for the report."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..experiments import fronts as pareto
from ..experiments import profiles
from ..io import git_commit
from ..paths import results_path
from . import plots

EXACT, NSGA2 = "colgen ε-constraint", "NSGA-II (pymoo)"


@dataclass
class ParetoRun:
    profile: str
    settings: profiles.Pareto
    points: pd.DataFrame
    summary: pd.DataFrame
    figures: dict = field(default_factory=dict)

    def fronts(self) -> pd.DataFrame:
        """Per front (table, seed): its points, time, widest gap, the points no weighted sum reaches, what the
        α grid reaches, and NSGA-II's hypervolume as a share of the exact front's (the same reference point)."""
        s = self.summary[self.summary.kind == "front"]
        cols = ["table", "seed", "points", "solved", "exact_s", "max_gap", "unsupported", "alpha_points",
                "alpha_off_front", "nsga2_points", "hv_exact", "hv_nsga2", "hv_ratio"]
        return s[cols].set_index(["table", "seed"])

    def tradeoff(self) -> pd.DataFrame:
        """Per front: its fastest and its most accurate point, in words."""
        s = self.summary[self.summary.kind == "front"]
        words = [f"{r.latency_saved_pct:.1f} % less latency for {r.accuracy_given_pt:.2f} pt accuracy "
                 f"({r.accurate_latency_s:.3f} → {r.fastest_latency_s:.3f} s, {r.accurate_accuracy:.2f} → "
                 f"{r.fastest_accuracy:.2f} %)" for r in s.itertuples()]
        return s.assign(tradeoff=words).set_index(["table", "seed"])[["tradeoff"]]

    def dominance(self) -> pd.DataFrame:
        P = self.settings
        if len(P.tables) < 2:
            return pd.DataFrame()
        return pareto.dominance(self.points, P.tables[0], P.tables[1])

    def budgets(self) -> pd.DataFrame:
        s = self.summary[self.summary.kind != "scale"]
        s = s[(s.table == self.settings.tables[0]) & (s.seed == self.settings.seeds[0])]
        return s[["energy_fraction", "energy_budget_j", "points", "fastest_latency_s", "accurate_accuracy",
                  "accurate_latency_s", "exact_s"]].reset_index(drop=True)

    def scale(self) -> pd.DataFrame:
        P = self.settings
        s = self.summary[(self.summary.table == P.tables[0]) & (self.summary.seed == P.seeds[0])
                         & self.summary.energy_budget_j.isna()]
        return s[["n_devices", "points", "exact_s", "max_gap", "fastest_latency_s", "accurate_latency_s",
                  "accurate_accuracy"]].sort_values("n_devices").reset_index(drop=True)

    def describe(self) -> str:
        P = self.settings
        return (f"profile {self.profile}: §V-A steps (N = {P.n_devices}, R = {P.n_requests}, seeds {list(P.seeds)}), "
                f"tables {', '.join(P.tables)}; up to {P.points} points per front, {P.time_limit:g} s and gap "
                f"{P.rel_gap:g} per point; α grid {list(P.alphas)}; NSGA-II population {P.nsga_pop_size} for the exact "
                f"front's time; commit {git_commit()}; saved to {results_path('11_pareto', self.profile).name}")

    def pinned(self) -> pd.DataFrame:
        """What the seeds and the code decide: per front, its points, those no weighted sum reaches and the α
        grid's points on it (counts; times and NSGA-II's, which depend on the machine's speed, are left out)."""
        cols = ["kind", "table", "n_devices", "seed", "energy_fraction", "points", "unsupported"]
        s = self.summary.copy()
        if "alpha_points" in s:
            cols.append("alpha_points")
        return s[cols].fillna(-1).astype({c: int for c in cols if c in ("points", "unsupported", "alpha_points")})

    def note(self) -> dict:
        out = {}
        for (table, seed), r in self.fronts().iterrows():
            out[f"{table} seed {seed}"] = (f"{int(r.points)} points in {r.exact_s:.1f} s (widest gap {r.max_gap:.2g}), "
                                           f"{int(r.unsupported)} reached by no weighted sum, α grid on "
                                           f"{int(r.alpha_points)}; NSGA-II hypervolume {r.hv_ratio:.2f} of the exact")
        for (table, seed), r in self.tradeoff().iterrows():
            out[f"{table} seed {seed} trade-off"] = r.tradeoff
        return {**out, "commit": git_commit()}


def run(profile: str, progress: bool = True) -> ParetoRun:
    """Every front of the profile (``pareto.compare``, saved), the summaries and the figures."""
    P = profiles.get(profile).pareto
    points, summary = pareto.compare(profile, out=results_path("11_pareto", profile), progress=progress)
    res = ParetoRun(profile, P, points, summary)
    res.figures = _figures(res)
    return res


def _front_axes(ax, d: pd.DataFrame, label: str, color, marker="o", line=True):
    d = d.sort_values("mean_latency_s")
    if line:
        ax.step(d.mean_latency_s, d.mean_accuracy, where="post", color=color, alpha=0.6)
    ax.scatter(d.mean_latency_s, d.mean_accuracy, color=color, marker=marker, s=28, label=label, zorder=3)


def _figures(res: ParetoRun) -> dict:
    plots.style()
    figs = {}
    P, pts = res.settings, res.points
    pal = sns.color_palette("colorblind")
    fronts = pts[pts.kind == "front"]
    fig, axes = plt.subplots(len(P.tables), len(P.seeds), figsize=(max(4.6 * len(P.seeds), 9.0), 3.8 * len(P.tables)),
                             squeeze=False)
    for row, table in zip(axes, P.tables):
        for ax, seed in zip(row, P.seeds):
            d = fronts[(fronts.table == table) & (fronts.seed == seed)]
            ex, ga = d[d.method == EXACT], d[d.method == NSGA2]
            _front_axes(ax, ga, "NSGA-II (same time)", pal[1], marker="x", line=False)
            _front_axes(ax, ex, "exact front", pal[0])
            off = ex[ex.supported == False]  # noqa: E712 (a column of booleans)
            ax.scatter(off.mean_latency_s, off.mean_accuracy, facecolor="none", edgecolor=pal[3], s=110, lw=1.5,
                       label="no weighted sum reaches it", zorder=4)
            on = ex[ex.alphas.fillna("").astype(str).str.len() > 0]
            ax.scatter(on.mean_latency_s, on.mean_accuracy, marker="*", color=pal[2], s=140,
                       label="an α of the grid's optimum", zorder=5)
            ax.set_title(f"{table}, seed {seed}", loc="left", fontsize=10)
            ax.set_xlabel("mean latency (s)")
            ax.set_ylabel("mean accuracy (%)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Exact latency–accuracy fronts of §V-A steps (N = {P.n_devices}, R = {P.n_requests}); "
                 "every point proven under its accuracy budget")
    fig.tight_layout()
    figs["fronts"] = plots.save_figure(fig, "pareto_fronts", res.profile)
    plt.close(fig)
    # the tables on one step; the energy budgets; the fronts over N
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    seed0 = P.seeds[0]
    for n, table in enumerate(P.tables):
        d = fronts[(fronts.table == table) & (fronts.seed == seed0) & (fronts.method == EXACT)]
        _front_axes(axes[0], d, table, pal[n])
    axes[0].set_title(f"accuracy tables, seed {seed0}", loc="left", fontsize=10)
    first = pts[(pts.table == P.tables[0]) & (pts.seed == seed0) & (pts.method == EXACT)
                & (pts.n_devices == P.n_devices)]
    for n, (budget, d) in enumerate(first.groupby(first.energy_budget_j.fillna(-1.0), sort=False)):
        _front_axes(axes[1], d, "no budget" if budget < 0 else f"≤ {budget:.1f} J", pal[n])
    axes[1].set_title(f"{P.tables[0]}: under energy budgets (all devices)", loc="left", fontsize=10)
    scale = pts[(pts.table == P.tables[0]) & (pts.seed == seed0) & (pts.method == EXACT) & pts.energy_budget_j.isna()]
    for n, (nd, d) in enumerate(scale.groupby("n_devices")):
        _front_axes(axes[2], d, f"N = {nd}", pal[n])
    axes[2].set_title(f"{P.tables[0]}: over N", loc="left", fontsize=10)
    for ax in axes:
        ax.set_xlabel("mean latency (s)")
        ax.set_ylabel("mean accuracy (%)")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    figs["compare"] = plots.save_figure(fig, "pareto_compare", res.profile)
    plt.close(fig)
    return figs
