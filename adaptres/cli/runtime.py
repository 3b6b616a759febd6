"""``run`` (a plan executed on Ray, one actor per device), ``serve`` (the closed loop over a horizon),
``testbed`` (the network test bed: up, down, status) and ``profile-units`` (per-unit latency here)."""

from __future__ import annotations

import json
import socket
import sys
from typing import NoReturn

from ..io import InputError, check_input, check_output, check_range, check_seed, finite_or_none, write_json
from . import files

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
        answers = _speaks_grpc(host, int(port))
    except OSError as exc:
        raise InputError(f"--address: no Ray cluster answers at {address} ({exc.strerror or exc})") from None
    if not answers:  # Ray would retry it for minutes
        raise InputError(f"--address: {address} answers, but not as a Ray cluster's head (no gRPC there)")


def _speaks_grpc(host: str, port: int, timeout: float = 5.0) -> bool:
    """Does ``host:port`` answer HTTP/2's client preface with a SETTINGS frame, as a gRPC server (Ray's head,
    its GCS) does at once?"""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + an empty SETTINGS
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.settimeout(timeout)
        conn.sendall(preface)
        head = b""
        try:
            while len(head) < 9:
                chunk = conn.recv(9 - len(head))
                if not chunk:
                    break
                head += chunk
        except TimeoutError:
            return False
    return len(head) == 9 and head[3] == 0x04


def check_testbed(devices: int) -> None:
    """``--testbed netns`` from the host: the test bed can be had here and, if it is up, has ``devices`` devices."""
    from .. import testbed
    why = testbed.available()
    if why:
        raise InputError(f"--testbed: {why}")
    st = testbed.status()
    if st.up and st.devices != devices:
        raise InputError(f"--devices: a test bed with {st.devices} devices is already up (run 'testbed down' first)")


def inside_testbed(devices: int) -> NoReturn:
    """Run this command again inside the test bed's hub (the driver's place) and end with its status: a bed of
    ``devices`` devices found up is used and left up; one brought up here is taken down when the driver ends,
    however it ends (on Ctrl-C the driver, which gets it too, first writes what finished)."""
    from .. import testbed
    print(f"test bed: {'up already' if testbed.status().up else 'starting'} ({devices} devices)", file=sys.stderr)
    times: dict = {}
    try:
        with testbed.held(devices, times):
            if "up_s" in times:
                print(f"test bed: up in {times['up_s']:.1f} s", file=sys.stderr)
            rc = testbed.reexec_inside(["-m", "adaptres", *sys.argv[1:]])
    finally:
        if "down_s" in times:
            print(f"test bed: down in {times['down_s']:.1f} s", file=sys.stderr)
    raise SystemExit(rc)


def _weights(path: str | None) -> None:
    if path is not None:
        check_input(path, "--weights")


def cmd_run(args):
    from ..problem.evaluate import check_plan, check_stored, evaluate
    from ..problem.plan import Plan
    from ..problem.scenario import Scenario
    from ..runtime.faults import parse_failures
    from ..runtime.options import ExecutionOptions
    out = check_output(args.out, "--out")
    check_seed(args.seed, "--seed")
    _weights(args.weights)
    sc = Scenario.load(args.scenario)
    plan = Plan.load(args.plan)
    check_plan(sc, plan)
    ev = evaluate(sc, plan)
    check_stored(plan, ev)
    if not ev.feasible:
        raise InputError(f"plan: infeasible on this scenario: {ev.violations[0]}")
    try:
        failures = [(f.device, f.at_s) for f in parse_failures(args.fail or [], sc.n_devices)]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        opts = ExecutionOptions(links=args.links, compute=args.compute, method=args.method, exclusive=args.exclusive)
    except ValueError as exc:
        raise InputError(f"--{str(exc).split(':')[0].replace('_', '-')}: {str(exc).split(':', 1)[1].strip()}") from None
    _address(args.address)
    from ..experiments import trials
    model, recipe = trials.load_model(args.weights)
    trials.check_network(sc, model, recipe)
    if not plan.n_served:  # nothing to execute: no device is started
        run = trials.nothing_to_run(sc, plan, recipe, args.seed)
    else:
        from ..runtime.cluster import Cluster
        from .problem import stdout_to_stderr
        with stdout_to_stderr():  # a re-plan's HiGHS banner, Ray's notices: standard output holds the summary
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
    check_range(args.threads, "--threads", 1, MAX_THREADS)
    check_range(args.repeats, "--repeats", 1, 100_000)
    _weights(args.weights)
    from ..experiments import trials
    from ..runtime.unit_timing import device_speed, profile_units
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


