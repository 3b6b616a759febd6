"""What the engine keeps about the requests it executes: a job handed over, its progress hop by hop, a
segment in flight, what a failure means for it and a re-plan to solve (``engine``, ``recovery``)."""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass, field

from ..problem.kernel import Usage
from ..problem.scenario import Scenario
from . import routes as R


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
class Progress:
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
class Replan:
    """A group of requests resuming at one unit with the same drops, in one scenario: solved off the loop."""

    sc: Scenario
    resumes: tuple  # routes.Resume (its ``request`` is the job's key)
    versions: tuple  # each request's version when the group was made
    alive: tuple
    cut: frozenset
    used: Usage
    what: str


def error_line(exc: BaseException) -> str:
    """An error in one line: its exception (for a segment, the one the device raised) and its message."""
    cause = getattr(exc, "cause", None) or exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return f"{type(cause).__name__}: {text}"[:300]


