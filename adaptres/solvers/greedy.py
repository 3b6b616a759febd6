"""``greedy``: requests placed one after the other, each on its cheapest plan given the ones before it.

Each request in turn takes the configuration and placement of least cost (its share of Eq 5, the
scenario's price of energy) that fits what the requests before it left of the devices (Eqs 13, 14,
17), found by the column generation's pricing pass (a shortest path over units × devices,
``cg.heuristics.place``); the devices it computes on then have that much more work before the next
request (its seconds are added to their backlog, ``Scenario.ready_s``), so that an epoch's requests
spread over the devices instead of queueing on the fastest. A request that fits nowhere is left
unserved. Fast (a pricing pass per request) and without a bound: the adaptive policy's planner under
load, where the planner's time is part of every request's latency.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from ..problem.plan import UNSERVED, Assignment
from ..problem.scenario import Scenario
from . import Options, finish, register
from .cg.data import MB, Arrays
from .cg.heuristics import place
from .cg.keys import RESOURCES
from .cg.pricing import Pricer, Prices


@register("greedy", options=("time_limit",), describe=lambda o: "requests placed one after the other (greedy)")
def solve(sc: Scenario, opts: Options, start=None):
    """Place the requests in order (see the module's docstring)."""
    t0 = time.perf_counter()
    names = sc.unit_names
    if not sc.allowed_configs():
        return finish(sc, "greedy", [UNSERVED] * len(sc.requests), solve_s=time.perf_counter() - t0,
                      extra={"reason": "no configuration meets the accuracy threshold"})
    ar = Arrays(sc)
    pricer = Pricer(ar)
    prices = Prices.zero(ar.N)
    used = {kind: np.zeros(ar.N) for kind in RESOURCES}
    wait = np.array(ar.kernel.wait_s, dtype=float)
    out = []
    for q in sc.requests:
        if time.perf_counter() - t0 > opts.time_limit:
            out.append(UNSERVED)
            continue
        here = ar.residual(used)
        here.kernel = copy.copy(ar.kernel)
        here.kernel.wait_s = wait
        col = place(pricer.on(here), prices, ar.sources.index(q.source))
        if col is None:
            out.append(UNSERVED)
            continue
        _, use = ar.column(col)
        for kind in RESOURCES:
            for i, v in use[kind].items():
                used[kind][i] += v
        if ar.shared:  # the weights too, per request (a safe bound)
            for j, i in enumerate(col.place):
                used["memory"][i] += ar.weight[j, int(ar.drop[col.k, j])] / MB
        wait = wait.copy()
        for j, i in enumerate(col.place):
            wait[i] += ar.kernel.compute_s[j, int(ar.drop[col.k, j]), i]
        out.append(Assignment(True, int(col.k), dict(zip(names, (int(i) for i in col.place)))))
    return finish(sc, "greedy", out, solve_s=time.perf_counter() - t0)
