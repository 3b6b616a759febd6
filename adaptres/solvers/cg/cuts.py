"""Cuts in the master over segment sizes: what one device can hold of the requests' segments together.

A *segment* is a run of a plan's units on one device. Whatever the plans, the segments on device i use
together at most its capacity of each kind (computation, memory as in the memory row, the energy of
computing — sending only adds to it). With sizes x normalised by the capacity (times 1 + ``MARGIN``, the
evaluator's tolerance and more), Σ x ≤ 1 on every device, and so Σ u(x) ≤ 1 for any *dual-feasible
function* u (Fekete & Schepers): a valid row of the master for every (kind, device, u), each column
counting Σ over its segments on the device of u(their size). Two families:

- ``cover`` (m = 1, 2, 3): u(x) = 1/m for x > 1/(m + 1), else 0 — at most m segments each above a
  (m + 1)-th of the device;
- ``fs`` (Fekete–Schepers, 0 < ε ≤ 1/2): u(x) = 1 for x > 1 − ε, x for ε ≤ x ≤ 1 − ε, 0 below ε — a
  segment that nearly fills the device leaves no room for a fraction of another: the LP's crumbs.

A segment's u depends on its own size alone, so the pricing's DP over segments prices a cut exactly
(``Prices.cut``); the listing charges each segment as it closes (``Charger``). Cuts are found from the LP's
solution (``separate``), the most violated function per (kind, device) and family.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import GMAC, Arrays

KINDS = ("compute", "energy", "memory")
MARGIN = 2e-6  # sizes are normalised by the capacity × (1 + MARGIN): the evaluator accepts 1e-6 beyond it
COVER_LEVELS = (1, 2, 3)
TOL = 1e-6  # a cut is added when the LP's solution breaks it by more


@dataclass(frozen=True)
class Cut:
    """A row Σ_columns (Σ over their segments on device i of u(size)) · x ≤ 1, u of ``family`` with ``param``."""

    kind: str
    i: int
    family: str  # "cover" (param: m) or "fs" (param: ε)
    param: float


def u(family: str, param: float, x: np.ndarray) -> np.ndarray:
    """The dual-feasible function of ``family`` at normalised sizes ``x`` (``u_many`` for one cut)."""
    x = np.asarray(x, dtype=float)
    return u_many(np.array(family == "cover"), np.array(float(param)), x)


def u_many(cover: np.ndarray, param: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``u`` of many cuts at once: ``cover`` (C,) whether each is of the cover family, ``param`` (C,), and
    sizes ``x`` (…, C), each against its cut."""
    cov = (x > 1.0 / (param + 1.0)) / np.where(cover, param, 1.0)  # param > 0 in both families
    fs = np.where(x > 1.0 - param, 1.0, np.where(x >= param, x, 0.0))
    return np.where(cover, cov, fs)


def _arrays(cuts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([c.i for c in cuts], dtype=int), np.array([c.family == "cover" for c in cuts]),
            np.array([c.param for c in cuts], dtype=float))


def _by_device(devs: np.ndarray) -> np.ndarray:
    """(D + 1, most cuts on one device): the positions in ``devs`` of each device's cuts, padded with −1; its last
    row (no cut) is for a segment on no device, or one past every cut's device."""
    counts = np.bincount(devs)
    table = np.full((len(counts) + 1, counts.max()), -1)
    order = np.argsort(devs, kind="stable")
    table[devs[order], np.arange(len(devs)) - np.repeat(np.cumsum(counts) - counts, counts)] = order
    return table


def capacity(ar: Arrays) -> dict:
    """Per kind, (N,): the capacities sizes are normalised by."""
    return {kind: ar.cap[kind] * (1 + MARGIN) for kind in KINDS}


