"""The paper's claims for each evaluation figure (§V-A..D), checked against a run.

Every check reads the per-run summary of ``sim.summarise`` (one row per sweep point × seed) and
returns one row per claim: what the paper says, what this run shows (numbers: the mean over seeds
at the ends of the sweep and Spearman's ρ over all runs) and whether it held. A trend claim holds
when both the change from the first to the last sweep point and ρ have the claimed sign; a claim
about a flat metric (no change at all) does not hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .sim import METRICS as SWEEP_METRICS
from .sim import PER_REQUEST


def _row(figure: str, claim: str, shows: str, held: bool | None, reading: str = "per request") -> dict:
    return {"figure": figure, "paper": claim, "reading": reading, "this run": shows,
            "held": "held" if held else ("not held" if held is not None else "n/a")}


def trend(runs: pd.DataFrame, x: str, order: list, metric: str, direction: int, figure: str, claim: str) -> dict:
    """Does ``metric`` rise (``direction`` = +1) or fall (−1) along the sweep of ``x``? (Read per step for
    the per-step metrics of ``sim.PER_REQUEST``, per request otherwise.)"""
    if metric not in runs:
        return _row(figure, claim, f"no {SWEEP_METRICS.get(metric, metric)} in these runs", None, _reading(metric))
    data = runs[runs[x].isin(order)].dropna(subset=[metric])
    means = data.groupby(x)[metric].mean().reindex(order)
    if data.empty or means.isna().all():
        return _row(figure, claim, f"no {SWEEP_METRICS.get(metric, metric)} measured", None, _reading(metric))
    first, last = means.dropna().iloc[0], means.dropna().iloc[-1]
    rank = data[x].map({v: i for i, v in enumerate(order)})
    rho = spearmanr(rank, data[metric]).statistic if data[metric].nunique() > 1 and rank.nunique() > 1 else np.nan
    held = bool(np.sign(last - first) == direction and np.isfinite(rho) and np.sign(rho) == direction)
    shows = (f"{SWEEP_METRICS.get(metric, metric)}: {first:.4g} → {last:.4g} "
             f"({x} {order[0]} → {order[-1]}; ρ = {rho:.2f})" if np.isfinite(rho) else
             f"{SWEEP_METRICS.get(metric, metric)}: {first:.4g} → {last:.4g} (no change along the sweep)")
    return _row(figure, claim, shows, held, _reading(metric))


def _reading(metric: str) -> str:
    return "per step" if metric in PER_REQUEST else "per request"


def both(runs: pd.DataFrame, x: str, order: list, metric: str, direction: int, figure: str, claim: str) -> list[dict]:
    """``trend`` of a per-step metric, then of the same per served request: the paper's text does not say
    which it plots, and where more requests are served each step the two can disagree."""
    return [trend(runs, x, order, metric, direction, figure, claim),
            trend(runs, x, order, PER_REQUEST[metric], direction, figure, claim)]


def read(checks: pd.DataFrame, reading: str) -> pd.DataFrame:
    """One row per claim: its ``reading`` ("per step" or "per request") where it was read both ways, else
    its one reading."""
    both_ways = checks.duplicated(["figure", "paper"], keep=False)
    return checks[~both_ways | (checks["reading"] == reading)]


def fig6(runs: pd.DataFrame, full_accuracy: float) -> pd.DataFrame:
    """§V-A: the weights (α, β) against accuracy and resources, per accuracy threshold."""
    rows = []
    mean = runs.groupby(["accuracy_threshold", "beta"])[["accuracy_pct", "gmacs", "energy_j", "latency_s"]].mean()
    lowest = []
    for th, g in mean.groupby(level=0):
        acc = g["accuracy_pct"].droplevel(0)
        lowest.append((th, acc.idxmin(), acc.get(0.0, np.nan), acc.min()))
    ok = all(np.isclose(a0, amin) for _, _, a0, amin in lowest)
    rows.append(_row("6(a)", "the lowest accuracy is at α = 1, β = 0 (latency only), at every threshold",
                     "; ".join(f"A_th {th:g}: lowest at β = {b:g} ({amin:.2f} %, β = 0: {a0:.2f} %)"
                               for th, b, a0, amin in lowest), ok))
    b0, b1 = runs[runs.beta == 0.0], runs[runs.beta == 1.0]
    if len(b0) and len(b1):
        a0, a1 = b0.accuracy_pct.mean(), b1.accuracy_pct.mean()
        g0, g1 = b0.gmacs.mean(), b1.gmacs.mean()
        e0, e1 = b0.energy_j.mean(), b1.energy_j.mean()
        rows.append(_row("6(b)", "α = 1 needs fewer resources for a lower accuracy; β = 1 gives the highest "
                                 "accuracy with more resources",
                         f"accuracy {a0:.2f} → {a1:.2f} %, load {g0:.3g} → {g1:.3g} G mult./step, energy {e0:.3g} → "
                         f"{e1:.3g} J/step (α = 1 → β = 1)", bool(a1 > a0 and g1 > g0 and e1 > e0)))
        best = b1.groupby("accuracy_threshold").accuracy_pct.mean().max()
        rows.append(_row("6(b)", "even with β = 1 the accuracy (91 % in the paper) stays below the full model's: "
                                 "resources force downsizing",
                         f"best mean accuracy at β = 1: {best:.2f} % vs full model {full_accuracy:.2f} %",
                         bool(best < full_accuracy - 1e-6)))
    return pd.DataFrame(rows)


def fig7(runs: pd.DataFrame, order: list) -> pd.DataFrame:
    """§V-B: battery capacity swept (α = 0, β = 1)."""
    x = "battery_j"
    return pd.DataFrame([
        trend(runs, x, order, "accuracy_pct", +1, "7(a)", "accuracy rises with battery capacity"),
        trend(runs, x, order, "latency_s", -1, "7(b)", "latency falls as batteries grow"),
        *both(runs, x, order, "shared_mb", -1, "7(c)", "shared data falls as batteries grow"),
        *both(runs, x, order, "gmacs", -1, "7(d)", "computational load falls as batteries grow"),
        *both(runs, x, order, "energy_j", -1, "7(e)", "energy falls as batteries grow")])


def fig8(runs: pd.DataFrame, order: list) -> pd.DataFrame:
    """§V-C: the request rate λ swept (α = 0.7, β = 0.3, batteries 500 / 800 J)."""
    x = "lam"
    return pd.DataFrame([
        trend(runs, x, order, "accuracy_pct", -1, "8(a)", "accuracy is highest (nothing dropped) at the lowest λ "
                                                          "and falls as λ grows"),
        trend(runs, x, order, "latency_s", +1, "8(b)", "latency rises with λ"),
        *both(runs, x, order, "shared_mb", +1, "8(c)", "shared data rises with λ"),
        *both(runs, x, order, "energy_j", +1, "8(d)", "energy rises with λ"),
        *both(runs, x, order, "gmacs", +1, "8(e)", "computational load rises with λ")])


def fig9(runs: pd.DataFrame, order: list) -> pd.DataFrame:
    """§V-D: the devices' computational capacity swept (α = 0, β = 1)."""
    x = "compute_g"
    return pd.DataFrame([
        trend(runs, x, order, "accuracy_pct", +1, "9(a)", "accuracy rises with computational capacity"),
        trend(runs, x, order, "latency_s", +1, "9(b)", "latency is lowest at the lowest capacity (more downsizing)"),
        *both(runs, x, order, "shared_mb", -1, "9(c)", "shared data falls as capacity grows (less delegation)"),
        *both(runs, x, order, "energy_j", +1, "9(d)", "energy is lowest at the lowest capacity")])
