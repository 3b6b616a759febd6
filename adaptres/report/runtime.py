"""Notebook 08: plans executed on Ray — measured against modelled, a device killed, a failure sweep.

``run(profile)`` starts one actor per device (the profile's ``runtime`` settings), plans a §V-A
step with the profile's solver and executes it three times: one request at a time (``exclusive``:
the paper's model, which has no queues, should hold), all at once (``concurrent``: requests that
share a device queue), and all at once with the plan's busiest device killed. It checks every
answer against the monolithic model with the same drops, runs the failure sweep, saves the
figures and the per-request tables with their provenance.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import dataclass, field

import pandas as pd
import torch

from .. import cluster, solvers
from ..experiments import profiles, trials
from ..io import file_hash, provenance, write_table
from ..paths import results_path
from ..problem.plan import Plan
from ..problem.scenario import Scenario
from ..runtime import routes as R
from ..runtime.cluster import Cluster
from ..runtime.options import ExecutionOptions
from . import plots


@dataclass
class RuntimeRun:
    profile: str
    settings: profiles.Runtime
    scenario: Scenario
    plan: Plan
    runs: dict  # "exclusive", "concurrent", "failure" -> the run's record
    requests: pd.DataFrame  # one row per (run, request)
    sweep: pd.DataFrame
    monolithic: dict  # answered requests checked / equal to the monolithic model
    provenance: dict
    figures: dict = field(default_factory=dict)  # name -> plots.Saved: latency, timeline, bytes, failures

    def summary(self) -> dict:
        """The runtime's targets, measured."""
        r = self.requests[self.requests["status"] == "answered"]
        ex, co = r[r["run"] == "exclusive"], r[r["run"] == "concurrent"]
        err = (ex["latency_s"] - ex["latency_model_s"]) / ex["latency_model_s"]
        qerr = (co["latency_s"] - co["latency_queued_s"]) / co["latency_queued_s"]
        f = self.runs["failure"]["failures"]
        by = self.requests[(self.requests["bytes_model"] > 0) & (self.requests["run"] != "failure")]
        return {
            "exclusive_latency_error_median_pct": round(100 * float(err.median()), 2) if len(err) else None,
            "exclusive_latency_abs_error_median_pct": round(100 * float(err.abs().median()), 2) if len(err) else None,
            "bytes_error_max_pct": round(100 * float(((by["bytes_sent"] - by["bytes_model"]).abs()
                                                      / by["bytes_model"]).max()), 4) if len(by) else 0.0,
            "concurrent_queueing_excess_mean_s": round(float((co["latency_s"] - co["latency_model_s"]).mean()), 4),
            "concurrent_queue_s_mean": round(float(co["queue_s"].mean()), 4),
            "queue_aware_error_median_pct": round(100 * float(qerr.median()), 2) if len(qerr) else None,
            "failure_detect_s": round(f[0]["detected_s"] - f[0]["at_s"], 3) if f else None,
            "failure_replan_s": round(f[0]["replanned_s"] - f[0]["detected_s"], 3) if f else None,
            "sweep_lost": int(self.sweep["lost"].sum()), "sweep_runs": len(self.sweep),
            "sweep_detect_replan_max_s": round(float((self.sweep["detect_s"] + self.sweep["replan_s"]).max()), 3),
            "answers_equal_monolithic": f"{self.monolithic['equal']}/{self.monolithic['checked']}",
        }

    def pinned(self) -> pd.DataFrame:
        """What does not depend on timing: per run, the requests, how many ended exactly once (answered or
        unserved) and how many were lost; answered and bytes as modelled where no device failed (which
        requests a failure cuts off depends on where they are at that instant); whether every answer
        equals the monolithic model's. nbval checks these."""
        rows = []
        for name, g in self.requests.groupby("run", sort=False):
            done = g[g["status"] == "answered"]
            ended = int(g["status"].isin(["answered", "unserved", "failed"]).sum())
            rows.append({"run": name, "requests": len(g), "ended_once": ended, "lost": len(g) - ended,
                         "answered": len(done) if name != "failure" else None,
                         "bytes_as_modelled": bool((done["bytes_sent"] == done["bytes_model"]).all())
                         if name != "failure" else None})
        ended = int(self.sweep["answered"].sum() + self.sweep["unserved"].sum() + self.sweep["failed"].sum())
        rows.append({"run": "failure sweep", "requests": int(self.sweep["requests"].sum()), "ended_once": ended,
                     "lost": int(self.sweep["lost"].sum()), "answered": None, "bytes_as_modelled": None})
        out = pd.DataFrame(rows)
        out["answered"] = out["answered"].astype("Int64")
        out["answers_equal_monolithic"] = self.monolithic["equal"] == self.monolithic["checked"]
        return out


