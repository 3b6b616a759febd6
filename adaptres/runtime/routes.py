"""A plan as the runtime executes it, and the re-plan after a device fails (no torch).

A served request's *route* is its chain of *segments*: runs of consecutive units on one device. A
segment starts by receiving the activation from the device that holds it (the request's source for
the image, else the previous segment's device) over that directed link, then runs its units with
the request's drops. The transfers are exactly the evaluator's (Eqs 10-11: the image when the first
unit is not on the source, a unit's output when the next unit is elsewhere), so the bytes a route
sends are the model's.

When a device fails, ``continuation`` builds the re-plan's scenario for requests that resume at the
same unit with the same drops so far: the remaining units, the surviving devices with what is left
of their compute, energy and memory in this step, the activation's holder as the request's source,
and the table's configurations that agree with the drops already executed (any further drops down
to the accuracy threshold). Any of the project's solvers solves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import solvers
from ..problem.kernel import Usage
from ..problem.plan import Assignment, Plan
from ..problem.scenario import NO_LINK, Config, Device, Request, Scenario, Unit

SENTINEL = "resume"  # a zero-cost unit before a lone head: a scenario has at least two units


@dataclass(frozen=True)
class Segment:
    """Units ``start`` .. ``stop - 1`` on ``device``, receiving ``in_bytes`` from ``src``."""

    device: int
    start: int
    stop: int
    src: int
    in_bytes: float  # modelled bytes of the incoming transfer (0 when src == device)
    macs: float  # modelled multiplications of its units with the request's drops
    compute_s: float  # Eq 9 on this device
    transfer_s: float  # Eqs 10-11 on the link src -> device


@dataclass(frozen=True)
class Route:
    request: int
    source: int
    config: int | None  # the table's configuration (None for a continuation not in the table)
    dropped: frozenset  # the units whose direct connection is dropped
    segments: tuple[Segment, ...]

    @property
    def devices(self) -> list[int]:
        return list(dict.fromkeys(s.device for s in self.segments))

    @property
    def latency_s(self) -> float:
        return sum(s.compute_s + s.transfer_s for s in self.segments)

    @property
    def bytes(self) -> float:
        return sum(s.in_bytes for s in self.segments)


def segments(sc: Scenario, start: int, holder: int, dropped, devices: Sequence[int]) -> tuple[Segment, ...]:
    """The segments of units ``start``.. placed on ``devices`` (one per unit), the activation at
    ``start`` (the image when 0) held by ``holder``."""
    names, kernel, J = sc.unit_names, sc.kernel, len(sc.units)
    out, j, src = [], start, holder
    while j < J:
        dev, k = devices[j - start], j
        while k < J and devices[k - start] == dev:
            k += 1
        kept = [(u, names[u] in dropped) for u in range(j, k)]
        macs = float(sum(kernel.macs[u, int(d)] for u, d in kept))
        compute_s = sum(kernel.unit_s(u, d, dev) for u, d in kept)
        nbytes = 0.0 if src == dev else float(kernel.in_bytes[j])
        out.append(Segment(dev, j, k, src, nbytes, macs, compute_s, kernel.send_s(j, src, dev)))
        j, src = k, dev
    return tuple(out)


def routes(sc: Scenario, plan: Plan) -> list[Route | None]:
    """Every request's route (None: unserved in the plan)."""
    out: list[Route | None] = []
    for r, q in enumerate(plan.requests):
        if not q.served or q.config is None:
            out.append(None)
            continue
        dropped = frozenset(sc.configs[q.config].dropped)
        place = [q.placement[n] for n in sc.unit_names]
        out.append(Route(r, sc.requests[r].source, q.config, dropped, segments(sc, 0, sc.requests[r].source, dropped, place)))
    return out


def units_by_device(sc: Scenario, rts, n_devices: int) -> list[dict]:
    """Per device, the units the routes run there: name -> whole (False: every route drops it there)."""
    out: list[dict] = [{} for _ in range(n_devices)]
    for rt in rts:
        for s in rt.segments if rt is not None else ():
            for j in range(s.start, s.stop):
                name = sc.unit_names[j]
                out[s.device][name] = out[s.device].get(name, False) or name not in rt.dropped
    return out


# ---------------------------------------------------------------------------- what a step has used
def usage(sc: Scenario) -> Usage:
    """An empty ledger of what a step uses on ``sc``'s devices (its memory model)."""
    return Usage(sc.kernel, sc.memory_model)


def charge(used: Usage, sc: Scenario, segs, dropped) -> None:
    """Add segments ``segs``, run with the drops ``dropped``, to ``used`` (the problem side's ledger)."""
    names = sc.unit_names
    for s in segs:
        used.send(s.start, s.src, s.device)
        for j in range(s.start, s.stop):
            used.run(j, names[j] in dropped, s.device)


