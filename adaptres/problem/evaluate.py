"""The one evaluator (SPEC §5): every metric of a plan, from the scenario alone.

All solvers are scored here; the exact solver's reported objective must equal this one's.
Per request: computation (Eq 9), DC and SC transmission (Eqs 10-11), the wait behind the devices'
backlog where the scenario has one (``ready_s``), latency (Eqs 7-8); per
device: memory (Eq 13), multiplications (Eq 14), energy (Eqs 17, 19); accuracy (Eq 16); and the
objective (Eq 5) with the unserved penalty, plus a controller's price of energy where the scenario has one
(``Scenario.energy_price``: ``Evaluation.paper_objective`` is then Eq 5 alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import formulas as F
from .checks import ScenarioError, index, show
from .kernel import Usage
from .plan import Plan
from .scenario import Scenario

TOL = 1e-6  # relative tolerance of the capacity checks


def _mean(values):
    return float(np.mean(values)) if values else None  # numpy's (pairwise) sum: the numbers of earlier runs


@dataclass
class Evaluation:
    """A plan scored on its scenario by the one evaluator: Eq 5's objective and its two terms, each
    request's and each device's numbers, and every constraint it breaks (``violations``, one line each;
    a feasible plan has none). ``metrics`` is the summary every results file has as its columns."""

    objective: float
    latency_norm: float  # L̂
    accuracy_loss: float  # ΔA
    n_unserved: int
    requests: list[dict]  # per request: served, config, accuracy, computation_s, dc/sc transfer s and bytes
    devices: list[dict]  # per device: memory_bytes, macs, compute_s, transmit_s, energy_j
    violations: list[str] = field(default_factory=list)
    excess: float = 0.0  # Σ of relative overshoots (used / capacity − 1) and accuracy shortfalls: a GA's penalty
    paper_objective: float | None = None  # Eq 5 alone (``objective`` adds the scenario's price of energy, if any)
    energy_charge: float = 0.0

    def __post_init__(self):
        if self.paper_objective is None:
            self.paper_objective = self.objective

    @property
    def feasible(self) -> bool:
        return not self.violations

    def metrics(self) -> dict:
        """The plan's summary, the columns of every results table and ``plan.json``'s ``metrics``:

        - ``objective``: Eq 5 (plus the price of energy, when the scenario has one);
        - ``mean_latency_s``, ``mean_computation_s``, ``mean_dc_transfer_s``, ``mean_sc_transfer_s``: per served
          request, its latency (Eqs 7-8) and its parts (Eqs 9-11), in seconds; None when none is served;
        - ``mean_accuracy``: the accuracy table's (%) for the served requests' configurations;
        - ``shared_bytes`` = ``dc_bytes`` + ``sc_bytes``: bytes sent between devices, over the direct
          connection's and the shortcut's hops;
        - ``macs``: multiplications of every device (Eq 2); ``energy_j``: joules of every device (Eq 19);
        - ``served``, ``requests``, ``served_fraction``; ``n_dropped_mean``: blocks dropped per served request;
        - ``violations``: how many constraints the plan breaks (0 for a feasible plan);
        - with a price of energy: ``paper_objective`` (Eq 5 alone) and ``energy_charge``.
        """
        served = [r for r in self.requests if r["served"]]
        mean = lambda key: _mean([r[key] for r in served])
        return {
            "objective": self.objective,
            "mean_latency_s": mean("latency_s"), "mean_computation_s": mean("computation_s"),
            "mean_dc_transfer_s": mean("dc_transfer_s"), "mean_sc_transfer_s": mean("sc_transfer_s"),
            "mean_accuracy": mean("accuracy"),
            "shared_bytes": float(sum(r["dc_bytes"] + r["sc_bytes"] for r in served)),
            "dc_bytes": float(sum(r["dc_bytes"] for r in served)),
            "sc_bytes": float(sum(r["sc_bytes"] for r in served)),
            "macs": float(sum(d["macs"] for d in self.devices)),
            "energy_j": float(sum(d["energy_j"] for d in self.devices)),
            "served": len(served), "requests": len(self.requests),
            "served_fraction": len(served) / len(self.requests) if self.requests else 1.0,
            "n_dropped_mean": mean("n_dropped"),
            "violations": len(self.violations),
            **({"paper_objective": self.paper_objective, "energy_charge": self.energy_charge}
               if self.energy_charge else {}),
        }


def objective(scenario: Scenario, latencies: list[float], accuracies: list[float], n_unserved: int) -> tuple:
    """Eq 5 for this scenario (see ``formulas.objective``)."""
    return F.objective(scenario.alpha, scenario.beta, latencies, accuracies, scenario.configs[0].accuracy,
                       len(scenario.requests), n_unserved, scenario.l_ref())


def check_stored(plan: Plan, ev: Evaluation) -> None:
    """That the objective a plan file states is the one it has on this scenario (forged or stale numbers,
    or a plan for another scenario, are refused)."""
    if plan.objective is not None and abs(plan.objective - ev.objective) > 1e-9 * max(1.0, abs(ev.objective)):
        raise ScenarioError(f"plan.objective: {plan.objective:.6g} stated, {ev.objective:.6g} on this scenario "
                            "(a plan for another scenario?)")


def check_plan(scenario: Scenario, plan: Plan) -> None:
    """That a plan fits the scenario: made for it (its fingerprint, when it carries one), one entry per
    request, valid configurations and device indices."""
    if plan.scenario_sha256 is not None and plan.scenario_sha256 != scenario.fingerprint():
        raise ScenarioError(f"plan.scenario_sha256: the plan was made for another scenario ({plan.scenario_sha256}; "
                            f"this one is {scenario.fingerprint()})")
    names = scenario.unit_names
    n = scenario.n_devices
    if len(plan.requests) != len(scenario.requests):
        raise ScenarioError(f"plan.requests: has {len(plan.requests)} entries for {len(scenario.requests)} requests")
    for r, q in enumerate(plan.requests):
        if not q.served:
            continue
        where = f"plan.requests[{r}]"
        index(q.config, len(scenario.configs), f"{where}.config", "a configuration index")
        for name in names:
            if name not in q.placement:
                raise ScenarioError(f"{where}.placement: lacks unit {name!r}")
            index(q.placement[name], n, f"{where}.placement.{name}")
        extra = sorted(set(q.placement) - set(names))
        if extra:
            raise ScenarioError(f"{where}.placement: unknown unit {show(extra[0])}")


def _request(sc: Scenario, r: int, q, used: Usage) -> dict:
    """One served request's latency parts and bytes, charged to the devices in ``used``."""
    names, kernel = sc.unit_names, sc.kernel
    cfg = sc.configs[q.config]
    dropped = set(cfg.dropped)
    place = [q.placement[n] for n in names]
    comp = dc_s = sc_s = dc_b = sc_b = 0.0
    for j, i in enumerate(place):
        comp += used.run(j, names[j] in dropped, i)
    src = sc.requests[r].source
    senders = [src, *place[:-1]]
    wait = sum(kernel.wait(j, a, b) for j, (a, b) in enumerate(zip(senders, place)))
    missing = next(((a, b) for a, b in zip(senders, place) if not kernel.link_ok[a, b]), None)
    if place[0] != src:  # the input image, sent by the requesting device (a DC transfer)
        dc_s, dc_b = used.send(0, src, place[0]), float(kernel.in_bytes[0])
    for j in range(1, len(names)):
        a, b = place[j - 1], place[j]
        if a == b:
            continue
        t, nbytes = used.send(j, a, b), float(kernel.in_bytes[j])
        if names[j - 1] in dropped:  # data that passed a dropped block: a skip-connection transfer (Eq 11)
            sc_s, sc_b = sc_s + t, sc_b + nbytes
        else:  # a block's output to the next block's device (Eq 10)
            dc_s, dc_b = dc_s + t, dc_b + nbytes
    return {"served": True, "config": q.config, "accuracy": cfg.accuracy, "computation_s": comp,
            "dc_transfer_s": dc_s, "sc_transfer_s": sc_s, "wait_s": wait,
            "latency_s": F.request_latency(comp, dc_s, sc_s, wait), "dc_bytes": dc_b, "sc_bytes": sc_b,
            "n_dropped": len(dropped), "missing_link": missing}


