"""The paper's genetic-algorithm baseline (§V used MATLAB's GA), with pymoo.

Chromosome, per request: one gene for the configuration (an index into the allowed configurations,
or one more value for "unserved"), then one gene per unit for its device. Fitness: the evaluator's
objective plus a penalty proportional to the constraint violations (relative overshoots).
"""

from __future__ import annotations

import time

import numpy as np
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.problem import ElementwiseProblem
from pymoo.core.termination import Termination
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize
from pymoo.termination import get_termination
from pymoo.termination.collection import TerminationCollection

from .evaluate import evaluate
from .scenario import Plan, Scenario

PENALTY = 100.0


def decode(sc: Scenario, genes: np.ndarray, method: str = "ga") -> Plan:
    names = sc.unit_names
    M = len(names)
    allowed = sc.allowed_configs()
    reqs = []
    for r in range(len(sc.requests)):
        g = genes[r * (M + 1):(r + 1) * (M + 1)].astype(int)
        if g[0] >= len(allowed):
            reqs.append({"served": False, "config": None, "placement": {}})
        else:
            reqs.append({"served": True, "config": int(allowed[g[0]]),
                         "placement": {n: int(d) for n, d in zip(names, g[1:])}})
    return Plan(method=method, requests=reqs)


class StepProblem(ElementwiseProblem):
    def __init__(self, sc: Scenario):
        self.sc = sc
        M, R = len(sc.unit_names), len(sc.requests)
        n_cfg = len(sc.allowed_configs())
        xl = np.zeros(R * (M + 1))
        xu = np.tile(np.r_[n_cfg, np.full(M, sc.n_devices - 1)], R).astype(float)
        super().__init__(n_var=R * (M + 1), n_obj=1, xl=xl, xu=xu, vtype=int)

    def _evaluate(self, x, out, *args, **kwargs):
        ev = evaluate(self.sc, decode(self.sc, np.round(x)))
        out["F"] = ev.objective + PENALTY * ev.excess


class _Clock(Termination):
    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.t0 = seconds, time.perf_counter()

    def _update(self, algorithm):
        return (time.perf_counter() - self.t0) / self.seconds


def solve(sc: Scenario, pop_size: int = 60, generations: int = 200, time_limit: float = 60.0, seed: int = 0) -> Plan:
    """Run the GA (seeded) and score its best individual with the evaluator."""
    t0 = time.perf_counter()
    if not sc.requests:
        plan = Plan("ga", [], status="feasible", objective=0.0, solve_s=0.0)
        plan.metrics = evaluate(sc, plan).metrics()
        return plan
    problem = StepProblem(sc)
    algo = GA(pop_size=pop_size, sampling=IntegerRandomSampling(),
              crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
              mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    term = TerminationCollection(get_termination("n_gen", generations), _Clock(time_limit))
    res = minimize(problem, algo, term, seed=seed, verbose=False)
    plan = decode(sc, np.round(np.atleast_2d(res.X)[0]))
    ev = evaluate(sc, plan)
    plan.status = "feasible" if ev.feasible else "infeasible"
    plan.objective = ev.objective
    plan.solve_s = time.perf_counter() - t0
    plan.metrics = ev.metrics()
    plan.metrics["generations"] = int(res.algorithm.n_gen)
    return plan
