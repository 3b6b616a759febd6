"""The checks every input file's reader applies, each with one message: a field's name and the reason.

Numbers must be finite and lie in ranges that keep the arithmetic meaningful (``RANGES``): for example
link rates of 0.001 Mb/s to 1 Tb/s (or exactly 0: no link between the two devices) and device speeds of
1e6 to 1e16 multiplications per second. Outside them a transfer or a computation takes longer than 10^9
s, the solvers' matrices span more orders of magnitude than a floating-point solver can keep apart, and
the answers mean nothing (a rate of 1e-20 Mb/s made HiGHS call over-full plans optimal).
"""

from __future__ import annotations

import math

from ..io import InputError
from . import formulas as F

# (low, high, low is excluded): the ranges of SPEC §8's numbers (see the module's docstring)
RANGES = {
    "macs": (0, 1e15, False), "bytes": (0, 1e12, False), "input_bytes": (0, 1e12, True),
    "accuracy": (0, 100, False), "memory_bytes": (0, 1e15, True), "compute_macs": (0, 1e18, True),
    "macs_per_s": (1e6, 1e16, False), "energy_j": (0, 1e9, False), "power_w": (0, 1e4, False),
    "rate_mbps": (F.MIN_RATE_MBPS, 1e6, False), "weight": (0, 1, False), "latency_ref_s": (0, 1e9, True),
    "link_overhead_s": (0, 3600, False), "energy_price": (0, 1e6, False), "ready_s": (0, 1e6, False),
}
class ScenarioError(InputError):
    """Malformed scenario or plan: the message names the field and the reason."""


def show(v) -> str:
    """A short form of a bad value for an error message."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**15:
        return f"an integer of {len(str(abs(v)))} digits" if abs(v) < 10**4000 else "a huge integer"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def number(v, where: str, rng: str, nullable: bool = False):
    """``v`` if it is a finite number within ``RANGES[rng]``, else a ScenarioError naming ``where``."""
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"{where}: must be a number, got {show(v)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ScenarioError(f"{where}: must be a finite number, got {show(v)}")
    lo, hi, open_lo = RANGES[rng]
    if v < lo or (open_lo and v == lo) or v > hi:
        bound = f"{'above' if open_lo else 'at least'} {lo:g}"
        raise ScenarioError(f"{where}: must be {bound} and at most {hi:g}, got {show(v)}")
    return v


def exact_keys(obj, keys, where: str) -> None:
    """``obj`` is an object with exactly the fields ``keys`` (the first missing or unknown one named)."""
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where}: must be an object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ScenarioError(f"{where}: missing field {missing[0]!r}")
    extra = sorted(set(obj) - set(keys), key=str)
    if extra:
        raise ScenarioError(f"{where}: unknown field {show(extra[0])}")


def index(v, n: int, where: str, what: str = "a device index") -> int:
    """``v`` if it is an integer in 0..n − 1."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
        raise ScenarioError(f"{where}: must be {what} in 0..{n - 1}, got {show(v)}")
    return v
