"""The executors on the device actors (Ray): one step at a time (``Steps``: ``serve``), or epochs handed
over while earlier ones run (``Pipeline``: a load test), both through the runtime's engine.

On the network test bed (``network``: the ``testbed`` module) each epoch's link rates are set on the
shaped links and a cut (``cut_at``) is a blackhole route; on one host the links are paced to the model.
A request's energy is Eq 19 on its measured times: each segment's computing on its device, each
transfer's time on its sender.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from ..problem.evaluate import evaluate
from ..problem.scenario import Scenario
from ..runtime import routes as R
from ..runtime.cluster import Cluster
from ..runtime.jobs import Job
from ..runtime.options import ExecutionOptions
from ..runtime.records import unserved_run
from .execute import Batch, Outcome, Report


def measured_energy(sc: Scenario, records) -> np.ndarray:
    """Eq 19 per device on the measured times of requests' ``records`` (``run.json``'s): each segment's
    compute on its device, each transfer's time on its sender."""
    compute, transmit = np.zeros(sc.n_devices), np.zeros(sc.n_devices)
    for q in records:
        for h in q["hops"]:
            compute[h["device"]] += h["compute_s"]
            if h["src"] != h["device"]:
                transmit[h["src"]] += h["transfer_s"]
    return np.asarray(sc.kernel.energy(compute, transmit), dtype=float)


def _outcome(id_: int, rec: dict, t0_run: float) -> Outcome:
    ended = rec.get("ended_at")
    return Outcome(id_, rec["status"], rec["reason"], ended + t0_run if ended is not None else None,
                   list(rec["devices"]), list(rec["dropped"]), bool(rec["replanned"]), rec,
                   links=[(h["src"], h["device"]) for h in rec["hops"] if h["src"] != h["device"]])


class Pipeline:
    """A load test's executor on the device actors (see the module's docstring). Times in the engine's
    records are seconds from ``t0`` (time.time() at the run's start)."""

    def __init__(self, cl: Cluster, options: ExecutionOptions, n_devices: int, t0: float, network=None,
                 deadline_s: float | None = None):
        self.cl, self.network, self.n = cl, network, n_devices
        self.options = dataclasses.replace(options, accumulate=True)
        self.engine = cl.engine(self.options, n_devices, t0=t0)
        self.t0, self.deadline_s = t0, deadline_s
        self._scenarios: dict[int, Scenario] = {}
        self.engine.start()

    def fail(self, device: int, at: float) -> None:
        self.engine.kill_at(device, self.t0 + at)

    def cut_at(self, a: int, b: int, at: float) -> None:
        net = self.network
        self.engine.at(self.t0 + at, lambda: net.cut(a, b))

    def submit(self, batch: Batch) -> None:
        sc, rts = batch.scenario, batch.routes()
        if self.network is not None:
            self.network.set_rates(batch.epoch.rates)
        served = [r for r, rt in enumerate(rts) if rt is not None]
        if not served:
            return
        dead = set(self.engine.known_dead)
        self.cl.load(sc, rts, skip=dead, replace=False)
        assert batch.images is not None, "a live executor needs the requests' images"
        x, labels, ids = batch.images
        refs = self.cl.images(sc, x, self.options, dead, wait=False)
        model = evaluate(sc, batch.plan).requests
        start = self.t0 + batch.submit_at
        jobs = []
        for r in served:
            self._scenarios[batch.ids[r]] = sc
            rt = rts[r]
            assert rt is not None
            jobs.append(Job(batch.ids[r], sc, r, rt, refs[r], model[r], labels[r], ids[r], start_at=start,
                            deadline_s=self.deadline_s))
        self.engine.submit(jobs)

    def collect(self, until: float) -> Report:
        time.sleep(max(0.0, self.t0 + until - time.time()))
        return self._report()

    def drain(self, timeout: float = 600.0) -> Report:
        end = time.time() + timeout
        while self.engine.open() > 0 and time.time() < end:
            time.sleep(0.05)
        return self._report()

    def _report(self) -> Report:
        outcomes, energy = [], np.zeros(self.n)
        while not self.engine.finished.empty():
            key, rec = self.engine.finished.get()
            outcomes.append(_outcome(key, rec, 0.0))
            energy += measured_energy(self._scenarios.pop(key), [rec])
        return Report(outcomes, energy, dead=self.engine.known_dead, cut=self.engine.known_cut)

    def events(self) -> list[dict]:
        """The failures the engine found: devices (killed at, detected, re-planned) and links found cut."""
        return [{"kind": "device", **f} for f in self.engine.failures] + \
               [{"kind": "link", **f} for f in self.engine.link_failures]

    def close(self) -> None:
        self.engine.stop()


class Steps:
    """``serve``'s executor: each step's plan executed at once on the actors, the step ended before the next
    (``Cluster.execute``), with its failures and cuts; a killed device stays dead, a cut link stays cut."""

    def __init__(self, cluster_factory, options: ExecutionOptions, n_devices: int, network=None,
                 failures=(), cuts=()):
        self.factory = cluster_factory
        self.cl: Any = None  # the cluster, made at the first step that serves
        self.options, self.n, self.network = options, n_devices, network
        self.failures, self.cuts = list(failures), list(cuts)
        self.dead: set[int] = set()
        self.cut: set[frozenset] = set()
        self.events: list[dict] = []
        self._report: Report | None = None

    def submit(self, batch: Batch) -> None:
        sc, plan, t = batch.scenario, batch.plan, batch.epoch.index
        if self.network is not None:
            self.network.set_rates(batch.epoch.rates)
        assert batch.images is not None, "a live executor needs the requests' images"
        x, labels, idx = batch.images
        fails = [(f.device, f.at_s) for f in self.failures if f.step == t and f.device not in self.dead]
        events = [(c.at_s, self._cutter(c, t)) for c in self.cuts if c.step == t]
        t0 = time.time()
        if plan.n_served or fails:
            if self.cl is None:
                self.cl = self.factory()
            run = self.cl.execute(sc, plan, x, labels, idx, fails, self.options, cut=self.cut, dead=self.dead,
                                  events=events, wait_restart=False)
        else:
            run = unserved_run(sc, plan, labels, idx, self.options)
            for _, fire in events:
                fire()
        run["wall_s"] = time.time() - t0
        self.dead |= {f["device"] for f in run["failures"]}
        self.cut |= {R.link(*f["link"]) for f in run.get("links_failed", [])}
        self.events += [{"step": t, "kind": "device", **f} for f in run["failures"]] + \
                       [{"step": t, "kind": "link", **f} for f in run.get("links_failed", [])]
        outcomes = [Outcome(batch.ids[r], q["status"], q["reason"], None, list(q["devices"]), list(q["dropped"]),
                            bool(q["replanned"]), q) for r, q in enumerate(run["requests"])]
        self._report = Report(outcomes, measured_energy(sc, run["requests"]), dead=frozenset(self.dead),
                              cut=frozenset(self.cut), extra={"run": run})

    def _cutter(self, c, t: int):
        def fire():
            self.network.cut(c.a, c.b)
            self.events.append({"step": t, "kind": "cut", "link": [c.a, c.b], "at_s": c.at_s})
        return fire

    def collect(self, until: float) -> Report:
        return self.drain()

    def drain(self) -> Report:
        rep, self._report = self._report, None
        return rep if rep is not None else Report([], np.zeros(self.n), frozenset(self.dead), frozenset(self.cut))

    def close(self) -> None:
        if self.cl is not None:
            self.cl.close()
