"""Figures: one helper writes every figure (PNG + PDF, stable metadata), and the study's plots."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and tests draw off-screen; a notebook keeps its inline figures
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..experiments.sim import METRICS as SWEEP_METRICS
from ..io import atomic_write_bytes
from ..paths import figures_dir, relative

# no dates or versions in the files, so the same data gives the same bytes
_PNG_META = {"Software": None}
_PDF_META = {"Creator": None, "Producer": None, "CreationDate": None}


@dataclass(frozen=True)
class Saved:
    """A figure written as PNG and PDF (its repr names both, relative to the repository)."""

    name: str
    png: Path
    pdf: Path

    def __repr__(self) -> str:
        return f"{self.name}: {relative(self.png)}, {relative(self.pdf)}"


def save_figure(fig, name: str, profile: str) -> Saved:
    """Write ``fig`` as ``<figures>/<profile>/<name>.png`` and ``.pdf``."""
    out = figures_dir(profile)
    saved = Saved(name, out / f"{name}.png", out / f"{name}.pdf")
    for path, kw in ((saved.png, {"dpi": 150, "metadata": _PNG_META}), (saved.pdf, {"metadata": _PDF_META})):
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:], bbox_inches="tight", **kw)
        atomic_write_bytes(path, lambda fh, buf=buf: fh.write(buf.getvalue()))
    return saved


def finish(fig, title: str = "", ax=None):
    """Title the figure (or its axes ``ax``), tighten its layout, return it."""
    if title:
        (ax.set_title if ax is not None else fig.suptitle)(title)
    fig.tight_layout()
    return fig


def _percent_axis(ax, whole: float = 100.0) -> None:
    """An accuracy axis ends at 100 % and a fraction's at 1 (a ± sd band may reach beyond; no value does)."""
    bottom, top = ax.get_ylim()
    if top > whole * 1.005:
        ax.set_ylim(bottom, whole * 1.005)


def style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams["svg.hashsalt"] = "adaptres"


# ---------------------------------------------------------------------------- costs (notebook 00)
def unit_costs_figure(costs: pd.DataFrame, title: str = ""):
    """Per-unit multiplications, memory (weights + activations) and output size."""
    style()
    fig, axes = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    x = costs["name"]
    axes[0].bar(x, costs["macs"] / 1e6, color=sns.color_palette()[0])
    axes[0].set_ylabel("multiplications (M)")
    axes[1].bar(x, costs["weight_bytes"] / 1e6, label="weights", color=sns.color_palette()[1])
    axes[1].bar(x, costs["activation_bytes"] / 1e6, bottom=costs["weight_bytes"] / 1e6, label="activations",
                color=sns.color_palette()[2])
    axes[1].set_ylabel("memory (MB)")
    axes[1].legend(loc="upper left")
    axes[2].bar(x, costs["output_bytes"] / 1e3, color=sns.color_palette()[3])
    axes[2].set_ylabel("output (kB)")
    axes[2].tick_params(axis="x", rotation=60)
    return finish(fig, title, axes[0])


