"""A scenario: one time step of the distributed-inference problem (SPEC §4, §8), typed.

``Scenario`` and its parts (``Unit``, ``Config``, ``Device``, ``Request``) are frozen dataclasses;
``Scenario.from_dict`` / ``load`` read exactly SPEC §8's ``scenario.json`` and ``to_dict`` /
``save`` write it. A scenario is validated when it is made: the message of a ``ScenarioError``
names the field (``devices[3].macs_per_s``) and the reason.

The ranges of its numbers and the checks are in ``checks``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..io import load_json, write_json
from . import formulas as F
from .checks import RANGES, ScenarioError, exact_keys, index, number, show

__all__ = ["Scenario", "ScenarioError", "Unit", "Config", "Device", "Request", "Cost", "RANGES", "NO_LINK"]

UNIT_KINDS = ("stem", "conv", "identity", "head")
DROPPABLE = ("conv", "identity")  # the residual blocks: their direct connection can be dropped (SPEC §1)
MEMORY_MODELS = ("per_request", "shared_weights")
UNIT_FIELDS = ("name", "kind", "macs", "macs_dropped", "weight_bytes", "activation_bytes", "weight_bytes_dropped",
               "activation_bytes_dropped", "output_bytes")
DEVICE_FIELDS = ("name", "memory_bytes", "compute_macs", "macs_per_s", "energy_j", "p_compute_w", "p_transmit_w")
TOP_FIELDS = ("units", "input_bytes", "configs", "devices", "rate_mbps", "requests", "alpha", "beta",
              "accuracy_threshold", "memory_model", "latency_ref_s")

# written only when set: a scenario of the paper's model has none of them
OPTIONAL_FIELDS = ("link_overhead_s", "energy_price", "ready_s")

NO_LINK = F.NO_LINK


class Cost(NamedTuple):
    """What one unit costs for one request: multiplications, weight and activation bytes."""
    macs: float
    weight: float
    activation: float


@dataclass(frozen=True)
class Unit:
    """One unit of the chain (SPEC §2): a ``stem``, a ``conv`` or ``identity`` block, or the ``head``.
    The ``*_dropped`` costs are those with the direct connection dropped (None for stem and head)."""

    name: str
    kind: str
    macs: float
    macs_dropped: float | None
    weight_bytes: float
    activation_bytes: float
    weight_bytes_dropped: float | None
    activation_bytes_dropped: float | None
    output_bytes: float

    @property
    def droppable(self) -> bool:
        return self.kind in DROPPABLE

    def cost(self, dropped: bool = False) -> Cost:
        if dropped:
            if self.macs_dropped is None or self.weight_bytes_dropped is None or self.activation_bytes_dropped is None:
                raise ValueError(f"unit {self.name!r} ({self.kind}) has no figures with its direct connection dropped")
            return Cost(self.macs_dropped, self.weight_bytes_dropped, self.activation_bytes_dropped)
        return Cost(self.macs, self.weight_bytes, self.activation_bytes)

    def check(self, where: str) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"{where}.name: must be a non-empty string, got {show(self.name)}")
        if self.kind not in UNIT_KINDS:
            raise ScenarioError(f"{where}.kind: must be one of {', '.join(UNIT_KINDS)}, got {show(self.kind)}")
        for key in ("macs", "weight_bytes", "activation_bytes", "output_bytes"):
            number(getattr(self, key), f"{where}.{key}", "macs" if key == "macs" else "bytes")
        for key in ("macs_dropped", "weight_bytes_dropped", "activation_bytes_dropped"):
            v = getattr(self, key)
            if self.droppable:
                number(v, f"{where}.{key}", "macs" if key == "macs_dropped" else "bytes")
            elif v is not None:
                raise ScenarioError(f"{where}.{key}: must be null for a unit of kind {self.kind!r}")
        if self.droppable:  # dropping the direct connection keeps the shortcut only: it costs no more
            for key in ("macs", "weight_bytes", "activation_bytes"):
                if getattr(self, f"{key}_dropped") > getattr(self, key):
                    raise ScenarioError(f"{where}.{key}_dropped: must be at most {key} ({getattr(self, key):g}): a "
                                        f"dropped block runs its shortcut only, got {getattr(self, f'{key}_dropped'):g}")


@dataclass(frozen=True)
class Config:
    """A configuration of the accuracy table (SPEC §3): the DC-dropped blocks and the accuracy (%)."""

    dropped: tuple[str, ...]
    accuracy: float


@dataclass(frozen=True)
class Device:
    """A device's limits in this step (SPEC §4)."""

    name: str
    memory_bytes: float
    compute_macs: float
    macs_per_s: float
    energy_j: float
    p_compute_w: float = 8.0
    p_transmit_w: float = 10.0

    def check(self, where: str) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"{where}.name: must be a non-empty string, got {show(self.name)}")
        for key in ("memory_bytes", "compute_macs", "macs_per_s", "energy_j"):
            number(getattr(self, key), f"{where}.{key}", key)
        for key in ("p_compute_w", "p_transmit_w"):
            number(getattr(self, key), f"{where}.{key}", "power_w")


