"""``colgen``: column generation and branch-and-price, with a proven bound (``adaptres.solvers.cg``).

A Dantzig–Wolfe reformulation of SPEC §5: each request chooses one whole plan (a configuration and
the device of every unit) or is left unserved; requests from one source share their plans.

1. Column generation at the root: the master LP on HiGHS (``cg.master``), the cheapest plans of every
   source under its prices by dynamic programming over units × devices for all configurations at
   once (``cg.pricing``; the prices smoothed toward those of the best bound so far), until no plan improves
   the LP; a Lagrangian bound at every round.
2. First plans: requests placed one after the other on what the devices have left (``cg.heuristics``), a
   dive from the LP fixing one plan at a time with columns generated after each fix, completed greedily
   where it gets stuck (``cg.diving``; on steps of at most ``DIVE_MAX_SOURCES`` sources), and the integer
   master on the plans generated (HiGHS' MIP, from the best of those plans); then, while the LP breaks them
   and the first plans are not within the gap, rounds of cuts over segment sizes (``cg.cuts``) and column
   generation again, each on an LP rid of the plans it prices out (``PURGE``: the cut rows make the master dense,
   and its LP solves were most of the cut rounds' time).
3. While the gap is open, the integer master over the root LP's cheapest plans, a few hundred more at each
   rung (``cg.ladder``, for ``LADDER_SHARE`` of the time left). Then a proof by listing: every plan that a
   solution within bound + room could use, then the integer master on them from the incumbent
   (``cg.tree.close_gap``), the room growing while the list stays short (past half the gap: to the incumbent
   at once; on steps the neighbourhood search runs on, to at least ``LIST_MIN`` columns before the first integer
   master, which then feed the search).
4. While the gap is open, a large-neighbourhood search (``cg.neighbourhood``): the integer master with a few
   related sources free and the others held at the incumbent (a model of the free sources' columns alone, with
   the columns its own LP's prices make), round after round, for ``LNS_SHARE`` of the time left — at N = 50
   devices the whole integer master finds little in the time it has, a small one much more.
5. Branch-and-price (``cg.tree``) until the plan is within ``rel_gap`` of the bound, ``max_nodes`` nodes
   (with ``max_nodes`` also the integer master's node limit: a deterministic budget) or time is up.

The bound and the gap are always reported; ``status`` is ``optimal`` only within ``rel_gap``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..problem.bounds import relative_gap
from ..problem.formulas import UNSERVED_PENALTY
from ..problem.plan import unserved
from ..problem.scenario import Scenario
from . import HIGHS_OPTIONS, Options, finish, register
from .cg import ladder, neighbourhood, pool
from .cg.data import Arrays, Column
from .cg.diving import dive
from .cg.generation import Clock, generate, seed_columns
from .cg.heuristics import greedy
from .cg.integer import MipResult, plan_of
from .cg.keys import UnservedCol
from .cg.master import Master
from .cg.pricing import Pricer, Prices
from .cg.tree import HEURISTIC_KEEP, branch_and_price, close_gap, split_on_served

ROOT_SHARE = 0.75  # of the time limit the root's column generation may take (with its cut rounds)
MIP_SHARE = 0.2  # of the time left, for the first integer master
CUT_ROUNDS = 20  # rounds of cuts over segment sizes at the root at most
CUT_SHARE = 0.75  # of the time limit, after which no cut round starts
# at N = 100, R = 50 the cut rounds raise the bound by ~1.5 %, more than the plans the time would otherwise find; they
# took ~45 s of a 60-s limit, unfinished, until the LP was purged between them (now 22-34 s); at N = 50 they end
# within ~15 s whatever the shares
PURGE = 0.0005  # before each cut round, plans at zero with a reduced cost above PURGE × |the bound| are deleted from
# the LP (0: none). At N = 100, R = 50 the LP had grown to ~16 000 columns and ~480 000 nonzeros by its eighth round,
# and the rounds ran out of the root's time unfinished; purged, it keeps ~5 000 columns and the rounds end in 22-34 s
LADDER_SHARE = 0.3  # of the time left after the root, for the integer master over its cheapest plans (0: none)
LNS_SHARE = 0.7  # of the time left after the proof by listing, for the neighbourhood search (0: none)
LIST_MIN = 3000  # on steps the neighbourhood search runs on, the columns a list grows to (its room fourfold at a
# time) before its integer master is solved: the columns then feed the search. On 224-px steps of N = 50 devices and
# R = 20 requests a list of ~800 columns gave plans 0.1-0.15 % worse than one of ~8 000 (one growth step past
# 3 000); on a front's small steps the integer master over the whole list is the search, and a longer list only
# slowed its proofs (one front 5 -> 44 s)
DIVE_SHARE = 0.15  # of the time left, for a dive from the LP before the first integer master (0: none)
# a dive fixes one source's plan at a time, with column generation after each fix: on a step of more sources it
# did not end within its share and its plan was worse than the integer master's (N = 100, R = 50, ~40 sources),
# while the root's cut rounds, cut short, left the bound 1.5 % low; there the time goes to the cuts
DIVE_MAX_SOURCES = 30


def better(master: Master, res: MipResult, counts: dict | None) -> MipResult:
    """The integer master's result, or ``counts`` (a plan found before) when those cost less."""
    if counts is not None and (res.objective is None or master.value(counts) < res.objective):
        return MipResult(res.status, master.value(counts), res.bound, counts)
    return res


