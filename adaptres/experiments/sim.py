"""Time-stepped simulation (paper §V, SPEC §7) and sweeps over its settings.

At each step t = 1..T: R_t ~ Poisson(λ) requests from uniformly random sources, link rates drawn
from U[7.2, 72.2] Mb/s, one solve, and the devices' batteries carried over,
B_i(t+1) = max(0, B_i(t) − E_i(t)). A step with no requests, exhausted batteries or nothing
servable is recorded like any other and the run goes on. Results are tidy: one row per step.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import solvers
from ..io import provenance, read_header, read_table, write_table
from ..paths import PACKAGE, repo_path
from ..problem.accuracy import configs_from_rows, undominated
from ..problem.generate import Scale, build, paper_devices  # noqa: F401  (``build``: part of this module's interface)
from ..problem.plan import Plan
from ..problem.scenario import Config, Device, Scenario
from ..problem.unit_costs import UnitTable
from ..problem.unit_costs import load as load_units
from ..progress import bar
from ..serving import arrivals, execute, loop, policies
from ..serving.rows import step_row

if TYPE_CHECKING:
    from . import profiles

Solver = Callable[[Scenario], Plan]


def solver_for(method: str, options: solvers.Options | None = None) -> Solver:
    """A solver by name with its options (``adaptres.solvers``), as a function of the scenario."""
    solvers.get(method)  # an unknown method fails here, not at the first step
    return lambda sc: solvers.solve(sc, method, options)


draw = arrivals.draw  # one step's random inputs (``serving.arrivals.draw``)


def check_horizon(steps, lam) -> None:
    """A horizon's length and arrival rate, or a ``ValueError`` naming the bad one."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 100_000:
        raise ValueError(f"steps: must be an integer in [1, 100000], got {steps!r}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not np.isfinite(lam) or not 0 <= lam <= 1e4:
        raise ValueError(f"lam: must be a number in [0, 1e4] (requests per step), got {lam}")


def run(units: UnitTable, configs: Sequence[Config], devices: Sequence[Device], steps: int, lam: float,
        solver: Solver, seed: int = 0, progress: bool = True, label: str = "", scale: Scale = Scale(),
        controller=None, per_device: bool = False, **scenario_kwargs) -> pd.DataFrame:
    """Simulate ``steps`` steps: the closed loop (``serving.loop``) with the paper's steps, its per-step
    optimisation by ``solver`` and its model; returns one row per step (``serving.rows.step_row``). Link
    rates are drawn from U[7.2, 72.2] Mb/s times ``scale.bytes``. A ``controller``
    (``serving.controllers``; None: myopic) sets what each step's solver is asked; the rows score the
    plans on Eq 5 alone, and add the controller's seconds (``control_s``) and the mean price of energy it
    set (``price_mean``). ``per_device``: each device's battery before the step too (``battery_<i>``)."""
    check_horizon(steps, lam)
    fleet = loop.Fleet(units, tuple(configs), tuple(devices), scenario_kwargs)
    hist = loop.run(fleet, arrivals.Steps(len(fleet.devices), lam, steps, seed, scale),
                    policies.Paper(solver, controller), execute.Modelled(len(fleet.devices)), progress=progress,
                    label=label or f"simulation (λ={lam})")
    rows = []
    for rec in hist.epochs:
        row, _ = step_row(rec.epoch.index, rec.scenario, rec.decision.plan, rec.battery_before,
                          execute.evaluation(rec.report))
        if controller is not None:
            row.update(control_s=rec.observed["control_s"], price_mean=rec.decision.extra["price_mean"])
        if per_device:
            row.update({f"battery_{i}": b for i, b in enumerate(rec.battery_before)})
        rows.append(row)
    df = pd.DataFrame(rows)
    numeric = [c for c in df.columns if c != "status"]
    # None (no request served) → NaN; one new frame (column by column a wide one, 1000 devices, fragments)
    return pd.concat([df[numeric].apply(pd.to_numeric), df[["status"]]], axis=1)[list(df.columns)]


# ---------------------------------------------------------------------------- sweeps (§V-A..D)
# The paper's §V-A setting (SPEC §7); each evaluation section sweeps one or two of these.
PAPER_SETTING = {"n_devices": 10, "memory_mb": (100, 200), "compute_g": (1.4, 2.8), "speed_g": (1.4, 2.8),
                 "battery_j": (800, 1000), "lam": 3.0, "alpha": 0.5, "beta": 0.5, "accuracy_threshold": 80.0}
SCENARIO_KEYS = ("alpha", "beta", "accuracy_threshold")
# the per-run metrics of ``summarise`` that figures and claims show, with their labels
METRICS = {"accuracy_pct": "accuracy (%)", "latency_s": "latency per request (s)",
           "shared_mb": "shared data per step (MB)", "gmacs": "computational load per step (G mult.)",
           "energy_j": "energy per step (J)", "served_fraction": "requests served",
           "dropped_blocks": "blocks dropped per request",
           "shared_mb_req": "shared data per served request (MB)",
           "gmacs_req": "computational load per served request (G mult.)",
           "energy_j_req": "energy per served request (J)"}
# the per-step metrics and their per-served-request reading (the paper's text does not say which it plots)
PER_REQUEST = {"shared_mb": "shared_mb_req", "gmacs": "gmacs_req", "energy_j": "energy_j_req"}
DEVICE_KEYS = ("memory_mb", "compute_g", "speed_g", "battery_j")


def label(v) -> str:
    """A setting's value as it appears in tables and on axes: ``800/1000`` for a low/high pair."""
    if isinstance(v, (tuple, list)):
        return "/".join(f"{x:g}" for x in v)
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def setting(base: dict, point: dict) -> dict:
    """``base`` with ``point``'s overrides; unknown keys are refused (one line naming the key)."""
    for key in [*base, *point]:
        if key not in PAPER_SETTING:
            raise ValueError(f"sweep point: unknown setting {key!r} (expected one of {', '.join(PAPER_SETTING)})")
    s = {**PAPER_SETTING, **base, **point}
    for key in DEVICE_KEYS:
        v = s[key]
        if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(
                isinstance(x, (int, float)) and np.isfinite(x) and x > 0 for x in v):
            raise ValueError(f"{key}: must be two positive numbers (low-, high-capacity devices), got {v!r}")
    if not isinstance(s["n_devices"], int) or not 1 <= s["n_devices"] <= 1000:
        raise ValueError(f"n_devices: must be an integer in [1, 1000], got {s['n_devices']!r}")
    return s


def point_devices(s: dict, scale: Scale = Scale()) -> list[Device]:
    """The devices of a setting (``setting``'s result), scaled for the network."""
    return paper_devices(s["n_devices"], memory_mb=s["memory_mb"], compute_g=s["compute_g"], speed_g=s["speed_g"],
                         battery_j=s["battery_j"], scale=scale)


def code_hash() -> str:
    """A hash of the code a sweep's numbers depend on (the problem and solver sides, the loop and this module)."""
    h = hashlib.sha256()
    for path in sorted([*(PACKAGE / "problem").rglob("*.py"), *(PACKAGE / "solvers").rglob("*.py"),
                        *(PACKAGE / "serving" / f"{m}.py" for m in ("arrivals", "controllers", "execute", "loop",
                                                                     "policies", "rows")),
                        PACKAGE / "experiments" / "sim.py"]):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def saved(out, keys: dict, replay: bool) -> tuple[pd.DataFrame, bool]:
    """Rows saved at ``out`` for the same inputs: those of an unfinished run (resumed), or a finished
    run's when ``replay``. Returns (rows, whether the run was finished)."""
    if out is None or not Path(out).is_file():
        return pd.DataFrame(), False
    meta = read_header(out)
    if not all(meta.get(k) == str(v) for k, v in keys.items()):
        return pd.DataFrame(), False
    if meta.get("controller", "myopic") != keys.get("controller", "myopic"):  # named only when not myopic
        return pd.DataFrame(), False
    finished = meta.get("status", "complete") == "complete"
    if finished and not replay:
        return pd.DataFrame(), False
    return pd.read_csv(out, comment="#"), finished


ENGINES = ("serial", "ray")


def sweep(units: UnitTable, configs: Sequence[Config], points: list[dict], seeds, steps: int, base: dict | None = None,
          method: str = "relaxed", options: solvers.Options | None = None, out: str | Path | None = None,
          meta: dict | None = None, progress: bool = True, replay: bool = False, scale: Scale = Scale(),
          engine: str = "serial", address: str | None = None, controller: str = "myopic",
          params=None) -> pd.DataFrame:
    """Simulate every sweep point (a dict of overrides of ``base``, itself over ``PAPER_SETTING``)
    for every seed; one row per (point, seed, step) with the point's settings as columns.

    The same seed gives the same arrivals, sources and rates at every point (common random numbers),
    so differences between points come from the swept setting. With ``out``, the rows are saved
    (atomically, with their provenance) after each (point, seed): a run that was stopped resumes
    where it was. A finished run with the same inputs is simulated again unless ``replay``, which
    reads it back (``df.attrs["replayed"]`` then names the file). ``engine="ray"`` runs the
    (point, seed) runs as Ray tasks, one per CPU, on a local Ray or the cluster at ``address``
    (``adaptres`` installed on its nodes); the rows are the serial loop's. ``controller`` (with its
    ``params``, ``serving.controllers``) sets what each step's solver is asked in every run.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    opts = options or solvers.Options()
    base = base or {}
    for p in points:
        setting(base, p)  # every point checked before any work
    solver_for(method, opts)
    from ..serving import controllers as control
    control.make(controller, 1, steps, params)  # a bad controller fails here, not in the first run
    keys = {"method": method, "time_limit": opts.time_limit, "rel_gap": opts.rel_gap, "warm_start": opts.warm_start,
            "max_nodes": opts.max_nodes, "steps": steps, "base": repr(sorted(base.items())),
            "points": repr([sorted(p.items()) for p in points]), "code_sha256": code_hash(),
            **({} if scale.identity else {"scale": repr(scale)}),
            **({} if controller == "myopic" else {"controller": controller, "params": repr(params)}), **(meta or {})}
    done, finished = saved(out, keys, replay)
    frames = [done] if len(done) else []
    have = set(zip(done["point"], done["seed"])) if len(done) else set()
    todo = [(p, s) for p in range(len(points)) for s in seeds if (p, s) not in have]
    pbar = bar(total=len(todo), desc=f"sweep ({method}{', Ray' if engine == 'ray' else ''})", progress=progress)
    args = (units, configs, base, points, steps, method, opts, scale, controller, params)
    for n, df in enumerate(tasks(run_point, args, todo, engine, address)):
        frames.append(df)
        pbar.update()
        if out is not None:
            status = "complete" if n == len(todo) - 1 else "partial"
            write_table(_ordered(pd.concat(frames, ignore_index=True)), out,
                        provenance(**keys, status=status), float_format="%.12g")
    pbar.close()
    result = _ordered(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()
    result.attrs["replayed"] = str(out) if finished else None
    return result


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["point", "seed", "step"]).reset_index(drop=True) if len(df) else df


def run_point(units, configs, base, points, steps, method, opts, scale, controller, params, p: int,
              seed: int) -> pd.DataFrame:
    """One (point, seed) run of a sweep, its rows labelled with the point's settings."""
    from ..serving import controllers as control
    s = setting(base, points[p])
    name = ", ".join(f"{k}={label(v)}" for k, v in points[p].items())
    ctl = None if controller == "myopic" else control.make(controller, s["n_devices"], steps, params)
    df = run(units, configs, point_devices(s, scale), steps, s["lam"], _seeded(solver_for(method, opts), method, opts, seed),
             seed=seed, progress=False, scale=scale, controller=ctl, **{k: s[k] for k in SCENARIO_KEYS})
    cols = {"point": p, "seed": seed, "label": name, **{k: label(v) if isinstance(v, (tuple, list)) else v
                                                         for k, v in s.items()}}
    return df.assign(**cols)


def tasks(fn, shared: tuple, items, engine: str, address: str | None = None):
    """``fn(*shared, *item)`` for each of ``items``, the results as they finish: here one after another,
    or as Ray tasks (one CPU each) on a local Ray or the cluster at ``address`` (``shared`` put in its
    object store once)."""
    if engine == "serial":
        for item in items:
            yield fn(*shared, *item)
        return
    if not items:
        return
    from .. import cluster
    ray = cluster.start(address)
    task = ray.remote(num_cpus=1, max_retries=2)(fn)
    refs = [ray.put(a) for a in shared]
    pending = [task.remote(*refs, *item) for item in items]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


def _seeded(solver: Solver, method: str, opts: solvers.Options, seed: int) -> Solver:
    """The sweep's solver with the run's seed (for a method that draws random numbers)."""
    return solver_for(method, dataclasses.replace(opts, seed=seed)) if solvers.info(method).stochastic else solver


def summarise(df: pd.DataFrame, by=("point", "seed")) -> pd.DataFrame:
    """Per run (point × seed): accuracy and latency averaged over served requests, and per-step means
    of shared data (MB), multiplications (G), energy (J) — and the same per served request (``*_req``:
    the run's total over its served requests); served fraction over all requests."""
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
            "shared_mb_req": g["shared_bytes"].sum() / 1e6 / served if served else np.nan,
            "gmacs_req": g["macs"].sum() / 1e9 / served if served else np.nan,
            "energy_j_req": g["energy_j"].sum() / served if served else np.nan,
            "dropped_blocks": per_served(g["n_dropped_mean"]),
            "requests": g["n_requests"].sum(), "solve_s": g["solve_s"].mean(),
            "optimal_steps": (g["status"] == "optimal").mean(), "max_gap": g["gap"].max()})
    keep = [c for c in df.columns if c in PAPER_SETTING or c == "label"]
    out = df.groupby(list(by), sort=True).apply(one, include_groups=False).reset_index()
    settings = df.groupby(list(by), sort=True)[keep].first().reset_index()
    return settings.merge(out, on=list(by))


