"""The per-step row of the paper's simulator: a step's metrics from the evaluator, the batteries before it.

``step_row`` is what every simulated sweep saves per step (``data/results/*.csv``), and ``serve`` puts
the measured numbers beside it."""

from __future__ import annotations

import numpy as np

from ..problem.evaluate import Evaluation, evaluate
from ..problem.plan import Plan
from ..problem.scenario import Scenario

# the per-step totals also given per served request
PER_SERVED = ("energy_j", "shared_bytes", "macs")


def step_row(t: int, sc: Scenario, plan: Plan, battery_before, ev: Evaluation | None = None) -> tuple[dict, list[dict]]:
    """Step t's row (the evaluator's metrics of ``plan`` on ``sc``, the solve's status and time, the
    batteries before it) and the per-device use (energy, memory, ...). ``ev``: the evaluation, if made."""
    ev = ev if ev is not None else evaluate(sc, plan)
    m = ev.metrics()
    n_req = len(sc.requests)
    row = {"step": t, "n_requests": n_req, "served": m["served"],
           "served_fraction": m["served_fraction"] if n_req else np.nan,
           "mean_accuracy": m["mean_accuracy"], "mean_latency_s": m["mean_latency_s"],
           "mean_computation_s": m["mean_computation_s"], "mean_dc_transfer_s": m["mean_dc_transfer_s"],
           "mean_sc_transfer_s": m["mean_sc_transfer_s"], "shared_bytes": m["shared_bytes"],
           "dc_bytes": m["dc_bytes"], "sc_bytes": m["sc_bytes"], "macs": m["macs"],
           "energy_j": m["energy_j"], "n_dropped_mean": m["n_dropped_mean"], "objective": ev.objective,
           "violations": len(ev.violations), "status": plan.status, "solve_s": plan.solve_s,
           "gap": plan.gap, "battery_min_j": min(battery_before), "battery_total_j": float(sum(battery_before)),
           "devices_exhausted": int(sum(b <= 0 for b in battery_before))}
    served = m["served"]  # the per-step totals per served request (NaN when none was served)
    row.update({f"{k}_req": row[k] / served if served else np.nan for k in PER_SERVED})
    return row, ev.devices