def normalised(use: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """``use`` (…, N) over ``cap`` (N,); a device without capacity: any use is beyond it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cap > 0, use / np.where(cap > 0, cap, 1.0), np.where(use > 0, np.inf, 0.0))


def unit_use(ar: Arrays, k: int | None = None, v: np.ndarray | None = None) -> dict:
    """Per kind, what each unit adds to its segment: (J, N) for configuration k (or variants ``v`` (J,))."""
    v = ar.drop[k].astype(int) if v is None else v
    units = np.arange(ar.J)
    return {"compute": np.repeat((ar.macs[units, v] / GMAC)[:, None], ar.N, axis=1),
            "memory": np.repeat(ar.mem[units, v][:, None], ar.N, axis=1),
            "energy": ar.kernel.compute_energy[units, v, :]}


def segments(ar: Arrays, paths: np.ndarray, k: int) -> tuple[np.ndarray, dict]:
    """The segments of placements ``paths`` (n × J) of configuration k: their devices (n, J; −1 past the
    last) and per kind their normalised sizes (n, J)."""
    n, J = paths.shape
    seg = np.concatenate([np.zeros((n, 1), dtype=int), np.cumsum(paths[:, 1:] != paths[:, :-1], axis=1)], axis=1)
    rows = np.repeat(np.arange(n), J)
    dev = np.full((n, J), -1)
    dev[rows, seg.ravel()] = paths.ravel()
    per_unit, cap = unit_use(ar, k), capacity(ar)
    sizes = {}
    for kind in KINDS:
        use = np.zeros((n, J))
        np.add.at(use, (rows, seg.ravel()), per_unit[kind][np.tile(np.arange(J), n), paths.ravel()])
        sizes[kind] = np.where(dev >= 0, normalised(use, np.append(cap[kind], 1.0)[dev]), 0.0)
    return dev, sizes


class CutSet:
    """A list of cuts with their numbers as arrays, per kind (what ``coefficients`` reads)."""

    def __init__(self, cuts: list[Cut]):
        self.cuts = list(cuts)
        self.by_kind = {}
        for kind in KINDS:
            idx = [c for c, cut in enumerate(self.cuts) if cut.kind == kind]
            if idx:
                devs, cover, param = _arrays([self.cuts[c] for c in idx])
                self.by_kind[kind] = (np.array(idx), devs, cover, param, _by_device(devs))

    def __len__(self) -> int:
        return len(self.cuts)


def coefficients(ar: Arrays, paths: np.ndarray, k: int, cuts: "list[Cut] | CutSet") -> np.ndarray:
    """(n, len(cuts)): each placement's coefficient in each cut."""
    cuts = cuts if isinstance(cuts, CutSet) else CutSet(cuts)
    dev, sizes = segments(ar, paths, k)
    out = np.zeros((len(paths), len(cuts)))
    rows = np.arange(len(paths))[:, None, None]
    for kind, (idx, _, cover, param, table) in cuts.by_kind.items():
        loc = table[np.where((dev >= 0) & (dev < len(table) - 1), dev, -1)]  # (n, J, most per device): its cuts
        on = loc >= 0
        vals = u_many(cover[loc], param[loc], np.broadcast_to(sizes[kind][:, :, None], loc.shape))
        np.add.at(out, (np.broadcast_to(rows, loc.shape)[on], idx[loc[on]]), vals[on])  # unit by unit, in order
    return out


class Growing:
    """The cuts' price of segments in the pricing's DP: ``along(a, v)`` prices, for P patterns with variants
    ``v`` (P, L) of units a … a + L − 1, the segment from unit a to each unit a + l on each device, (P, L, N)
    (0.0 when no cut has a price)."""

    def __init__(self, ar: Arrays, duals: dict):
        self.ar = ar
        self.on: dict = {}
        for cut, y in duals.items():
            if y > 0:
                self.on.setdefault(cut.kind, []).append((cut, y))
        if self.on:
            self.cap = capacity(ar)
            self.plain = all((self.cap[kind] > 0).all() for kind in self.on)  # no device without capacity
            self.onehot = {kind: np.eye(ar.N)[[c.i for c, _ in cuts]] for kind, cuts in self.on.items()}
            self.arrays = {kind: (*_arrays([c for c, _ in cuts]), np.array([y for _, y in cuts]))
                           for kind, cuts in self.on.items()}

    def along(self, a: int, v: np.ndarray):
        if not self.on:
            return 0.0
        ar = self.ar
        P, L = v.shape
        units = np.arange(a, a + L)[None, :]
        out = 0.0
        for kind in self.on:
            devs, cover, param, y = self.arrays[kind]
            if kind == "compute":
                use = np.cumsum(ar.macs[units, v] / GMAC, axis=1)[:, :, None]
            elif kind == "memory":
                use = np.cumsum(ar.mem[units, v], axis=1)[:, :, None]
            else:
                use = np.cumsum(ar.kernel.compute_energy[units, v, :], axis=1)[:, :, devs]
            use, cap = np.broadcast_to(use, (P, L, len(devs))), self.cap[kind][devs]  # on each cut's device
            x = use / cap if self.plain else normalised(use, cap)
            price = (u_many(cover, param, x) * y).reshape(P * L, len(devs)) @ self.onehot[kind]
            out = out + price.reshape(P, L, ar.N)
        return out


class Charger:
    """The cuts' price of partial plans' open segments in the listing (``Pricer.enumerate``), for one
    configuration (variants ``v`` per unit): ``begin`` the first units' segments, ``extend`` them unit by
    unit, ``price`` a segment on its device."""

    def __init__(self, ar: Arrays, duals: dict, v: np.ndarray):
        self.ar, self.on, self.kinds = ar, bool(duals), {}
        if self.on:
            self.per_unit = unit_use(ar, v=v)
            self.cap = capacity(ar)
            for kind in KINDS:
                mine = [(c, y) for c, y in duals.items() if c.kind == kind and y > 0]
                if mine:
                    devs, cover, param = _arrays([c for c, _ in mine])
                    self.kinds[kind] = (devs, cover, param, np.array([y for _, y in mine]))

    def begin(self, first: np.ndarray) -> dict:
        """Segments of unit 0 on devices ``first`` (n,)."""
        return {kind: self.per_unit[kind][0, first] for kind in self.kinds} if self.on else {}

    def extend(self, seg: dict, j: int, rows: np.ndarray, cols: np.ndarray, same: np.ndarray) -> dict:
        """Unit j on device ``cols`` after partial plans ``rows``: the segment goes on where ``same``, else anew."""
        return {kind: np.where(same, use[rows], 0.0) + self.per_unit[kind][j, cols] for kind, use in seg.items()}

    def price(self, dev: np.ndarray, seg: dict) -> np.ndarray:
        """(n,): the cuts' price of segments of sizes ``seg`` on devices ``dev``."""
        out = np.zeros(len(dev))
        for kind, (devs, cover, param, y) in self.kinds.items():
            x = normalised(seg[kind], self.cap[kind][dev])[:, None]  # (n, 1)
            out += np.where(devs[None, :] == dev[:, None], u_many(cover, param, x) * y, 0.0).sum(axis=1)
        return out


def separate(ar: Arrays, cols: list, x: np.ndarray) -> list[Cut]:
    """The cuts the LP's solution breaks: for each (kind, device) and family the most violated function.
    ``cols``: the columns with a positive value, ``x``: their values."""
    found = []
    groups: dict = {}
    for n, col in enumerate(cols):
        groups.setdefault(col.k, []).append(n)
    sizes: dict = {kind: [] for kind in KINDS}  # per kind: (device, size, weight) of every segment
    for k, members in groups.items():
        paths = np.array([cols[n].place for n in members], dtype=int)
        dev, sz = segments(ar, paths, k)
        w = np.repeat(x[members][:, None], dev.shape[1], axis=1)
        there = dev >= 0
        for kind in KINDS:
            sizes[kind].append(np.stack([dev[there], sz[kind][there], w[there]], axis=1))
    for kind in KINDS:
        segs = np.concatenate(sizes[kind]) if sizes[kind] else np.zeros((0, 3))
        for i in np.unique(segs[:, 0]).astype(int):
            s = segs[segs[:, 0] == i]
            size, w = s[:, 1], s[:, 2]
            for family, params in (("cover", COVER_LEVELS), ("fs", _fs_params(size))):
                lhs = [(float(w @ u(family, p, size)), float(p)) for p in params]
                if lhs and max(lhs)[0] > 1.0 + TOL:
                    found.append(Cut(kind, int(i), family, max(lhs)[1]))
    return found


def _fs_params(size: np.ndarray) -> list[float]:
    """The ε at which the Fekete–Schepers function changes on these sizes (its breakpoints), within (0, 1/2]."""
    cand = np.concatenate([size, 1.0 - size + 1e-9, [0.5]])
    return sorted({float(c) for c in cand if 0 < c <= 0.5})