def drop_savings_figure(costs: pd.DataFrame, title: str = ""):
    """What dropping each block's direct connection saves, in % of the whole network."""
    style()
    blocks = costs[costs["macs_dropped"].notna()].copy()
    blocks["multiplications"] = 100 * (blocks["macs"] - blocks["macs_dropped"]) / costs["macs"].sum()
    blocks["memory"] = 100 * (blocks["memory_bytes"] - blocks["memory_bytes_dropped"]) / costs["memory_bytes"].sum()
    long = blocks.melt(id_vars=["name", "kind"], value_vars=["multiplications", "memory"], var_name="saved",
                       value_name="percent")
    fig, ax = plt.subplots(figsize=(11, 4))
    sns.barplot(data=long, x="name", y="percent", hue="saved", ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("saved by dropping DC (% of network)")
    ax.tick_params(axis="x", rotation=60)
    return finish(fig, title, ax)


# ---------------------------------------------------------------------------- solvers (notebook 03)
def solver_comparison_figure(df: pd.DataFrame, title: str = ""):
    """Per step: each method's objective above the best plan of the step, and its solve time."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, y in zip(axes, ("gap_to_best_pct", "solve_s")):  # every step as a dot over the box of its method
        sns.stripplot(data=df, x="method", y=y, ax=ax, alpha=0.7)
        sns.boxplot(data=df, x="method", y=y, ax=ax, fill=False, showfliers=False)
        ax.tick_params(axis="x", rotation=20)
    axes[0].set_ylabel("objective above the step's best (%)")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("solve time (s)")
    return finish(fig, title)


def scale_figure(df: pd.DataFrame, title: str = "", methods=None):
    """Over devices × requests: each method's wall time (top) and its objective above the proven bound
    of the cell (bottom: an upper bound on its distance from the optimum; blank where no bound);
    ``methods``: default every method in ``df``."""
    style()
    methods = list(dict.fromkeys(df["method"])) if methods is None else [m for m in methods if m in set(df["method"])]
    df = df.assign(true_gap_pct=df["true_gap_pct"].clip(lower=0))  # a bound a hair above a plan reads 0
    fig, axes = plt.subplots(2, len(methods), figsize=(3.6 * len(methods), 6.6), squeeze=False)
    for c, method in enumerate(methods):
        d = df[df["method"] == method]
        for r, (col, fmt, label, cmap) in enumerate((("wall_s", ".1f", "time (s)", "viridis"),
                                                     ("true_gap_pct", ".1f", "% above bound", "magma_r"))):
            top = df[df["method"].isin(methods)][col].max()  # one colour scale per row
            sns.heatmap(d.pivot_table(index="n_devices", columns="n_requests", values=col), annot=True, fmt=fmt,
                        cmap=cmap, ax=axes[r, c], cbar=False, annot_kws={"fontsize": 7}, vmin=0,
                        vmax=top if top == top and top > 0 else None)
            axes[r, c].set_title(f"{method}: {label}", fontsize=9)
    return finish(fig, title)


def gap_distribution_figure(df: pd.DataFrame, method: str = "relaxed", title: str = ""):
    """The distribution of a heuristic's objective above the proven optimum, on the steps where one is
    proven."""
    style()
    d = df[(df["method"] == method) & df["best_proven"]]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.histplot(d["gap_to_best_pct"], bins=20, ax=ax)
    ax.set_xlabel(f"{method}: objective above the proven optimum (%)")
    ax.set_ylabel("steps")
    return finish(fig, title, ax)


# ---------------------------------------------------------------------------- training and ablation (01, 02)
def training_curves_figure(histories: dict[str, pd.DataFrame], title: str = ""):
    """Test accuracy and training loss per epoch, one line per run."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for label, h in histories.items():
        axes[0].plot(h["epoch"], h["test_accuracy"], marker="o", label=label)
        axes[1].plot(h["epoch"], h["train_loss"], marker="o", label=label)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("training loss")
    axes[0].legend(fontsize=8)
    return finish(fig, title)


def single_drops_figure(table_i: pd.DataFrame, title: str = ""):
    """Table I as bars: accuracy with each block's DC or SC dropped, against the full model."""
    style()
    long = table_i[["drop DC", "drop SC"]].reset_index().melt(id_vars="block", var_name="dropped",
                                                             value_name="accuracy")
    fig, ax = plt.subplots(figsize=(11, 4))
    sns.barplot(data=long, x="block", y="accuracy", hue="dropped", ax=ax)
    ax.axhline(table_i["full model"].iloc[0], color="k", ls="--", lw=1, label="full model")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(fontsize=8)
    return finish(fig, title, ax)


def pair_heatmap_figure(matrix: pd.DataFrame, threshold: float = 80.0, title: str = ""):
    """Accuracy of every pair of DC drops; cells at or above ``threshold`` are outlined."""
    style()
    fig, ax = plt.subplots(figsize=(9, 7.5))
    sns.heatmap(matrix, annot=True, fmt=".0f", cmap="viridis", ax=ax, annot_kws={"size": 7},
                cbar_kws={"label": "test accuracy (%)"})
    for a in range(len(matrix)):
        for b in range(len(matrix)):
            if matrix.iloc[a, b] >= threshold:
                ax.add_patch(plt.Rectangle((b, a), 1, 1, fill=False, edgecolor="red", lw=1.5))
    ax.set_title(title or f"DC drops of two blocks (diagonal: one); red: ≥ {threshold:g} %")
    fig.tight_layout()
    return fig


def accuracy_vs_savings_figure(tables: dict[str, pd.DataFrame], title: str = ""):
    """Every DC configuration of each model: test accuracy against the multiplications it saves (trained
    input size), by how many blocks it drops; the full model is the point at 0 %."""
    style()
    rows = []
    for model, t in tables.items():
        dc = t[t["kind"].isin(["dc", "none"])]
        rows.append(dc.assign(model=model, blocks=dc["n_dropped"].clip(upper=5).map(
            lambda k: "5+" if k >= 5 else str(k))))
    data = pd.concat(rows, ignore_index=True)
    fig, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 4.2), sharey=True, squeeze=False)
    for ax, model in zip(axes.flat, tables):
        sns.scatterplot(data=data[data.model == model], x="macs_saved_pct_trained", y="accuracy", hue="blocks",
                        hue_order=["0", "1", "2", "3", "4", "5+"], palette="viridis", s=22, ax=ax, legend=ax is axes.flat[0])
        full = float(tables[model].loc[tables[model]["kind"] == "none", "accuracy"].iloc[0])
        ax.axhline(full - 3, color="k", ls=":", lw=1)
        ax.set_xlabel("multiplications saved (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{model} (dotted: full − 3 pt)", fontsize=10)
    return finish(fig, title)


