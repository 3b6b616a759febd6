"""A scenario: one time step of the distributed-inference problem (SPEC §4, §8), and plans.

``Scenario`` holds the units' costs, the accuracy configurations, the devices, the link rates, the
requests and the weights. It reads and writes ``scenario.json`` exactly as SPEC §8; validation
names the field and the reason (``ScenarioError``, a ``ValueError``). ``Plan`` is a solver's answer
(``plan.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

UNIT_FIELDS = ("name", "kind", "macs", "macs_dropped", "weight_bytes", "activation_bytes", "weight_bytes_dropped",
               "activation_bytes_dropped", "output_bytes")
DEVICE_FIELDS = ("name", "memory_bytes", "compute_macs", "macs_per_s", "energy_j", "p_compute_w", "p_transmit_w")
TOP_FIELDS = ("units", "input_bytes", "configs", "devices", "rate_mbps", "requests", "alpha", "beta",
              "accuracy_threshold", "memory_model", "latency_ref_s")
MEMORY_MODELS = ("per_request", "shared_weights")
UNSERVED_PENALTY = 10.0


class ScenarioError(ValueError):
    """Malformed scenario or plan: the message names the field and the reason."""


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _number(obj: dict, key: str, where: str, positive: bool = False, nonneg: bool = False, nullable: bool = False):
    v = obj.get(key)
    if v is None and nullable:
        return None
    if not _is_number(v):
        raise ScenarioError(f"{where}.{key}: must be a number, got {v!r}")
    if positive and v <= 0:
        raise ScenarioError(f"{where}.{key}: must be positive, got {v!r}")
    if nonneg and v < 0:
        raise ScenarioError(f"{where}.{key}: must not be negative, got {v!r}")
    return v


def _exact_keys(obj, keys, where: str) -> None:
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where}: must be an object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ScenarioError(f"{where}: missing field {missing[0]!r}")
    extra = sorted(set(obj) - set(keys))
    if extra:
        raise ScenarioError(f"{where}: unknown field {extra[0]!r}")


def _read_json(path: str | Path, what: str):
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{what}: {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{what}: {path} is not JSON ({exc.msg} at line {exc.lineno})") from None


def _write_json(path: str | Path, obj) -> None:
    from .train import atomic_write_text
    atomic_write_text(Path(path), json.dumps(obj, indent=1))


@dataclass
class Scenario:
    units: list[dict]
    input_bytes: float
    configs: list[dict]
    devices: list[dict]
    rate_mbps: list[list[float]]
    requests: list[dict]
    alpha: float = 0.5
    beta: float = 0.5
    accuracy_threshold: float = 80.0
    memory_model: str = "per_request"
    latency_ref_s: float | None = None

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        if not isinstance(self.units, list) or len(self.units) < 2:
            raise ScenarioError("units: must be a list of at least two units (stem ... head)")
        names = []
        for j, u in enumerate(self.units):
            where = f"units[{j}]"
            _exact_keys(u, UNIT_FIELDS, where)
            if not isinstance(u["name"], str) or not u["name"]:
                raise ScenarioError(f"{where}.name: must be a non-empty string")
            if u["kind"] not in ("stem", "conv", "identity", "head"):
                raise ScenarioError(f"{where}.kind: must be stem, conv, identity or head, got {u['kind']!r}")
            droppable = u["kind"] in ("conv", "identity")
            for key in ("macs", "weight_bytes", "activation_bytes", "output_bytes"):
                _number(u, key, where, nonneg=True)
            for key in ("macs_dropped", "weight_bytes_dropped", "activation_bytes_dropped"):
                if droppable:
                    _number(u, key, where, nonneg=True)
                elif u[key] is not None:
                    raise ScenarioError(f"{where}.{key}: must be null for a unit of kind {u['kind']!r}")
            names.append(u["name"])
        if len(set(names)) != len(names):
            raise ScenarioError("units: unit names must be unique")
        _number({"input_bytes": self.input_bytes}, "input_bytes", "scenario", positive=True)
        droppable = {u["name"] for u in self.units if u["kind"] in ("conv", "identity")}
        if not isinstance(self.configs, list) or not self.configs:
            raise ScenarioError("configs: must be a non-empty list")
        for k, c in enumerate(self.configs):
            where = f"configs[{k}]"
            _exact_keys(c, ("dropped", "accuracy"), where)
            if not isinstance(c["dropped"], list):
                raise ScenarioError(f"{where}.dropped: must be a list of unit names")
            for name in c["dropped"]:
                if name not in names:
                    raise ScenarioError(f"{where}.dropped: unknown unit {name!r}")
                if name not in droppable:
                    raise ScenarioError(f"{where}.dropped: unit {name!r} cannot be dropped")
            if len(set(c["dropped"])) != len(c["dropped"]):
                raise ScenarioError(f"{where}.dropped: a unit appears twice")
            acc = _number(c, "accuracy", where)
            if not 0 <= acc <= 100:
                raise ScenarioError(f"{where}.accuracy: must be in [0, 100], got {acc}")
        if self.configs[0]["dropped"]:
            raise ScenarioError("configs[0].dropped: must be [] (the full model comes first)")
        if self.configs[0]["accuracy"] <= 0:
            raise ScenarioError("configs[0].accuracy: must be positive (it is the reference a_0)")
        if not isinstance(self.devices, list) or not self.devices:
            raise ScenarioError("devices: must be a non-empty list")
        for i, d in enumerate(self.devices):
            where = f"devices[{i}]"
            _exact_keys(d, DEVICE_FIELDS, where)
            for key in ("memory_bytes", "compute_macs", "macs_per_s"):
                _number(d, key, where, positive=True)
            for key in ("energy_j", "p_compute_w", "p_transmit_w"):
                _number(d, key, where, nonneg=True)
        n = len(self.devices)
        if not isinstance(self.rate_mbps, list) or len(self.rate_mbps) != n or \
                any(not isinstance(row, list) or len(row) != n for row in self.rate_mbps):
            raise ScenarioError(f"rate_mbps: must be a square {n}×{n} matrix (one row and column per device)")
        for i in range(n):
            for k in range(n):
                v = self.rate_mbps[i][k]
                if not _is_number(v):
                    raise ScenarioError(f"rate_mbps[{i}][{k}]: must be a number, got {v!r}")
                if i != k and v <= 0:
                    raise ScenarioError(f"rate_mbps[{i}][{k}]: must be positive between two devices, got {v!r}")
                if v != self.rate_mbps[k][i]:
                    raise ScenarioError(f"rate_mbps[{i}][{k}]: the matrix must be symmetric "
                                        f"({v} vs rate_mbps[{k}][{i}] = {self.rate_mbps[k][i]})")
        if not isinstance(self.requests, list):
            raise ScenarioError("requests: must be a list")
        for r, q in enumerate(self.requests):
            _exact_keys(q, ("source",), f"requests[{r}]")
            s = q["source"]
            if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < n:
                raise ScenarioError(f"requests[{r}].source: must be a device index in 0..{n - 1}, got {s!r}")
        for key in ("alpha", "beta"):
            v = getattr(self, key)
            if not _is_number(v) or v < 0:
                raise ScenarioError(f"{key}: must be a non-negative number, got {v!r}")
        if abs(self.alpha + self.beta - 1) > 1e-9:
            raise ScenarioError(f"alpha, beta: must add up to 1, got {self.alpha} + {self.beta}")
        if not _is_number(self.accuracy_threshold) or not 0 <= self.accuracy_threshold <= 100:
            raise ScenarioError(f"accuracy_threshold: must be in [0, 100], got {self.accuracy_threshold!r}")
        if self.memory_model not in MEMORY_MODELS:
            raise ScenarioError(f"memory_model: must be one of {', '.join(MEMORY_MODELS)}, got {self.memory_model!r}")
        if self.latency_ref_s is not None and (not _is_number(self.latency_ref_s) or self.latency_ref_s <= 0):
            raise ScenarioError(f"latency_ref_s: must be positive or null, got {self.latency_ref_s!r}")

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_devices(self) -> int:
        return len(self.devices)

    @property
    def unit_names(self) -> list[str]:
        return [u["name"] for u in self.units]

    def l_ref(self) -> float:
        """L_ref (SPEC §5): ``latency_ref_s``, else the whole model on the slowest device."""
        if self.latency_ref_s is not None:
            return float(self.latency_ref_s)
        return sum(u["macs"] for u in self.units) / min(d["macs_per_s"] for d in self.devices)

    def allowed_configs(self) -> list[int]:
        """Configurations that meet the accuracy threshold (Eq 16)."""
        return [k for k, c in enumerate(self.configs) if c["accuracy"] >= self.accuracy_threshold]

    def unit_cost(self, j: int, dropped: bool) -> dict:
        """macs, weight and activation bytes of unit j, its DC dropped or not."""
        u = self.units[j]
        if dropped:
            return {"macs": u["macs_dropped"], "weight": u["weight_bytes_dropped"],
                    "activation": u["activation_bytes_dropped"]}
        return {"macs": u["macs"], "weight": u["weight_bytes"], "activation": u["activation_bytes"]}

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in TOP_FIELDS}

    @classmethod
    def from_dict(cls, obj) -> "Scenario":
        _exact_keys(obj, TOP_FIELDS, "scenario")
        return cls(**{k: obj[k] for k in TOP_FIELDS})

    def save(self, path: str | Path) -> None:
        _write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Scenario":
        return cls.from_dict(_read_json(path, "scenario"))


# ---------------------------------------------------------------------------- building scenarios
def units_from_costs(costs: pd.DataFrame) -> list[dict]:
    """The scenario's unit list from ``adaptres.costs.unit_costs``."""
    out = []
    for row in costs.itertuples(index=False):
        d = {"name": row.name, "kind": row.kind, "macs": int(row.macs)}
        for key, col in (("macs_dropped", "macs_dropped"), ("weight_bytes_dropped", "weight_bytes_dropped"),
                         ("activation_bytes_dropped", "activation_bytes_dropped")):
            v = getattr(row, col)
            d[key] = None if pd.isna(v) else int(v)
        d.update(weight_bytes=int(row.weight_bytes), activation_bytes=int(row.activation_bytes),
                 output_bytes=int(row.output_bytes))
        out.append({k: d[k] for k in UNIT_FIELDS})
    return out


