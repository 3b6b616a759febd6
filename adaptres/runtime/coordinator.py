"""The coordinator: executes a plan on the device actors, detects failures, re-plans, resumes.

``Cluster`` owns the actors (one per device, restarted by Ray when they die) and the model's weights,
cut into state-dict slices in Ray's object store. ``Cluster.execute(scenario, plan, images, ...)``
runs one step: every served request hop by hop along its route (``routes``), activations passed as
object references from device to device. Devices are watched by a failure detector (``detector``: a
heartbeat and Ray's actor errors). Then every unfinished request that still needs a failed device
resumes from the last activation a surviving device holds, re-planned on the survivors by the
project's solver (``routes.replan``), or ends unserved with the reason. A segment that raises any
other error (a bug, non-finite numbers) fails its request with the error named: it is not taken for
a device failure. Every request ends exactly once — answered, unserved or failed; the step's record
is ``run.json`` (README).
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import ray.exceptions as rex
from ray.exceptions import RayTaskError

from .. import cluster, solvers
from ..problem.evaluate import evaluate
from ..problem.kernel import Usage
from ..problem.plan import Plan
from ..problem.scenario import Scenario
from . import routes as R
from .detector import DEVICE_ERRORS, HeartbeatDetector, wait_answering

LINKS = ("emulated", "real")
PROBE_AFTER_S = 0.2  # a transfer in flight this long has its link probed (a cut link fails the probe at once)
PROBE_EVERY_S = 0.25
_STEPS = itertools.count()  # tags segments uniquely across the steps of a process


@dataclass(frozen=True)
class ExecutionOptions:
    """How a step is executed: links and compute emulated (paced to the scenario) or real; the solver
    that re-plans; the heartbeat; ``exclusive``: one request at a time (no queueing between them)."""

    links: str = "emulated"
    compute: str = "emulated"
    method: str = "colgen_round"
    time_limit: float = 5.0
    heartbeat_s: float = 0.05
    heartbeat_timeout_s: float = 1.0  # pings to live actors took up to 0.52 s under a loaded 2-core machine (detector)
    exclusive: bool = False
    deadline_s: float | None = None  # default: 3 × the slowest modelled request + 30 s

    def __post_init__(self):
        for name in ("links", "compute"):
            if getattr(self, name) not in LINKS:
                raise ValueError(f"{name}: must be 'emulated' or 'real', got {getattr(self, name)!r}")
        solvers.get(self.method)
        for name in ("heartbeat_s", "heartbeat_timeout_s", "time_limit"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 < v < 1e4:
                raise ValueError(f"{name}: must be a positive number of seconds, got {v!r}")


@dataclass(frozen=True)
class InFlight:
    """A segment submitted to a device and not yet back."""

    hop: int  # the request's hop number (a result of an older hop is stale)
    device: int
    activation: object  # the reference to the segment's output
    record: object  # the reference to its record of times
    submitted: float  # time.time() at submission
    src: int  # the device its input comes from
    tag: str  # unique over steps: the device remembers the tags of inputs that arrived


class Fate(enum.Enum):
    """What a device failure means for an unfinished request (``_Step._resume``)."""

    GOES_ON = "goes on as planned"  # it needs no failed device
    ENDED = "ended"  # its activation was lost: it ended unserved
    RESUMES = "resumes"  # re-planned from the activation a survivor holds


@dataclass
class _Request:
    """A request's progress: its route, the next segment, the activations so far (unit, holder, ref)."""

    route: R.Route
    history: list
    seg: int = 0
    hop: int = 0  # the current hop's number
    inflight: InFlight | None = None
    next_route: R.Route | None = None  # a re-plan waiting for the in-flight segment
    done: list = field(default_factory=list)  # executed segments with their drops
    records: list = field(default_factory=list)
    lost: list = field(default_factory=list)  # segments lost with their device: (device, submitted, failed)
    started: float | None = None
    replanned: bool = False
    devices: list = field(default_factory=list)

    def ahead(self) -> list[tuple[tuple, frozenset]]:
        """The segments still to run (the in-flight one first), each group with the drops it runs with."""
        out = [(self.route.segments[self.seg:], self.route.dropped)]
        if self.next_route is not None:
            out.append((self.next_route.segments, self.next_route.dropped))
        return out


