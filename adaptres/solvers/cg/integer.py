"""The restricted master solved with integer columns (``Master.mip``), and its counts of columns as a plan."""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from ...problem.plan import UNSERVED, Assignment
from .._highs_thread import new_highs, run_within, status
from .data import Arrays, Column
from .keys import ARTIFICIAL, INF, SERVED, ArcRow, LoadedCol, UnservedCol


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
    a neighbourhood: the sources not in ``free`` keep the start's counts (none without one), and HiGHS' presolve,
    which removes those fixed columns, is on."""
    m = new_highs()
    m.passModel(master.h.getLp())
    n = len(master.columns)
    m.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
    m.changeRowBounds(master.row[SERVED], 0.0, float(master.ar.R))
    for key in master.arcs:
        m.changeRowBounds(master.row[ArcRow(*key)], -INF, INF)
    for r in master.cut_rows:  # valid for every integer plan: only the LP needs them
        m.changeRowBounds(int(r), -INF, INF)
    for c, what in enumerate(master.columns):
        if (not allow_unserved and isinstance(what, UnservedCol)) or not master.fits[c] or what is ARTIFICIAL:
            m.changeColBounds(c, 0.0, 0.0)
    plans = [c for c, what in enumerate(master.columns) if isinstance(what, Column)]
    if free is not None:  # a neighbourhood: only the sources in ``free`` may change plans
        held = [c for c, what in enumerate(master.columns) if isinstance(what, (Column, UnservedCol)) and what.s not in free]
        n_held = np.array([float((start or {}).get(c, 0)) for c in held])
        m.changeColsBounds(len(held), np.array(held, dtype=np.int32), n_held, n_held)
    if keep is not None and len(plans) > keep:
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
        idx = np.array([c for c, what in enumerate(master.columns) if not isinstance(what, LoadedCol)], dtype=np.int32)
        val = np.array([float(start.get(int(c), 0)) for c in idx])
        m.setSolution(len(idx), idx, val)
    run_within(m, opts["time_limit"])
    info = m.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.asarray(m.getSolution().col_value) if has else np.zeros(n)
    counts = {c: int(round(v)) for c, v in enumerate(values) if round(v) >= 1}
    bound = info.mip_dual_bound if keep is None or len(plans) <= keep else None
    return MipResult(status(m), master.value(counts) if has else None, bound, counts)


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
