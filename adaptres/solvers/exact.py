"""``exact``: the MILP (SPEC §5, ``adaptres.solvers.milp``) solved by HiGHS to ``rel_gap``.

With ``warm_start``, HiGHS starts from the relaxed method's plan: the caller's ``start`` when it
has one (its time then counts in this solve's), else computed here through the registry.
"""

from __future__ import annotations

import time

from ..problem.bounds import relative_gap
from ..problem.plan import unserved
from ..problem.scenario import Scenario
from . import HIGHS_OPTIONS, Options, finish, register
from . import solve as solve_with
from .milp import build_model, extract_plan, highs, served_bound, start_values, too_large


def _words(o: Options) -> str:
    return (f"exact MILP{', warm-started from Algorithm 1' if o.warm_start else ''}, to a {o.rel_gap:g} gap, "
            f"{o.time_limit:g} s/step" + (f", {o.max_nodes} nodes" if o.max_nodes is not None else ""))


@register("exact", proven=True, options=(*HIGHS_OPTIONS, "warm_start", "tee"), start_from="relaxed",
          start_counted=True, describe=_words)
def solve(sc: Scenario, opts: Options, start=None):
    """Solve one step exactly; the plan carries HiGHS' status, best bound and relative gap."""
    t0 = time.perf_counter()
    if not opts.warm_start:
        start = None
    elif start is not None:
        t0 -= start.solve_s or 0.0
    else:
        start = solve_with(sc, "relaxed", opts)
    left = opts.time_limit - (time.perf_counter() - t0)
    reason = too_large(sc, left)
    if reason is not None:  # declined: the start's plan if it has one, else every request unserved
        plan = start.requests if start is not None and start.metrics.get("violations") == 0 else unserved(len(sc.requests))
        return finish(sc, "exact", plan, status="too_large", solve_s=time.perf_counter() - t0, extra={"reason": reason})
    tb = time.perf_counter()
    m = build_model(sc, allow_unserved=opts.allow_unserved, max_served=served_bound(sc) if opts.allow_unserved else None)
    now = time.perf_counter()
    build_s = now - t0
    options = {**opts.highs, **({} if opts.max_nodes is None else {"mip_max_nodes": int(opts.max_nodes)})}
    # HiGHS gets what is left once the model is handed over (less than as long again as building it)
    res = highs.run(m, max(opts.time_limit - build_s - (now - tb), 1e-3), opts.rel_gap, opts.threads, opts.tee,
                    start=start_values(sc, m, start) if start is not None else None, options=options)
    solve_s = time.perf_counter() - t0
    if not res.has_solution:
        return finish(sc, "exact", unserved(len(sc.requests)), status=res.status, solve_s=solve_s,
                      extra={"build_s": build_s})
    bound = eq5_bound(sc, res.bound)
    gap = None
    if bound is not None and res.incumbent is not None and res.bound is not None:
        gap = relative_gap(sc, res.incumbent, res.bound)
    return finish(sc, "exact", extract_plan(sc, m), status=res.status, solve_s=solve_s, bound=bound, gap=gap,
                  extra={"build_s": build_s, "solver_objective": res.incumbent})


def eq5_bound(sc: Scenario, bound: float | None) -> float | None:
    """A lower bound of Eq 5 from HiGHS' bound of the model's objective: with α = 0 the model adds
    ``ALPHA_ZERO_EPS`` · L̂ (latency breaks ties), so its bound may exceed Eq 5's optimum by that much at most;
    L̂ is at most the slowest placement's latency (every unit on its slowest device, every transfer over the
    slowest link, every wait) over L_ref."""
    if bound is None or sc.alpha > 0:
        return bound
    from .milp.objective import ALPHA_ZERO_EPS
    k, J = sc.kernel, len(sc.units)
    slowest = sum(float(k.compute_s[j].max()) + float(k.hop_s(j).max()) for j in range(J)) + float(k.wait_s.sum()) * J
    return max(0.0, bound - ALPHA_ZERO_EPS * slowest / sc.l_ref())
