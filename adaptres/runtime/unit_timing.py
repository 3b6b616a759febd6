"""Per-unit latency on this host (``python -m adaptres profile-units``).

Each unit runs on its own input (the previous units' output for one real-sized image, batch 1),
whole and, for a residual block, with its direct connection dropped; the median of ``repeats``
timed runs after ``warmup`` is kept. A device's speed for a scenario (``macs_per_s``) is the
multiplications of the whole network over its summed medians: run this on a real board to give
its scenario measured numbers.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from ..problem.unit_costs import load as load_units
from ..progress import bar


def profile_units(model, image_size: int, repeats: int = 30, warmup: int = 3, threads: int | None = 1,
                  progress: bool = True) -> pd.DataFrame:
    """One row per unit and mode (``full`` / ``dropped``): the median, 10th and 90th percentile of its
    latency (s), its multiplications (the committed cost table) and the implied multiplications per s."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: must be a positive integer, got {repeats!r}")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _profile(model, image_size, repeats, warmup, progress)
    finally:
        torch.set_num_threads(before)


def _profile(model, image_size: int, repeats: int, warmup: int, progress: bool) -> pd.DataFrame:
    costs = {u.name: u for u in load_units(model.arch, image_size, model.fc.out_features, model.stem).units}
    model = model.eval()
    x = torch.randn(1, 3, image_size, image_size)
    rows = []
    with torch.inference_mode():
        for unit in bar(model.units, desc="profile units", progress=progress):
            for mode in ("full", "drop_dc") if unit.droppable else ("full",):
                times = []
                for i in range(warmup + repeats):
                    t = time.perf_counter()
                    model.run_unit(unit.name, x, mode)
                    if i >= warmup:
                        times.append(time.perf_counter() - t)
                c = costs[unit.name]
                macs = float(c.macs if mode == "full" else (c.macs_dropped or 0.0))
                med = float(np.median(times))
                rows.append({"unit": unit.name, "kind": unit.kind, "mode": "full" if mode == "full" else "dropped",
                             "macs": macs, "median_s": med, "p10_s": float(np.percentile(times, 10)),
                             "p90_s": float(np.percentile(times, 90)), "macs_per_s": macs / med if med > 0 else np.nan})
            x = model.run_unit(unit.name, x, "full")
    return pd.DataFrame(rows)


def device_speed(table: pd.DataFrame) -> float:
    """The host as a scenario device: multiplications of the whole network over its summed median times."""
    full = table[table["mode"] == "full"]
    return float(full["macs"].sum() / full["median_s"].sum())
