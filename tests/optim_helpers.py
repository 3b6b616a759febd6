"""Small random scenarios and a brute-force solver, for the optimiser's tests."""
import itertools

import numpy as np

from adaptres import solvers
from adaptres.problem.evaluate import evaluate
from adaptres.problem.plan import UNSERVED, Assignment, Plan
from adaptres.problem.scenario import Config, Device, Request, Scenario, Unit
from adaptres.problem.unit_costs import UnitTable


def small_scenario(seed: int, n_devices: int = 2, n_units: int = 5, n_requests: int = 1, alpha: float = 0.5,
                   memory_model: str = "per_request", tight: float = 1.0) -> Scenario:
    rng = np.random.default_rng(seed)
    units = []
    for j in range(n_units):
        kind = "stem" if j == 0 else "head" if j == n_units - 1 else ("conv" if rng.random() < 0.4 else "identity")
        macs = int(rng.integers(1, 10)) * 10**8
        w, a = int(rng.integers(1, 20)) * 10**6, int(rng.integers(1, 20)) * 10**6
        dropped = {"identity": (0, 0, 0), "conv": (macs // 4, w // 4, a // 3)}.get(kind, (None, None, None))
        units.append(Unit(f"u{j}", kind, macs, dropped[0], w, a, dropped[1], dropped[2],
                          int(rng.integers(1, 40)) * 10**5))
    blocks = [u.name for u in units if u.droppable]
    configs = [Config((), 90.0)]
    for b in blocks:
        configs.append(Config((b,), float(rng.uniform(70, 89))))
    if len(blocks) >= 2:
        configs.append(Config(tuple(blocks[:2]), float(rng.uniform(60, 85))))
    total_macs = sum(u.macs for u in units)
    total_mem = sum(u.weight_bytes + u.activation_bytes for u in units)
    devices = []
    for i in range(n_devices):
        devices.append(Device(f"d{i}", float(total_mem * rng.uniform(0.4, 1.2) * tight),
                              float(total_macs * rng.uniform(0.4, 1.2) * tight), float(rng.choice([1.4e9, 2.8e9])),
                              float(rng.uniform(5, 40)), 8.0, 10.0))
    rates = np.zeros((n_devices, n_devices))
    for i in range(n_devices):
        for k in range(i + 1, n_devices):
            rates[i, k] = rates[k, i] = round(float(rng.uniform(7.2, 72.2)), 3)
    return Scenario(units=tuple(units), input_bytes=600_000, configs=tuple(configs), devices=tuple(devices),
                    rate_mbps=rates.tolist(), requests=tuple(Request(int(rng.integers(0, n_devices)))
                                                             for _ in range(n_requests)),
                    alpha=alpha, beta=round(1 - alpha, 10), accuracy_threshold=75.0, memory_model=memory_model)


def unit_table(sc: Scenario) -> UnitTable:
    """A scenario's units as a unit-cost table (what the simulation takes)."""
    return UnitTable("test", 0, 10, "imagenet", 4, sc.input_bytes, sc.units)


def solve(sc: Scenario, method: str = "exact", start=None, **options) -> Plan:
    return solvers.solve(sc, method, solvers.Options(**options), start=start)


def request_options(sc: Scenario):
    names = sc.unit_names
    opts = [UNSERVED]
    for k in sc.allowed_configs():
        for place in itertools.product(range(sc.n_devices), repeat=len(names)):
            opts.append(Assignment(True, k, dict(zip(names, place))))
    return opts


def brute_force(sc: Scenario) -> tuple[float, Plan]:
    """The best feasible plan by enumerating every combination of the requests' options, each evaluated whole.
    An option that is infeasible with every other request unserved is left out of the combinations: each
    constraint is either the request's own (its accuracy, its links) or a device's total, which serving more
    requests never lowers (memory, multiplications, energy), so no combination holding it is feasible. The
    order of the combinations is kept: the plan returned is the one the full enumeration returns."""
    opts, n = request_options(sc), len(sc.requests)

    def alone(r: int, option: Assignment) -> bool:
        return evaluate(sc, Plan("alone", tuple(option if k == r else UNSERVED for k in range(n)))).feasible
    best, best_plan = float("inf"), None
    for combo in itertools.product(*([o for o in opts if alone(r, o)] for r in range(n))):
        plan = Plan("brute", combo)
        ev = evaluate(sc, plan)
        if ev.feasible and ev.objective < best:
            best, best_plan = ev.objective, plan
    return best, best_plan
