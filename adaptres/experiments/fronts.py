"""Notebook 11: the trade-off itself — exact latency–accuracy fronts of §V-A steps, what the paper's
weighted sum reaches of them, NSGA-II beside them, the drop-aware and the standard table's fronts, fronts
under energy budgets and over N.

Every front is the ε-constraint on the column generation's master (``solvers.pareto.exact_front``): each
point proven within the gap under its accuracy budget. The step is a §V-A step (``sections.scenario_for``:
the §V devices, U[7.2, 72.2] Mb/s links, R requests from random sources), the same seed giving the same
devices, links and requests whichever accuracy table it is read with.
"""

from __future__ import annotations

import time

import pandas as pd

from ..io import check_seed, provenance, write_table
from ..progress import bar
from ..solvers import Options
from ..solvers.pareto import Front, exact_front, hypervolume, nsga2_front, reference, weighted_sums
from . import profiles, sim
from .sections import scenario_for

POINT_COLUMNS = ["kind", "table", "n_devices", "seed", "energy_budget_j", "method", "point", "mean_latency_s",
                 "mean_accuracy", "energy_j", "served", "gap", "supported", "alphas", "loss_budget", "solve_s"]


def _rows(front: Front, **keys) -> list[dict]:
    return [{**keys, "method": front.meta["method"], "point": n, "mean_latency_s": p.mean_latency_s,
             "mean_accuracy": p.mean_accuracy, "energy_j": p.energy_j, "served": p.served, "gap": p.gap,
             "supported": p.supported, "alphas": " ".join(f"{a:g}" for a in p.alphas), "loss_budget": p.loss_budget,
             "solve_s": p.plan.solve_s} for n, p in enumerate(front.points)]


def step(profile: str, table: str, n_devices: int, seed: int):
    """The §V-A step of ``seed`` with ``n_devices`` devices, read with accuracy ``table``."""
    P = profiles.get(profile).pareto
    return scenario_for(profile, n_devices, P.n_requests, seed, "V-A", table=table)


def one(profile: str, kind: str, table: str, n_devices: int, seed: int, energy_fraction: float | None = None) -> tuple:
    """One front (``kind``: "front" with the α grid and NSGA-II beside it, "budget" under an energy budget
    ``energy_fraction`` of the way from the fastest plan's energy to the most accurate plan's, "scale" alone):
    its rows and its summary."""
    P = profiles.get(profile).pareto
    sc = step(profile, table, n_devices, seed)
    opts = Options(time_limit=P.time_limit, rel_gap=P.rel_gap, max_nodes=P.max_nodes)
    keys = {"kind": kind, "table": table, "n_devices": n_devices, "seed": seed, "energy_budget_j": None}
    t0 = time.perf_counter()
    budget = None
    if energy_fraction is not None:
        ends = exact_front(sc, 2, opts).points  # the fastest plan and the most accurate
        budget = ends[0].energy_j + energy_fraction * (ends[-1].energy_j - ends[0].energy_j)
        keys["energy_budget_j"] = budget
    front = exact_front(sc, P.points, opts, energy_budget_j=budget)
    exact_s = time.perf_counter() - t0
    rows = _rows(front, **keys)
    summary = {**keys, "points": len(front.points), "solved": front.meta["solved"], "exact_s": exact_s,
               "max_gap": max((p.gap or 0.0) for p in front.points), "unsupported": sum(not p.supported for p in front.points),
               "energy_fraction": energy_fraction, **tradeoff(front)}
    if kind == "front":
        ws = weighted_sums(sc, front, P.alphas, opts)
        rows = _rows(front, **keys)  # now with the α grid's marks
        heur = nsga2_front(sc, exact_s, seed=seed, pop_size=P.nsga_pop_size)
        rows += _rows(heur, **keys)
        ref = reference(front.points, heur.points)
        hv_exact, hv_heur = hypervolume(front.points, ref), hypervolume(heur.points, ref)
        summary.update({"alpha_points": len({w["point"] for w in ws if w["point"] is not None}),
                        "alpha_off_front": sum(w["point"] is None for w in ws),
                        "nsga2_points": len(heur.points), "nsga2_generations": heur.meta["generations"],
                        "hv_exact": hv_exact, "hv_nsga2": hv_heur, "hv_ratio": hv_heur / hv_exact if hv_exact else None,
                        "ref_latency_s": ref[0], "ref_accuracy": ref[1]})
    return rows, summary


