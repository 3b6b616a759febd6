"""Pricing: the cheapest column of each source under the master's prices, by dynamic programming.

Under prices λ ≥ 0 on the devices' computation, energy and memory rows (and η ≥ 0 on the
``shared_weights`` linking rows), a column's *price* is its objective coefficient plus what it uses
times the prices. The price is a sum over the chain — each unit on its device (computation time,
multiplications, energy, memory) and each transfer between consecutive devices (time and the
sender's energy) — so the cheapest placement for one configuration is a shortest path over
units × devices, here over *segments* (runs of units on one device, each within what the device holds
for one request). Configurations share the drop pattern of their suffixes, so one backward pass over
a trie of suffixes (``Trie``) prices every configuration at once: for each unit j and suffix pattern
p, ``B[j][p, i]`` is the cheapest cost of units j… when a segment starts at unit j on device i. The values are exact (a
min-plus product per unit, vectorised with numpy), so they give a valid Lagrangian bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import cuts
from .data import GMAC, Arrays, Column

EMPTY: np.ndarray = np.empty(0)  # a placeholder in lists filled unit by unit
CHUNK = 4_000_000  # elements of one (patterns × devices × devices) block of the min-plus product


class Trie:
    """The allowed configurations' drop patterns, suffix by suffix: ``ids[j][c]`` is the pattern of
    configuration c (an index into ``Arrays.K``) from unit j on; ``dropped[j][p]`` whether pattern p
    drops unit j; ``child[j][p]`` its pattern from unit j + 1 on."""

    def __init__(self, drop_k: np.ndarray):
        n, J = drop_k.shape
        self.ids: list[np.ndarray] = [EMPTY] * J
        self.dropped: list[np.ndarray] = [EMPTY] * J
        self.child: list[np.ndarray] = [EMPTY] * J
        nxt = np.zeros(n, dtype=int)
        for j in reversed(range(J)):
            key = np.stack([drop_k[:, j].astype(int), nxt], axis=1)
            uniq, inv = np.unique(key, axis=0, return_inverse=True)
            self.ids[j], self.dropped[j], self.child[j] = inv.ravel(), uniq[:, 0], uniq[:, 1]
            nxt = self.ids[j]


@dataclass
class Prices:
    """λ per device for the ``compute``, ``energy`` and ``memory`` rows; η[s] of shape (J, levels, N)
    for the ``shared_weights`` linking rows of source s (None: zero)."""

    compute: np.ndarray
    energy: np.ndarray
    memory: np.ndarray
    eta: dict
    served: float = 0.0  # the dual of the row that counts served requests (any sign)
    arc: dict = field(default_factory=dict)  # s -> (J, N + 1) duals of the branching rows (any sign)
    loss: float = 0.0  # ≥ 0: the price of a point of accuracy loss (the master's accuracy budget, a front's ε)
    total_energy: float = 0.0  # ≥ 0: the price of a joule anywhere (the master's budget of all devices' energy)
    cut: dict = field(default_factory=dict)  # cuts.Cut -> its price ≥ 0 (the master's cuts over segment sizes)
    level: dict = field(default_factory=dict)  # keys.LevelRow -> its price ≥ 0 (the loss budget's level rows)
    config: np.ndarray | None = None  # per configuration: the sum of the prices of the level rows it is in

    @classmethod
    def zero(cls, N: int) -> "Prices":
        return cls(np.zeros(N), np.zeros(N), np.zeros(N), {})

    def toward(self, other: "Prices", a: float) -> "Prices":
        """The convex combination a · self + (1 − a) · other, every price (a price one side lacks is zero
        there): prices of the right signs again, so a Lagrangian bound holds at them too. Rows keep self's order,
        then other's (a set of keys would change it from process to process: a cut's key holds strings, whose
        hashes differ, and the prices would be summed in another order)."""
        if a <= 0.0:
            return other
        b = 1.0 - a

        def mix(x: dict, y: dict) -> dict:
            out = {k: a * v for k, v in x.items()}
            for k, v in y.items():
                out[k] = out[k] + b * v if k in out else b * v
            return out
        config = None
        if self.config is not None or other.config is not None:
            n = len(self.config if self.config is not None else other.config)  # type: ignore[arg-type]
            config = a * (np.zeros(n) if self.config is None else self.config) \
                + b * (np.zeros(n) if other.config is None else other.config)
        return Prices(a * self.compute + b * other.compute, a * self.energy + b * other.energy,
                      a * self.memory + b * other.memory, mix(self.eta, other.eta), a * self.served + b * other.served,
                      mix(self.arc, other.arc), a * self.loss + b * other.loss,
                      a * self.total_energy + b * other.total_energy, mix(self.cut, other.cut),
                      mix(self.level, other.level), config)


def min_plus(T: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W[p, a] = min_b T[a, b] + V[p, b] and its argmin, in chunks of patterns."""
    P, N = V.shape
    W, A = np.empty((P, N)), np.empty((P, N), dtype=np.int32)
    step = max(1, CHUNK // (N * N))
    for lo in range(0, P, step):
        tmp = T[None, :, :] + V[lo:lo + step, None, :]
        A[lo:lo + step] = tmp.argmin(axis=2)
        W[lo:lo + step] = np.take_along_axis(tmp, A[lo:lo + step, :, None].astype(np.intp), axis=2)[:, :, 0]
    return W, A


class Pricer:
    """Prices every configuration of one source at once (``best``) and lists the columns within a
    price (``enumerate``)."""

    def __init__(self, ar: Arrays, trie: Trie | None = None, order: np.ndarray | None = None):
        self.ar = ar
        self.trie = trie or Trie(ar.drop[ar.K])
        self._walk: list[np.ndarray] | None = None
        self._suffixes: list | None = None  # ``suffixes``: the segments, whatever the capacities and prices
        self._reach: list | None = None  # ``reach``: the segments on these capacities, whatever the prices
        self.order = order  # a heuristic's device order: a plan then only moves to later devices

    def on(self, ar: Arrays, order: np.ndarray | None = None) -> "Pricer":
        """The same pricing on other capacities (``Arrays.residual``), optionally restricted to plans that
        visit devices in ``order`` (each device at most once: its segment alone must fit)."""
        other = Pricer(ar, self.trie, order)
        other._walk, other._suffixes = self._walk, self._suffixes
        if ar is self.ar:
            other._reach = self._reach
        return other

    def node_costs(self, prices: Prices, s: int) -> np.ndarray:
        """(J, 2, N): the price of unit j in variant v (0 kept, 1 dropped) on device i."""
        ar, k = self.ar, self.ar.kernel
        cost = (ar.lat_w + ar.energy_rate(prices) * k.compute_w) * k.compute_s + prices.compute * ar.macs[:, :, None] / GMAC \
            + prices.memory * ar.mem[:, :, None]
        arc = prices.arc.get(s)
        if arc is not None:  # branching duals: unit j on device i, and unit j dropped (column N)
            cost -= arc[:, None, :ar.N]
            cost[:, 1, :] -= arc[:, ar.N:]
        eta = prices.eta.get(s)
        if eta is not None:
            for j in range(ar.J):
                for v in (0, 1):
                    for lvl in ar.level_rows(j, v):
                        cost[j, v] += eta[j, lvl]
        return cost

    def send(self, prices: Prices, j: int) -> np.ndarray:
        """(N, N): the price of the transfer into unit j sent a → b: its seconds times what a second of it
        costs (its latency's weight, and the sender's power at the energy row's price), plus the wait at b
        (its backlog: latency only); inf over a missing link. For j = 0 the diagonal is the first unit on
        the source itself (no transfer, its wait)."""
        ar, k = self.ar, self.ar.kernel
        per_s = (ar.lat_w + ar.energy_rate(prices) * k.transmit_w)[:, None]
        price = k.link_fixed_s * per_s + k.in_bytes[j] * (k.sec_per_byte * per_s) + ar.lat_w * k.hop_wait(j)
        return np.where(k.link_ok, price, np.inf)  # no plan sends over a missing link

    def walk(self) -> list[np.ndarray]:
        """walk[a][p, b - a]: the pattern at unit b of the suffix pattern p at unit a."""
        tr, J = self.trie, self.ar.J
        out: list[np.ndarray] = [EMPTY] * J
        for a in reversed(range(J)):
            here = np.arange(len(tr.dropped[a]))[:, None]
            out[a] = here if a == J - 1 else np.concatenate([here, out[a + 1][tr.child[a]]], axis=1)
        return out

    def suffixes(self) -> list:
        """Per unit a, in chunks of its suffix patterns, what the segments from unit a are whatever the
        capacities and prices: ``(rows, v, macs, mem, unit_at, next_at)`` — ``v`` (p, L) the variant of
        unit a + l (0 kept, 1 dropped), ``macs`` and ``mem`` (p, L) what units a … a + l need on one device,
        ``unit_at`` the rows of their node costs (as (J · 2, N)) and ``next_at`` (p, L − 1) the rows of the
        best next segment after unit a + l in ``segments``' M (all units' in one array)."""
        if self._suffixes is not None:
            return self._suffixes
        ar, tr, J = self.ar, self.trie, self.ar.J
        walk = self._walk or self.walk()
        self._walk = walk
        flat = np.cumsum([0] + [len(x) for x in tr.dropped[:-1]])  # unit b's pattern q: row flat[b] + q
        dropped = np.concatenate(tr.dropped)
        m_off = np.cumsum([0] + [len(x) for x in tr.dropped[1:-1]])  # M[b] (b < J − 1): rows m_off[b] + q
        out: list = [None] * J
        for a in range(J):
            P, L = len(tr.dropped[a]), J - a
            step, units, out[a] = max(1, CHUNK // (L * ar.N)), np.arange(a, J)[None, :], []
            for lo in range(0, P, step):
                q = walk[a][lo:lo + step]  # (p, L): the pattern at unit a + l
                v = dropped[flat[a:J] + q]
                out[a].append((slice(lo, lo + step), v, np.cumsum(ar.macs[units, v], axis=1),
                               np.cumsum(ar.request_mem[units, v], axis=1), 2 * units + v,
                               m_off[None, a:J - 1] + q[:, 1:]))
        self._suffixes = out
        return out

    def reach(self) -> list:
        """``suffixes`` on these capacities: per unit a and chunk, ``(rows, n, v, fits, unit_at, next_at)``
        cut to the ``n`` units the segments from unit a can reach (past that none fits any device; 0 when
        not even unit a alone does), ``fits`` (p, n, N) whether units a … a + l fit device i (multiplications
        within the computational limit and the battery, weights + activations within the memory)."""
        if self._reach is not None:
            return self._reach
        ar = self.ar
        out: list = []
        for chunks in self.suffixes():
            out.append([])
            for rows, v, macs, mem, unit_at, next_at in chunks:
                fits = (macs[:, :, None] <= ar.macs_limit) & (mem[:, :, None] <= ar.mem_limit)
                n = int(fits.any(axis=(0, 2)).argmin()) or fits.shape[1]  # sizes only grow
                n = n if fits[:, n - 1].any() else 0
                out[-1].append((rows, n, v[:, :n], fits[:, :n], unit_at[:, :n], next_at[:, :n] if n else None))
        self._reach = out
        return out

    def segments(self, node: np.ndarray, prices: Prices):
        """The backward pass over *segments* (runs of units on one device): B[a][p, i] is the cheapest
        cost of units a… of pattern p when a new segment starts at unit a on device i, every segment
        within what the device can hold for one request (its multiplications within the computational
        limit and the battery, its weights + activations within the memory). A request's plan that
        breaks this can never be served, so pricing only such plans keeps the bound valid and makes it
        far tighter than the compact relaxation's. Each unit's segments are priced at once, as they grow
        to every unit they can reach (``reach``). Returns B, the segments' ends and the next devices."""
        ar, tr, J = self.ar, self.trie, self.ar.J
        barred = np.diag(np.full(ar.N, np.inf))  # a new segment goes to another device
        if self.order is not None:  # ... and, in a heuristic's order, to a later one
            rank = np.empty(ar.N, dtype=int)
            rank[self.order] = np.arange(ar.N)
            barred = np.where(rank[None, :] > rank[:, None], barred, np.inf)
        B, end, nxt = ([EMPTY] * J for _ in range(3))
        M = np.empty((sum(len(x) for x in tr.dropped[1:]), ar.N))  # M[b] of every b < J − 1, one after another
        m_off = np.cumsum([0] + [len(x) for x in tr.dropped[1:-1]])
        node2 = node.reshape(J * 2, ar.N)
        cut = cuts.Growing(ar, prices.cut)
        reach = self.reach()
        for a in reversed(range(J)):
            if a < J - 1:  # the best next segment from device i after unit a
                M_a, nxt[a] = min_plus(self.send(prices, a + 1) + barred, B[a + 1])
                M[m_off[a]:m_off[a] + len(M_a)] = M_a
            P = len(tr.dropped[a])
            B[a], end[a] = np.full((P, ar.N), np.inf), np.full((P, ar.N), -1, dtype=np.int32)
            for rows, n, v, fits, unit_at, next_at in reach[a]:
                if not n:
                    continue
                total = np.cumsum(node2[unit_at], axis=1) + cut.along(a, v)  # (p, n, N): units a … a + l on i
                if next_at is not None and next_at.shape[1]:  # then the best next segment from unit a + l + 1
                    total[:, :next_at.shape[1]] += M[next_at]
                total[~fits] = np.inf
                first = total.argmin(axis=1)  # the first unit at the minimum, as a loop with ``<`` would keep
                best = np.take_along_axis(total, first[:, None, :], axis=1)[:, 0, :]
                B[a][rows], end[a][rows] = best, np.where(best < np.inf, a + first, -1)
        return B, end, nxt

    def best(self, prices: Prices, s: int, dp=None):
        """Per allowed configuration (``Arrays.K`` order): the cheapest price of a column of source s
        (inf when none fits), its columns (``Cheapest``) and the pass (which ``dp`` reuses)."""
        ar, tr = self.ar, self.trie
        B, end, nxt = dp if dp is not None else self.segments(self.node_costs(prices, s), prices)
        tin = self.send(prices, 0)[ar.sources[s]]
        start = tin[None, :] + B[0][tr.ids[0]]  # (configs, N)
        first = start.argmin(axis=1)
        value = start[np.arange(len(first)), first] + ar.config_cost(prices)[ar.K] - prices.served
        return value, Cheapest(self, s, first, end, nxt, self._walk or self.walk()), (B, end, nxt)

    def enumerate(self, prices: Prices, s: int, limit: float, cap: int, deadline: float | None = None,
                  shared: dict | None = None) -> list[tuple[float, Column]] | None:
        """Every column of source s whose price is at most ``limit`` and that fits the devices on its
        own (``Arrays.fits_alone``), with its price (None when more than ``cap`` partial plans were in
        reach, or at ``deadline``, a ``time.perf_counter`` value): a forward search that keeps a partial
        plan only while its cost plus a lower bound on its completion stays within the limit and each of
        its segments fits its device. ``shared``: a dict kept across the sources of one set of prices (their
        pricing pass is made once). A partial plan pays the cuts' price of each segment it has closed; its
        open segment's is left to the completions' bound (a segment's price only grows with it)."""
        ar = self.ar
        own = s in prices.eta or s in prices.arc  # else every such source's pass is the same: ``shared`` keeps it
        if shared is not None and not own and "pass" in shared:
            node, send, B = shared["pass"]
        else:
            node, send = self.node_costs(prices, s), [self.send(prices, j) for j in range(ar.J)]
            B, _, _ = self.segments(node, prices)  # the cheapest completions, segment by segment
            if shared is not None and not own:
                shared["pass"] = (node, send, B)
        tin = send[0][ar.sources[s]]
        out, seen, acc = [], 0, ar.config_cost(prices)
        cheapest = (tin[None, :] + B[0][self.trie.ids[0]]).min(axis=1)  # per configuration, its cheapest plan
        for c, k in enumerate(ar.K):
            if deadline is not None and time.perf_counter() > deadline:
                return None
            room = limit + prices.served - acc[k]
            if not cheapest[c] <= room + 1e-12:  # none of its plans is within the limit (or it is barred)
                continue
            found = self._paths(c, ar.drop[k].astype(int), tin, node, send, B, room, cap - seen, deadline, prices.cut)
            if found is None:
                return None
            paths, cost = found
            seen += len(paths)
            ok = ar.fits_alone(paths, int(k), s) & (cost <= room + 1e-12) if len(paths) else np.zeros(0, dtype=bool)
            out += [(float(x + acc[k] - prices.served), Column(s, int(k), tuple(int(d) for d in p)))
                    for p, x in zip(paths[ok], cost[ok])]
        return sorted(out, key=lambda t: t[0])

    def _paths(self, c, d, tin, node, send, B, room, cap, deadline=None, duals=None):
        """The placements of configuration index c within ``room`` (see ``enumerate``); ``duals``: the cuts'
        prices, charged for each segment as it closes (and for the last at the end)."""
        ar, tr = self.ar, self.trie
        ids = [tr.ids[j][c] for j in range(ar.J)]
        charge = cuts.Charger(ar, duals or {}, d)
        acc = tin + node[0, d[0]]
        macs, mem = np.full(ar.N, ar.macs[0, d[0]]), np.full(ar.N, ar.request_mem[0, d[0]])
        ok = (acc - node[0, d[0]] + B[0][ids[0]] <= room + 1e-12) & (macs <= ar.macs_limit) & (mem <= ar.mem_limit)
        keep = np.flatnonzero(ok)
        paths, acc, macs, mem = keep[:, None], acc[keep], macs[keep], mem[keep]
        seg = charge.begin(keep)
        eye = np.eye(ar.N, dtype=bool)
        for j in range(1, ar.J):
            last = paths[:, -1]
            same = eye[last]  # (paths, N): the candidate continues the current segment
            step = acc[:, None] + send[j][last] + node[j, d[j]][None, :] \
                + np.where(same, 0.0, charge.price(last, seg)[:, None])  # a segment that closes pays its cuts
            m2 = np.where(same, macs[:, None], 0.0) + ar.macs[j, d[j]]
            r2 = np.where(same, mem[:, None], 0.0) + ar.request_mem[j, d[j]]
            rest = B[j][ids[j]][None, :] - node[j, d[j]][None, :]  # a segment that goes on or starts here
            fits = (m2 <= ar.macs_limit[None, :]) & (r2 <= ar.mem_limit[None, :])
            rows, cols = np.nonzero(fits & (step + rest <= room + 1e-12))
            if len(rows) > cap or (deadline is not None and time.perf_counter() > deadline):
                return None
            seg = charge.extend(seg, j, rows, cols, same[rows, cols])
            paths = np.concatenate([paths[rows], cols[:, None]], axis=1)
            acc, macs, mem = step[rows, cols], m2[rows, cols], r2[rows, cols]
        return paths, acc + charge.price(paths[:, -1], seg)


@dataclass
class Cheapest:
    """The cheapest columns of one source that ``Pricer.best`` priced: ``cheapest(c)`` rebuilds the column of
    configuration index c (into ``Arrays.K``), ``places(cs)`` the placements of many at once."""

    pricer: "Pricer"
    s: int
    first: np.ndarray  # configuration index -> the device of its first segment
    end: list  # end[a][p, i]: the last unit of the best segment from unit a on device i (suffix pattern p)
    nxt: list  # nxt[b][q, i]: the device of the best segment after one ending at unit b on device i
    walk: list  # walk[a][p, l]: the suffix pattern at unit a + l of pattern p at unit a

    def __call__(self, c: int) -> Column:
        ar, tr = self.pricer.ar, self.pricer.trie
        i, a, p, place = int(self.first[c]), 0, tr.ids[0][c], []
        while True:
            b = int(self.end[a][p, i])
            place += [i] * (b - a + 1)
            if b == ar.J - 1:
                return Column(self.s, int(ar.K[c]), tuple(place))
            q = self.walk[a][p, b + 1 - a]
            i, a, p = int(self.nxt[b][q, i]), b + 1, q

    def places(self, cs: np.ndarray) -> np.ndarray:
        """The placements (len(cs) × J) of the columns of configuration indices ``cs``: each segment's device
        and end, unit by unit."""
        ids, J, end, nxt = self.pricer.trie.ids, self.pricer.ar.J, self.end, self.nxt
        place = np.empty((len(cs), J), dtype=int)
        i = self.first[cs].astype(int)
        b = end[0][ids[0][cs], i].astype(int)
        for j in range(J):
            place[:, j] = i
            new = np.flatnonzero(b == j) if j < J - 1 else ()
            if len(new):  # a segment ends at unit j: the next starts on its next device
                q = ids[j + 1][cs[new]]
                i[new] = nxt[j][q, i[new]]
                b[new] = end[j + 1][q, i[new]]
        return place
