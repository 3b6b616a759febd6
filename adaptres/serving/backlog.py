"""What the planner knows of the queues: the work submitted to each device and link, from its plans.

The devices serve segments first come first served, one at a time (the actor's compute lock), and each
directed link carries one transfer after another. The planner replays every request it submitted that
may still be running — its route from its submission, the model's times (``routes.reserve``) — with a
new epoch's requests after them, so that a new segment that reaches an idle device before an earlier
request's next one runs first, as on the devices. ``ready_s`` is each device's backlog: the seconds of
work it still has at a moment (``Scenario.ready_s``); ``predict`` says when new requests would end
without submitting them; ``commit`` submits them. The executor's queues (simulated or on the devices)
are what happens; this is the planner's model of them, held against them in a load test (predicted
against measured latency).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..runtime import routes as R

KEEP_S = 30.0  # a request predicted to end this long before the planning moment no longer delays anything


class Backlog:
    """The planner's model of the queues (see the module's docstring); times are seconds into the run."""

    def __init__(self, n_devices: int):
        self.n = n_devices
        self.active: list[tuple[R.Route, float]] = []  # (route, submitted at), in submission order
        self.ends: list[float] = []  # each active route's predicted end at its last replay
        self.busy: dict[int, list] = {}  # device -> computing intervals, at the last replay
        self.dead: set[int] = set()

    def copy(self) -> "Backlog":
        other = Backlog(self.n)
        other.active, other.ends, other.dead = list(self.active), list(self.ends), set(self.dead)
        other.busy = {d: list(v) for d, v in self.busy.items()}
        return other

    def _replay(self, extra: Sequence[R.Route | None] = (), at: float = 0.0, busy: dict | None = None) -> list:
        rts = [rt for rt, _ in self.active] + list(extra)
        starts = [t for _, t in self.active] + [at] * len(extra)
        return R.reserve(rts, starts, {}, {}, busy=busy)

    def ready_s(self, now: float) -> list[float]:
        """Seconds of submitted work each device still has to compute at ``now``."""
        out = [0.0] * self.n
        for d, spans in self.busy.items():
            if d < self.n and d not in self.dead:
                out[d] = sum(max(0.0, e - max(b, now)) for b, e in spans)
        return out

    def predict(self, rts: Sequence[R.Route | None], at: float) -> list[float | None]:
        """When each route would end if submitted at ``at`` after everything submitted so far (None: not
        served); nothing is submitted."""
        if not any(rt is not None for rt in rts):
            return [None] * len(rts)
        return self._replay(rts, at)[len(self.active):]

    def commit(self, rts: Sequence[R.Route | None], at: float) -> list[float | None]:
        """``predict``, and submit the routes (they delay later ones)."""
        self._prune(at)
        busy: dict = {}
        ends = self._replay(rts, at, busy)
        n_old = len(self.active)
        self.busy = busy
        self.ends = list(ends[:n_old]) + [e for e in ends[n_old:] if e is not None]
        self.active += [(rt, at) for rt in rts if rt is not None]
        return ends[n_old:]

    def _prune(self, now: float) -> None:
        keep = [i for i, e in enumerate(self.ends) if e >= now - KEEP_S]
        if len(keep) < len(self.active):
            self.active = [self.active[i] for i in keep]
            self.ends = [self.ends[i] for i in keep]

    def forget(self, devices) -> None:
        """Devices that failed: their queues are gone (the requests that needed them are re-planned by the
        executor, and leave the planner's model)."""
        self.dead |= set(devices)
        self.active = [(rt, t) for rt, t in self.active if not set(rt.devices) & self.dead]
        busy: dict = {}
        self.ends = list(self._replay(busy=busy))
        self.busy = busy
