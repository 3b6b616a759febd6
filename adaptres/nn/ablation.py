"""The empirical study (paper §III, Tables I-II): accuracy of every block-drop configuration.

Configurations: the full model, every single DC drop, every single SC drop and every pair of DC
drops. Each is measured on the whole test set. The activations before the first dropped unit are
computed once per batch and reused (and, for pairs, those after the first drop too), so a
configuration only pays for the units from its first drop on.

The result is a table (one row per configuration) with the savings from ``adaptres.costs`` at the
trained input size and at 224 px, saved as CSV with a provenance header (``adaptres.io.write_table``);
``adaptres.problem.accuracy.configs_from_rows`` turns it into the optimiser's configurations (SPEC §3).
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import pandas as pd
import torch

from ..io import provenance, read_table, write_table
from ..progress import bar
from . import data as D
from .costs import drop_savings, unit_costs
from .train import autocast, precision


def configurations(block_names: list[str], pairs: bool = True, sc: bool = True) -> list[tuple[str, tuple[str, ...]]]:
    """(kind, dropped) for: the full model, single DC drops, single SC drops, DC pairs."""
    out = [("none", ())]
    out += [("dc", (b,)) for b in block_names]
    if sc:
        out += [("sc", (b,)) for b in block_names]
    if pairs:
        out += [("dc", p) for p in itertools.combinations(block_names, 2)]
    return out


def larger_drop_sets(block_names: list[str], single_accuracy: dict[str, float], k_min: int = 3, k_max: int = 8,
                     per_k: int = 8, seed: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """(family, dropped) for DC drops of ``k_min``..``k_max`` blocks and more, in execution order:
    ``nested`` — the k blocks whose single drop costs least (``single_accuracy``, highest first);
    ``stage-suffix`` — the last 2, 3, ... blocks of each stage; ``random`` — ``per_k`` seeded random
    k-subsets for each k. No set appears twice."""
    import random
    order = {b: i for i, b in enumerate(block_names)}
    srt = lambda bs: tuple(sorted(bs, key=order.get))
    ranked = sorted(block_names, key=lambda b: (-single_accuracy[b], order[b]))
    out = [("nested", srt(ranked[:k])) for k in range(k_min, min(k_max, len(block_names)) + 1)]
    stages: dict[str, list[str]] = {}
    for b in block_names:
        stages.setdefault(b.split(".")[0], []).append(b)
    out += [("stage-suffix", tuple(blocks[-j:])) for blocks in stages.values() for j in range(2, len(blocks) + 1)]
    rng = random.Random(seed)
    for k in range(k_min, min(k_max, len(block_names)) + 1):
        out += [("random", srt(rng.sample(block_names, k))) for _ in range(per_k)]
    seen, unique = set(), []
    for family, dropped in out:
        if dropped not in seen:
            seen.add(dropped)
            unique.append((family, dropped))
    return unique


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of an accuracy measured on ``n`` images, in percent."""
    if n == 0:
        return 0.0, 100.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


@torch.no_grad()
def _run_batch(model, x, configs, index, reuse: bool) -> list[torch.Tensor]:
    """Logits of every configuration for one batch (list aligned with ``configs``)."""
    names = model.unit_names
    out: list[torch.Tensor | None] = [None] * len(configs)
    if not reuse:
        for c, (kind, dropped) in enumerate(configs):
            dc = dropped if kind == "dc" else ()
            sc = dropped if kind == "sc" else ()
            out[c] = model.run_units(x, 0, None, dc, sc)
        return out
    # inputs of every unit on the full path
    acts = [x]
    for n in names:
        acts.append(model.run_unit(n, acts[-1]))
    by_first: dict[int, list[int]] = {}
    for c, (kind, dropped) in enumerate(configs):
        if kind == "none":
            out[c] = acts[-1]
        elif kind == "sc":
            i = index[dropped[0]]
            out[c] = model.run_units(model.run_unit(names[i], acts[i], "drop_sc"), i + 1, None)
        else:
            by_first.setdefault(index[dropped[0]], []).append(c)
    for i, cs in by_first.items():
        # the path with unit i's DC dropped, keeping the input of every later unit
        path = {i + 1: model.run_unit(names[i], acts[i], "drop_dc")}
        for j in range(i + 1, len(names)):
            path[j + 1] = model.run_unit(names[j], path[j])
        for c in cs:
            dropped = configs[c][1]
            if len(dropped) == 1:
                out[c] = path[len(names)]
            else:  # from the second drop on (the rest dropped as they come)
                j = index[dropped[1]]
                out[c] = model.run_units(model.run_unit(names[j], path[j], "drop_dc"), j + 1, None, dropped[2:])
    return out