def first_plans(ar, pricer, master, prices, clock: Clock, mip, log: dict, mip_s: float | None = None,
                allow_unserved: bool = True, dive_s: float = 0.0) -> MipResult:
    """The best of the greedy plans (under the root's prices and under none, requests in order and in
    reverse), a dive from the LP (``dive_s`` seconds at most; none at 0) and the integer master."""
    plans = [greedy(ar, pricer, master, p, clock.deadline(0.5 * clock.left()), reverse)
             for p in (prices, Prices.zero(ar.N)) for reverse in (False, True)]
    plans = [p for p in plans if p is not None and master.within_budgets(p) and (allow_unserved or all(
        not isinstance(master.columns[c], UnservedCol) for c in p))]
    counts = min(plans, key=master.value) if plans else None
    log["greedy"] = None if counts is None else master.value(counts)
    if dive_s > 0:
        dived = dive(ar, pricer, master, dive_s, log, allow_unserved)
        log["dive"]["objective"] = None if dived is None else dived.objective
        if dived is not None and (counts is None or dived.objective < master.value(counts)):
            counts = dived.counts
    return better(master, mip(MIP_SHARE * clock.left() if mip_s is None else mip_s, HEURISTIC_KEEP, counts), counts)


class Root:
    """A step's root: its arrays, pricing, master (with the root's columns) and the root's bound. With
    ``budgets`` (``Master.set_budgets``' keywords) the master has a front's budget rows; ``cuts``: rounds of
    cuts over segment sizes after the first convergence (``generate``); ``dive``: the first plans include a
    dive from the LP (``cg.diving``, ``DIVE_SHARE`` of the time left)."""

    def __init__(self, sc: Scenario, opts: Options, start, root_share: float = ROOT_SHARE,
                 budgets: dict | None = None, cuts: bool = True, dive: bool = True):
        self.opts, self.cuts, self.dive = opts, cuts, dive
        self.ar = Arrays(sc)
        self.pricer, self.master = Pricer(self.ar), Master(self.ar, opts.threads, budgets=budgets is not None)
        if budgets is not None:
            self.master.set_budgets(**budgets)
        seed_columns(self.ar, self.pricer, self.master, start)
        self.generate(root_share)

    def generate(self, root_share: float = ROOT_SHARE) -> None:
        """The root's column generation, its clock started now (``opts.time_limit``); with ``cuts``, then rounds
        of cuts over segment sizes (``cg.cuts``) and column generation again, the first plans found before them."""
        self.clock = Clock(self.opts.time_limit)
        self.log: dict[str, Any] = {"lp_solves": 0, "root_converged": False, "nodes": 0}
        stop_at = (1 - root_share) * self.opts.time_limit
        _, self.node, self.log["root_converged"] = generate(self.ar, self.pricer, self.master, self.clock, stop_at,
                                                           self.log)
        self.log["cuts"], self.early = 0, None
        for _ in range(CUT_ROUNDS if self.cuts else 0):  # cuts over segment sizes while the LP breaks some
            if not self.log["root_converged"] or self.clock.elapsed() > CUT_SHARE * self.opts.time_limit:
                break
            new = self.master.violated()
            if not new:
                break
            if self.early is None:  # the first plans on the columns before any cut: a smaller integer master
                self.early = self.first_plans()
                if self.early.objective is not None and self.early.objective - self.node[0] <= \
                        self.opts.rel_gap * abs(self.early.objective):
                    break  # already within the gap: no cut needed
            if PURGE:  # the plans the LP has priced out, deleted: a smaller LP for the cut rounds
                self.purge(PURGE * abs(self.node[0]))
            self.master.add_cuts(new)
            self.log["cuts"] += len(new)
            _, node, converged = generate(self.ar, self.pricer, self.master, self.clock, stop_at, self.log)
            self.node = max(self.node, node, key=lambda n: n[0])
            if not converged:  # out of the root's time: the last converged round's prices stand (still valid)
                break
        self.log["root_bound"] = None if self.node[0] == -np.inf else float(self.node[0])
        self.log["root_s"] = self.clock.elapsed()

    def purge(self, room: float) -> None:
        """``pool.purge``, the first plans' columns kept (their counts mapped to the new indices)."""
        protect = set(self.early.counts) if self.early is not None else set()
        new = pool.purge(self.master, room, protect)
        if new is not None and self.early is not None:
            self.early = MipResult(self.early.status, self.early.objective, self.early.bound,
                                   {int(new[c]): n for c, n in self.early.counts.items()})

    def search(self) -> tuple[MipResult, float]:
        """From the root to a plan and a proven bound: the first plans, the split on the number served, the
        proof by listing, then the neighbourhood search and branch-and-price while the gap is open and time is
        left."""
        ar, pricer, master, clock, log, opts = self.ar, self.pricer, self.master, self.clock, self.log, self.opts
        best, bound = self.early or self.first_plans(), self.node[0]

        def open_gap() -> bool:  # time left, and the plan not yet within rel_gap of the bound
            return clock.left() > 0 and best.objective is not None \
                and best.objective - bound > opts.rel_gap * abs(best.objective)
        if bound > -np.inf and clock.left() > 0 and log["root_converged"]:
            if LADDER_SHARE and open_gap():
                best = ladder.climb(master, best, self.mip, clock.deadline((1 - LADDER_SHARE) * clock.left()), log)
            nodes = split_on_served(ar, pricer, master, clock, self.node, log)
            bound = max(bound, min(n[0] for n in nodes))
            best, bound = close_gap(ar, pricer, master, nodes, bound, best, self.mip, clock, opts.rel_gap, log,
                                    LIST_MIN if neighbourhood.runs_on(ar) else 0)
            if LNS_SHARE and open_gap():
                best = neighbourhood.search(ar, master, best, self.mip, clock.deadline((1 - LNS_SHARE) * clock.left()),
                                            log, pricer)
            if open_gap():
                best, tree_bound = branch_and_price(ar, pricer, master, clock, bound, best, self.mip, opts.rel_gap,
                                                    log, opts.max_nodes, opts.allow_unserved)
                bound = max(bound, tree_bound)
        return best, bound

    def mip(self, seconds: float, keep: int | None = None, start: dict | None = None,
            free: set | None = None) -> MipResult:
        o = self.opts
        return self.master.mip(max(seconds, 1e-3), rel_gap=o.rel_gap, max_nodes=o.max_nodes,
                               allow_unserved=o.allow_unserved, options=o.highs, keep=keep, start=start, free=free)

    def first_plans(self, mip_s: float | None = None) -> MipResult:
        """The greedy plans and the integer master on the root's columns (``mip_s`` seconds; default a
        share of the time left)."""
        return first_plans(self.ar, self.pricer, self.master, self.node[1], self.clock, self.mip, self.log, mip_s,
                           self.opts.allow_unserved, DIVE_SHARE * max(self.clock.left(), 0.0)
                           if self.dive and len(self.ar.sources) <= DIVE_MAX_SOURCES else 0.0)

    def finish(self, method: str, best: MipResult, bound: float):
        self.log["columns"] = sum(isinstance(c, Column) for c in self.master.columns)
        sc = self.ar.sc
        plan = plan_of(self.ar, self.master, best.counts) if best.objective is not None else unserved(len(sc.requests))
        return _finish(sc, method, plan, bound, self.opts, self.clock, self.log)


