"""The execution engine: requests run hop by hop on the device actors, submitted at any time.

A *job* is one served request of a plan: its route (``routes``), the scenario it was planned in, its
image and when it may start. ``Engine.submit`` hands jobs over at any time — the requests of one step
all at once (``Cluster.execute``), or epoch after epoch while earlier ones are still in flight (a load
test): the devices' FIFO queues (the actor's compute lock) and links are then shared by all of them.
``step`` advances everything once (submit due segments, collect finished ones, watch the devices);
``run_until`` loops it in the caller's thread, ``start`` in a thread of its own.

Failures: devices are watched by a failure detector (``detector``: a heartbeat and Ray's actor errors),
links in use by probes (``probing``); the requests a failure touches are re-planned off the loop
(``recovery``). A segment or a re-plan that raises any other error fails its requests with the error
named. Should the engine's own loop raise (a bug), it stops there and fails every request open or handed over
later, the error named (``error``), instead of leaving them waiting. Every request ends exactly once:
answered, unserved or failed. What the engine keeps per request is in ``jobs``.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import queue
import threading
import time
from collections.abc import Callable, Sequence

from ray.exceptions import RayTaskError

from .detector import DEVICE_ERRORS, UNAVAILABLE, HeartbeatDetector, input_lost
from .jobs import InFlight, Job, Progress, error_line
from .options import ExecutionOptions
from .records import request_record
from .recovery import Recovery

__all__ = ["Engine", "Job"]

RETRIES = 3  # a segment whose device was temporarily unavailable is sent again this many times, then its device failed
_TAGS = itertools.count()  # tags segments uniquely across the engines of a process


class Engine(Recovery):
    """Executes jobs on a cluster's device actors (see the module's docstring)."""

    def __init__(self, cl, options: ExecutionOptions, alive: Sequence[int], cut=(), t0: float | None = None):
        self.cl, self.ray, self.opt = cl, cl.ray, options
        self.t0 = time.time() if t0 is None else t0  # the origin of the records' times
        self.tag = f"{time.time():.6f}-{next(_TAGS)}"
        self.cut = set(cut)  # links known to be cut
        self.state: dict = {}  # key -> Progress
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
        self._halting = threading.Lock()  # the loop's halt against jobs handed over as it halts
        self.error: Exception | None = None  # what stopped the loop, if anything did (``start``)
        self.known_dead: frozenset = frozenset()  # what other threads may read: failed devices, cut links
        self.known_cut: frozenset = frozenset()

    # ------------------------------------------------------------------ handing work over
    def submit(self, jobs: Sequence[Job]) -> None:
        """Hand ``jobs`` over (from any thread); each starts at its ``start_at`` — or, once the loop has
        stopped on an error, fails at once with it."""
        with self._halting:
            for job in jobs:
                self.inbox.put(job)
            if self.error is not None:
                self._fail_open(self.error)

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
            try:
                while not self._stop.is_set():
                    self.step()
            except Exception as exc:  # a bug in the loop: its requests end, failed, rather than wait forever
                with self._halting:
                    self.error = exc
                    self._fail_open(exc)
                raise
        self._thread = threading.Thread(target=loop, name="adaptres-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._replans is not None:
            self._replans.shutdown(wait=True, cancel_futures=True)

    def _fail_open(self, exc: Exception) -> None:
        """End every request handed over and not ended yet: failed, ``exc`` named."""
        self._take()
        for key in list(self.state):
            if key not in self.ended:
                self._end(key, "failed", f"the execution engine stopped: {error_line(exc)}")

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
            self.state[job.key] = Progress(job, job.route, [(0, job.route.source, job.image)])
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

    def _blocked_now(self, st: Progress) -> bool:
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

    # ------------------------------------------------------------------ hops
    def _collect(self, ready) -> set:
        """Handle the finished segments among ``ready``; returns the devices found failed. A segment whose input
        was lost with the device that held it (``input_lost``) fails that device, not its own, and its request
        resumes from an activation a survivor holds. A segment's error that is not a device failure fails its
        request with the error named."""
        failed: set[int] = set()
        orphans: set = set()
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
            except DEVICE_ERRORS as exc:
                if current and input_lost(exc, st.inflight):
                    f = st.inflight
                    st.lost.append({"device": f.device, "start": f.submitted - self.t0, "end": time.time() - self.t0,
                                    "input_lost_with": f.src})
                    st.inflight = None  # nothing runs on: the request resumes where a survivor holds its activation
                    self._lost_with(key, f.src, failed, orphans)
                elif current:
                    failed.add(st.inflight.device)
                continue
            except RayTaskError as exc:  # the segment raised on a live device: the request fails, the device lives
                if current and key not in self.ended:
                    self._end(key, "failed", f"device {st.inflight.device}: {error_line(exc)}")
                continue
            if key not in self.ended and current and (dev := self._advance(key, rec)) is not None:
                self._lost_with(key, dev, failed, orphans)
        if orphans:  # their activation's holder was found failed before: re-planned now
            self._failed(set(), set(), only=orphans)
        return failed

    def _lost_with(self, key, device: int, failed: set, orphans: set) -> None:
        """Request ``key``'s activation was lost with ``device`` (its process died, Ray's ``ObjectLostError``): the
        device is found failed here, and its re-plan takes the request in — or, found failed before (the request then
        taken to go on), the request is re-planned on its own (``orphans``)."""
        if device in self.alive:
            failed.add(device)
        else:
            orphans.add(key)

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

    def _advance(self, key, rec: dict) -> int | None:
        """A segment of request ``key`` done: the next one submitted, or its answer read. Returns the device when the
        answer was lost with it before it was read (killed just after computing it), else None."""
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
            return None
        if st.seg < len(st.route.segments):
            self._submit(key)
            return None
        try:
            logits = self.ray.get(out)
            logits = (self.ray.get(logits) if isinstance(logits, self.ray.ObjectRef) else logits)[0]
        except DEVICE_ERRORS:  # over real links the answer is in its device's store, owned by its process
            st.lost.append({"device": dev, "start": rec["arrive"] - self.t0, "end": time.time() - self.t0,
                            "answer_lost": True})
            return dev
        self._end(key, "answered", None, prediction=int(logits.argmax()), logits=[float(v) for v in logits],
                  latency_s=rec["end"] - max(st.started, st.job.start_at), at=rec["end"] - self.t0)
        return None

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