def run(model, test_set: D.ImageSet, image_size: int, device="cpu", batch_size: int = 250, amp: bool | str = "auto",
        pairs: bool = True, sc: bool = True, reuse: bool = True, progress: bool = True,
        extra: list[tuple[str, tuple[str, ...]]] | None = None, base: bool = True) -> pd.DataFrame:
    """Measure every configuration on ``test_set``; one row per configuration. ``extra``: further DC
    drop sets as (family, dropped in execution order), measured after the ``base`` configurations
    (the full model, singles, SC singles, pairs) or, with ``base=False``, with the full model alone."""
    device = torch.device(device)
    model.eval()
    blocks = [u.name for u in model.units if u.droppable]
    configs = configurations(blocks, pairs=pairs, sc=sc) if base else [("none", ())]
    families = [_family(kind, dropped) for kind, dropped in configs] + [f for f, _ in extra or ()]
    configs += [("dc", tuple(dropped)) for _, dropped in extra or ()]
    for kind, dropped in configs:  # validate once, before any work
        model.validate_drops(dropped if kind == "dc" else (), dropped if kind == "sc" else ())
    index = {n: i for i, n in enumerate(model.unit_names)}
    correct = torch.zeros(len(configs), dtype=torch.long)
    n = len(test_set)
    for s in bar(range(0, n, batch_size), desc=f"ablation ({len(configs)} configurations)", progress=progress):
        x = D.prepare(test_set.images[s:s + batch_size].to(device), test_set.name, image_size)
        y = test_set.labels[s:s + batch_size].to(device)
        with autocast(device, amp):
            logits = _run_batch(model, x, configs, index, reuse)
        correct += torch.stack([(lg.argmax(1) == y).sum() for lg in logits]).cpu()
    rows = []
    for c, (kind, dropped) in enumerate(configs):
        low, high = wilson_interval(int(correct[c]), n)
        rows.append({"config": c, "kind": kind, "dropped": ";".join(dropped), "n_dropped": len(dropped),
                     "correct": int(correct[c]), "n": n, "accuracy": 100.0 * int(correct[c]) / n,
                     "family": families[c], "ci95_low": low, "ci95_high": high})
    return pd.DataFrame(rows)


