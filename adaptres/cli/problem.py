"""``solve``, ``evaluate``, ``scenario`` (SPEC §8 files) and ``simulate`` (a horizon's rows); no torch."""

from __future__ import annotations

import contextlib
import json
import os
import sys

from ..io import InputError, NoResult, check_output, check_range, finite_or_none
from . import files

# the solver options ``solve`` takes: option -> flag
FLAGS = {"time_limit": "--time-limit", "rel_gap": "--gap", "threads": "--threads", "seed": "--seed",
         "warm_start": "--warm-start", "max_nodes": "--max-nodes", "tee": "--verbose"}


def _options(args):
    """The solver options of the flags given; a flag the method does not read is refused (its registry
    entry says which options it reads)."""
    from ..solvers import OptionError, Options, info
    given = {k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None and getattr(args, k) is not False}
    reads = info(args.method).options
    for k in given:
        if k not in reads:
            takes = ", ".join(FLAGS[o] for o in FLAGS if o in reads)
            raise InputError(f"{FLAGS[k]}: the {args.method} method does not use it (it takes {takes})")
    try:
        return Options(**given)
    except OptionError as exc:
        raise InputError(f"{FLAGS.get(exc.field, '--' + exc.field.replace('_', '-'))}: {exc.reason}") from None


def _print(obj) -> None:
    print(json.dumps(finite_or_none(obj), indent=1, allow_nan=False))


@contextlib.contextmanager
def stdout_to_stderr():
    """Whatever a library prints on standard output meanwhile (HiGHS' banner) goes to standard error, so
    that standard output holds the command's document alone (``solve ... | jq``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_solve(args):
    if args.pareto is not None:
        return cmd_front(args)
    for flag, v in (("--energy-budget", args.energy_budget), ("--alphas", args.alphas)):
        if v is not None:
            raise InputError(f"{flag}: only with --pareto K (a front's)")
    args.method = args.method or "exact"
    from .. import solvers
    from ..problem.evaluate import evaluate
    from ..problem.scenario import Scenario
    try:
        solvers.get(args.method)
    except solvers.OptionError as exc:
        raise InputError(f"--method: {exc.reason}") from None
    opts = _options(args)
    out = check_output(args.out, "--out") if args.out is not None else None
    sc = Scenario.load(args.scenario)
    with stdout_to_stderr():
        plan = solvers.solve(sc, args.method, opts)
    ev = evaluate(sc, plan)
    written = "nothing written; " if out else ""
    if plan.status == "too_large" and not plan.n_served:
        raise NoResult(f"the {args.method} method declined: {plan.metrics.get('reason')}; {written}another method "
                       "(colgen, colgen_round) solves steps of this size")
    if not ev.feasible:
        more = f" (and {len(ev.violations) - 1} more)" if len(ev.violations) > 1 else ""
        if not solvers.info(args.method).proven:  # a heuristic that ran out of time or luck
            raise NoResult(f"the {args.method} method found no feasible plan within {opts.time_limit:g} s (its best "
                           f"breaks {ev.violations[0]}{more}); {written}a longer --time-limit may find one")
        raise InputError(f"plan: the {args.method} solver's plan is infeasible ({ev.violations[0]}{more}); "
                         f"{written}the scenario's numbers may be beyond what the solver resolves (status {plan.status})")
    if plan.status == "too_large":
        print(f"adaptres solve: the {args.method} method declined ({plan.metrics.get('reason')}); the plan is the "
              "start it was given", file=sys.stderr)
    if out:
        plan.save(out)
    _print({k: v for k, v in plan.to_dict().items() if k != "requests"})


def cmd_front(args):
    """``solve --pareto K``: the step's exact latency–accuracy front (ε-constraint on column generation)."""
    from ..problem.scenario import Scenario
    from ..solvers import pareto
    if args.method not in (None, "colgen"):
        raise InputError(f"--method: a front is found by column generation (colgen), got {args.method!r}")
    if args.energy_budget is not None:
        check_range(args.energy_budget, "--energy-budget", 0, integer=False, above=True, unit="joules")
    for a in args.alphas or []:
        check_range(a, "--alphas", 0, 1, integer=False, unit="each a weight")
    args.method = "colgen"
    opts = _options(args)
    out = check_output(args.out, "--out") if args.out is not None else None
    sc = Scenario.load(args.scenario)
    try:
        pareto.check(sc, args.pareto)
    except pareto.FrontError as exc:
        raise InputError(str(exc).replace("pareto:", "--pareto:", 1)) from None
    with stdout_to_stderr():
        front = pareto.exact_front(sc, args.pareto, opts, args.energy_budget)
        if args.alphas:
            pareto.weighted_sums(sc, front, args.alphas, opts)
    if out:
        front.save(out)
    _print({**{k: v for k, v in front.to_dict().items() if k not in ("points", "weighted_sum")},
            "points": [{k: v for k, v in p.to_dict().items() if k != "plan"} for p in front.points],
            "weighted_sum": front.weighted_sum, **({"out": str(out)} if out else {})})