# ---------------------------------------------------------------------------- re-planning
@dataclass(frozen=True)
class Resume:
    """A request to continue: from unit ``start`` (its activation held by ``holder``), with the
    units before ``start`` dropped as ``done_drops``; ``accuracy``: its planned configuration's."""

    request: int
    start: int
    holder: int
    done_drops: frozenset
    accuracy: float


def _configs(sc: Scenario, start: int, done: frozenset, planned_accuracy: float) -> tuple[list[Config], list[frozenset]]:
    """The table's configurations that agree with the drops already executed, projected on the remaining
    units (the most accurate of equal projections), the one dropping nothing more first. When the table
    lacks that one, it is credited the planned configuration's accuracy (it drops no more blocks)."""
    before, after = set(sc.unit_names[:start]), set(sc.unit_names[start:])
    best: dict[frozenset, float] = {}
    for c in sc.configs:
        d = set(c.dropped)
        if d & before == done:
            key = frozenset(d & after)
            best[key] = max(best.get(key, -1.0), c.accuracy)
    first = best.pop(frozenset(), planned_accuracy)
    keys = [frozenset()] + sorted(best, key=lambda k: (-best[k], sorted(k)))
    configs = [Config((), first)] + [Config(tuple(n for n in sc.unit_names if n in k), best[k]) for k in keys[1:]]
    return configs, keys


def link(a: int, b: int) -> frozenset:
    """The undirected link between devices a and b (a cut takes both directions)."""
    return frozenset((a, b))


def cut_between(a: int, b: int, cut) -> bool:
    """Does sending from device a to device b need a link of ``cut`` (a set of ``link``s)?"""
    return a != b and link(a, b) in cut


def without_links(rate_mbps, cut) -> tuple:
    """``rate_mbps`` with every cut link (a set of device pairs) missing (``NO_LINK``): every solver's cost
    kernel masks it, so that no plan sends over it."""
    return tuple(tuple(NO_LINK if cut_between(i, k, cut) else v for k, v in enumerate(row))
                 for i, row in enumerate(rate_mbps))


def crosses(rt: Route | None, cut) -> list[int] | None:
    """The first cut link route ``rt`` sends over (a pair of devices), or None."""
    for s in rt.segments if rt is not None else ():
        if cut_between(s.src, s.device, cut):
            return sorted((s.src, s.device))
    return None


def continuation(sc: Scenario, group: Sequence[Resume], alive: Sequence[int], used: Usage,
                 cut=frozenset()) -> Scenario:
    """The re-plan's scenario for requests resuming at the same unit with the same drops so far (see
    the module's docstring). Devices are the ``alive`` ones, in that order; ``used``: what the step has
    committed on every device (the requests that go on, and the executed part of these); ``cut``: links
    (pairs of devices) that cannot be used."""
    start, done = group[0].start, group[0].done_drops
    units = list(sc.units[start:])
    if len(units) == 1:  # a lone head: a zero-cost pass-through before it (the solver places it on the holder)
        nbytes = sc.input_bytes if start == 0 else sc.units[start - 1].output_bytes
        units.insert(0, Unit(SENTINEL, "identity", 0, 0, 0, 0, 0, 0, nbytes))
    configs, _ = _configs(sc, start, done, min(q.accuracy for q in group))
    energy, memory = used.energy(), used.memory_bytes()
    devices = []
    for i in alive:
        d = sc.devices[i]
        devices.append(Device(d.name, max(d.memory_bytes - memory[i], 1e-3), max(d.compute_macs - used.macs[i], 1e-3),
                              d.macs_per_s, max(d.energy_j - energy[i], 0.0), d.p_compute_w, d.p_transmit_w))
    full = without_links(sc.rate_mbps, cut)
    rates = tuple(tuple(full[i][k] for k in alive) for i in alive)
    input_bytes = sc.input_bytes if start == 0 else max(sc.units[start - 1].output_bytes, 1e-9)
    return Scenario(units=tuple(units), input_bytes=input_bytes, configs=tuple(configs), devices=tuple(devices),
                    rate_mbps=rates, requests=tuple(Request(alive.index(q.holder)) for q in group), alpha=sc.alpha,
                    beta=sc.beta, accuracy_threshold=sc.accuracy_threshold, memory_model=sc.memory_model,
                    latency_ref_s=sc.l_ref(), link_overhead_s=sc.link_overhead_s)


