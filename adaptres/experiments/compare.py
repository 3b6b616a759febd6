"""Solver comparison (notebook 03): the compact MILP, relaxation + Algorithm 1, the GA, column generation
and its rounding, step by step and over a scale grid.

Every plan is scored by the one evaluator; each plan's objective is measured against the best plan any
method found on the same step (``gap_to_best_pct``), which is the optimum where some method proved it
(``best_proven``). Rows are tidy (one per step × method) for tables and plots.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import solvers
from ..problem.generate import paper_devices, random_step
from ..problem.scenario import Config
from ..problem.unit_costs import UnitTable
from ..progress import bar


def in_order(methods) -> list[str]:
    """``methods`` with those whose plans others start from (``solvers.Method.start_from``) first."""
    starts = {solvers.info(m).start_from for m in methods}
    return sorted(methods, key=lambda m: m not in starts)


def solve_all(sc, methods, options: solvers.Options) -> tuple[dict, dict]:
    """``sc`` by every method, those whose plans others start from first (the exact method warm-starts from
    the relaxed one's with ``options.warm_start``; its time then counts in the exact solve's). Returns the
    plans and each method's wall time (a start that counts included)."""
    plans, wall = {}, {}
    for method in in_order(methods):
        m = solvers.info(method)
        t0 = time.perf_counter()
        plans[method] = solvers.solve(sc, method, options, start=plans.get(m.start_from))
        wall[method] = time.perf_counter() - t0
        if m.start_counted and options.warm_start and m.start_from in wall:
            wall[method] += wall[m.start_from]
    return plans, wall


def row(step: dict, plan) -> dict:
    m = plan.metrics
    return {**step, "method": plan.method, "status": plan.status, "objective": plan.objective, "bound": plan.bound,
            "gap": plan.gap, "solve_s": plan.solve_s, "served": m.get("served"),
            "mean_latency_s": m.get("mean_latency_s"), "mean_accuracy": m.get("mean_accuracy"),
            "shared_bytes": m.get("shared_bytes"), "violations": m.get("violations"),
            "proven_bound": plan.bound if solvers.info(plan.method).proven else None,
            "root_bound": m.get("root_bound")}


def compare_steps(units: UnitTable, configs: Sequence[Config], n_steps: int, n_devices: int = 10, lam: float = 3.0,
                  seed: int = 0, methods=None, options: solvers.Options | None = None, progress: bool = True,
                  **scenario_kwargs) -> pd.DataFrame:
    """``n_steps`` seeded steps (R ~ Poisson(λ), at least one request), each solved by every method
    (``methods``; default every registered one; stochastic ones seeded by ``seed + step``)."""
    methods = solvers.methods() if methods is None else methods
    opts = options or solvers.Options(warm_start=True)
    rng = np.random.default_rng(seed)
    rows = []
    for t in bar(range(n_steps), desc=f"steps (N={n_devices}, λ={lam})", progress=progress):
        n_req = max(1, int(rng.poisson(lam)))
        sc = random_step(units.units, units.input_bytes, configs, paper_devices(n_devices), n_req,
                         seed=seed * 10_000 + t, **scenario_kwargs)
        plans, _ = solve_all(sc, methods, dataclasses.replace(opts, seed=seed + t))
        rows += [row({"step": t, "n_devices": n_devices, "n_requests": n_req}, plans[m]) for m in methods]
    return add_gap_to_best(pd.DataFrame(rows))


def scale_curve(units: UnitTable, configs: Sequence[Config], devices=(5, 10, 20, 50), requests=(1, 3, 10, 20),
                seed: int = 0, methods=None, options: solvers.Options | None = None,
                progress: bool = True, **scenario_kwargs) -> pd.DataFrame:
    """One seeded step per (N, R), solved by each method (default: every registered one; the exact ones
    to a 1 % gap); records wall time (the compact MILP's includes the relaxed start it was given)."""
    methods = solvers.methods() if methods is None else methods
    opts = dataclasses.replace(options or solvers.Options(warm_start=True), rel_gap=1e-2)
    rows = []
    for n, r in bar([(n, r) for n in devices for r in requests], desc="scale curve", progress=progress):
        sc = random_step(units.units, units.input_bytes, configs, paper_devices(n), r, seed=seed + 1000 * n + r,
                         **scenario_kwargs)
        plans, wall = solve_all(sc, methods, opts)
        rows += [{**row({"n_devices": n, "n_requests": r}, plans[m]), "wall_s": wall[m]} for m in methods]
    return add_gap_to_best(pd.DataFrame(rows), keys=("n_devices", "n_requests"))


