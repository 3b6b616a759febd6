"""``run`` (a plan executed on Ray, one actor per device) and ``profile-units`` (per-unit latency here)."""

from __future__ import annotations

import json
import socket
import sys

from ..io import InputError, check_input, check_output, check_seed, finite_or_none, write_json

MAX_THREADS = 1024


def _address(address: str | None) -> None:
    """That a Ray cluster's address answers (a TCP connect, 5 s at most), before anything starts: Ray
    itself retries an unreachable address for minutes."""
    if address is None:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--address: expected HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(f"--address: no Ray cluster answers at {address} ({exc.strerror or exc})") from None


def _weights(path: str | None) -> None:
    if path is not None:
        check_input(path, "--weights")


def cmd_run(args):
    from ..problem.evaluate import check_plan, check_stored, evaluate
    from ..problem.plan import Plan
    from ..problem.scenario import Scenario
    from ..runtime.coordinator import ExecutionOptions, parse_failures
    out = check_output(args.out, "--out", inputs=[args.scenario, args.plan])
    check_seed(args.seed, "--seed")
    _weights(args.weights)
    sc = Scenario.load(args.scenario)
    plan = Plan.load(args.plan)
    check_plan(sc, plan)
    ev = evaluate(sc, plan)
    check_stored(plan, ev)
    if not ev.feasible:
        raise InputError(f"plan: infeasible on this scenario: {ev.violations[0]}")
    failures = parse_failures(args.fail or [], sc.n_devices)
    try:
        opts = ExecutionOptions(links=args.links, compute=args.compute, method=args.method, exclusive=args.exclusive)
    except ValueError as exc:
        raise InputError(f"--{str(exc).split(':')[0].replace('_', '-')}: {str(exc).split(':', 1)[1].strip()}") from None
    _address(args.address)
    from ..runtime import trials
    model, recipe = trials.load_model(args.weights)
    trials.check_network(sc, model, recipe)
    if not plan.n_served:  # nothing to execute: no device is started
        run = trials.nothing_to_run(sc, plan, recipe, args.seed)
    else:
        from ..runtime.coordinator import Cluster
        cl = Cluster(model, sc.n_devices, address=args.address)
        try:
            run = trials.run_step(cl, recipe, sc, plan, args.seed, failures, opts)
        finally:
            cl.close()
    run["scenario"], run["plan"] = str(args.scenario), str(args.plan)
    write_json(out, finite_or_none(run))
    q = run["requests"]
    answered = [r for r in q if r["status"] == "answered"]
    print(f"wrote {out}: {len(answered)} of {len(q)} requests answered "
          f"({sum(r['prediction'] == r['label'] for r in answered)} correct), "
          f"{sum(r['status'] == 'unserved' for r in q)} unserved, {sum(r['status'] == 'failed' for r in q)} failed, "
          f"{len(run['failures'])} device(s) failed")


def cmd_profile_units(args):
    from ..io import provenance, write_table
    out = check_output(args.out, "--out") if args.out is not None else None
    if not 1 <= args.threads <= MAX_THREADS:
        raise InputError(f"--threads: must be an integer in [1, {MAX_THREADS}], got {args.threads}")
    if not 1 <= args.repeats <= 100_000:
        raise InputError(f"--repeats: must be an integer in [1, 100000], got {args.repeats}")
    _weights(args.weights)
    from ..runtime import trials
    from ..runtime.profile import device_speed, profile_units
    model, recipe = trials.load_model(args.weights)
    table = profile_units(model, recipe.image_size, args.repeats, threads=args.threads, progress=sys.stderr.isatty())
    speed = device_speed(table)
    if out:
        write_table(table, out, provenance(what="per-unit latency, batch 1, median of repeats", repeats=args.repeats,
                                           threads=args.threads, image_size=recipe.image_size,
                                           macs_per_s=f"{speed:.6g}"), float_format="%.6g")
    else:
        print(table.to_string(index=False))
    print(json.dumps({"macs_per_s": speed, "total_median_s": float(table[table["mode"] == "full"]["median_s"].sum())}))


def add_commands(sub) -> None:
    r = sub.add_parser("run", help="execute plan.json on Ray, one actor per device, on real test images")
    r.add_argument("scenario")
    r.add_argument("plan")
    r.add_argument("--out", required=True, help="run.json to write (per request and per failure)")
    r.add_argument("--fail", action="append", metavar="DEVICE@SECONDS",
                   help="kill that device's actor that many seconds into the step (repeatable)")
    r.add_argument("--links", default="emulated", help="emulated (paced to rate_mbps) or real")
    r.add_argument("--compute", default="emulated", help="emulated (waits out macs_per_s) or real")
    r.add_argument("--method", default="colgen_round", help="the solver that re-plans after a failure")
    r.add_argument("--exclusive", action="store_true", help="one request at a time (no queueing between requests)")
    r.add_argument("--seed", type=int, default=0, help="which test images (the same seed, the same images)")
    r.add_argument("--weights", help="a state dict of the scenario's network (default: the committed drop-aware model)")
    r.add_argument("--address", help="a Ray cluster's address (default: a local Ray)")
    r.set_defaults(func=cmd_run)
    p = sub.add_parser("profile-units", help="median latency of every unit here (batch 1)")
    p.add_argument("--weights", help="a state dict (default: the committed drop-aware model)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=1, help="torch threads (a board's cores)")
    p.add_argument("--out", help="a CSV to write (default: print the table)")
    p.set_defaults(func=cmd_profile_units)
