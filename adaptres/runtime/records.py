"""A request's record in ``run.json`` and in a load test: how it ended, what the model predicted for it,
the hops it ran and their measured times (no Ray)."""

from __future__ import annotations

from collections.abc import Sequence

from ..problem.evaluate import evaluate
from ..problem.plan import Plan
from ..problem.scenario import Scenario
from .options import ExecutionOptions


def request_record(sc: Scenario, r: int, end: dict, model: dict, st, label: int, image: int, t0: float) -> dict:
    """Request r's record: how it ended (``end``: status, reason, and for an answer its prediction,
    logits and latency), what the model predicted for it (the evaluator's row ``model``), and, when it
    ran (``st``: the engine's state of it), its hops and measured times relative to ``t0``."""
    out = {"request": r, "status": end["status"], "reason": end["reason"], "image": int(image), "label": int(label),
           "prediction": end.get("prediction"), "latency_s": end.get("latency_s"),
           "latency_model_s": model["latency_s"] if model["served"] else None,
           "compute_s": None, "transfer_s": None, "queue_s": None, "load_s": None, "overhead_s": None,
           "bytes_sent": 0, "bytes_model": model["dc_bytes"] + model["sc_bytes"] if model["served"] else 0.0,
           "compute_model_s": model["computation_s"] if model["served"] else None,
           "transfer_model_s": model["dc_transfer_s"] + model["sc_transfer_s"] if model["served"] else None,
           "devices": list(dict.fromkeys(st.devices)) if st else [], "config": model["config"],
           "dropped": sorted(st.route.dropped, key=sc.unit_names.index) if st else [],
           "replanned": bool(st and st.replanned), "logits": end.get("logits"), "hops": [],
           "lost_hops": list(st.lost) if st else [], "ended_at": end.get("at")}
    if st:
        recs = st.records
        out["bytes_sent"] = int(sum(h["bytes"] for h in recs))
        out["hops"] = [{**h, "arrive": h["arrive"] - t0, "end": h["end"] - t0} for h in recs]
        if end["status"] == "answered":
            parts = {k: float(sum(h[f] for h in recs for f in fs)) for k, fs in
                     (("compute_s", ("compute_s",)), ("transfer_s", ("transfer_s",)),
                      ("queue_s", ("link_wait_s", "queue_wait_s")), ("load_s", ("load_wait_s",)))}
            out.update(parts, overhead_s=out["latency_s"] - sum(parts.values()))
    return out


def unserved_run(sc: Scenario, plan: Plan, labels: Sequence[int], image_ids: Sequence[int],
                 options: ExecutionOptions | None = None) -> dict:
    """The record of a step whose plan serves no request: nothing runs, no device is started."""
    model = evaluate(sc, plan).requests
    end = {"status": "unserved", "reason": "unserved in the plan"}
    return {"requests": [request_record(sc, r, end, model[r], None, labels[r], image_ids[r], 0.0)
                         for r in range(len(sc.requests))],
            "failures": [], "devices": [], "ended_twice": [], "heartbeat": {"pings": 0, "median_s": None, "p99_s": None,
                                                                             "max_s": None},
            "options": (options or ExecutionOptions()).record()}