def cmd_evaluate(args):
    from ..problem.evaluate import check_stored, evaluate
    from ..problem.plan import Plan
    from ..problem.scenario import Scenario
    sc = Scenario.load(args.scenario)
    plan = Plan.load(args.plan)
    ev = evaluate(sc, plan)
    check_stored(plan, ev)
    if not ev.feasible:
        more = f" (and {len(ev.violations) - 1} more)" if len(ev.violations) > 1 else ""
        raise InputError(f"plan: infeasible: {ev.violations[0]}{more}")
    _print(ev.metrics())


def cmd_scenario(args):
    from ..experiments.sections import scenario_for
    out = check_output(args.out, "--out") if args.out is not None else None
    sc = scenario_for(args.profile, args.devices, args.requests, args.seed, args.section)
    if out:
        sc.save(out)
        print(f"wrote {out}: {sc.n_devices} devices, {len(sc.requests)} requests, {len(sc.configs)} configurations "
              f"(§{args.section}: α = {sc.alpha:g}, β = {sc.beta:g}, A_th = {sc.accuracy_threshold:g} %)")
    else:
        _print(sc.to_dict())


def cmd_simulate(args):
    from .. import solvers
    from ..experiments import battery_horizon as horizon
    from ..experiments import profiles, sim
    from ..io import check_seed, provenance, write_table
    from ..serving import controllers as controller
    try:
        solvers.get(args.method) if args.method is not None else None
    except solvers.OptionError as exc:
        raise InputError(f"--method: {exc.reason}") from None
    if args.v is not None and args.controller != "horizon":
        raise InputError(f"--v: only the horizon controller reads it (--controller {args.controller} does not)")
    try:
        H = profiles.get(args.profile).horizon
        params = controller.Params(v=H.v if args.v is None else args.v)
        steps = H.steps if args.steps is None else args.steps
        sim.check_horizon(steps, 0.0)
        check_seed(args.seed)
        if args.devices is not None:
            check_range(args.devices, "devices", 1, 1000)
    except ValueError as exc:  # the message names the field: here it is a flag
        raise InputError(f"--{exc}") from None
    out = check_output(args.out, "--out") if args.out is not None else None
    method = args.method or H.method
    st = horizon.setting(args.profile, args.section, args.devices)
    with stdout_to_stderr():
        df = horizon.run(st, steps, args.seed, args.controller, method,
                         solvers.Options(time_limit=H.time_limit, rel_gap=1e-2, max_nodes=200), params,
                         progress=not args.quiet)
    first, seen = horizon.first_exhausted(df, [d.energy_j for d in st.devices])
    if out:
        write_table(df, out, provenance(profile=args.profile, section=args.section, point=repr(st.point),
                                        n_devices=len(st.devices), steps=steps, seed=args.seed,
                                        controller=args.controller, **({"v": params.v} if args.controller == "horizon"
                                                                       else {}), method=method,
                                        table=st.table["table"], code_sha256=sim.code_hash()),
                    float_format="%.12g")
    cut_short = int((df["status"] == "time_limit").sum()) if "status" in df else 0
    if cut_short:
        print(f"adaptres simulate: {cut_short} of {steps} step(s) stopped at the solver's {H.time_limit:g}-s limit "
              "(status time_limit): their unserved requests may be the limit's, not the devices'", file=sys.stderr)
    _print({"section": args.section, "controller": args.controller, "method": method, "steps": steps,
            "seed": args.seed, "requests": int(df.n_requests.sum()), "served": int(df.served.sum()),
            "steps_at_time_limit": cut_short,
            "objective_sum": float(df.objective.sum()), "first_exhausted_step": first if seen else None,
            "mean_solve_s": float(df.solve_s.mean()), **({"out": str(out)} if out else {})})