def routes_table(sc: Scenario, plan: Plan) -> pd.DataFrame:
    """The plan as the runtime executes it: per request, its source, drops, segments and modelled latency."""
    rows = []
    for r, rt in enumerate(R.routes(sc, plan)):
        rows.append({"request": r, "source": sc.requests[r].source, "served": rt is not None,
                     "blocks_dropped": len(rt.dropped) if rt else None,
                     "accuracy_table_pct": sc.configs[rt.config].accuracy if rt else None,
                     "segments": " → ".join(f"{s.device}[{sc.unit_names[s.start]}..{sc.unit_names[s.stop - 1]}]"
                                            for s in rt.segments) if rt else "",
                     "latency_model_s": rt.latency_s if rt else None, "bytes_model": rt.bytes if rt else None})
    return pd.DataFrame(rows)


def settings(profile: str, **overrides) -> profiles.Runtime:
    """The profile's runtime settings with the ``overrides`` that are not None."""
    S = profiles.get(profile).runtime
    names = [f.name for f in dataclasses.fields(S)]
    for k in overrides:
        if k not in names:
            raise ValueError(f"{k}: not a runtime setting (expected one of {', '.join(names)})")
    return dataclasses.replace(S, **{k: v for k, v in overrides.items() if v is not None})


def _monolithic(model, recipe, runs: dict, seed: int, n: int) -> dict:
    x, _, _ = trials.images(recipe, n, seed)
    checked = equal = 0
    with torch.inference_mode():
        for run in runs.values():
            for q in run["requests"]:
                if q["status"] == "answered":
                    ref = model(x[q["request"]], drop_dc=q["dropped"])[0]
                    checked += 1
                    equal += int(int(ref.argmax()) == q["prediction"]
                                 and torch.allclose(torch.tensor(q["logits"]), ref, atol=1e-4))
    return {"checked": checked, "equal": equal}


def run(profile: str = "fast", progress: bool = True, **overrides) -> RuntimeRun:
    """Everything notebook 08 shows (see the module's docstring)."""
    S = settings(profile, **overrides)
    model, recipe = trials.load_model()
    sc = trials.scenario(S.n_devices, S.n_requests, S.seed, S.speed)
    plan = solvers.solve(sc, S.method)
    with cluster.scoped():  # the runtime's Ray, if it started it, ends here (a kernel is killed, not exited)
        cl = Cluster(model, sc.n_devices)
        try:
            opts = ExecutionOptions(method=S.method)
            alone = ExecutionOptions(method=S.method, exclusive=True)
            runs = {"exclusive": trials.run_step(cl, recipe, sc, plan, S.seed, (), alone),
                    "concurrent": trials.run_step(cl, recipe, sc, plan, S.seed, (), opts)}
            seeds = [S.seed] + [s for s in S.seeds if s != S.seed]  # the sweep's first run: this step
            sweep, swept = trials.failure_sweep(cl, recipe, S.kills, seeds, S.n_devices, S.n_requests, S.at_s,
                                               S.method, S.speed, progress=progress)
            one = min((k for k in S.kills if k > 0), default=None)
            runs["failure"] = swept[S.seed, one] if one is not None else trials.run_step(
                cl, recipe, sc, plan, S.seed, trials.pick_failures(sc, plan, 1, S.seed, S.at_s), opts)
        finally:
            cl.close()
    tables = []
    for name, r in runs.items():
        tables.append(trials.requests_table(r, sc, plan if name != "failure" else None).assign(run=name))
    requests = pd.concat(tables, ignore_index=True)
    prov = provenance(profile=profile, model=str(profiles.outputs(trials.PROFILE, "dropaware")["weights"].name),
                      model_sha256=file_hash(profiles.outputs(trials.PROFILE, "dropaware")["weights"]),
                      device=f"Ray on one {platform.machine()} host ({os.cpu_count()} CPUs), one actor process per device "
                             f"(1 torch thread), devices emulated (speed x{S.speed:g})", **dataclasses.asdict(S))
    res = RuntimeRun(profile, S, sc, plan, runs, requests, sweep, _monolithic(model, recipe, runs, S.seed, len(sc.requests)),
                     prov)
    write_table(requests.drop(columns=["reason"]), results_path("08_runtime_requests", profile), prov, float_format="%.6g")
    write_table(sweep, results_path("08_runtime_failures", profile), prov, float_format="%.6g")
    res.figures = _figures(res)
    return res


def _figures(res: RuntimeRun) -> dict:
    """The runtime's figures, by name: latency, timeline, bytes, failures."""
    out = {}
    n = res.scenario.n_devices
    figs = [
        ("runtime_latency", plots.latency_scatter_figure(res.requests, f"Measured vs modelled latency (N = {n})")),
        ("runtime_timeline", plots.timeline_figure(trials.hops_table(res.runs["failure"]), n, res.runs["failure"]["failures"],
                                                   "One step with a device killed",
                                                   [h for q in res.runs["failure"]["requests"] for h in q["lost_hops"]])),
        ("runtime_bytes", plots.bytes_figure(res.requests, "Bytes sent: measured vs modelled")),
        ("runtime_failures", plots.failure_sweep_figure(res.sweep, f"Failure sweep (N = {n}, seeds {list(res.settings.seeds)})")),
    ]
    for name, fig in figs:
        out[name.removeprefix("runtime_")] = plots.save_figure(fig, name, res.profile)
        plots.plt.close(fig)
    return out

