"""The static partition (DEFER's way): the full model cut once into a chain of consecutive stages, one
device each, balanced on the slowest stage (no torch).

A stage is a run of consecutive units on one device whose weights and one request's activations fit
its memory (Eq 13). Its device computes its units (Eq 9) while its link carries the next request's input
(Eqs 10-11, at the mean link rate): two queues, so a pipeline of stages serves one request per slowest
of these times, its bottleneck. The chain of least bottleneck is found exactly by dynamic programming over (first unit of the next
stage, devices used so far), ties broken by the shorter total latency; with many devices the fastest
``MAX_DEVICES`` are considered (subsets of devices: 2^N states).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..problem.scenario import Scenario

MAX_DEVICES = 10


@dataclass(frozen=True)
class Chain:
    """Stages (device, first unit, one past the last unit), the bottleneck stage's seconds and the
    whole chain's modelled latency of one request on idle devices (the image from a source at the mean rate)."""

    stages: tuple[tuple[int, int, int], ...]
    bottleneck_s: float
    latency_s: float
    rate_mbps: float  # the mean link rate it was balanced at

    @property
    def capacity_rps(self) -> float:
        """Requests per second the chain serves at most: one per bottleneck stage time."""
        return 1.0 / self.bottleneck_s if self.bottleneck_s > 0 else float("inf")

    def placement(self, names: Sequence[str]) -> dict[str, int]:
        return {names[j]: dev for dev, a, b in self.stages for j in range(a, b)}

    @property
    def devices(self) -> list[int]:
        return [d for d, _, _ in self.stages]


def mean_rate(sc: Scenario, alive: Sequence[int]) -> float:
    """The mean rate of the links between ``alive`` devices that exist."""
    rates = [sc.rate_mbps[a][b] for a in alive for b in alive if a < b and sc.linked(a, b)]
    return float(np.mean(rates)) if rates else 0.0


def partition(sc: Scenario, alive: Sequence[int], rate_mbps: float | None = None) -> Chain | None:
    """The chain of least bottleneck over the ``alive`` devices (see the module's docstring), or None when
    no chain fits their memory."""
    alive = sorted(alive, key=lambda i: -sc.devices[i].macs_per_s)[:MAX_DEVICES]
    if not alive:
        return None
    rate = rate_mbps if rate_mbps is not None else mean_rate(sc, alive)
    if not rate > 0:
        return None
    n_all = sc.n_devices
    k = sc.replace(rate_mbps=[[0.0 if a == b else rate for b in range(n_all)] for a in range(n_all)]).kernel
    J = len(sc.units)
    mem = k.weight[:, 0] + k.activation[:, 0]

    def send(j: int) -> float:  # Eqs 10-11 at the mean rate, between two devices
        return k.send_s(j, 0, 1) if n_all > 1 else 0.0

    n = len(alive)
    # best[a][mask] = (bottleneck, total, stages) for units a.. with the devices of mask used before
    best: dict[tuple[int, int], tuple[float, float, tuple]] = {}

    def solve(a: int, mask: int) -> tuple[float, float, tuple]:
        if a == J:
            return 0.0, 0.0, ()
        if (a, mask) in best:
            return best[a, mask]
        out = (np.inf, np.inf, ())
        for d in range(n):
            if mask >> d & 1:
                continue
            i = alive[d]
            memory = compute = 0.0
            for b in range(a, J):
                memory += mem[b]
                if memory > sc.devices[i].memory_bytes:
                    break
                compute += k.unit_s(b, False, i)
                rest = solve(b + 1, mask | 1 << d)
                # the link into a stage and its device are two queues: a pipeline runs at the slower of them
                cand = (max(compute, send(a), rest[0]), compute + send(a) + rest[1], ((i, a, b + 1), *rest[2]))
                if cand[:2] < out[:2]:
                    out = cand
        best[a, mask] = out
        return out

    bottleneck, total, stages = solve(0, 0)
    if not stages or not np.isfinite(bottleneck):
        return None
    return Chain(tuple(stages), float(bottleneck), float(total), rate)