def with_family(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``family`` column (tables measured before it existed hold singles and pairs only)."""
    if "family" in table:
        return table
    fam = [_family(k, [d for d in str(x).split(";") if d]) if n <= 2 else "larger"
           for k, x, n in zip(table["kind"], table["dropped"], table["n_dropped"])]
    return table.assign(family=fam)


def _family(kind: str, dropped) -> str:
    return {"none": "full", "sc": "sc-single"}.get(kind, "single" if len(dropped) == 1 else "pair")


def add_savings(table: pd.DataFrame, arch: str, stem: str, image_size: int, num_classes: int = 10) -> pd.DataFrame:
    """Add the multiplications and memory that each DC configuration saves, at ``image_size`` and 224 px.

    SC drops save nothing (the branch still runs); their savings columns are 0.
    """
    table = table.copy()
    for px, suffix in ((image_size, "trained"), (224, "224")):
        costs = unit_costs(arch, image_size=px, num_classes=num_classes, stem=stem if px == image_size else "imagenet")
        cols = {"macs_saved": [], "memory_saved_bytes": [], "macs_saved_pct": [], "memory_saved_pct": []}
        for kind, dropped in zip(table["kind"], table["dropped"]):
            names = [d for d in str(dropped).split(";") if d] if kind == "dc" else []
            s = drop_savings(costs, names)
            for k in cols:
                cols[k].append(s[k])
        for k, v in cols.items():
            table[f"{k}_{suffix}"] = v
    return table


def measure(model, recipe, test_set: D.ImageSet, device="cpu", batch_size: int = 250, progress: bool = True,
          out: str | Path | None = None, epochs: int | None = None, model_sha: str | None = None,
          larger: bool = True) -> pd.DataFrame:
    """Run the ablation for a trained model and (optionally) save it with provenance: the full model,
    every single DC and SC drop, every DC pair, and with ``larger`` the larger drop sets of
    ``larger_drop_sets`` (chosen from this model's single-drop accuracies), all on the whole test set.

    With ``out`` and ``model_sha`` given, a table already at ``out`` for the same model (and test
    set size) is read back instead of being measured again.
    """
    if out is not None and model_sha is not None and Path(out).is_file():
        try:
            table, meta = read_table(out)
        except ValueError:  # not a table of ours: measured again and replaced
            meta = {}
        if meta.get("model_sha256") == model_sha and meta.get("test_set_size") == str(len(test_set)) \
                and (not larger or (table.n_dropped > 2).any()):
            table = with_family(table)
            table.attrs.update(meta)
            return table
    t0 = time.perf_counter()
    table = run(model, test_set, recipe.image_size, device, batch_size, recipe.amp, progress=progress)
    if larger:
        singles = table[(table.kind == "dc") & (table.n_dropped == 1)]
        sets = larger_drop_sets(model.block_names(), dict(zip(singles.dropped, singles.accuracy)), seed=recipe.seed)
        more = run(model, test_set, recipe.image_size, device, batch_size, recipe.amp, progress=progress, extra=sets,
                   base=False).iloc[1:]
        table = pd.concat([table, more.assign(config=range(len(table), len(table) + len(more)))], ignore_index=True)
    table = add_savings(table, recipe.arch, recipe.stem, recipe.image_size, model.fc.out_features)
    meta = provenance(dataset=recipe.dataset, arch=recipe.arch, stem=recipe.stem, px=recipe.image_size,
                      epochs=epochs if epochs is not None else recipe.epochs, seed=recipe.seed,
                      test_set_size=len(test_set), full_accuracy=f"{table.loc[0, 'accuracy']:.4f}",
                      ablation_s=f"{time.perf_counter() - t0:.1f}", device=str(device), recipe_sha256=recipe.sha256(),
                      drop_aware=recipe.drop_aware, precision=precision(recipe.amp, device),
                      larger_sets="nested 3-8, stage suffixes, 8 random k-subsets for k = 3-8" if larger else "none",
                      **({"model_sha256": model_sha} if model_sha else {}))
    table.attrs.update(meta)
    if out is not None:
        write_table(table, out, meta)
    return table


def table_one(table: pd.DataFrame) -> pd.DataFrame:
    """Table I: accuracy with one block's DC dropped and with its SC dropped, per block."""
    single = table[(table["n_dropped"] == 1)]
    out = single.pivot_table(index="dropped", columns="kind", values="accuracy").rename(
        columns={"dc": "drop DC", "sc": "drop SC"})
    order = [d for d in table["dropped"] if d and ";" not in d]
    out = out.loc[list(dict.fromkeys(order))]
    out.index.name = "block"
    out["full model"] = float(table.loc[table["kind"] == "none", "accuracy"].iloc[0])
    return out


def table_two(table: pd.DataFrame, threshold: float = 80.0) -> pd.DataFrame:
    """Table II: DC configurations (one or two blocks) at or above ``threshold``, with their savings."""
    cols = ["dropped", "accuracy"] + [c for c in table.columns if c.startswith(("macs_saved_pct", "memory_saved_pct"))]
    keep = table[(table["kind"] == "dc") & (table["accuracy"] >= threshold)]
    return keep[cols].sort_values("accuracy", ascending=False).reset_index(drop=True)


def pair_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of every DC pair as a block × block matrix (single drops on the diagonal)."""
    dc = table[(table["kind"] == "dc") & (table["n_dropped"] <= 2)]
    blocks = list(dict.fromkeys(d for d in dc["dropped"] if ";" not in d))
    mat = pd.DataFrame(float("nan"), index=blocks, columns=blocks)
    for dropped, acc in zip(dc["dropped"], dc["accuracy"]):
        parts = dropped.split(";")
        a, b = (parts[0], parts[0]) if len(parts) == 1 else parts
        mat.loc[a, b] = mat.loc[b, a] = acc
    return mat


def robustness(table: pd.DataFrame) -> dict:
    """How well a model takes dropped blocks (the drop-aware training's measures): the mean and largest loss
    (points) of the single DC drops, how many stay within 1 pt, the share of DC pairs within 3 pt, the
    most blocks dropped within 3 pt, and the most multiplications saved (trained size) within 3 pt."""
    full = float(table.loc[table.kind == "none", "accuracy"].iloc[0])
    dc = table[table.kind == "dc"].assign(loss=lambda t: full - t.accuracy)
    dc = with_family(dc)
    single, pair = dc[dc.family == "single"], dc[dc.family == "pair"]  # not the stage suffixes of one or two blocks
    near = dc[dc.loss <= 3]
    best = near.sort_values(["macs_saved_pct_trained", "accuracy"], ascending=False).head(1) \
        if "macs_saved_pct_trained" in near else near.head(0)
    return {"full_accuracy": round(full, 2), "mean_single_loss": round(float(single.loss.mean()), 2),
            "max_single_loss": round(float(single.loss.max()), 2),
            "singles_within_1pt": f"{int((single.loss <= 1).sum())}/{len(single)}",
            "pairs_within_3pt": f"{int((pair.loss <= 3).sum())}/{len(pair)}",
            "most_blocks_within_3pt": int(near.n_dropped.max()) if len(near) else 0,
            "most_saved_within_3pt": (f"{best.macs_saved_pct_trained.iloc[0]:.1f} % of the multiplications "
                                      f"({best.dropped.iloc[0]}: {best.accuracy.iloc[0]:.2f} %)") if len(best) else "none"}
