"""Executors: what carries out an epoch's plan — the paper's model, a discrete-event simulation of the
queues (``simulated``), or the device actors on Ray (``on_ray``) — behind one interface (no torch).

``submit(batch)`` hands an epoch's plan over at ``batch.submit_at`` (seconds into the run);
``collect(until)`` advances to ``until`` (a simulated clock, or the wall clock) and reports what ended
meanwhile and what it spent; ``drain()`` waits for everything in flight. ``Modelled`` is the paper's
simulator: nothing queues, every served request ends its modelled latency (Eqs 7-11) after submission,
and the step spends the evaluator's energy (Eq 19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..problem.evaluate import Evaluation, evaluate
from ..problem.plan import Plan
from ..problem.scenario import Scenario
from ..runtime import routes as R
from .arrivals import Epoch


@dataclass
class Batch:
    """An epoch's plan handed to an executor."""

    epoch: Epoch
    scenario: Scenario  # the plan's scenario (its routes are executed)
    plan: Plan
    submit_at: float  # seconds into the run
    deadlines: list[float] = field(default_factory=list)  # per request, seconds into the run (inf: none)
    images: tuple | None = None  # (images, labels, test-set indices), one per request: a live executor's

    @property
    def ids(self) -> list[int]:
        return [a.id for a in self.epoch.arrivals]

    def routes(self) -> list[R.Route | None]:
        return R.routes(self.scenario, self.plan)


@dataclass
class Outcome:
    """How one request ended."""

    id: int
    status: str  # answered, unserved, failed
    reason: str | None
    ended_at: float | None  # seconds into the run
    devices: list[int] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    replanned: bool = False
    record: dict | None = None  # a live executor's record of it (hops, prediction, label)
    links: list = field(default_factory=list)  # the links it crossed, (sender, receiver), in order


@dataclass
class Report:
    """What ended since the last report and what it spent (J per device); the devices and links known failed."""

    outcomes: list[Outcome]
    energy: np.ndarray
    dead: frozenset = frozenset()
    cut: frozenset = frozenset()
    extra: dict = field(default_factory=dict)  # an executor's own numbers (the paper's evaluation; a step's run)


class Executor(Protocol):
    def submit(self, batch: Batch) -> None: ...

    def collect(self, until: float) -> Report: ...

    def drain(self) -> Report: ...

    def close(self) -> None: ...


def crossed(rt: R.Route) -> list[tuple[int, int]]:
    """The links a route sends over, in order."""
    return [(s.src, s.device) for s in rt.segments if s.src != s.device]


def answered(batch: Batch, r: int, at: float, rt: R.Route, **extra) -> Outcome:
    return Outcome(batch.ids[r], "answered", None, at, rt.devices, sorted(rt.dropped), links=crossed(rt), **extra)


class Modelled:
    """The paper's simulator (see the module's docstring)."""

    def __init__(self, n_devices: int):
        self.n = n_devices
        self._reports: list[Report] = []

    def submit(self, batch: Batch) -> None:
        ev = evaluate(batch.scenario, batch.plan)
        outcomes = []
        for r, (rt, row) in enumerate(zip(batch.routes(), ev.requests)):
            if rt is None:
                outcomes.append(Outcome(batch.ids[r], "unserved", "unserved in the plan", None))
            else:
                outcomes.append(answered(batch, r, batch.submit_at + row["latency_s"], rt))
        self._reports.append(Report(outcomes, np.array([d["energy_j"] for d in ev.devices]),
                                    extra={"evaluation": ev}))

    def collect(self, until: float) -> Report:
        return self.drain()

    def drain(self) -> Report:
        reports, self._reports = self._reports, []
        if len(reports) == 1:
            return reports[0]
        return Report([o for rep in reports for o in rep.outcomes], sum((rep.energy for rep in reports), np.zeros(self.n)))

    def close(self) -> None:
        pass


def evaluation(report: Report) -> Evaluation | None:
    """The paper's evaluation of the step a ``Modelled`` report is of."""
    return report.extra.get("evaluation")