@dataclass(frozen=True)
class Request:
    """A request for one inference, from the device that holds the image."""

    source: int


@dataclass(frozen=True)
class Scenario:
    """One time step: units, configurations, devices, link rates, requests and weights (SPEC §4)."""

    units: tuple[Unit, ...]
    input_bytes: float
    configs: tuple[Config, ...]
    devices: tuple[Device, ...]
    rate_mbps: tuple[tuple[float, ...], ...]
    requests: tuple[Request, ...]
    alpha: float = 0.5
    beta: float = 0.5
    accuracy_threshold: float = 80.0
    memory_model: str = "per_request"
    latency_ref_s: float | None = None
    link_overhead_s: float = 0.0  # a fixed time per transfer between devices, fitted on real links (0: the paper's)
    # a controller's price of each device's energy, objective units per joule, added to Eq 5 (None: the paper's)
    energy_price: tuple[float, ...] | None = None
    # each device's backlog: seconds until it is done with work submitted before this step (None: the paper's
    # model, no queue); a request waits that long at each device it enters (``kernel.CostKernel.wait_s``)
    ready_s: tuple[float, ...] | None = None
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _kernel: object = field(default=None, init=False, repr=False, compare=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        for name in ("units", "configs", "devices", "requests"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ScenarioError(f"{name}: must be a list, got {type(value).__name__}")
            object.__setattr__(self, name, tuple(value))
        if isinstance(self.rate_mbps, (list, tuple)):
            object.__setattr__(self, "rate_mbps", tuple(tuple(r) if isinstance(r, (list, tuple)) else r
                                                        for r in self.rate_mbps))
        for name in ("energy_price", "ready_s"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "_names", tuple(getattr(u, "name", None) for u in self.units))
        self._check_units()
        self._check_configs()
        self._check_devices()
        self._check_weights()

    # ------------------------------------------------------------------ validation
    def _check_units(self) -> None:
        if len(self.units) < 2:
            raise ScenarioError("units: must be a list of at least two units (stem ... head)")
        for j, u in enumerate(self.units):
            if not isinstance(u, Unit):
                raise ScenarioError(f"units[{j}]: must be a Unit, got {type(u).__name__}")
            u.check(f"units[{j}]")
        if len(set(self._names)) != len(self._names):
            raise ScenarioError("units: unit names must be unique")
        kinds = [u.kind for u in self.units]
        if kinds[-1] != "head":
            raise ScenarioError(f"units[{len(kinds) - 1}].kind: the chain must end with the head (SPEC §1), got {kinds[-1]}")
        for j, kind in enumerate(kinds[:-1]):
            if kind not in DROPPABLE and not (j == 0 and kind == "stem"):
                raise ScenarioError(f"units[{j}].kind: a {kind} {'first' if j == 0 else 'inside the chain'} (the chain "
                                    "runs from the stem through residual blocks to the head)")
        number(self.input_bytes, "input_bytes", "input_bytes")

    def _check_configs(self) -> None:
        if not self.configs:
            raise ScenarioError("configs: must be a non-empty list")
        kinds = dict(zip(self._names, (u.kind for u in self.units)))
        if isinstance(self.configs[0], Config) and self.configs[0].dropped:
            raise ScenarioError("configs[0].dropped: must be [] (the full model comes first)")
        seen: dict[frozenset, int] = {}
        for k, c in enumerate(self.configs):
            where = f"configs[{k}]"
            if not isinstance(c, Config) or not isinstance(c.dropped, (list, tuple)):
                raise ScenarioError(f"{where}.dropped: must be a list of unit names")
            for name in c.dropped:
                if not isinstance(name, str) or name not in kinds:
                    raise ScenarioError(f"{where}.dropped: unknown unit {show(name)}")
                if kinds[name] not in DROPPABLE:
                    raise ScenarioError(f"{where}.dropped: unit {name!r} cannot be dropped")
            if len(set(c.dropped)) != len(c.dropped):
                raise ScenarioError(f"{where}.dropped: a unit appears twice")
            number(c.accuracy, f"{where}.accuracy", "accuracy")
            first = seen.setdefault(frozenset(c.dropped), k)
            if first != k:
                raise ScenarioError(f"{where}.dropped: the same drops as configs[{first}] (one accuracy per drop set)")
        if self.configs[0].accuracy <= 0:
            raise ScenarioError("configs[0].accuracy: must be positive (it is the reference a_0)")

    def _check_devices(self) -> None:
        if not self.devices:
            raise ScenarioError("devices: must be a non-empty list")
        for i, d in enumerate(self.devices):
            if not isinstance(d, Device):
                raise ScenarioError(f"devices[{i}]: must be a Device, got {type(d).__name__}")
            d.check(f"devices[{i}]")
            first = next(k for k, e in enumerate(self.devices) if e.name == d.name)
            if first != i:
                raise ScenarioError(f"devices[{i}].name: {d.name!r} is also devices[{first}]'s (names must be unique)")
        n = len(self.devices)
        rates = self.rate_mbps
        if not isinstance(rates, tuple) or len(rates) != n or any(not isinstance(r, tuple) or len(r) != n for r in rates):
            raise ScenarioError(f"rate_mbps: must be a square {n}×{n} matrix (one row and column per device)")
        for i in range(n):
            for k in range(n):
                v = rates[i][k]
                if i == k:
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                        raise ScenarioError(f"rate_mbps[{i}][{i}]: must be a non-negative number (unused), got {show(v)}")
                    continue
                if v != NO_LINK:
                    number(v, f"rate_mbps[{i}][{k}]", "rate_mbps")
                if v != rates[k][i]:
                    raise ScenarioError(f"rate_mbps[{i}][{k}]: the matrix must be symmetric "
                                        f"({v} vs rate_mbps[{k}][{i}] = {rates[k][i]})")
        for r, q in enumerate(self.requests):
            if not isinstance(q, Request):
                raise ScenarioError(f"requests[{r}]: must be a Request, got {type(q).__name__}")
            index(q.source, n, f"requests[{r}].source")

    def _check_weights(self) -> None:
        number(self.alpha, "alpha", "weight")
        number(self.beta, "beta", "weight")
        if abs(self.alpha + self.beta - 1) > 1e-9:
            raise ScenarioError(f"alpha, beta: must add up to 1, got {self.alpha} + {self.beta}")
        number(self.accuracy_threshold, "accuracy_threshold", "accuracy")
        if self.memory_model not in MEMORY_MODELS:
            raise ScenarioError(f"memory_model: must be one of {', '.join(MEMORY_MODELS)}, got {show(self.memory_model)}")
        number(self.latency_ref_s, "latency_ref_s", "latency_ref_s", nullable=True)
        number(self.link_overhead_s, "link_overhead_s", "link_overhead_s")
        for name in ("energy_price", "ready_s"):
            values = getattr(self, name)
            if values is None:
                continue
            if not isinstance(values, tuple) or len(values) != len(self.devices):
                raise ScenarioError(f"{name}: must be a list of {len(self.devices)} numbers (one per device) or null")
            for i, v in enumerate(values):
                number(v, f"{name}[{i}]", name)
        if self.latency_ref_s is None and not sum(u.macs for u in self.units):
            raise ScenarioError("latency_ref_s: must be given when no unit has multiplications (the default L_ref, "
                                "the whole model on the slowest device, would be 0 s)")

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_devices(self) -> int:
        return len(self.devices)

    def linked(self, a: int, b: int) -> bool:
        """Can device a send to device b (the same device, or a link whose rate is not ``NO_LINK``)?"""
        return a == b or self.rate_mbps[a][b] != NO_LINK

    @property
    def unit_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def kernel(self):
        """The scenario's cost model (``kernel.CostKernel``), computed on first use."""
        if self._kernel is None:
            from .kernel import CostKernel
            object.__setattr__(self, "_kernel", CostKernel(self))
        return self._kernel

    def replace(self, **changes) -> "Scenario":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def l_ref(self) -> float:
        """L_ref (SPEC §5): ``latency_ref_s``, else the whole model on the slowest device."""
        if self.latency_ref_s is not None:
            return float(self.latency_ref_s)
        return F.computation_latency(sum(u.macs for u in self.units), min(d.macs_per_s for d in self.devices))

    def allowed_configs(self) -> list[int]:
        """Configurations that meet the accuracy threshold (Eq 16)."""
        return [k for k, c in enumerate(self.configs) if c.accuracy >= self.accuracy_threshold]

    def drops(self, k: int, j: int) -> bool:
        """Does configuration k drop unit j's direct connection?"""
        return self._names[j] in self.configs[k].dropped

    def unit_cost(self, j: int, dropped: bool) -> Cost:
        """Multiplications, weight and activation bytes of unit j, its DC dropped or not."""
        return self.units[j].cost(dropped)

    # ------------------------------------------------------------------ I/O (SPEC §8)
    def to_dict(self) -> dict:
        return {"units": [dataclasses.asdict(u) for u in self.units], "input_bytes": self.input_bytes,
                "configs": [{"dropped": list(c.dropped), "accuracy": c.accuracy} for c in self.configs],
                "devices": [dataclasses.asdict(d) for d in self.devices],
                "rate_mbps": [list(r) for r in self.rate_mbps],
                "requests": [{"source": q.source} for q in self.requests],
                "alpha": self.alpha, "beta": self.beta, "accuracy_threshold": self.accuracy_threshold,
                "memory_model": self.memory_model, "latency_ref_s": self.latency_ref_s,
                **({"link_overhead_s": self.link_overhead_s} if self.link_overhead_s else {}),
                **({"energy_price": list(self.energy_price)} if self.energy_price is not None else {}),
                **({"ready_s": list(self.ready_s)} if self.ready_s is not None else {})}

    @classmethod
    def from_dict(cls, obj) -> "Scenario":
        """A scenario from SPEC §8's ``scenario.json``: a whole network, from its stem to its head (the
        constructor also takes a chain's suffix, as the runtime's re-plans do)."""
        exact_keys({k: v for k, v in obj.items() if k not in OPTIONAL_FIELDS} if isinstance(obj, dict) else obj,
                   TOP_FIELDS, "scenario")
        for name in ("units", "configs", "devices", "requests", "rate_mbps"):
            if not isinstance(obj[name], list):
                raise ScenarioError(f"{name}: must be a list, got {type(obj[name]).__name__}")
        units = []
        for j, u in enumerate(obj["units"]):
            exact_keys(u, UNIT_FIELDS, f"units[{j}]")
            units.append(Unit(**u))
        configs = []
        for k, c in enumerate(obj["configs"]):
            exact_keys(c, ("dropped", "accuracy"), f"configs[{k}]")
            if not isinstance(c["dropped"], list):
                raise ScenarioError(f"configs[{k}].dropped: must be a list of unit names")
            configs.append(Config(tuple(c["dropped"]), c["accuracy"]))
        devices = []
        for i, d in enumerate(obj["devices"]):
            exact_keys(d, DEVICE_FIELDS, f"devices[{i}]")
            devices.append(Device(**d))
        requests = []
        for r, q in enumerate(obj["requests"]):
            exact_keys(q, ("source",), f"requests[{r}]")
            requests.append(Request(q["source"]))
        if units and units[0].kind != "stem":
            raise ScenarioError(f"units[0].kind: the network starts with its stem (SPEC §1), got {show(units[0].kind)}")
        return cls(units=tuple(units), input_bytes=obj["input_bytes"], configs=tuple(configs),
                   devices=tuple(devices), rate_mbps=obj["rate_mbps"], requests=tuple(requests),
                   **{k: obj[k] for k in TOP_FIELDS[6:]}, **{k: obj[k] for k in OPTIONAL_FIELDS if k in obj})

    def fingerprint(self) -> str:
        """A short hash of the scenario's content (a plan carries it: ``Plan.scenario_sha256``)."""
        if self._fingerprint is None:
            text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
            object.__setattr__(self, "_fingerprint", hashlib.sha256(text.encode()).hexdigest()[:16])
        return str(self._fingerprint)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Scenario":
        """Read ``scenario.json``; an error names the file, then the field."""
        return load_json(path, "scenario", cls.from_dict)
