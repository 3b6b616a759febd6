"""A step as numpy arrays, and what one column (a request's whole plan) costs and uses.

A *column* is one served request's plan: its source device, a configuration of the accuracy table and the
device of every unit. Its cost is the request's share of Eq 5 (α · latency / (R · L_ref) + β · relative
accuracy loss / R); it uses each device's computation (Eq 14, in G multiplications), energy (Eqs 17, 19,
joules: computing and sending, the input image charged to the source) and memory (Eq 13, in MB: weights +
activations per request, or only activations under ``shared_weights``, whose weights are the master's
loaded-unit variables). A column that sends over a missing link costs inf; the seconds a request waits
behind the devices' backlog count in its latency (``CostKernel.hop_wait``). Requests from one source are
interchangeable: the master counts them (``n_s``) rather than naming them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...problem import formulas as F
from ...problem.scenario import Scenario

MB, GMAC = F.MB, F.GMAC  # the master's rows are in megabytes and giga-multiplications (HiGHS' tolerances)


@dataclass(frozen=True)
class Column:
    """One request's plan from source ``s`` (an index into ``Arrays.sources``)."""

    s: int
    k: int  # configuration (index into the scenario's configs)
    place: tuple[int, ...]  # device of each unit


class Arrays:
    """The numbers of a scenario the column generation reads, computed once."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        J, N, R = len(sc.units), sc.n_devices, len(sc.requests)
        self.J, self.N, self.R = J, N, R
        self.K = np.array(sc.allowed_configs(), dtype=int)
        self.sources = sorted({q.source for q in sc.requests})
        self.n_s = np.array([sum(q.source == s for q in sc.requests) for s in self.sources], dtype=float)
        self.drop = np.array([[sc.drops(k, j) for j in range(J)] for k in range(len(sc.configs))], dtype=bool)
        self.kernel = kernel = sc.kernel  # the cost model: Eq 9 per unit and device, Eqs 10-11 per link, Eq 19
        self.macs, self.weight = kernel.macs, kernel.weight  # (J, 2): kept, dropped
        act = kernel.activation
        self.shared = sc.memory_model == "shared_weights"
        self.mem = (act if self.shared else act + self.weight) / MB  # what a column puts in the memory row
        self.cap = {"compute": np.array([d.compute_macs for d in sc.devices]) / GMAC,
                    "energy": np.array([d.energy_j for d in sc.devices], dtype=float),
                    "memory": np.array([d.memory_bytes for d in sc.devices]) / MB}
        self.lat_w = sc.alpha / (R * sc.l_ref()) if R else 0.0  # objective per second of a request's latency
        self.price = kernel.energy_price  # objective per joule of each device (a controller's; 0: Eq 5 alone)
        a0 = sc.configs[0].accuracy
        self.loss = np.array([a0 - c.accuracy for c in sc.configs], dtype=float)  # points below the full model
        self.acc_cost = sc.beta * self.loss / (a0 * R) if R else np.zeros(len(sc.configs))
        self.max_loss = np.inf  # a front's ε: configurations that lose more cannot be taken (``Master.set_budgets``)
        self.levels = [self._levels(j) for j in range(J)]
        # what one request may put on one device (Eqs 13, 14, 17): its multiplications within the
        # device's computational limit and within what its battery can compute; weights + activations
        self.request_mem = act + self.weight
        self._limits()

    def loss_levels(self, eps: float) -> dict[int, np.ndarray]:
        """Under a loss budget ε, for m = 1 … R − 1: which configurations (1.0) lose more than ε / (m + 1) and at most
        ε — m + 1 requests taking them would lose more than ε together (``keys.LevelRow``); empty ones left out."""
        out = {m: (self.loss > eps / (m + 1) + 1e-9) & (self.loss <= eps + 1e-9) for m in range(1, int(self.R))}
        return {m: v.astype(float) for m, v in out.items() if v.any()}

    def config_cost(self, prices) -> np.ndarray:
        """Per configuration: its accuracy term of Eq 5 plus its loss at the price of the master's accuracy
        budget (``Prices.loss``; zero without one) and the prices of that budget's level rows it is in
        (``Prices.config``); inf for a configuration that loses more than the budget."""
        cost = self.acc_cost + prices.loss * self.loss if prices.loss else self.acc_cost
        if prices.config is not None:
            cost = cost + prices.config
        if self.max_loss < np.inf:
            cost = np.where(self.loss <= self.max_loss + 1e-9, cost, np.inf)
        return cost

    def energy_rate(self, prices) -> np.ndarray:
        """Per device: what a joule it spends costs under ``prices`` (its energy row, the master's total-energy
        budget) and the scenario's price of energy."""
        return prices.energy + self.price + prices.total_energy

    def _limits(self) -> None:
        battery = self.kernel.macs_within_energy(self.cap["energy"])
        self.macs_limit = np.minimum(self.cap["compute"] * GMAC, battery) * (1 + 1e-6)
        self.mem_limit = self.cap["memory"] * MB * (1 + 1e-6)

    def sparing(self) -> "Arrays":
        """A copy whose battery limits keep back what sending the largest output over the device's
        slowest link costs (a heuristic's margin: the pricing pass checks computing energy only)."""
        other = copy.copy(self)
        k = self.kernel
        largest = max(k.out_bytes.max(), k.input_bytes)
        send = k.transmit_w * largest * k.sec_per_byte.max(axis=1) + k.transmit_w * k.link_fixed_s.max(axis=1)
        other.cap = {**self.cap, "energy": np.maximum(0.0, self.cap["energy"] - send)}
        other._limits()
        return other

    def residual(self, used: dict) -> "Arrays":
        """A copy whose devices have ``used`` (per kind, master units) less capacity."""
        other = copy.copy(self)
        other.cap = {kind: np.maximum(0.0, self.cap[kind] - used[kind]) for kind in self.cap}
        other._limits()
        return other

    def _levels(self, j: int) -> tuple[float, ...]:
        """``shared_weights``: the distinct positive weight figures of unit j (MB, largest first) that
        some allowed configuration loads; a device holds the largest its requests need."""
        if not self.shared:
            return ()
        used = {bool(self.drop[k, j]) for k in self.K}
        return tuple(sorted({self.weight[j, int(v)] / MB for v in used if self.weight[j, int(v)] > 0}, reverse=True))

    def level_rows(self, j: int, v: int) -> list[int]:
        """The loaded-unit levels whose linking rows count unit j run in variant v (0 kept, 1 dropped):
        every level at or below its weight."""
        w = self.weight[j, v] / MB
        return [lvl for lvl, x in enumerate(self.levels[j]) if w > 0 and x <= w + 1e-12]

    def fits_alone(self, paths: np.ndarray, k, s: int) -> np.ndarray:
        """For placements ``paths`` (n × J) of configuration k (one, or one per placement) from source s:
        does each fit the devices on its own (multiplications, weights + activations, energy of computing
        and sending)? A plan that does not can never be served, whatever the other requests do."""
        n = len(paths)
        v = np.broadcast_to(self.drop[k].astype(int), (n, self.J))
        units = np.arange(self.J)[None, :]
        rows = np.repeat(np.arange(n), self.J)
        macs, mem, energy = (np.zeros((n, self.N)) for _ in range(3))
        np.add.at(macs, (rows, paths.ravel()), self.macs[units, v].ravel())
        np.add.at(mem, (rows, paths.ravel()), self.request_mem[units, v].ravel())
        np.add.at(energy, (rows, paths.ravel()), self.kernel.compute_energy[units, v, paths].ravel())
        sends, senders = self.kernel.path_sends(paths, self.sources[s])
        np.add.at(energy, (rows, senders.ravel()), self.kernel.sender_energy(sends, senders).ravel())
        tol = 1 + 1e-6
        return np.asarray((macs <= self.cap["compute"] * GMAC * tol).all(1) & (mem <= self.mem_limit).all(1)
                          & (energy <= self.cap["energy"] * tol + 1e-9).all(1))

    def columns(self, paths: np.ndarray, k: int, s: int) -> tuple[np.ndarray, dict]:
        """``column`` for many placements of one configuration and source at once: the objective
        coefficients (n,) and the use of each device, ``{"compute"|"energy"|"memory": (n, N)}``."""
        n, units = len(paths), np.arange(self.J)
        v = self.drop[k].astype(int)
        rows = np.repeat(np.arange(n), self.J)
        comp_t = self.kernel.compute_s[units, v, paths]
        sends, senders = self.kernel.path_sends(paths, self.sources[s])
        use = {kind: np.zeros((n, self.N)) for kind in ("compute", "energy", "memory")}
        np.add.at(use["compute"], (rows, paths.ravel()), np.tile(self.macs[units, v] / GMAC, n))
        np.add.at(use["memory"], (rows, paths.ravel()), np.tile(self.mem[units, v], n))
        np.add.at(use["energy"], (rows, paths.ravel()), self.kernel.compute_energy[units, v, paths].ravel())
        np.add.at(use["energy"], (rows, senders.ravel()), self.kernel.sender_energy(sends, senders).ravel())
        waits = self.kernel.path_waits(paths, self.sources[s])
        cost = self.lat_w * (comp_t.sum(axis=1) + sends.sum(axis=1) + waits.sum(axis=1)) + self.acc_cost[k] \
            + F.energy_charge(self.price[None, :], use["energy"]).sum(axis=1)
        return np.where(self.kernel.path_linked(paths, self.sources[s]), cost, np.inf), use

    def column(self, col: Column) -> tuple[float, dict]:
        """A column's objective coefficient and its use of each device: ``{"compute"|"energy"|"memory":
        {device: amount}}`` (master units), plus ``"links"``: the (device, unit, level) it loads."""
        k = self.kernel
        use: dict[str, Any] = {"compute": {}, "energy": {}, "memory": {}, "links": []}

        def add(kind, i, v):
            use[kind][i] = use[kind].get(i, 0.0) + v
        latency = 0.0
        prev = self.sources[col.s]
        for j, i in enumerate(col.place):
            v = int(self.drop[col.k, j])
            latency += k.wait(j, prev, i)
            if prev != i:
                if not k.link_ok[prev, i]:
                    latency = np.inf  # no link: no such plan
                t = k.hop_s(j)[prev, i]
                latency += t
                add("energy", prev, k.energy(0.0, t, prev))
            latency += k.compute_s[j, v, i]
            add("compute", i, self.macs[j, v] / GMAC)
            add("energy", i, k.compute_energy[j, v, i])
            add("memory", i, self.mem[j, v])
            use["links"] += [(i, j, lvl) for lvl in self.level_rows(j, v)]
            prev = i
        charge = sum(F.energy_charge(float(self.price[i]), e) for i, e in use["energy"].items())
        return self.lat_w * latency + self.acc_cost[col.k] + charge, use
