"""The exact solver: SPEC §5 as a mixed-integer linear program in Pyomo, solved by HiGHS.

Decisions (Eqs 3-4, 18): ``s[r]`` request r is served; ``y[r,k]`` it uses configuration k (one-hot
over the accuracy table, so the non-additive accuracy stays linear); ``x[r,j,i]`` its unit j runs
on device i. Derived: ``z[r,j,i] = x[r,j,i] · dropped[r,j]`` (exact linearisation), and the
transfer flows ``f[r,j,i,k]`` for consecutive units j → j+1 (Σ_k f = x[r,j,i], Σ_i f = x[r,j+1,k]),
tighter than McCormick bounds. One constraint family per paper equation, numbered in its docstring.

A solution is loaded only after checking the termination condition; the returned ``Plan`` carries
status, objective (the evaluator's), best bound, relative gap and solve time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from . import costs as C
from .evaluate import score
from .scenario import UNSERVED_PENALTY, Plan, Scenario, unserved

ALPHA_ZERO_EPS = 1e-6  # with α = 0, latency still breaks ties (SPEC §5)
MB, GMAC = 1e6, 1e9  # capacity rows are scaled to megabytes and giga-multiplications (HiGHS' tolerances)


@dataclass
class Options:
    time_limit: float = 60.0
    rel_gap: float = 1e-4
    threads: int = 1
    allow_unserved: bool = True
    tee: bool = False
    warm_start: bool = False  # start HiGHS from the relaxed method's plan (relaxation + Algorithm 1)
    max_nodes: int | None = None  # a deterministic budget: stop after this many branch-and-bound nodes
    highs: dict = field(default_factory=dict)  # further HiGHS options, by HiGHS' names


def build_model(sc: Scenario, relax: bool = False, allow_unserved: bool = True,
                max_served: int | None = None) -> pyo.ConcreteModel:
    """The Pyomo model of one step. ``relax=True`` gives the LP relaxation (Eq 20); ``max_served``
    adds the cut Σ served ≤ max_served (see ``served_bound``)."""
    names = sc.unit_names
    M, N, R = len(names), sc.n_devices, len(sc.requests)
    K = sc.allowed_configs()
    devs = sc.devices
    droppable = [j for j, u in enumerate(sc.units) if u["kind"] in ("conv", "identity")]
    drops = {j: [k for k in K if names[j] in sc.configs[k]["dropped"]] for j in droppable}
    drop_j = [j for j in droppable if drops[j]]  # blocks that some allowed configuration drops
    a0 = sc.configs[0]["accuracy"]
    l_ref = sc.l_ref()
    binary = pyo.UnitInterval if relax else pyo.Binary

    m = pyo.ConcreteModel(name="adaptres-step")
    m.R = pyo.RangeSet(0, R - 1) if R else pyo.Set(initialize=[])
    m.J = pyo.RangeSet(0, M - 1)
    m.I = pyo.RangeSet(0, N - 1)
    m.K = pyo.Set(initialize=K)
    m.JD = pyo.Set(initialize=drop_j)
    m.T = pyo.RangeSet(0, M - 2)  # transfers j -> j+1

    m.s = pyo.Var(m.R, domain=binary)
    m.y = pyo.Var(m.R, m.K, domain=binary)
    m.x = pyo.Var(m.R, m.J, m.I, domain=binary)
    m.z = pyo.Var(m.R, m.JD, m.I, domain=pyo.UnitInterval)
    m.f = pyo.Var(m.R, m.T, m.I, m.I, domain=pyo.NonNegativeReals)
    if not allow_unserved:
        for r in m.R:
            m.s[r].fix(1)

    # dropped[r, j] = Σ of y over the configurations that drop block j (built once, used by two families)
    m.dropped = pyo.Expression(m.R, m.JD, rule=lambda m, r, j: sum(m.y[r, k] for k in drops[j]))

    def unit_term(r, j, i, full: float, reduced: float):
        """full · x − (full − reduced) · z: a unit's cost with its DC dropped or not."""
        if j in m.JD:
            return full * m.x[r, j, i] - (full - reduced) * m.z[r, j, i]
        return full * m.x[r, j, i]

    u = sc.units

    def macs_term(r, j, i):
        return unit_term(r, j, i, u[j]["macs"], u[j]["macs_dropped"] or 0)

    t_out = {(j, i, k): C.transmission_latency(u[j]["output_bytes"], sc.rate_mbps[i][k])
             for j in range(M - 1) for i in range(N) for k in range(N) if i != k}
    t_in = {(i, k): C.transmission_latency(sc.input_bytes, sc.rate_mbps[i][k])
            for i in range(N) for k in range(N) if i != k}

    def computation(r):
        """Eq 9: Σ_j c_j / e_p(j)."""
        return sum(macs_term(r, j, i) / devs[i]["macs_per_s"] for j in range(M) for i in range(N))

    def transmission(r):
        """Eqs 10-11: the input to the stem's device, then every cut between consecutive units."""
        src = sc.requests[r]["source"]
        inp = sum(t_in[src, k] * m.x[r, 0, k] for k in range(N) if k != src)
        return inp + sum(t_out[j, i, k] * m.f[r, j, i, k] for j in range(M - 1) for i in range(N)
                         for k in range(N) if i != k)

    m.latency = pyo.Expression(m.R, rule=lambda m, r: computation(r) + transmission(r))  # Eqs 7-8

    # ---------------------------------------------------------------- constraints
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

    def memory_term(r, j, i, part: str):
        full = u[j][f"{part}_bytes"]
        red = u[j][f"{part}_bytes_dropped"] or 0
        return unit_term(r, j, i, full, red)

    if sc.memory_model == "shared_weights":
        m.wmax = pyo.Var(m.J, m.I, domain=pyo.NonNegativeReals)

        @m.Constraint(m.R, m.J, m.I)
        def shared_weights(m, r, j, i):
            """Eq 13 (shared weights): unit j's weights are held once on a device that runs it."""
            return m.wmax[j, i] / MB >= memory_term(r, j, i, "weight") / MB

        @m.Constraint(m.I)
        def memory(m, i):
            """Eq 13: weights (once per unit) + every request's activations ≤ Mem_i."""
            return (sum(m.wmax[j, i] for j in m.J) + sum(memory_term(r, j, i, "activation")
                                                         for r in m.R for j in m.J)) / MB <= devs[i]["memory_bytes"] / MB
    else:
        @m.Constraint(m.I)
        def memory(m, i):
            """Eq 13: the memory of every unit a device runs, per request, ≤ Mem_i."""
            return sum(memory_term(r, j, i, "weight") + memory_term(r, j, i, "activation")
                       for r in m.R for j in m.J) / MB <= devs[i]["memory_bytes"] / MB

    @m.Constraint(m.I)
    def computation_capacity(m, i):
        """Eq 14: the multiplications a device does in this step ≤ C_i."""
        return sum(macs_term(r, j, i) for r in m.R for j in m.J) / GMAC <= devs[i]["compute_macs"] / GMAC

    @m.Constraint(m.I)
    def energy(m, i):
        """Eqs 17, 19: p_compute · computing time + p_transmit · sending time ≤ B_i."""
        comp = sum(macs_term(r, j, i) for r in m.R for j in m.J) / devs[i]["macs_per_s"]
        send = sum(t_out[j, i, k] * m.f[r, j, i, k] for r in m.R for j in range(M - 1) for k in range(N) if k != i)
        send += sum(t_in[i, k] * m.x[r, 0, k] for r in m.R if sc.requests[r]["source"] == i
                    for k in range(N) if k != i)
        return devs[i]["p_compute_w"] * comp + devs[i]["p_transmit_w"] * send <= devs[i]["energy_j"]

    @m.Constraint(m.R, m.JD)
    def dropped_once(m, r, j):
        """Eqs 4 and 15 (implied, a valid cut): a dropped block is dropped on the one device that runs it."""
        return sum(m.z[r, j, i] for i in m.I) == m.dropped[r, j]

    # Valid cuts from the capacities (Eqs 13-15). The least a run of units a..b costs under any allowed
    # configuration decides which devices could hold all of it; where that is not every device, the run
    # is cut somewhere or starts on one of those that can.
    def holders(a: int, b: int) -> frozenset:
        macs, mem = least_cost(sc, ("macs",), a, b), least_cost(sc, ("weight", "activation"), a, b)
        return frozenset(i for i in range(N)
                         if devs[i]["compute_macs"] >= macs * (1 - 1e-9) and devs[i]["memory_bytes"] >= mem * (1 - 1e-9))

    every = frozenset(range(N))
    hold = {(a, b): holders(a, b) for a in range(M) for b in range(a, M)}
    # only the shortest runs for each set of holders: a longer run with the same holders is implied
    runs = [(a, b) for a in range(M - 1) for b in range(a + 1, M)
            if hold[a, b] != every and hold[a + 1, b] != hold[a, b] and hold[a, b - 1] != hold[a, b]]
    m.W = pyo.Set(initialize=runs, dimen=2)
    m.cut = pyo.Var(m.R, m.T, domain=pyo.NonNegativeReals)

    @m.Constraint(m.R, m.T)
    def cut_between(m, r, j):
        """Eqs 10-11: units j and j+1 of request r are on different devices (the cross flows)."""
        return m.cut[r, j] == sum(m.f[r, j, i, k] for i in m.I for k in m.I if i != k)

    @m.Constraint(m.R, m.W)
    def run_fits(m, r, a, b):
        """Eqs 13-15 (implied, a valid cut): units a..b on one device only where they fit there."""
        return sum(m.cut[r, j] for j in range(a, b)) + sum(m.x[r, a, i] for i in sorted(hold[a, b])) >= m.s[r]

    # the fewest devices any allowed configuration needs: Σ over segments ≤ segments · largest capacity
    segments = max(1, -(-least_cost(sc, ("macs",)) // max(d["compute_macs"] for d in devs)),
                   -(-least_cost(sc, ("weight", "activation")) // max(d["memory_bytes"] for d in devs))
                   if sc.memory_model == "per_request" else 1)
    m.min_transfers = int(segments) - 1

    @m.Constraint(m.R)
    def fewest_cuts(m, r):
        """Eqs 13-15 (implied, a valid cut): a request too large for any one device is cut that often."""
        if m.min_transfers == 0:
            return pyo.Constraint.Skip
        return sum(m.cut[r, j] for j in m.T) >= m.min_transfers * m.s[r]

    # Requests from the same source are interchangeable: order each such pair by served, then by the
    # device of their stem (a valid symmetry-breaking cut; ``start_values`` orders a start the same way).
    twins = [(a, b) for a in range(R) for b in range(a + 1, R)
             if sc.requests[a]["source"] == sc.requests[b]["source"]
             and not any(sc.requests[c]["source"] == sc.requests[a]["source"] for c in range(a + 1, b))]
    m.twins = pyo.Set(initialize=twins, dimen=2)

    @m.Constraint(m.twins)
    def twins_served(m, a, b):
        """Eq 18 (symmetry): of two requests from one source, the first is served if the second is."""
        return m.s[a] >= m.s[b]

    @m.Constraint(m.twins)
    def twins_stem(m, a, b):
        """Eq 3 (symmetry): of two served requests from one source, the first's stem is on the lower device."""
        return sum(i * m.x[a, 0, i] for i in m.I) <= sum(i * m.x[b, 0, i] for i in m.I) + (N - 1) * (1 - m.s[b])

    if max_served is not None and max_served < R:
        m.served_at_most = pyo.Constraint(expr=sum(m.s[r] for r in m.R) <= max_served,
                                          doc="Eqs 13-14 (implied, a valid cut): at most as many requests are served "
                                              "as the summed capacities fit (``served_bound``)")

    @m.Constraint(m.R)
    def accuracy(m, r):
        """Eq 16: a served request's configuration meets the accuracy threshold."""
        return sum(sc.configs[k]["accuracy"] * m.y[r, k] for k in m.K) >= sc.accuracy_threshold * m.s[r]

    # ---------------------------------------------------------------- objective (Eq 5)
    Rn = max(R, 1)
    alpha = sc.alpha if sc.alpha > 0 else ALPHA_ZERO_EPS
    m.latency_norm = pyo.Expression(expr=sum(m.latency[r] for r in m.R) / (Rn * l_ref))
    m.accuracy_loss = pyo.Expression(expr=sum((a0 - sc.configs[k]["accuracy"]) / a0 * m.y[r, k]
                                              for r in m.R for k in m.K) / Rn)
    m.n_unserved = pyo.Expression(expr=sum(1 - m.s[r] for r in m.R))
    m.obj = pyo.Objective(expr=alpha * m.latency_norm + sc.beta * m.accuracy_loss + UNSERVED_PENALTY * m.n_unserved,
                          sense=pyo.minimize)
    return m


def served_bound(sc: Scenario) -> int:
    """The most requests the devices' capacities together could serve (Eqs 13-14 summed over devices,
    each request at its cheapest allowed configuration), rounded down. No plan serves more; rounding
    makes the bound on the number unserved an integer, which the LP relaxation alone does not see."""
    R = len(sc.requests)
    if R == 0 or not sc.allowed_configs():
        return 0
    memory = ("activation",) if sc.memory_model == "shared_weights" else ("weight", "activation")
    fits = [sum(d["compute_macs"] for d in sc.devices) / max(least_cost(sc, ("macs",)), 1e-12),
            sum(d["memory_bytes"] for d in sc.devices) / max(least_cost(sc, memory), 1e-12)]
    return min(R, int(min(fits) * (1 + 1e-9)))


def least_cost(sc: Scenario, parts: tuple[str, ...], first: int = 0, last: int | None = None) -> float:
    """The least that units ``first..last`` (default: the whole request) cost in ``parts`` (of macs,
    weight, activation) under any allowed configuration (0 when none is allowed)."""
    names = sc.unit_names
    units = range(first, len(names) if last is None else last + 1)
    return min((sum(sc.unit_cost(j, names[j] in sc.configs[k]["dropped"])[p] for j in units for p in parts)
                for k in sc.allowed_configs()), default=0)


def extract_plan(sc: Scenario, m: pyo.ConcreteModel, method: str) -> Plan:
    """Read the integer decisions of a solved (non-relaxed) model."""
    names = sc.unit_names
    reqs = []
    for r in range(len(sc.requests)):
        if pyo.value(m.s[r]) < 0.5:
            reqs.append({"served": False, "config": None, "placement": {}})
            continue
        k = max(m.K, key=lambda k: pyo.value(m.y[r, k]))
        place = {names[j]: max(m.I, key=lambda i: pyo.value(m.x[r, j, i])) for j in m.J}
        reqs.append({"served": True, "config": int(k), "placement": {n: int(d) for n, d in place.items()}})
    return Plan(method=method, requests=reqs)


def start_values(sc: Scenario, m: pyo.ConcreteModel, plan: Plan) -> dict:
    """A complete assignment of the model's variables that encodes ``plan`` (for a MIP start),
    keyed by ``id`` of each variable (Pyomo's variables are not hashable)."""
    names = sc.unit_names
    vals = {}
    for r, req in enumerate(_twins_in_order(sc, plan.requests)):
        if not req.get("served"):
            continue
        k = req["config"]
        ones = [m.s[r], m.y[r, k]]
        dev = [req["placement"][n] for n in names]
        for j, i in enumerate(dev):
            ones.append(m.x[r, j, i])
            if j in m.JD and names[j] in sc.configs[k]["dropped"]:
                ones.append(m.z[r, j, i])
            if j < len(names) - 1:
                ones.append(m.f[r, j, i, dev[j + 1]])
                if dev[j + 1] != i:
                    ones.append(m.cut[r, j])
        vals.update((id(v), 1.0) for v in ones)
    return vals  # every other variable is 0


def _twins_in_order(sc: Scenario, requests: list[dict]) -> list[dict]:
    """The plan's requests with those from one source permuted into the order the model's symmetry
    cuts ask for: served first, then by the device of the stem."""
    out = list(requests)
    for src in {q["source"] for q in sc.requests}:
        idx = [r for r, q in enumerate(sc.requests) if q["source"] == src]
        group = sorted((requests[r] for r in idx),
                       key=lambda q: (0, q["placement"][sc.unit_names[0]]) if q.get("served") else (1, 0))
        for r, q in zip(idx, group):
            out[r] = q
    return out


class _HighsWithStart(Highs):
    """pyomo.contrib's HiGHS interface with a MIP start (HiGHS' setSolution) before it runs."""

    _start: dict = {}  # set on the instance; pyomo re-runs __init__ when it loads a model

    def _solve(self):
        import highspy
        col = [0.0] * self._solver_model.getNumCol()
        for vid, val in self._start.items():
            ndx = self._pyomo_var_to_solver_var_map.get(vid)
            if ndx is not None:
                col[ndx] = val
        sol = highspy.HighsSolution()
        sol.col_value = col
        sol.value_valid = True
        self._solver_model.setSolution(sol)
        return super()._solve()


def _status(res) -> str:
    tc = res.termination_condition
    if tc == TerminationCondition.convergenceCriteriaSatisfied:
        return "optimal"
    if tc == TerminationCondition.maxTimeLimit:
        return "time_limit"
    if tc == TerminationCondition.iterationLimit:
        return "node_limit"
    if tc in (TerminationCondition.provenInfeasible, TerminationCondition.locallyInfeasible,
              TerminationCondition.infeasibleOrUnbounded):
        return "infeasible"
    return str(tc.name)


def solve(sc: Scenario, options: Options | None = None, start: Plan | None = None, **kwargs) -> Plan:
    """Solve one step exactly (to ``rel_gap``) with HiGHS; the plan is scored by the evaluator.
    ``start``: the relaxed method's plan when the caller has it already (with ``warm_start``, else it
    is computed here); its time counts in the exact solve's."""
    opts = options or Options(**kwargs)
    if not sc.requests:
        plan = Plan("exact", [], status="optimal", objective=0.0, bound=0.0, gap=0.0, solve_s=0.0)
        return score(sc, plan)
    t0 = time.perf_counter()
    if not opts.warm_start:
        start = None
    elif start is not None:
        t0 -= start.solve_s or 0.0
    else:
        from . import heuristic
        start = heuristic.solve(sc, time_limit=opts.time_limit, threads=opts.threads)
    cap = served_bound(sc) if opts.allow_unserved else None
    m = build_model(sc, allow_unserved=opts.allow_unserved, max_served=cap)
    build_s = time.perf_counter() - t0
    solver = Highs() if start is None else _HighsWithStart()
    if start is not None:
        solver._start = start_values(sc, m, start)
    res = solver.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False, tee=opts.tee,
                       time_limit=opts.time_limit, rel_gap=opts.rel_gap, threads=opts.threads,
                       solver_options={**opts.highs, **({} if opts.max_nodes is None else {"mip_max_nodes": int(opts.max_nodes)})})
    solve_s = time.perf_counter() - t0
    status = _status(res)
    has_solution = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if not has_solution:
        plan = Plan("exact", unserved(len(sc.requests)), status=status, solve_s=solve_s)
        plan.metrics = {"build_s": build_s}
        return plan
    res.solution_loader.load_vars()
    plan = extract_plan(sc, m, "exact")
    bound = res.objective_bound
    inc = res.incumbent_objective
    plan.status = status
    plan.bound = float(bound) if bound is not None else None
    plan.gap = (abs(inc - bound) / max(abs(inc), 1e-12)) if (bound is not None and inc is not None) else None
    plan.solve_s = solve_s
    score(sc, plan)
    plan.objective = plan.metrics["objective"]
    plan.metrics.update(build_s=build_s, solver_objective=float(inc) if inc is not None else None)
    return plan
