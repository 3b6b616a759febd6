"""The solvers (no torch): one interface, a registry, one set of options, one way to finish a plan.

    from adaptres.solvers import Options, solve
    plan = solve(scenario, "exact", Options(time_limit=30, warm_start=True))

A method is a module of this package named after it (``exact``, ``relaxed``, ``ga``, ``colgen``,
``colgen_round``) that registers a function ``(scenario, options, start) -> Plan`` with
``@register("name", ...)``; ``solve`` imports it on first use, so a new solver is one new module.
What the study needs to know of a method is its registry entry (``info``): whether its bound is
proven, whether it draws random numbers, which options it reads, whose plan it starts from, and how
to describe it. ``start`` is a plan the caller already has (the relaxed method's, to warm-start the
exact solver). Every method ends with ``finish``, which scores the decisions with the one evaluator.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from ..io import MAX_SEED, InputError
from ..problem.bounds import relative_gap
from ..problem.evaluate import evaluate
from ..problem.plan import Assignment, Plan
from ..problem.scenario import Scenario

Solver = Callable[[Scenario, "Options", "Plan | None"], Plan]
_REGISTRY: dict[str, "Method"] = {}


class OptionError(InputError):
    """A bad solver option; ``field`` is the option's name."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Options:
    """Every solver's options (each method reads those it knows)."""

    time_limit: float = 60.0  # seconds, per solve
    rel_gap: float = 1e-4  # exact: stop at this relative gap
    threads: int = 1
    seed: int = 0  # ga
    warm_start: bool = False  # exact: start HiGHS from the relaxed method's plan
    max_nodes: int | None = None  # exact, colgen: a deterministic budget of branch-and-bound nodes
    allow_unserved: bool = True  # exact: may leave requests unserved (SPEC §5's penalty)
    tee: bool = False  # show the solver's log
    ga_time_limit: float | None = None  # ga: its own time limit (None: time_limit)
    ga_pop_size: int = 60
    ga_generations: int = 200
    highs: dict = field(default_factory=dict)  # exact: further HiGHS options, by HiGHS' names
    ties: bool = True  # every method: break ties on purpose (lower latency, then energy; ``_ties``)

    def __post_init__(self):
        for name in ("time_limit", "ga_time_limit"):
            v = getattr(self, name)
            if (v is not None or name == "time_limit") and not (_real(v) and 0 < v <= 1e6):
                raise OptionError(name, f"must be a number of seconds in (0, 1e6], got {v!r}")
        if not (_real(self.rel_gap) and 0 <= self.rel_gap <= 1):
            raise OptionError("rel_gap", f"must be a number in [0, 1], got {self.rel_gap!r}")
        for name, lo, hi in (("threads", 1, 1024), ("seed", 0, MAX_SEED), ("ga_pop_size", 2, 10**6),
                             ("ga_generations", 1, 10**9), ("max_nodes", 0, 2**31 - 1)):
            v = getattr(self, name)
            if v is None and name == "max_nodes":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise OptionError(name, f"must be an integer in [{lo}, {hi}], got {v!r}")
        if not isinstance(self.highs, dict):
            raise OptionError("highs", f"must be a dict of HiGHS options, got {type(self.highs).__name__}")


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# the options a method that runs HiGHS to a gap reads
HIGHS_OPTIONS = ("time_limit", "rel_gap", "threads", "max_nodes", "allow_unserved", "highs")


@dataclass(frozen=True)
class Method:
    """A registered method and what the study needs to know of it."""

    name: str
    solve: Solver
    proven: bool = False  # its bound is a proven bound on the step's optimum
    stochastic: bool = False  # draws random numbers (seeded by ``Options.seed``)
    options: frozenset = frozenset({"time_limit"})  # the ``Options`` fields it reads
    start_from: str | None = None  # the method whose plan it can start from (``start``)
    start_counted: bool = False  # that start's time counts in its own (with ``warm_start``)
    describe: Callable[[Options], str] | None = None  # the method and its options in words

    def words(self, options: Options) -> str:
        return self.describe(options) if self.describe is not None else self.name


