"""Fronts of one step instead of one weighted sum: the latency–accuracy(–energy) trade-off itself.

    from adaptres.solvers.pareto import exact_front
    front = exact_front(scenario, 10)           # proven points, by the ε-constraint on colgen's master
    front.save("front.json")

``exact`` (the ε-constraint on the column generation's master, proven points), ``nsga2`` (pymoo's
NSGA-II on the same step, a well-kept library's heuristic front) and ``front`` (the points, dominance,
which points a weighted sum can reach, hypervolume).
"""

from .exact import FrontError, check, exact_front, loss_of, weighted_sums
from .front import Front, Point, hypervolume, nondominated, reference, supported
from .nsga2 import nsga2_front

__all__ = ["Front", "FrontError", "Point", "check", "exact_front", "hypervolume", "loss_of", "nondominated", "nsga2_front",
           "reference", "supported", "weighted_sums"]
