"""The execution engine: requests run hop by hop on the device actors, submitted at any time.

A *job* is one served request of a plan: its route (``routes``), the scenario it was planned in, its
image and when it may start. ``Engine.submit`` hands jobs over at any time — the requests of one step
all at once (``Cluster.execute``), or epoch after epoch while earlier ones are still in flight (a load
test): the devices' FIFO queues (the actor's compute lock) and links are then shared by all of them.
``step`` advances everything once (submit due segments, collect finished ones, watch the devices);
``run_until`` loops it in the caller's thread, ``start`` in a thread of its own.

Failures: devices are watched by a failure detector (``detector``: a heartbeat and Ray's actor errors),
links in use by probes. Every unfinished request that still needs a failed device or a cut link
resumes from the last activation a surviving device holds, re-planned on the survivors by the
project's solver (``routes.replan``) — in a worker thread, off the engine's loop, so that a failure
during another's re-plan is seen at once — or ends unserved with the reason. A request whose re-plan
comes back after a newer failure is re-planned again. A segment that raises any other error fails its
request with the error named. Every request ends exactly once: answered, unserved or failed.
"""

from __future__ import annotations

import concurrent.futures
import enum
import itertools
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import ray.exceptions as rex
from ray.exceptions import RayTaskError

from .. import solvers
from ..problem.kernel import Usage
from ..problem.scenario import Scenario
from . import routes as R
from .detector import DEVICE_ERRORS, UNAVAILABLE, HeartbeatDetector
from .options import ExecutionOptions
from .records import request_record

PROBE_AFTER_S = 0.2  # a transfer in flight this long has its link probed (a cut link fails the probe at once)
PROBE_EVERY_S = 0.25
REPLAN_WORKERS = 2
RETRIES = 3  # a segment whose device was temporarily unavailable is sent again this many times, then its device failed
_TAGS = itertools.count()  # tags segments uniquely across the engines of a process


@dataclass
class Job:
    """A served request to execute (see the module's docstring)."""

    key: Hashable  # unique in the engine
    sc: Scenario  # the scenario it was planned in
    r: int  # its index among ``sc.requests``
    route: R.Route
    image: object  # a reference to its image (on its source device with real links)
    model: dict  # the evaluator's row for it (what the model predicted)
    label: int
    image_id: int
    start_at: float = 0.0  # time.time() before which it does not start
    deadline_s: float | None = None  # it ends unserved when not done this long after it starts


@dataclass(frozen=True)
class InFlight:
    """A segment submitted to a device and not yet back."""

    hop: int  # the request's hop number (a result of an older hop is stale)
    device: int
    activation: object  # the reference to the segment's output
    record: object  # the reference to its record of times
    submitted: float  # time.time() at submission
    src: int  # the device its input comes from
    tag: str  # unique: the device remembers the tags of inputs that arrived


class Fate(enum.Enum):
    """What a failure means for an unfinished request (``Engine._resume``)."""

    GOES_ON = "goes on as planned"  # it needs no failed device or cut link
    ENDED = "ended"  # its activation was lost: it ended unserved
    RESUMES = "resumes"  # re-planned from the activation a survivor holds


@dataclass
class _Request:
    """A request's progress: its route, the next segment, the activations so far (unit, holder, ref)."""

    job: Job
    route: R.Route
    history: list
    seg: int = 0
    hop: int = 0  # the current hop's number
    inflight: InFlight | None = None
    next_route: R.Route | None = None  # a re-plan waiting for the in-flight segment
    done: list = field(default_factory=list)  # executed segments with their drops
    records: list = field(default_factory=list)
    lost: list = field(default_factory=list)  # segments lost: (device, submitted, failed[, link])
    started: float | None = None
    replanned: bool = False
    devices: list = field(default_factory=list)
    version: int = 0  # a re-plan made for an older version of this request is stale
    retries: int = 0  # segments sent again after their device was temporarily unavailable
    awaiting: bool = False  # its re-plan is being solved: nothing more is submitted until it comes

    def ahead(self) -> list[tuple[tuple, frozenset]]:
        """The segments still to run (the in-flight one first), each group with the drops it runs with."""
        out = [(self.route.segments[self.seg:], self.route.dropped)]
        if self.next_route is not None:
            out.append((self.next_route.segments, self.next_route.dropped))
        return out


@dataclass(frozen=True)
class _Replan:
    """A group of requests resuming at one unit with the same drops, in one scenario: solved off the loop."""

    sc: Scenario
    resumes: tuple  # routes.Resume (its ``request`` is the job's key)
    versions: tuple  # each request's version when the group was made
    alive: tuple
    cut: frozenset
    used: Usage
    what: str


