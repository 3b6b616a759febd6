"""Branch-and-price: the column generation inside a best-first search tree, until the gap is closed.

A node restricts the number of requests served (first, while the LP serves a fractional number: the
unserved penalty dominates the objective) or, for a source s and a unit j, how many of s's requests
run unit j on device i, or drop unit j (aggregated flows, Vanderbeck's branching for identical
subproblems). Each restriction is a row of the master whose dual the pricing reads (a uniform shift,
a price on unit j at device i, a price on dropping unit j), so the pricing stays a shortest path. Every node's bound
is a Lagrangian bound (valid even when its generation is cut short); the step's bound is the least of
the open nodes'. The integer master on the columns found so far is solved now and then for plans.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np

from ...problem.formulas import UNSERVED_PENALTY
from .generation import Clock, generate
from .integer import MipResult
from .keys import ARTIFICIAL, LoadedCol, UnservedCol

HEURISTIC_EVERY = 25  # nodes between two integer-master solves on the columns found so far
ENUMERATE_CAP = 20_000  # columns listed to close a gap at most (a front's proofs list up to ~7 000; at N = 100, R = 50
# a first list of 79 000 took 17 s and 1.4 GB, and its integer master proved nothing)
ENUMERATE_SHARE = 0.2  # of the time left that listing columns and their integer master may take (all once complete)
COMPLETE_FROM = 0.5  # share of the gap past which the room goes straight to the incumbent (the whole step listed)
HEURISTIC_KEEP = 1500  # plans of least reduced cost a heuristic integer master chooses among (all, when fewer)


@dataclass(order=True)
class Node:
    """A node of the branch-and-price tree, ordered by its parent's LP bound (then by when it was made): the
    number of requests served between ``served`` (lo, hi), and ``arcs`` (s, j, i) -> (lo, hi) requests of
    source s that run unit j on device i (i = −1: drop it)."""

    bound: float
    seq: int
    served: tuple = field(compare=False)
    arcs: dict = field(compare=False)


def integral(master, allow_unserved: bool = True, shares: bool = True) -> dict | None:
    """The LP's solution as counts when it is integer and uses no artificial column (nor leaves a
    request unserved where that is not allowed), else None. ``shares=False``: the weights' shares
    (``LoadedCol``) may stay fractional and are left out of the counts (the evaluator then decides)."""
    counts = {}
    for c, v in enumerate(master.x):
        if not shares and isinstance(master.columns[c], LoadedCol):
            continue
        if abs(v - round(v)) > 1e-6:
            return None
        if round(v) >= 1:
            what = master.columns[c]
            if what is ARTIFICIAL or (not allow_unserved and isinstance(what, UnservedCol)):
                return None
            counts[c] = int(round(v))
    return counts


def flows(master) -> dict:
    """The master LP's (s, j, i) -> how many requests of source s run unit j on device i (i = −1: drop it)."""
    out: dict = {}
    x = master.x
    for cols in master.by_source:
        for c in cols:
            v = x[c]
            if v > 1e-9:
                for key in master.arc_keys(master.columns[c]):
                    out[key.s, key.j, key.i] = out.get((key.s, key.j, key.i), 0.0) + v
    return out


def unserved_lp(master) -> float:
    """How many requests the master LP's solution leaves unserved (Σ u)."""
    x = master.x
    return float(sum(x[c] for c, what in enumerate(master.columns) if isinstance(what, UnservedCol)))


def children(master, node: Node, ar) -> list[Node] | None:
    """The two children of a node whose LP is fractional (None when there is nothing to branch on)."""
    x = master.x
    served = float(sum(x[c] for cols in master.by_source for c in cols))
    lo, hi = node.served
    if abs(served - round(served)) > 1e-6:
        f = int(np.floor(served))
        return [Node(node.bound, 0, (lo, min(hi, f)), node.arcs), Node(node.bound, 0, (max(lo, f + 1), hi), node.arcs)]
    frac = {k: v for k, v in flows(master).items() if abs(v - round(v)) > 1e-6}
    if not frac:
        return None
    key = min(frac, key=lambda k: (abs(frac[k] - np.floor(frac[k]) - 0.5), k))
    f = int(np.floor(frac[key]))
    a_lo, a_hi = node.arcs.get(key, (0, int(ar.n_s[key[0]])))
    down, up = dict(node.arcs), dict(node.arcs)
    down[key], up[key] = (a_lo, min(a_hi, f)), (max(a_lo, f + 1), a_hi)
    return [Node(node.bound, 0, node.served, down), Node(node.bound, 0, node.served, up)]


def branch_and_price(ar, pricer, master, clock: Clock, root_bound: float, best: MipResult, mip, rel_gap: float,
                     log: dict, max_nodes: int | None = None, allow_unserved: bool = True) -> tuple[MipResult, float]:
    """Search the tree from the root (whose columns are generated) until the incumbent is within
    ``rel_gap`` of the least open bound, ``max_nodes`` nodes were explored (a deterministic budget) or
    time is up. Returns the incumbent and the proven bound."""
    heap, seq, explored = [Node(root_bound, 0, (0, ar.R), {})], 1, 0
    stuck: list[Node] = []

    def done(bound):
        return best.objective is not None and best.objective - bound <= rel_gap * abs(best.objective)
    while heap and clock.left() > 0 and not done(min([heap[0].bound] + [n.bound for n in stuck])) \
            and (max_nodes is None or explored < max_nodes):
        node = heapq.heappop(heap)
        master.set_node(node.served, node.arcs)
        status, found, converged = generate(ar, pricer, master, clock, 0.0, log)
        explored += 1
        node.bound = max(node.bound, found[0])
        if status != "optimal" or not converged:
            heapq.heappush(heap, node)  # cut short: still open
            break
        if best.objective is not None and node.bound >= best.objective - rel_gap * abs(best.objective):
            continue
        counts = integral(master, allow_unserved)
        if counts is not None:
            if best.objective is None or master.value(counts) < best.objective:
                best = MipResult("optimal", master.value(counts), None, counts)
            continue
        kids = children(master, node, ar)
        if kids is None:  # integer flows from a fractional mix of columns: left open, its bound counts
            stuck.append(node)
        for child in kids or []:
            child.seq, seq = seq, seq + 1
            heapq.heappush(heap, child)
        if explored % HEURISTIC_EVERY == 0:
            master.set_node((0, ar.R), {})
            found_plan = mip(min(clock.left() * 0.2, 5.0), HEURISTIC_KEEP, start=best.counts)
            if found_plan.objective is not None and (best.objective is None or found_plan.objective < best.objective):
                best = found_plan
    master.set_node((0, ar.R), {})
    log["nodes"], log["open_nodes"] = explored, len(heap)
    bound = min([n.bound for n in heap + stuck], default=np.inf)
    if best.objective is not None:
        bound = min(bound, best.objective)
    return best, bound



