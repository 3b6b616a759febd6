"""The simulated executor: a discrete-event model of the devices' queues, with SimPy (no torch, no Ray).

Each device is a FIFO server (``simpy.Resource`` of capacity 1: one segment at a time, as the actor's
compute lock), each directed link a FIFO of transfers; a request is a process that, segment by segment,
queues for the link into the segment's device and sends its input (Eqs 10-11), then queues for the
device and computes (Eq 9) — the model's times, the runtime's queues. Link rates change when an epoch
is submitted (as the test bed's shaped links are set then): a transfer in progress goes on at the new
rate, as on the test bed. Requests of later epochs join
the queues while earlier ones are still in them. A device killed (``fail``) stops: a request that needs
it resumes from the last activation a surviving device holds, re-planned on the survivors by the
project's solver (``routes.replan``, its time spent as simulated time), or ends unserved when its
activation is lost. Energy is Eq 19 on the simulated times. A re-plan takes its measured time, or a
fixed one (``replan_time``): then the same submissions give the same outcomes on any machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import simpy

from .. import solvers
from ..problem.scenario import Scenario
from ..runtime import routes as R
from .execute import Batch, Outcome, Report


class _Lost(Exception):
    """The device a request was on (or waiting for) failed."""


class Queues:
    """The simulated executor (see the module's docstring)."""

    def __init__(self, n_devices: int, method: str = "colgen_round", time_limit: float = 5.0,
                 replan_time: str | float = "measured"):
        self.env = simpy.Environment()
        self.n = n_devices
        self.devices = [simpy.Resource(self.env, capacity=1) for _ in range(n_devices)]
        self.links: dict[tuple[int, int], simpy.Resource] = {}
        self.dead: set[int] = set()
        self.method, self.time_limit, self.replan_time = method, time_limit, replan_time
        self._done: list[Outcome] = []
        self._energy = np.zeros(n_devices)
        self._open = 0
        self._holding: dict[int, set] = {i: set() for i in range(n_devices)}  # device -> processes using it
        self._events: list[dict] = []
        self._rates: list[tuple[float, Any]] = []  # (from when, the link rates): each epoch's
        self._changed = self.env.event()  # fires when the links' rates change

    # ------------------------------------------------------------------ the executor's interface
    def submit(self, batch: Batch) -> None:
        self.env.process(self._new_rates(batch.submit_at, batch.epoch.rates))
        for r, rt in enumerate(batch.routes()):
            if rt is None:
                self._done.append(Outcome(batch.ids[r], "unserved", "unserved in the plan", None))
                continue
            self._open += 1
            self.env.process(self._request(batch, r, rt))

    def fail(self, device: int, at: float) -> None:
        """Device ``device`` stops at ``at`` (seconds into the run)."""
        self.env.process(self._kill(device, at))

    def collect(self, until: float) -> Report:
        if until > self.env.now:
            self.env.run(until=until)
        return self._report()

    def drain(self) -> Report:
        self.env.run()
        return self._report()

    def close(self) -> None:
        pass

    def events(self) -> list[dict]:
        """The devices that failed (the simulation sees a failure at once)."""
        return list(self._events)

    def _report(self) -> Report:
        done, self._done = self._done, []
        energy, self._energy = self._energy, np.zeros(self.n)
        return Report(done, energy, dead=frozenset(self.dead))

    # ------------------------------------------------------------------ processes
    def _kill(self, device: int, at: float):
        yield self.env.timeout(max(0.0, at - self.env.now))
        self.dead.add(device)
        self._events.append({"kind": "device", "device": device, "at_s": at, "detected_s": self.env.now})
        for proc in list(self._holding[device]):
            if proc.is_alive:
                proc.interrupt(device)

    def _link(self, a: int, b: int) -> simpy.Resource:
        return self.links.setdefault((a, b), simpy.Resource(self.env, capacity=1))

    def _request(self, batch: Batch, r: int, rt: R.Route):
        """One request: its segments through the links' and devices' queues (see the module's docstring)."""
        sc, me = batch.scenario, self.env.active_process
        start = max(batch.submit_at, self.env.now)
        if start > self.env.now:
            yield self.env.timeout(start - self.env.now)
        history, replanned = [(0, rt.source)], False  # the activations so far: (unit, device holding it)
        route, seg, links = rt, 0, []
        while seg < len(route.segments):
            s = route.segments[seg]
            if s.device in self.dead or history[-1][1] in self.dead:
                nxt = yield from self._replan(batch, r, rt, history)
                if nxt is None:
                    return
                route, seg, replanned = nxt, 0, True
                continue
            try:
                yield from self._segment(sc, s, me)
            except _Lost:
                continue  # the check above sends it to a re-plan
            history.append((s.stop, s.device))
            if s.src != s.device:
                links.append((s.src, s.device))
            seg += 1
        self._end(Outcome(batch.ids[r], "answered", None, self.env.now, list(dict.fromkeys(h for _, h in history[1:])),
                          sorted(route.dropped), replanned, links=links))

    def _segment(self, sc: Scenario, s: R.Segment, me):
        for dev in {s.src, s.device}:
            self._holding[dev].add(me)
        try:
            if s.in_bytes:
                with self._link(s.src, s.device).request() as req:
                    yield req
                    t0 = self.env.now
                    yield from self._send(sc, s)
                    self._energy[s.src] += sc.kernel.energy(0.0, self.env.now - t0, s.src)
            with self.devices[s.device].request() as req:
                yield req
                yield self.env.timeout(s.compute_s)
                self._energy[s.device] += sc.kernel.energy(s.compute_s, 0.0, s.device)
        except simpy.Interrupt as why:
            raise _Lost(why.cause) from None
        finally:
            for dev in {s.src, s.device}:
                self._holding[dev].discard(me)

    def _send(self, sc: Scenario, s: R.Segment):
        """A transfer's bytes over its link at the rate of the moment — a new epoch's rates apply to it from
        then on (Eqs 10-11 piece by piece) — plus the scenario's fixed time per transfer."""
        if sc.link_overhead_s:
            yield self.env.timeout(sc.link_overhead_s)
        bits = float(sc.kernel.in_bytes[s.start]) * 8
        while True:
            rate = self._rate_now(s.src, s.device, sc) * 1e6
            t0, done = self.env.now, self.env.timeout(bits / rate)
            yield done | self._changed
            if done.triggered:  # all sent (at worst together with a change of rates)
                return
            bits = max(0.0, bits - rate * (self.env.now - t0))

    def _new_rates(self, at: float, rates):
        """From ``at`` on, the links run at ``rates`` (transfers in progress are told)."""
        yield self.env.timeout(max(0.0, at - self.env.now))
        self._rates.append((self.env.now, rates))
        changed, self._changed = self._changed, self.env.event()
        changed.succeed()

    def _rate_now(self, a: int, b: int, sc: Scenario) -> float:
        """The link's rate now (the last epoch's submitted so far; before any, the scenario's own)."""
        rates = self._rates[-1][1] if self._rates else sc.rate_mbps
        v = rates[a][b]
        return v if v > 0 else float(sc.kernel.rate[a, b])

    def _replan(self, batch: Batch, r: int, rt: R.Route, history: list):
        sc = batch.scenario
        while history and history[-1][1] in self.dead:  # activations lost with their device
            history.pop()
        if not history:
            self._end(Outcome(batch.ids[r], "unserved", f"its source, device {rt.source}, failed", self.env.now))
            return None
        unit, holder = history[-1]
        alive = [i for i in range(sc.n_devices) if i not in self.dead]
        accuracy = sc.configs[rt.config].accuracy if rt.config is not None else sc.configs[0].accuracy
        q = R.Resume(r, unit, holder, frozenset(rt.dropped & set(sc.unit_names[:unit])), accuracy)
        t0 = time.perf_counter()
        try:
            new, _ = R.replan(sc, [q], alive, R.usage(sc), self.method, solvers.Options(time_limit=self.time_limit))
        except ValueError:
            new = {r: None}
        spent = time.perf_counter() - t0 if self.replan_time == "measured" else float(self.replan_time)
        yield self.env.timeout(spent)
        if new.get(r) is None:
            self._end(Outcome(batch.ids[r], "unserved", f"device(s) {sorted(self.dead)} failed; the re-plan found no "
                              "feasible continuation", self.env.now, replanned=True))
            return None
        return new[r]

    def _end(self, outcome: Outcome) -> None:
        self._done.append(outcome)
        self._open -= 1
