"""Making scenarios: the paper's devices (§V-A), random link rates, seeded steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .scenario import Config, Device, Request, Scenario, Unit

RATE_MBPS = (7.2, 72.2)  # §V: link rates drawn from U[7.2, 72.2] Mb/s


@dataclass(frozen=True)
class Scale:
    """Factors that carry the paper's §V device classes, sized for ResNet-50 at 224 px, over to
    another network, so that its constraints bind as they do in the paper: the devices' computational
    limits and speeds scale with the network's multiplications per request, their memory with its
    memory per request (weights + activations), and the link rates with the bytes it sends (its input
    image), so that computation and transfer times — and with them energy — stay as in the paper.
    Batteries are not scaled."""

    macs: float = 1.0
    memory: float = 1.0
    bytes: float = 1.0

    @classmethod
    def between(cls, units, reference) -> "Scale":
        """The factors from ``reference`` (the paper's network) to ``units`` (both ``UnitTable``)."""
        memory = lambda t: sum(u.weight_bytes + u.activation_bytes for u in t.units)
        return cls(units.total_macs / reference.total_macs, memory(units) / memory(reference),
                   units.input_bytes / reference.input_bytes)

    @property
    def identity(self) -> bool:
        return (self.macs, self.memory, self.bytes) == (1.0, 1.0, 1.0)

    def rates(self, rate_mbps: list[list[float]]) -> list[list[float]]:
        return rate_mbps if self.identity else [[v * self.bytes for v in row] for row in rate_mbps]


def paper_devices(n: int = 10, memory_mb=(100, 200), compute_g=(1.4, 2.8), speed_g=(1.4, 2.8),
                  battery_j=(800, 1000), p_compute_w: float = 8.0, p_transmit_w: float = 10.0,
                  scale: Scale = Scale()) -> list[Device]:
    """§V-A's devices: the first half low-capacity, the second half high-capacity (MB = 1e6 bytes,
    G = 1e9 multiplications per step or per second, J per battery), scaled by ``scale`` for another
    network than the paper's."""
    low = n // 2
    return [Device(f"{'low' if i < low else 'high'}{i}", float(memory_mb[i >= low] * 1e6) * scale.memory,
                   float(compute_g[i >= low] * 1e9) * scale.macs, float(speed_g[i >= low] * 1e9) * scale.macs,
                   float(battery_j[i >= low]), float(p_compute_w), float(p_transmit_w)) for i in range(n)]


def random_rates(n: int, rng: np.random.Generator, low: float = RATE_MBPS[0], high: float = RATE_MBPS[1]) -> list[list[float]]:
    """Symmetric link rates drawn from U[low, high] Mb/s (§V); 0 on the diagonal."""
    m = np.zeros((n, n))
    iu = np.triu_indices(n, 1)
    m[iu] = rng.uniform(low, high, len(iu[0]))
    m = m + m.T
    return [[round(float(v), 4) for v in row] for row in m]


def build(units: Sequence[Unit], input_bytes: float, configs: Sequence[Config], devices: Sequence[Device],
          sources: Sequence[int], rate_mbps, alpha: float = 0.5, beta: float = 0.5, accuracy_threshold: float = 80.0,
          memory_model: str = "per_request", latency_ref_s: float | None = None,
          link_overhead_s: float = 0.0) -> Scenario:
    """A scenario from units, configurations, devices, request sources and rates."""
    return Scenario(units=tuple(units), input_bytes=input_bytes, configs=tuple(configs), devices=tuple(devices),
                    rate_mbps=rate_mbps, requests=tuple(Request(int(s)) for s in sources), alpha=alpha, beta=beta,
                    accuracy_threshold=accuracy_threshold, memory_model=memory_model, latency_ref_s=latency_ref_s,
                    link_overhead_s=link_overhead_s)


def random_step(units: Sequence[Unit], input_bytes: float, configs: Sequence[Config], devices: Sequence[Device],
                n_requests: int, seed: int, scale: Scale = Scale(), **kwargs) -> Scenario:
    """One seeded step: U[7.2, 72.2] Mb/s rates (times ``scale.bytes``) and ``n_requests`` uniformly
    random sources."""
    rng = np.random.default_rng(seed)
    rates = scale.rates(random_rates(len(devices), rng))
    sources = rng.integers(0, len(devices), n_requests).tolist()
    return build(units, input_bytes, configs, devices, sources, rates, **kwargs)