def nothing_allowed(sc: Scenario, method: str):
    """No configuration meets the threshold: nothing can be served (proven)."""
    return finish(sc, method, unserved(len(sc.requests)), status="optimal", solve_s=0.0,
                  bound=UNSERVED_PENALTY * len(sc.requests), gap=0.0)


def _words(o: Options) -> str:
    return (f"column generation (proven bounds), to a {o.rel_gap:g} gap, {o.time_limit:g} s/step"
            + (f", {o.max_nodes} nodes" if o.max_nodes is not None else ""))


@register("colgen", proven=True, options=HIGHS_OPTIONS, start_from="relaxed", describe=_words)
def solve(sc: Scenario, opts: Options, start=None):
    """Solve one step by column generation and branch-and-price; the plan carries the proven bound."""
    if not sc.allowed_configs():
        return nothing_allowed(sc, "colgen")
    root = Root(sc, opts, start)
    return root.finish("colgen", *root.search())


def _finish(sc, method, plan, bound, opts, clock, log):
    """Score the plan; the gap is the evaluator's objective against the proven bound."""
    log["lagrangian_bound"] = None if bound == -np.inf else float(bound)
    fin = finish(sc, method, plan, solve_s=clock.elapsed(), extra=log)
    assert fin.objective is not None  # finish always scores the plan
    b = None if bound == -np.inf else min(float(bound), fin.objective)
    gap = None if b is None else relative_gap(sc, fin.objective, b)
    out_of_time = clock.left() <= 0.05 * opts.time_limit
    status = "optimal" if gap is not None and gap <= opts.rel_gap and fin.metrics["violations"] == 0 else \
        ("time_limit" if out_of_time else fin.status)
    return finish(sc, method, plan, solve_s=clock.elapsed(), status=status, bound=b, gap=gap, extra=log)