def tradeoff(front: Front) -> dict:
    """The front's ends: the fastest point and the most accurate, and what one costs of the other."""
    fast, acc = front.points[0], front.points[-1]
    return {"fastest_latency_s": fast.mean_latency_s, "fastest_accuracy": fast.mean_accuracy,
            "accurate_latency_s": acc.mean_latency_s, "accurate_accuracy": acc.mean_accuracy,
            "latency_saved_pct": 100 * (acc.mean_latency_s - fast.mean_latency_s) / acc.mean_latency_s
            if acc.mean_latency_s else 0.0,
            "accuracy_given_pt": acc.mean_accuracy - fast.mean_accuracy}


def tasks(profile: str) -> list[tuple]:
    """Every front the notebook draws: per table and seed the front with its α grid and NSGA-II; on the first
    table, seed 0: fronts under energy budgets and over N."""
    P = profiles.get(profile).pareto
    out = [("front", t, P.n_devices, s, None) for t in P.tables for s in P.seeds]
    out += [("budget", P.tables[0], P.n_devices, P.seeds[0], f) for f in P.energy_fractions]
    out += [("scale", P.tables[0], n, P.seeds[0], None) for n in P.over_n if n != P.n_devices]
    return out


def compare(profile: str, out=None, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every front of ``tasks`` (serially: each point's solve on one core, NSGA-II given the exact front's
    time): the points (exact and NSGA-II) and one summary row per front, saved with provenance at ``out``
    after each front (the points; the summary beside it, ``*_summary.csv``)."""
    P = profiles.get(profile).pareto
    for s in P.seeds:
        check_seed(s)
    rows, summaries = [], []
    todo = tasks(profile)
    meta = provenance(profile=profile, settings=repr(P), code_sha256=sim.code_hash())
    for n_done, (kind, table, n, seed, frac) in enumerate(bar(todo, desc="fronts", progress=progress), 1):
        front_rows, summary = one(profile, kind, table, n, seed, frac)
        rows += front_rows
        summaries.append(summary)
        if out is not None:  # after each front: a stopped run keeps what it found
            status = {"status": "complete" if n_done == len(todo) else "partial"}
            write_table(pd.DataFrame(rows, columns=POINT_COLUMNS), out, {**meta, **status}, float_format="%.12g")
            write_table(pd.DataFrame(summaries), str(out).replace(".csv", "_summary.csv"), {**meta, **status},
                        float_format="%.12g")
    return pd.DataFrame(rows, columns=POINT_COLUMNS), pd.DataFrame(summaries)


def dominance(points: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Per seed: of table ``b``'s exact front, how many points a point of table ``a``'s front dominates
    (no slower, no less accurate, one strictly), and the reverse."""
    ex = points[(points.kind == "front") & points.method.str.startswith("colgen")]
    rows = []
    for seed, g in ex.groupby("seed"):
        fa, fb = g[g.table == a], g[g.table == b]

        def covered(x, y):
            return int(sum(any((q.mean_latency_s <= p.mean_latency_s + 1e-12) and (q.mean_accuracy >= p.mean_accuracy)
                               and (q.mean_latency_s < p.mean_latency_s - 1e-12 or q.mean_accuracy > p.mean_accuracy)
                               for q in x.itertuples()) for p in y.itertuples()))
        rows.append({"seed": seed, f"{b} points": len(fb), f"dominated by {a}": covered(fa, fb),
                     f"{a} points": len(fa), f"dominated by {b}": covered(fb, fa)})
    return pd.DataFrame(rows)


HELD_OUT = tuple(range(3, 23))  # twenty §V-A steps outside notebook 11's seeds (0-2)
HELD_OUT_OPTIONS = Options(time_limit=60.0, rel_gap=1e-4)  # solve --pareto's defaults, per point


def held_out(seeds=HELD_OUT, k: int = 12, progress: bool = True) -> pd.DataFrame:
    """``solve --pareto k`` as a user runs it (its defaults: 60 s and a gap of 1e-4 per point) on the ``cpu``
    profile's §V-A steps of notebook 11's size (N = 10, R = 3, the profile's table) of ``seeds``: per front,
    its points, those not proven within the gap, its largest gap and its seconds (``bench fronts``)."""
    P = profiles.get("cpu").pareto
    rows = []
    for seed in bar(list(seeds), desc="fronts", progress=progress):
        check_seed(seed)
        sc = scenario_for("cpu", P.n_devices, P.n_requests, seed, "V-A")
        t0 = time.perf_counter()
        front = exact_front(sc, k, HELD_OUT_OPTIONS)
        gaps = [p.gap or 0.0 for p in front.points]
        rows.append({"seed": seed, "points": len(front.points),
                     "unproven": sum(g > HELD_OUT_OPTIONS.rel_gap for g in gaps),
                     "max_gap": max(gaps, default=0.0), "front_s": time.perf_counter() - t0,
                     "longest_point_s": max((p.plan.solve_s for p in front.points), default=0.0)})
    return pd.DataFrame(rows)
