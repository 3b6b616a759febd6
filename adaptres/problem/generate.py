"""Making scenarios: the paper's devices (§V-A), random link rates, seeded steps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .scenario import Config, Device, Request, Scenario, Unit

RATE_MBPS = (7.2, 72.2)  # §V: link rates drawn from U[7.2, 72.2] Mb/s


def paper_devices(n: int = 10, memory_mb=(100, 200), compute_g=(1.4, 2.8), speed_g=(1.4, 2.8),
                  battery_j=(800, 1000), p_compute_w: float = 8.0, p_transmit_w: float = 10.0) -> list[Device]:
    """§V-A's devices: the first half low-capacity, the second half high-capacity (MB = 1e6 bytes,
    G = 1e9 multiplications per step or per second, J per battery)."""
    low = n // 2
    return [Device(f"{'low' if i < low else 'high'}{i}", float(memory_mb[i >= low] * 1e6),
                   float(compute_g[i >= low] * 1e9), float(speed_g[i >= low] * 1e9), float(battery_j[i >= low]),
                   float(p_compute_w), float(p_transmit_w)) for i in range(n)]


def random_rates(n: int, rng: np.random.Generator, low: float = RATE_MBPS[0], high: float = RATE_MBPS[1]) -> list[list[float]]:
    """Symmetric link rates drawn from U[low, high] Mb/s (§V); 0 on the diagonal."""
    m = np.zeros((n, n))
    iu = np.triu_indices(n, 1)
    m[iu] = rng.uniform(low, high, len(iu[0]))
    m = m + m.T
    return [[round(float(v), 4) for v in row] for row in m]


def build(units: Sequence[Unit], input_bytes: float, configs: Sequence[Config], devices: Sequence[Device],
          sources: Sequence[int], rate_mbps, alpha: float = 0.5, beta: float = 0.5, accuracy_threshold: float = 80.0,
          memory_model: str = "per_request", latency_ref_s: float | None = None) -> Scenario:
    """A scenario from units, configurations, devices, request sources and rates."""
    return Scenario(units=tuple(units), input_bytes=input_bytes, configs=tuple(configs), devices=tuple(devices),
                    rate_mbps=rate_mbps, requests=tuple(Request(int(s)) for s in sources), alpha=alpha, beta=beta,
                    accuracy_threshold=accuracy_threshold, memory_model=memory_model, latency_ref_s=latency_ref_s)


def random_step(units: Sequence[Unit], input_bytes: float, configs: Sequence[Config], devices: Sequence[Device],
                n_requests: int, seed: int, **kwargs) -> Scenario:
    """One seeded step: U[7.2, 72.2] Mb/s rates and ``n_requests`` uniformly random sources."""
    rng = np.random.default_rng(seed)
    rates = random_rates(len(devices), rng)
    sources = rng.integers(0, len(devices), n_requests).tolist()
    return build(units, input_bytes, configs, devices, sources, rates, **kwargs)
