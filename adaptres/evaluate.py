"""The one evaluator (SPEC §5): every metric of a plan, from the scenario alone.

All solvers are scored here; the exact solver's reported objective must equal this one's.
Per request: computation (Eq 9), DC and SC transmission (Eqs 10-11), latency (Eqs 7-8); per
device: memory (Eq 13), multiplications (Eq 14), energy (Eqs 17, 19); accuracy (Eq 16); and the
objective (Eq 5) with the unserved penalty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import costs as C
from .scenario import UNSERVED_PENALTY, Plan, Scenario, ScenarioError

TOL = 1e-6  # relative tolerance of the capacity checks


@dataclass
class Evaluation:
    objective: float
    latency_norm: float  # L̂
    accuracy_loss: float  # ΔA
    n_unserved: int
    requests: list[dict]  # per request: served, config, accuracy, computation_s, dc_s, sc_s, latency_s, bytes
    devices: list[dict]  # per device: memory_bytes, macs, compute_s, transmit_s, energy_j
    violations: list[str] = field(default_factory=list)
    excess: float = 0.0  # Σ of relative overshoots (used / capacity − 1) and accuracy shortfalls: a GA's penalty

    @property
    def feasible(self) -> bool:
        return not self.violations

    def metrics(self) -> dict:
        served = [r for r in self.requests if r["served"]]
        return {
            "objective": self.objective,
            "mean_latency_s": float(np.mean([r["latency_s"] for r in served])) if served else None,
            "mean_computation_s": float(np.mean([r["computation_s"] for r in served])) if served else None,
            "mean_dc_transfer_s": float(np.mean([r["dc_transfer_s"] for r in served])) if served else None,
            "mean_sc_transfer_s": float(np.mean([r["sc_transfer_s"] for r in served])) if served else None,
            "mean_accuracy": float(np.mean([r["accuracy"] for r in served])) if served else None,
            "shared_bytes": float(sum(r["dc_bytes"] + r["sc_bytes"] for r in served)),
            "dc_bytes": float(sum(r["dc_bytes"] for r in served)),
            "sc_bytes": float(sum(r["sc_bytes"] for r in served)),
            "macs": float(sum(d["macs"] for d in self.devices)),
            "energy_j": float(sum(d["energy_j"] for d in self.devices)),
            "served": len(served),
            "requests": len(self.requests),
            "served_fraction": len(served) / len(self.requests) if self.requests else 1.0,
            "n_dropped_mean": float(np.mean([r["n_dropped"] for r in served])) if served else None,
            "violations": len(self.violations),
        }


def objective(scenario: Scenario, latencies: list[float], accuracies: list[float], n_unserved: int) -> tuple:
    """Eq 5: α · L̂ + β · ΔA + 10 · U, with L̂ and ΔA averaged over all R requests of the step."""
    R = len(scenario.requests)
    if R == 0:
        return 0.0, 0.0, 0.0
    a0 = scenario.configs[0]["accuracy"]
    l_hat = sum(latencies) / (R * scenario.l_ref())
    d_acc = sum((a0 - a) / a0 for a in accuracies) / R
    return scenario.alpha * l_hat + scenario.beta * d_acc + UNSERVED_PENALTY * n_unserved, l_hat, d_acc


def check_plan(scenario: Scenario, plan: Plan) -> None:
    """Structure of a plan: one entry per request, valid configurations and device indices."""
    names = scenario.unit_names
    n = scenario.n_devices
    if len(plan.requests) != len(scenario.requests):
        raise ScenarioError(f"plan.requests: has {len(plan.requests)} entries for {len(scenario.requests)} requests")
    for r, q in enumerate(plan.requests):
        where = f"plan.requests[{r}]"
        if not isinstance(q, dict) or not isinstance(q.get("served"), bool):
            raise ScenarioError(f"{where}.served: must be true or false")
        if not q["served"]:
            continue
        k = q.get("config")
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(scenario.configs):
            raise ScenarioError(f"{where}.config: must be a configuration index in 0..{len(scenario.configs) - 1}, got {k!r}")
        place = q.get("placement")
        if not isinstance(place, dict):
            raise ScenarioError(f"{where}.placement: must be an object mapping units to devices")
        for name in names:
            if name not in place:
                raise ScenarioError(f"{where}.placement: lacks unit {name!r}")
            d = place[name]
            if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < n:
                raise ScenarioError(f"{where}.placement.{name}: must be a device index in 0..{n - 1}, got {d!r}")
        extra = sorted(set(place) - set(names))
        if extra:
            raise ScenarioError(f"{where}.placement: unknown unit {extra[0]!r}")


def evaluate(scenario: Scenario, plan: Plan) -> Evaluation:
    """Every metric of ``plan`` (SPEC §5); constraint violations are listed, not raised."""
    check_plan(scenario, plan)
    names = scenario.unit_names
    M, N = len(names), scenario.n_devices
    devs = scenario.devices
    rate = scenario.rate_mbps
    mem_act = np.zeros(N)
    weights_per_unit = [dict() for _ in range(N)]  # shared_weights: device -> unit -> largest weight figure
    mem_req = np.zeros(N)
    macs = np.zeros(N)
    compute_s = np.zeros(N)
    transmit_s = np.zeros(N)
    reqs, latencies, accuracies = [], [], []
    violations = []
    excess = 0.0
    for r, q in enumerate(plan.requests):
        if not q["served"]:
            reqs.append({"served": False, "config": None, "accuracy": None, "computation_s": 0.0, "dc_transfer_s": 0.0,
                         "sc_transfer_s": 0.0, "latency_s": 0.0, "dc_bytes": 0.0, "sc_bytes": 0.0, "n_dropped": 0})
            continue
        cfg = scenario.configs[q["config"]]
        dropped = set(cfg["dropped"])
        place = [q["placement"][n] for n in names]
        src = scenario.requests[r]["source"]
        comp = dc_s = sc_s = dc_b = sc_b = 0.0
        for j in range(M):
            i = place[j]
            c = scenario.unit_cost(j, names[j] in dropped)
            t = C.computation_latency(c["macs"], devs[i]["macs_per_s"])
            comp += t
            compute_s[i] += t
            macs[i] += c["macs"]
            mem_req[i] += c["weight"] + c["activation"]
            mem_act[i] += c["activation"]
            weights_per_unit[i][j] = max(weights_per_unit[i].get(j, 0), c["weight"])
        if place[0] != src:  # the input image, sent by the requesting device (a DC transfer)
            t = C.transmission_latency(scenario.input_bytes, rate[src][place[0]])
            dc_s += t
            dc_b += scenario.input_bytes
            transmit_s[src] += t
        for j in range(M - 1):
            a, b = place[j], place[j + 1]
            if a == b:
                continue
            nbytes = scenario.units[j]["output_bytes"]
            t = C.transmission_latency(nbytes, rate[a][b])
            transmit_s[a] += t
            if names[j] in dropped:  # data that passed a dropped block: a skip-connection transfer (Eq 11)
                sc_s += t
                sc_b += nbytes
            else:  # a block's output to the next block's device (Eq 10)
                dc_s += t
                dc_b += nbytes
        lat = C.request_latency(comp, dc_s, sc_s)
        latencies.append(lat)
        accuracies.append(cfg["accuracy"])
        if cfg["accuracy"] < scenario.accuracy_threshold - 1e-9:
            excess += (scenario.accuracy_threshold - cfg["accuracy"]) / 100
            violations.append(f"requests[{r}]: accuracy {cfg['accuracy']} below the threshold "
                              f"{scenario.accuracy_threshold} (Eq 16)")
        reqs.append({"served": True, "config": q["config"], "accuracy": cfg["accuracy"], "computation_s": comp,
                     "dc_transfer_s": dc_s, "sc_transfer_s": sc_s, "latency_s": lat, "dc_bytes": dc_b,
                     "sc_bytes": sc_b, "n_dropped": len(dropped)})
    if scenario.memory_model == "per_request":
        memory = mem_req
    else:
        memory = mem_act + np.array([sum(w.values()) for w in weights_per_unit])
    energy = np.array([C.energy(compute_s[i], transmit_s[i], devs[i]["p_compute_w"], devs[i]["p_transmit_w"])
                       for i in range(N)])
    for i, d in enumerate(devs):
        for what, used, cap, eq in (("memory", memory[i], d["memory_bytes"], 13),
                                    ("computation", macs[i], d["compute_macs"], 14),
                                    ("energy", energy[i], d["energy_j"], 17)):
            if used > cap * (1 + TOL) + 1e-9:
                excess += used / cap - 1 if cap > 0 else 1.0
                violations.append(f"devices[{i}]: {what} {used:.6g} exceeds {cap:.6g} (Eq {eq})")
    n_unserved = sum(1 for q in plan.requests if not q["served"])
    obj, l_hat, d_acc = objective(scenario, latencies, accuracies, n_unserved)
    devices = [{"memory_bytes": float(memory[i]), "macs": float(macs[i]), "compute_s": float(compute_s[i]),
                "transmit_s": float(transmit_s[i]), "energy_j": float(energy[i])} for i in range(N)]
    return Evaluation(obj, l_hat, d_acc, n_unserved, reqs, devices, violations, excess)


def score(scenario: Scenario, plan: Plan) -> Plan:
    """Fill ``plan.metrics`` (and its objective, if the solver gave none) from the evaluator."""
    ev = evaluate(scenario, plan)
    plan.metrics = ev.metrics()
    if plan.objective is None:
        plan.objective = ev.objective
    return plan
