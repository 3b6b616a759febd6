"""The paper's formulation (SPEC §5) as Pyomo components: decisions, Eqs 3-4 and 7-19.

Decisions (Eqs 3-4, 18): ``s[r]`` request r is served; ``y[r,k]`` it uses configuration k (one-hot
over the accuracy table, so the non-additive accuracy stays linear); ``x[r,j,i]`` its unit j runs
on device i. Derived: ``z[r,j,i] = x[r,j,i] · dropped[r,j]`` (exact linearisation), and the
transfer flows ``f[r,j,i,k]`` for consecutive units j → j+1 (Σ_k f = x[r,j,i], Σ_i f = x[r,j+1,k]),
tighter than McCormick bounds. One constraint family per paper equation, numbered in its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo

from ...problem import formulas as F
from ...problem.scenario import Scenario

MB, GMAC = F.MB, F.GMAC  # capacity rows are scaled to megabytes and giga-multiplications (HiGHS' tolerances)


@dataclass
class Data:
    """What the model's families read from a scenario, computed once."""

    sc: Scenario
    M: int
    N: int
    R: int
    K: list[int]  # allowed configurations (Eq 16's threshold)
    drops: dict[int, list[int]]  # droppable unit -> allowed configurations that drop it
    drop_j: list[int]  # units some allowed configuration drops
    t_out: dict  # (j, i, k) -> seconds to send unit j's output from device i to k
    t_in: dict  # (i, k) -> seconds to send the input image

    @classmethod
    def of(cls, sc: Scenario) -> "Data":
        M, N, kernel = len(sc.units), sc.n_devices, sc.kernel
        K = sc.allowed_configs()
        droppable = [j for j, u in enumerate(sc.units) if u.droppable]
        drops = {j: [k for k in K if sc.drops(k, j)] for j in droppable}
        t_out = {(j, i, k): kernel.send_s(j + 1, i, k) for j in range(M - 1) for i in range(N) for k in range(N) if i != k}
        t_in = {(i, k): kernel.send_s(0, i, k) for i in range(N) for k in range(N) if i != k}
        return cls(sc, M, N, len(sc.requests), K, drops, [j for j in droppable if drops[j]], t_out, t_in)

    def unit_term(self, m, r: int, j: int, i: int, full: float, reduced: float):
        """full · x − (full − reduced) · z: a unit's cost with its DC dropped or not."""
        if j in m.JD:
            return full * m.x[r, j, i] - (full - reduced) * m.z[r, j, i]
        return full * m.x[r, j, i]

    def macs_term(self, m, r: int, j: int, i: int):
        u = self.sc.units[j]
        return self.unit_term(m, r, j, i, u.macs, u.macs_dropped or 0)


    def memory_term(self, m, r: int, j: int, i: int, part: str):
        u = self.sc.units[j]
        return self.unit_term(m, r, j, i, getattr(u, f"{part}_bytes"), getattr(u, f"{part}_bytes_dropped") or 0)


def decisions(m: pyo.ConcreteModel, d: Data, relax: bool, allow_unserved: bool) -> None:
    """Sets and decision variables (Eqs 3, 4, 18); ``relax`` puts every binary in [0, 1] (Eq 20)."""
    binary = pyo.UnitInterval if relax else pyo.Binary
    m.R = pyo.RangeSet(0, d.R - 1) if d.R else pyo.Set(initialize=[])
    m.J = pyo.RangeSet(0, d.M - 1)
    m.I = pyo.RangeSet(0, d.N - 1)
    m.K = pyo.Set(initialize=d.K)
    m.JD = pyo.Set(initialize=d.drop_j)
    m.T = pyo.RangeSet(0, d.M - 2)  # transfers j -> j+1
    m.s = pyo.Var(m.R, domain=binary)
    m.y = pyo.Var(m.R, m.K, domain=binary)
    m.x = pyo.Var(m.R, m.J, m.I, domain=binary)
    m.z = pyo.Var(m.R, m.JD, m.I, domain=pyo.UnitInterval)
    m.f = pyo.Var(m.R, m.T, m.I, m.I, domain=pyo.NonNegativeReals)
    if not allow_unserved:
        for r in m.R:
            m.s[r].fix(1)
    # dropped[r, j] = Σ of y over the configurations that drop block j (built once, used by two families)
    m.dropped = pyo.Expression(m.R, m.JD, rule=lambda m, r, j: sum(m.y[r, k] for k in d.drops[j]))


def latency(m: pyo.ConcreteModel, d: Data) -> None:
    """Eqs 7-11: each request's latency, computation plus transmission (an expression)."""
    def computation(r):
        """Eq 9: Σ_j c_j / e_p(j)."""
        return sum(d.sc.kernel.time_of(d.macs_term(m, r, j, i), i) for j in range(d.M) for i in range(d.N))

    def transmission(r):
        """Eqs 10-11: the input to the stem's device, then every cut between consecutive units."""
        src = d.sc.requests[r].source
        inp = sum(d.t_in[src, k] * m.x[r, 0, k] for k in range(d.N) if k != src)
        return inp + sum(d.t_out[j, i, k] * m.f[r, j, i, k] for j in range(d.M - 1) for i in range(d.N)
                         for k in range(d.N) if i != k)

    def waiting(r):
        """The devices' backlog (``Scenario.ready_s``; none in the paper): the wait at the first unit's device
        and at every device a transfer enters."""
        w = d.sc.kernel.wait_s
        return sum(w[k] * m.x[r, 0, k] for k in range(d.N) if w[k]) + \
            sum(w[k] * m.f[r, j, i, k] for j in range(d.M - 1) for i in range(d.N) for k in range(d.N) if i != k and w[k])

    waits = bool(d.sc.kernel.wait_s.any())
    m.latency = pyo.Expression(m.R, rule=lambda m, r: computation(r) + transmission(r) + (waiting(r) if waits else 0))


