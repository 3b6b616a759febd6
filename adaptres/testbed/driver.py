"""The driver inside the hub: where ``serve`` and ``load`` re-execute themselves to reach the devices."""

from __future__ import annotations

import os
import subprocess
import sys

from .names import HUB, IN_TESTBED, RAY_ENV


def inside() -> bool:
    """Is this process the driver inside the hub?"""
    return os.environ.get(IN_TESTBED) == "1"


def reexec_inside(argv: list[str]) -> int:
    """Run ``python argv…`` inside the hub namespace (the driver's place), with Ray's settings; its
    exit status. Ctrl-C reaches it (same process group); this process waits for it."""
    env = {**os.environ, **RAY_ENV, IN_TESTBED: "1"}
    p = subprocess.Popen(["ip", "netns", "exec", HUB, sys.executable, *argv], env=env)
    while True:
        try:
            return p.wait()
        except KeyboardInterrupt:  # the child got it too: let it write what finished
            continue

