"""The restricted master solved with integer columns (``Master.mip``), and its counts of columns as a plan."""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from ...problem.plan import UNSERVED, Assignment
from .._highs_thread import new_highs, run_within, status
from .data import Arrays, Column
from .keys import ARTIFICIAL, INF, SERVED, LoadedCol, UnservedCol


@dataclass
class MipResult:
    """The integer master's answer: HiGHS' status, the objective of its plan (recomputed from the
    counts), its dual bound (None for a heuristic's) and the plan as counts of columns."""

    status: str  # optimal, time_limit, node_limit, infeasible, ...
    objective: float | None
    bound: float | None
    counts: dict  # column index -> how many requests take it


def mip(master, time_limit: float, rel_gap: float, max_nodes: int | None = None, allow_unserved: bool = True,
        options: dict | None = None, keep: int | None = None, start: dict | None = None,
        free: set | None = None) -> MipResult:
    """``master`` (a ``Master``) with integer columns (a copy of the LP; the LP stays as it is). ``start``
    (counts of columns, a plan found before) is given to HiGHS as its first incumbent; the objective is
    recomputed from the solution either way (HiGHS 1.16 with presolve once reported a start's plan at a wrong
    objective, 10.0 for 10.30). With ``keep``, a heuristic: only the ``keep`` plans of least reduced cost at
    the last LP, the start's and the unserved counts may be taken, and no bound is reported. With ``free``,
    a neighbourhood: the sources not in ``free`` keep the start's counts (none without one), in a model of the free
    sources' columns alone (``neighbourhood_model``), which HiGHS presolves."""
    m = new_highs()
    if free is not None:  # a neighbourhood: a model of the free sources' columns alone
        sub, kept, held, _ = neighbourhood_model(master, free, start or {}, allow_unserved)
        m.passModel(sub)
    else:
        whole_model(m, master, allow_unserved)
        kept, held = None, {}
    n = len(master.columns)
    plans = [c for c, what in enumerate(master.columns) if isinstance(what, Column)]
    if keep is not None and len(plans) > keep and free is None:
        dj = np.asarray(master.h.getSolution().col_dual)
        dj = np.concatenate([dj, np.zeros(n - len(dj))])  # columns added since the LP: reduced cost unknown, 0
        drop = np.array(plans)[np.argsort(dj[plans], kind="stable")[keep:]]
        drop = drop[[int(c) not in (start or {}) for c in drop]]  # the start's plans stay
        m.changeColsBounds(len(drop), drop.astype(np.int32), np.zeros(len(drop)), np.zeros(len(drop)))
    # presolve off (but in a neighbourhood, where most columns are fixed): HiGHS' presolve of a master with tens of
    # thousands of columns ran 40 s past a 5-s limit and cannot be interrupted; the branch-and-bound can
    # (``run_within``)
    # symmetry detection off: the plans of different sources and devices are seldom symmetric, and finding that out
    # took HiGHS longer than its search on masters of thousands of listed columns (a front's integer master of
    # ~6 700 columns took 40 % less time without it, to the same plan)
    opts = {"time_limit": max(float(time_limit), 1e-3), "mip_rel_gap": float(rel_gap),
            "threads": master.threads, "random_seed": 0, "presolve": "off" if free is None else "on",
            "mip_detect_symmetry": False,
            **(options or {})}
    if max_nodes is not None:
        opts["mip_max_nodes"] = int(max_nodes)
    for key, v in opts.items():
        m.setOptionValue(key, v)
    if start is not None:
        cols = np.arange(n) if kept is None else kept
        pos = np.array([k for k, c in enumerate(cols) if not isinstance(master.columns[c], LoadedCol)], dtype=np.int32)
        m.setSolution(len(pos), pos, np.array([float(start.get(int(cols[k]), 0)) for k in pos]))
    run_within(m, opts["time_limit"])
    info = m.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.asarray(m.getSolution().col_value) if has else np.zeros(0)
    counts = {int(c if kept is None else kept[c]): int(round(v)) for c, v in enumerate(values) if round(v) >= 1}
    counts.update(held)
    bound = info.mip_dual_bound if keep is None or len(plans) <= keep else None
    return MipResult(status(m), master.value(counts) if has else None, bound, counts)


def whole_model(m, master, allow_unserved: bool) -> None:
    """Pass ``m`` (a new HiGHS instance) the master with integer columns: the rows only the LP needs (cuts,
    branching rows) unbound, the columns no integer plan may take (``fits``, the artificial one, unserved ones
    when not allowed) at zero."""
    m.passModel(master.h.getLp())
    n = len(master.columns)
    m.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
    m.changeRowBounds(master.row[SERVED], 0.0, float(master.ar.R))
    free_rows = lp_only(master)
    m.changeRowsBounds(len(free_rows), free_rows, np.full(len(free_rows), -INF), np.full(len(free_rows), INF))
    barred = np.flatnonzero(closed(master, allow_unserved)).astype(np.int32)
    m.changeColsBounds(len(barred), barred, np.zeros(len(barred)), np.zeros(len(barred)))


