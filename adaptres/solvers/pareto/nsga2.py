"""A heuristic front beside the exact one: pymoo's NSGA-II on the same step, for a given time.

Chromosome as the GA baseline's (``solvers.ga``): per request a configuration gene (an allowed
configuration: every request is served, as on the exact front's points that serve them all) and one
device gene per unit. Objectives: mean latency and mean accuracy of the served requests, scored by the
evaluator; constraint: the evaluator's relative overshoot of the devices' limits (pymoo keeps feasible
individuals ahead of infeasible ones). The front is the final population's feasible, non-dominated plans.
"""

from __future__ import annotations

import time

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import ElementwiseProblem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize

from ...problem.evaluate import evaluate
from ...problem.plan import Plan
from ...problem.scenario import Scenario
from .. import finish
from ..ga import _Clock, decode
from .front import Front, Point, nondominated


class FrontProblem(ElementwiseProblem):
    """One step, every request served: minimise (mean latency, −mean accuracy) within the devices' limits."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        M, R = len(sc.units), len(sc.requests)
        n_cfg = len(sc.allowed_configs())
        xu = np.tile(np.r_[n_cfg - 1, np.full(M, sc.n_devices - 1)], R).astype(float)
        super().__init__(n_var=R * (M + 1), n_obj=2, n_ieq_constr=1, xl=np.zeros(R * (M + 1)), xu=xu, vtype=int)

    def _evaluate(self, x, out, *args, **kwargs):
        ev = evaluate(self.sc, Plan("nsga2", tuple(decode(self.sc, np.round(x)))))
        m = ev.metrics()
        out["F"] = [m["mean_latency_s"], -m["mean_accuracy"]]
        out["G"] = [ev.excess]


def nsga2_front(sc: Scenario, seconds: float, seed: int = 0, pop_size: int = 100) -> Front:
    """NSGA-II (pymoo) on ``sc`` for ``seconds``, seeded by ``seed``: its feasible non-dominated plans."""
    t0 = time.perf_counter()
    algo = NSGA2(pop_size=pop_size, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    res = minimize(FrontProblem(sc), algo, _Clock(seconds), seed=seed, verbose=False)
    spent = time.perf_counter() - t0
    points = []
    if res.X is not None:
        for x in np.atleast_2d(res.X):
            plan = finish(sc, "nsga2", decode(sc, np.round(x)), solve_s=spent)
            if plan.metrics["violations"] == 0:
                points.append(Point.of(plan))
    return Front(nondominated(points), meta={"method": "NSGA-II (pymoo)", "time_s": spent, "seed": seed,
                                              "pop_size": pop_size, "generations": int(res.algorithm.n_gen),
                                              "scenario_sha256": sc.fingerprint()})
