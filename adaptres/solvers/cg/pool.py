"""The plans deleted from the master LP between the root's cut rounds (``purge``) and kept for the searches that make
models of their own (``Pool.improving``).

The cut rows make the master dense: at N = 100 devices and R = 50 requests its LP had ~16 000 columns and ~480 000
nonzeros by the eighth cut round, and its solves were most of the rounds' time. A plan the LP leaves at zero with a
reduced cost above a room cannot enter its optimum, and the pricing, being exact, makes again any plan that later prices
ask for; deleted, it is kept here with its cost and its coefficients in the rows of the time (rows made later are cuts,
which a neighbourhood's model leaves out, or rows the plan has no entry in), so that a neighbourhood can take it back
where its own LP's prices make it improving.
"""

from __future__ import annotations

import highspy
import numpy as np
import scipy.sparse as sp

from .data import Column
from .integer import columns


class Pool:
    """Purged plans, one block per ``purge``: their costs, their coefficients (plans × the master's rows of the time)
    and the plans."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, sp.csr_matrix, list[Column]]] = []

    def plans(self) -> list[Column]:
        return [col for _, _, cols in self.blocks for col in cols]

    def improving(self, y: np.ndarray, free: set, most: int, present) -> list[Column]:
        """The plans of the sources in ``free`` that improve an LP whose row duals are ``y`` (one per master row) — a
        negative reduced cost — and are not ``present`` (the master's), at most ``most`` per source, the most improving
        first."""
        found: dict = {}
        for cost, a, cols in self.blocks:
            rc = cost - a @ y[:a.shape[1]]
            for c in np.flatnonzero(rc < -1e-9 * np.maximum(1.0, np.abs(cost))):
                col = cols[c]
                if col.s in free and col not in present:
                    found.setdefault(col.s, []).append((rc[c], col))
        return [col for s in found for _, col in sorted(found[s], key=lambda t: t[0])[:most]]


def purge(master, room: float, protect=()) -> np.ndarray | None:
    """Delete from ``master`` (a ``Master`` whose last LP is solved) the plans that LP leaves at zero, nonbasic, with a
    reduced cost above ``room``, except those in ``protect`` (column indices), into its pool (``Master.delete``).
    Returns the old index -> the new one (−1: deleted), or None when nothing was deleted."""
    h, n = master.h, len(master.columns)
    rc = np.asarray(h.getSolution().col_dual)[:n]  # HiGHS keeps the last solve's; columns added since read 0: kept
    basic = np.asarray([s == highspy.HighsBasisStatus.kBasic for s in h.getBasis().col_status[:n]], dtype=bool)
    plan = np.fromiter((isinstance(c, Column) for c in master.columns), dtype=bool, count=n)
    drop = plan & ~basic & (rc > room) & (master.x <= 0)
    drop[[c for c in protect if c < len(drop)]] = False
    gone = np.flatnonzero(drop).astype(np.int32)
    if not len(gone):
        return None
    _, _, cost, _, _, _ = h.getCols(len(gone), gone)
    master.pool.blocks.append((np.asarray(cost), columns(h, gone, h.getNumRow()).T.tocsr(),
                               [master.columns[c] for c in gone]))
    return master.delete(gone)
