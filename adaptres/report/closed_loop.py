"""Notebook 09: the adaptive system live on the network test bed, against the simulator.

``run(profile)`` brings the test bed up once (``adaptres.testbed``; without root or iproute2 it says so
and runs on one host, links paced to the model), then runs ``serve`` — the closed loop — as the
command line does (the driver re-executed inside the test bed's hub): one horizon per seed of the
profile's ``live`` settings, one request at a time, beside ``sim.run`` with the same seeds (the same
arrivals, sources and rates); then one horizon with a device killed and a link cut, requests all at
once. It samples the memory (PSS) of every process of the test bed while the first horizon runs,
fits the per-transfer overhead the model misses (``link_overhead_s``), takes the test bed down and
counts what is left, and saves tables and figures.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import testbed
from ..experiments import profiles
from ..experiments import serve as live
from ..io import provenance, write_table
from ..paths import REPO, results_path, run_dir
from ..testbed.memory import Sampler
from . import lanes, plots

COMPARED = {"served": "requests served", "mean_accuracy": "accuracy of served (%)", "mean_latency_s":
            "latency per request (s)", "energy_j": "energy per step (J)", "shared_bytes": "shared data per step (bytes)",
            "battery_total_j": "batteries, all devices (J)"}
# the live columns that stand for the simulator's (measured, or the plan's when nothing measures it)
LIVE_OF = {"served": "answered", "mean_accuracy": "measured_accuracy", "mean_latency_s": "measured_latency_s",
           "energy_j": "measured_energy_j", "shared_bytes": "bytes_sent", "battery_total_j": "battery_total_j"}


@dataclass
class LiveRun:
    profile: str
    settings: profiles.Live
    where: str  # "netns" or "local"
    why_local: str | None
    rows: pd.DataFrame  # live, one row per (seed, step)
    sim: pd.DataFrame  # simulated, the same seeds
    requests: pd.DataFrame  # live, one row per request
    failure: dict  # the failure horizon: rows, requests, events
    memory: pd.DataFrame  # peak PSS per process kind
    testbed_times: dict  # up / down seconds, what was left
    provenance: dict
    figures: dict = field(default_factory=dict)

    def calibration(self) -> dict:
        """The per-transfer overhead the model misses, fitted on the answered requests that ran alone:
        measured − modelled latency = ``link_overhead_s`` × transfers (least squares); the transfers'
        own fit (measured = a + b × modelled) beside it; the median |error| before and after."""
        q = self.requests[(self.requests["status"] == "answered") & self.requests["latency_model_s"].notna()]
        if not len(q):
            return {"requests": 0}
        n, res = q["transfers"].to_numpy(float), (q["latency_s"] - q["latency_model_s"]).to_numpy(float)
        o = float(max(0.0, (n * res).sum() / (n * n).sum())) if (n * n).sum() else 0.0
        before = (q["latency_s"] - q["latency_model_s"]) / q["latency_model_s"]
        after_model = q["latency_model_s"] + o * q["transfers"]
        after = (q["latency_s"] - after_model) / after_model
        hops = hop_table(self.requests)
        fit = np.polyfit(hops["transfer_model_s"], hops["transfer_s"], 1) if len(hops) > 1 else [np.nan, np.nan]
        return {"requests": len(q), "link_overhead_s": round(o, 5),
                "median_abs_error_before_pct": round(100 * float(before.abs().median()), 2),
                "median_abs_error_after_pct": round(100 * float(after.abs().median()), 2),
                "median_error_before_pct": round(100 * float(before.median()), 2),
                "transfers": len(hops), "transfer_fit_factor": round(float(fit[0]), 4),
                "transfer_fit_fixed_s": round(float(fit[1]), 5),
                "transfer_median_error_pct": round(100 * float(((hops["transfer_s"] - hops["transfer_model_s"])
                                                                / hops["transfer_model_s"]).median()), 2)
                if len(hops) else None}

    def comparison(self) -> pd.DataFrame:
        """Live against simulated over the horizon, per seed: requests, served, accuracy, latency,
        energy, batteries at the end (relative differences where they apply)."""
        out = []
        for seed, g in self.rows.groupby("seed"):
            s = self.sim[self.sim["seed"] == seed]
            served_l, served_s = int(g["answered"].sum()), int(s["served"].sum())
            lat_l = float((g["measured_latency_s"].fillna(0) * g["answered"]).sum() / max(served_l, 1))
            lat_s = float((s["mean_latency_s"].fillna(0) * s["served"]).sum() / max(served_s, 1))
            acc_l = float((g["measured_accuracy"].fillna(0) * g["answered"]).sum() / max(served_l, 1))
            acc_s = float((s["mean_accuracy"].fillna(0) * s["served"]).sum() / max(served_s, 1))
            end_l, end_s = float(g["battery_after_j"].iloc[-1]), _battery_after(s)
            out.append({"seed": seed, "steps": len(g), "requests": int(g["n_requests"].sum()),
                        "requests_sim": int(s["n_requests"].sum()), "served_live": served_l, "served_sim": served_s,
                        "served_diff_pct": _pct(served_l, served_s), "accuracy_live": round(acc_l, 3),
                        "accuracy_sim": round(acc_s, 3), "accuracy_diff_pt": round(acc_l - acc_s, 3),
                        "latency_live_s": round(lat_l, 4), "latency_sim_s": round(lat_s, 4),
                        "latency_diff_pct": _pct(lat_l, lat_s), "battery_end_live_j": round(end_l, 2),
                        "battery_end_sim_j": round(end_s, 2), "battery_diff_pct": _pct(end_l, end_s),
                        "crossing_share": round(float(g["crossing_answered"].sum() / max(served_l, 1)), 3),
                        "lost": int(g["lost"].sum())})
        return pd.DataFrame(out)

    def summary(self) -> dict:
        c = self.comparison()
        f = self.failure
        ev = f["events"]
        found = [e for e in ev if e["kind"] in ("device", "link")]
        return {"where": self.where, "devices": self.settings.n_devices, "seeds": len(c),
                "steps": self.settings.steps, **{f"testbed_{k}": v for k, v in self.testbed_times.items()},
                "served_diff_pct_max": float(c["served_diff_pct"].abs().max()) if len(c) else None,
                "accuracy_diff_pt_max": float(c["accuracy_diff_pt"].abs().max()) if len(c) else None,
                "latency_diff_pct_mean": round(float(c["latency_diff_pct"].mean()), 2) if len(c) else None,
                "battery_diff_pct_max": float(c["battery_diff_pct"].abs().max()) if len(c) else None,
                "crossing_share": round(float(c["crossing_share"].mean()), 3) if len(c) else None,
                **{f"calibration_{k}": v for k, v in self.calibration().items()},
                "failure_lost": int(f["rows"]["lost"].sum()),
                "failures_detected": len(found),
                "detect_replan_max_s": round(max((e["replanned_s"] - _since(e, ev) for e in found),
                                                 default=float("nan")), 3),
                "memory_pss_total_gb": round(float(self.memory["pss_gb"].sum()), 2) if len(self.memory) else None}

    def pinned(self) -> pd.DataFrame:
        """What does not depend on timing nor on where it ran (the test bed or one host): per horizon,
        steps and requests (the seed's draws), requests that ended once, lost. nbval checks these."""
        rows = [{"horizon": f"seed {seed}", "steps": len(g), "requests": int(g["n_requests"].sum()),
                 "ended_once": int((g["answered"] + g["unserved"] + g["failed"]).sum()), "lost": int(g["lost"].sum())}
                for seed, g in self.rows.groupby("seed")]
        fr = self.failure["rows"]
        if len(fr):
            rows.append({"horizon": "failures", "steps": len(fr), "requests": int(fr["n_requests"].sum()),
                         "ended_once": int((fr["answered"] + fr["unserved"] + fr["failed"]).sum()),
                         "lost": int(fr["lost"].sum())})
        return pd.DataFrame(rows)


def _since(e: dict, events: list) -> float:
    """When failure ``e`` began, in seconds into its step: a kill's time; for a link found cut, the cut's
    time when it was cut in that step, else when the transfer that found it began."""
    if e["kind"] == "device":
        return float(e["at_s"] or 0.0)
    cut = [c["at_s"] for c in events if c["kind"] == "cut" and c["step"] == e["step"] and c["link"] == e["link"]]
    return max(cut + [e["stuck_since_s"]]) if cut else float(e["stuck_since_s"])


def _pct(a: float, b: float) -> float:
    return round(100 * (a - b) / b, 2) if b else (0.0 if a == b else float("inf"))


def _battery_after(sim_rows: pd.DataFrame) -> float:
    last = sim_rows.iloc[-1]
    return float(last["battery_total_j"] - last["energy_j"]) if len(sim_rows) else float("nan")


def hop_table(requests: pd.DataFrame) -> pd.DataFrame:
    """Every transfer between devices of the answered requests: bytes, rate, measured and modelled seconds."""
    rows = [{"step": q.step, "request": q.request, **h} for q in requests.itertuples()
            if q.status == "answered" for h in q.hops if h["src"] != h["device"] and h["transfer_model_s"]]
    return pd.DataFrame(rows, columns=["step", "request", "src", "device", "bytes", "rate_mbps", "transfer_s",
                                       "transfer_model_s"])


# ---------------------------------------------------------------------------- running
def _serve(out: Path, st: profiles.Live, seed: int, steps: int, where: str, extra=()) -> dict:
    argv = [sys.executable, "-m", "adaptres", "serve", "--section", st.section, "--devices", str(st.n_devices),
            "--steps", str(steps), "--seed", str(seed), "--testbed", where, "--method", st.method, "--out", str(out),
            *extra]
    p = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if p.returncode:
        tail = [line for line in p.stderr.splitlines() if line.strip()][-3:]
        raise RuntimeError(f"serve (seed {seed}) ended with status {p.returncode}: {' '.join(tail)[:500]}")
    rows = pd.read_csv(out, comment="#")
    recs = json.loads(out.with_suffix(".json").read_text())
    return {"rows": rows, "requests": recs["requests"], "events": recs["events"]}


def run(profile: str, seeds=None, steps: int | None = None, progress: bool = True) -> LiveRun:
    from ..progress import bar
    S = profiles.get(profile).live
    seeds = list(seeds if seeds is not None else S.seeds)
    steps = int(steps or S.steps)
    why = testbed.available()
    where = "netns" if why is None else "local"
    out_dir = run_dir(profile) / "live"
    out_dir.mkdir(parents=True, exist_ok=True)
    times: dict = {}
    bed = testbed.held(S.n_devices, times, clean=True) if where == "netns" else contextlib.nullcontext()
    sampler = Sampler(driver="serve")
    frames, reqs = [], []
    # the simulator's horizons in a process of their own beside the live ones, whose devices mostly wait
    with bed, lanes.beside(simulated, S.section, S.n_devices, steps, seeds, S.method) as twins:
        try:
            for k, seed in enumerate(bar(seeds, desc="live horizons", progress=progress)):
                if k == 0 and where == "netns":
                    sampler.start()
                res = _serve(out_dir / f"seed{seed}.csv", S, seed, steps, where, ["--exclusive"])
                if k == 0:
                    sampler.stop.set()
                frames.append(res["rows"].assign(seed=seed))
                reqs += [{**q, "seed": seed, "transfers": sum(h["src"] != h["device"] for h in q["hops"])}
                         for q in res["requests"]]
            extra = [a for f in S.fail for a in ("--fail", f)] + \
                    ([a for c in S.cut for a in ("--cut", c)] if where == "netns" else [])
            failure = _serve(out_dir / "failures.csv", S, seeds[0], S.failure_steps, where, extra)
        finally:
            sampler.stop.set()
        sim = twins()
    memory = pd.DataFrame([{"kind": k, "pss_gb": round(v / 2**30, 3)} for k, v in sorted(sampler.peak.items())])
    rows = pd.concat(frames, ignore_index=True)
    requests = pd.DataFrame(reqs)
    prov = provenance(what="live closed loop against the simulator", profile=profile, where=where,
                      section=S.section, n_devices=S.n_devices, steps=steps, seeds=" ".join(map(str, seeds)),
                      method=S.method, fail=" ".join(S.fail), cut=" ".join(S.cut) if where == "netns" else "",
                      cpu=_cpu())
    res = LiveRun(profile, S, where, why, rows, sim, requests, failure, memory, times, prov)
    write_table(rows, results_path("09_live", profile), prov, float_format="%.9g")
    res.figures = _figures(res)
    return res


def simulated(section: str, n_devices: int, steps: int, seeds: list[int], method: str) -> pd.DataFrame:
    """The simulator over each seed's horizon (the live horizons' twins), one row per step and seed."""
    st = live.setting(section, n_devices)
    return pd.concat([live.simulate(st, steps, seed, method).assign(seed=seed) for seed in seeds], ignore_index=True)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


# ---------------------------------------------------------------------------- figures
def _figures(res: LiveRun) -> dict:
    import matplotlib.pyplot as plt
    plots.style()
    figs = {"horizon": _horizon_figure(res, plt), "calibration": _calibration_figure(res, plt)}
    if len(res.failure["rows"]):
        figs["failures"] = _failure_figure(res, plt)
    return figs


def _horizon_figure(res: LiveRun, plt):
    """Each compared metric per step, live against simulated."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (col, label) in zip(axes.flat, COMPARED.items()):
        for name, df, c, style in (("live", res.rows, LIVE_OF[col], "-"), ("simulated", res.sim, col, "--")):
            m = df.groupby("step")[c].mean()
            ax.plot(m.index, m.values, style, marker="o", ms=3, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    axes.flat[0].legend()
    plots.finish(fig, f"Live ({res.where}) against simulated · {res.settings.section}, N = {res.settings.n_devices}, "
                       f"{res.rows['seed'].nunique()} seed(s): lines are means over seeds")
    path = plots.save_figure(fig, "live_horizon", res.profile)
    plt.close(fig)
    return path


def _calibration_figure(res: LiveRun, plt):
    """Measured against modelled latency per request (with the fitted overhead) and per transfer."""
    q = res.requests[(res.requests["status"] == "answered") & res.requests["latency_model_s"].notna()]
    cal = res.calibration()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    if len(q):
        o = cal.get("link_overhead_s", 0.0)
        a1.scatter(q["latency_model_s"], q["latency_s"], s=12, label="the paper's model (Eqs 7-11)")
        a1.scatter(q["latency_model_s"] + o * q["transfers"], q["latency_s"], s=12, marker="x",
                   label=f"with link_overhead_s = {o * 1000:.1f} ms")
        hi = float(q["latency_s"].max()) * 1.05
        a1.plot([0, hi], [0, hi], "k:", lw=1)
        a1.set(xlabel="modelled latency (s)", ylabel="measured latency (s)", title="per request, one at a time")
        a1.legend()
    hops = hop_table(res.requests)
    if len(hops):
        a2.scatter(hops["transfer_model_s"], hops["transfer_s"], s=8, c=np.log10(hops["bytes"]), cmap="viridis")
        hi = float(hops["transfer_s"].max()) * 1.05
        a2.plot([0, hi], [0, hi], "k:", lw=1)
        a2.set(xlabel="modelled transfer, bytes / rate (s)", ylabel="measured transfer (s)",
               title="per transfer between devices (colour: log10 bytes)")
    plots.finish(fig, "Measured against modelled on the shaped links" if res.where == "netns"
                  else "Measured against modelled (links paced on one host)")
    path = plots.save_figure(fig, "live_calibration", res.profile)
    plt.close(fig)
    return path


def _failure_figure(res: LiveRun, plt):
    """The horizon with a device killed and a link cut: how each step's requests ended, the events marked."""
    fr = res.failure["rows"]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(fr["step"], fr["answered"], label="answered")
    ax.bar(fr["step"], fr["unserved"], bottom=fr["answered"], label="unserved", color="0.7")
    ax.bar(fr["step"], fr["failed"], bottom=fr["answered"] + fr["unserved"], label="failed", color="tab:red")
    for e in res.failure["events"]:
        x = e["step"] + min(0.45, (e.get("detected_s") or e.get("at_s") or 0.0) / 20)
        if e["kind"] == "cut":
            ax.axvline(e["step"] - 0.45, color="tab:purple", ls=":", lw=1)
            ax.annotate(f"cut {e['link'][0]}-{e['link'][1]}", (e["step"] - 0.45, ax.get_ylim()[1] * 0.9),
                        fontsize=8, color="tab:purple")
        else:
            what = f"device {e['device']} killed" if e["kind"] == "device" else f"link {e['link']} found cut"
            ax.axvline(x, color="tab:red" if e["kind"] == "device" else "tab:purple", lw=1)
            ax.annotate(f"{what}: detected {e['detected_s']:.2f} s, re-planned {e['replanned_s']:.2f} s",
                        (x, ax.get_ylim()[1] * 0.7), fontsize=7, rotation=90, va="top")
    ax.set_xlabel("step")
    ax.set_ylabel("requests")
    ax.legend(loc="lower left")
    plots.finish(fig, "A horizon with a device killed and a link cut (each request ends once)")
    path = plots.save_figure(fig, "live_failures", res.profile)
    plt.close(fig)
    return path
