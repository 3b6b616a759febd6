"""``ga``: the paper's genetic-algorithm baseline (§V used MATLAB's GA), with pymoo.

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

from ..problem.evaluate import evaluate
from ..problem.plan import UNSERVED, Assignment, Plan
from ..problem.scenario import Scenario
from . import Options, finish, register

PENALTY = 100.0


def decode(sc: Scenario, genes: np.ndarray) -> list[Assignment]:
    names = sc.unit_names
    M = len(names)
    allowed = sc.allowed_configs()
    out = []
    for r in range(len(sc.requests)):
        g = genes[r * (M + 1):(r + 1) * (M + 1)].astype(int)
        if g[0] >= len(allowed):
            out.append(UNSERVED)
        else:
            out.append(Assignment(True, int(allowed[g[0]]), {n: int(d) for n, d in zip(names, g[1:])}))
    return out


class StepProblem(ElementwiseProblem):
    def __init__(self, sc: Scenario):
        self.sc = sc
        M, R = len(sc.units), len(sc.requests)
        n_cfg = len(sc.allowed_configs())
        xl = np.zeros(R * (M + 1))
        xu = np.tile(np.r_[n_cfg, np.full(M, sc.n_devices - 1)], R).astype(float)
        super().__init__(n_var=R * (M + 1), n_obj=1, xl=xl, xu=xu, vtype=int)

    def _evaluate(self, x, out, *args, **kwargs):
        ev = evaluate(self.sc, Plan("ga", tuple(decode(self.sc, np.round(x)))))
        out["F"] = ev.objective + PENALTY * ev.excess


class _Clock(Termination):
    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.t0 = seconds, time.perf_counter()

    def _update(self, algorithm):
        return (time.perf_counter() - self.t0) / self.seconds


@register("ga", stochastic=True, options=("time_limit", "seed", "ga_time_limit", "ga_pop_size", "ga_generations"),
          describe=lambda o: f"the genetic algorithm (pymoo, population {o.ga_pop_size})")
def solve(sc: Scenario, opts: Options, start=None):
    """Run the GA (seeded by ``opts.seed``) and score its best individual with the evaluator."""
    t0 = time.perf_counter()
    algo = GA(pop_size=opts.ga_pop_size, sampling=IntegerRandomSampling(),
              crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
              mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    term = TerminationCollection(get_termination("n_gen", opts.ga_generations),
                                 _Clock(opts.ga_time_limit or opts.time_limit))
    res = minimize(StepProblem(sc), algo, term, seed=opts.seed, verbose=False)
    decisions = decode(sc, np.round(np.atleast_2d(res.X)[0]))
    return finish(sc, "ga", decisions, solve_s=time.perf_counter() - t0,
                  extra={"generations": int(res.algorithm.n_gen)})
