"""Arrivals: when requests come, from which devices, and the link rates of each epoch (no torch, no Ray).

Both kinds yield ``Epoch``s: the requests to plan together and the link rates to plan them on.

- ``Steps``: the paper's time steps (§V). At step t, R_t ~ Poisson(λ) requests from uniformly random
  sources, all at the step's start, then the link rates drawn from U[7.2, 72.2] Mb/s — in the order
  the simulator has always drawn them (``draw``), so that the same seed gives the same steps.
- ``Poisson``: a Poisson process of ``rate`` requests per second over ``duration_s`` seconds, in real
  time; the requests that arrive within an epoch of ``epoch_s`` seconds are planned together at its
  end. Arrival times, sources and link rates come from separate streams of one seed, so that every
  policy meets the same arrivals and rates, whatever it does with them. A device that has failed issues
  no more requests (``silent``: from when): those it would have issued come from the devices still up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..problem.generate import Scale, random_rates


@dataclass(frozen=True)
class Arrival:
    """A request: its number in the run, when it arrived (seconds into the run) and its source device."""

    id: int
    at_s: float
    source: int


@dataclass(frozen=True)
class Epoch:
    """Requests planned together at ``end_s`` (seconds into the run), on the link rates ``rates``."""

    index: int
    start_s: float
    end_s: float
    arrivals: tuple[Arrival, ...]
    rates: Sequence  # the link rates (Mb/s), rates[i][j]

    @property
    def sources(self) -> list[int]:
        return [a.source for a in self.arrivals]


def draw(rng: np.random.Generator, n_devices: int, lam: float, scale: Scale = Scale()) -> tuple[list[int], list]:
    """One step's random inputs, in the order the simulation draws them: R_t ~ Poisson(λ) request
    sources, uniformly random, then the link rates (U[7.2, 72.2] Mb/s times ``scale.bytes``)."""
    n_req = int(rng.poisson(lam))
    sources = rng.integers(0, n_devices, n_req).tolist()
    return sources, scale.rates(random_rates(n_devices, rng))


class Steps:
    """The paper's time steps (see the module's docstring): ``steps`` epochs of one step each."""

    def __init__(self, n_devices: int, lam: float, steps: int, seed: int, scale: Scale = Scale()):
        self.n_devices, self.lam, self.steps, self.seed, self.scale = n_devices, lam, steps, seed, scale

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Epoch]:
        rng = np.random.default_rng(self.seed)
        first = 0
        for t in range(self.steps):
            sources, rates = draw(rng, self.n_devices, self.lam, self.scale)
            arrivals = tuple(Arrival(first + r, float(t), s) for r, s in enumerate(sources))
            first += len(sources)
            yield Epoch(t, float(t), float(t), arrivals, rates)


class Poisson:
    """Requests in real time (see the module's docstring)."""

    def __init__(self, n_devices: int, rate: float, duration_s: float, epoch_s: float, seed: int,
                 scale: Scale = Scale(), silent: dict[int, float] | None = None):
        self.n_devices, self.rate, self.duration_s, self.epoch_s = n_devices, rate, duration_s, epoch_s
        self.seed, self.scale = seed, scale
        times_rng = np.random.default_rng([seed, 1])
        times, t = [], 0.0
        while True:
            t += float(times_rng.exponential(1.0 / rate))
            if t >= duration_s:
                break
            times.append(t)
        sources = np.random.default_rng([seed, 2]).integers(0, n_devices, len(times)).tolist()
        again = np.random.default_rng([seed, 4])
        for r, (at, s) in enumerate(zip(times, sources)):
            if silent and at >= silent.get(s, np.inf):
                up = [i for i in range(n_devices) if at < silent.get(i, np.inf)]
                sources[r] = int(up[again.integers(len(up))]) if up else s
        self.arrivals = tuple(Arrival(r, at, s) for r, (at, s) in enumerate(zip(times, sources)))

    def __len__(self) -> int:
        return max(1, math.ceil(self.duration_s / self.epoch_s - 1e-9))

    def __iter__(self) -> Iterator[Epoch]:
        rates_rng = np.random.default_rng([self.seed, 3])
        k = 0
        for e in range(len(self)):
            start, end = e * self.epoch_s, min((e + 1) * self.epoch_s, self.duration_s)
            mine = []
            while k < len(self.arrivals) and self.arrivals[k].at_s < end:
                mine.append(self.arrivals[k])
                k += 1
            rates = self.scale.rates(random_rates(self.n_devices, rates_rng))
            yield Epoch(e, start, end, tuple(mine), rates)
