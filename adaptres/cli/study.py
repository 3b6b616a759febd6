"""``study``: the main job (every notebook through papermill, then a report); ``readme``: the README's
numbers rewritten from the committed results."""

from __future__ import annotations


def cmd_study(args):
    from ..experiments import profiles
    from ..report import study
    profiles.get(args.profile)
    study.select(args.only)  # a bad --only fails before anything runs
    code = study.main(args.profile, args.only, args.force, args.in_place, retrain=args.retrain, replay=args.replay,
                      publish=args.publish, side_by_side=not args.one_at_a_time)
    if code:
        raise SystemExit(code)


def cmd_readme(args):
    from ..report import readme
    if args.check:
        stale = readme.stale()
        print("README.md: " + (f"out of date: {', '.join(stale)} (python -m adaptres readme)" if stale else "up to date"))
        if stale:
            raise SystemExit(1)
        return
    changed = readme.refresh()
    print(f"README.md: {', '.join(changed)} rewritten" if changed else "README.md: up to date")


def add_commands(sub) -> None:
    s = sub.add_parser("study", help="run the notebooks in order with a profile and write a report")
    s.add_argument("--profile", default="cpu", help="fast (minutes), cpu (the main job) or paper (a GPU) (default cpu)")
    s.add_argument("--only", nargs="*", help="notebook name prefixes (e.g. 00 02)")
    s.add_argument("--force", action="store_true", help="rerun notebooks that are up to date")
    s.add_argument("--in-place", action="store_true", help="write outputs into notebooks/ (refresh nbval references)")
    s.add_argument("--retrain", action="store_true",
                   help="train and run the ablation again instead of reusing the profile's committed results")
    s.add_argument("--replay", action="store_true",
                   help="read the committed per-step results of 04-07 back instead of simulating (a quick look)")
    s.add_argument("--publish", action="store_true",
                   help="write figures and results to their committed places and copy the run to data/results/")
    s.add_argument("--one-at-a-time", action="store_true",
                   help="run every notebook alone (default: those on the network test bed beside the others)")
    s.set_defaults(func=cmd_study)
    r = sub.add_parser("readme", help="rewrite the README's generated blocks (timings, headline, load) from the "
                                      "committed results")
    r.add_argument("--check", action="store_true", help="only say whether they are up to date (exit 1 if not)")
    r.set_defaults(func=cmd_readme)
