"""Running HiGHS on a model: a MIP start, Ctrl-C that stops the solve, and the result in our terms.

pyomo.contrib's HiGHS interface runs HiGHS in the calling thread, where Ctrl-C waits until the
solve ends on its own (then the plan would be written anyway). Here HiGHS runs in highspy's
solver thread, which cancels the solve on Ctrl-C; the interruption is then raised as
``KeyboardInterrupt`` so that nothing is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs


class _Highs(Highs):
    """pyomo.contrib's HiGHS interface with an optional MIP start (HiGHS' setSolution) and a solve
    that Ctrl-C cancels."""

    _start: dict = {}  # variable id -> value; set on the instance (pyomo re-runs __init__ on load)
    interrupted: bool = False

    def _solve(self):
        import highspy
        h = self._solver_model
        if self._start:
            col = [0.0] * h.getNumCol()
            for vid, val in self._start.items():
                ndx = self._pyomo_var_to_solver_var_map.get(vid)
                if ndx is not None:
                    col[ndx] = val
            sol = highspy.HighsSolution()
            sol.col_value = col
            sol.value_valid = True
            h.setSolution(sol)
        h.run = lambda: h.joinSolve(h.startSolve(), interrupt_limit=0)  # Ctrl-C cancels (highspy's thread)
        try:
            return super()._solve()
        finally:
            del h.run
            self.interrupted = h.getModelStatus() == highspy.HighsModelStatus.kInterrupt


@dataclass
class Result:
    status: str  # optimal, time_limit, node_limit, infeasible, ...
    has_solution: bool
    incumbent: float | None
    bound: float | None


def status_name(tc) -> str:
    if tc == TerminationCondition.convergenceCriteriaSatisfied:
        return "optimal"
    if tc == TerminationCondition.maxTimeLimit:
        return "time_limit"
    if tc == TerminationCondition.iterationLimit:
        return "node_limit"
    if tc in (TerminationCondition.provenInfeasible, TerminationCondition.locallyInfeasible,
              TerminationCondition.infeasibleOrUnbounded):
        return "infeasible"
    return str(tc.name)


def run(m: pyo.ConcreteModel, time_limit: float, rel_gap: float | None = None, threads: int = 1, tee: bool = False,
        start: dict | None = None, options: dict | None = None) -> Result:
    """Solve ``m`` with HiGHS and load the solution (when there is one) into its variables.
    Raises KeyboardInterrupt when the solve was interrupted."""
    solver = _Highs()
    solver._start = start or {}
    kw = {} if rel_gap is None else {"rel_gap": rel_gap}
    log = logging.getLogger("pyomo.contrib.solver.solvers.highs")  # it warns of HiGHS' interrupt status
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        res = solver.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False, tee=tee,
                           time_limit=time_limit, threads=threads, solver_options=dict(options or {}), **kw)
    except RuntimeError as exc:  # Ctrl-C while Pyomo captured HiGHS' output: it reports the interrupt this way
        if str(exc).startswith("KeyboardInterrupt"):
            raise KeyboardInterrupt("the solve was interrupted") from None
        raise
    finally:
        log.setLevel(level)
    if solver.interrupted:
        raise KeyboardInterrupt("the solve was interrupted")
    has = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if has:
        res.solution_loader.load_vars()
    bound = float(res.objective_bound) if res.objective_bound is not None else None
    inc = float(res.incumbent_objective) if res.incumbent_objective is not None else None
    return Result(status_name(res.termination_condition), has, inc, bound)