def add_commands(sub) -> None:
    from ..solvers import methods
    s = sub.add_parser("solve", help="solve one step (scenario.json) with a method")
    s.add_argument("scenario", help="scenario.json: one step (SPEC §8)")
    s.add_argument("--method", help=f"one of {', '.join(methods())} (default exact; colgen with --pareto)")
    s.add_argument("--out", help="write plan.json here (only when the plan passes the evaluator)")
    s.add_argument("--time-limit", type=float, help="seconds (default 60)")
    s.add_argument("--gap", dest="rel_gap", type=float, help="relative gap at which an exact method stops (default 1e-4)")
    s.add_argument("--threads", type=int, help="HiGHS threads (default 1)")
    s.add_argument("--warm-start", action="store_true", help="exact: start from the relaxed method's plan")
    s.add_argument("--max-nodes", type=int, help="exact, colgen: stop after this many branch-and-bound nodes (deterministic)")
    s.add_argument("--seed", type=int, help="ga: its seed, in [0, 4294967295] (default 0)")
    s.add_argument("--verbose", dest="tee", action="store_true", help="exact: HiGHS' log on standard error")
    s.add_argument("--pareto", type=int, metavar="K",
                   help="instead of one plan, up to K proven points of the latency-accuracy front (front.json to --out; "
                        "--time-limit then applies to each point)")
    s.add_argument("--energy-budget", type=float, metavar="J",
                   help="--pareto: the front under this many joules of all devices together")
    s.add_argument("--alphas", type=float, nargs="+", metavar="A",
                   help="--pareto: mark the weighted-sum optimum of each alpha (beta = 1 - alpha) on the front")
    s.set_defaults(func=cmd_solve)
    files.declare(s, inputs=("scenario",), outputs=("--out",))
    e = sub.add_parser("evaluate", help="every metric of plan.json on scenario.json")
    e.add_argument("scenario", help="scenario.json: one step (SPEC §8)")
    e.add_argument("plan", help="plan.json: a plan for that step (SPEC §8)")
    e.set_defaults(func=cmd_evaluate)
    g = sub.add_parser("scenario", help="write one seeded step of a §V setting as scenario.json")
    g.add_argument("--profile", default="cpu", help="whose accuracy table (fast, cpu, paper)")
    g.add_argument("--devices", type=int, default=10, help="N, half low-, half high-capacity (§V-A)")
    g.add_argument("--requests", type=int, default=3, help="R requests from random sources")
    g.add_argument("--seed", type=int, default=0, help="the same seed gives the same file")
    g.add_argument("--section", default="V-A", choices=["V-A", "V-B", "V-C", "V-D"],
                   help="the weights, threshold and batteries of a §V section")
    g.add_argument("--out", help="scenario.json to write (default: print it)")
    g.set_defaults(func=cmd_scenario)
    files.declare(g, outputs=("--out",), committed=True)
    m = sub.add_parser("simulate", help="simulate a §V setting over a horizon under a controller; per-step rows")
    m.add_argument("--profile", default="cpu", help="whose accuracy table and horizon settings (fast, cpu, paper)")
    m.add_argument("--section", default="V-B", choices=["V-A", "V-B", "V-C", "V-D"], help="the §V setting")
    m.add_argument("--steps", type=int, help="T, the horizon's steps (default: the profile's)")
    m.add_argument("--seed", type=int, default=0, help="arrivals and link rates (the same seed, the same draws)")
    m.add_argument("--controller", default="myopic", choices=["myopic", "horizon"],
                   help="myopic: each step on its own (the paper's); horizon: energy priced by the steps to come")
    m.add_argument("--method", help=f"one of {', '.join(methods())} (default: the profile's; relaxed with "
                                    "myopic is the paper's Algorithm 1)")
    m.add_argument("--v", type=float, help="the horizon controller's V (J² per objective unit; default: the profile's)")
    m.add_argument("--devices", type=int, help="N (default: the profile's)")
    m.add_argument("--out", help="rows.csv to write (one row per step, with provenance)")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=cmd_simulate)
    files.declare(m, outputs=("--out",), committed=True)
