"""``costs``, ``train``, ``ablation`` and ``bench`` (the network side: torch is imported only once the
arguments have been checked)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from ..io import InputError, check_output, check_range, check_seed
from . import files


def _value(text: str):
    """A ``--set`` value: an integer, a number, true/false/none, else the text."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)


def recipe_of(args):
    """The profile's recipe with the ``--set FIELD=VALUE`` overrides, checked (no torch)."""
    from ..experiments import profiles
    recipe = profiles.recipes(args.profile)["dropaware" if getattr(args, "drop_aware", False) else "standard"]
    fields = {f.name for f in dataclasses.fields(recipe)}
    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise InputError(f"--set: {item!r} is not FIELD=VALUE with a recipe field ({', '.join(sorted(fields))})")
        overrides[key] = _value(value)
    if getattr(args, "drop_aware", False) and "epochs" in overrides and "drop_path_from_epoch" not in overrides \
            and isinstance(overrides["epochs"], int):
        overrides["drop_path_from_epoch"] = overrides["epochs"] // 2  # drop-aware in the second half, as profiles do
    try:
        return dataclasses.replace(recipe, **overrides)
    except ValueError as exc:
        raise InputError(f"--set {exc}") from None


def _folder(path: str | None, flag: str, must_exist: bool = False) -> None:
    """A folder flag: not empty, not a file; an input folder (``must_exist``) exists."""
    if path is None:
        return
    if not str(path):
        raise InputError(f"{flag}: the path is empty; name a folder")
    if Path(path).exists() and not Path(path).is_dir():
        raise InputError(f"{flag}: {path} is a file, not a folder")
    if must_exist and not Path(path).is_dir():
        raise InputError(f"{flag}: {path} does not exist (the data root holds the datasets' folders)")


def cmd_costs(args):
    from ..nn import recipe as R
    if args.arch not in R.ARCHS:
        raise InputError(f"--arch: must be one of {', '.join(R.ARCHS)}, got {args.arch!r}")
    if args.stem not in R.STEMS:
        raise InputError(f"--stem: must be one of {', '.join(R.STEMS)}, got {args.stem!r}")
    check_range(args.image_size, "--image-size", 8, 4096, unit="pixels")
    check_range(args.num_classes, "--num-classes", 1, 100_000)
    from ..nn import costs
    if args.write:
        path = costs.write_table(costs.unit_table(args.arch, args.image_size, args.num_classes, args.stem))
        print(f"wrote {path}")
        return
    df = costs.unit_costs(args.arch, image_size=args.image_size, num_classes=args.num_classes, stem=args.stem)
    print(df.to_csv(index=False) if args.csv else df.to_string(index=False))


def cmd_train(args):
    recipe = recipe_of(args)
    _folder(args.out, "--out")
    _folder(args.data, "--data", must_exist=not args.download)
    if args.device is not None and not args.device.strip():
        raise InputError("--device: empty; give cpu, cuda, cuda:N or mps, or leave the flag out")
    from ..nn.train import train
    hist = train(recipe, args.out, resume=not args.restart, device=args.device, data_root=args.data,
                 download=args.download, progress=sys.stderr.isatty(),
                 log=None if sys.stderr.isatty() else sys.stderr)  # a log's progress lines (a terminal: the bars)
    print(hist.to_string(index=False))


def cmd_ablation(args):
    from ..experiments import profiles
    P = profiles.get(args.profile)
    if args.batch_size is not None:
        check_range(args.batch_size, "--batch-size", 1, 1 << 20)
    run = Path(args.run)
    if not run.is_dir():
        raise InputError(f"--run: {run} is not a training output folder (train --out)")
    out = check_output(args.out, "--out")
    _folder(args.data, "--data", must_exist=True)
    from ..io import file_hash
    from ..nn import ablation, data
    from ..nn.train import load_trained, pick_device
    dev = pick_device(args.device)
    model, recipe = load_trained(run, dev)
    test = data.load(recipe.dataset, "test", args.data).subset(P.ablation_limit(recipe), recipe.seed)
    table = ablation.measure(model, recipe, test, dev, args.batch_size or P.ablation_batch_size, out=out,
                           model_sha=file_hash(run / "model.pt"))
    print(table[["kind", "dropped", "accuracy"]].to_string(index=False))


# which flags each benchmark reads (a flag given to one that does not read it is refused)
BENCH_FLAGS = {"model": ("steps", "repeats", "batch_size", "image_size"), "ablation": ("images", "image_size"),
               "all": ("steps", "repeats", "batch_size", "image_size", "images"), "solvers": ("seed", "out"),
               "sweep": ("out",), "load": ("out",), "fronts": ("out",)}
