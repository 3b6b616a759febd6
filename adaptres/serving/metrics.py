"""A load test's numbers, as the field reports them (PipeEdge, DEFER, Clockwork): one row per request, and
per run the offered against the achieved rate, goodput (answers within the SLO per second), SLO attainment,
latency percentiles, accuracy, energy per answer, the backlog and the planner's time (no torch).

Rates are per second of arrivals (``duration_s``): the offered rate is the requests that arrived, the
throughput those answered, the goodput those answered within the SLO. A request's latency runs from its
arrival to its answer: its wait for the epoch's end, the planner, the
queues and the execution. It ends once, with one status: ``answered``, ``refused`` (the policy said why:
admission control, a failed source, nothing fits), ``unserved`` (planned, but a failure or the executor's
deadline ended it) or ``failed`` (an error on a device); ``lost`` counts requests that never ended (a bug,
never expected).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .loop import History

COLUMNS = ("id", "arrival_s", "epoch", "source", "planned_s", "answered_s", "latency_s", "waited_s",
           "predicted_latency_s", "status", "reason", "within_slo", "accuracy", "devices", "dropped", "links",
           "replanned")


def requests_table(hist: History, slo_s: float | None) -> pd.DataFrame:
    """One row per request (``COLUMNS``): when it arrived, was planned and answered, its latency and what
    the planner predicted for it, how it ended and with what accuracy (the accuracy table's, for the drops
    it ran with)."""
    rows = []
    for rec in hist.epochs:
        sc, plan = rec.decision.scenario, rec.decision.plan
        table = {frozenset(c.dropped): c.accuracy for c in sc.configs}
        for r, a in enumerate(rec.epoch.arrivals):
            o = hist.outcomes.get(a.id)
            status: str
            reason: str | None
            if not plan.requests[r].served:
                status, reason = "refused", rec.decision.refused.get(r, "unserved in the plan")
            elif o is None:
                status, reason = "lost", "never ended"
            else:
                status, reason = o.status, o.reason
            done = o if status == "answered" else None  # its outcome, when it was answered
            latency = done.ended_at - a.at_s if done is not None and done.ended_at is not None else math.nan
            end = rec.predicted_end[r]
            predicted = end - a.at_s if end is not None else math.nan
            acc = table.get(frozenset(done.dropped)) if done is not None else None
            rows.append({"id": a.id, "arrival_s": a.at_s, "epoch": rec.epoch.index, "source": a.source,
                         "planned_s": rec.submitted_at, "answered_s": done.ended_at if done is not None else math.nan,
                         "latency_s": latency, "waited_s": rec.submitted_at - a.at_s, "predicted_latency_s": predicted,
                         "status": status, "reason": reason,
                         "within_slo": bool(done is not None and (slo_s is None or latency <= slo_s + 1e-9)),
                         "accuracy": acc if acc is not None else math.nan,
                         "devices": " ".join(map(str, done.devices)) if done is not None else "",
                         "dropped": " ".join(done.dropped) if done is not None else "",
                         "links": " ".join(f"{x}-{y}" for x, y in done.links) if done is not None else "",
                         "replanned": bool(o is not None and o.replanned)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def percentile(values, q: float) -> float:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    return float(np.percentile(v, q)) if len(v) else math.nan


def summary(df: pd.DataFrame, hist: History, *, rate: float, duration_s: float, epoch_s: float, slo_s: float,
            energy_j: float, static_capacity_rps: float | None) -> dict:
    """The run's numbers (see the module's docstring)."""
    answered = df[df["status"] == "answered"]
    counts = {s: int((df["status"] == s).sum()) for s in ("answered", "refused", "unserved", "failed", "lost")}
    ok = answered[answered["within_slo"]]
    planner = [e.planner_s for e in hist.epochs if e.epoch.arrivals]
    backlog = [e.backlog_s for e in hist.epochs]
    return {"rate": rate, "duration_s": duration_s, "epoch_s": epoch_s, "slo_s": slo_s,
            "arrived": len(df), **counts,
            "offered_rps": len(df) / duration_s if duration_s else math.nan,
            "throughput_rps": counts["answered"] / duration_s if duration_s else math.nan,
            "goodput_rps": len(ok) / duration_s if duration_s else math.nan,
            "slo_attainment": len(ok) / len(df) if len(df) else math.nan,
            "p50_s": percentile(answered["latency_s"], 50), "p95_s": percentile(answered["latency_s"], 95),
            "p99_s": percentile(answered["latency_s"], 99),
            "mean_accuracy": float(answered["accuracy"].mean()) if len(answered) else math.nan,
            "energy_per_answer_j": energy_j / counts["answered"] if counts["answered"] else math.nan,
            "max_backlog_s": float(max(backlog, default=0.0)),
            "planner_s_mean": float(np.mean(planner)) if planner else 0.0,
            "planner_s_max": float(np.max(planner)) if planner else 0.0,
            "behind_s": hist.behind_s, "static_capacity_rps": static_capacity_rps,
            "replanned": int(df["replanned"].sum())}


def attainment_over_time(df: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: requests arrived and the share answered within the SLO (a failure's dent and recovery)."""
    g = df.groupby("epoch")
    return pd.DataFrame({"arrived": g.size(), "attainment": g["within_slo"].mean()}).reset_index()
