"""Notebook 12: serving under sustained load — the four policies against the offered rate on the simulated
queues, then live on the network test bed (or one host): SLO attainment, p99, goodput and accuracy;
predicted against measured latency; a device killed under load; the largest goodput that keeps the
promise for each N; tables, figures, pinned counts and the note for the report."""

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
from ..experiments import load_test, profiles
from ..io import git_commit, read_table
from ..paths import REPO, relative, results_path, run_dir
from ..serving.policies import POLICIES
from ..testbed.memory import Sampler
from . import lanes, load_figures

FULL = "12_load_full"  # the full sweep's committed results (``bench load``): data/results/12_load_full_<profile>.csv


@dataclass
class LoadStudy:
    profile: str
    settings: profiles.Load
    reference: load_test.Reference
    sweep: pd.DataFrame  # simulated: one row per (policy, load, seed, N)
    c_static: float | None  # in units of the static chain's modelled capacity
    live: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per live run, the simulated twin beside
    live_requests: pd.DataFrame = field(default_factory=pd.DataFrame)  # every request of the live runs
    failure: dict = field(default_factory=dict)  # the kill runs: per-epoch attainment, events
    where: str = "none"
    why_not: str | None = None
    testbed_times: dict = field(default_factory=dict)
    memory: pd.DataFrame = field(default_factory=pd.DataFrame)
    full: pd.DataFrame | None = None
    full_meta: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    @property
    def rate_of(self):
        return lambda x: x * self.reference.capacity_rps

    def describe(self) -> str:
        L = self.settings
        return (f"profile {self.profile}: §{L.section} devices (N = {L.n_devices}, also {list(L.devices)} for the "
                f"largest goodput), table {L.table}; epochs of {L.epoch_s:g} s; SLO {L.slo_factor:g} × the static chain's "
                f"unloaded modelled latency = {self.slo_s:.2f} s; static chain: {len(self.reference.chain.stages)} stages, "
                f"bottleneck {self.reference.chain.bottleneck_s:.3f} s, modelled capacity "
                f"{self.reference.capacity_rps:.2f} requests/s; simulated runs of {L.duration_s:g} s, seeds "
                f"{list(L.seeds)}; live: {self.where}{f' ({self.why_not})' if self.why_not else ''}; commit {git_commit()}")

    @property
    def slo_s(self) -> float:
        return self.settings.slo_factor * self.reference.latency_s

    def table(self) -> pd.DataFrame:
        """Per policy and offered load (simulated, mean over seeds): the field's numbers."""
        cols = ["rate", "slo_attainment", "goodput_rps", "throughput_rps", "p50_s", "p99_s", "mean_accuracy",
                "refused", "energy_per_answer_j", "planner_s_mean", "max_backlog_s"]
        d = self.sweep[self.sweep["n_devices"] == self.settings.n_devices]
        return d.groupby(["policy", "load"])[cols].mean().round(3)

    def largest_goodput(self) -> pd.DataFrame:
        """Per policy and N: the largest goodput at ≥ 99 % SLO attainment (simulated)."""
        return load_test.largest_goodput(self.sweep).pivot(index="policy", columns="n_devices", values="goodput_rps")

    def pinned(self) -> pd.DataFrame:
        """What the seeds and the code decide (the simulated sweep at N, planner time fixed in the fast profile):
        per policy and load, the requests that arrived, and — for the policies whose planner has no time
        limit in play (adaptive's greedy, static, local) — those answered within the SLO and refused."""
        d = self.sweep[self.sweep["n_devices"] == self.settings.n_devices]
        g = d.groupby(["policy", "load"])
        out = pd.DataFrame({"arrived": g["arrived"].sum(), "lost": g["lost"].sum()})
        fixed = d[d["policy"] != "paper"].groupby(["policy", "load"])
        out["answered"] = fixed["answered"].sum()
        out["refused"] = fixed["refused"].sum()
        return out.fillna(-1).astype(int)

    def targets(self) -> pd.DataFrame:
        """Each target of the load study against what this run measured."""
        return targets(self)

    def note(self) -> dict:
        t = targets(self)
        out = {f"target: {r.target}": f"{'met' if r.met else 'not met' if r.met is False else 'no threshold'}: "
                                      f"{r.measured}" for r in t.itertuples()}
        return {**out, "c_static_rps": None if self.c_static is None else round(self.rate_of(self.c_static), 3),
                "where": self.where, **{f"testbed_{k}": v for k, v in self.testbed_times.items()},
                "commit": git_commit()}


