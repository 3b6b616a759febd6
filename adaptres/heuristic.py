"""The paper's sub-optimal method (§IV-C): relax the MILP (Eq 20), round with Algorithm 1, repair.

1. Solve the LP relaxation of ``adaptres.milp.build_model`` (every binary in [0, 1]).
2. Algorithm 1: each unit goes to the device with the largest fractional share; on ties, the device
   with the higher data rate from the previous unit's device; for the first unit, on ties, the
   device with the higher capacity. Each request takes its configuration with the largest share
   (ties: higher accuracy).
3. Repair: requests are placed one after the other against the devices' remaining memory,
   computation and energy; a unit that no longer fits goes to the next device in Algorithm 1's
   order, a configuration that cannot be placed gives way to the next one (the LP's order, then
   more dropping), and a request that cannot be placed at all is left unserved.
"""

from __future__ import annotations

import time

import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus
from pyomo.contrib.solver.solvers.highs import Highs

from . import costs as C
from .evaluate import evaluate, score
from .milp import build_model
from .scenario import Plan, Scenario, unserved

TIE = 1e-6


class Ledger:
    """What each device has left in this step (memory counted per request: a safe bound for both models)."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.mem = [d["memory_bytes"] for d in sc.devices]
        self.macs = [d["compute_macs"] for d in sc.devices]
        self.energy = [d["energy_j"] for d in sc.devices]

    def copy(self) -> "Ledger":
        other = Ledger.__new__(Ledger)
        other.sc, other.mem, other.macs, other.energy = self.sc, self.mem[:], self.macs[:], self.energy[:]
        return other

    def try_add(self, j: int, dropped: bool, i: int, prev: int, nbytes: float) -> bool:
        """Put unit j on device i (its input coming from device ``prev``) if everything still fits."""
        sc, d = self.sc, self.sc.devices
        c = sc.unit_cost(j, dropped)
        e_comp = d[i]["p_compute_w"] * C.computation_latency(c["macs"], d[i]["macs_per_s"])
        e_send = d[prev]["p_transmit_w"] * C.transmission_latency(nbytes, sc.rate_mbps[prev][i]) if prev != i else 0.0
        need_e = {i: e_comp}
        need_e[prev] = need_e.get(prev, 0.0) + e_send
        mem = c["weight"] + c["activation"]
        if mem > self.mem[i] or c["macs"] > self.macs[i] or any(v > self.energy[k] + 1e-12 for k, v in need_e.items()):
            return False
        self.mem[i] -= mem
        self.macs[i] -= c["macs"]
        for k, v in need_e.items():
            self.energy[k] -= v
        return True


def device_order(sc: Scenario, shares: list[float], prev: int | None) -> list[int]:
    """Algorithm 1's preference: largest share; ties by rate from ``prev`` (first unit: by capacity)."""
    def key(i):
        share = round(shares[i] / TIE) * TIE
        if prev is None:
            tie = (sc.devices[i]["compute_macs"], sc.devices[i]["memory_bytes"], sc.devices[i]["macs_per_s"])
        else:
            tie = (float("inf") if i == prev else sc.rate_mbps[prev][i],)
        return (-share, *(-t for t in tie), i)
    return sorted(range(sc.n_devices), key=key)


def round_and_repair(sc: Scenario, s_frac, y_frac, x_frac, method: str = "relaxed") -> tuple[Plan, int]:
    """Algorithm 1 with repair. Returns the plan and how many units repair had to move."""
    names = sc.unit_names
    M = len(names)
    allowed = sc.allowed_configs()
    ledger = Ledger(sc)
    moved = 0
    reqs = []
    for r, q in enumerate(sc.requests):
        placed = None
        if s_frac[r] >= 0.5 and allowed:
            order = sorted(allowed, key=lambda k: (-round(y_frac[r][k] / TIE), -sc.configs[k]["accuracy"], k))
            for k in order:
                dropped = set(sc.configs[k]["dropped"])
                trial = ledger.copy()
                prev, place, ok, n_moved = q["source"], {}, True, 0
                for j in range(M):
                    prefs = device_order(sc, x_frac[r][j], None if j == 0 else prev)
                    nbytes = sc.input_bytes if j == 0 else sc.units[j - 1]["output_bytes"]
                    for rank, i in enumerate(prefs):
                        if trial.try_add(j, names[j] in dropped, i, prev, nbytes):
                            place[names[j]] = i
                            n_moved += rank > 0
                            prev = i
                            break
                    else:
                        ok = False
                        break
                if ok:
                    ledger, placed, moved = trial, {"served": True, "config": k, "placement": place}, moved + n_moved
                    break
        reqs.append(placed or {"served": False, "config": None, "placement": {}})
    return Plan(method=method, requests=reqs), moved


def solve(sc: Scenario, time_limit: float = 60.0, threads: int = 1) -> Plan:
    """Relaxation (Eq 20) + Algorithm 1 + repair, scored by the evaluator."""
    t0 = time.perf_counter()
    if not sc.requests:
        return score(sc, Plan("relaxed", [], status="feasible", solve_s=0.0))
    m = build_model(sc, relax=True)
    res = Highs().solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False,
                        time_limit=time_limit, threads=threads)
    if res.solution_status not in (SolutionStatus.optimal, SolutionStatus.feasible):
        return score(sc, Plan("relaxed", unserved(len(sc.requests)), status="lp_failed",
                              solve_s=time.perf_counter() - t0))
    res.solution_loader.load_vars()
    N, M = sc.n_devices, len(sc.unit_names)
    K = list(m.K)
    s_frac = [pyo.value(m.s[r]) for r in range(len(sc.requests))]
    y_frac = [{k: pyo.value(m.y[r, k]) for k in K} for r in range(len(sc.requests))]
    x_frac = [[[pyo.value(m.x[r, j, i]) for i in range(N)] for j in range(M)] for r in range(len(sc.requests))]
    plan, moved = round_and_repair(sc, s_frac, y_frac, x_frac)
    plan.solve_s = time.perf_counter() - t0
    plan.bound = float(res.objective_bound if res.objective_bound is not None else res.incumbent_objective)
    ev = evaluate(sc, plan)
    plan.status = "feasible" if ev.feasible else "infeasible"
    plan.objective = ev.objective
    plan.metrics = ev.metrics()
    plan.metrics["repair_moves"] = moved
    plan.gap = (plan.objective - plan.bound) / max(abs(plan.objective), 1e-12)
    return plan
