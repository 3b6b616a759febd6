"""Exact fronts: the ε-constraint method on the column generation's master.

Minimise the latency term of Eq 5 (α = 1, β = 0; the unserved penalty kept) subject to the requests'
summed accuracy loss ≤ ε (points below the full model, over the served requests) and, optionally,
every device's summed energy ≤ a budget. Both are rows of the master (``Master.set_budgets``); their
prices enter the pricing as a price per point of loss on each configuration and a price per joule on
each device, so configurations are still chosen in the segment DP and every bound stays a proven
Lagrangian bound. Under ε the master also has level rows (``keys.LevelRow``: at most m requests lose more
than ε / (m + 1) each), which every integer plan keeps and the LP's mixes of one request's configurations
do not; their prices are a price on each configuration in them.

Requests served come first, as Eq 5's penalty makes them: the front is that of the plans serving as
many requests as the step allows (a tight ε that can only be met by serving fewer gives no point).
ε starts unbounded (the fastest plan, its loss ℓ₀) and steps down a grid from ℓ₀ to 0 (the full model),
each ε at most the last point's own loss less a hair, so every solve finds a new point; the points are
then filtered to the non-dominated ones. Each ε is solved on a master of its own: one kept from ε to ε
grew with every listing and its integer masters slowed (a 5-s point of the standard 32-px table, N = 4,
ended at a 6 % gap where a fresh master proves it in 1.7 s). Each point's plan is proven within ``rel_gap`` of the least
latency under its ε (``Point.gap``; the time limit may leave it wider, which the point says).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from ...io import NoResult
from ...problem.plan import Plan
from ...problem.scenario import Scenario
from .. import Options, finish
from ..colgen import Root
from .front import Front, Point, nondominated, supported

MAX_POINTS = 1000
STEP = 1e-3  # points of accuracy: ε below the last point's loss, so that the next point differs (well above
# HiGHS' feasibility tolerances, 1e-6, which let a row of ε = loss − 1e-6 take the same point again)


class FrontError(ValueError):
    """A front that cannot be asked for; the message names the field."""


class EmptyFront(NoResult):
    """A front with no point: no plan serves any request (the command's exit status 3)."""


def check(sc: Scenario, k) -> None:
    """``k`` points of a front of ``sc`` can be asked for (else a ``FrontError`` naming the field)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_POINTS:
        raise FrontError(f"pareto: must be a positive integer of at most {MAX_POINTS} points, got {k!r}")
    allowed = sc.allowed_configs()
    if not allowed:
        best = max(c.accuracy for c in sc.configs)
        raise FrontError(f"accuracy_threshold: no configuration reaches {sc.accuracy_threshold:g} % (the best is "
                         f"{best:g} %): the accuracy range of the front is empty")
    if not sc.requests:
        raise FrontError("requests: the step has no request, so its front is empty")


def loss_of(sc: Scenario, plan: Plan) -> float:
    """Σ over the served requests of the points of accuracy below the full model."""
    a0 = sc.configs[0].accuracy
    return float(sum(a0 - sc.configs[a.config].accuracy for a in plan.requests if a.served and a.config is not None))


def exact_front(sc: Scenario, k: int, opts: Options | None = None, energy_budget_j: float | None = None,
                progress: Callable[[int, Point], None] | None = None) -> Front:
    """Up to ``k`` proven points of the latency–accuracy front of one step (under ``energy_budget_j``
    joules of all devices when given), by the ε-constraint on the column generation's master;
    ``opts.time_limit`` is per point."""
    opts = opts or Options(time_limit=10.0)
    check(sc, k)
    t0 = time.perf_counter()
    lat = dataclasses.replace(sc, alpha=1.0, beta=0.0, energy_price=None)
    found: list[Point] = []
    eps: float | None = None
    targets: list[float] = []
    for i in range(k):
        root = Root(lat, opts, None, budgets={"loss": eps, "energy": energy_budget_j})
        best, bound = root.search()
        on_lat = root.finish("colgen", best, bound)
        plan = finish(sc, "colgen", on_lat.requests, solve_s=on_lat.solve_s or 0.0,
                      extra={"latency_gap": on_lat.gap, "latency_bound": on_lat.bound, "epsilon": eps})
        point = Point.of(plan, gap=on_lat.gap, loss_budget=eps, energy_budget_j=energy_budget_j)
        found.append(point)
        if progress is not None:
            progress(i, point)
        loss = loss_of(sc, plan)
        if i == 0:
            targets = [loss * (k - 1 - n) / (k - 1) for n in range(1, k)] if k > 1 else []
        if i + 1 >= k or not targets:
            break
        eps = min(targets[i], loss - STEP)
        if eps < -STEP / 2:
            break
        eps = max(eps, 0.0)
    most = max(p.served for p in found)
    if most == 0:
        budget = f" and an energy budget of {energy_budget_j:g} J" if energy_budget_j is not None else ""
        raise EmptyFront(f"no plan serves any of the {len(sc.requests)} request(s) within the devices' limits"
                         f"{budget} (memory, computation, batteries): the front is empty")
    kept = nondominated([p for p in found if p.served == most])
    off = [{"loss_budget": p.loss_budget, "served": p.served, "mean_accuracy": p.mean_accuracy,
            "mean_latency_s": p.mean_latency_s,
            "why": f"serves {p.served} of the {most} the front's points serve" if p.served < most else "dominated"}
           for p in found if p not in kept]
    points = kept
    flags = supported(points, sc.l_ref(), sc.configs[0].accuracy)
    points = [dataclasses.replace(p, supported=f) for p, f in zip(points, flags)]
    return Front(points, meta={"method": "colgen ε-constraint", "k": k, "solved": len(found), "not_on_front": off,
                               "time_s": time.perf_counter() - t0, "time_limit_per_point_s": opts.time_limit,
                               "rel_gap": opts.rel_gap, "energy_budget_j": energy_budget_j,
                               "scenario_sha256": sc.fingerprint()})


def weighted_sums(sc: Scenario, front: Front, alphas, opts: Options | None = None) -> list[dict]:
    """The proven optimum of Eq 5 at each α of ``alphas`` (β = 1 − α), under the front's energy budget when it
    has one, marked on ``front``: which of its points it is (None: not one of them — between two of them, or
    off the front when its β or α is 0 and ties in the other objective are left open). Sets ``Point.alphas``
    in place of the front's points."""
    out = []
    budget = front.meta.get("energy_budget_j")
    for a in alphas:
        a = float(a)
        scw = dataclasses.replace(sc, alpha=a, beta=round(1.0 - a, 12))
        root = Root(scw, opts or Options(time_limit=10.0), None, budgets={"loss": None, "energy": budget})
        best, bound = root.search()
        found = root.finish("colgen", best, bound)
        plan = finish(sc, "colgen", found.requests, solve_s=found.solve_s or 0.0)  # scored on the step as given
        p = Point.of(plan)
        at = next((n for n, q in enumerate(front.points) if _same(p, q)), None)
        if at is not None:
            front.points[at] = dataclasses.replace(front.points[at], alphas=front.points[at].alphas + (a,))
        out.append({"alpha": a, "beta": round(1.0 - a, 12), "mean_latency_s": p.mean_latency_s,
                    "mean_accuracy": p.mean_accuracy, "energy_j": p.energy_j, "served": p.served,
                    "gap": found.gap, "point": at, "energy_budget_j": budget})
    front.weighted_sum = out
    return out


def _same(p: Point, q: Point) -> bool:
    """The same point: as many served, the same accuracy, latencies within 0.1 % (both are proven only
    within their gaps, so two optima of one objective may differ by that much)."""
    return p.served == q.served and bool(np.isclose(p.mean_latency_s, q.mean_latency_s, rtol=1e-3, atol=1e-9)) \
        and bool(np.isclose(p.mean_accuracy, q.mean_accuracy, rtol=0, atol=1e-9))