def add_gap_to_best(df: pd.DataFrame, keys=("step",)) -> pd.DataFrame:
    """Each plan's objective relative to the best feasible plan of any method on the same step (in %),
    the best proven bound on that step, whether the best plan is proven optimal (within 0.01 %), and
    each plan's gap to that bound (``true_gap_pct``: an upper bound on its distance from the optimum)."""
    df = df.copy()
    feasible = df[df["violations"] == 0]
    best = feasible.groupby(list(keys))["objective"].min()
    bound = df.groupby(list(keys))["proven_bound"].max()
    idx = df.set_index(list(keys)).index
    df["best_objective"] = list(idx.map(best.to_dict().get))
    df["best_bound"] = list(idx.map(bound.to_dict().get))
    df["gap_to_best_pct"] = 100 * (df["objective"] - df["best_objective"]) / df["best_objective"].abs()
    df["true_gap_pct"] = 100 * (df["objective"] - df["best_bound"]) / df["objective"].abs()
    df["best_proven"] = (df["best_objective"] - df["best_bound"]) <= 1e-4 * df["best_objective"].abs()
    return df


# the solvers' scale targets: (N, R, time limit in s, relative gap); every registered method runs at each
# (those that cannot build their model in time say so at once, with the reason)
BENCH_POINTS = ((50, 20, 60.0, 1e-2), (100, 50, 60.0, 1e-2), (500, 20, 2.0, 1e-2))


def bench_point(n: int, r: int, time_limit: float, rel_gap: float, method: str, seed: int = 0,
                table: str = "224") -> dict:
    """One seeded §V-A step of N devices and R requests solved by ``method``: wall time (model building
    included), the plan's status, objective, bound and gap, and this process's peak memory."""
    import resource

    from . import sim
    units, configs, _, _ = sim.inputs("cpu", table=table)
    sc = random_step(units.units, units.input_bytes, configs, paper_devices(n), r, seed=seed + 1000 * n + r)
    t0 = time.perf_counter()
    plan = solvers.solve(sc, method, solvers.Options(time_limit=time_limit, rel_gap=rel_gap, ga_time_limit=time_limit))
    wall = time.perf_counter() - t0
    return {"n_devices": n, "n_requests": r, "time_limit_s": time_limit, "rel_gap": rel_gap, "method": method,
            "wall_s": round(wall, 3), "within_limit": wall <= 1.1 * time_limit, "status": plan.status,
            "objective": plan.objective, "bound": plan.bound, "gap": plan.gap, "served": plan.n_served,
            "reason": plan.metrics.get("reason"),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def bench_solvers(points=BENCH_POINTS, seed: int = 0, progress: bool = True, methods=None) -> pd.DataFrame:
    """Every (point, method) in a fresh process of its own (so that its peak memory is its own), one
    after the other; ``methods``: default every registered one."""
    import multiprocessing as mp
    tasks = [(n, r, lim, gap, m) for n, r, lim, gap in points for m in (methods or solvers.methods())]
    rows = []
    ctx = mp.get_context("spawn")
    for task in bar(tasks, desc="bench solvers", progress=progress):
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(bench_point, (*task, seed)))
    return pd.DataFrame(rows)


def bench_sweep(profile: str = "cpu", section: str = "V-A", progress: bool = True) -> dict:
    """The sweep of a §V section (the profile's points, seeds and steps, no file) run by the serial
    loop and as Ray tasks in one process, one after the other: seconds, speed-up, and whether the
    rows are the same. Ray is started before the clock (``ray.init``: its own line); the workers'
    start-up is inside the Ray time, as a sweep pays it."""
    import time

    from .. import cluster
    from . import profiles, sections, sim
    units, configs, _, S = sim.inputs(profile)
    sec = sections.get(section)
    points = [sections.shifted(p, S.threshold_shift) for p in sec.points(S)]
    kw = dict(base=sections.shifted({"n_devices": S.n_devices, **sec.base}, S.threshold_shift),
              method=S.method, options=profiles.solver_options(S), scale=S.scale, progress=progress)
    t = time.perf_counter()
    cluster.start()
    init_s = time.perf_counter() - t
    t = time.perf_counter()
    on_ray = sim.sweep(units, configs, points, S.seeds, S.steps, engine="ray", **kw)
    ray_s = time.perf_counter() - t
    t = time.perf_counter()
    serial = sim.sweep(units, configs, points, S.seeds, S.steps, engine="serial", **kw)
    serial_s = time.perf_counter() - t
    cols = [c for c in serial.columns if c != "solve_s"]
    same = bool(serial[cols].equals(on_ray[cols]))
    return {"profile": profile, "section": section, "runs": len(points) * len(S.seeds), "steps": S.steps,
            "method": S.method, "cpus": cluster.cpus(), "ray_init_s": round(init_s, 2), "serial_s": round(serial_s, 2),
            "ray_s": round(ray_s, 2), "speedup": round(serial_s / ray_s, 3), "same_rows": same}
