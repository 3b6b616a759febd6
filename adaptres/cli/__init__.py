"""The adaptive ResNet study and system on the command line: ``python -m adaptres COMMAND ...``.

Commands: scenario, solve, evaluate, simulate (the problem side); costs, train, ablation, bench (the
network); run, serve, load, testbed, profile-units (the system on Ray); study (the notebooks), readme (the README's numbers).

Exit status: 0 done; 2 bad input (one line naming the field or flag and the reason, nothing written);
3 the command ran but has no result to give (a method found no usable plan, one line saying why,
nothing written); 130 interrupted (Ctrl-C; the output file is as it was); 141 standard output closed
early (``| head``). The problem-side commands (``solve``, ``evaluate``, ``scenario``) never import torch.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import processes
from ..io import NoResult
from . import files, nn, problem, runtime, serving, study

COMMANDS = (problem, nn, study, runtime, serving)  # each module adds its subcommands with ``add_commands(sub)``
# the optional extra that brings a module the package imports only where it is needed (pyproject.toml)
EXTRAS = {"torch": "nn", "torchvision": "nn", "timm": "nn", "ray": "runtime", "matplotlib": "study",
          "seaborn": "study", "papermill": "study", "nbformat": "study", "IPython": "study"}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2)."""

    def error(self, message):
        if message.endswith("expected one argument"):  # a value that starts with '-' reads as an option
            message += f" (a value that starts with '-' is written {message.split()[1].rstrip(':')}=VALUE)"
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> Parser:
    from .. import __version__
    p = Parser(prog="adaptres", description="The adaptive ResNet study and system: a block-wise ResNet split over "
               "devices, its placement optimised, executed live and under load.")
    p.add_argument("--version", action="version", version=f"adaptres {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_commands(sub)
    return p


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("adaptres: interrupted; nothing was done", file=sys.stderr)
        return 130
    processes.watch_ctrl_c()
    try:
        files.check(args)  # before anything starts: no output may be an input, nor two outputs one file
        args.func(args)
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"adaptres {args.cmd}: needs the [{extra}] extra ({exc.name} is not installed): pip install "
              f"'adaptres[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"adaptres {args.cmd}: interrupted; no output was written", file=sys.stderr)
        # a library object cut off half-built (pyomo's output tee) may complain as it is collected: not news
        sys.unraisablehook = lambda unraisable: None
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if processes.interrupted():  # Ctrl-C, caught inside a library and raised again as another error
            print(f"adaptres {args.cmd}: interrupted; no output was written", file=sys.stderr)
            return 130
        if isinstance(exc, NoResult):
            print(f"adaptres {args.cmd}: {_one_line(exc)}", file=sys.stderr)
            return 3
        if isinstance(exc, (ValueError, OSError, OverflowError, RecursionError, EOFError)):
            print(f"adaptres {args.cmd}: {_one_line(exc)}", file=sys.stderr)
            return 2
        raise
    return 0
