"""Solver comparison (notebook 03): exact vs relaxed + Algorithm 1 vs GA, step by step and over a scale grid.

Every plan is scored by the one evaluator; the gap of a heuristic is measured against the exact
solver's objective on the same step. Rows are tidy (one per step × method) for tables and plots.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import solvers
from ..problem.generate import paper_devices, random_step
from ..problem.scenario import Config
from ..problem.unit_costs import UnitTable

METHODS = ("exact", "relaxed", "ga")


def solve_all(sc, methods, options: solvers.Options) -> dict:
    """``sc`` by every method, the relaxed one first so that the exact one can start from its plan
    (with ``options.warm_start``; its time then counts in the exact solve's)."""
    plans = {}
    for method in sorted(methods, key=lambda m: m != "relaxed"):
        plans[method] = solvers.solve(sc, method, options, start=plans.get("relaxed"))
    return plans


def row(step: dict, plan) -> dict:
    m = plan.metrics
    return {**step, "method": plan.method, "status": plan.status, "objective": plan.objective, "bound": plan.bound,
            "gap": plan.gap, "solve_s": plan.solve_s, "served": m.get("served"),
            "mean_latency_s": m.get("mean_latency_s"), "mean_accuracy": m.get("mean_accuracy"),
            "shared_bytes": m.get("shared_bytes"), "violations": m.get("violations")}


def compare_steps(units: UnitTable, configs: Sequence[Config], n_steps: int, n_devices: int = 10, lam: float = 3.0,
                  seed: int = 0, methods=METHODS, options: solvers.Options | None = None, progress: bool = True,
                  **scenario_kwargs) -> pd.DataFrame:
    """``n_steps`` seeded steps (R ~ Poisson(λ), at least one request), each solved by every method
    (the GA seeded by ``seed + step``)."""
    opts = options or solvers.Options(warm_start=True)
    rng = np.random.default_rng(seed)
    rows = []
    for t in tqdm(range(n_steps), desc=f"steps (N={n_devices}, λ={lam})", disable=not progress):
        n_req = max(1, int(rng.poisson(lam)))
        sc = random_step(units.units, units.input_bytes, configs, paper_devices(n_devices), n_req,
                         seed=seed * 10_000 + t, **scenario_kwargs)
        plans = solve_all(sc, methods, dataclasses.replace(opts, seed=seed + t))
        rows += [row({"step": t, "n_devices": n_devices, "n_requests": n_req}, plans[m]) for m in methods]
    return add_gap_to_exact(pd.DataFrame(rows))


def scale_curve(units: UnitTable, configs: Sequence[Config], devices=(5, 10, 20, 50), requests=(1, 3, 10, 20),
                seed: int = 0, methods=("exact", "relaxed"), options: solvers.Options | None = None,
                progress: bool = True, **scenario_kwargs) -> pd.DataFrame:
    """One seeded step per (N, R), solved by each method (exact to a 1 % gap); records wall time
    (the exact solver's includes the relaxed start it was given)."""
    opts = dataclasses.replace(options or solvers.Options(warm_start=True), rel_gap=1e-2)
    rows = []
    for n, r in tqdm([(n, r) for n in devices for r in requests], desc="scale curve", disable=not progress):
        sc = random_step(units.units, units.input_bytes, configs, paper_devices(n), r, seed=seed + 1000 * n + r,
                         **scenario_kwargs)
        plans, wall = {}, {}
        for method in sorted(methods, key=lambda m: m != "relaxed"):
            t0 = time.perf_counter()
            plans[method] = solvers.solve(sc, method, opts, start=plans.get("relaxed"))
            wall[method] = time.perf_counter() - t0
        if "exact" in wall and opts.warm_start:
            wall["exact"] += wall.get("relaxed", 0.0)
        rows += [{**row({"n_devices": n, "n_requests": r}, plans[m]), "wall_s": wall[m]} for m in methods]
    return add_gap_to_exact(pd.DataFrame(rows), keys=("n_devices", "n_requests"))


def add_gap_to_exact(df: pd.DataFrame, keys=("step",)) -> pd.DataFrame:
    """Each plan's objective relative to the exact solver's on the same step (in %)."""
    exact = df[df["method"] == "exact"].set_index(list(keys))["objective"]
    ref = df.set_index(list(keys)).index.map(exact.to_dict().get)
    df = df.copy()
    df["exact_objective"] = list(ref)
    df["gap_to_exact_pct"] = 100 * (df["objective"] - df["exact_objective"]) / df["exact_objective"].abs()
    return df
