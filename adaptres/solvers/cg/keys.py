"""The master's rows and (besides ``data.Column``, a request's plan) its other columns, as named keys; each
key's ``name`` is its row's or column's name in HiGHS (what a model written to a file shows)."""

from __future__ import annotations

from dataclasses import dataclass

import highspy

from .cuts import Cut

INF = highspy.kHighsInf
ARTIFICIAL_COST = 1e3
RESOURCES = ("compute", "energy", "memory")  # a device's capacity rows


@dataclass(frozen=True)
class SourceRow:
    """Source s's requests: Σ of its columns + its unserved = n_s."""
    s: int

    @property
    def name(self) -> str:
        return f"source[{self.s}]"


@dataclass(frozen=True)
class CapacityRow:
    """Device i's ``kind`` (compute, energy, memory) at most its capacity."""
    kind: str
    i: int

    @property
    def name(self) -> str:
        return f"{self.kind}[{self.i}]"


@dataclass(frozen=True)
class ServedRow:
    """The number of requests served (branched on)."""

    @property
    def name(self) -> str:
        return "served"


@dataclass(frozen=True)
class LoadRow:
    """``shared_weights``: source s's columns running unit j on device i at ``level`` or above ≤ n_s · loaded."""
    s: int
    i: int
    j: int
    level: int

    @property
    def name(self) -> str:
        return f"load[{self.s},{self.i},{self.j},{self.level}]"


@dataclass(frozen=True)
class ArcRow:
    """A branching row: source s's requests that run unit j on device i (i = −1: that drop unit j)."""
    s: int
    j: int
    i: int

    @property
    def name(self) -> str:
        return f"arc[{self.s},{self.j},{self.i}]"


@dataclass(frozen=True)
class BudgetRow:
    """A front's budget over all served requests: ``loss`` (Σ points of accuracy below the full model, ≤ ε)
    or ``energy`` (Σ joules of every device, ≤ a budget)."""
    kind: str

    @property
    def name(self) -> str:
        return f"budget[{self.kind}]"


BUDGETS = ("loss", "energy")


@dataclass(frozen=True)
class LevelRow:
    """Under a loss budget ε: at most ``m`` requests take a configuration that loses more than ε / (m + 1) —
    m + 1 of them would lose more than ε together. Implied by the budget row for every integer plan, not for the
    LP, which mixes configurations of one request to spend exactly ε."""
    m: int

    @property
    def name(self) -> str:
        return f"level[{self.m}]"


@dataclass(frozen=True)
class UnservedCol:
    """Source s's requests left unserved (10 each)."""
    s: int

    @property
    def name(self) -> str:
        return f"unserved[{self.s}]"


@dataclass(frozen=True)
class LoadedCol:
    """``shared_weights``: device i holds unit j's weights at ``level`` (a binary)."""
    i: int
    j: int
    level: int

    @property
    def name(self) -> str:
        return f"loaded[{self.i},{self.j},{self.level}]"


@dataclass(frozen=True)
class ArtificialCol:
    """A prohibitive count that keeps the LP feasible while a branch asks for more than the columns serve."""

    @property
    def name(self) -> str:
        return "artificial"


SERVED, ARTIFICIAL = ServedRow(), ArtificialCol()


def row_name(key) -> str:
    """The HiGHS name of a row's key (a cut's: its kind, device, family and parameter)."""
    if isinstance(key, Cut):
        return f"cut[{key.kind},{key.i},{key.family},{key.param:.12g}]"
    return key.name
