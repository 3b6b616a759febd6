"""Running HiGHS on a Pyomo model: the model handed over as arrays, a MIP start, Ctrl-C that stops the solve,
and the result in our terms.

Pyomo's standard-form compiler turns the model into a sparse matrix, bounds and costs in one pass (Pyomo's
persistent solver interfaces walk every expression again, and took most of a relaxation's time); HiGHS then runs
in its own thread (``solvers._highs_thread``), which a time limit and Ctrl-C stop. An interrupted solve raises
``KeyboardInterrupt`` so that nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from .._highs_thread import new_highs, run_within, status

INF = highspy.kHighsInf


@dataclass
class Result:
    """HiGHS' answer: its status, whether a solution was loaded into the model's variables, the objective of
    that solution and HiGHS' bound (the LP's optimum for a relaxation; None when there is none)."""

    status: str  # optimal, time_limit, node_limit, infeasible, ...
    has_solution: bool
    incumbent: float | None
    bound: float | None


def as_arrays(m: pyo.ConcreteModel) -> tuple[highspy.HighsLp, list]:
    """The model as HiGHS' LP (integrality included) and the Pyomo variable of each column. Each constraint is
    one row (a two-sided one two rows); a variable no constraint or objective uses has no column."""
    repn = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    (obj,) = repn.objectives
    cols, A = repn.columns, repn.A  # A column-wise
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), A.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize if obj.sense == pyo.maximize else highspy.ObjSense.kMinimize
    lp.offset_ = float(repn.c_offset[0])
    lp.col_cost_ = repn.c.toarray()[0]
    lp.col_lower_ = np.array([-INF if v.lb is None else v.lb for v in cols], dtype=float)
    lp.col_upper_ = np.array([INF if v.ub is None else v.ub for v in cols], dtype=float)
    sense = np.array([s for _, s in repn.rows])  # 0: =, 1: ≤ rhs, -1: ≥ rhs
    rhs = np.asarray(repn.rhs, dtype=float)
    lp.row_lower_ = np.where(sense == 1, -INF, rhs)
    lp.row_upper_ = np.where(sense == -1, INF, rhs)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    kind = [highspy.HighsVarType.kInteger if v.is_integer() else highspy.HighsVarType.kContinuous for v in cols]
    if highspy.HighsVarType.kInteger in kind:
        lp.integrality_ = kind
    return lp, cols


def run(m: pyo.ConcreteModel, time_limit: float, rel_gap: float | None = None, threads: int = 1, tee: bool = False,
        start: dict | None = None, options: dict | None = None) -> Result:
    """Solve ``m`` with HiGHS within ``time_limit`` seconds and load the solution (when there is one) into its
    variables (those no constraint uses: 0, or their nearest bound). ``start``: a MIP start, a value per
    ``id`` of a variable (others 0). Raises KeyboardInterrupt when the solve was interrupted."""
    try:
        lp, cols = as_arrays(m)
    except InfeasibleConstraintException:  # a constraint without variables that does not hold
        return Result("infeasible", False, None, None)
    h = new_highs()
    if tee:
        h.setOptionValue("output_flag", True)
        h.setOptionValue("log_to_console", True)
    h.passModel(lp)
    opts = {"time_limit": max(float(time_limit), 1e-3), "threads": int(threads),
            **({} if rel_gap is None else {"mip_rel_gap": float(rel_gap)}), **(options or {})}
    for key, v in opts.items():
        h.setOptionValue(key, v)
    if start:
        sol = highspy.HighsSolution()
        sol.col_value = [start.get(id(v), 0.0) for v in cols]
        sol.value_valid = True
        h.setSolution(sol)
    run_within(h, opts["time_limit"])
    info = h.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    done = status(h)
    if has:
        for v, x in zip(cols, h.getSolution().col_value):
            v.set_value(x, skip_validation=True)
        for v in m.component_data_objects(pyo.Var, descend_into=True):
            if v.value is None:
                v.set_value(min(max(0.0, v.lb if v.lb is not None else -INF), v.ub if v.ub is not None else INF),
                            skip_validation=True)
    incumbent = float(info.objective_function_value) if has else None
    if info.mip_node_count == -1:  # a linear program: its optimum is its bound
        bound = incumbent if has and done == "optimal" else None
    else:
        bound = float(info.mip_dual_bound)
    return Result(done, has, incumbent, bound)
