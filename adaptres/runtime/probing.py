"""Links in use, probed: a transfer in flight too long has its link probed from its source device, and a
probe that cannot reach the receiving device finds the link cut (the engine's failure detector watches
the devices; this watches the links between them). A mixin of ``engine.Engine``."""

from __future__ import annotations

import time
from typing import Any

import ray.exceptions as rex

from . import routes as R
from .detector import DEVICE_ERRORS

PROBE_AFTER_S = 0.2  # a transfer in flight this long has its link probed (a cut link fails the probe at once)
PROBE_EVERY_S = 0.25


class LinkProbes:
    """Probing the links of transfers in flight (the engine's ``state``, ``cut``, ``alive``, ``cl``)."""

    state: dict
    cut: set
    probes: dict
    probed: dict
    link_failures: list
    t0: float
    cl: Any
    ray: Any
    detector: Any

    @property
    def alive(self) -> set:
        """The devices not (yet) found failed: the failure detector's."""
        return self.detector.alive

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

