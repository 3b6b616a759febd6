"""``load``: a load test — requests in real time, planned epoch by epoch by a policy, on the simulated
queues or live (one host, the network test bed, or a cluster of boards); ``load.csv`` and ``load.json``."""

from __future__ import annotations

import sys

from ..io import InputError, check_input, check_range
from . import files
from .runtime import _address, check_testbed, inside_testbed


def _spec(args):
    """Every flag checked before anything starts (one line naming the flag); the load test's ``Spec``."""
    from ..experiments import load_test as load
    if args.executor != "live":
        for flag, v in (("--testbed", args.testbed), ("--weights", args.weights), ("--address", args.address)):
            if v is not None:
                raise InputError(f"{flag}: only a live load test reads it (--executor live)")
    if args.testbed is not None and args.address is not None:
        raise InputError("--address: a cluster of boards has its own network (leave --testbed out)")
    try:
        spec = load.Spec(policy=args.policy, n_devices=args.devices, rate=args.rate, load=args.load,
                         duration_s=args.duration, epoch_s=args.epoch, slo_s=args.slo, seed=args.seed,
                         section=args.section, executor=args.executor, testbed=args.testbed or "local",
                         fail=tuple(args.fail or ()), cut=tuple(args.cut or ()), profile=args.profile)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if args.executor == "live":
        from .. import testbed
        limit = testbed.max_devices()
        check_range(spec.n_devices, "--devices", 1, limit, unit="what this host holds live")
        if spec.testbed == "netns" and not testbed.inside():
            check_testbed(spec.n_devices)
        if args.weights is not None:
            check_input(args.weights, "--weights")
        _address(args.address)
    return spec


def cmd_load(args):
    from .. import testbed
    from ..experiments import load_test as load
    spec = _spec(args)
    if spec.executor == "live" and spec.testbed == "netns" and not testbed.inside():
        inside_testbed(spec.n_devices)
    from .problem import stdout_to_stderr
    progress = sys.stderr.isatty()
    with stdout_to_stderr():
        if spec.executor == "live":
            network = testbed if spec.testbed == "netns" else None
            address = testbed.address() if network is not None else args.address
            res = load.run_live(spec, network, address, args.weights, progress=progress)
        else:
            res = load.run(spec, progress=progress)
    load.save(res, args.out)
    s = res.summary
    print(f"wrote {args.out} and {files.twin(args.out).name}: {s['arrived']} arrived at {res.rate:.3g}/s "
          f"({spec.policy}, {spec.executor}): {s['answered']} answered, {s['refused']} refused, {s['unserved']} "
          f"unserved, {s['failed']} failed, {s['lost']} lost; SLO {res.slo_s:.2f} s attained by "
          f"{100 * s['slo_attainment']:.1f} %, p99 {s['p99_s']:.2f} s, goodput {s['goodput_rps']:.2f}/s")
    if res.history.interrupted:
        print("adaptres load: interrupted; the requests that arrived are written", file=sys.stderr)
        raise SystemExit(130)


# the choices, as the modules that read them have them (a test checks): the parser imports nothing heavy
POLICIES = ("adaptive", "paper", "static", "local")
EXECUTORS = ("sim", "live")
TESTBEDS = ("local", "netns")


def add_commands(sub) -> None:
    p = sub.add_parser("load", help="a load test: Poisson arrivals in real time, planned per epoch by a policy")
    p.add_argument("--policy", required=True, choices=POLICIES,
                   help="adaptive (queue-aware), paper (per-epoch Eq 5), static (a fixed chain), local (on the source)")
    p.add_argument("--devices", type=int, default=6, help="N, half low-, half high-capacity (§V)")
    p.add_argument("--rate", type=float, help="requests per second (or --load)")
    p.add_argument("--load", type=float, help="times the static chain's modelled capacity (or --rate)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of arrivals; then what is in flight drains")
    p.add_argument("--epoch", type=float, help="seconds between plans (default: the profile's)")
    p.add_argument("--slo", type=float, help="seconds from arrival to answer (default: 2 × the static chain's "
                                             "unloaded modelled latency)")
    p.add_argument("--seed", type=int, default=0, help="arrivals, sources, link rates and images")
    p.add_argument("--section", default="V-A", choices=("V-A", "V-B", "V-C", "V-D"), help="whose devices and weights")
    p.add_argument("--profile", default="cpu", help="the profile's load settings (epoch, SLO factor, solver)")
    p.add_argument("--executor", default="sim", choices=EXECUTORS, help="sim: the simulated queues; live: on Ray")
    p.add_argument("--testbed", choices=TESTBEDS, help="live: netns (shaped links) or local (one host, default)")
    p.add_argument("--fail", action="append", metavar="DEVICE@SECONDS", help="kill a device then (repeatable)")
    p.add_argument("--cut", action="append", metavar="I-J@SECONDS", help="cut a link then (netns; repeatable)")
    p.add_argument("--weights", help="live: a state dict of the network (default: the committed drop-aware model)")
    p.add_argument("--address", help="live: a Ray cluster of real boards (each node with resource device<i>)")
    p.add_argument("--out", required=True, help="load.csv (one row per request); load.json beside it (the numbers)")
    p.set_defaults(func=cmd_load)
    files.declare(p, inputs=("--weights",), outputs=("--out",), committed=True,
                  implied=lambda args: ({}, {"--out's summary twin": files.twin(args.out)}))
