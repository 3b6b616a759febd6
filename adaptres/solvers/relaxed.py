"""``relaxed``: the paper's sub-optimal method (§IV-C): relax the MILP (Eq 20), round with Algorithm 1, repair.

1. Solve the LP relaxation of ``adaptres.solvers.milp.build_model`` (every binary in [0, 1]).
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

from ..problem.kernel import Usage
from ..problem.plan import UNSERVED, Assignment, unserved
from ..problem.scenario import Scenario
from . import Options, finish, register
from .milp import build_model, highs, too_large

TIE = 1e-6
# HiGHS solves the relaxation without its presolve: with it, the LPs of five to seven requests on ten devices took two
# to three times longer, and the smaller ones longer too (measured on notebook 10's horizons)
LP_OPTIONS = {"presolve": "off"}


class Ledger:
    """What each device has used in this step against its capacities (memory counted per request: a
    safe bound for both models)."""

    def __init__(self, sc: Scenario, used: Usage | None = None):
        self.sc = sc
        self.used = used if used is not None else Usage(sc.kernel, "per_request")

    def copy(self) -> "Ledger":
        return Ledger(self.sc, self.used.copy())

    def try_add(self, j: int, dropped: bool, i: int, prev: int) -> bool:
        """Put unit j on device i (its input coming from device ``prev``) if everything still fits."""
        k, u, devs, v = self.sc.kernel, self.used, self.sc.devices, int(dropped)
        if not k.link_ok[prev, i]:  # no link from the previous unit's device (or the source)
            return False
        t, send = k.unit_s(j, dropped, i), k.send_s(j, prev, i)
        energy = {i: k.energy(u.compute_s[i] + t, u.transmit_s[i] + (send if prev == i else 0.0), i)}
        if prev != i:
            energy[prev] = k.energy(u.compute_s[prev], u.transmit_s[prev] + send, prev)
        if u.memory_per_request[i] + k.weight[j, v] + k.activation[j, v] > devs[i].memory_bytes \
                or u.macs[i] + k.macs[j, v] > devs[i].compute_macs \
                or any(e > devs[d].energy_j + 1e-12 for d, e in energy.items()):
            return False
        u.run(j, dropped, i)
        u.send(j, prev, i)
        return True


def device_order(sc: Scenario, shares: list[float], prev: int | None) -> list[int]:
    """Algorithm 1's preference: largest share; ties by rate from ``prev`` (first unit: by capacity:
    compute, then memory, then speed); remaining ties by the lower index."""
    def key(i):
        share = round(shares[i] / TIE) * TIE
        d = sc.devices[i]
        tie: tuple[float, ...]
        if prev is None:
            tie = (d.compute_macs, d.memory_bytes, d.macs_per_s)
        else:
            tie = (float("inf") if i == prev else sc.rate_mbps[prev][i],)
        return (-share, *(-t for t in tie), i)
    return sorted(range(sc.n_devices), key=key)


def place_request(sc: Scenario, r: int, k: int, x_frac, ledger: Ledger):
    """Request r in configuration k, unit by unit in Algorithm 1's order against ``ledger``'s room.
    Returns (the ledger after it, its placement, units moved from their first choice) or None."""
    names = sc.unit_names
    dropped = set(sc.configs[k].dropped)
    trial = ledger.copy()
    prev, place, moved = sc.requests[r].source, {}, 0
    for j in range(len(names)):
        prefs = device_order(sc, x_frac[r][j], None if j == 0 else prev)
        for rank, i in enumerate(prefs):
            if trial.try_add(j, names[j] in dropped, i, prev):
                place[names[j]] = i
                moved += rank > 0
                prev = i
                break
        else:
            return None
    return trial, place, moved


def round_and_repair(sc: Scenario, s_frac, y_frac, x_frac) -> tuple[list[Assignment], int]:
    """Algorithm 1 with repair. Returns the decisions and how many units repair had to move."""
    allowed = sc.allowed_configs()
    ledger = Ledger(sc)
    moved = 0
    out = []
    for r in range(len(sc.requests)):
        placed = UNSERVED
        if s_frac[r] >= 0.5 and allowed:
            order = sorted(allowed, key=lambda k: (-round(y_frac[r][k] / TIE), -sc.configs[k].accuracy, k))
            for k in order:
                got = place_request(sc, r, k, x_frac, ledger)
                if got is not None:
                    ledger, place, n_moved = got
                    placed, moved = Assignment(True, k, place), moved + n_moved
                    break
        out.append(placed)
    return out, moved


@register("relaxed", options=("time_limit", "threads"), describe=lambda o: "relaxation + Algorithm 1")
def solve(sc: Scenario, opts: Options, start=None):
    """Relaxation (Eq 20) + Algorithm 1 + repair, scored by the evaluator; ``bound`` is the LP's."""
    t0 = time.perf_counter()
    reason = too_large(sc, opts.time_limit)
    if reason is not None:  # none found, within the limit
        return finish(sc, "relaxed", unserved(len(sc.requests)), status="too_large", solve_s=time.perf_counter() - t0,
                      extra={"reason": reason})
    m = build_model(sc, relax=True)
    built = time.perf_counter() - t0  # handing the model to HiGHS takes less than as long again
    res = highs.run(m, max(opts.time_limit - 2 * built, 1e-3), threads=opts.threads, options=LP_OPTIONS)
    if not res.has_solution:
        return finish(sc, "relaxed", unserved(len(sc.requests)), status="lp_failed", solve_s=time.perf_counter() - t0)
    R, N, M = len(sc.requests), sc.n_devices, len(sc.units)
    s_frac = [pyo.value(m.s[r]) for r in range(R)]
    y_frac = [{k: pyo.value(m.y[r, k]) for k in m.K} for r in range(R)]
    x_frac = [[[pyo.value(m.x[r, j, i]) for i in range(N)] for j in range(M)] for r in range(R)]
    decisions, moved = round_and_repair(sc, s_frac, y_frac, x_frac)
    bound = res.bound if res.bound is not None else res.incumbent
    return finish(sc, "relaxed", decisions, solve_s=time.perf_counter() - t0, bound=bound,
                  extra={"repair_moves": moved, "root_bound": bound})
