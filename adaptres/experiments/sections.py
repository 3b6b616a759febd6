"""The paper's evaluation sections (§V-A..D) as data: what each sweeps, over which base setting,
which panels its figure has and which claims it checks. ``adaptres.report.evaluation`` runs one;
``scenario_for`` makes a single step of one (the ``scenario`` command)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..io import check_seed
from ..problem.generate import random_step
from ..problem.scenario import Scenario
from . import claims
from .sim import SCENARIO_KEYS, inputs, label, point_devices, setting


@dataclass(frozen=True, kw_only=True)
class Section:
    name: str  # "V-A"
    notebook: str  # its notebook, which names its results file
    figure: str  # the figure's file name
    x: str  # the swept setting (the figure's x axis)
    xlabel: str
    base: dict  # fixed settings over sim.PAPER_SETTING (the profile adds n_devices)
    points: Callable[[Any], list[dict]]  # the sweep points from the profile's simulation settings (``profiles.Sim``)
    metrics: tuple[str, ...]  # the figure's panels (a, b, c, ...; then the per-step ones per served request)
    claims: Callable  # (runs, order, full_accuracy) -> one row per claim
    title: str  # the figure's title, formatted with N, seeds
    by: tuple[str, ...]  # the summary's rows
    hue: str | None = None

    def order(self, points: list[dict]) -> list:
        """The sweep's values in order, as its results tables show them."""
        if self.x == "beta":
            return list(dict.fromkeys(p["beta"] for p in points))
        return [label(p[self.x]) if isinstance(p[self.x], tuple) else p[self.x] for p in points]


SECTIONS = {s.name: s for s in (
    Section(name="V-A", notebook="04_eval_weights", figure="fig6_weights", x="beta",
            xlabel="β (accuracy weight; α = 1 − β)", base={"lam": 3.0},
            points=lambda S: [{"alpha": round(1 - b, 6), "beta": b, "accuracy_threshold": th}
                              for th in S.thresholds for b in S.betas],
            metrics=("accuracy_pct", "latency_s", "gmacs", "energy_j", "shared_mb", "dropped_blocks"),
            claims=lambda runs, order, full: claims.fig6(runs, full_accuracy=full),
            title="Fig 6 · weights and threshold (N = {N}, λ = 3, {seeds} seeds)", by=("accuracy_threshold", "beta"),
            hue="A_th"),
    Section(name="V-B", notebook="05_eval_battery", figure="fig7_battery", x="battery_j",
            xlabel="battery, J (low/high device)",
            base={"lam": 3.0, "alpha": 0.0, "beta": 1.0, "accuracy_threshold": 80.0},
            points=lambda S: [{"battery_j": tuple(b)} for b in S.battery_j],
            metrics=("accuracy_pct", "latency_s", "shared_mb", "gmacs", "energy_j", "served_fraction",
                     "shared_mb_req", "gmacs_req", "energy_j_req"),
            claims=lambda runs, order, full: claims.fig7(runs, order),
            title="Fig 7 · battery capacity (N = {N}, λ = 3, α = 0, β = 1, {seeds} seeds)", by=("battery_j",)),
    Section(name="V-C", notebook="06_eval_requests", figure="fig8_requests", x="lam", xlabel="λ (requests per step)",
            base={"alpha": 0.7, "beta": 0.3, "accuracy_threshold": 80.0, "battery_j": (500, 800)},
            points=lambda S: [{"lam": float(lam)} for lam in S.lams],
            metrics=("accuracy_pct", "latency_s", "shared_mb", "energy_j", "gmacs", "served_fraction",
                     "shared_mb_req", "energy_j_req", "gmacs_req"),
            claims=lambda runs, order, full: claims.fig8(runs, order),
            title="Fig 8 · request rate (N = {N}, α = 0.7, β = 0.3, {seeds} seeds)", by=("lam",)),
    Section(name="V-D", notebook="07_eval_capacity", figure="fig9_capacity", x="compute_g",
            xlabel="G mult. per step (low/high device)",
            base={"lam": 3.0, "alpha": 0.0, "beta": 1.0, "accuracy_threshold": 80.0},
            points=lambda S: [{"compute_g": tuple(c)} for c in S.compute_g],
            metrics=("accuracy_pct", "latency_s", "shared_mb", "energy_j", "served_fraction", "dropped_blocks",
                     "shared_mb_req", "energy_j_req"),
            claims=lambda runs, order, full: claims.fig9(runs, order),
            title="Fig 9 · computational capacity (N = {N}, λ = 3, α = 0, β = 1, {seeds} seeds)", by=("compute_g",)),
)}


def shifted(setting: dict, shift: float) -> dict:
    """``setting`` with its accuracy threshold moved by ``shift`` points (see ``sim.inputs``)."""
    if not shift or "accuracy_threshold" not in setting:
        return setting
    return {**setting, "accuracy_threshold": round(setting["accuracy_threshold"] + shift, 4)}


@dataclass(frozen=True)
class Setting:
    """A §V section's setting for steps to come: the accuracy table's network (its unit costs and
    configurations), the §V devices scaled to it, λ and the scenario's weights and threshold."""

    section: str
    n_devices: int
    lam: float
    units: object
    configs: list
    devices: list
    scale: object
    scenario: dict  # alpha, beta, accuracy_threshold
    table: dict  # the accuracy table's provenance
    point: dict = field(default_factory=dict)  # the overrides of the section's base


def setting_of(profile: str, section: str, n_devices: int, point: dict | None = None, table: str | None = None,
               lam: float | None = None) -> Setting:
    """``section``'s base setting with ``n_devices`` devices and ``point``'s overrides, on the profile's accuracy
    table (or ``table``), its thresholds shifted by the table's full model; ``lam`` replaces λ."""
    units, configs, meta, S = inputs(profile, table=table)
    s = shifted(setting({**get(section).base, "n_devices": n_devices}, point or {}), S.threshold_shift)
    return Setting(section, n_devices, float(s["lam"] if lam is None else lam), units, configs,
                   point_devices(s, S.scale), S.scale, {k: s[k] for k in SCENARIO_KEYS}, meta, dict(point or {}))


def get(name: str) -> Section:
    if name not in SECTIONS:
        raise ValueError(f"section: must be one of {', '.join(SECTIONS)}, got {name!r}")
    return SECTIONS[name]


def scenario_for(profile: str, n_devices: int, n_requests: int, seed: int, section: str = "V-A",
                 table: str | None = None) -> Scenario:
    """One step of a section's setting as a scenario: the profile's accuracy table and its network's
    unit costs, the §V device classes (first half low-capacity, second half high) and U[7.2, 72.2] Mb/s
    rates, scaled to that network, and ``n_requests`` requests from random sources, all drawn from
    ``seed`` (the same seed, the same step); ``table`` replaces the profile's accuracy table."""
    if isinstance(n_requests, bool) or not isinstance(n_requests, int) or not 0 <= n_requests <= 10_000:
        raise ValueError(f"requests: must be an integer in [0, 10000], got {n_requests!r}")
    check_seed(seed)
    units, configs, _, S = inputs(profile, table=table)
    s = shifted(setting({**get(section).base, "n_devices": n_devices}, {}), S.threshold_shift)
    return random_step(units.units, units.input_bytes, configs, point_devices(s, S.scale), n_requests, seed,
                       scale=S.scale, alpha=s["alpha"], beta=s["beta"], accuracy_threshold=s["accuracy_threshold"])

