"""Drop-aware recipe probes: short trainings of the ``cpu`` profile's network that rank ways to keep the full
network's accuracy while its sub-networks stay good, each row of ``data/study/dropaware_probes_cpu.csv``.

A probe is the profile's drop-aware recipe for two epochs on the whole training set (drop path from the
second, fp32 as the earlier probes), with a few fields changed; it is measured on the whole test set: the full
network, the 16 single DC drops and the 120 DC pairs (``ablation.run``, no SC drops). Two epochs rank recipes;
the chosen one is then trained at the profile's budget.

``python -m adaptres.experiments.recipe_probes NAME`` runs one probe of ``PROBES`` (resumable: its training
folder keeps a checkpoint per epoch) and adds its row to the table, replacing an earlier row of the same name.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import pandas as pd

from ..io import git_commit, provenance, read_header, write_table
from ..paths import REPO
from . import profiles

TABLE = REPO / "data" / "study" / "dropaware_probes_cpu.csv"
BASE = {"epochs": 2, "drop_path_from_epoch": 1, "amp": False}  # as the earlier full-data probes (P*)
PROBES = {  # name -> the fields set on the profile's drop-aware recipe (uniform, sandwich, distill 0.5)
    "Q1_uni0.35_sw_d0.5_from1_full2": {"drop_path": 0.35, "full_weight": 2.0},
    "Q2_uni0.2_sw_d0.5_from1": {"drop_path": 0.2},
    "Q3_uni0.2_sw_d0.5_from1_full2": {"drop_path": 0.2, "full_weight": 2.0},
    "Q4_uni0.35_sw_d0.5_from1_full3": {"drop_path": 0.35, "full_weight": 3.0},
}


def recipe(name: str, profile: str = "cpu"):
    return dataclasses.replace(profiles.recipes(profile)["dropaware"], **BASE, **PROBES[name])


def measure(name: str, runs: Path, device: str | None = None) -> dict:
    """Train probe ``name`` into ``runs/name`` (or resume it) and measure it: the table's row."""
    from ..nn import ablation, data
    from ..nn.train import load_trained, pick_device, train
    r = recipe(name)
    t0 = time.perf_counter()
    history = train(r, runs / name, device=device)
    train_s = time.perf_counter() - t0
    dev = pick_device(device)
    model, _ = load_trained(runs / name, dev)
    test = data.load(r.dataset, "test").subset(r.test_limit, r.seed)
    table = ablation.run(model, test, r.image_size, dev, 250, r.amp, pairs=True, sc=False)
    rob = ablation.robustness(ablation.add_savings(table, r.arch, r.stem, r.image_size))
    return {"probe": name, "train_images": len(data.load(r.dataset, "train").subset(r.train_limit, r.seed)),
            "test_images": len(test), "precision": "fp32" if r.amp is False else str(r.amp), "epochs": r.epochs,
            "drop_path": r.drop_path, "drop_path_schedule": r.drop_path_schedule, "sandwich": r.sandwich,
            "distill": r.distill, "drop_path_from_epoch": r.drop_path_from_epoch, "full_weight": r.full_weight,
            "full_accuracy": rob["full_accuracy"], "mean_single_loss": rob["mean_single_loss"],
            "max_single_loss": rob["max_single_loss"],
            "singles_within_1pt": int(rob["singles_within_1pt"].split("/")[0]),
            "pairs_within_3pt": int(rob["pairs_within_3pt"].split("/")[0]),
            "train_s": round(train_s), "accuracy_by_epoch": " ".join(f"{a:.2f}" for a in history.test_accuracy),
            "commit": git_commit()[:7]}


def record(row: dict) -> None:
    """Add ``row`` to the table (replacing a row of the same probe), its header kept."""
    meta = read_header(TABLE)
    table = pd.read_csv(TABLE, comment="#")
    table = pd.concat([table[table.probe != row["probe"]], pd.DataFrame([row])], ignore_index=True)
    table["full_weight"] = table["full_weight"].fillna(1.0)  # rows from before the field: 1
    meta["code"] = ("adaptres.nn.train; P*, V*: commit 4fb49af with scripts of that session; Q*: "
                    "python -m adaptres.experiments.recipe_probes at the row's commit")
    meta["updated"] = provenance()["date"]  # ``date``: the first rows'
    meta["train_s"] = "wall seconds of both epochs; rows of different sessions shared the machine with other work"
    write_table(table, TABLE, meta)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m adaptres.experiments.recipe_probes", description=__doc__.split("\n")[0])
    ap.add_argument("name", choices=sorted(PROBES), help="the probe to run")
    ap.add_argument("--runs", default=str(REPO / "runs" / "probes"), help="where probes train (default runs/probes)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: CUDA when present)")
    args = ap.parse_args(argv)
    row = measure(args.name, Path(args.runs), args.device)
    record(row)
    print(", ".join(f"{k} {v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
