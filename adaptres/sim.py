"""Time-stepped simulation (paper §V, SPEC §7).

At each step t = 1..T: R_t ~ Poisson(λ) requests from uniformly random sources, link rates drawn
from U[7.2, 72.2] Mb/s, one solve, and the devices' batteries carried over,
B_i(t+1) = max(0, B_i(t) − E_i(t)). A step with no requests, exhausted batteries or nothing
servable is recorded like any other and the run goes on. Results are tidy: one row per step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .evaluate import evaluate
from .scenario import Plan, Scenario, build, paper_devices, random_rates

Solver = Callable[[Scenario], Plan]


def solver_for(method: str, time_limit: float = 60.0, seed: int = 0, rel_gap: float = 1e-4,
               warm_start: bool = False, max_nodes: int | None = None) -> Solver:
    """A solver by name: ``exact`` (optionally started from the relaxed method's plan, optionally
    stopped after ``max_nodes`` branch-and-bound nodes), ``relaxed`` or ``ga``."""
    from .compare import solve_with
    return lambda sc: solve_with(method, sc, time_limit, seed=seed, rel_gap=rel_gap, warm_start=warm_start,
                                 max_nodes=max_nodes)


def run(costs: pd.DataFrame, configs: list[dict], devices: list[dict], steps: int, lam: float, solver: Solver,
        seed: int = 0, progress: bool = True, label: str = "", **scenario_kwargs) -> pd.DataFrame:
    """Simulate ``steps`` steps; returns one row per step (metrics from the evaluator)."""
    if steps < 1:
        raise ValueError(f"steps: must be at least 1, got {steps}")
    if lam < 0:
        raise ValueError(f"lam: must not be negative, got {lam}")
    rng = np.random.default_rng(seed)
    devs = copy.deepcopy(devices)
    rows = []
    for t in tqdm(range(steps), desc=label or f"simulation (λ={lam})", disable=not progress, leave=False):
        n_req = int(rng.poisson(lam))
        sources = rng.integers(0, len(devs), n_req).tolist()
        rates = random_rates(len(devs), rng)
        sc = build(costs, configs, devs, sources, rates, **scenario_kwargs)
        plan = solver(sc)
        ev = evaluate(sc, plan)
        m = ev.metrics()
        battery_before = [d["energy_j"] for d in devs]
        for d, used in zip(devs, ev.devices):
            d["energy_j"] = max(0.0, d["energy_j"] - used["energy_j"])
        rows.append({"step": t, "n_requests": n_req, "served": m["served"],
                     "served_fraction": m["served_fraction"] if n_req else np.nan,
                     "mean_accuracy": m["mean_accuracy"], "mean_latency_s": m["mean_latency_s"],
                     "mean_computation_s": m["mean_computation_s"], "mean_dc_transfer_s": m["mean_dc_transfer_s"],
                     "mean_sc_transfer_s": m["mean_sc_transfer_s"], "shared_bytes": m["shared_bytes"],
                     "dc_bytes": m["dc_bytes"], "sc_bytes": m["sc_bytes"], "macs": m["macs"],
                     "energy_j": m["energy_j"], "n_dropped_mean": m["n_dropped_mean"], "objective": ev.objective,
                     "violations": len(ev.violations), "status": plan.status, "solve_s": plan.solve_s,
                     "gap": plan.gap, "battery_min_j": min(battery_before),
                     "battery_total_j": float(sum(battery_before)),
                     "devices_exhausted": int(sum(b <= 0 for b in battery_before))})
    df = pd.DataFrame(rows)
    numeric = [c for c in df.columns if c != "status"]
    df[numeric] = df[numeric].apply(pd.to_numeric)  # None (no request served) → NaN
    return df


# ---------------------------------------------------------------------------- sweeps (§V-A..D)
# The paper's §V-A setting (SPEC §7); each evaluation section sweeps one or two of these.
PAPER_SETTING = {"n_devices": 10, "memory_mb": (100, 200), "compute_g": (1.4, 2.8), "speed_g": (1.4, 2.8),
                 "battery_j": (800, 1000), "lam": 3.0, "alpha": 0.5, "beta": 0.5, "accuracy_threshold": 80.0}
_SCENARIO_KEYS = ("alpha", "beta", "accuracy_threshold")
_DEVICE_KEYS = ("memory_mb", "compute_g", "speed_g", "battery_j")


def _label(v) -> str:
    if isinstance(v, (tuple, list)):
        return "/".join(f"{x:g}" for x in v)
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def setting(base: dict, point: dict) -> dict:
    """``base`` with ``point``'s overrides; unknown keys are refused (one line naming the key)."""
    for key in point:
        if key not in PAPER_SETTING:
            raise ValueError(f"sweep point: unknown setting {key!r} (expected one of {', '.join(PAPER_SETTING)})")
    s = {**PAPER_SETTING, **base, **point}
    for key in _DEVICE_KEYS:
        if len(s[key]) != 2 or min(s[key]) <= 0:
            raise ValueError(f"{key}: must be two positive numbers (low-, high-capacity devices), got {s[key]!r}")
    return s