def inputs(profile: str, **overrides) -> tuple[UnitTable, list[Config], dict, "profiles.Sim"]:
    """What the evaluation sections start from: the unit costs of the accuracy table's network, every
    configuration of the table that no other dominates (the threshold is a scenario setting), the
    table's provenance, and the profile's simulation settings with the ``overrides`` that are not
    None; these settings also carry ``scale`` (the §V devices for this network) and ``threshold_shift``
    (added to the paper's accuracy thresholds: 0 for a table taken as absolute)."""
    from ..io import file_hash
    from . import profiles
    S = profiles.get(profile).sim
    names = [f.name for f in dataclasses.fields(S) if f.name not in ("scale", "threshold_shift")]
    for key in overrides:
        if key not in names:
            raise ValueError(f"{key}: not a simulation setting (expected one of {', '.join(names)})")
    S = dataclasses.replace(S, **{k: v for k, v in overrides.items() if v is not None})
    T = profiles.table(S.table)
    path = repo_path(T.path)
    rows, meta = read_table(path)
    meta = {**meta, "table": T.path, "table_name": S.table, "table_sha256": file_hash(path)}
    configs = undominated(configs_from_rows(rows.to_dict("records"), threshold=0.0, max_dropped=None))
    units = load_units(**T.units)
    shift = 0.0 if T.thresholds == "absolute" else round(configs[0].accuracy - profiles.PAPER_FULL_ACCURACY, 4)
    S = dataclasses.replace(S, scale=Scale.between(units, load_units(**profiles.UNITS)), threshold_shift=shift)
    return units, configs, meta, S


def describe(S) -> str:
    """The simulation settings (a profile's ``Sim``) in words (for notebooks and notes)."""
    from .profiles import solver_options
    solver = solvers.info(S.method).words(solver_options(S))
    scale = S.scale or Scale()
    scaled = "" if scale.identity else \
        (f"; §V devices scaled ×{scale.macs:.4g} (compute, speed), ×{scale.memory:.3g} (memory), "
         f"×{scale.bytes:.4g} (link rates); thresholds {S.threshold_shift:+g} pt")
    return f"N = {S.n_devices}, T = {S.steps} steps, seeds {list(S.seeds)}, solver: {solver}{scaled}"