BENCH_DEFAULTS = {"steps": 10, "repeats": 3, "images": 200, "batch_size": 64, "image_size": 32, "seed": 0}


def _bench_args(args) -> dict:
    """The benchmark's flags with their defaults, checked before anything runs."""
    reads = BENCH_FLAGS[args.what]
    for name in (*BENCH_DEFAULTS, "out"):
        if getattr(args, name) is not None and name not in reads:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag}: bench {args.what} does not use it (it takes "
                             f"{', '.join('--' + r.replace('_', '-') for r in reads) or 'no flag'})")
    got = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in BENCH_DEFAULTS.items() if k in reads}
    for name in ("steps", "repeats", "images", "batch_size"):
        if name in got:
            check_range(got[name], f"--{name.replace('_', '-')}", 1, 1 << 20)
    if "image_size" in got:
        check_range(got["image_size"], "--image-size", 8, 1024, unit="pixels")
    if "seed" in got:
        check_seed(got["seed"], "--seed")
    return got


def cmd_bench(args):
    got = _bench_args(args)
    if args.what == "solvers":  # the problem side: no torch
        from ..experiments import compare
        out = check_output(args.out, "--out") if args.out is not None else None
        df = compare.bench_solvers(seed=got["seed"])
        print(df.to_string(index=False))
        if out:
            import os
            import platform

            from ..io import provenance, write_table
            write_table(df, out, provenance(what="bench solvers: every method at the scale targets (compare.BENCH_POINTS)",
                                            seed=got["seed"], cpus=os.cpu_count(),
                                            machine=platform.processor() or platform.machine()))
            print(f"wrote {out}")
        return
    if args.what == "sweep":
        _bench_sweep(args)
        return
    if args.what == "load":
        _bench_load(args)
        return
    if args.what == "fronts":
        _bench_fronts(args)
        return
    from ..nn import bench
    if args.what in ("model", "all"):
        print(json.dumps(bench.run_model_bench(steps=got["steps"], batch_size=got["batch_size"],
                                               image_size=got["image_size"], repeats=got["repeats"]), indent=2))
    if args.what in ("ablation", "all"):
        print(json.dumps(bench.run_ablation_bench(n_images=got["images"], image_size=got["image_size"]), indent=2))


def _bench_fronts(args):
    import os

    from ..experiments import fronts, profiles
    from ..experiments.load_test import cpu_model
    from ..io import provenance, write_table
    out = check_output(args.out, "--out") if args.out is not None else None
    P = profiles.get("cpu").pareto
    df = fronts.held_out(progress=sys.stderr.isatty())
    print(df.round(4).to_string(index=False))
    print(f"front seconds: median {df.front_s.median():.2f}, max {df.front_s.max():.2f}; "
          f"unproven points: {int(df.unproven.sum())} of {int(df.points.sum())}")
    if out:
        o = fronts.HELD_OUT_OPTIONS
        write_table(df, out, provenance(what="bench fronts: solve --pareto 12 on §V-A steps of notebook 11's size, "
                                             "seeds outside its own",
                                        n_devices=P.n_devices, n_requests=P.n_requests, table="the cpu profile's", k=12,
                                        time_limit_s=o.time_limit, rel_gap=o.rel_gap, cpus=os.cpu_count(), cpu=cpu_model()),
                    float_format="%.6g")
        print(f"wrote {out}")


def _bench_sweep(args):
    import os
    import platform

    import pandas as pd

    from ..experiments import compare
    from ..io import provenance, write_table
    out = check_output(args.out, "--out") if args.out is not None else None
    res = compare.bench_sweep()
    print(json.dumps(res, indent=1))
    if out:
        write_table(pd.DataFrame([res]), out, provenance(what="bench sweep: a §V-A sweep on Ray vs the serial loop",
                                                         cpus=os.cpu_count(), machine=platform.processor() or platform.machine()))
        print(f"wrote {out}")


