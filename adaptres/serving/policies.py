"""Policies: what becomes of an epoch's requests — which blocks each drops, which device runs each unit,
which are refused — one module, a registry (``make``), the same interface for every one (no torch).

A policy's ``plan(ctx)`` gets the epoch's scenario as the paper builds it (the devices' batteries, a
failed device without energy, a cut link missing) and what the planner knows of the queues
(``backlog``), and returns a ``Decision``: a plan on a scenario (the one it was given, or its own view
of it), and why each request it does not serve is refused. ``observe`` tells it what the epoch spent.

- ``paper``: the paper's per-step optimisation (Eq 5 as written: no queue), by a registered solver,
  under a controller (``controllers``: myopic, or the horizon's prices of energy). The simulator's
  sweeps and ``serve`` run it.
- ``adaptive``: the same optimisation made queue-aware: each device's backlog is in the scenario
  (``ready_s``: a plan's latency includes waiting), each device takes at most what it can finish within
  ``window_s`` (its per-epoch computational limit, Eq 14, less its backlog), weights are held once per
  device (``shared_weights``: as the devices hold them), and a request that would miss its deadline is
  planned again for latency alone, then refused if it still would (admission control).
- ``static``: DEFER's way: the full model partitioned once into a chain of stages (``chain``), every
  request through it, no drops, nothing refused; re-partitioned only around a failed device.
- ``local``: each request on its source device alone, no network, with the fewest drops whose memory
  fits there (the full model fits no §V device).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import solvers
from ..problem.plan import UNSERVED, Assignment, Plan
from ..problem.scenario import Scenario
from ..runtime import routes as R
from . import chain as C
from .arrivals import Epoch
from .backlog import Backlog

Solver = Callable[[Scenario], Plan]


@dataclass
class Context:
    """What a policy plans an epoch with."""

    epoch: Epoch
    scenario: Scenario  # the epoch's scenario as the paper builds it
    now: float  # seconds into the run when planning starts
    backlog: Backlog
    deadlines: list[float]  # each request's deadline, seconds into the run (inf: none)
    dead: frozenset = frozenset()
    mean_rate_mbps: float | None = None  # the links' mean rate (the static chain is balanced at it)


@dataclass
class Decision:
    """A plan on ``scenario`` and the reason each request it leaves unserved is refused."""

    plan: Plan
    scenario: Scenario
    refused: dict[int, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # numbers a policy reports per epoch (a controller's time, prices)


def _refusals(plan: Plan, why: str) -> dict[int, str]:
    return {r: why for r, q in enumerate(plan.requests) if not q.served}


def _source_dead(ctx: Context) -> dict[int, str]:
    return {r: f"its source, device {q.source}, has failed" for r, q in enumerate(ctx.scenario.requests)
            if q.source in ctx.dead}


class Paper:
    """The paper's per-step optimisation under a controller (see the module's docstring)."""

    name = "paper"

    def __init__(self, solver: Solver, controller=None):
        self.solver, self.controller = solver, controller
        self._control_s = 0.0

    def plan(self, ctx: Context) -> Decision:
        sc = ctx.scenario
        t0 = time.perf_counter()
        asked = sc if self.controller is None else self.controller.scenario(sc, ctx.epoch.index)
        self._control_s = time.perf_counter() - t0
        plan = self.solver(asked)
        if asked is not sc:  # made for the priced step: scored on the step itself
            plan = dataclasses.replace(plan, scenario_sha256=None)
        extra = {}
        if self.controller is not None:
            prices = asked.energy_price
            extra["price_mean"] = float(np.mean(prices)) if prices is not None else 0.0
        refused = {**_refusals(plan, "unserved in the plan (the step's limits, Eqs 13-17)"), **_source_dead(ctx)}
        return Decision(plan, sc, refused, extra)

    def observe(self, t: int, spent, before) -> dict:
        if self.controller is None:
            return {}
        t0 = time.perf_counter()
        self.controller.observe(t, spent, before)
        return {"control_s": self._control_s + time.perf_counter() - t0}


class Adaptive:
    """The queue-aware optimisation with admission control (see the module's docstring)."""

    name = "adaptive"

    def __init__(self, method: str = "greedy", options: solvers.Options | None = None, window_s: float = 2.0,
                 controller=None, planner_s: float = 0.0):
        # no tie stage: its latency does not see the epoch's own requests queue behind each other
        self.method = method
        self.options = dataclasses.replace(options or solvers.Options(time_limit=1.0), ties=False)
        self.window_s, self.controller, self.planner_s = window_s, controller, planner_s

    def view(self, ctx: Context, at: float) -> Scenario:
        """The epoch's scenario as this policy sees it: the backlog at ``at`` and what each device can still
        finish within the window; weights held once per device."""
        sc = ctx.scenario
        ready = ctx.backlog.ready_s(at)
        devices = [dataclasses.replace(d, compute_macs=max(d.macs_per_s * (self.window_s - w), 1e-3))
                   for d, w in zip(sc.devices, ready)]
        asked = sc.replace(devices=devices, ready_s=[round(w, 9) for w in ready], memory_model="shared_weights")
        return asked if self.controller is None else self.controller.scenario(asked, ctx.epoch.index)

    def plan(self, ctx: Context) -> Decision:
        at = ctx.now + self.planner_s  # the plan reaches the devices about then
        asked = self.view(ctx, at)
        plan = solvers.solve(asked, self.method, self.options)
        late = self._late(ctx, asked, plan, at)
        extra = {"late_first": len(late)}
        if late:  # planned again for latency alone, on what the others leave
            plan, late = self._again(ctx, asked, plan, late, at)
        refused = _refusals(plan, "unserved in the plan (the devices' limits within the window)")
        for r, (end, deadline) in late.items():
            refused[r] = (f"its deadline cannot be met: predicted to end {end - deadline:.2f} s after it"
                          if math.isfinite(end) else "no plan meets its deadline")
        refused.update(_source_dead(ctx))
        return Decision(_without(asked, plan, refused), asked, refused, extra)

    def _late(self, ctx: Context, sc: Scenario, plan: Plan, at: float) -> dict[int, tuple[float, float]]:
        ends = ctx.backlog.predict(R.routes(sc, plan), at)
        return {r: (e, ctx.deadlines[r]) for r, e in enumerate(ends) if e is not None and e > ctx.deadlines[r]}

    def _again(self, ctx: Context, sc: Scenario, plan: Plan, late: dict, at: float) -> tuple[Plan, dict]:
        kept = _without(sc, plan, {r: "" for r in late})
        backlog = ctx.backlog.copy()
        backlog.commit(R.routes(sc, kept), at)
        used = R.usage(sc)
        for rt in R.routes(sc, kept):
            if rt is not None:
                R.charge(used, sc, rt.segments, rt.dropped)
        order = sorted(late)
        ready = backlog.ready_s(at)
        energy, memory = used.energy(), used.memory_bytes()
        devices = [dataclasses.replace(d, compute_macs=max(d.compute_macs - used.macs[i], 1e-3),
                                       energy_j=max(d.energy_j - energy[i], 0.0),
                                       memory_bytes=max(d.memory_bytes - memory[i], 1e-3))
                   for i, d in enumerate(sc.devices)]
        sub = sc.replace(devices=devices, requests=[sc.requests[r] for r in order], ready_s=ready, alpha=1.0, beta=0.0,
                         energy_price=None)
        second = solvers.solve(sub, self.method, self.options)
        requests = list(kept.requests)
        for r, q in zip(order, second.requests):
            requests[r] = q
        merged = solvers.finish(sc, plan.method, requests, solve_s=(plan.solve_s or 0.0) + (second.solve_s or 0.0),
                                status=plan.status)
        ends = backlog.predict(R.routes(sub, second), at)
        still = {r: (e if e is not None else math.inf, ctx.deadlines[r]) for r, e in zip(order, ends)
                 if e is None or e > ctx.deadlines[r]}
        return merged, still

    def observe(self, t: int, spent, before) -> dict:
        if self.controller is not None:
            self.controller.observe(t, spent, before)
        return {}


class Static:
    """DEFER's static chain (see the module's docstring)."""

    name = "static"

    def __init__(self):
        self.chain: C.Chain | None = None
        self._for: frozenset | None = None

    def plan(self, ctx: Context) -> Decision:
        sc = ctx.scenario
        if self._for != ctx.dead:  # at the start, and around a failed device
            alive = [i for i in range(sc.n_devices) if i not in ctx.dead]
            self.chain, self._for = C.partition(sc, alive, ctx.mean_rate_mbps), ctx.dead
        refused = _source_dead(ctx)
        if self.chain is None:
            refused = {r: "no chain of the full model fits the surviving devices" for r in range(len(sc.requests))}
        place = self.chain.placement(sc.unit_names) if self.chain is not None else {}
        requests = [UNSERVED if r in refused else Assignment(True, 0, place) for r in range(len(sc.requests))]
        stages = len(self.chain.stages) if self.chain is not None else 0
        plan = solvers.finish(sc, "static", requests, solve_s=0.0, extra={"stages": stages})
        return Decision(plan, sc, refused)

    def observe(self, t: int, spent, before) -> dict:
        return {}


class Local:
    """Each request on its source device alone (see the module's docstring)."""

    name = "local"

    def plan(self, ctx: Context) -> Decision:
        sc = ctx.scenario
        k = sc.kernel
        order = sorted(sc.allowed_configs(), key=lambda c: (len(sc.configs[c].dropped), -sc.configs[c].accuracy, c))
        memory = {c: sum(k.weight[j, int(sc.drops(c, j))] + k.activation[j, int(sc.drops(c, j))]
                         for j in range(len(sc.units))) for c in order}
        requests, refused = [], _source_dead(ctx)
        for r, q in enumerate(sc.requests):
            fits = [c for c in order if memory[c] <= sc.devices[q.source].memory_bytes]
            if r in refused or not fits:
                refused.setdefault(r, f"no configuration fits device {q.source}'s memory alone")
                requests.append(UNSERVED)
                continue
            requests.append(Assignment(True, fits[0], {n: q.source for n in sc.unit_names}))
        return Decision(solvers.finish(sc, "local", requests, solve_s=0.0), sc, refused)

    def observe(self, t: int, spent, before) -> dict:
        return {}


POLICIES = ("adaptive", "paper", "static", "local")


def _without(sc: Scenario, plan: Plan, refused: dict) -> Plan:
    """``plan`` with the ``refused`` requests unserved, scored again on ``sc``."""
    if not any(plan.requests[r].served for r in refused):
        return plan
    requests = tuple(UNSERVED if r in refused else q for r, q in enumerate(plan.requests))
    return solvers.finish(sc, plan.method, requests, solve_s=plan.solve_s or 0.0, status=plan.status,
                          extra={k: v for k, v in plan.metrics.items() if k == "tie_moves"})


def check(name: str) -> str:
    if name not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {name!r}")
    return name