# ---------------------------------------------------------------------------- evaluation sweeps (04-07)


def sweep_figure(runs: pd.DataFrame, x: str, metrics=("accuracy_pct", "latency_s", "shared_mb", "gmacs", "energy_j"),
                 hue: str | None = None, xlabel: str | None = None, title: str = "", order=None):
    """One panel per metric (the paper's a, b, c, ...) against the swept setting ``x``: the mean over
    seeds with a band of ± one standard deviation (``runs`` has one row per point × seed)."""
    style()
    n = len(metrics)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    data = runs.copy()
    order = order or list(dict.fromkeys(data[x]))
    data["_x"] = data[x].map({v: i for i, v in enumerate(order)})
    for ax, metric, letter in zip(axes.flat, metrics, "abcdefghi"):
        sns.lineplot(data=data, x="_x", y=metric, hue=hue, errorbar="sd", marker="o", ax=ax,
                     palette="colorblind" if hue else None, legend=bool(hue) and ax is axes.flat[0])
        ax.set_xticks(range(len(order)), [str(v) for v in order])
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(SWEEP_METRICS.get(metric, metric))
        ax.set_title(f"({letter})", loc="left", fontsize=10)
        if metric in ("accuracy_pct", "served_fraction"):
            _percent_axis(ax, 100.0 if metric == "accuracy_pct" else 1.0)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return finish(fig, f"{title}\nlines: mean over seeds; bands: ± 1 sd over seeds" if title else
                   "lines: mean over seeds; bands: ± 1 sd over seeds")


# ---------------------------------------------------------------------------- the runtime (08)
def latency_scatter_figure(requests: pd.DataFrame, title: str = ""):
    """Measured against modelled latency per answered request (one marker per run), with the identity line
    and, where given, the queue-aware estimate (open markers)."""
    style()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    done = requests[requests["status"] == "answered"]
    sns.scatterplot(data=done, x="latency_model_s", y="latency_s", hue="run", style="run", s=60, ax=ax)
    if "latency_queued_s" in done:
        q = done.dropna(subset=["latency_queued_s"])
        ax.scatter(q["latency_queued_s"], q["latency_s"], facecolors="none", edgecolors="0.3", s=90,
                   label="queue-aware estimate (x)")
    hi = float(max(done["latency_s"].max(), done["latency_model_s"].max())) * 1.08 if len(done) else 1.0
    ax.plot([0, hi], [0, hi], color="0.4", lw=1, ls="--", label="measured = modelled")
    ax.set(xlim=(0, hi), ylim=(0, hi), xlabel="modelled latency, Eqs 7-11 (s)", ylabel="measured latency (s)")
    ax.legend(fontsize=8)
    return finish(fig, title)


