"""``colgen_round``: the column-generation LP rounded — the paper's relaxation + Algorithm 1 idea on a
far tighter LP, and no search (a heuristic with a bound).

The root of ``colgen`` (column generation until no plan improves the LP), then its first plans: the
requests placed one after the other on what the devices have left, under the LP's prices and under
none, and the integer master on the columns generated, within ``ROUND_MIP_S`` seconds. The bound is
the root's; ``status`` is ``optimal`` only when the plan meets it within ``rel_gap``.
"""

from __future__ import annotations

from ..problem.scenario import Scenario
from . import HIGHS_OPTIONS, Options, register
from .colgen import Root, nothing_allowed

ROOT_SHARE = 0.8  # of the time limit the root's column generation may take
ROUND_MIP_S = 1.0  # seconds for the integer master at most


@register("colgen_round", options=HIGHS_OPTIONS, start_from="relaxed",
          describe=lambda o: "the column-generation LP rounded (colgen_round, with a bound)")
def solve(sc: Scenario, opts: Options, start=None):
    """The root's column generation, then the greedy plans and a short integer master."""
    if not sc.allowed_configs():
        return nothing_allowed(sc, "colgen_round")
    root = Root(sc, opts, start, ROOT_SHARE, cuts=False, dive=False)  # the sweeps' rounding: the LP as it was, quick
    clock = root.clock
    best = root.first_plans(min(ROUND_MIP_S, max(clock.left(), 0.0)))
    return root.finish("colgen_round", best, root.node[0])
