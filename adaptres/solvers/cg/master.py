"""The master problem on HiGHS (through ``highspy``): columns are added without rebuilding.

Rows: one per source s, Σ (its columns) + u_s = n_s (u_s: its requests left unserved, 10 each, SPEC
§5); per device, computation (Eq 14), energy (Eqs 17, 19) and memory (Eq 13) at most its capacity.
Under ``shared_weights`` a device holds unit j's weights once: binary z[i, j, level] (one per weight
figure the unit can have, largest first) enter its memory row, and, per source, the columns that
run unit j on device i at that figure or above are at most n_s · (z of that level and the larger
ones). Those rows and variables are made the first time a column needs them; until then they are
slack and their prices zero, which keeps the prices a valid (dual-feasible) point.
"""

from __future__ import annotations

import numpy as np

from ...problem.formulas import UNSERVED_PENALTY
from .._highs_thread import limit_time, new_highs, run_within, status
from . import cuts, integer
from .data import Arrays, Column
from .keys import (
    ARTIFICIAL,
    ARTIFICIAL_COST,
    BUDGETS,
    INF,
    RESOURCES,
    SERVED,
    ArcRow,
    BudgetRow,
    CapacityRow,
    LevelRow,
    LoadedCol,
    LoadRow,
    SourceRow,
    UnservedCol,
    row_name,
)
from .pool import Pool
from .pricing import Prices

__all__ = ["Master"]