def timeline_figure(hops: pd.DataFrame, n_devices: int, failures: list[dict], title: str = "", lost=()):
    """A Gantt chart per device: receiving (light) and computing (dark, the request's number), work lost
    with a failed device (hatched), its row struck out from its failure, the detection and re-plan marked."""
    style()
    fig, ax = plt.subplots(figsize=(9, 0.45 * n_devices + 1.6))
    for h in lost:
        ax.barh(h["device"], max(h["end"] - h["start"], 0.0), left=h["start"], height=0.7, color="none",
                edgecolor="red", hatch="///", lw=0.5)
    colors = sns.color_palette("colorblind", max(int(hops["request"].max()) + 1 if len(hops) else 1, 1))
    for h in hops.itertuples():
        c = colors[h.request % len(colors)]
        if h.transfer_s > 0:
            ax.barh(h.device, h.transfer_s, left=h.arrive + h.link_wait_s, height=0.35, color=c, alpha=0.35)
        start = h.end - h.compute_s
        ax.barh(h.device, h.compute_s, left=start, height=0.7, color=c, edgecolor="0.2", lw=0.5)
        if h.compute_s > 0.04 * max(hops["end"].max(), 1e-9):
            ax.text(start + h.compute_s / 2, h.device, str(h.request), ha="center", va="center", fontsize=7)
    for f in failures:
        ax.plot([f["at_s"], ax.get_xlim()[1]], [f["device"], f["device"]], color="red", lw=2.5)
        ax.plot(f["at_s"], f["device"], "x", color="red", ms=10, mew=2.5)
        ax.axvline(f["detected_s"], color="red", ls=":", lw=1)
        ax.axvline(f["replanned_s"], color="black", ls="--", lw=1)
    if failures:
        handles = [Line2D([], [], marker="x", ls="none", color="red", ms=8, mew=2, label="device killed"),
                   Line2D([], [], color="red", lw=2.5, label="device dead from then on"),
                   Patch(facecolor="none", edgecolor="red", hatch="///", label="work lost with it"),
                   Line2D([], [], ls=":", color="red", label="failure detected"),
                   Line2D([], [], ls="--", color="black", label="re-planned")]
        ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.set_yticks(range(n_devices))
    ax.set(xlabel="time into the step (s)", ylabel="device", ylim=(n_devices - 0.5, -0.5))
    return finish(fig, title)


def bytes_figure(requests: pd.DataFrame, title: str = ""):
    """Bytes each answered request sent, measured against modelled (Eqs 10-11's data)."""
    style()
    done = requests[requests["status"] == "answered"]
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    sns.scatterplot(data=done, x="bytes_model", y="bytes_sent", hue="run", style="run", s=60, ax=ax)
    hi = float(max(done["bytes_sent"].max(), done["bytes_model"].max(), 1.0)) * 1.08 if len(done) else 1.0
    ax.plot([0, hi], [0, hi], color="0.4", lw=1, ls="--")
    ax.set(xlim=(-hi * 0.02, hi), ylim=(-hi * 0.02, hi), xlabel="modelled bytes sent", ylabel="measured bytes sent")
    return finish(fig, title)


def failure_sweep_figure(sweep: pd.DataFrame, title: str = ""):
    """Per number of devices killed: requests answered / unserved / lost, accuracy, latency."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    g = sweep.groupby("killed")[["answered", "unserved", "failed", "lost"]].sum()
    g.plot.bar(stacked=True, ax=axes[0], color=["tab:green", "tab:orange", "tab:purple", "tab:red"], rot=0)
    axes[0].set(xlabel="devices killed", ylabel="requests (all seeds)")
    sns.pointplot(data=sweep, x="killed", y="accuracy_pct", errorbar="sd", ax=axes[1])
    axes[1].set(xlabel="devices killed", ylabel="accuracy of answered (%)")
    _percent_axis(axes[1])
    m = sweep.rename(columns={"latency_s": "measured", "latency_model_s": "modelled (the plan)"}).melt(
        id_vars=["killed"], value_vars=["measured", "modelled (the plan)"], var_name="", value_name="s")
    sns.pointplot(data=m, x="killed", y="s", hue="", errorbar="sd", ax=axes[2])
    axes[2].set(xlabel="devices killed", ylabel="mean latency of answered (s)")
    for ax, letter in zip(axes, "abc"):
        ax.set_title(f"({letter})", loc="left", fontsize=10)
    return finish(fig, title)