def sweep(costs: pd.DataFrame, configs: list[dict], points: list[dict], seeds, steps: int, base: dict | None = None,
          method: str = "exact", time_limit: float = 10.0, rel_gap: float = 1e-4, warm_start: bool = True,
          max_nodes: int | None = None, out: str | Path | None = None, meta: dict | None = None, progress: bool = True) -> pd.DataFrame:
    """Simulate every sweep point (a dict of overrides of ``base``, itself over ``PAPER_SETTING``)
    for every seed; one row per (point, seed, step) with the point's settings as columns.

    The same seed gives the same arrivals, sources and rates at every point (common random numbers),
    so differences between points come from the swept setting. With ``out``, results are saved
    (atomically) after each (point, seed) with their provenance, and a rerun with the same inputs
    skips what is already there.
    """
    from .ablation import provenance, read_header, write_table
    base = base or {}
    keys = {"method": method, "time_limit": time_limit, "rel_gap": rel_gap, "warm_start": warm_start,
            "max_nodes": max_nodes,
            "steps": steps, "base": repr(sorted(base.items())), "points": repr([sorted(p.items()) for p in points]),
            **(meta or {})}
    done = pd.DataFrame()
    if out is not None and Path(out).exists():
        old_meta = read_header(out)
        if all(old_meta.get(k) == str(v) for k, v in keys.items()):
            done = pd.read_csv(out, comment="#")
    frames = [done] if len(done) else []
    have = set(zip(done["point"], done["seed"])) if len(done) else set()
    todo = [(p, s) for p in range(len(points)) for s in seeds if (p, s) not in have]
    bar = tqdm(todo, desc=f"sweep ({method})", disable=not progress)
    for p, seed in bar:
        s = setting(base, points[p])
        label = ", ".join(f"{k}={_label(v)}" for k, v in points[p].items())
        bar.set_postfix_str(f"{label}, seed {seed}")
        devices = paper_devices(s["n_devices"], memory_mb=s["memory_mb"], compute_g=s["compute_g"],
                                speed_g=s["speed_g"], battery_j=s["battery_j"])
        solver = solver_for(method, time_limit=time_limit, seed=seed, rel_gap=rel_gap, warm_start=warm_start,
                            max_nodes=max_nodes)
        df = run(costs, configs, devices, steps, s["lam"], solver, seed=seed, progress=False,
                 **{k: s[k] for k in _SCENARIO_KEYS})
        cols = {"point": p, "seed": seed, "label": label}
        cols.update({k: _label(v) if isinstance(v, (tuple, list)) else v for k, v in s.items()})
        df = df.assign(**cols)
        frames.append(df)
        if out is not None:
            write_table(pd.concat(frames, ignore_index=True), out, provenance(**keys), float_format="%.12g")
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return result.sort_values(["point", "seed", "step"]).reset_index(drop=True) if len(result) else result


def summarise(df: pd.DataFrame, by=("point", "seed")) -> pd.DataFrame:
    """Per run (point × seed): accuracy and latency averaged over served requests, and per-step means
    of shared data (MB), multiplications (G), energy (J); served fraction over all requests."""
    def one(g):
        served = g["served"].sum()

        def per_served(values):  # a per-step mean over served requests, averaged over all served requests
            return (values.fillna(0) * g["served"]).sum() / served if served else np.nan

        return pd.Series({
            "accuracy_pct": per_served(g["mean_accuracy"]), "latency_s": per_served(g["mean_latency_s"]),
            "computation_s": per_served(g["mean_computation_s"]),
            "transfer_s": per_served(g["mean_dc_transfer_s"].fillna(0) + g["mean_sc_transfer_s"].fillna(0)),
            "shared_mb": g["shared_bytes"].mean() / 1e6, "gmacs": g["macs"].mean() / 1e9,
            "energy_j": g["energy_j"].mean(), "served_fraction": served / max(g["n_requests"].sum(), 1),
            "dropped_blocks": per_served(g["n_dropped_mean"]),
            "requests": g["n_requests"].sum(), "solve_s": g["solve_s"].mean(),
            "optimal_steps": (g["status"] == "optimal").mean(), "max_gap": g["gap"].max()})
    keep = [c for c in df.columns if c in PAPER_SETTING or c == "label"]
    out = df.groupby(list(by), sort=True).apply(one, include_groups=False).reset_index()
    settings = df.groupby(list(by), sort=True)[keep].first().reset_index()
    return settings.merge(out, on=list(by))


def inputs(profile: str, **overrides) -> tuple[pd.DataFrame, list[dict], dict, dict]:
    """What notebooks 04-07 start from: the ResNet-50 unit costs at 224 px, every configuration of
    the profile's accuracy table (the threshold is a scenario setting), the table's provenance, and
    the profile's simulation settings with the ``overrides`` that are not None."""
    from . import ablation, costs, profiles
    from .ablation import file_hash
    P = profiles.get(profile)
    for key in overrides:
        if key not in P["sim"]:
            raise ValueError(f"{key}: not a simulation setting (expected one of {', '.join(P['sim'])})")
    S = {**P["sim"], **{k: v for k, v in overrides.items() if v is not None}}
    path = Path(__file__).resolve().parent.parent / P["optim"]["accuracy_table"]
    table, meta = ablation.read_table(path)
    meta = {**meta, "table": P["optim"]["accuracy_table"], "table_sha256": file_hash(path)}
    unit_table = costs.unit_costs("resnet50", image_size=224, num_classes=10)
    return unit_table, ablation.accuracy_configs(table, threshold=0.0), meta, S


def describe(S: dict) -> str:
    """The simulation settings in words (for notebooks and notes)."""
    solver = ("relaxation + Algorithm 1" if S["method"] == "relaxed" else
              f"exact MILP, warm-started from Algorithm 1, to a {S['rel_gap']:g} gap, {S['time_limit']:g} s/step"
              + (f", {S['max_nodes']} nodes" if S.get("max_nodes") is not None else "") if S["method"] == "exact" else
              S["method"])
    return f"N = {S['n_devices']}, T = {S['steps']} steps, seeds {list(S['seeds'])}, solver: {solver}"


def results_path(notebook: str, profile: str) -> Path:
    """``data/results/<notebook>_<profile>.csv`` (the fast profile's are git-ignored)."""
    return Path(__file__).resolve().parent.parent / "data" / "results" / f"{notebook}_{profile}.csv"