def _params(args):
    """The horizon controller's parameters (``--v`` only with ``--controller horizon``)."""
    from ..experiments import profiles
    from ..serving import controllers
    if args.v is not None and args.controller != "horizon":
        raise InputError(f"--v: only the horizon controller reads it (--controller {args.controller} does not)")
    return controllers.Params(v=profiles.get(args.profile).horizon.v if args.v is None else args.v)


def _serve_args(args):
    """Every flag of ``serve`` checked before anything starts; returns (setting, failures, cuts, out)."""
    from ..experiments import sections, sim, trials
    from ..experiments import serve as live
    from ..runtime import faults
    if args.profile != trials.PROFILE:
        raise InputError(f"--profile: the live system runs the committed {trials.PROFILE!r} model's network, got "
                         f"{args.profile!r}")
    sections.get(args.section)
    out = check_output(args.out, "--out")
    check_seed(args.seed, "--seed")
    from .. import testbed
    limit = testbed.max_devices()  # a device's node and actor: what this host's memory holds
    check_range(args.devices, "--devices", 1, limit, unit="what this host holds")
    check_range(args.steps, "--steps", 1, live.MAX_STEPS)
    if args.lam is not None:
        check_range(args.lam, "--lam", 0, live.MAX_LAM, integer=False, unit="requests per step")
    try:
        failures = faults.parse_failures(args.fail or [], args.devices, args.steps)
        cuts = faults.parse_cuts(args.cut or [], args.devices, args.steps)
        _params(args)
        from ..runtime.options import ExecutionOptions
        ExecutionOptions(compute=args.compute, method=args.method)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if cuts and args.testbed != "netns":
        raise InputError("--cut: cutting a link needs the network test bed (--testbed netns)")
    if args.testbed == "netns" and not testbed.inside():
        check_testbed(args.devices)
    _weights(args.weights)
    _address(args.address)
    st = live.setting(args.section, args.devices, args.lam)
    sim.check_horizon(args.steps, st.lam)
    return st, failures, cuts, out


def cmd_serve(args):
    from .. import testbed
    st, failures, cuts, out = _serve_args(args)
    if args.testbed == "netns" and not testbed.inside():
        inside_testbed(args.devices)
    _serve(args, st, failures, cuts, out)


def _serve(args, st, failures, cuts, out):
    from .. import testbed
    from ..experiments import serve as live
    from ..experiments import trials
    from ..io import provenance, write_table
    from ..runtime.cluster import Cluster
    from ..runtime.options import ExecutionOptions
    network = testbed if args.testbed == "netns" else None
    address = testbed.address() if network is not None else args.address
    model, recipe = trials.load_model(args.weights)
    opts = ExecutionOptions(links="real" if network is not None or args.address else "emulated",
                            compute=args.compute, method=args.method, exclusive=args.exclusive)
    meta = live.meta(st, args.steps, args.seed, args.method, args.testbed, failures, cuts, opts, args.controller)
    holder: list = []

    def make():
        holder.append(Cluster(model, st.n_devices, address=address, weights_file=trials.weights_file(args.weights)
                              if network is not None or address else None))
        return holder[0]

    def save(result):
        write_table(result.table(), out, provenance(what="live closed loop, one row per step", **{
            k: v for k, v in meta.items() if k not in ("fail", "cut", "options")},
            fail=" ".join(f"{f.device}@{f.step}:{f.at_s:g}" for f in failures),
            cut=" ".join(f"{c.a}-{c.b}@{c.step}:{c.at_s:g}" for c in cuts),
            status="partial" if len(result.rows) < args.steps else "complete"), float_format="%.9g")
        write_json(files.twin(out), finite_or_none({**meta, "requests": result.requests,
                                                             "events": result.events}))
        if not sys.stderr.isatty():  # a log's progress line (a terminal has the progress bar)
            print(f"adaptres serve: step {len(result.rows)} of {args.steps} written", file=sys.stderr, flush=True)

    from .problem import stdout_to_stderr
    try:
        with stdout_to_stderr():  # HiGHS' banner and Ray's notices: standard output holds the summary alone
            result = live.serve(recipe, st, args.steps, args.seed, args.method, failures=failures, cuts=cuts,
                                network=network, compute=args.compute, exclusive=args.exclusive,
                                progress=sys.stderr.isatty(), on_step=save, cluster_factory=make, links=opts.links,
                                controller=args.controller, params=_params(args))
    finally:
        if holder:
            holder[0].close()
    df = result.table()
    n = int(df["n_requests"].sum()) if len(df) else 0
    print(f"wrote {out} and {files.twin(out).name}: {len(df)} of {args.steps} steps, {n} requests: "
          f"{int(df['answered'].sum()) if n else 0} answered, {int(df['unserved'].sum()) if n else 0} unserved, "
          f"{int(df['failed'].sum()) if n else 0} failed, {int(df['lost'].sum()) if n else 0} lost; "
          f"{int(df['failures'].sum()) if len(df) else 0} failure(s) detected")
    if result.interrupted:
        print("adaptres serve: interrupted; the steps that finished are written", file=sys.stderr)
        raise SystemExit(130)