UNSERVED_ROW = {"served": False, "config": None, "accuracy": None, "computation_s": 0.0, "dc_transfer_s": 0.0,
                "sc_transfer_s": 0.0, "wait_s": 0.0, "latency_s": 0.0, "dc_bytes": 0.0, "sc_bytes": 0.0,
                "n_dropped": 0, "missing_link": None}


def evaluate(scenario: Scenario, plan: Plan) -> Evaluation:
    """Every metric of ``plan`` (SPEC §5); constraint violations are listed, not raised."""
    check_plan(scenario, plan)
    sc, N = scenario, scenario.n_devices
    used = Usage(sc.kernel, sc.memory_model)
    reqs: list[dict[str, Any]] = [_request(sc, r, q, used) if q.served else dict(UNSERVED_ROW)
                                  for r, q in enumerate(plan.requests)]
    served = [q for q in reqs if q["served"]]
    violations, excess = [], 0.0
    for r, q in enumerate(reqs):
        if q["missing_link"] is not None:
            excess += 1.0
            a, b = q["missing_link"]
            violations.append(f"requests[{r}]: sends from device {a} to device {b}, which have no link (rate 0)")
        if q["served"] and q["accuracy"] < sc.accuracy_threshold - 1e-9:
            excess += (sc.accuracy_threshold - q["accuracy"]) / 100
            violations.append(f"requests[{r}]: accuracy {q['accuracy']} below the threshold "
                              f"{sc.accuracy_threshold} (Eq 16)")
    memory, energy, devs = used.memory_bytes(), used.energy(), sc.devices
    for i, d in enumerate(devs):
        limits: list[tuple[str, float, float, int]] = [("memory", memory[i], d.memory_bytes, 13),
                                                       ("computation", used.macs[i], d.compute_macs, 14),
                                                       ("energy", energy[i], d.energy_j, 17)]
        for what, amount, cap, eq in limits:
            if amount > cap * (1 + TOL) + 1e-9:
                excess += amount / cap - 1 if cap > 0 else 1.0
                violations.append(f"devices[{i}]: {what} {amount:.6g} exceeds {cap:.6g} (Eq {eq})")
    n_unserved = len(reqs) - len(served)
    obj, l_hat, d_acc = objective(sc, [q["latency_s"] for q in served], [q["accuracy"] for q in served], n_unserved)
    charge = float(sc.kernel.charge(energy))
    devices = [{"memory_bytes": float(memory[i]), "macs": float(used.macs[i]), "compute_s": float(used.compute_s[i]),
                "transmit_s": float(used.transmit_s[i]), "energy_j": float(energy[i])} for i in range(N)]
    return Evaluation(obj + charge, l_hat, d_acc, n_unserved, reqs, devices, violations, excess, obj, charge)
