"""Failures to inject, and their one syntax on the command line (``run``, ``serve``, ``load``).

``--fail DEVICE@WHEN`` kills a device's actor, ``--cut I-J@WHEN`` cuts the link between two devices
(the network test bed). ``WHEN`` is ``SECONDS`` into the step (``run``) or into the run (``load``), or
``STEP:SECONDS`` into a step of a horizon (``serve``). Devices and steps are written in ASCII digits;
seconds as a decimal number. A device killed stays dead, a cut link stays cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_INT = re.compile(r"[0-9]+\Z")
_SECONDS = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\Z|\.[0-9]+([eE][+-]?[0-9]+)?\Z")
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class Failure:
    """Device ``device`` killed ``at_s`` seconds into step ``step`` (or into the run: step 0)."""

    device: int
    step: int
    at_s: float


@dataclass(frozen=True)
class Cut:
    """Link ``a``–``b`` cut ``at_s`` seconds into step ``step`` (or into the run: step 0)."""

    a: int
    b: int
    step: int
    at_s: float


def _when(spec: str, flag: str, what: str, steps: int | None, limit: float) -> tuple[str, int, float]:
    """(WHAT, step, seconds) of ``WHAT@WHEN``; a ``ValueError`` naming ``flag`` and the expected form."""
    form = f"{what}@STEP:SECONDS with STEP in 0..{steps - 1}" if steps is not None else f"{what}@SECONDS"
    head, sep, when = str(spec).partition("@")
    step_text, colon, at_text = when.rpartition(":")
    ok = bool(sep) and bool(_SECONDS.match(at_text)) and (colon == "") == (steps is None)
    ok = ok and (steps is None or bool(_INT.match(step_text)))
    if ok:
        step = int(step_text) if steps is not None else 0
        at = float(at_text)
        ok = (steps is None or step < steps) and at <= limit
    if not ok:
        raise ValueError(f"{flag}: expected {form} and SECONDS in [0, {limit:g}], got {spec!r}")
    return head, step, at


def parse_failures(specs: Sequence[str], n_devices: int, steps: int | None = None,
                   limit: float = MAX_SECONDS) -> list[Failure]:
    """``["3@2:0.5", ...]`` (``steps`` given) or ``["3@0.5", ...]``: device 3 killed 0.5 s into step 2 (into
    the step or run)."""
    out = []
    for spec in specs:
        dev, step, at = _when(spec, "--fail", "DEVICE", steps, limit)
        if not _INT.match(dev) or not int(dev) < n_devices:
            raise ValueError(f"--fail: no device {dev!r} (devices are 0..{n_devices - 1}), in {spec!r}")
        out.append(Failure(int(dev), step, at))
    if len({f.device for f in out}) != len(out):
        raise ValueError("--fail: a device is killed twice (a killed device stays dead)")
    return out


def parse_cuts(specs: Sequence[str], n_devices: int, steps: int | None = None,
               limit: float = MAX_SECONDS) -> list[Cut]:
    """``["0-2@1:0.3", ...]`` (``steps`` given) or ``["0-2@0.3", ...]``: link 0–2 cut 0.3 s into step 1."""
    out = []
    for spec in specs:
        pair, step, at = _when(spec, "--cut", "I-J", steps, limit)
        a, sep, b = pair.partition("-")
        if not sep or not _INT.match(a) or not _INT.match(b) or not (int(a) < n_devices and int(b) < n_devices) \
                or int(a) == int(b):
            raise ValueError(f"--cut: no link {pair!r} (two different devices in 0..{n_devices - 1}), in {spec!r}")
        out.append(Cut(int(a), int(b), step, at))
    if len({frozenset((c.a, c.b)) for c in out}) != len(out):
        raise ValueError("--cut: a link is cut twice (a cut link stays cut)")
    return out