def register(name: str, *, proven: bool = False, stochastic: bool = False, options=("time_limit",),
             start_from: str | None = None, start_counted: bool = False,
             describe: Callable[[Options], str] | None = None):
    """Decorator: ``@register("exact", proven=True, ...)`` makes a function the solver of method ``name``
    with its metadata (``Method``)."""
    unknown = set(options) - {f.name for f in fields(Options)}
    if unknown:
        raise ValueError(f"register {name!r}: unknown option(s) {sorted(unknown)}")

    def add(fn: Solver) -> Solver:
        _REGISTRY[name] = Method(name, fn, proven, stochastic, frozenset(options), start_from, start_counted,
                                 describe)
        return fn
    return add


def methods() -> list[str]:
    """The registered methods and this package's solver modules (each a method of its name)."""
    own = {m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg and not m.name.startswith("_")}
    return sorted(own | set(_REGISTRY))


def info(method: str) -> Method:
    """The registry entry of ``method``, importing its module on first use."""
    if method not in _REGISTRY and isinstance(method, str) and method in methods():
        importlib.import_module(f"{__name__}.{method}")
    if method not in _REGISTRY:
        raise OptionError("method", f"must be one of {', '.join(methods())}, got {method!r}")
    return _REGISTRY[method]


def get(method: str) -> Solver:
    """The solver of ``method``, importing its module on first use."""
    return info(method).solve


def solve(scenario: Scenario, method: str, options: Options | None = None, start: Plan | None = None) -> Plan:
    """Solve one step with ``method``; the plan is scored by the evaluator (``finish``). With
    ``options.ties`` (the default) its ties are then broken on purpose, the same way for every method
    (``_ties``: each served request at its placement of least latency, then energy)."""
    solver = get(method)
    options = options or Options()
    if not scenario.requests:
        return finish(scenario, method, (), status="optimal", solve_s=0.0, bound=0.0, gap=0.0)
    plan = solver(scenario, options, start)
    return _tie_broken(scenario, plan) if options.ties else plan


def _tie_broken(scenario: Scenario, plan: Plan) -> Plan:
    """``plan`` through the tie-break stage: its status kept, its bound kept (capped by the objective, which
    can only fall), the gap measured again and the stage's time counted in the solve's."""
    from ._ties import break_ties
    t0 = time.perf_counter()
    requests, moves = break_ties(scenario, plan.requests)
    if not moves:
        return dataclasses.replace(plan, metrics={**plan.metrics, "tie_moves": 0})
    out = finish(scenario, plan.method, requests, solve_s=(plan.solve_s or 0.0) + time.perf_counter() - t0,
                 status=plan.status, extra={**plan.metrics, "tie_moves": moves})
    assert out.objective is not None
    bound = None if plan.bound is None else min(plan.bound, out.objective)
    gap = None if bound is None else relative_gap(scenario, out.objective, bound)
    return dataclasses.replace(out, bound=bound, gap=gap)


def finish(scenario: Scenario, method: str, requests: Sequence[Assignment], *, solve_s: float,
           status: str | None = None, bound: float | None = None, gap: float | None = None,
           extra: dict | None = None) -> Plan:
    """A solver's decisions as a scored ``Plan``: the objective and metrics are the evaluator's (``extra``
    adds the method's own numbers and never overrides them);
    ``status`` defaults to feasible / infeasible by the evaluator; ``gap`` defaults to the
    objective's relative distance from ``bound`` (``bounds.relative_gap``)."""
    requests = tuple(requests)
    ev = evaluate(scenario, Plan(method, requests))
    metrics = ev.metrics()
    if status is None:
        status = "feasible" if ev.feasible else "infeasible"
    if gap is None and bound is not None:
        gap = relative_gap(scenario, ev.objective, bound)
    return Plan(method, requests, status=status, objective=ev.objective, bound=bound, gap=gap, solve_s=solve_s,
                metrics={**metrics, **{k: v for k, v in (extra or {}).items() if k not in metrics}},
                scenario_sha256=scenario.fingerprint())