def device(name: str, memory_bytes: float, compute_macs: float, macs_per_s: float, energy_j: float,
           p_compute_w: float = 8.0, p_transmit_w: float = 10.0) -> dict:
    return {"name": name, "memory_bytes": float(memory_bytes), "compute_macs": float(compute_macs),
            "macs_per_s": float(macs_per_s), "energy_j": float(energy_j), "p_compute_w": float(p_compute_w),
            "p_transmit_w": float(p_transmit_w)}


def paper_devices(n: int = 10, memory_mb=(100, 200), compute_g=(1.4, 2.8), speed_g=(1.4, 2.8),
                  battery_j=(800, 1000), p_compute_w: float = 8.0, p_transmit_w: float = 10.0) -> list[dict]:
    """§V-A's devices: the first half low-capacity, the second half high-capacity (MB = 1e6 bytes)."""
    low = n // 2
    return [device(f"{'low' if i < low else 'high'}{i}", memory_mb[i >= low] * 1e6, compute_g[i >= low] * 1e9,
                   speed_g[i >= low] * 1e9, battery_j[i >= low], p_compute_w, p_transmit_w) for i in range(n)]


def random_rates(n: int, rng: np.random.Generator, low: float = 7.2, high: float = 72.2) -> list[list[float]]:
    """Symmetric link rates drawn from U[low, high] Mb/s (§V); 0 on the diagonal."""
    m = np.zeros((n, n))
    iu = np.triu_indices(n, 1)
    m[iu] = rng.uniform(low, high, len(iu[0]))
    m = m + m.T
    return [[round(float(v), 4) for v in row] for row in m]


