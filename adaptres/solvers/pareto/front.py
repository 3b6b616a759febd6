"""A front's points and their geometry: which are dominated, which a weighted sum can reach, hypervolume.

Objectives, all per step: the mean latency of the served requests (s, lower is better), their mean
accuracy (%, higher), the energy of every device (J, lower) and the number served (higher). A point
carries its plan (scored by the evaluator on the scenario as given: ``evaluate`` accepts it with
exactly the point's metrics) and, for an exact front, the proven gap of its latency under its budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...io import write_json
from ...problem.plan import Plan

TOL = 1e-9  # relative: two metrics this close are equal (dominance, duplicates)


@dataclass(frozen=True)
class Point:
    """One plan of a step and its objectives."""

    mean_latency_s: float
    mean_accuracy: float
    energy_j: float
    served: int
    plan: Plan
    gap: float | None = None  # proven relative gap of its latency objective under its budgets (None: heuristic)
    loss_budget: float | None = None  # Σ points of accuracy below the full model allowed (ε; None: no bound)
    energy_budget_j: float | None = None  # Σ joules allowed (None: no bound)
    supported: bool | None = None  # reached by some weighted sum of latency and accuracy among the front's points
    alphas: tuple[float, ...] = ()  # the weighted-sum α whose optimum is this point

    @classmethod
    def of(cls, plan: Plan, **more) -> "Point":
        m = plan.metrics
        return cls(float(m["mean_latency_s"] or 0.0), float(m["mean_accuracy"] or 0.0), float(m["energy_j"]),
                   int(m["served"]), plan, **more)

    def key(self) -> tuple[float, float, float, int]:
        """Its objectives, each to be minimised."""
        return self.mean_latency_s, -self.mean_accuracy, self.energy_j, -self.served

    def to_dict(self) -> dict:
        return {"mean_latency_s": self.mean_latency_s, "mean_accuracy": self.mean_accuracy, "energy_j": self.energy_j,
                "served": self.served, "gap": self.gap, "loss_budget": self.loss_budget,
                "energy_budget_j": self.energy_budget_j, "supported": self.supported, "alphas": list(self.alphas),
                "plan": self.plan.to_dict()}


def _le(a: float, b: float) -> bool:
    return a <= b + TOL * max(1.0, abs(a), abs(b))


def _eq(a: float, b: float) -> bool:
    return _le(a, b) and _le(b, a)


def _keys(p: Point, q: Point, energy: bool) -> tuple[tuple, tuple]:
    a, b = p.key(), q.key()
    return (a, b) if energy else (a[:2] + a[3:], b[:2] + b[3:])


def dominates(p: Point, q: Point, energy: bool = True) -> bool:
    """p is no worse than q in every objective and better in one (energy counted only with ``energy``)."""
    a, b = _keys(p, q, energy)
    return all(_le(x, y) for x, y in zip(a, b)) and not all(_eq(x, y) for x, y in zip(a, b))


def same(p: Point, q: Point, energy: bool = True) -> bool:
    a, b = _keys(p, q, energy)
    return all(_eq(x, y) for x, y in zip(a, b))


def nondominated(points: list[Point], energy: bool = False) -> list[Point]:
    """The points no other dominates, duplicates once (the first kept), by latency then accuracy."""
    out: list[Point] = []
    for p in points:
        if any(dominates(q, p, energy) for q in points) or any(same(q, p, energy) for q in out):
            continue
        out.append(p)
    return sorted(out, key=lambda p: (p.mean_latency_s, -p.mean_accuracy))


def supported(points: list[Point], l_ref: float, full_accuracy: float) -> list[bool]:
    """Per point: is it optimal among ``points`` (those serving as many) for some weighted sum α·L̂ + β·ΔA
    of Eq 5 (α + β = 1, both ≥ 0; L̂ = mean latency / L_ref, ΔA = relative accuracy loss)? A point that is
    not can be reached by no weighted sum at all, however fine the α grid (the points are real plans)."""
    x = np.array([p.mean_latency_s / l_ref for p in points])
    y = np.array([(full_accuracy - p.mean_accuracy) / full_accuracy for p in points])
    out = []
    for i, p in enumerate(points):
        lo, hi = 0.0, 1.0  # α such that α·(x_i − x_q) + (1 − α)·(y_i − y_q) ≤ 0 for every q
        for q, other in enumerate(points):
            if q == i or other.served != p.served:
                continue
            a, c = (x[i] - x[q]) - (y[i] - y[q]), y[q] - y[i]  # a·α ≤ c
            slack = TOL * max(1.0, abs(c))
            if abs(a) <= 1e-15:
                if c < -slack:
                    lo, hi = 1.0, 0.0
            elif a > 0:
                hi = min(hi, (c + slack) / a)
            else:
                lo = max(lo, (c + slack) / a)
        out.append(bool(lo <= hi))
    return out


def hypervolume(points: list[Point], ref: tuple[float, float]) -> float:
    """The area (seconds × accuracy points) of the (mean latency, mean accuracy) plane that ``points``
    dominate up to ``ref`` = (a latency, an accuracy) no point is worse than (pymoo's HV)."""
    from pymoo.indicators.hv import HV
    if not points:
        return 0.0
    F = np.array([[p.mean_latency_s, -p.mean_accuracy] for p in points])
    return float(HV(ref_point=np.array([ref[0], -ref[1]], dtype=float))(F))


def reference(*fronts: list[Point], margin: float = 0.05) -> tuple[float, float]:
    """One reference point for several fronts: their worst latency and accuracy, ``margin`` of their ranges
    beyond (so that extreme points count too)."""
    pts = [p for f in fronts for p in f]
    lat = [p.mean_latency_s for p in pts]
    acc = [p.mean_accuracy for p in pts]
    return (max(lat) + margin * max(max(lat) - min(lat), 1e-3 * max(lat), 1e-9),
            min(acc) - margin * max(max(acc) - min(acc), 1e-2))


@dataclass
class Front:
    """A step's front: its points (non-dominated, by latency), the weighted-sum optima of an α grid and how
    it was found."""

    points: list[Point]
    weighted_sum: list[dict] = field(default_factory=list)  # per α: its optimum's metrics and the point it is
    meta: dict = field(default_factory=dict)  # method, scenario's fingerprint, time, budgets, options

    def to_dict(self) -> dict:
        return {**self.meta, "points": [p.to_dict() for p in self.points], "weighted_sum": self.weighted_sum}

    def save(self, path) -> None:
        write_json(path, self.to_dict())
