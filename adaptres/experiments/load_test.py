"""The load test (``python -m adaptres load``, notebook 12): requests in real time against a policy.

A §V section's devices (the committed drop-aware 32-px model's network, as ``serve``) receive a Poisson
process of requests; every epoch the requests that arrived are planned by the policy and submitted
without waiting for earlier epochs (``serving.loop``, pipelined), on the simulated queues
(``serving.simulated``) or on the device actors (``serving.on_ray``, live, on one host or the network
test bed). The reference is the static chain (``serving.chain``): its modelled capacity gives ``--load``
its unit, and twice its unloaded modelled latency is the default SLO. The result is one row per
request and the run's numbers (``serving.metrics``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import solvers
from ..io import check_seed
from ..problem.generate import RATE_MBPS, build
from ..runtime import faults
from ..serving import arrivals, chain, loop, metrics, policies
from ..serving.controllers import Horizon
from . import profiles, sections

if TYPE_CHECKING:
    import pandas as pd

EXECUTORS = ("sim", "live")
TESTBEDS = ("local", "netns")
MAX_DURATION_S = 24 * 3600.0
MAX_RATE = 1000.0


@dataclass(frozen=True)
class Spec:
    """A load test's settings (checked when made: a ``ValueError`` names the flag)."""

    policy: str
    n_devices: int = 6
    rate: float | None = None  # requests per second; or
    load: float | None = None  # times the static chain's modelled capacity
    duration_s: float = 60.0
    epoch_s: float | None = None  # default: the profile's
    slo_s: float | None = None  # default: the profile's factor × the static chain's unloaded modelled latency
    seed: int = 0
    section: str = "V-A"
    executor: str = "sim"
    testbed: str = "local"
    fail: tuple[str, ...] = ()
    cut: tuple[str, ...] = ()
    profile: str = "cpu"

    def __post_init__(self):
        policies.check(self.policy)
        sections.get(self.section)
        profiles.get(self.profile)
        check_seed(self.seed, "--seed")
        if (self.rate is None) == (self.load is None):
            raise ValueError("--rate, --load: give exactly one (requests per second, or times the static chain's "
                             "capacity)")
        for flag, v, hi in (("--rate", self.rate, MAX_RATE), ("--load", self.load, 1000.0),
                            ("--duration", self.duration_s, MAX_DURATION_S), ("--epoch", self.epoch_s, MAX_DURATION_S),
                            ("--slo", self.slo_s, MAX_DURATION_S)):
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                      and 0 < v <= hi):
                raise ValueError(f"{flag}: must be a positive number of at most {hi:g}, got {v!r}")
        if self.epoch_s is not None and self.epoch_s > self.duration_s:
            raise ValueError(f"--epoch: {self.epoch_s:g} s is longer than the run (--duration {self.duration_s:g} s)")
        if self.executor not in EXECUTORS:
            raise ValueError(f"--executor: must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.testbed not in TESTBEDS:
            raise ValueError(f"--testbed: must be one of {', '.join(TESTBEDS)}, got {self.testbed!r}")
        if isinstance(self.n_devices, bool) or not isinstance(self.n_devices, int) or not 1 <= self.n_devices <= 1000:
            raise ValueError(f"--devices: must be an integer in [1, 1000], got {self.n_devices!r}")
        faults.parse_failures(self.fail, self.n_devices, limit=self.duration_s)
        faults.parse_cuts(self.cut, self.n_devices, limit=self.duration_s)
        if self.cut and (self.executor != "live" or self.testbed != "netns"):
            raise ValueError("--cut: cutting a link needs the network test bed (--executor live --testbed netns)")

    @property
    def failures(self) -> list[faults.Failure]:
        return faults.parse_failures(self.fail, self.n_devices, limit=self.duration_s)

    @property
    def cuts(self) -> list[faults.Cut]:
        return faults.parse_cuts(self.cut, self.n_devices, limit=self.duration_s)


@dataclass(frozen=True)
class Reference:
    """The static chain of a setting at the mean link rate: what ``--load`` and the default SLO refer to."""

    chain: chain.Chain
    mean_rate_mbps: float

    @property
    def capacity_rps(self) -> float:
        return self.chain.capacity_rps

    @property
    def latency_s(self) -> float:
        return self.chain.latency_s


def mean_rate(st: sections.Setting) -> float:
    """The links' mean rate: the middle of U[7.2, 72.2] Mb/s, scaled to the network as the rates are."""
    return float(st.scale.rates([[0.0, sum(RATE_MBPS) / 2]])[0][1]) if st.scale is not None else sum(RATE_MBPS) / 2


def reference(st: sections.Setting) -> Reference:
    rate = mean_rate(st)
    n = st.n_devices
    sc = build(st.units.units, st.units.input_bytes, st.configs, st.devices, [0],
               [[0.0 if i == k else rate for k in range(n)] for i in range(n)], **st.scenario)
    c = chain.partition(sc, range(n), rate)
    if c is None:
        raise ValueError(f"--devices: no chain of the full model fits {n} devices of §{st.section}")
    return Reference(c, rate)


@dataclass
class LoadRun:
    """A load test's result: one row per request, the run's numbers, the loop's history."""

    spec: Spec
    rate: float
    slo_s: float
    epoch_s: float
    reference: Reference
    table: object  # pandas.DataFrame
    summary: dict
    history: loop.History
    meta: dict = field(default_factory=dict)
    events: list = field(default_factory=list)  # the failures the executor found


def setting(spec: Spec) -> sections.Setting:
    """The section's setting for the load test: the profile's accuracy table, its links' fixed overhead."""
    L = profiles.get(spec.profile).load
    st = sections.setting_of(spec.profile, spec.section, spec.n_devices, table=L.table)
    return dataclasses.replace(st, scenario={**st.scenario, "link_overhead_s": L.link_overhead_s})


def make_policy(spec: Spec, L: "profiles.Load", n_epochs: int, n_devices: int):
    if spec.policy == "paper":
        return policies.Paper(lambda sc: solvers.solve(sc, L.method, solvers.Options(time_limit=L.time_limit)))
    if spec.policy == "adaptive":
        return policies.Adaptive(L.adaptive_method, solvers.Options(time_limit=L.time_limit), window_s=L.window_s,
                                 controller=Horizon(n_devices, n_epochs), planner_s=L.planner_s)
    return policies.Static() if spec.policy == "static" else policies.Local()


def run(spec: Spec, progress: bool = False, executor=None, images=None, on_epoch=None,
        t0: float | None = None) -> LoadRun:
    """Run the load test of ``spec`` on the simulated queues, or on ``executor`` (a live one, with the
    ``images`` of each epoch); see the module's docstring."""
    L = profiles.get(spec.profile).load
    st = setting(spec)
    ref = reference(st)
    rate = spec.rate if spec.rate is not None else spec.load * ref.capacity_rps
    epoch_s = spec.epoch_s or L.epoch_s
    slo_s = spec.slo_s or L.slo_factor * ref.latency_s
    arr = arrivals.Poisson(st.n_devices, rate, spec.duration_s, epoch_s, spec.seed, st.scale,
                           silent={f.device: f.at_s for f in spec.failures})
    policy = make_policy(spec, L, len(arr), st.n_devices)
    if executor is None:
        from ..serving.simulated import Queues
        executor = Queues(st.n_devices, L.method, L.time_limit, replan_time=L.sim_planner)
        for f in spec.failures:
            executor.fail(f.device, f.at_s)
    clock = loop.WallClock(t0) if spec.executor == "live" else loop.Clock(L.sim_planner)
    hist = loop.run(loop.Fleet.of(st), arr, policy, executor, pipelined=True, clock=clock, slo_s=slo_s,
                    mean_rate_mbps=ref.mean_rate_mbps, images=images, progress=progress,
                    label=f"load {spec.policy} ({rate:.2f}/s, {spec.executor})", on_epoch=on_epoch)
    table = metrics.requests_table(hist, slo_s)
    energy = float(sum(rep.energy.sum() for rep in hist.reports))
    summ = metrics.summary(table, hist, rate=rate, duration_s=spec.duration_s, epoch_s=epoch_s, slo_s=slo_s,
                           energy_j=energy, static_capacity_rps=ref.capacity_rps)
    summ.update(policy=spec.policy, executor=spec.executor, n_devices=st.n_devices, section=spec.section,
                seed=spec.seed, accuracy_threshold=st.scenario["accuracy_threshold"],
                static_latency_s=ref.latency_s, interrupted=hist.interrupted)
    meta = {**dataclasses.asdict(spec), "table": st.table.get("table"), "table_sha256": st.table.get("table_sha256"),
            "method": L.adaptive_method if spec.policy == "adaptive" else L.method if spec.policy == "paper" else None,
            "time_limit": L.time_limit, "window_s": L.window_s if spec.policy == "adaptive" else None,
            "sim_planner": L.sim_planner if spec.executor == "sim" else None}
    events = executor.events() if hasattr(executor, "events") else []
    return LoadRun(spec, rate, slo_s, epoch_s, ref, table, summ, hist, meta, events)


def run_live(spec: Spec, network=None, address: str | None = None, weights=None, progress: bool = False,
             on_epoch=None) -> LoadRun:
    """``run`` on the device actors: on one host (links paced to the model), on the network test bed
    (``network``: the ``testbed`` module, this process inside its hub) or on the cluster at ``address``.
    Every device is given every unit's weights before the run starts (no first-load time in the measured
    latencies); the images are real test images drawn with the seed."""
    from ..runtime.cluster import Cluster
    from ..runtime.options import ExecutionOptions
    from ..serving.on_ray import Pipeline
    from . import trials
    L = profiles.get(spec.profile).load
    st = setting(spec)
    model, recipe = trials.load_model(weights)
    rate = spec.rate if spec.rate is not None else spec.load * reference(st).capacity_rps
    n_arrivals = len(arrivals.Poisson(st.n_devices, rate, spec.duration_s, spec.epoch_s or L.epoch_s, spec.seed,
                                      st.scale, silent={f.device: f.at_s for f in spec.failures}).arrivals)
    x, labels, idx = trials.images(recipe, n_arrivals, spec.seed)
    real = network is not None or address is not None
    cl = Cluster(model, st.n_devices, address=address, weights_file=trials.weights_file(weights) if real else None,
                 restarts=0)
    try:
        names = [u.name for u in model.units]
        cl.ray.get([a.load.remote({n: True for n in names}, cl.slices, False) for a in cl.actors])
        # re-plans by the policy's own solver (the adaptive one's is fast: it re-plans under load)
        method = L.adaptive_method if spec.policy == "adaptive" else L.method
        opts = ExecutionOptions(links="real" if real else "emulated", method=method, time_limit=L.time_limit)
        t0 = time.time() + 0.5
        executor = Pipeline(cl, opts, st.n_devices, t0, network)
        for f in spec.failures:
            executor.fail(f.device, f.at_s)
        for c in spec.cuts:
            executor.cut_at(c.a, c.b, c.at_s)

        def images(epoch):
            ids = [a.id for a in epoch.arrivals]
            return [x[i] for i in ids], [labels[i] for i in ids], [idx[i] for i in ids]
        try:
            out = run(spec, progress, executor=executor, images=images, on_epoch=on_epoch, t0=t0)
        finally:
            executor.close()
    finally:
        cl.close()
    return out


def save(res: LoadRun, out) -> None:
    """``load.csv`` (one row per request, under a provenance header) and ``load.json`` beside it (the run's
    numbers and settings), both written atomically."""
    from ..io import finite_or_none, provenance, write_json, write_table
    given = {k: v for k, v in res.meta.items() if k not in ("rate", "slo_s", "epoch_s", "fail", "cut")}
    meta = provenance(what="load test, one row per request", **given, fail=" ".join(res.spec.fail),
                      cut=" ".join(res.spec.cut), rate=f"{res.rate:.6g}", slo_s=f"{res.slo_s:.6g}", epoch_s=res.epoch_s,
                      cpu=cpu_model())
    write_table(res.table, out, meta, float_format="%.9g")
    write_json(Path(out).with_suffix(".json"), finite_or_none({**res.summary, "settings": res.meta, "events": res.events,
                                                               "commit": meta["commit"], "date": meta["date"]}))


def cpu_model() -> str:
    """This machine's processor, and whether it has AVX-512 with BF16 (the timings' provenance)."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return f"{name}; {'AVX-512 BF16' if 'avx512_bf16' in flags else 'AVX-512' if 'avx512f' in flags else 'AVX2'}"


# ---------------------------------------------------------------------------- sweeps (notebook 12)
SWEEP_KEYS = ("policy", "load", "seed", "n_devices")


def sweep(profile: str, policies_: tuple[str, ...], loads: tuple[float, ...], seeds: tuple[int, ...], n_devices: int,
          duration_s: float, out=None, progress: bool = False) -> "pd.DataFrame":
    """Every policy at every offered load (× the static chain's modelled capacity) and seed, on the simulated
    queues: one row per run (``metrics.summary``). With ``out``, the rows are saved after each run (with
    their provenance) and a stopped sweep resumes where it was."""
    import pandas as pd

    from ..io import provenance, read_header, write_table
    from ..progress import bar
    keys = {"profile": profile, "duration_s": duration_s, "code_sha256": code_hash()}
    rows: list[dict] = []
    if out is not None and Path(out).is_file() and all(read_header(out).get(k) == str(v) for k, v in keys.items()):
        rows = pd.read_csv(out, comment="#").to_dict("records")
    done = {(r["policy"], float(r["load"]), int(r["seed"]), int(r["n_devices"])) for r in rows}
    todo = [(p, x, s) for p in policies_ for x in loads for s in seeds if (p, float(x), s, n_devices) not in done]
    for p, x, s in bar(todo, desc=f"load sweep (N={n_devices})", progress=progress):
        res = run(Spec(policy=p, n_devices=n_devices, load=x, duration_s=duration_s, seed=s, profile=profile))
        rows.append({"policy": p, "load": x, "seed": s, **{k: v for k, v in res.summary.items()
                                                          if k not in ("policy", "seed")}})
        if out is not None:
            write_table(pd.DataFrame(rows), out, provenance(what="load sweep, simulated queues, one row per run",
                                                             **keys, cpu=cpu_model()), float_format="%.9g")
    return pd.DataFrame(rows)


def c_static(runs, attainment: float = 0.9) -> float | None:
    """The highest offered load (× the chain's modelled capacity) at which the static chain answers at least
    ``attainment`` of the requests within the SLO (mean over seeds), or None."""
    s = runs[runs["policy"] == "static"].groupby("load")["slo_attainment"].mean()
    ok = s[s >= attainment]
    return float(ok.index.max()) if len(ok) else None


def largest_goodput(runs, attainment: float = 0.99):
    """Per policy and N: the largest goodput (requests per second answered within the SLO, mean over seeds)
    among the offered loads at which the attainment (mean over seeds) is at least ``attainment``."""
    import pandas as pd
    g = runs.groupby(["policy", "n_devices", "load"])[["slo_attainment", "goodput_rps"]].mean().reset_index()
    ok = g[g["slo_attainment"] >= attainment]
    best = ok.groupby(["policy", "n_devices"])["goodput_rps"].max()
    return best.reindex(pd.MultiIndex.from_product([sorted(runs["policy"].unique()), sorted(runs["n_devices"].unique())],
                                                   names=["policy", "n_devices"])).reset_index()


def code_hash() -> str:
    """A hash of the code a load sweep's numbers depend on (the problem and solver sides, the serving layer,
    this module) and of the profile's settings."""
    import hashlib

    from ..paths import PACKAGE
    h = hashlib.sha256()
    for path in sorted([*(PACKAGE / "problem").rglob("*.py"), *(PACKAGE / "solvers").rglob("*.py"),
                        *(PACKAGE / "serving").rglob("*.py"), PACKAGE / "runtime" / "routes.py",
                        PACKAGE / "experiments" / "load_test.py", PACKAGE / "experiments" / "profiles.py"]):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
