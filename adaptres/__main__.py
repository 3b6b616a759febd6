"""``python -m adaptres``: the command line (``adaptres.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
