"""Which devices have failed: one object, so that a deployment can swap it (a hardware watchdog, a
cluster manager's view) without touching the engine.

``HeartbeatDetector`` pings every live device every ``interval_s``. A ping not answered within
``suspect_s`` makes the detector ask Ray's control store (GCS) for the actor's state — at most every
``store_every_s`` per device, so that a loaded machine is not loaded more: anything but ALIVE (its process
died: Ray is restarting it, or it is dead) is a failure, found within a few tens of milliseconds of the
crash. A device whose ping is answered by a new process (Ray restarted it) has failed too. A ping
unanswered for ``hung_s`` fails its device whatever the store says (a hung process, a node cut off, which
the store learns of only after its own health checks). In between, a late ping of an actor the store holds
ALIVE is a slow device, not a failed one: under load on a 2-core machine (six actors computing, the
planner beside), pings to live actors took over 1 s, and a device taken for dead stays dead for the rest
of a load test (four live devices were lost that way at once). A segment whose result is one of Ray's
actor errors (the actor died or cannot be reached) or whose data was lost with its node also marks a device
failed: the one that held the data — a segment whose input was lost with its sender fails the sender, not the
device it was sent to (``input_lost``). Any other error of a segment is not a device failure: it is a bug or bad
data on that device, and the request it belongs to fails with the error named (``is_device_failure``). Ping
round trips are kept, so that a run reports the heartbeat's tail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import ray.exceptions as rex

# the errors that mean a device (its actor, its node, or data only it held) is gone; Ray's
# ``ActorUnavailableError`` (a subclass of ``RayActorError``) is temporary, as Ray documents it: the actor may
# answer again (``UNAVAILABLE``, caught first wherever these are)
UNAVAILABLE = rex.ActorUnavailableError
DEVICE_ERRORS = (rex.RayActorError, rex.ObjectLostError)


def is_device_failure(exc: BaseException) -> bool:
    """Does ``exc``, raised by ``ray.get`` of a device's task, mean the device failed?"""
    return isinstance(exc, DEVICE_ERRORS)


def input_lost(exc: BaseException, inflight) -> bool:
    """Does ``exc``, raised by ``ray.get`` of a segment ``inflight`` (``jobs.InFlight``), mean that its input was lost
    with the device that sent it — not that the device it ran on failed? Over real links the input is a reference
    into the sender's store, owned by the sender's process: when the sender dies before the input has arrived, the
    receiving device's task raises Ray's ``ObjectLostError`` (its ``OwnerDiedError``), while the receiving device is
    well (under three kills a moment apart, a live device was taken for failed this way)."""
    return isinstance(exc, rex.ObjectLostError) and not isinstance(exc, rex.RayActorError) \
        and inflight.src != inflight.device


@dataclass
class HeartbeatDetector:
    """The heartbeat of the step's devices (see the module's docstring)."""

    ray: Any
    actors: list
    pids: list
    interval_s: float = 0.05
    timeout_s: float = 1.0  # a device temporarily unavailable this long has failed
    suspect_s: float = 0.1
    hung_s: float = 10.0
    store_every_s: float = 0.25
    alive: set = field(default_factory=set)
    pings: dict = field(default_factory=dict)  # device -> (ref, sent at)
    rtts: list = field(default_factory=list)  # round trips of answered pings, seconds
    unavailable: dict = field(default_factory=dict)  # device -> when a ping first found it temporarily unavailable
    asked: dict = field(default_factory=dict)  # device -> when the store was last asked of it
    _next: float = 0.0

    def poll(self, now: float) -> None:
        """Send the pings that are due."""
        if now < self._next:
            return
        for d in self.alive:
            if d not in self.pings:
                self.pings[d] = (self.actors[d].ping.remote(), now)
        self._next = now + self.interval_s

    def refs(self) -> list:
        return [ref for ref, _ in self.pings.values()]

    def collect(self, ready, now: float) -> set[int]:
        """Read the answered pings among ``ready``; returns the devices found failed (a new process, an
        actor error, or no answer within the timeout)."""
        failed = set()
        for d, (ref, sent) in list(self.pings.items()):
            if ref not in ready:
                continue
            del self.pings[d]
            try:
                pid = self.ray.get(ref)
            except UNAVAILABLE:  # temporary: found failed only if it stays so past the timeout (or comes back anew)
                self.unavailable.setdefault(d, sent)
                continue
            except DEVICE_ERRORS:
                failed.add(d)
                continue
            self.unavailable.pop(d, None)
            self.rtts.append(now - sent)
            if pid != self.pids[d]:
                failed.add(d)  # answered from a new process: it was restarted
        for d, (_, sent) in self.pings.items():
            if now - sent > self.hung_s or (now - sent > self.suspect_s and not self._alive_in_store(d, now)):
                failed.add(d)
        failed |= {d for d, since in self.unavailable.items() if now - since > self.timeout_s}
        return failed & self.alive

    def _alive_in_store(self, d: int, now: float) -> bool:
        """Does Ray's control store hold device d's actor ALIVE (not restarting, not dead)? Asked at most every
        ``store_every_s`` (meanwhile: yes)."""
        if now - self.asked.get(d, -float("inf")) < self.store_every_s:
            return True
        self.asked[d] = now
        return self.state(self.actors[d]) in (None, "ALIVE")

    @staticmethod
    def state(actor) -> str | None:
        """The control store's state of ``actor`` (``cluster.actor_state``)."""
        from .. import cluster
        return cluster.actor_state(actor)

    def forget(self, devices) -> None:
        """``devices`` are known failed: no more pings to them."""
        self.alive -= set(devices)
        for d in devices:
            self.pings.pop(d, None)
            self.unavailable.pop(d, None)

    def tail(self) -> dict:
        """The answered pings' round trips: count, median, 99th percentile and maximum (seconds)."""
        if not self.rtts:
            return {"pings": 0, "median_s": None, "p99_s": None, "max_s": None}
        xs = sorted(self.rtts)
        return {"pings": len(xs), "median_s": xs[len(xs) // 2], "p99_s": xs[min(len(xs) - 1, int(0.99 * len(xs)))],
                "max_s": xs[-1]}


def wait_answering(ray, actor, timeout: float, deadline: float) -> int | None:
    """The pid of ``actor`` once it answers a ping (Ray restarting it), or None at ``deadline``."""
    while time.time() < deadline:
        try:
            return ray.get(actor.ping.remote(), timeout=timeout)
        except (rex.GetTimeoutError, *DEVICE_ERRORS):  # unavailable included: it is restarting
            time.sleep(0.1)
    return None