def split_on_served(ar, pricer, master, clock: Clock, root, log: dict) -> list:
    """When the root's LP serves a fractional number S of requests, generate columns in the two branches
    (at most ⌊S⌋ served, at least ⌈S⌉): the bound is the lesser of theirs. Returns the branches'
    (bound, prices, floors), or the root's alone when S is whole or a branch was cut short."""
    served = ar.R - unserved_lp(master)
    if abs(served - round(served)) <= 1e-6 or clock.left() <= 0:
        return [root]
    nodes = []
    for lo, hi in ((0, int(np.floor(served))), (int(np.ceil(served)), ar.R)):
        master.set_node((lo, hi), {})
        _, node, converged = generate(ar, pricer, master, clock, 0.0, log)
        nodes.append(node if converged else (-np.inf, None, None))
    master.set_node((0, ar.R), {})
    log["served_branches"] = [float(n[0]) for n in nodes]
    return [root] if any(n[0] == -np.inf for n in nodes) else nodes


def list_within(ar, pricer, master, nodes: list, target: float, deadline: float) -> int | None:
    """Add every column that a plan of value at most ``target`` could use: in a branch of bound b, a
    source's column costs at most its floor + (target − b) at the branch's prices. Returns how many
    were listed (None: more than ``ENUMERATE_CAP``, or out of time)."""
    found: list = []
    for bound, prices, floors in nodes:
        if bound > target:
            continue
        shared: dict = {}
        for s in range(len(ar.sources)):
            cols = pricer.enumerate(prices, s, min(UNSERVED_PENALTY, floors[s]) + target - bound,
                                    ENUMERATE_CAP - len(found), deadline, shared)
            if cols is None:
                return None
            found += [col for _, col in cols]
    master.add_many(found)  # all or none: a partial list proves nothing and only slows the master
    return len(found)


def widest_list(ar, pricer, master, nodes: list, bound: float, room: float, incumbent: float,
                deadline: float, list_min: int = 0) -> tuple[int | None, float, float]:
    """``list_within`` at ``bound`` + ``room``, the room growing fourfold while the list is shorter than
    ``list_min`` columns (past ``COMPLETE_FROM`` of the gap: to the incumbent at once). Returns the widest list's
    length (None: not even the first was made), room and target."""
    made: tuple = (None, room, bound + room)
    while True:
        if room >= COMPLETE_FROM * (incumbent - bound):  # most of the way: the partial list would be about
            room = incumbent - bound  # as long as the whole one, and its integer master as slow
        target = min(bound + room, incumbent)
        listed = list_within(ar, pricer, master, nodes, target, deadline)
        if listed is None:  # over the cap or out of time: the last list made stands (its columns are in)
            return made
        made = (listed, room, target)
        if listed >= list_min or target >= incumbent:
            return made
        room *= 4


def close_gap(ar, pricer, master, nodes: list, bound: float, best: MipResult, mip, clock: Clock, rel_gap: float,
              log: dict, list_min: int = 0) -> tuple[MipResult, float]:
    """Raise the bound and lower the incumbent together: list every column a plan worth at most
    ``target`` = bound + room could use (``widest_list``, at least ``list_min`` columns while the room is short of
    the incumbent) and solve the integer master on them. Its optimum, when at most the target, is the step's
    optimum; otherwise no plan is worth less than the target, which becomes the bound. The room starts small and
    grows fourfold while ``ENUMERATE_CAP`` and time allow, and goes straight to the incumbent once it is past
    ``COMPLETE_FROM`` of the gap; there the integer master is the whole step and may take all the time left."""
    room = max(1e-4 * abs(bound), 1e-9)
    deadline = clock.deadline((1 - ENUMERATE_SHARE) * clock.left())
    log["listed"] = 0
    while best.objective is not None and best.objective - bound > rel_gap * abs(best.objective) \
            and time.perf_counter() < deadline:
        listed, room, target = widest_list(ar, pricer, master, nodes, bound, room, best.objective, deadline, list_min)
        if listed is None:
            break
        log["listed"] = listed
        # with the incumbent as the target every column a better plan could use is listed: the integer master is
        # then the whole step, and it gets the time left (a tree over a master that large went slower)
        complete = target >= best.objective
        found = mip((clock.deadline() if complete else deadline) - time.perf_counter(), start=best.counts)
        if found.bound is not None:  # HiGHS' bound on the listed columns
            bound = max(bound, min(target, found.bound))
        if found.objective is not None and found.objective < best.objective:
            best = found
        if complete:  # nothing more to list: what the integer master proved in the time left is all there is
            break
        room *= 4
    return best, bound