def _bench_load(args):
    """The full load sweep of the cpu profile (simulated queues): every policy, load, seed and N."""
    import pandas as pd

    from ..experiments import load_test, profiles
    from ..serving.policies import POLICIES
    out = check_output(args.out, "--out") if args.out is not None else None
    L = profiles.get("cpu").load
    frames = [load_test.sweep("cpu", POLICIES, L.loads, L.full_seeds, n, L.full_duration_s, out=_part(out, n),
                              progress=sys.stderr.isatty()) for n in L.devices]
    df = pd.concat(frames, ignore_index=True)
    print(df.groupby(["n_devices", "policy", "load"])[["slo_attainment", "goodput_rps", "p99_s"]].mean()
          .round(3).to_string())
    if out:
        from ..io import provenance, write_table
        write_table(df, out, provenance(what="load sweep (cpu profile), simulated queues, one row per run",
                                        duration_s=L.full_duration_s, seeds=" ".join(map(str, L.full_seeds)),
                                        cpu=load_test.cpu_model()), float_format="%.9g")
        for n in L.devices:
            _part(out, n).unlink(missing_ok=True)
        print(f"wrote {out}")


def _part(out, n: int):
    """Where the sweep at N = n keeps its rows until the whole sweep is written (a stopped run resumes)."""
    return None if out is None else out.with_name(f".{out.stem}.n{n}.part.csv")


def add_commands(sub) -> None:
    c = sub.add_parser("costs", help="per-unit cost table (Eqs 1-2)")
    c.add_argument("--arch", default="resnet50", help="resnet18, resnet34, resnet50, resnet101 or resnet152 (default "
                                                      "resnet50)")
    c.add_argument("--image-size", type=int, default=224, help="input size in pixels, 8-4096 (default 224)")
    c.add_argument("--num-classes", type=int, default=10, help="classes of the head (default 10)")
    c.add_argument("--stem", default="imagenet", help="imagenet (7×7, stride 2, max-pool) or cifar (3×3) (default imagenet)")
    c.add_argument("--csv", action="store_true", help="print the table as CSV (default: aligned text)")
    c.add_argument("--write", action="store_true", help="write the table the problem side reads to data/costs/")
    c.set_defaults(func=cmd_costs)
    t = sub.add_parser("train", help="train a profile's recipe (resumes by default)")
    t.add_argument("--profile", default="cpu", help="whose recipe: fast, cpu or paper (default cpu)")
    t.add_argument("--out", required=True, help="the run's folder (checkpoint, history, model)")
    t.add_argument("--drop-aware", action="store_true",
                   help="the profile's drop-aware recipe (drop path + sandwich + self-distillation in the second half)")
    t.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a recipe field")
    t.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: CUDA when present)")
    t.add_argument("--data", help="data root (default data/raw or $ADAPTRES_DATA)")
    t.add_argument("--download", action="store_true", help="download the dataset where the network allows")
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    t.set_defaults(func=cmd_train)
    a = sub.add_parser("ablation", help="accuracy of every drop configuration of a trained run")
    a.add_argument("--run", required=True, help="a train output folder")
    a.add_argument("--out", required=True, help="CSV to write")
    a.add_argument("--profile", default="cpu", help="whose ablation settings (batch, images): fast, cpu or paper (default cpu)")
    a.add_argument("--batch-size", type=int, help="images per evaluation batch (default: the profile's)")
    a.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: CUDA when present)")
    a.add_argument("--data", help="data root (default data/raw or $ADAPTRES_DATA)")
    a.set_defaults(func=cmd_ablation)
    files.declare(a, outputs=("--out",), implied=lambda args: (
        {f"--run's {f.name}": f for f in Path(args.run).glob("*") if f.is_file()} if Path(args.run).is_dir() else {}, {}))
    b = sub.add_parser("bench", help="block-wise vs torchvision ResNet-50 throughput; the solvers at scale")
    b.add_argument("what", nargs="?", choices=list(BENCH_FLAGS), default="all",
                   help="all: model and ablation; solvers: every method at the scale targets (N = 50, 100, 500); "
                        "sweep: a §V-A sweep serially and on Ray; load: the full load sweep (notebook 12), simulated; "
                        "fronts: solve --pareto 12 on twenty §V-A steps outside notebook 11's")
    b.add_argument("--out", help="solvers, sweep, load, fronts: write the result (CSV) here")
    b.add_argument("--seed", type=int, help="solvers: the steps' seed (default 0)")
    b.add_argument("--steps", type=int, help="model: training steps timed (default 10)")
    b.add_argument("--repeats", type=int, help="model: repeats (default 3)")
    b.add_argument("--images", type=int, help="ablation: images (default 200)")
    b.add_argument("--batch-size", type=int, help="model: batch size (default 64)")
    b.add_argument("--image-size", type=int, help="model, ablation: input size in pixels (default 32)")
    b.set_defaults(func=cmd_bench)
    files.declare(b, outputs=("--out",), committed=True)
