"""Command line: ``python -m adaptres {costs,train,ablation,bench,solve,evaluate} ...``.

Bad input ends with one line naming the problem and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2)."""

    def error(self, message):
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parse_value(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _recipe(args):
    from . import profiles
    recipe = profiles.get(args.profile)["recipe"]
    overrides = {}
    fields = {f.name for f in dataclasses.fields(recipe)}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise UsageError(f"--set: {item!r} is not FIELD=VALUE with a recipe field ({', '.join(sorted(fields))})")
        overrides[key] = _parse_value(value)
    return dataclasses.replace(recipe, **overrides)


def cmd_costs(args):
    from .costs import unit_costs
    df = unit_costs(args.arch, image_size=args.image_size, num_classes=args.num_classes, stem=args.stem)
    print(df.to_csv(index=False) if args.csv else df.to_string(index=False))


def cmd_train(args):
    from .train import train
    recipe = _recipe(args)
    hist = train(recipe, args.out, resume=not args.restart, device=args.device, data_root=args.data)
    print(hist.to_string(index=False))


def cmd_ablation(args):
    from . import ablation, data, profiles
    from .train import load_trained, pick_device
    dev = pick_device(args.device)
    model, recipe = load_trained(args.run, dev)
    test = data.load(recipe.dataset, "test", args.data).subset(recipe.test_limit, recipe.seed)
    bs = args.batch_size or profiles.PROFILES.get(args.profile, {}).get("ablation_batch_size", 250)
    table = ablation.study(model, recipe, test, dev, bs, out=args.out,
                           model_sha=ablation.file_hash(Path(args.run) / "model.pt"))
    print(table[["kind", "dropped", "accuracy"]].to_string(index=False))


def cmd_bench(args):
    from . import bench
    if args.what in ("model", "all"):
        print(json.dumps(bench.run_model_bench(steps=args.steps, batch_size=args.batch_size,
                                               image_size=args.image_size, repeats=args.repeats), indent=2))
    if args.what in ("ablation", "all"):
        print(json.dumps(bench.run_ablation_bench(n_images=args.images, image_size=args.image_size), indent=2))


def cmd_study(args):
    from . import study
    code = study.main(args.profile, args.only, args.force, args.in_place, retrain=args.retrain)
    if code:
        raise SystemExit(code)


def main(argv=None) -> int:
    p = _Parser(prog="adaptres", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    c = sub.add_parser("costs", help="per-unit cost table (Eqs 1-2)")
    c.add_argument("--arch", default="resnet50")
    c.add_argument("--image-size", type=int, default=224)
    c.add_argument("--num-classes", type=int, default=10)
    c.add_argument("--stem", default="imagenet")
    c.add_argument("--csv", action="store_true")
    c.set_defaults(func=cmd_costs)
    t = sub.add_parser("train", help="train a profile's recipe (resumes by default)")
    t.add_argument("--profile", default="cpu")
    t.add_argument("--out", required=True)
    t.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a recipe field")
    t.add_argument("--device")
    t.add_argument("--data", help="data root (default data/raw or $ADAPTRES_DATA)")
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    t.set_defaults(func=cmd_train)
    a = sub.add_parser("ablation", help="accuracy of every drop configuration of a trained run")
    a.add_argument("--run", required=True, help="a train output folder")
    a.add_argument("--out", required=True, help="CSV to write")
    a.add_argument("--profile", default="cpu")
    a.add_argument("--batch-size", type=int)
    a.add_argument("--device")
    a.add_argument("--data")
    a.set_defaults(func=cmd_ablation)
    b = sub.add_parser("bench", help="block-wise vs torchvision ResNet-50 throughput")
    b.add_argument("what", nargs="?", choices=["model", "ablation", "all"], default="all")
    b.add_argument("--steps", type=int, default=10)
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--images", type=int, default=200, help="images for the ablation benchmark")
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--image-size", type=int, default=32)
    b.set_defaults(func=cmd_bench)
    s = sub.add_parser("study", help="run the notebooks in order with a profile and write a report")
    s.add_argument("--profile", default="cpu")
    s.add_argument("--only", nargs="*", help="notebook name prefixes (e.g. 00 02)")
    s.add_argument("--force", action="store_true", help="rerun notebooks that are up to date")
    s.add_argument("--in-place", action="store_true", help="write outputs into notebooks/ (refresh nbval references)")
    s.add_argument("--retrain", action="store_true",
                   help="train and run the ablation again instead of reusing the profile's committed results")
    s.set_defaults(func=cmd_study)
    try:
        from . import cli_solve
        cli_solve.add_commands(sub)
    except ImportError:
        pass
    args = p.parse_args(argv)
    try:
        args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"adaptres {args.cmd}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