class Master:
    """The restricted master LP; ``mip`` solves it with integer columns on a copy."""

    def __init__(self, ar: Arrays, threads: int = 1, budgets: bool = False):
        self.ar, self.threads = ar, int(threads)
        h = self.h = new_highs()
        h.setOptionValue("threads", int(threads))
        S, N = len(ar.sources), ar.N
        self.row: dict = {}  # a row's key -> its index in HiGHS
        for s in range(S):
            self._new_row(SourceRow(s), float(ar.n_s[s]), float(ar.n_s[s]))
        for kind in RESOURCES:
            for i in range(N):
                self._new_row(CapacityRow(kind, i), -INF, float(ar.cap[kind][i]))
        # the number of requests served, between ``served`` bounds (branching on it: ``set_served``)
        self.served = (0, ar.R)
        self._new_row(SERVED, 0.0, float(ar.R))
        # a front's budgets (``set_budgets``): rows without a bound until one is set
        self.budgets = {kind: INF for kind in BUDGETS} if budgets else {}
        for kind in self.budgets:
            self._new_row(BudgetRow(kind), -INF, INF)
        self.levels: dict = {}  # the loss budget's level rows (``LevelRow``) -> which configurations are in each
        self.cut_set = cuts.CutSet([])  # the cuts over segment sizes (``separate``), in their rows' order
        self.cut_rows = np.zeros(0, dtype=np.int32)  # their rows
        self._base: dict = {}
        self._x = np.zeros(0)  # the last LP's values (``x``)
        self.arc_rows: dict = {}  # source -> its branching rows (``ArcRow``) made so far
        self.columns: list = []  # per HiGHS column: Column, UnservedCol, LoadedCol or ARTIFICIAL
        self.loaded: list = []  # its LoadedCol, in order
        self.pool = Pool()  # the plans deleted from the LP (``pool.purge``, through ``delete``)
        self.index: dict = {}  # Column, UnservedCol or LoadedCol -> its HiGHS column
        self.fits: list[bool] = []  # per HiGHS column: can it be served on its own?
        self.by_source: list[list[int]] = [[] for _ in range(S)]  # the columns of each source
        self.arcs: dict = {}  # branching rows: (s, j, i) -> (lo, hi) while active
        for s in range(S):
            self.index[UnservedCol(s)] = self._add([SourceRow(s)], [1.0], UNSERVED_PENALTY, float(ar.n_s[s]),
                                                   UnservedCol(s))
        # an artificial count of served requests at a prohibitive cost keeps the LP feasible while a
        # branch asks for more than the columns found so far serve (never in an integer plan)
        self._add([SERVED], [1.0], ARTIFICIAL_COST * max(1, ar.R), float(ar.R), ARTIFICIAL)

    def _new_row(self, key, lo: float, hi: float, cols=(), vals=()) -> int:
        """Add the row ``key`` (named after it in HiGHS) with ``vals`` in columns ``cols``."""
        r = self.row[key] = self.h.getNumRow()
        self.h.addRow(float(lo), float(hi), len(cols), np.asarray(cols, np.int32), np.asarray(vals, dtype=float))
        self.h.passRowName(r, row_name(key))
        return r

    def _add(self, rows, vals, cost: float, upper: float, what, fits: bool = True) -> int:
        self.fits.append(fits)
        self.h.addCol(float(cost), 0.0, float(upper), len(rows),
                      np.array([self.row[r] for r in rows], np.int32), np.array(vals, dtype=float))
        self.columns.append(what)
        return len(self.columns) - 1

    def _link_row(self, s: int, i: int, j: int, lvl: int):
        """The linking row (s, i, j, level), with its z variables, made on first use."""
        key = LoadRow(s, i, j, lvl)
        if key in self.row:
            return key
        levels = self.ar.levels[j]
        if LoadedCol(i, j, 0) not in self.index:
            for l2, w in enumerate(levels):
                self.index[LoadedCol(i, j, l2)] = self._add([CapacityRow("memory", i)], [w], 0.0, 1.0, LoadedCol(i, j, l2))
                self.loaded.append(LoadedCol(i, j, l2))
        zs = [self.index[LoadedCol(i, j, l2)] for l2 in range(lvl + 1)]
        self._new_row(key, -INF, 0.0, zs, np.full(len(zs), -float(self.ar.n_s[s])))
        return key

    def add(self, col: Column) -> bool:
        """Add a column (False when it is already there)."""
        if col in self.index:
            return False
        cost, use = self.ar.column(col)
        rows, vals = [SourceRow(col.s), SERVED], [1.0, 1.0]
        for kind in RESOURCES:
            for i, v in use[kind].items():
                if v:
                    rows.append(CapacityRow(kind, i))
                    vals.append(v)
        for i, j, lvl in use["links"]:
            rows.append(self._link_row(col.s, i, j, lvl))
            vals.append(1.0)
        arcs = [key for key in self.arc_keys(col) if key in self.row]
        rows, vals = rows + arcs, vals + [1.0] * len(arcs)
        for key, v in self._budget_use(col.k, np.array([sum(use["energy"].values())])).items():
            if v[0]:
                rows.append(key)
                vals.append(float(v[0]))
        keys = self.cut_keys()
        if keys:
            coef = cuts.coefficients(self.ar, np.array([col.place]), col.k, self.cut_set)[0]
            rows += [key for key, a in zip(keys, coef) if a]
            vals += [float(a) for a in coef if a]
        fits = bool(self.ar.fits_alone(np.array([col.place]), col.k, col.s)[0])
        self.index[col] = self._add(rows, vals, cost, self._upper(col.s, col.k), col, fits)
        self.by_source[col.s].append(self.index[col])
        return True

    def _budget_use(self, k: int, energy: np.ndarray) -> dict:
        """What columns of configuration k that spend ``energy`` joules (n,) put in the budget rows and the loss
        budget's level rows, by row."""
        out = {}
        if "loss" in self.budgets:
            out[BudgetRow("loss")] = np.full(len(energy), float(self.ar.loss[k]))
        if "energy" in self.budgets:
            out[BudgetRow("energy")] = energy
        for key, members in self.levels.items():
            out[key] = np.full(len(energy), float(members[k]))
        return out

    def _set_levels(self, eps: float) -> None:
        """The loss budget's level rows (``LevelRow``, ``Arrays.loss_levels``), made with the budget before the master has
        columns; another budget later leaves them unbound."""
        for key in self.levels:
            self.h.changeRowBounds(self.row[key], -INF, INF)
        self.levels = {}
        if eps < INF and not any(isinstance(col, Column) for col in self.columns):
            for m, members in self.ar.loss_levels(eps).items():
                if LevelRow(m) not in self.row:
                    self._new_row(LevelRow(m), -INF, float(m))
                    self.levels[LevelRow(m)] = members

    def set_budgets(self, loss: float | None = None, energy: float | None = None) -> None:
        """A front's budgets: Σ accuracy loss (points) ≤ ``loss``, Σ energy (J) ≤ ``energy`` (None: no bound)."""
        for kind, v in (("loss", loss), ("energy", energy)):
            if kind not in self.budgets:
                if v is not None:
                    raise ValueError(f"{kind}: this master was made without budget rows")
                continue
            self.budgets[kind] = INF if v is None else float(v)
            self.h.changeRowBounds(self.row[BudgetRow(kind)], -INF, self.budgets[kind])
        if "loss" in self.budgets:  # no request can take a configuration that loses more than ε on its own
            self.ar.max_loss = self.budgets["loss"]
            self._set_levels(self.budgets["loss"])
            for c, col in enumerate(self.columns):
                if isinstance(col, Column):
                    self.h.changeColBounds(c, 0.0, self._upper(col.s, col.k))

    def _upper(self, s: int, k: int) -> float:
        """How many of source s's requests a column of configuration k can serve: all of them, or under a loss
        budget ε as many as ε leaves room for (⌊ε / its loss⌋ — a bound every integer plan keeps, which
        tightens the LP)."""
        n, loss, eps = float(self.ar.n_s[s]), float(self.ar.loss[k]), self.budgets.get("loss", INF)
        if eps >= INF or loss <= 0:
            return n
        return float(min(n, np.floor(eps / loss + 1e-9)))

    def within_budgets(self, counts: dict) -> bool:
        """Whether integer counts of columns keep to the budget rows (a heuristic's plan may not)."""
        if not self.budgets:
            return True
        total: dict = {}
        for c, n in counts.items():
            col = self.columns[c]
            if isinstance(col, Column):
                _, use = self.ar.column(col)
                for key, v in self._budget_use(col.k, np.array([sum(use["energy"].values())])).items():
                    total[key] = total.get(key, 0.0) + n * float(v[0])
        bound = {key: float(key.m) if isinstance(key, LevelRow) else self.budgets[key.kind] for key in total}
        return all(t <= bound[key] + 1e-9 * max(1.0, abs(t)) for key, t in total.items())

    def cut_keys(self) -> list:
        return self.cut_set.cuts

    def violated(self) -> list:
        """The cuts over segment sizes that the LP's solution breaks and the master lacks (``cuts.separate``)."""
        x = self.x
        active = [c for c, v in enumerate(x) if v > 1e-9 and isinstance(self.columns[c], Column)]
        if not active:
            return []
        return [key for key in cuts.separate(self.ar, [self.columns[c] for c in active], x[active])
                if key not in self.row]

    def add_cuts(self, keys: list) -> None:
        """Add cuts (``cuts.Cut``), with every column's coefficient."""
        keys = [key for key in keys if key not in self.row]
        if not keys:
            return
        cols = [c for c, what in enumerate(self.columns) if isinstance(what, Column)]
        coef = self._cut_coefficients([self.columns[c] for c in cols], keys)
        for q, key in enumerate(keys):
            nz = np.flatnonzero(coef[:, q])
            self._new_row(key, -INF, 1.0, [cols[n] for n in nz], coef[nz, q])
        self.cut_set = cuts.CutSet(self.cut_set.cuts + keys)
        self.cut_rows = np.array([self.row[key] for key in self.cut_set.cuts], dtype=np.int32)

    def _cut_coefficients(self, cols: list[Column], keys) -> np.ndarray:
        """(len(cols), len(keys)): columns' coefficients in cuts ``keys``, configuration by configuration."""
        keys = keys if isinstance(keys, cuts.CutSet) else cuts.CutSet(keys)  # made once for every configuration
        out = np.zeros((len(cols), len(keys)))
        groups: dict = {}
        for n, col in enumerate(cols):
            groups.setdefault(col.k, []).append(n)
        for k, members in groups.items():
            out[members] = cuts.coefficients(self.ar, np.array([cols[n].place for n in members], dtype=int), k, keys)
        return out

    def arc_keys(self, col: Column) -> list:
        """The branching rows a column counts in: unit j on device i, and unit j dropped (i = −1)."""
        return [ArcRow(col.s, j, int(i)) for j, i in enumerate(col.place)] + \
            [ArcRow(col.s, int(j), -1) for j in np.flatnonzero(self.ar.drop[col.k])]

    def add_many(self, cols: list[Column]) -> int:
        """Add many columns at once (vectorised; ``shared_weights`` adds them one by one). Returns how
        many were new."""
        new = list(dict.fromkeys(c for c in cols if c not in self.index))
        if self.ar.shared:
            return sum(self.add(c) for c in new)
        groups: dict = {}
        for c in new:
            groups.setdefault((c.s, c.k), []).append(c)
        coef = dict(zip(new, self._cut_coefficients(new, self.cut_set))) if len(self.cut_set) else {}
        for (s, k), group in groups.items():
            self._add_group(s, k, group, np.array([coef[c] for c in group]) if coef else None)
        return len(new)

    def _base_rows(self, s: int) -> np.ndarray:
        """The rows every column of source s has: its source row, the served row, the capacity rows."""
        if s not in self._base:
            N = self.ar.N
            self._base[s] = np.array([self.row[SourceRow(s)], self.row[SERVED]]
                                     + [self.row[CapacityRow(kind, i)] for kind in RESOURCES for i in range(N)], np.int32)
        return self._base[s]

    def _add_group(self, s: int, k: int, group: list[Column], cut_coef: np.ndarray | None) -> None:
        """Add columns of source s and configuration k, ``cut_coef`` their coefficients in the cuts (None: no cut)."""
        ar, n = self.ar, len(group)
        paths = np.array([c.place for c in group], dtype=int)
        cost, use = ar.columns(paths, k, s)
        fits = ar.fits_alone(paths, k, s)
        dense = [np.ones((n, 2))] + [use[kind] for kind in RESOURCES]  # the rows of ``_base_rows``
        more = list(self.arc_rows.get(s, []))  # then the branching rows, the budget rows, the cuts
        if more:
            dense.append(np.stack([(np.full(n, bool(ar.drop[k, a.j])) if a.i == -1 else paths[:, a.j] == a.i)
                                   for a in more], axis=1).astype(float))
        for key, v in self._budget_use(k, use["energy"].sum(axis=1)).items():
            more.append(key)
            dense.append(v[:, None])
        if cut_coef is not None:
            dense.append(cut_coef)
        A = np.concatenate(dense, axis=1)
        rows = np.concatenate([self._base_rows(s), np.array([self.row[key] for key in more], dtype=np.int32),
                               self.cut_rows]).astype(np.int32)
        nz = A != 0
        starts = np.concatenate([[0], np.cumsum(nz.sum(axis=1))[:-1]]).astype(np.int32)
        r_idx = np.nonzero(nz)
        self.h.addCols(n, cost.astype(float), np.zeros(n), np.full(n, self._upper(s, k)), int(nz.sum()), starts,
                       rows[r_idx[1]], A[r_idx].astype(float))
        for c, ok in zip(group, fits):
            self.index[c] = len(self.columns)
            self.columns.append(c)
            self.fits.append(bool(ok))
            self.by_source[s].append(self.index[c])

    def delete(self, gone: np.ndarray) -> np.ndarray:
        """Delete columns ``gone`` (increasing indices) from HiGHS and from every index of columns; the LP keeps its
        basis. Returns each old index's new one (−1: deleted): indices held elsewhere (a plan's counts) must be mapped."""
        self.h.deleteCols(len(gone), np.asarray(gone, dtype=np.int32))
        keep = np.ones(len(self.columns), dtype=bool)
        keep[gone] = False
        new = np.where(keep, np.cumsum(keep) - 1, -1)
        self.columns, self.fits = [c for c, k in zip(self.columns, keep) if k], [f for f, k in zip(self.fits, keep) if k]
        self.index = {col: int(new[c]) for col, c in self.index.items() if keep[c]}
        self.by_source = [[int(new[c]) for c in cols if keep[c]] for cols in self.by_source]
        self._x = self._x[keep[:len(self._x)]]
        return new

    def _arc_row(self, s: int, j: int, i: int):
        """The branching row (s, j, i): how many requests of source s run unit j on device i, or drop
        unit j (i = −1); made on first use, with an artificial column at a prohibitive cost that keeps
        the LP feasible."""
        key = ArcRow(s, j, i)
        if key not in self.row:
            cols = self.by_source[s]
            if cols:
                place = np.array([self.columns[c].place for c in cols])
                on = np.asarray(self.ar.drop[[self.columns[c].k for c in cols], j]) if i == -1 else place[:, j] == i
                mine = [c for c, yes in zip(cols, on) if yes]
            else:
                mine = []
            self.arc_rows.setdefault(s, []).append(key)
            self._new_row(key, -INF, INF, mine, np.ones(len(mine)))
            self._add([key], [1.0], ARTIFICIAL_COST * max(1, self.ar.R), float(self.ar.n_s[s]), ARTIFICIAL)
        return key

    def set_node(self, served: tuple[int, int], arcs: dict) -> None:
        """A node of the branch-and-price tree: between ``served`` requests served, and for each
        (s, j, i) of ``arcs`` between (lo, hi) requests of source s with unit j on device i."""
        self.set_served(*served)
        for key in set(self.arcs) | set(arcs):
            lo, hi = arcs.get(key, (-INF, INF))
            self.h.changeRowBounds(self.row[self._arc_row(*key)], float(lo), float(hi))
        self.arcs = dict(arcs)

    def solve_lp(self, time_limit: float) -> tuple[str, float, Prices, np.ndarray]:
        """Solve the LP; its status, objective, the prices (λ, η ≥ 0) and π per source (the primal
        values are then ``self.x``)."""
        h = self.h
        limit_time(h, time_limit)
        run_within(h)
        sol = h.getSolution()
        self._x = np.asarray(sol.col_value)
        prices, pi = self.prices_at(np.asarray(sol.row_dual))
        return status(h), h.getInfo().objective_function_value, prices, pi

    def prices_at(self, y: np.ndarray) -> tuple[Prices, np.ndarray]:
        """The prices (λ, η ≥ 0, the branching rows', budgets' and cuts' duals) and π per source of the row duals ``y``
        (one per master row)."""
        ar = self.ar
        lam = {kind: np.maximum(0.0, -y[[self.row[CapacityRow(kind, i)] for i in range(ar.N)]]) for kind in RESOURCES}
        eta = {}
        for key, r in self.row.items():
            if isinstance(key, LoadRow) and -y[r] > 0:
                s, i, j, lvl = key.s, key.i, key.j, key.level
                if s not in eta:
                    eta[s] = np.zeros((ar.J, max(1, max(len(lv) for lv in ar.levels)), ar.N))
                eta[s][j, lvl, i] = -y[r]
        pi = y[[self.row[SourceRow(s)] for s in range(len(ar.sources))]]
        served = float(y[self.row[SERVED]])
        arc: dict[int, np.ndarray] = {}
        for (s, j, i) in self.arcs:
            v = float(y[self.row[ArcRow(s, j, i)]])
            if v:
                arc.setdefault(s, np.zeros((ar.J, ar.N + 1)))[j, i] = v  # column N: unit j dropped
        budget = {kind: max(0.0, -float(y[self.row[BudgetRow(kind)]])) for kind in self.budgets}
        level = {key: p for key in self.levels if (p := max(0.0, -float(y[self.row[key]]))) > 0}
        config = sum((p * self.levels[key] for key, p in level.items()), np.zeros(len(ar.loss))) if level else None
        cut = {key: -v for key, v in zip(self.cut_keys(), y[self.cut_rows].tolist()) if v < 0}
        return Prices(eta=eta, served=served, arc=arc, loss=budget.get("loss", 0.0), total_energy=budget.get("energy", 0.0),
                      cut=cut, level=level, config=config, **lam), pi

    @property
    def stale(self) -> bool:
        """Whether columns were added since the last LP (their values and reduced costs unknown until it is)."""
        return len(self.columns) > len(self._x)

    @property
    def x(self) -> np.ndarray:
        """The last LP's values of every column (0 for those added since)."""
        return np.concatenate([self._x, np.zeros(len(self.columns) - len(self._x))])

    def set_served(self, lo: int, hi: int) -> None:
        """Branch: between ``lo`` and ``hi`` requests served."""
        self.served = (int(lo), int(hi))
        self.h.changeRowBounds(self.row[SERVED], float(lo), float(hi))

    def mip(self, time_limit: float, rel_gap: float, **kw) -> integer.MipResult:
        """The restricted master with integer columns, on a copy (``integer.mip``, whose keywords it takes)."""
        return integer.mip(self, time_limit, rel_gap, **kw)

    def value(self, counts: dict) -> float:
        """The objective of integer counts of columns (Σ cost · count), their costs alone read from HiGHS."""
        cols = sorted(counts)  # HiGHS reads sets in order
        cost = dict(zip(cols, self.h.getCols(len(cols), np.array(cols, dtype=np.int32))[2])) if cols else {}
        return float(sum(cost[c] * n for c, n in counts.items()))

