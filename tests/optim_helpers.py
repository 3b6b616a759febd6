"""Small random scenarios and a brute-force solver, for the optimiser's tests."""
import itertools

import numpy as np

from adaptres.evaluate import evaluate
from adaptres.scenario import Plan, Scenario


def small_scenario(seed: int, n_devices: int = 2, n_units: int = 5, n_requests: int = 1, alpha: float = 0.5,
                   memory_model: str = "per_request", tight: float = 1.0) -> Scenario:
    rng = np.random.default_rng(seed)
    units = []
    for j in range(n_units):
        kind = "stem" if j == 0 else "head" if j == n_units - 1 else ("conv" if rng.random() < 0.4 else "identity")
        macs = int(rng.integers(1, 10)) * 10**8
        w, a = int(rng.integers(1, 20)) * 10**6, int(rng.integers(1, 20)) * 10**6
        u = {"name": f"u{j}", "kind": kind, "macs": macs, "macs_dropped": None, "weight_bytes": w,
             "activation_bytes": a, "weight_bytes_dropped": None, "activation_bytes_dropped": None,
             "output_bytes": int(rng.integers(1, 40)) * 10**5}
        if kind == "identity":
            u.update(macs_dropped=0, weight_bytes_dropped=0, activation_bytes_dropped=0)
        elif kind == "conv":
            u.update(macs_dropped=macs // 4, weight_bytes_dropped=w // 4, activation_bytes_dropped=a // 3)
        units.append(u)
    blocks = [u["name"] for u in units if u["kind"] in ("conv", "identity")]
    configs = [{"dropped": [], "accuracy": 90.0}]
    for b in blocks:
        configs.append({"dropped": [b], "accuracy": float(rng.uniform(70, 89))})
    if len(blocks) >= 2:
        configs.append({"dropped": blocks[:2], "accuracy": float(rng.uniform(60, 85))})
    total_macs = sum(u["macs"] for u in units)
    total_mem = sum(u["weight_bytes"] + u["activation_bytes"] for u in units)
    devices = []
    for i in range(n_devices):
        devices.append({"name": f"d{i}", "memory_bytes": float(total_mem * rng.uniform(0.4, 1.2) * tight),
                        "compute_macs": float(total_macs * rng.uniform(0.4, 1.2) * tight),
                        "macs_per_s": float(rng.choice([1.4e9, 2.8e9])), "energy_j": float(rng.uniform(5, 40)),
                        "p_compute_w": 8.0, "p_transmit_w": 10.0})
    rates = np.zeros((n_devices, n_devices))
    for i in range(n_devices):
        for k in range(i + 1, n_devices):
            rates[i, k] = rates[k, i] = round(float(rng.uniform(7.2, 72.2)), 3)
    return Scenario(units=units, input_bytes=600_000, configs=configs, devices=devices,
                    rate_mbps=rates.tolist(), requests=[{"source": int(rng.integers(0, n_devices))}
                                                        for _ in range(n_requests)],
                    alpha=alpha, beta=round(1 - alpha, 10), accuracy_threshold=75.0, memory_model=memory_model)


def request_options(sc: Scenario):
    names = sc.unit_names
    opts = [{"served": False, "config": None, "placement": {}}]
    for k in sc.allowed_configs():
        for place in itertools.product(range(sc.n_devices), repeat=len(names)):
            opts.append({"served": True, "config": k, "placement": dict(zip(names, place))})
    return opts


def brute_force(sc: Scenario) -> tuple[float, Plan]:
    """The best feasible plan by enumerating every combination."""
    opts = request_options(sc)
    best, best_plan = float("inf"), None
    for combo in itertools.product(opts, repeat=len(sc.requests)):
        plan = Plan("brute", list(combo))
        ev = evaluate(sc, plan)
        if ev.feasible and ev.objective < best:
            best, best_plan = ev.objective, plan
    return best, best_plan
