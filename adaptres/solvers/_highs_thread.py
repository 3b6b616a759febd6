"""HiGHS in the project's terms: a quiet instance, a solve in HiGHS' own thread that a time limit and Ctrl-C
stop, and its status in the project's words."""

from __future__ import annotations

import math
import threading

import highspy


def new_highs() -> highspy.Highs:
    """A quiet HiGHS instance that can solve while another does in another thread. highspy 1.16 keeps the locks
    of ``startSolve``/``wait`` on the class, shared by every instance: a second solve started while a first runs
    raises "Solver is already running" (two re-plans at once, one per failure, did). Each instance gets its own."""
    h = highspy.Highs()
    h._Highs__solver_stopped = threading.RLock()  # type: ignore[attr-defined]  # the class's private (mangled) names
    h._Highs__solver_started = threading.Lock()  # type: ignore[attr-defined]
    h.setOptionValue("output_flag", False)
    return h


def limit_time(h, seconds: float) -> None:
    """Let the next solve of ``h`` take at most ``seconds``. HiGHS (before 2.0) measures its ``time_limit`` against
    the instance's run time summed over every solve so far, not the next one's: an instance solved again and again
    (a master LP) would stop with ``time_limit`` at once once its solves add up to the limit set."""
    h.setOptionValue("time_limit", h.getRunTime() + max(float(seconds), 1e-3))


def run_within(h, seconds: float | None = None) -> None:
    """Run HiGHS in its thread, and interrupt it if it is still running ``seconds`` later (its own time limit
    is checked only now and then). Ctrl-C cancels the solve and waits for HiGHS' thread to end before the
    interruption goes on (a thread left running as the process exits aborts it: SIGABRT, not 130)."""
    h.HandleUserInterrupt = True
    h.startSolve()
    try:
        finished, _ = h.wait(seconds * 1.02 if seconds is not None and math.isfinite(seconds) else -1.0)
        if not finished:
            h.cancelSolve()
            h.wait()
    except KeyboardInterrupt:
        h.cancelSolve()
        h.wait()
        raise


def status(h) -> str:
    """HiGHS' model status in the project's words (optimal, time_limit, node_limit, infeasible; else HiGHS')."""
    s = h.getModelStatus()
    M = highspy.HighsModelStatus
    return {M.kOptimal: "optimal", M.kTimeLimit: "time_limit", M.kSolutionLimit: "node_limit",
            M.kIterationLimit: "node_limit", M.kInfeasible: "infeasible", M.kUnboundedOrInfeasible: "infeasible",
            M.kInterrupt: "time_limit"}.get(s, str(s))