# ---------------------------------------------------------------------------- running
def run(profile: str, live: bool | None = None, progress: bool = True) -> LoadStudy:
    """The simulated sweeps (saved and resumable), C_static from them, then the live runs (see the module);
    ``live`` None: the profile's choice. The static chain's sweep at N comes first (C_static, which sets the live
    rates, is read from it); the rest of the sweeps then run in a process of their own beside the live runs, whose
    devices mostly wait (out the modelled compute and link times)."""
    L = profiles.get(profile).load
    live = L.live if live is None else live
    ref = load_test.reference(load_test.setting(load_test.Spec(policy="static", load=1.0, profile=profile,
                                                               n_devices=L.n_devices)))
    static = load_test.sweep(profile, ("static",), L.loads, L.seeds, L.n_devices, L.duration_s,
                             out=results_path(f"12_load_sim_n{L.n_devices}", profile), progress=progress)
    res = LoadStudy(profile, L, ref, static, load_test.c_static(static))
    res.full, res.full_meta = _committed_full(profile)
    if live:
        with lanes.beside(sweeps, profile) as swept:
            _live(res, progress)
            res.sweep = swept()
    else:
        res.sweep = sweeps(profile, progress)
    res.figures = load_figures.figures(res)
    return res


def sweeps(profile: str, progress: bool = False) -> pd.DataFrame:
    """Every policy at every offered load, seed and N of the profile's load settings, on the simulated queues (what
    is saved already is read back)."""
    L = profiles.get(profile).load
    frames = [load_test.sweep(profile, POLICIES, L.loads, L.seeds, n, L.duration_s,
                              out=results_path(f"12_load_sim_n{n}", profile), progress=progress)
              for n in sorted({*L.devices, L.n_devices})]
    return pd.concat(frames, ignore_index=True)


def _committed_full(profile: str):
    path = REPO / "data" / "results" / f"{FULL}_{profile}.csv"
    if not path.is_file():
        return None, {}
    table, meta = read_table(path, required=("policy", "load", "slo_attainment"), what="full load sweep")
    return table, {**meta, "path": relative(path)}


def _cli(out: Path, spec: dict, where: str) -> dict:
    argv = [sys.executable, "-m", "adaptres", "load", "--executor", "live", "--out", str(out),
            *(["--testbed", where] if where == "netns" else [])]
    for k, v in spec.items():
        for x in (v if isinstance(v, (list, tuple)) else [v]):
            argv += [f"--{k}", str(x)]
    p = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if p.returncode:
        tail = [line for line in p.stderr.splitlines() if line.strip()][-3:]
        raise RuntimeError(f"load {spec} ended with status {p.returncode}: {' '.join(tail)[:500]}")
    return {"table": pd.read_csv(out, comment="#"), "summary": json.loads(out.with_suffix(".json").read_text())}


def _live(res: LoadStudy, progress: bool) -> None:
    from ..progress import bar
    L = res.settings
    why = testbed.available()
    res.where, res.why_not = ("netns", None) if why is None else ("local", why)
    out_dir = run_dir(res.profile) / "load"
    out_dir.mkdir(parents=True, exist_ok=True)
    c = res.c_static if res.c_static is not None else min(L.loads)
    base = {"profile": res.profile, "devices": L.n_devices, "duration": L.live_duration_s, "seed": L.seeds[0]}
    bed = testbed.held(L.n_devices, res.testbed_times, clean=True) if res.where == "netns" else contextlib.nullcontext()
    rows, reqs, sampler = [], [], Sampler(driver="load")
    with bed:
        try:
            todo = [(p, f) for f in L.live_loads for p in POLICIES]
            for p, f in bar(todo, desc="live load runs", progress=progress):
                heaviest = p == "adaptive" and f == max(L.live_loads)
                if heaviest and res.where == "netns":
                    sampler.start()
                spec = {**base, "policy": p, "load": round(f * c, 6)}
                got = _cli(out_dir / f"{p}_{f:g}.csv", spec, res.where)
                if heaviest:
                    sampler.stop.set()
                sim = load_test.run(_spec(spec))
                rows.append({"policy": p, "of_c_static": f, **_pick(got["summary"]), "sim_slo_attainment":
                             sim.summary["slo_attainment"], "sim_p99_s": sim.summary["p99_s"]})
                reqs.append(got["table"].assign(policy=p, of_c_static=f))
            for name, kills in (("kill", L.kill), ("kills", L.kills)):
                spec = {**base, "policy": "adaptive", "load": round(L.kill_load * c, 6), "fail": list(kills)}
                got = _cli(out_dir / f"{name}.csv", spec, res.where)
                sim = load_test.run(_spec(spec))
                res.failure[name] = {"live": got["table"], "sim": sim.table, "events": got["summary"].get("events", []),
                                     "summary": got["summary"], "at_s": min(_at(k) for k in kills)}
        finally:
            sampler.stop.set()
    res.live = pd.DataFrame(rows)
    res.live_requests = pd.concat(reqs, ignore_index=True) if reqs else pd.DataFrame()
    res.memory = pd.DataFrame([{"kind": k, "pss_gb": round(v / 2**30, 3)} for k, v in sorted(sampler.peak.items())])


