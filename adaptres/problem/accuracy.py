"""From the empirical study to the optimiser: an accuracy table's rows become configurations (SPEC §3)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..io import InputError
from .scenario import Config


def configs_from_rows(rows: Iterable[Mapping], threshold: float = 80.0, max_dropped: int | None = 2) -> list[Config]:
    """The optimiser's configurations from the rows of an ablation table (columns ``kind``,
    ``dropped`` as ``a;b``, ``n_dropped``, ``accuracy``): the full model first, then every DC
    configuration with at most ``max_dropped`` blocks (None: any number) and an accuracy of at least
    ``threshold`` percent (the paper's Table II)."""
    if not 0 <= threshold <= 100:
        raise InputError(f"threshold: must be in [0, 100], got {threshold}")
    rows = list(rows)
    full = [r for r in rows if r["kind"] == "none"]
    if len(full) != 1:
        raise InputError("accuracy table: needs exactly one row of kind 'none' (the full model)")
    configs = [Config((), float(full[0]["accuracy"]))]
    for r in rows:
        if r["kind"] == "dc" and (max_dropped is None or int(r["n_dropped"]) <= max_dropped) \
                and float(r["accuracy"]) >= threshold:
            configs.append(Config(tuple(d for d in str(r["dropped"]).split(";") if d), float(r["accuracy"])))
    return configs


def undominated(configs: list[Config]) -> list[Config]:
    """``configs`` without the dominated ones: a configuration is dominated when another drops every
    block it drops and more (so costs no more on any unit, any device) and is at least as accurate.
    Of identical drop sets the first is kept; the full model (the first) always stays."""
    keep = [configs[0]]
    for i, c in enumerate(configs[1:], start=1):
        mine = set(c.dropped)
        if not any(j != i and set(o.dropped) >= mine and o.accuracy >= c.accuracy
                   and (set(o.dropped) != mine or j < i) for j, o in enumerate(configs)):
            keep.append(c)
    return keep
