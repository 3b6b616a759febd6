"""Notebook 12's figures: the four policies against the offered rate (simulated lines, live stars), the
planner's prediction against the measured latency, a device killed under load, the largest goodput that
keeps the promise for each N (``under_load.LoadStudy``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from ..serving import metrics
from ..serving.policies import POLICIES
from . import plots


def figures(res) -> dict:
    """Every figure of notebook 12 (``under_load.LoadStudy``), saved through ``plots``; name -> path."""
    plots.style()
    figs = {}
    L = res.settings
    d = res.sweep[res.sweep["n_devices"] == L.n_devices]
    panels = (("slo_attainment", "SLO attainment"), ("p99_s", "p99 latency (s)"),
              ("goodput_rps", "goodput (answers within the SLO / s)"), ("mean_accuracy", "accuracy of the answered (%)"))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, (col, label) in zip(axes.flat, panels):
        sns.lineplot(data=d, x="rate", y=col, hue="policy", hue_order=list(POLICIES), marker="o", errorbar="sd",
                     ax=ax, palette="colorblind", legend=ax is axes.flat[0])
        if len(res.live):
            colours = dict(zip(POLICIES, sns.color_palette("colorblind")))
            for p, g in res.live.groupby("policy"):
                ax.scatter(g["rate"], g[col], marker="*", s=140, color=colours[p], edgecolor="k", zorder=5)
        if res.c_static is not None:
            for f in (1, 2):
                ax.axvline(f * res.rate_of(res.c_static), color="0.5", ls=":", lw=1)
        ax.set_xlabel("offered rate (requests / s)")
        ax.set_ylabel(label)
    axes.flat[1].axhline(res.slo_s, color="tab:red", ls="--", lw=1)
    axes.flat[1].set_yscale("log")
    plots.finish(fig, f"Serving under load (N = {L.n_devices}): lines simulated (mean ± sd over seeds), stars live "
                       f"({res.where}); dotted: C_static and 2 × C_static; dashed: the SLO ({res.slo_s:.2f} s)")
    figs["sweep"] = plots.save_figure(fig, "load_sweep", res.profile)
    plt.close(fig)
    figs.update(_prediction_figure(res))
    figs.update(_failure_figure(res))
    g = res.largest_goodput().reset_index().melt(id_vars="policy", var_name="N", value_name="goodput")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.barplot(data=g.fillna(0), x="N", y="goodput", hue="policy", hue_order=list(POLICIES), palette="colorblind", ax=ax)
    ax.set_ylabel("largest goodput at ≥ 99 % attainment (/s)")
    plots.finish(fig, "The promise kept: the largest goodput at ≥ 99 % SLO attainment (simulated)")
    figs["devices"] = plots.save_figure(fig, "load_devices", res.profile)
    plt.close(fig)
    return figs


def _prediction_figure(res) -> dict:
    q = res.live_requests
    if not len(q):
        return {}
    q = q[q["status"] == "answered"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    sns.scatterplot(data=q, x="predicted_latency_s", y="latency_s", hue="policy", hue_order=list(POLICIES),
                    style="of_c_static", palette="colorblind", s=14, ax=a1)
    hi = float(q["latency_s"].max()) * 1.05
    a1.plot([0, hi], [0, hi], "k:", lw=1)
    a1.set_xlabel("predicted at planning (s)")
    a1.set_ylabel("measured, arrival to answer (s)")
    a1.set_title("per answered request, live", loc="left", fontsize=10)
    live = res.live.melt(id_vars=["policy", "of_c_static"], value_vars=["slo_attainment", "sim_slo_attainment"],
                         var_name="executor", value_name="attainment")
    live["executor"] = live["executor"].map({"slo_attainment": "live", "sim_slo_attainment": "simulated"})
    live["run"] = live["policy"] + " @ " + live["of_c_static"].map(lambda f: f"{f:g}×C")
    sns.barplot(data=live, x="run", y="attainment", hue="executor", ax=a2)
    a2.tick_params(axis="x", rotation=60)
    a2.set_xlabel("")
    a2.set_title("SLO attainment: live against the simulated queues", loc="left", fontsize=10)
    plots.finish(fig, "The planner's model of the queues against the devices")
    out = {"prediction": plots.save_figure(fig, "load_prediction", res.profile)}
    plt.close(fig)
    return out


def _failure_figure(res) -> dict:
    f = res.failure.get("kill")
    if not f:
        return {}
    fig, ax = plt.subplots(figsize=(10, 4))
    for name, t, style in (("live", f["live"], "-"), ("simulated", f["sim"], "--")):
        ot = metrics.attainment_over_time(t)
        ax.plot(ot["epoch"] * res.settings.epoch_s, ot["attainment"], style, marker="o", ms=3, label=name)
    ax.axvline(f["at_s"], color="tab:red", lw=1)
    ax.annotate(f"device(s) {', '.join(k.split('@')[0] for k in res.settings.kill)} killed", (f["at_s"], 0.05),
                color="tab:red", fontsize=8)
    ax.set_xlabel("epoch start (s)")
    ax.set_ylabel("SLO attainment of the epoch's requests")
    ax.set_ylim(-0.02, 1.05)
    ax.legend()
    plots.finish(fig, f"A device killed under load (adaptive, {res.settings.kill_load:g} × C_static)")
    out = {"failure": plots.save_figure(fig, "load_failure", res.profile)}
    plt.close(fig)
    return out