def _error(exc: RayTaskError) -> str:
    """A segment's error in one line: the exception the device raised and its message."""
    cause = getattr(exc, "cause", None) or exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return f"{type(cause).__name__}: {text}"[:300]


def parse_failures(specs: Sequence[str], n_devices: int) -> list[tuple[int, float]]:
    """``["3@0.4", ...]`` -> [(3, 0.4), ...] (device index, seconds into the step)."""
    out = []
    for spec in specs:
        dev, sep, at = str(spec).partition("@")
        try:
            d, t = int(dev), float(at)
        except ValueError:
            d, t = -1, -1.0
        if not sep or not 0 <= d < n_devices or not 0 <= t < 1e4:
            raise ValueError(f"--fail: expected DEVICE@SECONDS with a device in 0..{n_devices - 1}, got {spec!r}")
        out.append((d, t))
    if len({d for d, _ in out}) != len(out):
        raise ValueError("--fail: a device is failed twice in one step")
    return out


class Cluster:
    """The device actors and the model's weights (see the module's docstring)."""

    def __init__(self, model, n_devices: int, address: str | None = None, threads: int = 1,
                 weights_file: str | None = None):
        from .device import DeviceActor, unit_modules
        self.ray = cluster.start(address)
        self.model, self.actors, self.pids = model, [], []
        self._endpoints: list | None = None
        self._actor = self.ray.remote(num_cpus=0, max_restarts=100, max_concurrency=1000)(DeviceActor)
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

    def load(self, sc: Scenario, rts: Sequence[R.Route | None], skip=()) -> list[dict]:
        """Give every device but those in ``skip`` (known dead) the weights of its units in this step's
        routes; resident vs modelled bytes."""
        units = R.units_by_device(sc, rts, sc.n_devices)
        ask = [i for i in range(sc.n_devices) if i not in skip]
        held = self.ray.get([self.actors[i].load.remote(units[i], self.slices) for i in ask])
        out = []
        for i, u, h in zip(ask, [units[i] for i in ask], held):
            model = sum(sc.units[sc.unit_names.index(n)].cost(not whole).weight for n, whole in u.items())
            out.append({"device": i, "units": list(u), "weight_bytes": int(sum(h["weights"].values())),
                        "weight_bytes_model": float(model), "rss_bytes": h["rss_bytes"]})
        return out

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a, no_restart=True)
        self.actors, self.pids = [], []

    def execute(self, sc: Scenario, plan: Plan, images, labels: Sequence[int], image_ids: Sequence[int],
                failures: Sequence[tuple[int, float]] = (), options: ExecutionOptions = ExecutionOptions(),
                cut: Sequence[frozenset] = (), dead: Sequence[int] = (), events: Sequence = (),
                wait_restart: bool = True) -> dict:
        """Run one step (see the module's docstring); returns the run's record (``run.json``). ``cut``:
        links known to be cut (re-plans avoid them); ``dead``: devices known to be dead; ``events``:
        (seconds into the step, function) to call then (a link cut by the test bed); ``wait_restart``: wait
        for Ray to restart the failed devices (False: a caller for whom they stay dead)."""
        if len(images) != len(sc.requests):
            raise ValueError(f"images: {len(images)} given for {len(sc.requests)} requests")
        self.grow(sc.n_devices, skip=set(dead))
        refs = [self.ray.put(x) for x in images]
        if options.links == "real":  # each image starts on its source device and travels from there
            refs = [x if q.source in dead else self.actors[q.source].hold.remote(x) for q, x in zip(sc.requests, refs)]
            if refs:
                self.ray.wait(refs, num_returns=len(refs), fetch_local=False)
            self.endpoints()
        step = _Step(self, sc, plan, refs, options, set(cut), set(range(sc.n_devices)) - set(dead))
        devices = self.load(sc, step.planned, skip=set(dead))
        step.run(failures, events)
        restart = self.wait_restarted([f["device"] for f in step.failures]) if wait_restart else None
        for f in step.failures:
            f["restarted_after_s"] = restart
        return {"requests": [step.result(r, labels[r], image_ids[r]) for r in range(len(sc.requests))],
                "failures": step.failures, "links_failed": step.link_failures, "devices": devices,
                "ended_twice": step.twice, "t0": step.t0,
                "heartbeat": step.detector.tail(), "options": options_record(options)}


