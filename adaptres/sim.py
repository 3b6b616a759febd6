"""Time-stepped simulation (paper §V, SPEC §7).

At each step t = 1..T: R_t ~ Poisson(λ) requests from uniformly random sources, link rates drawn
from U[7.2, 72.2] Mb/s, one solve, and the devices' batteries carried over,
B_i(t+1) = max(0, B_i(t) − E_i(t)). A step with no requests, exhausted batteries or nothing
servable is recorded like any other and the run goes on. Results are tidy: one row per step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .evaluate import evaluate
from .scenario import Plan, Scenario, build, random_rates

Solver = Callable[[Scenario], Plan]


def solver_for(method: str, time_limit: float = 60.0, seed: int = 0, rel_gap: float = 1e-4) -> Solver:
    """A solver by name: ``exact``, ``relaxed`` or ``ga``."""
    from .compare import solve_with
    return lambda sc: solve_with(method, sc, time_limit, seed=seed, rel_gap=rel_gap)


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
    return pd.DataFrame(rows)