def cmd_testbed(args):
    from .. import testbed
    if args.devices is not None and args.action != "up":
        raise InputError(f"--devices: only 'testbed up' reads it ('testbed {args.action}' does not)")
    if args.action == "up":
        args.devices = 3 if args.devices is None else args.devices
        try:
            testbed.check_devices(args.devices)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        why = testbed.available()
        if why:
            raise InputError(f"testbed: {why}")
        took = testbed.up(args.devices)
        print(f"{testbed.status().line()} ({'already up' if not took else f'up in {took:.1f} s'})")
    elif args.action == "down":
        took = testbed.down()
        print(f"{testbed.status().line()} (down in {took:.1f} s)")
    else:
        print(testbed.status().line())


def add_commands(sub) -> None:
    r = sub.add_parser("run", help="execute plan.json on Ray, one actor per device, on real test images")
    r.add_argument("scenario", help="scenario.json: the step (its network must be the committed model's)")
    r.add_argument("plan", help="plan.json: a plan for that step")
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
    files.declare(r, inputs=("scenario", "plan", "--weights"), outputs=("--out",), committed=True)
    v = sub.add_parser("serve", help="the closed loop over a horizon: arrivals, rates, batteries, plans, executed live")
    v.add_argument("--profile", default="cpu", help="the network (only 'cpu': the committed drop-aware 32-px model)")
    v.add_argument("--section", default="V-B", help="the §V setting served (V-A, V-B, V-C, V-D)")
    v.add_argument("--devices", type=int, default=6, help="N, half low-, half high-capacity (default 6)")
    v.add_argument("--steps", type=int, default=10, help="T, the horizon's steps (default 10)")
    v.add_argument("--lam", type=float, help="requests per step (default: the section's, 3)")
    v.add_argument("--seed", type=int, default=0, help="arrivals, sources, rates and images (the simulator's draws)")
    v.add_argument("--testbed", default="local", choices=("netns", "local"),
                   help="netns: devices in network namespaces with shaped links; local: one Ray node, links paced")
    v.add_argument("--fail", action="append", metavar="DEVICE@STEP:SECONDS", help="kill a device then (repeatable)")
    v.add_argument("--cut", action="append", metavar="I-J@STEP:SECONDS", help="cut a link then (netns; repeatable)")
    v.add_argument("--method", default="colgen_round", help="the solver of every step and re-plan")
    v.add_argument("--controller", default="myopic", choices=("myopic", "horizon"),
                   help="myopic: each step on its own (the paper's); horizon: prices of energy over the horizon")
    v.add_argument("--v", type=float, help="the horizon controller's V (J² per objective unit; default: the profile's)")
    v.add_argument("--compute", default="emulated", help="emulated (waits out Eq 9) or real")
    v.add_argument("--exclusive", action="store_true", help="one request at a time (no queueing between requests)")
    v.add_argument("--weights", help="a state dict of the network (default: the committed drop-aware model)")
    v.add_argument("--address", help="a Ray cluster of real boards (each node with resource device<i>)")
    v.add_argument("--out", required=True, help="live.csv (one row per step); live.json beside it (per request)")
    v.set_defaults(func=cmd_serve)
    files.declare(v, inputs=("--weights",), outputs=("--out",), committed=True,
                  implied=lambda args: ({}, {"--out's per-request twin": files.twin(args.out)}))
    t = sub.add_parser("testbed", help="the network test bed: namespaces, shaped links, one Ray node per device")
    t.add_argument("action", choices=("up", "down", "status"), help="up (as root), down, or status")
    t.add_argument("--devices", type=int, help="up: N devices, one namespace and Ray node each (default 3)")
    t.set_defaults(func=cmd_testbed)
    p = sub.add_parser("profile-units", help="median latency of every unit here (batch 1)")
    p.add_argument("--weights", help="a state dict (default: the committed drop-aware model)")
    p.add_argument("--repeats", type=int, default=30, help="runs of each unit; the median is kept (default 30)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (a board's cores)")
    p.add_argument("--out", help="a CSV to write (default: print the table)")
    p.set_defaults(func=cmd_profile_units)
    files.declare(p, inputs=("--weights",), outputs=("--out",), committed=True)
