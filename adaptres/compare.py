"""Solver comparison (issue: §V-A step and the scale curve): exact vs relaxed + Algorithm 1 vs GA.

Every plan is scored by the one evaluator; the gap of a heuristic is measured against the exact
solver's objective on the same step. Rows are tidy (one per step × method) for tables and plots.
"""

from __future__ import annotations

import time

import pandas as pd
from tqdm.auto import tqdm

from . import ga, heuristic, milp
from .scenario import Scenario, paper_devices, random_step

METHODS = ("exact", "relaxed", "ga")


def solve_with(method: str, sc: Scenario, time_limit: float, seed: int = 0, rel_gap: float = 1e-4,
               ga_time_limit: float | None = None, warm_start: bool = False, max_nodes: int | None = None,
               start=None):
    """One step by one method; ``start``: the relaxed plan to warm-start the exact solver from."""
    if method == "exact":
        return milp.solve(sc, start=start, time_limit=time_limit, rel_gap=rel_gap, warm_start=warm_start,
                          max_nodes=max_nodes)
    if method == "relaxed":
        return heuristic.solve(sc, time_limit=time_limit)
    if method == "ga":
        return ga.solve(sc, time_limit=ga_time_limit or time_limit, seed=seed)
    raise ValueError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")


def row(step: dict, plan) -> dict:
    m = plan.metrics
    return {**step, "method": plan.method, "status": plan.status, "objective": plan.objective, "bound": plan.bound,
            "gap": plan.gap, "solve_s": plan.solve_s, "served": m.get("served"),
            "mean_latency_s": m.get("mean_latency_s"), "mean_accuracy": m.get("mean_accuracy"),
            "shared_bytes": m.get("shared_bytes"), "violations": m.get("violations")}


def compare_steps(costs: pd.DataFrame, configs: list[dict], n_steps: int, n_devices: int = 10, lam: float = 3.0,
                  seed: int = 0, methods=METHODS, time_limit: float = 60.0, ga_time_limit: float = 10.0,
                  warm_start: bool = True, progress: bool = True, **scenario_kwargs) -> pd.DataFrame:
    """``n_steps`` seeded steps (R ~ Poisson(λ), at least one request), each solved by every method
    (the exact one warm-started from Algorithm 1 unless ``warm_start=False``; its time includes that)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    rows = []
    for t in tqdm(range(n_steps), desc=f"steps (N={n_devices}, λ={lam})", disable=not progress):
        n_req = max(1, int(rng.poisson(lam)))
        sc = random_step(costs, configs, paper_devices(n_devices), n_req, seed=seed * 10_000 + t, **scenario_kwargs)
        plans = {}
        for method in relaxed_first(methods):
            plans[method] = solve_with(method, sc, time_limit, seed=seed + t, ga_time_limit=ga_time_limit,
                                       warm_start=warm_start, start=plans.get("relaxed"))
        rows += [row({"step": t, "n_devices": n_devices, "n_requests": n_req}, plans[m]) for m in methods]
    return add_gap_to_exact(pd.DataFrame(rows))


def scale_curve(costs: pd.DataFrame, configs: list[dict], devices=(5, 10, 20, 50), requests=(1, 3, 10, 20),
                seed: int = 0, methods=("exact", "relaxed"), time_limit: float = 60.0, warm_start: bool = True,
                progress: bool = True, **scenario_kwargs) -> pd.DataFrame:
    """One seeded step per (N, R), solved by each method; records build and solve time."""
    rows = []
    grid = [(n, r) for n in devices for r in requests]
    for n, r in tqdm(grid, desc="scale curve", disable=not progress):
        sc = random_step(costs, configs, paper_devices(n), r, seed=seed + 1000 * n + r, **scenario_kwargs)
        plans, wall = {}, {}
        for method in relaxed_first(methods):
            t0 = time.perf_counter()
            plans[method] = solve_with(method, sc, time_limit, seed=seed, rel_gap=1e-2 if method == "exact" else 1e-4,
                                       warm_start=warm_start, start=plans.get("relaxed"))
            wall[method] = time.perf_counter() - t0 + (wall.get("relaxed", 0.0) if method == "exact" and warm_start else 0.0)
        rows += [{**row({"n_devices": n, "n_requests": r}, plans[m]), "wall_s": wall[m]} for m in methods]
    return add_gap_to_exact(pd.DataFrame(rows), keys=("n_devices", "n_requests"))


def relaxed_first(methods) -> list[str]:
    """The relaxed method runs first, so that the exact solver can start from its plan."""
    return sorted(methods, key=lambda m: m != "relaxed")


def add_gap_to_exact(df: pd.DataFrame, keys=("step",)) -> pd.DataFrame:
    """Each plan's objective relative to the exact solver's on the same step (in %)."""
    exact = df[df["method"] == "exact"].set_index(list(keys))["objective"]
    ref = df.set_index(list(keys)).index.map(exact.to_dict().get)
    df = df.copy()
    df["exact_objective"] = list(ref)
    df["gap_to_exact_pct"] = 100 * (df["objective"] - df["exact_objective"]) / df["exact_objective"].abs()
    return df