class _Step:
    """One step's execution (``Cluster.execute``)."""

    def __init__(self, cl: Cluster, sc: Scenario, plan: Plan, image_refs: list, options: ExecutionOptions,
                 cut: set | None = None, alive: set | None = None):
        self.cl, self.ray, self.sc, self.opt = cl, cl.ray, sc, options
        self.cut = cut or set()  # links known to be cut
        self.tag = f"{time.time():.6f}-{next(_STEPS)}"
        self.probes: dict = {}  # probe ref -> (src, dst, when sent, when the transfer it probes for began)
        self.probed: dict = {}  # link (src, dst) -> when last probed
        self.link_failures: list[dict] = []
        self.planned = R.routes(sc, plan)
        self.model = evaluate(sc, plan).requests
        self.state = {r: _Request(rt, [(0, rt.source, image_refs[r])]) for r, rt in enumerate(self.planned) if rt}
        self.ended: dict[int, dict] = {}
        self.detector = HeartbeatDetector(cl.ray, cl.actors, cl.pids, options.heartbeat_s, options.heartbeat_timeout_s,
                                          alive=set(range(sc.n_devices)) if alive is None else set(alive))
        self.failures: list[dict] = []
        self.twice: list[int] = []  # requests ended a second time (must stay empty)
        self.pending: dict = {}  # record ref -> (request, hop)
        slowest = max((rt.latency_s for rt in self.planned if rt), default=0.0)
        self.deadline_s = options.deadline_s or 3 * slowest * (len(self.state) if options.exclusive else 1) + 30.0
        for r, rt in enumerate(self.planned):
            if rt is None:
                self.ended[r] = {"status": "unserved", "reason": "unserved in the plan"}

    @property
    def alive(self) -> set:
        """The devices not (yet) found failed: the failure detector's."""
        return self.detector.alive

    # ------------------------------------------------------------------ the loop
    def run(self, failures: Sequence[tuple[int, float]], events: Sequence = ()) -> None:
        self.t0 = time.time() + 0.05
        self.scheduled = dict(failures)
        for d, at in failures:
            self.cl.actors[d].crash_at.remote(self.t0 + at)
        todo = sorted(events, key=lambda e: e[0])
        waiting = sorted(self.state)
        time.sleep(max(0.0, self.t0 - time.time()))
        while len(self.ended) < len(self.sc.requests):
            while todo and time.time() - self.t0 >= todo[0][0]:
                todo.pop(0)[1]()
            while waiting and (not self.opt.exclusive or not self._active()):
                self._start(waiting.pop(0))
            now = time.time()
            if now - self.t0 > self.deadline_s:
                for r in self.state:
                    if r not in self.ended:
                        self._end(r, "unserved", f"not finished within the step's deadline ({self.deadline_s:.0f} s)")
                break
            self.detector.poll(now)
            if self.opt.links == "real":
                self._probe(now)
            refs = list(self.pending) + self.detector.refs() + list(self.probes)
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=self.opt.heartbeat_s, fetch_local=False) \
                if refs else ([], [])
            if ready:
                ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
            failed = self._collect(ready) | self.detector.collect(set(ready), time.time())
            cut = self._probed(ready)
            if failed & self.alive or cut:
                self._failed(failed & self.alive, cut)
        for _, fire in todo:  # events due after the step's last request ended happen now (the horizon goes on)
            fire()

    # ------------------------------------------------------------------ links
    def _probe(self, now: float) -> None:
        """Probe the links of transfers in flight longer than ``PROBE_AFTER_S`` (from their source device)."""
        busy = {p[:2] for p in self.probes.values()}
        for st in self.state.values():
            f = st.inflight
            if f is None or f.src == f.device or now - f.submitted < PROBE_AFTER_S or R.link(f.src, f.device) in self.cut:
                continue
            key = (f.src, f.device)
            if key in busy or now - self.probed.get(key, 0.0) < PROBE_EVERY_S or not {f.src, f.device} <= self.alive:
                continue
            host, port = self.cl.endpoints()[f.device]
            self.probes[self.cl.actors[f.src].reach.remote(host, port)] = (f.src, f.device, now, f.submitted)
            self.probed[key] = now
            busy.add(key)

    def _probed(self, ready) -> set:
        """The links found cut among the answered probes (a probe lost with its device says nothing)."""
        out = set()
        for ref in ready:
            if ref not in self.probes:
                continue
            a, b, sent, stuck = self.probes.pop(ref)
            try:
                ok = self.ray.get(ref)
            except DEVICE_ERRORS:
                continue
            if ok is False and R.link(a, b) not in self.cut:
                out.add(R.link(a, b))
                self.link_failures.append({"link": sorted((a, b)), "stuck_since_s": stuck - self.t0,
                                           "probe_sent_s": sent - self.t0,
                                           "detected_s": time.time() - self.t0})
        return out

    def _blocked(self, seg: R.Segment) -> bool:
        """Does segment ``seg`` need a failed device or a cut link?"""
        return seg.device not in self.alive or R.cut_between(seg.src, seg.device, self.cut)

    def _arrived(self, r: int) -> bool:
        """Has request r's in-flight input crossed its link already (asked of the receiving device)?"""
        f = self.state[r].inflight
        try:
            return bool(self.ray.get(self.cl.actors[f.device].has_arrived.remote(f.tag), timeout=1.0))
        except (*DEVICE_ERRORS, rex.GetTimeoutError):
            return False

    def _active(self) -> bool:
        return any(r not in self.ended and s.started is not None for r, s in self.state.items())

    def _start(self, r: int) -> None:
        self.state[r].started = time.time()
        self._submit(r)

    def _collect(self, ready) -> set:
        """Handle the finished segments among ``ready``; returns the devices found failed. A segment's
        error that is not a device failure fails its request with the error named."""
        failed = set()
        for ref in ready:
            if ref not in self.pending:
                continue
            r, hop = self.pending.pop(ref)
            st = self.state[r]
            current = st.inflight is not None and st.inflight.hop == hop
            try:
                rec = self.ray.get(ref)
            except DEVICE_ERRORS:
                if current:
                    failed.add(st.inflight.device)
                continue
            except RayTaskError as exc:  # the segment raised on a live device: the request fails, the device lives
                if current and r not in self.ended:
                    self._end(r, "failed", f"device {st.inflight.device}: {_error(exc)}")
                continue
            if r not in self.ended and current:
                self._advance(r, rec)
        return failed

    # ------------------------------------------------------------------ hops
    def _submit(self, r: int) -> None:
        st = self.state[r]
        seg = st.route.segments[st.seg]
        _, holder, x = st.history[-1]
        assert holder == seg.src, (r, holder, seg)
        job = {"request": r, "start": seg.start, "stop": seg.stop, "dropped": sorted(st.route.dropped),
               "src": seg.src, "transfer_s": seg.transfer_s, "compute_s": seg.compute_s,
               "emulate_links": self.opt.links == "emulated", "emulate_compute": self.opt.compute == "emulated",
               "tag": f"{self.tag}/{r}/{st.hop + 1}", "in_bytes": seg.in_bytes,
               "rate_mbps": self.sc.rate_mbps[seg.src][seg.device] if seg.src != seg.device else None}
        st.hop += 1
        out, rec = self.cl.actors[seg.device].hop.options(num_returns=2).remote(x, job)
        st.inflight = InFlight(st.hop, seg.device, out, rec, time.time(), seg.src, job["tag"])
        self.pending[rec] = (r, st.hop)

    def _advance(self, r: int, rec: dict) -> None:
        st = self.state[r]
        dev, out = st.inflight.device, st.inflight.activation
        seg = st.route.segments[st.seg]
        st.inflight = None
        st.records.append(rec)
        st.done.append((seg, st.route.dropped))
        st.devices.append(dev)
        st.history.append((seg.stop, dev, out))
        st.seg += 1
        if st.next_route is not None:
            st.route, st.seg, st.next_route = st.next_route, 0, None
        if st.seg < len(st.route.segments):
            self._submit(r)
            return
        logits = self.ray.get(out)
        logits = (self.ray.get(logits) if isinstance(logits, self.ray.ObjectRef) else logits)[0]
        self._end(r, "answered", None, prediction=int(logits.argmax()), logits=[float(v) for v in logits],
                  latency_s=rec["end"] - max(st.started, self.t0))

    def _end(self, r: int, status: str, reason: str | None, **extra) -> None:
        if r in self.ended:  # never: a request ends once (counted, so that a test would see it)
            self.twice.append(r)
            return
        self.ended[r] = {"status": status, "reason": reason, **extra}
        if r in self.state:
            self.state[r].inflight = None

    # ------------------------------------------------------------------ failures
    def _failed(self, devs: set, links: set = frozenset()) -> None:
        """Devices ``devs`` failed and/or ``links`` were found cut: re-plan every unfinished request that
        still needs one of them (an input already across a cut link goes on)."""
        now = time.time()
        self.detector.forget(devs)
        self.cut |= links
        recs = [{"device": d, "at_s": self.scheduled.get(d), "detected_s": now - self.t0} for d in sorted(devs)]
        crossed = {r for r, st in self.state.items() if r not in self.ended and st.inflight is not None
                   and R.cut_between(st.inflight.src, st.inflight.device, links) and self._arrived(r)}
        used, resumes = R.usage(self.sc), []
        for r, st in self.state.items():
            for seg, dropped in st.done:
                R.charge(used, self.sc, [seg], dropped)
            if r in self.ended:
                continue
            fate, q = self._resume(r, st, r in crossed)
            if fate is Fate.GOES_ON:
                for segs, dropped in st.ahead():
                    R.charge(used, self.sc, segs, dropped)
            elif fate is Fate.RESUMES:
                resumes.append(q)
                if st.inflight:  # resumes after its in-flight segment, which runs on
                    R.charge(used, self.sc, [st.route.segments[st.seg]], st.route.dropped)
        groups: dict = {}
        for q in resumes:
            groups.setdefault((q.start, q.done_drops), []).append(q)
        what = ", ".join([f"device(s) {sorted(devs)} failed"] * bool(devs) +
                         [f"link(s) {', '.join('-'.join(map(str, sorted(k))) for k in sorted(links, key=sorted))} cut"]
                         * bool(links))
        for group in groups.values():
            self._replan(group, used, what)
        done = time.time() - self.t0
        for f in recs:
            f.update(replanned_s=done, requests=sorted(q.request for q in resumes))
        for f in self.link_failures:
            if R.link(*f["link"]) in links:
                f.update(replanned_s=done, requests=sorted(q.request for q in resumes))
        self.failures += recs

    def _resume(self, r: int, st: _Request, crossed: bool = False) -> tuple[Fate, R.Resume | None]:
        """What the failure means for request r (``Fate``), and where it resumes when it does.
        ``crossed``: its in-flight input is across its link already (a cut of that link spares it)."""
        names = self.sc.unit_names
        f = st.inflight
        runs_on = f is not None and f.device in self.alive and (crossed or not R.cut_between(f.src, f.device, self.cut))
        ahead = [s for segs, _ in st.ahead() for s in segs][1 if runs_on else 0:]
        if not any(self._blocked(s) for s in ahead) and (runs_on or f is None):
            return Fate.GOES_ON, None
        planned = self.planned[r]
        accuracy = self.sc.configs[planned.config].accuracy
        if runs_on:
            stop = st.route.segments[st.seg].stop
            st.next_route = None
            return Fate.RESUMES, R.Resume(r, stop, f.device, frozenset(st.route.dropped & set(names[:stop])), accuracy)
        if f is not None:
            if f.device not in self.alive:
                st.lost.append({"device": f.device, "start": f.submitted - self.t0,
                                "end": self.scheduled.get(f.device, time.time() - self.t0)})
            else:  # its input is stuck on a cut link: its holder sends it elsewhere
                st.lost.append({"device": f.device, "start": f.submitted - self.t0, "end": time.time() - self.t0,
                                "link": sorted((f.src, f.device))})
        st.inflight, st.next_route = None, None  # lost with its device, or abandoned on its cut link
        while st.history and st.history[-1][1] not in self.alive:
            st.history.pop()
        if not st.history:
            src = self.planned[r].source
            self._end(r, "unserved", f"its source, device {src}, failed before the image left it" if src not in self.alive
                      else f"its activation was lost: device(s) {sorted(set(range(self.sc.n_devices)) - self.alive)} failed")
            return Fate.ENDED, None
        b, holder, _ = st.history[-1]
        return Fate.RESUMES, R.Resume(r, b, holder, frozenset(st.route.dropped & set(names[:b])), accuracy)

    def _replan(self, group: list, used: Usage, what: str) -> None:
        alive = sorted(self.alive)
        try:
            new, _ = R.replan(self.sc, group, alive, used, self.opt.method,
                              solvers.Options(time_limit=self.opt.time_limit), cut=self.cut)
        except ValueError as exc:  # e.g. nothing left to build a continuation from
            new = {q.request: None for q in group}
            what += f" ({' '.join(str(exc).split())})"
        for q in group:
            rt, st = new[q.request], self.state[q.request]
            st.replanned = True
            if rt is None:
                self._end(q.request, "unserved", f"{what}; the re-plan ({self.opt.method}) found no feasible "
                          f"continuation on the {len(alive)} surviving devices")
                continue
            if st.inflight:
                st.next_route = rt
            else:
                st.route, st.seg = rt, 0
        for d, units in enumerate(R.units_by_device(self.sc, [new[q.request] for q in group], self.sc.n_devices)):
            if units:
                self.cl.actors[d].load.remote(units, self.cl.slices, False)
        for q in group:
            st = self.state[q.request]
            if q.request not in self.ended and st.inflight is None and st.started is not None:
                self._submit(q.request)

    # ------------------------------------------------------------------ the record
    def result(self, r: int, label: int, image: int) -> dict:
        end = self.ended.get(r, {"status": "lost", "reason": "never ended (a bug)"})
        return request_record(self.sc, r, end, self.model[r], self.state.get(r), label, image, self.t0)