def _error(exc: RayTaskError) -> str:
    """A segment's error in one line: the exception the device raised and its message."""
    cause = getattr(exc, "cause", None) or exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return f"{type(cause).__name__}: {text}"[:300]


class Engine:
    """Executes jobs on a cluster's device actors (see the module's docstring)."""

    def __init__(self, cl, options: ExecutionOptions, alive: Sequence[int], cut=(), t0: float | None = None):
        self.cl, self.ray, self.opt = cl, cl.ray, options
        self.t0 = time.time() if t0 is None else t0  # the origin of the records' times
        self.tag = f"{time.time():.6f}-{next(_TAGS)}"
        self.cut = set(cut)  # links known to be cut
        self.state: dict = {}  # key -> _Request
        self.ended: dict = {}  # key -> how it ended
        self.waiting: list = []  # keys not started yet, in submission order
        self.pending: dict = {}  # record ref -> (key, hop)
        self.probes: dict = {}  # probe ref -> (src, dst, when sent, when the transfer it probes for began)
        self.probed: dict = {}  # link (src, dst) -> when last probed
        self.failures: list[dict] = []
        self.link_failures: list[dict] = []
        self.twice: list = []  # requests ended a second time (must stay empty)
        self.scheduled: dict[int, float] = {}  # device -> seconds after t0 it is to be killed
        self.events: list = []  # (time.time(), function) to call then
        self.detector = HeartbeatDetector(cl.ray, cl.actors, cl.pids, options.heartbeat_s,
                                          options.heartbeat_timeout_s, alive=set(alive))
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()  # jobs handed over by other threads
        self.finished: queue.SimpleQueue = queue.SimpleQueue()  # (key, record) as requests end
        self._replans: concurrent.futures.ThreadPoolExecutor | None = None
        self._solved: list = []  # futures of re-plans in progress
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.known_dead: frozenset = frozenset()  # what other threads may read: failed devices, cut links
        self.known_cut: frozenset = frozenset()

    # ------------------------------------------------------------------ handing work over
    @property
    def alive(self) -> set:
        """The devices not (yet) found failed: the failure detector's."""
        return self.detector.alive

    def submit(self, jobs: Sequence[Job]) -> None:
        """Hand ``jobs`` over (from any thread); each starts at its ``start_at``."""
        for job in jobs:
            self.inbox.put(job)

    def kill_at(self, device: int, at: float) -> None:
        """Kill ``device``'s actor at time ``at`` (time.time()): a device failing."""
        self.scheduled[device] = at - self.t0
        self.cl.actors[device].crash_at.remote(at)

    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` in the engine's loop at time ``when`` (time.time()): a link cut by the test bed."""
        self.events.append((when, fn))
        self.events.sort(key=lambda e: e[0])

    def open(self) -> int:
        """Requests handed over and not ended yet."""
        return len(self.state) + self.inbox.qsize() - len(self.ended)

    # ------------------------------------------------------------------ the loop
    def run_until(self, done: Callable[[], bool], timeout: float | None = None) -> None:
        """Loop in this thread until ``done()`` (or ``timeout`` seconds)."""
        end = None if timeout is None else time.time() + timeout
        while not done() and (end is None or time.time() < end):
            self.step()

    def start(self) -> None:
        """Loop in a thread of the engine's own until ``stop``."""
        def loop():
            while not self._stop.is_set():
                self.step()
        self._thread = threading.Thread(target=loop, name="adaptres-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._replans is not None:
            self._replans.shutdown(wait=True, cancel_futures=True)

    def step(self) -> None:
        """Advance everything once (see the module's docstring)."""
        self._take()
        now = time.time()
        while self.events and now >= self.events[0][0]:
            self.events.pop(0)[1]()
        self._start_due(now)
        self._expire(now)
        self._apply_replans()
        self.detector.poll(now)
        if self.opt.links == "real":
            self._probe(now)
        refs = list(self.pending) + self.detector.refs() + list(self.probes)
        ready: list = []
        wait = self._until_due(now)  # no later than the next job's start or event
        if refs:
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=wait, fetch_local=False)
            if ready:
                ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        else:
            time.sleep(min(wait, 0.01))
        failed = self._collect(ready) | self.detector.collect(set(ready), time.time())
        cut = self._probed(ready)
        if failed & self.alive or cut:
            self._failed(failed & self.alive, cut)

    def _until_due(self, now: float) -> float:
        """Seconds the loop may wait for results: the heartbeat's interval, or less when a waiting job starts or
        an event fires sooner."""
        due = [self.state[k].job.start_at for k in self.waiting] + [t for t, _ in self.events[:1]]
        return max(0.0, min([self.opt.heartbeat_s, *(t - now for t in due)]))

    def _take(self) -> None:
        while True:
            try:
                job = self.inbox.get_nowait()
            except queue.Empty:
                return
            self.state[job.key] = _Request(job, job.route, [(0, job.route.source, job.image)])
            self.waiting.append(job.key)

    def _start_due(self, now: float) -> None:
        keep = []
        for key in self.waiting:
            st = self.state[key]
            if st.job.start_at > now or (self.opt.exclusive and self._active()):
                keep.append(key)
                continue
            st.started = now
            if not self._blocked_now(st):
                self._submit(key)
            else:  # its route needs a device or link that failed since it was planned
                self._failed(set(), set(), only={key})
        self.waiting = keep

    def _blocked_now(self, st: _Request) -> bool:
        return any(self._blocked(s) for s in st.route.segments) or st.route.source not in self.alive

    def _expire(self, now: float) -> None:
        for key, st in self.state.items():
            if key in self.ended or st.started is None:
                continue
            limit = st.job.deadline_s or self.opt.deadline_s or 3 * st.route.latency_s + 30.0
            if now - st.started > limit:
                self._end(key, "unserved", f"not finished within its deadline ({limit:.0f} s)")

    def _active(self) -> bool:
        return any(k not in self.ended and s.started is not None for k, s in self.state.items())

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
                                           "probe_sent_s": sent - self.t0, "detected_s": time.time() - self.t0})
        return out

    def _blocked(self, seg: R.Segment) -> bool:
        """Does segment ``seg`` need a failed device or a cut link?"""
        return seg.device not in self.alive or R.cut_between(seg.src, seg.device, self.cut)

    def _arrived(self, key) -> bool:
        """Has the request's in-flight input crossed its link already (asked of the receiving device)?"""
        f = self.state[key].inflight
        try:
            return bool(self.ray.get(self.cl.actors[f.device].has_arrived.remote(f.tag), timeout=1.0))
        except (*DEVICE_ERRORS, rex.GetTimeoutError):
            return False

    # ------------------------------------------------------------------ hops
    def _collect(self, ready) -> set:
        """Handle the finished segments among ``ready``; returns the devices found failed. A segment's
        error that is not a device failure fails its request with the error named."""
        failed = set()
        for ref in ready:
            if ref not in self.pending:
                continue
            key, hop = self.pending.pop(ref)
            st = self.state[key]
            current = st.inflight is not None and st.inflight.hop == hop
            try:
                rec = self.ray.get(ref)
            except UNAVAILABLE:  # temporary (Ray): the segment may not have run; sent again while the device lives
                if current and key not in self.ended:
                    st.retries += 1
                    if st.retries > RETRIES:
                        failed.add(st.inflight.device)
                    elif st.inflight.device in self.alive:
                        self._submit(key)
                continue
            except DEVICE_ERRORS:
                if current:
                    failed.add(st.inflight.device)
                continue
            except RayTaskError as exc:  # the segment raised on a live device: the request fails, the device lives
                if current and key not in self.ended:
                    self._end(key, "failed", f"device {st.inflight.device}: {_error(exc)}")
                continue
            if key not in self.ended and current:
                self._advance(key, rec)
        return failed

    def _submit(self, key) -> None:
        st = self.state[key]
        seg = st.route.segments[st.seg]
        _, holder, x = st.history[-1]
        assert holder == seg.src, (key, holder, seg)
        sc = st.job.sc
        job = {"request": st.job.r, "start": seg.start, "stop": seg.stop, "dropped": sorted(st.route.dropped),
               "src": seg.src, "transfer_s": seg.transfer_s, "compute_s": seg.compute_s,
               "emulate_links": self.opt.links == "emulated", "emulate_compute": self.opt.compute == "emulated",
               "tag": f"{self.tag}/{key}/{st.hop + 1}", "in_bytes": seg.in_bytes,
               "rate_mbps": sc.rate_mbps[seg.src][seg.device] if seg.src != seg.device else None}
        st.hop += 1
        out, rec = self.cl.actors[seg.device].hop.options(num_returns=2).remote(x, job)
        st.inflight = InFlight(st.hop, seg.device, out, rec, time.time(), seg.src, job["tag"])
        self.pending[rec] = (key, st.hop)

    def _advance(self, key, rec: dict) -> None:
        st = self.state[key]
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
        if st.awaiting:  # its re-plan will say where it goes from here
            return
        if st.seg < len(st.route.segments):
            self._submit(key)
            return
        logits = self.ray.get(out)
        logits = (self.ray.get(logits) if isinstance(logits, self.ray.ObjectRef) else logits)[0]
        self._end(key, "answered", None, prediction=int(logits.argmax()), logits=[float(v) for v in logits],
                  latency_s=rec["end"] - max(st.started, st.job.start_at), at=rec["end"] - self.t0)

    def _end(self, key, status: str, reason: str | None, **extra) -> None:
        if key in self.ended:  # never: a request ends once (counted, so that a test would see it)
            self.twice.append(key)
            return
        self.ended[key] = {"status": status, "reason": reason, "at": time.time() - self.t0, **extra}
        st = self.state.get(key)
        if st is not None:
            st.inflight = None
            self.finished.put((key, self.record(key)))

    def record(self, key) -> dict:
        """The request's record (``records.request_record``): how it ended (so far), its hops."""
        st = self.state[key]
        end = self.ended.get(key, {"status": "lost", "reason": "never ended (a bug)"})
        return request_record(st.job.sc, st.job.r, end, st.job.model, st, st.job.label, st.job.image_id, self.t0)

    # ------------------------------------------------------------------ failures
    def _failed(self, devs: set, links: set = frozenset(), only: set | None = None) -> None:
        """Devices ``devs`` failed and/or ``links`` were found cut: every unfinished request (of ``only``)
        that still needs one of them resumes from the last activation a survivor holds, re-planned off
        the loop (an input already across a cut link goes on)."""
        now = time.time()
        self.detector.forget(devs)
        self.cut |= links
        self.known_dead, self.known_cut = self.known_dead | frozenset(devs), frozenset(self.cut)
        recs = [{"device": d, "at_s": self.scheduled.get(d), "detected_s": now - self.t0} for d in sorted(devs)]
        keys = [k for k in self.state if k not in self.ended and (only is None or k in only)]
        crossed = {k for k in keys if (f := self.state[k].inflight) is not None
                   and R.cut_between(f.src, f.device, links) and self._arrived(k)}
        resumes = []
        for k in keys:
            st = self.state[k]
            if st.started is None:
                continue  # not started: it is checked when it starts
            fate, q = self._resume(k, st, k in crossed)
            if fate is Fate.RESUMES:
                resumes.append(q)
        what = ", ".join([f"device(s) {sorted(devs)} failed"] * bool(devs) +
                         [f"link(s) {', '.join('-'.join(map(str, sorted(c))) for c in sorted(links, key=sorted))} cut"]
                         * bool(links)) or "its route needs a device or link that failed"
        groups: dict = {}
        for q in resumes:
            groups.setdefault((id(self.state[q.request].job.sc), q.start, q.done_drops), []).append(q)
        for group in groups.values():
            self._dispatch(group, what)
        # when the last re-plan it caused is applied (at once when it caused none)
        took = {"requests": sorted(q.request for q in resumes), "replanned_s": None if resumes else now - self.t0}
        for f in recs:
            f.update(took)
        for f in self.link_failures:
            if R.link(*f["link"]) in links:
                f.update(took)
        self.failures += recs

    def _resume(self, key, st: _Request, crossed: bool = False) -> tuple[Fate, R.Resume | None]:
        """What the failure means for the request (``Fate``), and where it resumes when it does.
        ``crossed``: its in-flight input is across its link already (a cut of that link spares it)."""
        sc = st.job.sc
        names = sc.unit_names
        f = st.inflight
        runs_on = f is not None and f.device in self.alive and (crossed or not R.cut_between(f.src, f.device, self.cut))
        ahead = [s for segs, _ in st.ahead() for s in segs][1 if runs_on else 0:]
        last = runs_on and st.next_route is None and st.seg == len(st.route.segments) - 1
        if (not st.awaiting or last) and not any(self._blocked(s) for s in ahead) \
                and (runs_on or (f is None and st.history[-1][1] in self.alive)):
            st.awaiting = False  # its in-flight segment (holding its input) runs on, and what follows is fine
            return Fate.GOES_ON, None
        st.version += 1
        st.awaiting = True
        accuracy = sc.configs[st.job.route.config].accuracy if st.job.route.config is not None else \
            sc.configs[0].accuracy
        if runs_on:
            stop = st.route.segments[st.seg].stop
            st.next_route = None
            return Fate.RESUMES, R.Resume(key, stop, f.device, frozenset(st.route.dropped & set(names[:stop])), accuracy)
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
            src = st.job.route.source
            self._end(key, "unserved", f"its source, device {src}, failed before the image left it"
                      if src not in self.alive else
                      f"its activation was lost: device(s) {sorted(set(range(sc.n_devices)) - self.alive)} failed")
            return Fate.ENDED, None
        b, holder, _ = st.history[-1]
        return Fate.RESUMES, R.Resume(key, b, holder, frozenset(st.route.dropped & set(names[:b])), accuracy)

    def _used(self, sc: Scenario, resuming: set) -> Usage:
        """What the requests of scenario ``sc`` have used and will use, the resuming ones' executed part only."""
        used = R.usage(sc)
        for k, st in self.state.items():
            if st.job.sc is not sc:
                continue
            for seg, dropped in st.done:
                R.charge(used, sc, [seg], dropped)
            if k in self.ended or k in resuming:
                if k in resuming and st.inflight is not None:  # its in-flight segment runs on
                    R.charge(used, sc, [st.route.segments[st.seg]], st.route.dropped)
                continue
            for segs, dropped in st.ahead():
                R.charge(used, sc, segs, dropped)
        return used

    def _dispatch(self, group: list, what: str) -> None:
        """Solve the re-plan of ``group`` in the worker thread (``_apply_replans`` takes its answer)."""
        sc = self.state[group[0].request].job.sc
        used = self._used(sc, {k for k, st in self.state.items() if st.awaiting})
        task = _Replan(sc, tuple(group), tuple(self.state[q.request].version for q in group), tuple(sorted(self.alive)),
                       frozenset(self.cut), used, what)
        if self._replans is None:
            # two re-plans at once: a failure during another's re-plan need not wait for it (HiGHS releases the GIL)
            self._replans = concurrent.futures.ThreadPoolExecutor(max_workers=REPLAN_WORKERS,
                                                                  thread_name_prefix="adaptres-replan")
        self._solved.append((task, self._replans.submit(self._solve, task)))

    def _solve(self, task: _Replan):
        try:
            new, _ = R.replan(task.sc, task.resumes, list(task.alive), task.used, self.opt.method,
                              solvers.Options(time_limit=self.opt.time_limit), cut=task.cut)
            return new, None
        except ValueError as exc:  # e.g. nothing left to build a continuation from
            return {q.request: None for q in task.resumes}, " ".join(str(exc).split())

    def _apply_replans(self) -> None:
        done = [(t, f) for t, f in self._solved if f.done()]
        if not done:
            return
        self._solved = [(t, f) for t, f in self._solved if not f.done()]
        for task, fut in done:
            new, why = fut.result()
            self._apply(task, new, why)

    def _apply(self, task: _Replan, new: dict, why: str | None) -> None:
        """A re-plan's answer: each request of the group still waiting for it takes its new route — or, when a
        device or link it needs failed meanwhile, is re-planned again."""
        when = time.time() - self.t0
        solved = {q.request for q in task.resumes}
        for f in self.failures + self.link_failures:
            if solved & set(f.get("requests", [])):
                f["replanned_s"] = max(f.get("replanned_s") or 0.0, when)
        again = []
        for q, version in zip(task.resumes, task.versions):
            st = self.state[q.request]
            if q.request in self.ended or st.version != version:
                continue  # ended meanwhile, or made stale by a newer failure (its own re-plan is on its way)
            st.awaiting, st.replanned = False, True
            rt = new.get(q.request)
            if rt is None:
                self._end(q.request, "unserved", f"{task.what}{f' ({why})' if why else ''}; the re-plan "
                          f"({self.opt.method}) found no feasible continuation on the {len(task.alive)} surviving devices")
                continue
            if any(self._blocked(s) for s in rt.segments) or rt.source not in self.alive:
                again.append(q.request)  # a device or link of its new route failed while it was solved
                st.route, st.seg = rt, 0
                continue
            if st.inflight:
                st.next_route = rt
            else:
                st.route, st.seg = rt, 0
        if again:
            self._failed(set(), set(), only=set(again))
        units = R.units_by_device(task.sc, [new.get(q.request) for q in task.resumes], task.sc.n_devices)
        for d, u in enumerate(units):
            if u and d in self.alive:
                self.cl.actors[d].load.remote(u, self.cl.slices, False)
        for q in task.resumes:
            st = self.state[q.request]
            if q.request not in self.ended and not st.awaiting and st.inflight is None and st.started is not None:
                if st.seg < len(st.route.segments):
                    self._submit(q.request)
