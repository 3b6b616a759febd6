"""The runtime's experiments (notebook 08): a §V-A step executed for real, and a failure sweep.

Executed steps use the committed drop-aware model of the cpu profile (ResNet-50 at 32 px,
Fashion-MNIST, ``data/models/``) and its scenarios: the §V devices scaled to that network
(``sections.scenario_for("cpu", ...)``), so that its accuracy table, unit costs and weights belong
to one network. Images are Fashion-MNIST test images drawn with the step's seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import solvers
from ..problem.plan import Plan
from ..problem.scenario import Scenario
from ..progress import bar
from ..runtime import routes as R
from ..runtime.cluster import Cluster
from ..runtime.options import ExecutionOptions
from ..runtime.records import unserved_run
from . import profiles, sections

PROFILE = "cpu"  # the network whose weights are committed (drop-aware, 32 px)


def load_model(weights=None):
    """The drop-aware 32-px model (or ``weights``, a state dict file of the same network) and its recipe."""
    from ..nn import train
    out = profiles.outputs(PROFILE, "dropaware")
    recipe = profiles.recipes(PROFILE)["dropaware"]
    return train.load_trained(out["train_dir"], weights=weights or out["weights"], recipe=recipe)


def weights_file(weights=None) -> str:
    """The weights file ``load_model`` reads (each device of a cluster reads its units from it)."""
    return str(weights or profiles.outputs(PROFILE, "dropaware")["weights"])


def images(recipe, n: int, seed: int):
    """``n`` Fashion-MNIST test images drawn with ``seed``: (inputs of batch 1, labels, test-set indices)."""
    from ..nn import data
    test = data.load(recipe.dataset, "test")
    idx = np.random.default_rng(seed).choice(len(test), size=n, replace=False).tolist() if n else []
    x = data.prepare(test.images[idx], recipe.dataset, recipe.image_size, channels_last=False) if n else []
    # each image its own tensor: a view would carry the whole batch's storage wherever it is sent
    return [x[i:i + 1].clone() for i in range(n)], [int(test.labels[i]) for i in idx], idx


def check_network(sc: Scenario, model, recipe) -> None:
    """That a scenario describes the model's network (unit names, input size), else one line."""
    names = tuple(u.name for u in model.units)
    if sc.unit_names != names:
        raise ValueError(f"scenario.units: {len(sc.unit_names)} units ({sc.unit_names[0]} ... {sc.unit_names[-1]}) "
                         f"are not the model's {len(names)} ({names[0]} ... {names[-1]})")
    want = 3 * recipe.image_size ** 2 * 4
    if sc.input_bytes != want:
        raise ValueError(f"scenario.input_bytes: {sc.input_bytes:g} is not the model's input "
                         f"(3 × {recipe.image_size} × {recipe.image_size} fp32 = {want} bytes)")


def scenario(n_devices: int, n_requests: int, seed: int, speed: float = 1.0) -> Scenario:
    """A §V-A step for the committed model's network (see the module's docstring); ``speed``: every
    device's speed and link rate times this (the per-step budgets stay: the same plans, shorter steps)."""
    sc = sections.scenario_for(PROFILE, n_devices, n_requests, seed, "V-A")
    if speed == 1.0:
        return sc
    devices = tuple(dataclasses.replace(d, macs_per_s=d.macs_per_s * speed) for d in sc.devices)
    return sc.replace(devices=devices, rate_mbps=[[v * speed for v in row] for row in sc.rate_mbps],
                      latency_ref_s=sc.l_ref() / speed)


def nothing_to_run(sc: Scenario, plan: Plan, recipe, seed: int) -> dict:
    """The record of a step whose plan serves no request (no device started)."""
    _, labels, idx = images(recipe, len(sc.requests), seed)
    return unserved_run(sc, plan, labels, idx)


def run_step(cl: Cluster, recipe, sc: Scenario, plan: Plan, seed: int, failures=(),
             options: ExecutionOptions | None = None) -> dict:
    """Execute one step on real test images (drawn with ``seed``); the run's record."""
    x, labels, idx = images(recipe, len(sc.requests), seed)
    return cl.execute(sc, plan, x, labels, idx, failures, options or ExecutionOptions())


