"""``solve`` and ``evaluate`` subcommands (SPEC §8)."""

from __future__ import annotations

import json

from .scenario import ScenarioError


def cmd_solve(args):
    from . import ga, heuristic, milp
    from .scenario import Scenario
    if args.max_nodes is not None and args.max_nodes < 0:
        raise ValueError(f"--max-nodes: must not be negative, got {args.max_nodes}")
    if args.time_limit <= 0:
        raise ValueError(f"--time-limit: must be positive, got {args.time_limit}")
    sc = Scenario.load(args.scenario)
    if args.method == "exact":
        plan = milp.solve(sc, time_limit=args.time_limit, rel_gap=args.gap, threads=args.threads,
                          warm_start=args.warm_start, max_nodes=args.max_nodes)
    elif args.method == "relaxed":
        plan = heuristic.solve(sc, time_limit=args.time_limit, threads=args.threads)
    else:
        plan = ga.solve(sc, time_limit=args.time_limit, seed=args.seed)
    if args.out:
        plan.save(args.out)
    print(json.dumps({k: v for k, v in plan.to_dict().items() if k != "requests"}, indent=1))


def cmd_evaluate(args):
    from .evaluate import evaluate
    from .scenario import Plan, Scenario
    sc = Scenario.load(args.scenario)
    ev = evaluate(sc, Plan.load(args.plan))
    if not ev.feasible:
        more = f" (and {len(ev.violations) - 1} more)" if len(ev.violations) > 1 else ""
        raise ScenarioError(f"plan: infeasible: {ev.violations[0]}{more}")
    print(json.dumps(ev.metrics(), indent=1))


def add_commands(sub) -> None:
    s = sub.add_parser("solve", help="solve one step (scenario.json) with a method")
    s.add_argument("scenario")
    s.add_argument("--method", choices=["exact", "relaxed", "ga"], default="exact")
    s.add_argument("--out", help="write plan.json here")
    s.add_argument("--time-limit", type=float, default=60.0)
    s.add_argument("--gap", type=float, default=1e-4, help="relative gap at which the exact solver stops")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--warm-start", action="store_true", help="exact: start from the relaxed method's plan")
    s.add_argument("--max-nodes", type=int, help="exact: stop after this many branch-and-bound nodes (deterministic)")
    s.add_argument("--seed", type=int, default=0, help="GA seed")
    s.set_defaults(func=cmd_solve)
    e = sub.add_parser("evaluate", help="every metric of plan.json on scenario.json")
    e.add_argument("scenario")
    e.add_argument("plan")
    e.set_defaults(func=cmd_evaluate)