def build(costs: pd.DataFrame, configs: list[dict], devices: list[dict], sources: list[int],
          rate_mbps: list[list[float]], alpha: float = 0.5, beta: float = 0.5, accuracy_threshold: float = 80.0,
          memory_model: str = "per_request", latency_ref_s: float | None = None) -> Scenario:
    """A scenario from a cost table, an accuracy configuration list, devices, request sources and rates."""
    return Scenario(units=units_from_costs(costs), input_bytes=int(costs.attrs["input_bytes"]),
                    configs=[{"dropped": list(c["dropped"]), "accuracy": float(c["accuracy"])} for c in configs],
                    devices=devices, rate_mbps=rate_mbps, requests=[{"source": int(s)} for s in sources],
                    alpha=alpha, beta=beta, accuracy_threshold=accuracy_threshold, memory_model=memory_model,
                    latency_ref_s=latency_ref_s)


def random_step(costs: pd.DataFrame, configs: list[dict], devices: list[dict], n_requests: int, seed: int,
                **kwargs) -> Scenario:
    """One seeded step: uniformly random request sources and U[7.2, 72.2] Mb/s rates."""
    rng = np.random.default_rng(seed)
    rates = random_rates(len(devices), rng)
    sources = rng.integers(0, len(devices), n_requests).tolist()
    return build(costs, configs, devices, sources, rates, **kwargs)


# ---------------------------------------------------------------------------- plans
@dataclass
class Plan:
    """A solver's decisions for every request, with its status and (once evaluated) metrics."""

    method: str
    requests: list[dict]  # {"served": bool, "config": int | None, "placement": {unit: device}}
    status: str = "unknown"
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solve_s: float | None = None
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"method": self.method, "status": self.status, "objective": self.objective, "bound": self.bound,
                "gap": self.gap, "solve_s": self.solve_s, "requests": self.requests, "metrics": self.metrics}

    @classmethod
    def from_dict(cls, obj) -> "Plan":
        if not isinstance(obj, dict):
            raise ScenarioError("plan: must be an object")
        for key in ("method", "requests"):
            if key not in obj:
                raise ScenarioError(f"plan: missing field {key!r}")
        if not isinstance(obj["requests"], list):
            raise ScenarioError("plan.requests: must be a list")
        return cls(method=obj["method"], requests=obj["requests"], status=obj.get("status", "unknown"),
                   objective=obj.get("objective"), bound=obj.get("bound"), gap=obj.get("gap"),
                   solve_s=obj.get("solve_s"), metrics=obj.get("metrics", {}))

    def save(self, path: str | Path) -> None:
        _write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        return cls.from_dict(_read_json(path, "plan"))


def unserved(n_requests: int) -> list[dict]:
    return [{"served": False, "config": None, "placement": {}} for _ in range(n_requests)]
