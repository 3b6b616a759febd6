"""The driver inside the hub: where ``serve`` and ``load`` re-execute themselves to reach the devices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from ..processes import kill
from .names import HUB, IN_TESTBED, RAY_ENV


def inside() -> bool:
    """Is this process the driver inside the hub?"""
    return os.environ.get(IN_TESTBED) == "1"


INTERRUPT_GRACE_S = 60.0  # how long the driver may take to write what finished after Ctrl-C


def reexec_inside(argv: list[str], grace_s: float = INTERRUPT_GRACE_S) -> int:
    """Run ``python argv…`` inside the hub namespace (the driver's place), with Ray's settings; its
    exit status. Ctrl-C reaches it (same process group) and it is given ``grace_s`` to write what finished
    and end; one that has not (or a second Ctrl-C) is stopped with SIGABRT, whose handler (Python's
    ``faulthandler``) first prints where each of its threads was, and this returns 130."""
    env = {**os.environ, **RAY_ENV, IN_TESTBED: "1", "PYTHONFAULTHANDLER": "1"}
    p = subprocess.Popen(["ip", "netns", "exec", HUB, sys.executable, *argv], env=env)
    try:
        return p.wait()
    except KeyboardInterrupt:  # the child got it too: let it write what finished
        pass
    try:
        return p.wait(timeout=grace_s)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        print(f"adaptres: the driver did not end within {grace_s:g} s of Ctrl-C; stopped (where it was, above)",
              file=sys.stderr, flush=True)
    kill([p.pid], signals=((signal.SIGABRT, 10.0), (signal.SIGKILL, 10.0)))
    return 130
