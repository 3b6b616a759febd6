"""The closed loop, once: arrivals → policy (with its controller and solver) → executor → accounting.

Every way this project runs the system is this loop with other parts:

- the paper's simulator (``experiments.sim.run``): the paper's steps (``arrivals.Steps``), its per-step
  optimisation (``policies.Paper``) and its model (``execute.Modelled``), each step ended before the next;
- ``serve``: the same steps executed on the device actors (``on_ray.Steps``), still one step at a time;
- ``load``: requests in real time (``arrivals.Poisson``), planned epoch by epoch and submitted without
  waiting for earlier epochs (``pipelined``), by any policy, on the simulated queues
  (``simulated.Queues``) or on the devices (``on_ray.Pipeline``).

For each epoch the loop builds its scenario as the paper does (the devices' batteries now, a failed
device without energy, a cut link missing, the epoch's link rates), asks the policy, records what the
planner's model of the queues (``backlog``) predicts, hands the plan to the executor, and debits the
batteries with what the executor reports spent (Eq 19; measured where it measures). ``History`` keeps
everything; the front ends turn it into their tables.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import processes
from ..problem.generate import build
from ..problem.scenario import Scenario
from ..progress import bar
from ..runtime import routes as R
from .arrivals import Epoch
from .backlog import Backlog
from .execute import Batch, Executor, Outcome, Report
from .policies import Context, Decision


@dataclass(frozen=True)
class Fleet:
    """What every epoch's scenario is built from: the network's units, the accuracy table's configurations,
    the devices (with their full batteries) and the scenario's settings (α, β, A_th, ...)."""

    units: Any  # a unit-cost table (``UnitTable``: units, input_bytes)
    configs: tuple
    devices: tuple
    scenario: dict = field(default_factory=dict)

    @classmethod
    def of(cls, setting) -> "Fleet":
        """From a section's setting (``experiments.sections.Setting``)."""
        return cls(setting.units, tuple(setting.configs), tuple(setting.devices), dict(setting.scenario))


class Clock:
    """Simulated time: it moves when the loop says. The planner takes its measured seconds (``planner``
    "measured") or a fixed number of seconds (the same run on any machine)."""

    def __init__(self, planner: str | float = "measured"):
        self.t, self.planner = 0.0, planner

    def wait_until(self, t: float) -> None:
        self.t = max(self.t, t)

    def now(self) -> float:
        return self.t

    def spent(self, seconds: float) -> None:
        self.t += seconds if self.planner == "measured" else float(self.planner)


class WallClock(Clock):
    """The wall clock, from the run's start."""

    def __init__(self, t0: float | None = None):
        super().__init__()
        self.t0 = time.time() if t0 is None else t0

    def wait_until(self, t: float) -> None:
        time.sleep(max(0.0, self.t0 + t - time.time()))

    def now(self) -> float:
        return time.time() - self.t0

    def spent(self, seconds: float) -> None:
        pass


@dataclass
class EpochRecord:
    """One epoch as the loop ran it."""

    epoch: Epoch
    scenario: Scenario  # as built (the paper's step)
    decision: Decision
    battery_before: list[float]
    planned_at: float  # seconds into the run when planning started
    planner_s: float
    submitted_at: float
    predicted_end: list[float | None]  # the planner's model of the queues (pipelined runs)
    backlog_s: float = 0.0  # the planner's model: the longest device backlog when planning started
    report: Report | None = None  # what the executor reported after it (runs that end each epoch first)
    observed: dict = field(default_factory=dict)  # the policy's numbers after the epoch (a controller's time)


@dataclass
class History:
    """A run of the loop: its epochs, every request's outcome, the batteries at the end."""

    epochs: list[EpochRecord] = field(default_factory=list)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    battery: list[float] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    interrupted: bool = False
    behind_s: float = 0.0  # the most an epoch's planning started after the epoch's end (the loop fell behind)


