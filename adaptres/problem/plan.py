"""A plan: a solver's decisions for one step (SPEC §8 ``plan.json``), typed.

``Plan`` and ``Assignment`` (one request's decisions) are frozen dataclasses. ``Plan.from_dict`` /
``load`` check the structure (types, fields; NaN is not JSON); whether the plan fits a scenario
(lengths, indices, capacities) is the evaluator's business (``adaptres.problem.evaluate``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..io import load_json, write_json
from .checks import ScenarioError, show

PLAN_FIELDS = ("method", "status", "objective", "bound", "gap", "solve_s", "requests", "metrics", "scenario_sha256")


@dataclass(frozen=True)
class Assignment:
    """One request's decisions: served or not, its configuration and the device of every unit."""

    served: bool
    config: int | None = None
    placement: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "placement", dict(self.placement))  # a copy: not shared with the caller

    def to_dict(self) -> dict:
        return {"served": self.served, "config": self.config, "placement": dict(self.placement)}


UNSERVED = Assignment(False)


def unserved(n_requests: int) -> tuple[Assignment, ...]:
    """Every request left unserved."""
    return (UNSERVED,) * n_requests


def _assignment(q, where: str) -> Assignment:
    if not isinstance(q, dict):
        raise ScenarioError(f"{where}: must be an object, got {type(q).__name__}")
    extra = sorted(set(q) - {"served", "config", "placement"})
    if extra:
        raise ScenarioError(f"{where}: unknown field {show(extra[0])}")
    if not isinstance(q.get("served"), bool):
        raise ScenarioError(f"{where}.served: must be true or false, got {show(q.get('served'))}")
    if not q["served"]:
        if q.get("config") is not None or q.get("placement"):
            raise ScenarioError(f"{where}: an unserved request has no config or placement")
        return UNSERVED
    k = q.get("config")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ScenarioError(f"{where}.config: must be a configuration index, got {show(k)}")
    place = q.get("placement")
    if not isinstance(place, dict):
        raise ScenarioError(f"{where}.placement: must be an object mapping units to devices, got {show(place)}")
    for name, d in place.items():
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ScenarioError(f"{where}.placement.{name}: must be a device index, got {show(d)}")
    return Assignment(True, k, place)


def _optional_number(obj: dict, key: str):
    v = obj.get(key)
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
        raise ScenarioError(f"plan.{key}: must be a finite number or null, got {show(v)}")
    return v


@dataclass(frozen=True)
class Plan:
    """A solver's answer: its decisions, status, objective (the evaluator's), best bound, relative
    gap, solve time and the evaluator's metrics."""

    method: str
    requests: tuple[Assignment, ...]
    status: str = "unknown"
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solve_s: float | None = None
    metrics: Mapping = field(default_factory=dict)
    scenario_sha256: str | None = None  # the fingerprint of the scenario it was made for (``Scenario.fingerprint``)

    def __post_init__(self):
        object.__setattr__(self, "requests", tuple(self.requests))
        object.__setattr__(self, "metrics", dict(self.metrics))

    @property
    def n_served(self) -> int:
        return sum(q.served for q in self.requests)

    def to_dict(self) -> dict:
        return {"method": self.method, "status": self.status, "objective": self.objective, "bound": self.bound,
                "gap": self.gap, "solve_s": self.solve_s, "requests": [q.to_dict() for q in self.requests],
                "metrics": dict(self.metrics), "scenario_sha256": self.scenario_sha256}

    @classmethod
    def from_dict(cls, obj) -> "Plan":
        if not isinstance(obj, dict):
            raise ScenarioError(f"plan: must be an object, got {type(obj).__name__}")
        for key in ("method", "requests"):
            if key not in obj:
                raise ScenarioError(f"plan: missing field {key!r}")
        extra = sorted(set(obj) - set(PLAN_FIELDS))
        if extra:
            raise ScenarioError(f"plan: unknown field {show(extra[0])}")
        if not isinstance(obj["method"], str) or not obj["method"]:
            raise ScenarioError(f"plan.method: must be a non-empty string, got {show(obj['method'])}")
        if not isinstance(obj.get("status", ""), str):
            raise ScenarioError(f"plan.status: must be a string, got {show(obj['status'])}")
        if not isinstance(obj["requests"], list):
            raise ScenarioError(f"plan.requests: must be a list, got {type(obj['requests']).__name__}")
        if not isinstance(obj.get("metrics", {}), dict):
            raise ScenarioError("plan.metrics: must be an object")
        requests = tuple(_assignment(q, f"plan.requests[{r}]") for r, q in enumerate(obj["requests"]))
        numbers = {k: _optional_number(obj, k) for k in ("objective", "bound", "gap", "solve_s")}
        for k in ("gap", "solve_s"):
            if numbers[k] is not None and numbers[k] < 0:
                raise ScenarioError(f"plan.{k}: must be at least 0, got {show(numbers[k])}")
        lo, hi = numbers["bound"], numbers["objective"]
        if lo is not None and hi is not None and lo > hi + 1e-9 * max(1.0, abs(hi)):
            raise ScenarioError(f"plan.bound: a lower bound above the objective ({show(lo)} > {show(hi)})")
        fingerprint = obj.get("scenario_sha256")
        if isinstance(fingerprint, str):
            if not re.fullmatch(r"[0-9a-fA-F]{16}", fingerprint):
                raise ScenarioError(f"plan.scenario_sha256: must be the scenario's fingerprint (16 hex digits) or null, "
                                    f"got {show(fingerprint)}")
            fingerprint = fingerprint.lower()
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise ScenarioError(f"plan.scenario_sha256: must be a string or null, got {show(fingerprint)}")
        return cls(method=obj["method"], requests=requests, status=obj.get("status", "unknown"),
                   metrics=obj.get("metrics", {}), scenario_sha256=fingerprint, **numbers)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        """Read ``plan.json``; an error names the file, then the field."""
        return load_json(path, "plan", cls.from_dict)
