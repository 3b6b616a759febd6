"""The adaptive system, live: the simulator's closed loop over a horizon, executed on the device actors.

At every step, as in ``experiments.sim.run`` and with the same draws for the same seed: Poisson
arrivals from random sources (each a real Fashion-MNIST test image), link rates drawn and, on the
network test bed (``adaptres.testbed``), applied to its shaped links; the step's scenario built with
the devices' current batteries (a device found dead has none left, a link found cut gets the slowest
rate a scenario allows and no plan may cross it), solved, and executed by the coordinator. Batteries
are then debited by Eq 19 on the *measured* compute and transfer times of each device (the simulator
debits the modelled ones). A device killed stays dead for the rest of the horizon; a cut link stays
cut. Every request ends once: answered, unserved with its reason, or failed.

One row per step (the simulator's columns, from the plan, and the measured ones) and one record per
request; ``serve`` writes both after every step (atomically), so a stopped run keeps its finished
steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import solvers
from ..experiments import sections, sim
from ..problem.plan import Assignment, Plan
from ..problem.scenario import Scenario
from ..progress import bar
from . import routes as R
from . import trials
from .coordinator import Cluster, ExecutionOptions, options_record, unserved_run

MAX_STEPS = 10_000
MAX_LAM = 1_000.0


@dataclass(frozen=True)
class Failure:
    """Device ``device`` killed ``at_s`` seconds into step ``step`` (it stays dead)."""

    device: int
    step: int
    at_s: float


@dataclass(frozen=True)
class Cut:
    """Link ``a``–``b`` cut ``at_s`` seconds into step ``step`` (it stays cut)."""

    a: int
    b: int
    step: int
    at_s: float


def _when(spec: str, flag: str, what: str, steps: int) -> tuple[str, int, float]:
    head, sep, when = str(spec).partition("@")
    step, sep2, at = when.partition(":")
    try:
        t, s = int(step), float(at)
    except ValueError:
        t, s = -1, -1.0
    if not sep or not sep2 or not 0 <= t < steps or not 0 <= s <= 3600:
        raise ValueError(f"{flag}: expected {what}@STEP:SECONDS with STEP in 0..{steps - 1} and SECONDS in "
                         f"[0, 3600], got {spec!r}")
    return head, t, s


def parse_failures(specs: Sequence[str], n_devices: int, steps: int) -> list[Failure]:
    """``["3@2:0.5", ...]``: device 3 killed 0.5 s into step 2."""
    out = []
    for spec in specs:
        dev, t, s = _when(spec, "--fail", "DEVICE", steps)
        if not dev.isdigit() or not 0 <= int(dev) < n_devices:
            raise ValueError(f"--fail: no device {dev!r} (devices are 0..{n_devices - 1}), in {spec!r}")
        out.append(Failure(int(dev), t, s))
    if len({f.device for f in out}) != len(out):
        raise ValueError("--fail: a device is killed twice (a killed device stays dead)")
    return out


def parse_cuts(specs: Sequence[str], n_devices: int, steps: int) -> list[Cut]:
    """``["0-2@1:0.3", ...]``: link 0–2 cut 0.3 s into step 1."""
    out = []
    for spec in specs:
        pair, t, s = _when(spec, "--cut", "I-J", steps)
        a, sep, b = pair.partition("-")
        if not sep or not a.isdigit() or not b.isdigit() or not (0 <= int(a) < n_devices and 0 <= int(b) < n_devices) \
                or a == b:
            raise ValueError(f"--cut: no link {pair!r} (two different devices in 0..{n_devices - 1}), in {spec!r}")
        out.append(Cut(int(a), int(b), t, s))
    if len({R.link(c.a, c.b) for c in out}) != len(out):
        raise ValueError("--cut: a link is cut twice (a cut link stays cut)")
    return out


Setting = sections.Setting


def setting(section: str, n_devices: int, lam: float | None = None) -> Setting:
    """A §V section's base setting with ``n_devices`` devices, for the committed drop-aware 32-px model
    (the same inputs as the simulator's sweeps of the ``cpu`` profile)."""
    return sections.setting_of(trials.PROFILE, section, n_devices, lam=lam)


def simulate(st: Setting, steps: int, seed: int, method: str, options: solvers.Options | None = None) -> pd.DataFrame:
    """The simulator over the same horizon (the same draws, modelled batteries): ``sim.run``."""
    return sim.run(st.units, st.configs, st.devices, steps, st.lam, sim.solver_for(method, options), seed=seed,
                   progress=False, scale=st.scale, **st.scenario)


def image_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % 2**32


@dataclass
class Live:
    """A horizon's results so far: one row per step, one record per request, the events."""

    rows: list
    requests: list
    events: list
    interrupted: bool = False

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def measured_energy(sc: Scenario, run: dict) -> np.ndarray:
    """Eq 19 per device on the measured times: each segment's compute on its device, each transfer's
    time on its sender (from its submission until the input reached the receiver)."""
    compute, transmit = np.zeros(sc.n_devices), np.zeros(sc.n_devices)
    for q in run["requests"]:
        for h in q["hops"]:
            compute[h["device"]] += h["compute_s"]
            if h["src"] != h["device"]:
                transmit[h["src"]] += h["transfer_s"]
    return np.asarray(sc.kernel.energy(compute, transmit), dtype=float)


def _accuracy(sc: Scenario, q: dict) -> float | None:
    """The accuracy table's value for the drops an answered request actually ran with."""
    if q["status"] != "answered":
        return None
    table = {frozenset(c.dropped): c.accuracy for c in sc.configs}
    acc = table.get(frozenset(q["dropped"]))
    return acc if acc is not None else (sc.configs[q["config"]].accuracy if q["config"] is not None else None)


def serve(cl: Cluster | None, recipe, st: Setting, steps: int, seed: int, method: str = "colgen_round",
          options: solvers.Options | None = None, failures: Sequence[Failure] = (), cuts: Sequence[Cut] = (),
          network=None, compute: str = "emulated", exclusive: bool = False, progress: bool = True, on_step=None,
          cluster_factory=None, links: str | None = None) -> Live:
    """Run the closed loop (see the module's docstring). ``network``: the test bed module (real, shaped
    links; ``cuts`` need it) or None (one host: links paced to the model; ``links="real"``: a cluster of
    real boards, whose network is what it is). ``exclusive``: one request at a time. ``on_step(live)`` is called
    after each step (to save it); ``cluster_factory()`` makes the cluster the first time a step has
    something to run, when ``cl`` is None."""
    sim.check_horizon(steps, st.lam)
    if cuts and network is None:
        raise ValueError("--cut: cutting a link needs the network test bed (--testbed netns)")
    solve = sim.solver_for(method, options)
    opts = ExecutionOptions(links=links or ("real" if network is not None else "emulated"), compute=compute,
                            method=method, exclusive=exclusive)
    rng = np.random.default_rng(seed)
    battery = [d.energy_j for d in st.devices]
    dead: set[int] = set()
    cut: set[frozenset] = set()  # links the system has found cut
    live = Live([], [], [])
    before_bytes = network.class_bytes(st.n_devices) if network is not None else None
    try:
        for t in bar(range(steps), desc=f"live ({st.section}, N={st.n_devices}, seed {seed})", progress=progress):
            sources, rates = sim.draw(rng, st.n_devices, st.lam, st.scale)
            devs = [dataclasses.replace(d, energy_j=0.0 if i in dead else battery[i]) for i, d in enumerate(st.devices)]
            sc = sim.build(st.units.units, st.units.input_bytes, st.configs, devs, sources,
                           R.without_links(rates, cut), **st.scenario)
            if network is not None:
                network.set_rates(rates)
            t_solve = time.time()
            plan = solve(sc)
            solve_s = time.time() - t_solve
            plan, refused = _refuse_cut(sc, plan, cut)
            row, _ = sim._step_row(t, sc, plan, [d.energy_j for d in devs])
            x, labels, idx = trials.images(recipe, len(sc.requests), image_seed(seed, t))
            fails = [(f.device, f.at_s) for f in failures if f.step == t and f.device not in dead]
            events = [(c.at_s, _cutter(network, c, live, t)) for c in cuts if c.step == t]
            t0 = time.time()
            if plan.n_served or fails:
                if cl is None:
                    cl = cluster_factory()
                run = cl.execute(sc, plan, x, labels, idx, fails, opts, cut=cut, dead=dead, events=events,
                                 wait_restart=False)
            else:
                run = unserved_run(sc, plan, labels, idx, opts)
                for _, fire in events:
                    fire()
            wall = time.time() - t0
            for r, why in refused.items():
                run["requests"][r]["reason"] = why
            dead |= {f["device"] for f in run["failures"]}
            cut |= {R.link(*f["link"]) for f in run.get("links_failed", [])}
            energy = measured_energy(sc, run)
            battery = [0.0 if i in dead else max(0.0, b - e) for i, (b, e) in enumerate(zip(battery, energy))]
            after_bytes = network.class_bytes(st.n_devices) if network is not None else None
            live.rows.append(_row(row, sc, plan, run, energy, battery, solve_s, wall, before_bytes, after_bytes))
            before_bytes = after_bytes
            live.requests += [_record(sc, t, q) for q in run["requests"]]
            live.events += [{"step": t, "kind": "device", **f} for f in run["failures"]] + \
                           [{"step": t, "kind": "link", **f} for f in run.get("links_failed", [])]
            if on_step is not None:
                on_step(live)
    except KeyboardInterrupt:
        live.interrupted = True
    return live


def _cutter(network, c: Cut, live: Live, t: int):
    def fire():
        network.cut(c.a, c.b)
        live.events.append({"step": t, "kind": "cut", "link": [c.a, c.b], "at_s": c.at_s})
    return fire


def _refuse_cut(sc: Scenario, plan: Plan, cut: set) -> tuple[Plan, dict[int, str]]:
    """The plan without the requests whose routes cross a link known to be cut (unserved, with the reason)."""
    if not cut:
        return plan, {}
    refused = {}
    reqs = list(plan.requests)
    for r, rt in enumerate(R.routes(sc, plan)):
        pair = R.crosses(rt, cut)
        if pair:
            reqs[r] = Assignment(served=False, config=None, placement={})
            refused[r] = f"its plan crossed the cut link {pair[0]}-{pair[1]}"
    return (dataclasses.replace(plan, requests=tuple(reqs)) if refused else plan), refused


def _row(model: dict, sc: Scenario, plan: Plan, run: dict, energy, battery, solve_s: float, wall: float,
         before, after) -> dict:
    q = run["requests"]
    answered = [r for r in q if r["status"] == "answered"]
    acc = [_accuracy(sc, r) for r in answered]
    crossed_model = [rt is not None and rt.bytes > 0 for rt in R.routes(sc, plan)]
    out = {**model, "solve_wall_s": solve_s,
           "answered": len(answered), "unserved": sum(r["status"] == "unserved" for r in q),
           "failed": sum(r["status"] == "failed" for r in q),
           "lost": sum(r["status"] not in ("answered", "unserved", "failed") for r in q) + len(run["ended_twice"]),
           "failures": len(run["failures"]) + len(run.get("links_failed", [])),
           "replanned": sum(bool(r["replanned"]) for r in q),
           "correct": sum(r["prediction"] == r["label"] for r in answered),
           "measured_accuracy": float(np.mean(acc)) if acc else np.nan,
           "measured_latency_s": float(np.mean([r["latency_s"] for r in answered])) if answered else np.nan,
           "model_latency_answered_s": float(np.mean([r["latency_model_s"] for r in answered
                                                      if r["latency_model_s"] is not None])) if answered else np.nan,
           "measured_energy_j": float(energy.sum()), "battery_after_j": float(sum(battery)),
           "crossing": int(sum(crossed_model)), "crossing_answered": sum(r["bytes_sent"] > 0 for r in answered),
           "bytes_sent": int(sum(r["bytes_sent"] for r in q)), "step_wall_s": wall}
    if before is not None and after is not None:
        out["wire_bytes"] = int(sum(a - b for ra, rb in zip(after, before) for a, b in zip(ra, rb)))
    return out


def _record(sc: Scenario, t: int, q: dict) -> dict:
    keep = ("request", "status", "reason", "latency_s", "latency_model_s", "bytes_sent", "bytes_model", "devices",
            "label", "prediction", "config", "dropped", "replanned", "transfer_s", "transfer_model_s", "compute_s",
            "compute_model_s", "lost_hops")
    hops = [{k: h.get(k) for k in ("device", "src", "start", "stop", "bytes", "transfer_s", "transfer_model_s",
                                   "rate_mbps", "compute_s", "arrive", "end")} for h in q["hops"]]
    return {"step": t, **{k: q.get(k) for k in keep}, "accuracy": _accuracy(sc, q), "hops": hops}


def meta(st: Setting, steps: int, seed: int, method: str, testbed: str, failures, cuts, options) -> dict:
    return {"section": st.section, "n_devices": st.n_devices, "lam": st.lam, "steps": steps, "seed": seed,
            "method": method, "testbed": testbed, "profile": trials.PROFILE, **st.scenario,
            "fail": [dataclasses.asdict(f) for f in failures], "cut": [dataclasses.asdict(c) for c in cuts],
            "table": st.table.get("table"), "table_sha256": st.table.get("table_sha256"),
            "options": options_record(options) if options is not None else None}