def request_record(sc: Scenario, r: int, end: dict, model: dict, st: _Request | None, label: int, image: int,
                   t0: float) -> dict:
    """Request r's record in ``run.json``: how it ended (``end``), what the model predicted for it (the
    evaluator's row ``model``), and, when it ran (``st``), its hops and measured times."""
    out = {"request": r, "status": end["status"], "reason": end["reason"], "image": int(image), "label": int(label),
           "prediction": end.get("prediction"), "latency_s": end.get("latency_s"),
           "latency_model_s": model["latency_s"] if model["served"] else None,
           "compute_s": None, "transfer_s": None, "queue_s": None, "load_s": None, "overhead_s": None,
           "bytes_sent": 0, "bytes_model": model["dc_bytes"] + model["sc_bytes"] if model["served"] else 0.0,
           "compute_model_s": model["computation_s"] if model["served"] else None,
           "transfer_model_s": model["dc_transfer_s"] + model["sc_transfer_s"] if model["served"] else None,
           "devices": list(dict.fromkeys(st.devices)) if st else [], "config": model["config"],
           "dropped": sorted(st.route.dropped, key=sc.unit_names.index) if st else [],
           "replanned": bool(st and st.replanned), "logits": end.get("logits"), "hops": [],
           "lost_hops": list(st.lost) if st else []}
    if st:
        recs = st.records
        out["bytes_sent"] = int(sum(h["bytes"] for h in recs))
        out["hops"] = [{**h, "arrive": h["arrive"] - t0, "end": h["end"] - t0} for h in recs]
        if end["status"] == "answered":
            parts = {k: float(sum(h[f] for h in recs for f in fs)) for k, fs in
                     (("compute_s", ("compute_s",)), ("transfer_s", ("transfer_s",)),
                      ("queue_s", ("link_wait_s", "queue_wait_s")), ("load_s", ("load_wait_s",)))}
            out.update(parts, overhead_s=out["latency_s"] - sum(parts.values()))
    return out


def options_record(options: ExecutionOptions) -> dict:
    return {"links": options.links, "compute": options.compute, "method": options.method,
            "exclusive": options.exclusive, "heartbeat_s": options.heartbeat_s,
            "heartbeat_timeout_s": options.heartbeat_timeout_s}


def unserved_run(sc: Scenario, plan: Plan, labels: Sequence[int], image_ids: Sequence[int],
                 options: ExecutionOptions = ExecutionOptions()) -> dict:
    """The record of a step whose plan serves no request: nothing runs, no device is started."""
    model = evaluate(sc, plan).requests
    end = {"status": "unserved", "reason": "unserved in the plan"}
    return {"requests": [request_record(sc, r, end, model[r], None, labels[r], image_ids[r], 0.0)
                         for r in range(len(sc.requests))],
            "failures": [], "devices": [], "ended_twice": [], "heartbeat": {"pings": 0, "median_s": None, "p99_s": None,
                                                                             "max_s": None},
            "options": options_record(options)}
