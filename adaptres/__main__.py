"""``python -m adaptres``: the command line (``adaptres.cli``)."""

import sys


def run() -> int:
    """The command line, with Ctrl-C during start-up (the imports) ending as it does later: one line, 130."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("adaptres: interrupted while starting; nothing was done", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