def requests_table(run: dict, sc: Scenario | None = None, plan: Plan | None = None) -> pd.DataFrame:
    """One row per request of a run; with the scenario and plan, also the queue-aware estimate."""
    keep = ("request", "status", "reason", "label", "prediction", "latency_s", "latency_model_s", "compute_s",
            "compute_model_s", "transfer_s", "transfer_model_s", "queue_s", "load_s", "overhead_s", "bytes_sent",
            "bytes_model", "replanned")
    df = pd.DataFrame([{k: q.get(k) for k in keep} | {"devices": " ".join(map(str, q["devices"]))}
                       for q in run["requests"]])
    df["correct"] = df["prediction"] == df["label"]
    if sc is not None and plan is not None:
        df["latency_queued_s"] = R.queued_latency(sc, R.routes(sc, plan), run["options"]["exclusive"])
    return df


def hops_table(run: dict) -> pd.DataFrame:
    """Every executed segment: request, device, units, arrival, transfer, queue, compute and end times."""
    rows = [{"request": q["request"], **h} for q in run["requests"] for h in q["hops"]]
    return pd.DataFrame(rows)


def pick_failures(sc: Scenario, plan: Plan, k: int, seed: int, at_s: float) -> list[tuple[int, float]]:
    """``k`` devices to fail ``at_s`` into the step: those the plan's routes use most (seeded ties),
    then others; the i-th fails ``at_s · (1 + i / 2)`` into the step."""
    use = np.zeros(sc.n_devices)
    for rt in R.routes(sc, plan):
        for s in rt.segments if rt else ():
            use[s.device] += s.compute_s
    noise = np.random.default_rng(seed).random(sc.n_devices) * 1e-9
    order = np.argsort(-(use + noise), kind="stable")[:k]
    return [(int(d), round(at_s * (1 + i / 2), 3)) for i, d in enumerate(order)]


def failure_sweep(cl: Cluster, recipe, kills: Sequence[int], seeds: Sequence[int], n_devices: int, n_requests: int,
                  at_s: float = 0.3, method: str = "colgen_round", speed: float = 1.0,
                  progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """For each seed and number of failed devices: one §V-A step planned by ``method`` and executed
    with that many of its busiest devices killed; one row per run (requests answered, unserved,
    lost, accuracy, latency, detection and re-plan times), and the runs' records by (seed, killed)."""
    rows, runs = [], {}
    todo = [(s, k) for s in seeds for k in kills]
    for seed, k in bar(todo, desc="failure sweep", progress=progress):
        sc = scenario(n_devices, n_requests, seed, speed)
        plan = solvers.solve(sc, method)
        fails = pick_failures(sc, plan, k, seed, at_s)
        run = runs[seed, k] = run_step(cl, recipe, sc, plan, seed, fails, ExecutionOptions(method=method))
        q = pd.DataFrame(run["requests"])
        answered = q[q["status"] == "answered"]
        f = pd.DataFrame(run["failures"])
        rows.append({"seed": seed, "killed": k, "requests": len(q), "planned": plan.n_served,
                     "answered": len(answered), "unserved": int((q["status"] == "unserved").sum()),
                     "failed": int((q["status"] == "failed").sum()),
                     "lost": int((~q["status"].isin(["answered", "unserved", "failed"])).sum()),
                     "replanned": int(q["replanned"].sum()),
                     "unserved_source_failed": int(q["reason"].fillna("").str.startswith("its source").sum()),
                     "unserved_no_continuation": int(q["reason"].fillna("").str.contains("no feasible continuation").sum()),
                     "accuracy_pct": 100 * float((answered["prediction"] == answered["label"]).mean())
                     if len(answered) else np.nan,
                     "latency_s": float(answered["latency_s"].mean()) if len(answered) else np.nan,
                     "latency_model_s": float(answered["latency_model_s"].mean()) if len(answered) else np.nan,
                     "detect_s": float((f["detected_s"] - f["at_s"]).max()) if len(f) else np.nan,
                     "replan_s": float((f["replanned_s"] - f["detected_s"]).max()) if len(f) else np.nan})
    return pd.DataFrame(rows), runs
