"""``serve``: the paper's closed loop over a horizon, executed on the device actors, one step at a time.

The loop (``serving.loop``) with the simulator's draws for the same seed (``arrivals.Steps``: Poisson
arrivals from random sources, each a real Fashion-MNIST test image, link rates drawn and, on the
network test bed, applied to its shaped links), the per-step optimisation under a controller
(``policies.Paper``: myopic, or the horizon's prices of energy) and the actors as executor
(``on_ray.Steps``). Batteries are debited by Eq 19 on the *measured* compute and transfer times of each
device (the simulator debits the modelled ones). A device killed stays dead for the rest of the
horizon (it has no energy in later steps' scenarios); a cut link stays cut (missing in later steps'
scenarios, so that no solver routes over it). Every request ends once: answered, unserved with its
reason, or failed.

One row per step (the simulator's columns, from the plan, and the measured ones) and one record per
request; ``serve`` writes both after every step (atomically), so a stopped run keeps its finished steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import solvers
from ..problem.scenario import Scenario
from ..runtime import routes as R
from ..runtime.faults import Cut, Failure
from ..runtime.options import ExecutionOptions
from ..serving import arrivals, controllers, loop, on_ray, policies
from ..serving.rows import step_row
from . import sections, sim, trials

MAX_STEPS = 10_000
MAX_LAM = 1_000.0

Setting = sections.Setting


def setting(section: str, n_devices: int, lam: float | None = None) -> Setting:
    """A §V section's base setting with ``n_devices`` devices, for the committed drop-aware 32-px model
    (the same inputs as the simulator's sweeps of the ``cpu`` profile)."""
    return sections.setting_of(trials.PROFILE, section, n_devices, lam=lam)


def simulate(st: Setting, steps: int, seed: int, method: str, options: solvers.Options | None = None,
             controller: str = "myopic", params: controllers.Params | None = None) -> pd.DataFrame:
    """The simulator over the same horizon (the same draws, modelled batteries): ``sim.run``."""
    ctl = None if controller == "myopic" else controllers.make(controller, st.n_devices, steps, params)
    return sim.run(st.units, st.configs, st.devices, steps, st.lam, sim.solver_for(method, options), seed=seed,
                   progress=False, scale=st.scale, controller=ctl, **st.scenario)


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


def serve(recipe, st: Setting, steps: int, seed: int, method: str = "colgen_round",
          options: solvers.Options | None = None, failures: Sequence[Failure] = (), cuts: Sequence[Cut] = (),
          network=None, compute: str = "emulated", exclusive: bool = False, progress: bool = True, on_step=None,
          cluster_factory=None, links: str | None = None, controller: str = "myopic",
          params: controllers.Params | None = None) -> Live:
    """Run the closed loop (see the module's docstring). ``network``: the test bed module (real, shaped
    links; ``cuts`` need it) or None (one host: links paced to the model; ``links="real"``: a cluster of
    real boards, whose network is what it is). ``exclusive``: one request at a time. ``on_step(live)`` is
    called after each step (to save it); ``cluster_factory()`` makes the cluster the first time a step has
    something to run. ``controller``: myopic (the paper's) or horizon (prices of energy)."""
    sim.check_horizon(steps, st.lam)
    if cuts and network is None:
        raise ValueError("--cut: cutting a link needs the network test bed (--testbed netns)")
    opts = ExecutionOptions(links=links or ("real" if network is not None else "emulated"), compute=compute,
                            method=method, exclusive=exclusive)
    ctl = None if controller == "myopic" else controllers.make(controller, st.n_devices, steps, params)
    policy = policies.Paper(sim.solver_for(method, options), ctl)
    executor = on_ray.Steps(cluster_factory, opts, st.n_devices, network, failures, cuts)
    live = Live([], [], [])
    fleet = loop.Fleet.of(st)

    def images(epoch):
        return trials.images(recipe, len(epoch.arrivals), image_seed(seed, epoch.index))

    def saved(hist: loop.History) -> None:
        rec = hist.epochs[-1]
        run = rec.report.extra.get("run")
        row = _row(rec, run, hist.battery, len(fleet.devices), network, wire)
        live.rows.append(row)
        live.requests += [_record(rec.decision.scenario, rec.epoch.index, q) for q in run["requests"]]
        live.events = list(executor.events)
        if on_step is not None:
            on_step(live)

    wire = {"bytes": network.class_bytes(st.n_devices) if network is not None else None}  # the links' counters
    try:
        hist = loop.run(fleet, arrivals.Steps(st.n_devices, st.lam, steps, seed, st.scale), policy, executor,
                        images=images, progress=progress, label=f"live ({st.section}, N={st.n_devices}, seed {seed})",
                        on_epoch=saved, drain=False)
    finally:
        executor.close()
    live.interrupted = hist.interrupted
    return live


def _accuracy(sc: Scenario, q: dict) -> float | None:
    """The accuracy table's value for the drops an answered request actually ran with."""
    if q["status"] != "answered":
        return None
    table = {frozenset(c.dropped): c.accuracy for c in sc.configs}
    acc = table.get(frozenset(q["dropped"]))
    return acc if acc is not None else (sc.configs[q["config"]].accuracy if q["config"] is not None else None)


def _row(rec: loop.EpochRecord, run: dict, battery, n_devices: int, network, wire: dict) -> dict:
    """A step's row: the simulator's (the plan on the step's scenario) and the measured numbers."""
    sc, plan = rec.decision.scenario, rec.decision.plan
    model, _ = step_row(rec.epoch.index, sc, plan, rec.battery_before)
    energy = rec.report.energy
    q = run["requests"]
    answered = [r for r in q if r["status"] == "answered"]
    acc = [_accuracy(sc, r) for r in answered]
    crossed_model = [rt is not None and rt.bytes > 0 for rt in R.routes(sc, plan)]
    out = {**model, **rec.decision.extra, **rec.observed, "solve_wall_s": rec.planner_s,
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
           "measured_energy_j": float(np.sum(energy)), "battery_after_j": float(sum(battery)),
           "crossing": int(sum(crossed_model)), "crossing_answered": sum(r["bytes_sent"] > 0 for r in answered),
           "bytes_sent": int(sum(r["bytes_sent"] for r in q)), "step_wall_s": run.get("wall_s", 0.0)}
    if network is not None:  # the bytes the shaped links carried during the step
        after = network.class_bytes(n_devices)
        out["wire_bytes"] = int(sum(a - b for ra, rb in zip(after, wire["bytes"]) for a, b in zip(ra, rb)))
        wire["bytes"] = after
    return out


def _record(sc: Scenario, t: int, q: dict) -> dict:
    keep = ("request", "status", "reason", "latency_s", "latency_model_s", "bytes_sent", "bytes_model", "devices",
            "label", "prediction", "config", "dropped", "replanned", "transfer_s", "transfer_model_s", "compute_s",
            "compute_model_s", "lost_hops")
    hops = [{k: h.get(k) for k in ("device", "src", "start", "stop", "bytes", "transfer_s", "transfer_model_s",
                                   "rate_mbps", "compute_s", "arrive", "end")} for h in q["hops"]]
    return {"step": t, **{k: q.get(k) for k in keep}, "accuracy": _accuracy(sc, q), "hops": hops}


def meta(st: Setting, steps: int, seed: int, method: str, testbed: str, failures, cuts, options,
         controller: str = "myopic") -> dict:
    return {"section": st.section, "n_devices": st.n_devices, "lam": st.lam, "steps": steps, "seed": seed,
            "method": method, "testbed": testbed, "profile": trials.PROFILE, "controller": controller, **st.scenario,
            "fail": [dataclasses.asdict(f) for f in failures], "cut": [dataclasses.asdict(c) for c in cuts],
            "table": st.table.get("table"), "table_sha256": st.table.get("table_sha256"),
            "options": options.record() if options is not None else None}

