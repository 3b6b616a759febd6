"""``study``: the main job (every notebook through papermill, then a report)."""

from __future__ import annotations


def cmd_study(args):
    from ..experiments import profiles
    from ..report import study
    profiles.get(args.profile)
    study.select(args.only)  # a bad --only fails before anything runs
    code = study.main(args.profile, args.only, args.force, args.in_place, retrain=args.retrain, replay=args.replay,
                      publish=args.publish)
    if code:
        raise SystemExit(code)


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
    s.set_defaults(func=cmd_study)