def _at(spec: str) -> float:
    return float(spec.split("@")[1])


def _spec(cli: dict) -> load_test.Spec:
    return load_test.Spec(policy=cli["policy"], n_devices=cli["devices"], load=cli["load"], duration_s=cli["duration"],
                          seed=cli["seed"], profile=cli["profile"], fail=tuple(cli.get("fail", ())))


def _pick(summary: dict) -> dict:
    keys = ("rate", "arrived", "answered", "refused", "unserved", "failed", "lost", "slo_attainment", "goodput_rps",
            "p50_s", "p99_s", "mean_accuracy", "planner_s_mean", "planner_s_max", "behind_s", "max_backlog_s")
    return {k: summary.get(k) for k in keys}


# ---------------------------------------------------------------------------- measured against the targets
def prediction_error(res: LoadStudy, policy: str | None = None) -> dict:
    """|predicted − measured| / measured latency of the answered live requests at loads up to C_static (of one
    policy's runs, or of all)."""
    q = res.live_requests
    if not len(q):
        return {}
    q = q[(q["status"] == "answered") & (q["of_c_static"] <= 1.0)]
    if policy is not None:
        q = q[q["policy"] == policy]
    err = ((q["predicted_latency_s"] - q["latency_s"]).abs() / q["latency_s"]).dropna()
    return {"requests": len(err), "median": float(err.median()), "p95": float(err.quantile(0.95))} if len(err) else {}


def prediction_table(res: LoadStudy) -> pd.DataFrame:
    """Per policy: the prediction's error at loads up to C_static (live)."""
    return pd.DataFrame([{"policy": p, **prediction_error(res, p)} for p in POLICIES if prediction_error(res, p)])