def run(fleet: Fleet, arrivals: Iterable[Epoch], policy, executor: Executor, *, pipelined: bool = False,
        clock: Clock | None = None, slo_s: float | None = None, mean_rate_mbps: float | None = None,
        images: Callable[[Epoch], tuple] | None = None, progress: bool = False, label: str = "",
        on_epoch: Callable[[History], None] | None = None, drain: bool = True) -> History:
    """Run the loop (see the module's docstring). ``pipelined``: epochs are submitted without waiting for
    earlier ones (else each is drained first); ``slo_s``: each request's deadline after its arrival;
    ``images(epoch)``: the epoch's images for a live executor; ``on_epoch(history)`` after each epoch
    (to save it). Ctrl-C ends the arrivals; what is in flight is drained (``History.interrupted``)."""
    clock = clock or Clock()
    n = len(fleet.devices)
    hist = History(battery=[d.energy_j for d in fleet.devices])
    backlog = Backlog(n)
    dead: frozenset = frozenset()
    cut: frozenset = frozenset()
    try:
        for epoch in bar(arrivals, desc=label or "loop", progress=progress, total=_length(arrivals), leave=False):
            clock.wait_until(epoch.end_s)
            if pipelined:
                dead, cut = _account(hist, executor.collect(clock.now()), dead, cut, backlog)
            planned_at = clock.now()
            hist.behind_s = max(hist.behind_s, planned_at - epoch.end_s)
            backlog_s = max(backlog.ready_s(planned_at), default=0.0)
            sc = _scenario(fleet, epoch, hist.battery, dead, cut)
            deadlines = [a.at_s + slo_s if slo_s is not None else math.inf for a in epoch.arrivals]
            ctx = Context(epoch, sc, planned_at, backlog, deadlines, dead, mean_rate_mbps)
            t0 = time.perf_counter()
            decision = policy.plan(ctx)
            planner_s = time.perf_counter() - t0
            clock.spent(planner_s)
            submitted_at = clock.now()
            rts = R.routes(decision.scenario, decision.plan)
            predicted: list[float | None] = backlog.commit(rts, submitted_at) if pipelined else [None] * len(rts)
            batch = Batch(epoch, decision.scenario, decision.plan, submitted_at, deadlines,
                          images(epoch) if images is not None else None)
            before = list(hist.battery)
            executor.submit(batch)
            rec = EpochRecord(epoch, sc, decision, before, planned_at, planner_s, submitted_at, predicted, backlog_s)
            if not pipelined:
                rec.report = executor.drain()
                dead, cut = _account(hist, rec.report, dead, cut, backlog)
                rec.observed = policy.observe(epoch.index, rec.report.energy, before) or {}
            hist.epochs.append(rec)
            if on_epoch is not None:
                on_epoch(hist)
    except KeyboardInterrupt:
        hist.interrupted = True
    except Exception:
        if not processes.interrupted():  # Ctrl-C that a library turned into another error is still Ctrl-C
            raise
        hist.interrupted = True
    if drain:
        _account(hist, executor.drain(), dead, cut, backlog)
    return hist


def _length(arrivals) -> int | None:
    try:
        return len(arrivals)
    except TypeError:
        return None


def _scenario(fleet: Fleet, epoch: Epoch, battery, dead, cut) -> Scenario:
    """The epoch's scenario as the paper builds it, with what the system knows has failed."""
    devs = [dataclasses.replace(d, energy_j=0.0 if i in dead else battery[i]) for i, d in enumerate(fleet.devices)]
    rates = R.without_links(epoch.rates, cut) if cut else epoch.rates
    return build(fleet.units.units, fleet.units.input_bytes, fleet.configs, devs, epoch.sources, rates, **fleet.scenario)


def _account(hist: History, report: Report, dead: frozenset, cut: frozenset, backlog: Backlog) -> tuple:
    """Debit the batteries with a report's energy (a failed device has none left), keep its outcomes."""
    hist.reports.append(report)
    dead = dead | report.dead
    for o in report.outcomes:
        hist.outcomes[o.id] = o
    energy = np.asarray(report.energy, dtype=float)
    hist.battery = [0.0 if i in dead else max(0.0, b - e) for i, (b, e) in enumerate(zip(hist.battery, energy))]
    if report.dead:
        backlog.forget(report.dead)
    return dead, cut | report.cut