def replan(sc: Scenario, group: Sequence[Resume], alive: Sequence[int], used: Usage, method: str = "colgen_round",
           options: solvers.Options | None = None, cut=frozenset()) -> tuple[dict[int, Route | None], Plan]:
    """Solve the continuation of ``group`` with the project's solver ``method``: each request's new
    route from its holder (None: nothing feasible on the survivors without the ``cut`` links), and the
    continuation's plan. ``used`` is charged with the new routes."""
    sub = continuation(sc, group, alive, used, cut)
    plan = solvers.solve(sub, method, options)
    _, keys = _configs(sc, group[0].start, group[0].done_drops, min(q.accuracy for q in group))
    start, out = group[0].start, {}
    for q, a in zip(group, plan.requests):
        rt = _route(sc, q, a, keys, alive, start) if a.served else None
        if rt is not None and crosses(rt, cut):
            rt = None
        if rt is not None:
            charge(used, sc, rt.segments, rt.dropped)
        out[q.request] = rt
    return out, plan


def _route(sc: Scenario, q: Resume, a: Assignment, keys: list[frozenset], alive: Sequence[int], start: int) -> Route:
    assert a.config is not None  # a served assignment has its configuration
    dropped = frozenset(q.done_drops | keys[a.config])
    devices = [alive[a.placement[n]] for n in sc.unit_names[start:]]
    table = {frozenset(c.dropped): k for k, c in enumerate(sc.configs)}
    return Route(q.request, q.holder, table.get(dropped), dropped, segments(sc, start, q.holder, dropped, devices))


# ---------------------------------------------------------------------------- a queue-aware estimate
def reserve(rts: Sequence[Route | None], start, device_free: dict, link_free: dict,
            after=None, busy: dict | None = None) -> list[float | None]:
    """When each route ends if it starts at ``start`` (a time, or one per route) on devices and directed
    links that are busy until ``device_free[i]`` and ``link_free[(a, b)]`` with work submitted before:
    the model's times (Eqs 9-11) and the runtime's queues — segments on one device one at a time,
    transfers on one link one after another, first come first served. The two dicts are updated (the
    routes' reservations are made). ``after[r]``: route r starts only when route ``after[r]`` ends (one
    request after another); ``busy``: each device's computing intervals are added to ``busy[device]``. None
    for a missing route."""
    import heapq
    n = len(rts)
    starts = list(start) if isinstance(start, (list, tuple)) else [float(start)] * n
    out: list[float | None] = [None] * n
    waiting: dict[int, list[int]] = {}
    events: list[tuple[float, int, int, int]] = []
    for r, rt in enumerate(rts):
        if rt is None:
            continue
        if after is not None and after[r] is not None:
            waiting.setdefault(after[r], []).append(r)
        else:
            events.append((starts[r], r, 0, 0))
    heapq.heapify(events)
    while events:
        t, r, k, phase = heapq.heappop(events)
        seg = rts[r].segments[k]  # type: ignore[union-attr]  # only routes are scheduled
        if phase == 0:  # the transfer into the segment
            if seg.in_bytes:
                link = (seg.src, seg.device)
                t = max(t, link_free.get(link, 0.0)) + seg.transfer_s
                link_free[link] = t
            heapq.heappush(events, (t, r, k, 1))
            continue
        begin = max(t, device_free.get(seg.device, 0.0))
        t = begin + seg.compute_s
        device_free[seg.device] = t
        if busy is not None:
            busy.setdefault(seg.device, []).append((begin, t))
        if k + 1 < len(rts[r].segments):  # type: ignore[union-attr]
            heapq.heappush(events, (t, r, k + 1, 0))
            continue
        out[r] = t
        for q in waiting.pop(r, []):
            heapq.heappush(events, (t, q, 0, 0))
    return out


def queued_latency(sc: Scenario, rts: Sequence[Route | None], exclusive: bool = False) -> list[float | None]:
    """Each request's latency with the model's times (Eqs 9-11) but the runtime's queues (``reserve``)
    on idle devices: ``exclusive``, one request after another, each from its own start. The paper's model
    (Eqs 7-8) ignores both queues; this estimate does not. None for unserved requests."""
    served = [r for r, rt in enumerate(rts) if rt is not None]
    after: list[int | None] = [None] * len(rts)
    if exclusive:
        for prev, r in zip(served, served[1:]):
            after[r] = prev
    ends = reserve(rts, 0.0, {}, {}, after)
    out: list[float | None] = list(ends)
    if exclusive:  # each request's latency from its own start (the previous one's end)
        for earlier, r in zip([None, *served[:-1]], served):
            end, before = ends[r], (ends[earlier] if earlier is not None else 0.0)
            out[r] = None if end is None or before is None else end - before
    return out