def links(m: pyo.ConcreteModel, d: Data) -> None:
    """No flow over a missing link (rate 0: cut), nor a first unit that the source cannot send its image to."""
    ok = d.sc.kernel.link_ok
    for r in m.R:
        src = d.sc.requests[r].source
        for k in m.I:
            if not ok[src, k]:
                m.x[r, 0, k].fix(0)
        for j in m.T:
            for i in m.I:
                for k in m.I:
                    if not ok[i, k]:
                        m.f[r, j, i, k].fix(0)


def assignment(m: pyo.ConcreteModel, d: Data) -> None:
    """Eqs 3, 4 and 15 with their linearisations: one device per unit, one configuration, z = x · dropped,
    and the transfer flows."""

    @m.Constraint(m.R, m.J)
    def one_device(m, r, j):
        """Eqs 3 and 15: each unit of a served request runs on exactly one device."""
        return sum(m.x[r, j, i] for i in m.I) == m.s[r]

    @m.Constraint(m.R)
    def one_config(m, r):
        """Eq 4: a served request uses exactly one configuration of the accuracy table."""
        return sum(m.y[r, k] for k in m.K) == m.s[r]

    @m.Constraint(m.R, m.JD, m.I)
    def drop_on_device_x(m, r, j, i):
        """Eq 4 (linearised): z = x · dropped, upper bound by x."""
        return m.z[r, j, i] <= m.x[r, j, i]

    @m.Constraint(m.R, m.JD, m.I)
    def drop_on_device_d(m, r, j, i):
        """Eq 4 (linearised): z = x · dropped, upper bound by dropped."""
        return m.z[r, j, i] <= m.dropped[r, j]

    @m.Constraint(m.R, m.JD, m.I)
    def drop_on_device_lower(m, r, j, i):
        """Eq 4 (linearised): z = x · dropped, lower bound."""
        return m.z[r, j, i] >= m.x[r, j, i] + m.dropped[r, j] - 1

    @m.Constraint(m.R, m.T, m.I)
    def flow_out(m, r, j, i):
        """Eqs 10-11 (linearised): what leaves unit j on device i goes to some device."""
        return sum(m.f[r, j, i, k] for k in m.I) == m.x[r, j, i]

    @m.Constraint(m.R, m.T, m.I)
    def flow_in(m, r, j, k):
        """Eqs 10-11 (linearised): what unit j+1 on device k receives comes from some device."""
        return sum(m.f[r, j, i, k] for i in m.I) == m.x[r, j + 1, k]


def memory(m: pyo.ConcreteModel, d: Data) -> None:
    """Eq 13 under the scenario's memory model (SPEC §5)."""
    devs = d.sc.devices
    if d.sc.memory_model == "shared_weights":
        m.wmax = pyo.Var(m.J, m.I, domain=pyo.NonNegativeReals)

        @m.Constraint(m.R, m.J, m.I)
        def shared_weights(m, r, j, i):
            """Eq 13 (shared weights): unit j's weights are held once on a device that runs it."""
            return m.wmax[j, i] / MB >= d.memory_term(m, r, j, i, "weight") / MB

        @m.Constraint(m.I)
        def memory(m, i):
            """Eq 13: weights (once per unit) + every request's activations ≤ Mem_i."""
            return (sum(m.wmax[j, i] for j in m.J) + sum(d.memory_term(m, r, j, i, "activation")
                                                         for r in m.R for j in m.J)) / MB <= devs[i].memory_bytes / MB
    else:
        @m.Constraint(m.I)
        def memory(m, i):
            """Eq 13: the memory of every unit a device runs, per request, ≤ Mem_i."""
            return sum(d.memory_term(m, r, j, i, "weight") + d.memory_term(m, r, j, i, "activation")
                       for r in m.R for j in m.J) / MB <= devs[i].memory_bytes / MB


def computation_and_energy(m: pyo.ConcreteModel, d: Data) -> None:
    """Eqs 14, 17 and 19: each device's multiplications and energy in this step."""
    devs, sc = d.sc.devices, d.sc

    @m.Constraint(m.I)
    def computation_capacity(m, i):
        """Eq 14: the multiplications a device does in this step ≤ C_i."""
        return sum(d.macs_term(m, r, j, i) for r in m.R for j in m.J) / GMAC <= devs[i].compute_macs / GMAC

    @m.Expression(m.I)
    def energy_used(m, i):
        """Eq 19: p_compute · computing time + p_transmit · sending time of device i in this step."""
        comp = sc.kernel.time_of(sum(d.macs_term(m, r, j, i) for r in m.R for j in m.J), i)
        send = sum(d.t_out[j, i, k] * m.f[r, j, i, k] for r in m.R for j in range(d.M - 1) for k in range(d.N) if k != i)
        send += sum(d.t_in[i, k] * m.x[r, 0, k] for r in m.R if sc.requests[r].source == i
                    for k in range(d.N) if k != i)
        return sc.kernel.energy(comp, send, i)

    @m.Constraint(m.I)
    def energy(m, i):
        """Eq 17: a device's energy in this step ≤ B_i."""
        return m.energy_used[i] <= devs[i].energy_j


def accuracy(m: pyo.ConcreteModel, d: Data) -> None:
    """Eq 16 (declared after the valid cuts, so that the rows keep the order HiGHS was measured with)."""

    @m.Constraint(m.R)
    def accuracy(m, r):
        """Eq 16: a served request's configuration meets the accuracy threshold."""
        return sum(d.sc.configs[k].accuracy * m.y[r, k] for k in m.K) >= d.sc.accuracy_threshold * m.s[r]