def lp_only(master) -> np.ndarray:
    """The rows only the LP needs: the cuts (valid for every integer plan) and the branching rows (a node's
    restrictions, not the step's)."""
    arcs = [master.row[key] for keys in master.arc_rows.values() for key in keys]
    return np.concatenate([np.asarray(master.cut_rows, dtype=np.int32), np.array(arcs, dtype=np.int32)])


def closed(master, allow_unserved: bool) -> np.ndarray:
    """Per column of the master: whether no integer plan may take it (it does not fit on its own, the artificial
    one, an unserved one when every request must be served)."""
    return np.array([not master.fits[c] or what is ARTIFICIAL or (not allow_unserved and isinstance(what, UnservedCol))
                     for c, what in enumerate(master.columns)], dtype=bool)


def columns(h, cols: np.ndarray, n_rows: int) -> sp.csc_matrix:
    """Columns ``cols`` (increasing) of HiGHS instance ``h``'s constraint matrix (rows × len(cols)), fetched alone."""
    if not len(cols):
        return sp.csc_matrix((n_rows, 0))
    _, start, index, value = h.getColsEntries(len(cols), np.asarray(cols, dtype=np.int32))
    return sp.csc_matrix((value, index, np.append(start, len(index))), shape=(n_rows, len(cols)))


def restricted(h, cols: np.ndarray, n_rows: int, rows: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray,
                                                                            np.ndarray]:
    """Columns ``cols`` (increasing) of HiGHS instance ``h`` on its rows ``rows`` alone: their matrix (len(rows) ×
    len(cols)), costs, lower and upper bounds."""
    _, _, cost, lo, hi, _ = h.getCols(len(cols), np.asarray(cols, dtype=np.int32))
    return columns(h, cols, n_rows)[rows].tocsc(), np.asarray(cost), np.asarray(lo), np.asarray(hi)


def neighbourhood_model(master, free: set, start: dict, allow_unserved: bool = True):
    """The integer master with only the sources in ``free`` open, as a model of their columns alone: the other
    sources' columns held at ``start``'s counts, what they use taken off the rows' bounds (their cost the
    objective's offset), the rows only the LP needs (cuts, branching rows) left out, and the columns no
    integer plan may take (``fits``, the artificial one, unserved ones when not allowed) too. A step of tens of
    thousands of columns gives a model of a few thousand, which HiGHS solves several times faster than the
    whole master with the held columns fixed; only its columns and the held ones are read from HiGHS. Returns the
    model (a ``highspy.HighsLp``), the master's index of each of its columns, the held counts and the master's
    index of each of its rows."""
    h = master.h
    n_rows = h.getNumRow()
    mine = [c for s in free for c in master.by_source[s]]
    mine += [master.index[UnservedCol(s)] for s in free if allow_unserved]
    mine += [master.index[w] for w in master.loaded]
    kept = np.array(sorted(c for c in mine if master.fits[c]), dtype=np.int64)
    is_kept = set(kept.tolist())
    held = {c: start[c] for c in sorted(start) if c not in is_kept and start[c]}  # HiGHS reads sets in order
    h_idx = np.fromiter(held, dtype=np.int64, count=len(held))
    h_val = np.fromiter(held.values(), dtype=float, count=len(held))
    _, _, lo, hi, _ = h.getRows(n_rows, np.arange(n_rows, dtype=np.int32))
    lo, hi = np.array(lo), np.array(hi)
    lo[master.row[SERVED]], hi[master.row[SERVED]] = 0.0, float(master.ar.R)
    if len(held):
        use = columns(h, h_idx, n_rows) @ h_val
        lo, hi = lo - use, hi - use
    rows = np.setdiff1d(np.arange(n_rows), lp_only(master))
    sub, cost, c_lo, c_hi = restricted(h, kept, n_rows, rows)
    out = highspy.HighsLp()
    out.num_col_, out.num_row_ = len(kept), len(rows)
    out.col_cost_, out.offset_ = cost, master.value(held)
    out.col_lower_, out.col_upper_ = c_lo, c_hi
    out.row_lower_, out.row_upper_ = lo[rows], hi[rows]
    out.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    out.a_matrix_.num_col_, out.a_matrix_.num_row_ = len(kept), len(rows)
    out.a_matrix_.start_, out.a_matrix_.index_, out.a_matrix_.value_ = sub.indptr, sub.indices, sub.data
    out.integrality_ = [highspy.HighsVarType.kInteger] * len(kept)
    return out, kept, held, rows


def plan_of(ar: Arrays, master, counts: dict) -> list[Assignment]:
    """Counts of columns as one assignment per request (requests of a source in order)."""
    names = ar.sc.unit_names
    todo: dict[int, list[Column]] = {s: [] for s in range(len(ar.sources))}
    for c, n in counts.items():
        col = master.columns[c]
        if isinstance(col, Column):
            todo[col.s] += [col] * n
    out = []
    for q in ar.sc.requests:
        queue = todo[ar.sources.index(q.source)]
        col = queue.pop(0) if queue else None
        out.append(Assignment(True, col.k, dict(zip(names, col.place))) if col else UNSERVED)
    return out
