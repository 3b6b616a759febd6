"""Running iproute2 (``ip``, ``tc``) and finding the test bed's namespaces and processes."""

from __future__ import annotations

import shutil
import subprocess

from .names import PREFIX, TestBedError


def run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and p.returncode:
        raise TestBedError(f"{' '.join(cmd[:6])}: {' '.join((p.stderr or p.stdout).split())[:300]}")
    return p


def batch(tool: str, lines: list[str], ns: str | None = None) -> None:
    """Many ``ip``/``tc`` commands in one process (``-batch -``)."""
    if lines:
        run(tool, *(["-n", ns] if ns else []), "-batch", "-", input="\n".join(lines) + "\n")


def namespaces() -> list[str]:
    """The test bed's namespaces that exist now."""
    if shutil.which("ip") is None:
        return []
    out = run("ip", "netns", "list", check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.split() and line.split()[0].startswith(PREFIX + "-"))


def host_links() -> int:
    """How many interfaces of the test bed's name prefix the host has (its veths' ends; none when it is down)."""
    if shutil.which("ip") is None:
        return 0
    return run("ip", "-o", "link", check=False).stdout.count(PREFIX)


def ns_pids(ns: str) -> list[int]:
    out = run("ip", "netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


# ---------------------------------------------------------------------------- links

