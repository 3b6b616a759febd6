"""The device actors and the model's weights: one Ray actor per device (restarted by Ray when it dies),
holding only the weights of the units placed on it, cut into state-dict slices in Ray's object store or
read from the weights file on each device (a board holds its model file).

``Cluster.execute(scenario, plan, images, ...)`` runs one step on them through the engine
(``engine``): every served request at once, until each has ended; its record is ``run.json``.
``Cluster.engine`` gives an engine to hand requests to over time (a load test).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .. import cluster
from ..problem.evaluate import evaluate
from ..problem.plan import Plan
from ..problem.scenario import Scenario
from . import routes as R
from .detector import DEVICE_ERRORS, wait_answering
from .engine import Engine
from .jobs import Job
from .options import ExecutionOptions


class Cluster:
    """The device actors and the model's weights (see the module's docstring)."""

    def __init__(self, model, n_devices: int, address: str | None = None, threads: int = 1,
                 weights_file: str | None = None, restarts: int = 100):
        from .device import DeviceActor, unit_modules
        self.ray = cluster.start(address)
        self.model = model
        self.actors: list = []  # one actor handle per device
        self.pids: list[int | None] = []  # each actor's process
        self._endpoints: list | None = None
        # a killed device's actor is restarted by Ray (a later step finds it back: ``run``), unless ``restarts`` is 0
        # (a load test, where a failed device stays failed: restarting it only takes the survivors' CPU)
        self._actor = self.ray.remote(num_cpus=0, max_restarts=restarts, max_concurrency=1000)(DeviceActor)
        self._threads = threads
        if weights_file is not None:  # every device reads its units from its own copy of the file
            self.slices: dict | str = str(weights_file)
        else:  # state-dict slices in Ray's object store, fetched by the devices that run them
            state = model.state_dict()
            prefixes = {p for u in model.units for whole in (True, False) for p in unit_modules(model, u.name, whole)}
            self.slices = {p: self.ray.put({k[len(p) + 1:]: v for k, v in state.items() if k.startswith(p + ".")})
                           for p in prefixes}
        self.grow(n_devices)

    def grow(self, n: int, skip=()) -> None:
        """At least ``n`` device actors, all answering but those in ``skip`` (known dead). On a cluster
        whose nodes declare a resource ``device<i>`` (``ray start --resources='{"device3": 1}'`` on
        board 3), actor i runs there."""
        m = self.model
        have = self.ray.cluster_resources()
        if len(self.actors) < n:
            self._endpoints = None
        while len(self.actors) < n:
            i = len(self.actors)
            pin = {"resources": {f"device{i}": 0.001}} if f"device{i}" in have else {}
            self.actors.append(self._actor.options(**pin).remote(i, m.arch, m.fc.out_features, m.stem, self._threads))
            self.pids.append(None)
        ask = [i for i in range(len(self.actors)) if i not in skip]
        for i, pid in zip(ask, self.ray.get([self.actors[i].ping.remote() for i in ask])):
            self.pids[i] = pid

    def endpoints(self) -> list[tuple[str, int]]:
        """Each device's node as (address, object manager port): where its activations are fetched from."""
        if self._endpoints is None or len(self._endpoints) < len(self.actors):
            nodes = {n["NodeID"]: n for n in self.ray.nodes() if n.get("Alive")}
            ids = self.ray.get([a.node.remote() for a in self.actors])
            self._endpoints = [(nodes[i]["NodeManagerAddress"], int(nodes[i]["ObjectManagerPort"])) for i in ids]
        return self._endpoints

    def wait_restarted(self, devices, timeout: float = 60.0) -> float:
        """Wait until the failed ``devices`` answer again (Ray restarted them); returns the seconds."""
        t0 = time.time()
        for d in devices:
            pid = wait_answering(self.ray, self.actors[d], 5.0, t0 + timeout)
            if pid is not None:
                self.pids[d] = pid
        return time.time() - t0

    def load(self, sc: Scenario, rts: Sequence[R.Route | None], skip=(), replace: bool = True) -> list[dict]:
        """Give every device but those in ``skip`` (known dead) the weights of its units in ``rts`` (only
        those, or with ``replace`` False as well as what it holds); resident vs modelled bytes."""
        units = R.units_by_device(sc, rts, sc.n_devices)
        ask = [i for i in range(sc.n_devices) if i not in skip and (replace or units[i])]
        refs = [self.actors[i].load.remote(units[i], self.slices, replace) for i in ask]
        held = []
        for ref in refs:  # a device that failed meanwhile loads nothing: the engine finds its failure
            try:
                held.append(self.ray.get(ref))
            except DEVICE_ERRORS:
                held.append(None)
        out = []
        for i, u, h in zip(ask, [units[i] for i in ask], held):
            if h is None:
                continue
            model = sum(sc.units[sc.unit_names.index(n)].cost(not whole).weight for n, whole in u.items())
            out.append({"device": i, "units": list(u), "weight_bytes": int(sum(h["weights"].values())),
                        "weight_bytes_model": float(model), "rss_bytes": h["rss_bytes"]})
        return out

    def images(self, sc: Scenario, images, options: ExecutionOptions, dead=(), wait: bool = True) -> list:
        """The images as references: with real links each starts on its source device (travels from there);
        ``wait``: until each is there (a step's timing then starts with the images in place; a pipelined load
        does not wait — a source failing meanwhile would hold everything up — the first hop waits instead)."""
        refs = [self.ray.put(x) for x in images]
        if options.links == "real":
            refs = [x if q.source in dead else self.actors[q.source].hold.remote(x) for q, x in zip(sc.requests, refs)]
            if refs and wait:
                self.ray.wait(refs, num_returns=len(refs), fetch_local=False)
            self.endpoints()
        return refs

    def engine(self, options: ExecutionOptions, n_devices: int, dead=(), cut=(), t0: float | None = None) -> Engine:
        """An engine over the first ``n_devices`` devices (those in ``dead`` known failed)."""
        self.grow(n_devices, skip=set(dead))
        return Engine(self, options, sorted(set(range(n_devices)) - set(dead)), cut, t0)

    def close(self) -> None:
        """Kill the device actors. On the way out (Ctrl-C, an error) an actor may be gone already or Ray's
        connection closing: that actor is left to Ray's own clean-up (and the test bed's ``down``), and the rest
        are still killed; nothing here may turn an interruption into an error."""
        for a in self.actors:
            try:
                self.ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001  (Ray's errors on a closing connection are not all RayError)
                pass
        self.actors, self.pids = [], []

    def execute(self, sc: Scenario, plan: Plan, images, labels: Sequence[int], image_ids: Sequence[int],
                failures: Sequence[tuple[int, float]] = (), options: ExecutionOptions | None = None,
                cut: Sequence[frozenset] = (), dead: Sequence[int] = (), events: Sequence = (),
                wait_restart: bool = True) -> dict:
        """Run one step: every served request at once until each has ended; returns the run's record
        (``run.json``). ``failures``: (device, seconds into the step) to kill; ``cut``: links known to be
        cut; ``dead``: devices known to be dead; ``events``: (seconds into the step, function) to call then
        (a link cut by the test bed); ``wait_restart``: wait for Ray to restart the failed devices (False:
        a caller for whom they stay dead)."""
        if len(images) != len(sc.requests):
            raise ValueError(f"images: {len(images)} given for {len(sc.requests)} requests")
        options = options or ExecutionOptions()
        refs = self.images(sc, images, options, dead)
        eng = self.engine(options, sc.n_devices, dead, cut)
        planned = R.routes(sc, plan)
        model = evaluate(sc, plan).requests
        devices = self.load(sc, planned, skip=set(dead))
        t0 = time.time() + 0.05
        eng.t0 = t0
        eng.submit([Job(r, sc, r, rt, refs[r], model[r], labels[r], image_ids[r], start_at=t0)
                    for r, rt in enumerate(planned) if rt is not None])
        for d, at in failures:
            eng.kill_at(d, t0 + at)
        for at, fire in events:
            eng.at(t0 + at, fire)
        served = sum(rt is not None for rt in planned)
        eng.run_until(lambda: eng.inbox.empty() and len(eng.ended) >= served and not eng._solved)
        for _, fire in eng.events:  # due after the step's last request ended: they happen now (the horizon goes on)
            fire()
        eng.events = []
        eng.stop()
        restart = self.wait_restarted([f["device"] for f in eng.failures]) if wait_restart else None
        for f in eng.failures:
            f["restarted_after_s"] = restart
        unplanned = {"status": "unserved", "reason": "unserved in the plan"}
        from .records import request_record
        requests = [eng.record(r) if r in eng.state else
                    request_record(sc, r, unplanned, model[r], None, labels[r], image_ids[r], t0)
                    for r in range(len(sc.requests))]
        return {"requests": requests, "failures": eng.failures, "links_failed": eng.link_failures, "devices": devices,
                "ended_twice": eng.twice, "t0": t0, "heartbeat": eng.detector.tail(), "options": options.record()}