def recovery(res: LoadStudy, name: str = "kill", epochs: int = 3) -> float | None:
    """The live SLO attainment over the ``epochs`` epochs after the first kill of run ``name``."""
    f = res.failure.get(name)
    if not f:
        return None
    t = f["live"]
    k = int(f["at_s"] // res.settings.epoch_s)
    after = t[(t["epoch"] > k) & (t["epoch"] <= k + epochs)]
    return float(after["within_slo"].mean()) if len(after) else None


def detection(res: LoadStudy, name: str = "kills") -> pd.DataFrame:
    """Per device killed: when it was killed, found and its requests re-planned (seconds into the run)."""
    f = res.failure.get(name)
    ev = [e for e in (f or {}).get("events", []) if e.get("kind") == "device"]
    return pd.DataFrame([{"device": e["device"], "killed_s": e.get("at_s"), "detected_s": e.get("detected_s"),
                          "replanned_s": e.get("replanned_s"), "requests_replanned": len(e.get("requests") or [])}
                         for e in ev])


def _live_row(res: LoadStudy, policy: str, f: float):
    d = res.live
    r = d[(d["policy"] == policy) & (d["of_c_static"] == f)] if len(d) else d
    return r.iloc[0] if len(r) else None


def targets(res: LoadStudy) -> pd.DataFrame:
    L, rows = res.settings, []
    c = res.c_static
    rate = res.rate_of

    def add(target, measured, met):
        rows.append({"target": target, "measured": measured, "met": met})
    add("C_static: the highest offered rate at which static answers ≥ 90 % within the SLO (simulated sweep)",
        f"{rate(c):.2f} requests/s ({c:g} × the chain's modelled capacity)" if c is not None else "static never ≥ 90 %",
        None)
    a1, a2 = _live_row(res, "adaptive", 1.0), _live_row(res, "adaptive", 2.0)
    th = float(res.sweep["accuracy_threshold"].iloc[0])
    if a1 is not None:
        add("at C_static: adaptive ≥ 99 % SLO attainment, accuracy ≥ A_th (live)",
            f"{100 * a1.slo_attainment:.1f} %, {a1.mean_accuracy:.2f} % (A_th {th:g} %)",
            bool(a1.slo_attainment >= 0.99 and a1.mean_accuracy >= th))
    if a2 is not None:
        others = "; ".join(f"{p} {100 * r.slo_attainment:.1f} %" for p in ("paper", "static", "local")
                           if (r := _live_row(res, p, 2.0)) is not None)
        add("at 2 × C_static: adaptive ≥ 95 % attainment, accuracy ≥ A_th, 0 lost (live)",
            f"{100 * a2.slo_attainment:.1f} %, {a2.mean_accuracy:.2f} %, {int(a2.lost)} lost; beside it: {others}",
            bool(a2.slo_attainment >= 0.95 and a2.mean_accuracy >= th and a2.lost == 0))
    g = res.largest_goodput()
    if L.n_devices in g.columns and {"adaptive", "static", "local"} <= set(g.index):
        ga, gs, gl = (g.loc[p, L.n_devices] for p in ("adaptive", "static", "local"))
        add(f"largest goodput at ≥ 99 % attainment (N = {L.n_devices}, simulated): adaptive ≥ 2 × static's and above "
            "local's", f"adaptive {ga:.2f}/s, static {gs:.2f}/s, local {gl:.2f}/s",
            bool(np.isfinite(ga) and ga >= 2 * np.nan_to_num(gs) and ga > np.nan_to_num(gl)))
    _live_targets(res, add)
    _failure_targets(res, add)
    return pd.DataFrame(rows)


def _live_targets(res: LoadStudy, add) -> None:
    """The targets on the live runs' latency model, planner and simulated twins."""
    L = res.settings
    e, every = prediction_error(res, "adaptive"), prediction_error(res)
    if e:
        add("queue-aware prediction at rates up to C_static (live): median |error| ≤ 10 %, p95 ≤ 25 % (the adaptive "
            "policy's plans; every policy's beside)",
            f"adaptive: median {100 * e['median']:.1f} %, p95 {100 * e['p95']:.1f} % over {e['requests']} requests; "
            f"every policy: median {100 * every['median']:.1f} %, p95 {100 * every['p95']:.1f} % over "
            f"{every['requests']}", bool(e["median"] <= 0.10 and e["p95"] <= 0.25))
    if len(res.live):
        d = res.live.assign(gap=(res.live["slo_attainment"] - res.live["sim_slo_attainment"]).abs())
        worst = d.loc[d["gap"].idxmax()]
        add("simulated SLO attainment within 3 points of the live one at every live rate",
            f"largest gap {100 * worst.gap:.1f} points ({worst.policy} at {worst.of_c_static:g} × C_static: live "
            f"{100 * worst.slo_attainment:.1f} %, simulated {100 * worst.sim_slo_attainment:.1f} %); per policy "
            + ", ".join(f"{p} {100 * g:.1f}" for p, g in d.groupby("policy")["gap"].max().items()),
            bool(d["gap"].max() <= 0.03))
        add("planner time ≤ 20 % of the epoch on mean at every rate (live)",
            f"largest mean {res.live['planner_s_mean'].max():.3f} s of {L.epoch_s:g} s "
            f"({', '.join(f'{p} {res.live[res.live.policy == p].planner_s_mean.max():.3f}' for p in POLICIES)})",
            bool(res.live["planner_s_mean"].max() <= 0.2 * L.epoch_s))


def _found(x) -> str:
    """One device's detection (a row of ``detection``), in words; a device found down that no kill took down is
    named as such."""
    if x.killed_s is None or pd.isna(x.killed_s):
        return f"device {x.device}: found down at {x.detected_s:.2f} s with no kill (its requests re-planned)"
    return (f"device {x.device}: found {x.detected_s - x.killed_s:.2f} s after its kill, re-planned at "
            f"{(x.replanned_s or x.detected_s) - x.killed_s:.2f} s")


def _failure_targets(res: LoadStudy, add) -> None:
    """The targets on failures, the test bed and memory."""
    L = res.settings
    r = recovery(res)
    if r is not None:
        lost = int(res.failure["kill"]["summary"].get("lost", 0))
        add("a device killed at 1.5 × C_static: attainment over the 3 epochs after the kill ≥ 95 %, 0 lost (live)",
            f"{100 * r:.1f} %, {lost} lost", bool(r >= 0.95 and lost == 0))
    d = detection(res)
    if len(d):
        add("three kills a moment apart: each found and re-planned without waiting for the others (live)",
            "; ".join(_found(x) for x in d.itertuples()), None)
    if res.testbed_times:
        t = res.testbed_times
        add(f"test bed up ≤ 30 s at N = {L.n_devices}, down ≤ 10 s, nothing left",
            f"up {t.get('up_s')} s, down {t.get('down_s')} s, {t.get('left_namespaces')} namespaces left",
            bool((t.get("up_s") or 1e9) <= 30 and (t.get("down_s") or 1e9) <= 10 and not t.get("left_namespaces")))
    if len(res.memory):
        total = float(res.memory["pss_gb"].sum())
        add(f"memory ≤ 6 GB PSS at N = {L.n_devices} under the highest load (live)", f"{total:.2f} GB", total <= 6.0)


def full_table(res: LoadStudy) -> pd.DataFrame | None:
    """The committed full sweep (``bench load``), per policy, N and load (mean over its seeds)."""
    if res.full is None:
        return None
    cols = ["rate", "slo_attainment", "goodput_rps", "p99_s", "mean_accuracy"]
    return res.full.groupby(["n_devices", "policy", "load"])[cols].mean().round(3)

