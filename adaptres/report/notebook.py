"""Notebook parameters, checked in the cell right after the ``parameters`` cell.

papermill injects what the caller gives (``-p profile nosuch``); ``check_parameters`` turns a bad
value into one line that names the parameter, and shortens the notebook's traceback to that line,
so it is the first thing a reader of papermill's output sees.
"""

from __future__ import annotations

import ast
import math

from ..io import MAX_SEED


class ParameterError(ValueError):
    """A notebook parameter with a bad value: the message names it and the reason."""


def _int_or_none(v, lo: int, hi: int) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi)


def _real(v, lo: float, hi: float, open_lo: bool = False) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and (v > lo if open_lo else v >= lo) and v <= hi)


def _profile(v):
    from ..experiments.profiles import PROFILES
    return v in PROFILES if isinstance(v, str) else False, f"must be one of {', '.join(PROFILES)}"


def _device(v):
    if v is None:
        return True, ""
    from ..nn.train import pick_device
    try:
        pick_device(v)
    except ValueError as exc:
        return False, str(exc).split(": ", 1)[1]
    return True, ""


def _table(v, empty_ok: bool = False):
    from ..experiments.profiles import TABLES
    ok = v is None or (isinstance(v, str) and (v in TABLES or (empty_ok and v == "")))
    empty = ', ""' if empty_ok else ""
    return ok, f"must be None{empty} or one of {', '.join(TABLES)}"


def _arch(v):
    from ..nn.recipe import ARCHS
    return v in ARCHS, f"must be one of {', '.join(ARCHS)}"


CHECKS = {
    "profile": _profile,
    "steps": lambda v: (_int_or_none(v, 1, 100_000), "must be None or a positive integer"),
    "seeds": lambda v: (v is None or (isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in v)),
        "must be None or a non-empty list of integers in [0, 4294967295]"),
    "time_limit": lambda v: (v is None or _real(v, 0, 1e6, open_lo=True), "must be None or a positive number of seconds"),
    "replay": lambda v: (isinstance(v, bool), "must be True or False"),
    "retrain": lambda v: (isinstance(v, bool), "must be True or False"),
    "warm_start": lambda v: (isinstance(v, bool), "must be True or False"),
    "device": _device,
    "threshold": lambda v: (_real(v, 0, 100), "must be a number in [0, 100]"),
    "within": lambda v: (_real(v, 0, 100), "must be a number of points in [0, 100]"),
    "accuracy_threshold": lambda v: (_real(v, 0, 100), "must be a number in [0, 100]"),
    "alpha": lambda v: (_real(v, 0, 1), "must be a number in [0, 1]"),
    "beta": lambda v: (_real(v, 0, 1), "must be a number in [0, 1]"),
    "seed": lambda v: (_int_or_none(v, 0, MAX_SEED) and v is not None, "must be an integer in [0, 4294967295]"),
    "arch": _arch,
    "table": _table,
    "compare_with": lambda v: _table(v, empty_ok=True),
    "n_devices": lambda v: (_int_or_none(v, 1, 1000), "must be None or an integer in [1, 1000]"),
    "n_requests": lambda v: (_int_or_none(v, 0, 1000), "must be None or an integer in [0, 1000]"),
    "kills": lambda v: (v is None or (isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 1000 for k in v)),
        "must be None or a non-empty list of numbers of devices"),
    "at_s": lambda v: (v is None or _real(v, 0, 1e4), "must be None or a number of seconds"),
    "v": lambda v: (v is None or _real(v, 0, 1e9, open_lo=True),
                    "must be None or a number in (0, 1e9] (the horizon controller's V, J² per objective unit)"),
    "controller": lambda v: (v is None or v in ("myopic", "horizon"), "must be None, \"myopic\" or \"horizon\""),
    "live": lambda v: (v is None or isinstance(v, bool), "must be None, True or False"),
    "num_classes": lambda v: (_int_or_none(v, 1, 100_000) and v is not None, "must be a positive integer"),
}


def problems(**params) -> list[str]:
    """What is wrong with ``params`` (one line each; empty when all are fine)."""
    out = []
    for name, value in params.items():
        if name not in CHECKS:
            out.append(f"{name}: not a parameter this check knows")
            continue
        ok, why = CHECKS[name](value)
        if not ok:
            out.append(f"{name}: {why}, got {value!r}")
    if "alpha" in params and "beta" in params and not out and abs(params["alpha"] + params["beta"] - 1) > 1e-9:
        out.append(f"alpha, beta: must add up to 1, got {params['alpha']} + {params['beta']}")
    return out


def injected() -> list[str]:
    """The names papermill injected into this notebook (its ``# Parameters`` cell), in a kernel; [] elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    ip = get_ipython()
    if ip is None:
        return []
    cells = [c for c in ip.user_ns.get("In", []) if isinstance(c, str) and c.lstrip().startswith("# Parameters")]
    if not cells:
        return []
    tree = ast.parse(cells[-1])
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)]


def check_parameters(**params) -> None:
    """Raise ``ParameterError`` naming the first bad parameter (with a one-line traceback in IPython): a
    value out of range, or a parameter papermill injected that this notebook does not take."""
    bad = [f"{name}: not a parameter of this notebook (it takes {', '.join(params)})"
           for name in injected() if name not in params]
    bad += problems(**params)
    if not bad:
        return
    try:  # in a notebook: show the error alone, not the frames that led to it
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None:
            ip.InteractiveTB.set_mode(mode="Minimal")
    except ImportError:
        pass
    raise ParameterError(bad[0] + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
