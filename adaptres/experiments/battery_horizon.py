"""Decisions over a horizon (notebook 10, the ``simulate`` command): one §V setting simulated over many
steps under a controller (``serving.controllers``), and the comparison of the per-step optimum, the
paper's relaxation + Algorithm 1 and the horizon-aware controller, with the numbers that say which
serves more over the horizon (Σ of Eq 5 with its unserved penalty, requests served, battery life)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import solvers
from ..io import check_seed, provenance, write_table
from ..progress import bar
from ..serving import controllers as control
from . import profiles, sections, sim

EXHAUSTED = 0.01  # a device is exhausted below 1 % of its first battery
# the comparison's arms: (name, controller, method: None = the profile's)
ARMS = (("myopic", "myopic", None), ("Algorithm 1", "myopic", "relaxed"), ("horizon", "horizon", None))


def setting(profile: str, section: str, n_devices: int | None = None, point: dict | None = None) -> sections.Setting:
    """The profile's horizon setting of ``section`` (its base, the profile's overrides for it, then
    ``point``'s), on the profile's horizon table."""
    H = profiles.get(profile).horizon
    over = {**dict(dict(H.points).get(section, ())), **(point or {})}
    return sections.setting_of(profile, section, n_devices or H.n_devices, over, table=H.table)


def run(st: sections.Setting, steps: int, seed: int, controller: str = "myopic", method: str = "colgen_round",
        options: solvers.Options | None = None, params: control.Params | None = None,
        progress: bool = False) -> pd.DataFrame:
    """One horizon: ``sim.run``'s rows (with each device's battery before the step, ``battery_<i>``) under
    the named controller."""
    sim.check_horizon(steps, st.lam)
    check_seed(seed)
    ctl = control.make(controller, len(st.devices), steps, params)
    df = sim.run(st.units, st.configs, st.devices, steps, st.lam, sim.solver_for(method, options), seed=seed,
                 progress=progress, label=f"{st.section} {controller} ({method}), seed {seed}", scale=st.scale,
                 controller=ctl, per_device=True, **st.scenario)
    return df.assign(section=st.section, controller=controller, method=method, seed=seed)


def first_exhausted(df: pd.DataFrame, initial: list[float]) -> tuple[int, bool]:
    """The first step at which some device starts below ``EXHAUSTED`` of its first battery, and whether one
    did (if none did: the horizon's length, a lower bound)."""
    cols = [f"battery_{i}" for i in range(len(initial))]
    low = (df[cols].to_numpy() <= EXHAUSTED * np.asarray(initial)[None, :]).any(axis=1)
    return (int(df["step"].to_numpy()[low.argmax()]), True) if low.any() else (len(df), False)


def summary(rows: pd.DataFrame, initial: dict[str, list[float]]) -> pd.DataFrame:
    """Per (section, arm, seed): Σ of Eq 5 over the horizon (its unserved penalty in), requests served,
    served × accuracy, the mean accuracy of served requests, the first step with a device exhausted (the
    horizon's length where none was: ``exhausted`` False),
    energy per served request and the solver's and the controller's seconds per step."""
    def one(g):
        served = g["served"].sum()
        acc = (g["mean_accuracy"].fillna(0) * g["served"]).sum()
        first, seen = first_exhausted(g, initial[g.name[0]])
        return pd.Series({"objective": g["objective"].sum(), "requests": g["n_requests"].sum(), "served": served,
                          "served_x_accuracy": acc / 100, "accuracy_pct": acc / served if served else np.nan,
                          "first_exhausted": first, "exhausted": seen,
                          "energy_j_req": g["energy_j"].sum() / served if served else np.nan,
                          "solve_s": g["solve_s"].mean(), "control_s": g["control_s"].mean(),
                          "violations": g["violations"].sum()})
    return rows.groupby(["section", "arm", "seed"], sort=False).apply(one, include_groups=False).reset_index()


def compare(profile: str, out: str | Path | None = None, progress: bool = True, steps: int | None = None,
            seeds=None, v: float | None = None, replay: bool = False) -> pd.DataFrame:
    """Every arm (``ARMS``) on every section of the profile's horizon settings, for every seed: the rows,
    saved after each run (atomically, with provenance) at ``out``; a stopped run resumes where it was, and
    a finished one with the same inputs is simulated again unless ``replay`` (as the sweeps)."""
    H = profiles.get(profile).horizon
    steps = H.steps if steps is None else steps
    seeds = tuple(H.seeds if seeds is None else seeds)
    params = control.Params(v=H.v if v is None else v)
    for s in seeds:
        check_seed(s)
    opts = solvers.Options(time_limit=H.time_limit, rel_gap=1e-2, max_nodes=200)
    keys = {"profile": profile, "steps": steps, "seeds": repr(seeds), "v": params.v, "method": H.method,
            "points": repr(H.points), "n_devices": H.n_devices, "code_sha256": sim.code_hash()}
    done, _ = sim.saved(out, keys, replay)
    frames = [done] if len(done) else []
    have = set(zip(done["section"], done["arm"], done["seed"])) if len(done) else set()
    todo = [(sec, arm, s) for sec, _ in H.points for arm, _, _ in ARMS for s in seeds if (sec, arm, s) not in have]
    pbar = bar(total=len(todo), desc=f"horizons{' (Ray)' if H.engine == 'ray' else ''}", progress=progress)
    for n, df in enumerate(sim.tasks(_one, (profile, steps, H.method, opts, params), todo, H.engine)):
        frames.append(df)
        pbar.update()
        if out is not None:
            write_table(_ordered(pd.concat(frames, ignore_index=True)), out,
                        provenance(**keys, status="complete" if n == len(todo) - 1 else "partial"), float_format="%.12g")
    pbar.close()
    return _ordered(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by section, arm (in ``ARMS``' order), seed and step, whatever order the runs finished in."""
    arm = df["arm"].map({a: i for i, (a, _, _) in enumerate(ARMS)})
    return df.assign(_a=arm).sort_values(["section", "_a", "seed", "step"]).drop(columns="_a").reset_index(drop=True)


def _one(profile: str, steps: int, method: str, opts, params, sec: str, arm: str, seed: int) -> pd.DataFrame:
    """One arm's horizon on one section for one seed."""
    ctl, own = next((c, m) for a, c, m in ARMS if a == arm)
    return run(setting(profile, sec), steps, seed, ctl, own or method, opts, params).assign(arm=arm)


def initial_batteries(profile: str) -> dict[str, list[float]]:
    """Each section's devices' first batteries (J), for ``summary``."""
    H = profiles.get(profile).horizon
    return {sec: [d.energy_j for d in setting(profile, sec).devices] for sec, _ in H.points}


def versus(summ: pd.DataFrame) -> pd.DataFrame:
    """Per section, the mean over seeds of each arm, and the horizon controller's change against the better
    of the myopic optimum and Algorithm 1 (Σ objective), and against the myopic optimum (battery life)."""
    mean = summ.drop(columns=["seed", "exhausted"]).groupby(["section", "arm"], sort=False).mean(numeric_only=True)
    rows = []
    for sec, g in mean.groupby(level=0, sort=False):
        g = g.droplevel(0)
        base = min(g.loc["myopic", "objective"], g.loc["Algorithm 1", "objective"])
        life = g.loc["myopic", "first_exhausted"]
        rows.append({"section": sec, "objective_change_pct": 100 * (g.loc["horizon", "objective"] - base) / base,
                     "first_exhausted_ratio": g.loc["horizon", "first_exhausted"] / life if life else np.nan,
                     "control_share_pct": 100 * g.loc["horizon", "control_s"] / g.loc["horizon", "solve_s"]})
    return pd.DataFrame(rows)

