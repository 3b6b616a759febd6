"""The cost model of one scenario, computed once: what every consumer reads.

``CostKernel`` turns a scenario's units, devices and links into arrays through the paper's formulas
(``formulas``: Eq 9 computation, Eqs 10-11 transmission, Eq 19 energy), so that the evaluator, the
runtime's routes, the column generation, the MILP's coefficients and the relaxation all price a plan
the same way and a change of the model is one edit in ``formulas``. ``Usage`` is the one ledger of
what served requests use on each device (memory under both models, multiplications, computing and
sending seconds, and energy from them).

Indices: ``j`` a unit (0 = the stem), ``v`` its variant (0 kept, 1 its direct connection dropped; a
unit that cannot be dropped has the same figures in both), ``i``/``a``/``b`` devices. The transfer
*into* unit ``j`` carries the input image for ``j = 0`` and unit ``j - 1``'s output otherwise.

Two things beyond the paper's formulas, both optional in a scenario: a *missing link* (rate 0: cut),
which ``link_ok`` masks — every consumer refuses to send over it (its seconds are those of the slowest
rate, finite, so that no arithmetic turns into NaN) — and each device's *backlog* (``ready_s``): a
request waits ``wait_s[i]`` at each device i it enters (its first unit's device, and every device a
transfer brings it to), latency but no energy (``hop_wait``).

One request at a time (the evaluator, the MILP's coefficients) the kernel applies the formulas as they
are. Vectorised consumers (the column generation) read per-link and per-device rates that the kernel
derives from the same formulas: a transfer's seconds as a fixed part plus bytes times seconds per byte
(Eqs 10-11 are affine in the bytes: the paper's model, and a per-hop overhead too), and energy as power
times seconds (Eq 19 is linear in the seconds). A test changes each formula and sees every consumer follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import formulas as F

SLOPE_BYTES = float(2**20)
MISSING_RATE_MBPS = F.MIN_RATE_MBPS  # a missing link's arithmetic: the slowest rate a scenario allows


class CostKernel:
    """A scenario's per-unit, per-device and per-link costs (see the module's docstring)."""

    def __init__(self, sc):
        self.J, self.N = len(sc.units), len(sc.devices)
        kept = [u.cost(False) for u in sc.units]
        dropped = [u.cost(True) if u.droppable else u.cost(False) for u in sc.units]
        pair = lambda part: np.array([[getattr(a, part), getattr(b, part)] for a, b in zip(kept, dropped)],
                                     dtype=float)
        self.macs, self.weight, self.activation = pair("macs"), pair("weight"), pair("activation")  # (J, 2)
        self.out_bytes = np.array([u.output_bytes for u in sc.units], dtype=float)
        self.input_bytes = float(sc.input_bytes)
        # the bytes of the transfer into unit j: the image, then each unit's output
        self.in_bytes = np.concatenate([[self.input_bytes], self.out_bytes[:-1]])
        self.speed = np.array([d.macs_per_s for d in sc.devices], dtype=float)
        self.p_compute = np.array([d.p_compute_w for d in sc.devices], dtype=float)
        self.p_transmit = np.array([d.p_transmit_w for d in sc.devices], dtype=float)
        rate = np.array(sc.rate_mbps, dtype=float).reshape(self.N, self.N)
        # links that exist (a device to itself included); a missing one is priced at the slowest rate, and masked
        self.link_ok = (rate != F.NO_LINK) | np.eye(self.N, dtype=bool)
        self.rate = np.where(self.link_ok, rate, MISSING_RATE_MBPS)
        # the backlog: seconds a request waits at each device it enters (0: the paper's model)
        self.wait_s = np.array(sc.ready_s if sc.ready_s is not None else [0.0] * self.N, dtype=float)
        self.compute_s = F.computation_latency(self.macs[:, :, None], self.speed[None, None, :])  # (J, 2, N), Eq 9
        self.compute_energy = F.energy(self.compute_s, 0.0, self.p_compute, self.p_transmit)  # (J, 2, N), Eq 19
        # Eq 19's powers: joules per second of computing and of sending, per device
        self.compute_w = F.energy(1.0, 0.0, self.p_compute, self.p_transmit)
        self.transmit_w = F.energy(0.0, 1.0, self.p_compute, self.p_transmit)
        # Eqs 10-11 per link a -> b: the seconds of an empty transfer and the seconds per byte (0 on the diagonal)
        off = ~np.eye(self.N, dtype=bool)
        rate = np.where(off, self.rate, 1.0)
        self.link_overhead_s = float(sc.link_overhead_s)
        fixed = F.transmission_latency(0.0, rate, self.link_overhead_s)
        self.link_fixed_s = np.where(off, fixed, 0.0)
        # the slope over 2^20 bytes: no cancellation against a fixed part, and exactly bytes/rate without one
        slope = F.transmission_latency(SLOPE_BYTES, rate, self.link_overhead_s) - fixed
        self.sec_per_byte = np.where(off, slope / SLOPE_BYTES, 0.0)
        # a controller's price of each device's energy (objective units per joule; 0: the paper's Eq 5 alone)
        self.energy_price = np.array(sc.energy_price if sc.energy_price is not None else [0.0] * self.N, dtype=float)
        self._hops: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ scalars (one request at a time)
    def unit_s(self, j: int, dropped: bool, i: int) -> float:
        """Eq 9: seconds device i computes unit j (its direct connection ``dropped`` or not)."""
        return float(self.compute_s[j, int(dropped), i])

    def send_s(self, j: int, a: int, b: int) -> float:
        """Eqs 10-11: seconds to send the transfer into unit j from device a to b (0 on one device)."""
        return 0.0 if a == b else float(F.transmission_latency(float(self.in_bytes[j]), float(self.rate[a, b]),
                                                               self.link_overhead_s))

    def wait(self, j: int, a: int, b: int) -> float:
        """Seconds a request waits when unit j starts on device b, its input coming from device a (the
        source for j = 0): b's backlog when the request enters b (its first unit, or a transfer), else 0."""
        return float(self.wait_s[b]) if j == 0 or a != b else 0.0

    def hop_wait(self, j: int) -> np.ndarray:
        """(N, N): ``wait`` for every a → b into unit j (the diagonal too for j = 0: the first unit on the source)."""
        w = np.broadcast_to(self.wait_s[None, :], (self.N, self.N))
        return w.copy() if j == 0 else np.where(np.eye(self.N, dtype=bool), 0.0, w)

    def energy(self, compute_s, transmit_s, i: int | None = None):
        """Eq 19: the energy of device ``i`` (None: of every device, arrays of N) computing ``compute_s``
        and sending ``transmit_s`` seconds (numbers, arrays or a solver's expressions)."""
        if i is None:
            return F.energy(compute_s, transmit_s, self.p_compute, self.p_transmit)
        return F.energy(compute_s, transmit_s, float(self.p_compute[i]), float(self.p_transmit[i]))

    def charge(self, energy_j):
        """The controller's price of the devices' energy ``energy_j`` (N numbers or expressions), summed."""
        return sum(F.energy_charge(float(p), e) for p, e in zip(self.energy_price, energy_j) if p)

    def sender_energy(self, seconds, senders):
        """Eq 19: the energy of transfers of ``seconds`` sent by devices ``senders`` (arrays that broadcast)."""
        return F.energy(0.0, seconds, self.p_compute[senders], self.p_transmit[senders])

    def time_of(self, macs, i: int):
        """Eq 9 for device i on ``macs`` (a number or a solver's expression)."""
        return F.computation_latency(macs, float(self.speed[i]))

    def macs_within_energy(self, energy_j) -> np.ndarray:
        """Eqs 9, 19 inverted: the multiplications each device can compute on ``energy_j`` (N,)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.compute_w
            return np.where(w > 0, np.asarray(energy_j, dtype=float) * self.speed / np.where(w > 0, w, 1.0), np.inf)

    # ------------------------------------------------------------------ arrays (every device pair)
    def hop_s(self, j: int) -> np.ndarray:
        """Eqs 10-11: (N, N) seconds of the transfer into unit j from device a to b (0 on the diagonal)."""
        if j not in self._hops:
            self._hops[j] = self.link_fixed_s + self.in_bytes[j] * self.sec_per_byte
        return self._hops[j]

    def path_waits(self, paths: np.ndarray, sources) -> np.ndarray:
        """For placements ``paths`` (n × J) from ``sources``: the seconds waited before each unit (n × J)."""
        n = len(paths)
        senders = np.concatenate([np.broadcast_to(np.asarray(sources), (n,))[:, None], paths[:, :-1]], axis=1)
        enters = senders != paths
        enters[:, 0] = True
        return np.where(enters, self.wait_s[paths], 0.0)

    def path_linked(self, paths: np.ndarray, sources) -> np.ndarray:
        """For placements ``paths`` (n × J) from ``sources``: does each send only over links that exist (n,)?"""
        n = len(paths)
        senders = np.concatenate([np.broadcast_to(np.asarray(sources), (n,))[:, None], paths[:, :-1]], axis=1)
        return self.link_ok[senders, paths].all(axis=1)

    def path_sends(self, paths: np.ndarray, sources) -> tuple[np.ndarray, np.ndarray]:
        """For placements ``paths`` (n × J) whose requests start on ``sources`` (a device or n of them):
        the seconds of every transfer into each unit and the device that sends it, both (n × J)."""
        n = len(paths)
        senders = np.concatenate([np.broadcast_to(np.asarray(sources), (n,))[:, None], paths[:, :-1]], axis=1)
        sends = self.link_fixed_s[senders, paths] + self.in_bytes[None, :] * self.sec_per_byte[senders, paths]
        return sends, senders


@dataclass
class Usage:
    """What served requests use on each device (SPEC §5): multiplications (Eq 14), computing and
    sending seconds (Eqs 9-11) and the energy from them (Eqs 17, 19), memory (Eq 13) under the
    scenario's memory model — or ``memory_model`` (``per_request`` bounds both)."""

    kernel: CostKernel
    memory_model: str = "per_request"

    def __post_init__(self):
        n = self.kernel.N
        self.macs, self.compute_s, self.transmit_s = [0.0] * n, [0.0] * n, [0.0] * n
        self.memory_per_request, self.activations = [0.0] * n, [0.0] * n
        self.weights: list[dict] = [dict() for _ in range(n)]  # unit -> the largest weight figure run there

    def copy(self) -> "Usage":
        other = Usage.__new__(Usage)
        other.kernel, other.memory_model = self.kernel, self.memory_model
        other.macs, other.compute_s, other.transmit_s = self.macs[:], self.compute_s[:], self.transmit_s[:]
        other.memory_per_request, other.activations = self.memory_per_request[:], self.activations[:]
        other.weights = [dict(w) for w in self.weights]
        return other

    def run(self, j: int, dropped: bool, i: int) -> float:
        """Charge unit j on device i; returns its computing seconds."""
        k, v = self.kernel, int(dropped)
        t = k.unit_s(j, dropped, i)
        self.compute_s[i] += t
        self.macs[i] += k.macs[j, v]
        self.memory_per_request[i] += k.weight[j, v] + k.activation[j, v]
        self.activations[i] += k.activation[j, v]
        self.weights[i][j] = max(self.weights[i].get(j, 0.0), k.weight[j, v])
        return t

    def send(self, j: int, a: int, b: int) -> float:
        """Charge the transfer into unit j from device a to b to its sender; returns its seconds."""
        t = self.kernel.send_s(j, a, b)
        self.transmit_s[a] += t
        return t

    def energy(self) -> list[float]:
        """Eq 19 per device: the joules of its computing and sending seconds so far."""
        return [float(self.kernel.energy(self.compute_s[i], self.transmit_s[i], i)) for i in range(self.kernel.N)]

    def memory_bytes(self) -> list[float]:
        if self.memory_model == "per_request":
            return list(self.memory_per_request)
        return [a + sum(w.values()) for a, w in zip(self.activations, self.weights)]
