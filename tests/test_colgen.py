"""The column-generation solver (``colgen``): exact on small cases, its pricing and bounds checked
against enumeration, consistent with the compact MILP, and within its time limit."""
import itertools

import numpy as np
import pytest
from conftest import slow_after
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optim_helpers import brute_force, small_scenario, solve

from adaptres import solvers
from adaptres.problem.evaluate import evaluate
from adaptres.problem.generate import paper_devices, random_step
from adaptres.problem.plan import Plan
from adaptres.solvers.cg import cuts, pool
from adaptres.solvers.cg.cuts import Cut
from adaptres.solvers.cg.data import Arrays, Column
from adaptres.solvers.cg.generation import lagrangian_bound
from adaptres.solvers.cg.keys import RESOURCES
from adaptres.solvers.cg.master import Master
from adaptres.solvers.cg.pricing import Pricer, Prices

SIZES = [(3, 4, 1), (2, 5, 1), (3, 5, 1), (2, 4, 2), (2, 3, 3)]  # devices, units, requests


def test_colgen_is_registered_as_proven_and_colgen_round_as_not():
    """The study reads a method's metadata: colgen's bound is proven (the comparison's best bound),
    colgen_round's is the root's (a heuristic with a bound); both start from the relaxed plan."""
    exact, rounded = solvers.info("colgen"), solvers.info("colgen_round")
    assert exact.proven and not rounded.proven and exact.start_from == rounded.start_from == "relaxed"
    assert "max_nodes" in exact.options and "seed" not in exact.options and not exact.stochastic
    assert "proven bounds" in exact.words(solvers.Options(rel_gap=1e-3)) and "0.001 gap" in exact.words(
        solvers.Options(rel_gap=1e-3))


@pytest.mark.parametrize("memory_model", ["per_request", "shared_weights"])
@pytest.mark.parametrize("seed", slow_after(range(5), 1))
@pytest.mark.parametrize("n,m,r", SIZES)
def test_colgen_equals_brute_force(seed, n, m, r, memory_model):
    sc = small_scenario(seed, n, m, r, alpha=[0.0, 0.3, 0.7, 1.0, 0.5][seed], memory_model=memory_model,
                        tight=[0.6, 1.0, 0.8, 2.0, 0.7][seed])
    best, _ = brute_force(sc)
    plan = solve(sc, "colgen", rel_gap=1e-9, time_limit=60)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(best, rel=1e-7, abs=1e-9)
    assert evaluate(sc, plan).feasible
    assert plan.metrics["lagrangian_bound"] <= best + 1e-9  # the proven bound is below the optimum
    assert plan.gap <= 1e-9


def random_prices(ar: Arrays, rng, master: Master | None = None, budgets: bool = False) -> Prices:
    """Random prices of every row the pricing reads: capacities, branching rows, linking rows, cover cuts
    (and, with ``budgets``, a front's loss and energy budgets)."""
    p = Prices(rng.uniform(0, 0.05, ar.N), rng.uniform(0, 0.01, ar.N), rng.uniform(0, 0.001, ar.N), {},
               served=float(rng.uniform(-0.01, 0.01)))
    p.cut = {cut: float(rng.uniform(0, 0.02)) for cut in some_cuts(ar) if rng.random() < 0.4}
    if budgets:
        p.loss, p.total_energy = float(rng.uniform(0, 0.01)), float(rng.uniform(0, 0.01))
    for s in range(len(ar.sources)):
        p.arc[s] = rng.uniform(-0.01, 0.01, (ar.J, ar.N + 1)) * (rng.random((ar.J, ar.N + 1)) < 0.3)
        if ar.shared:
            p.eta[s] = rng.uniform(0, 0.01, (ar.J, max(1, max(len(lv) for lv in ar.levels)), ar.N))
    return p


def price_of(ar: Arrays, prices: Prices, col: Column) -> float:
    """A column's price from its cost and use (the master's coefficients) times the prices."""
    cost, use = ar.column(col)
    price = cost - prices.served + sum(getattr(prices, kind)[i] * v for kind in RESOURCES for i, v in use[kind].items())
    for i, j, lvl in use["links"]:
        price += prices.eta[col.s][j, lvl, i]
    arc = prices.arc.get(col.s)
    if arc is not None:
        price -= sum(arc[j, i] for j, i in enumerate(col.place))
        price -= sum(arc[j, ar.N] for j in np.flatnonzero(ar.drop[col.k]))
    for cut, y in prices.cut.items():  # the cuts over segment sizes: u of each segment on the cut's device
        price += y * sum(float(cuts.u(cut.family, cut.param, size)) for i, size in segment_sizes(ar, col, cut.kind)
                         if i == cut.i)
    price += prices.loss * ar.loss[col.k] + prices.total_energy * sum(use["energy"].values())
    return price


def some_cuts(ar: Arrays) -> list:
    """Cuts of both families on every device and kind."""
    return [Cut(kind, i, family, p) for kind in cuts.KINDS for i in range(ar.N)
            for family, ps in (("cover", (1, 2, 3)), ("fs", (0.1, 0.3, 0.5))) for p in ps]


def segment_sizes(ar: Arrays, col: Column, kind: str) -> list:
    """A column's segments as (device, size over the device's capacity × (1 + margin)), one by one."""
    v = ar.drop[col.k].astype(int)
    out = []
    for i, run in itertools.groupby(range(ar.J), key=lambda j: col.place[j]):
        run = list(run)
        use = {"compute": sum(ar.macs[j, v[j]] for j in run) / 1e9, "memory": sum(ar.mem[j, v[j]] for j in run),
               "energy": sum(ar.kernel.compute_energy[j, v[j], i] for j in run)}[kind]
        cap = ar.cap[kind][i] * (1 + cuts.MARGIN)
        out.append((i, use / cap if cap > 0 else (np.inf if use > 0 else 0.0)))
    return out


def segments_fit(ar: Arrays, k: int, place) -> bool:
    """Each run of units on one device within that device's limits for one request."""
    v = ar.drop[k].astype(int)
    for i, run in itertools.groupby(range(ar.J), key=lambda j: place[j]):
        run = list(run)
        if sum(ar.macs[j, v[j]] for j in run) > ar.macs_limit[i] or \
                sum(ar.request_mem[j, v[j]] for j in run) > ar.mem_limit[i]:
            return False
    return True


@pytest.mark.parametrize("memory_model", ["per_request", "shared_weights"])
@pytest.mark.parametrize("seed", range(6))
def test_pricing_is_the_cheapest_column_of_every_configuration(seed, memory_model):
    """The pricing pass against every placement: its price per configuration is the least over the
    placements whose segments fit, and the column it rebuilds has that price; rebuilt many at once
    (``places``) they are the same, and so is whether each fits on its own checked all at once."""
    sc = small_scenario(seed, 3, 5, 3, memory_model=memory_model, tight=[0.5, 0.8, 1.0, 2.0, 0.6, 0.7][seed])
    ar = Arrays(sc)
    pricer = Pricer(ar)
    prices = random_prices(ar, np.random.default_rng(seed), budgets=seed % 2 == 1)
    for s in range(len(ar.sources)):
        value, column, _ = pricer.best(prices, s)
        cs = np.flatnonzero(np.isfinite(value))
        one_by_one = np.array([column(int(c)).place for c in cs]).reshape(len(cs), ar.J)
        assert (column.places(cs) == one_by_one).all()
        assert (ar.fits_alone(one_by_one, ar.K[cs], s)
                == [ar.fits_alone(one_by_one[[n]], int(ar.K[c]), s)[0] for n, c in enumerate(cs)]).all()
        for c, k in enumerate(ar.K):
            prices_k = [price_of(ar, prices, Column(s, int(k), p))
                        for p in itertools.product(range(ar.N), repeat=ar.J) if segments_fit(ar, k, p)]
            assert value[c] == pytest.approx(min(prices_k, default=np.inf), rel=1e-9, abs=1e-12)
            if prices_k:
                assert price_of(ar, prices, column(c)) == pytest.approx(value[c], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_enumeration_lists_exactly_the_columns_within_a_price(seed):
    sc = small_scenario(seed, 3, 5, 2, tight=[0.6, 0.8, 1.0, 2.0][seed])
    ar = Arrays(sc)
    pricer = Pricer(ar)
    prices = random_prices(ar, np.random.default_rng(seed), budgets=seed % 2 == 1)
    for s in range(len(ar.sources)):
        value, _, _ = pricer.best(prices, s)
        limit = float(np.min(value)) + 0.02
        listed = pricer.enumerate(prices, s, limit, 10**6)
        expect = set()
        for k in ar.K:
            for p in itertools.product(range(ar.N), repeat=ar.J):
                col = Column(s, int(k), p)
                if price_of(ar, prices, col) <= limit - 1e-9 and ar.fits_alone(np.array([p]), int(k), s)[0]:
                    expect.add(col)
        got = {col for _, col in listed}
        assert expect <= got and all(price_of(ar, prices, c) <= limit + 1e-9 for c in got)
        assert all(ar.fits_alone(np.array([c.place]), c.k, s)[0] for c in got)
        assert pricer.enumerate(prices, s, limit, 0) in (None, [])  # over the cap: None


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_bound_is_below_the_optimum_for_any_prices(seed):
    sc = small_scenario(seed, 2, 4, 2, tight=[0.5, 0.8, 1.0, 0.6, 0.7, 2.0][seed],
                        memory_model=["per_request", "shared_weights"][seed % 2])
    best, _ = brute_force(sc)
    ar = Arrays(sc)
    pricer, master = Pricer(ar), Master(ar)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        prices = random_prices(ar, rng)
        prices.arc, prices.served = {}, 0.0  # the root node: no branching rows
        floors = [float(pricer.best(prices, s)[0].min()) for s in range(len(ar.sources))]
        assert lagrangian_bound(ar, master, prices, floors) <= best + 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_columns_equal_one_by_one(seed):
    sc = small_scenario(seed, 3, 6, 3)
    ar = Arrays(sc)
    rng = np.random.default_rng(seed)
    cols = [Column(s, int(k), tuple(int(d) for d in rng.integers(0, ar.N, ar.J)))
            for k in ar.K for s in range(len(ar.sources)) for _ in range(5)]
    one, many = Master(ar), Master(ar)
    keys = some_cuts(ar)
    one.add_cuts(keys[::2])  # before the columns (their coefficients as they come) and after
    many.add_cuts(keys[::2])
    for c in cols:
        one.add(c)
    many.add_many(cols)
    one.add_cuts(keys[1::2])
    many.add_cuts(keys[1::2])
    assert sum(isinstance(k, Cut) for k in one.row) == len(keys)
    assert one.columns == many.columns and one.fits == many.fits

    def dense(h):
        lp = h.getLp()
        a, out = lp.a_matrix_, np.zeros((lp.num_row_, lp.num_col_))
        for c in range(lp.num_col_):
            for q in range(a.start_[c], a.start_[c + 1]):
                out[a.index_[q], c] += a.value_[q]
        return out, np.asarray(lp.col_cost_)
    (a1, c1), (a2, c2) = dense(one.h), dense(many.h)
    assert np.allclose(a1, a2) and np.allclose(c1, c2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 3), m=st.integers(3, 6), r=st.integers(1, 3),
       alpha=st.sampled_from([0.0, 0.5, 1.0]), tight=st.sampled_from([0.6, 1.0, 2.0]),
       memory_model=st.sampled_from(["per_request", "shared_weights"]))
@pytest.mark.slow
def test_colgen_and_the_compact_milp_agree(seed, n, m, r, alpha, tight, memory_model):
    """Never below the compact MILP's optimum, its bound never above it; both exact, the same value."""
    sc = small_scenario(seed, n, m, r, alpha=alpha, tight=tight, memory_model=memory_model)
    exact = solve(sc, rel_gap=1e-9)
    cg = solve(sc, "colgen", rel_gap=1e-9)
    assert evaluate(sc, cg).feasible
    tol = 1e-6 * max(1.0, abs(exact.objective)) + (1e-5 if alpha == 0 else 0.0)  # α = 0: the MILP's tie-breaker
    assert cg.objective >= exact.bound - tol
    assert cg.bound <= exact.objective + tol
    if exact.status == "optimal" and cg.status == "optimal":
        assert cg.objective == pytest.approx(exact.objective, abs=tol)


def test_a_start_plan_and_requests_that_must_be_served():
    sc = small_scenario(3, 2, 4, 2, tight=2.0)
    best, best_plan = brute_force(sc)
    plan = solve(sc, "colgen", start=best_plan, rel_gap=1e-9)
    assert plan.objective == pytest.approx(best, abs=1e-9)
    forced = solve(sc, "colgen", allow_unserved=False, rel_gap=1e-9)
    assert forced.n_served == len(sc.requests) or forced.status != "optimal"
    assert Plan.from_dict(plan.to_dict()).objective == plan.objective


@pytest.mark.slow
@pytest.mark.timeout(120)  # a method that ignored its limit would run for minutes at this size
def test_time_limit_is_honoured_at_scale():
    """A hostile size (N = 100, R = 20) with a 1-s limit: the MILP methods decline without building a model
    they have no time for (saying why), and column generation stops at its limit with a feasible plan."""
    from adaptres.experiments import sim
    units, configs, _, _ = sim.inputs("fast", table="224")
    sc = random_step(units.units, units.input_bytes, configs, paper_devices(100), 20, seed=3)
    for method in ("exact", "relaxed"):
        plan = solvers.solve(sc, method, solvers.Options(time_limit=1.0))
        assert plan.status == "too_large" and "transfer variables" in plan.metrics["reason"], method
    plan = solvers.solve(sc, "colgen", solvers.Options(time_limit=1.0))
    assert plan.status in ("time_limit", "optimal", "feasible") and evaluate(sc, plan).feasible


def test_bench_point_reports_time_status_and_memory():
    from adaptres.experiments import compare
    row = compare.bench_point(5, 2, 5.0, 1e-2, "colgen")
    assert row["within_limit"] and row["status"] == "optimal" and row["served"] == 2
    assert row["peak_rss_mb"] > 0 and row["gap"] <= 1e-2


@pytest.mark.parametrize("seed,n,memory_model", [(1, 2, "per_request"), (1, 3, "shared_weights"), (4, 3, "per_request"),
                                                  (5, 2, "per_request")])
def test_cover_cuts_raise_the_root_bound_and_keep_the_optimum(seed, n, memory_model):
    """Steps on which the root's LP breaks cuts over segment sizes (``cuts``):
    with the cuts the root's bound is at least as high, still below the brute-force optimum, and colgen still
    finds that optimum."""
    from adaptres.solvers.colgen import Root
    sc = small_scenario(seed, n, 4, 2, alpha=[0.0, 0.3, 0.7, 1.0, 0.5][seed % 5], memory_model=memory_model,
                        tight=[0.6, 1.0, 0.8, 2.0, 0.7][seed % 5])
    best, _ = brute_force(sc)
    opts = solvers.Options(time_limit=60, rel_gap=1e-9)
    with_cuts, without = Root(sc, opts, None), Root(sc, opts, None, cuts=False)
    assert with_cuts.log["cuts"] > 0 and without.log["cuts"] == 0
    assert without.node[0] - 1e-9 <= with_cuts.node[0] <= best + 1e-9
    plan = solve(sc, "colgen", rel_gap=1e-9, time_limit=60)
    assert plan.status == "optimal" and plan.objective == pytest.approx(best, rel=1e-7, abs=1e-9)


def test_the_master_lp_gets_its_own_time_limit_at_every_solve():
    """HiGHS (before 2.0) holds its ``time_limit`` against an instance's run time summed over all its solves: the
    master's LP, solved again and again, would end with ``time_limit`` at once when the solves so far add up to the
    seconds left (the root's cut rounds and branch-and-price stopped early on large steps). Each solve is given the
    run time so far plus its own seconds."""
    from adaptres.solvers.colgen import Root
    root = Root(small_scenario(1, 3, 4, 2), solvers.Options(time_limit=60, rel_gap=1e-9), None)
    h = root.master.h
    assert root.log["lp_solves"] > 1 and h.getRunTime() > 0
    before = h.getRunTime()
    status, *_ = root.master.solve_lp(1e-3)
    limit = h.getOptionValue("time_limit")  # highspy 1.16: (status, value)
    assert status == "optimal" and (limit[1] if isinstance(limit, tuple) else limit) == pytest.approx(before + 1e-3)


def test_solves_in_threads_at_once_end_as_one_by_one():
    """Re-plans run two at a time in threads: column generation solved in four threads at once gives the plans it
    gives one by one (highspy's own locks are shared by every instance: a second solve raised "Solver is already
    running" while a first ran)."""
    import concurrent.futures
    scenarios = [small_scenario(seed, 3, 5, 3, tight=1.5) for seed in range(12)]
    alone = [solve(sc, "colgen", rel_gap=1e-9).objective for sc in scenarios]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda sc: solve(sc, "colgen", rel_gap=1e-9).objective, scenarios * 3))
    assert together == alone * 3



@pytest.mark.parametrize("seed,n,memory_model", [(1, 3, "shared_weights"), (4, 3, "per_request"), (2, 4, "per_request")])
def test_a_dive_gives_a_plan_the_evaluator_accepts_at_its_value_and_leaves_the_root_as_it_was(seed, n, memory_model):
    """The dive (``cg.diving``) ends with every plan's count whole: its plan is within capacity, costs what the
    evaluator says, at least the brute-force optimum (itself at least the root's bound); after it, every column's
    bounds and the LP's value are the root's again."""
    from adaptres.solvers.cg.diving import dive
    from adaptres.solvers.colgen import Root, plan_of
    sc = small_scenario(seed, n, 4, 2, alpha=0.5, memory_model=memory_model, tight=0.8)
    best, _ = brute_force(sc)
    root = Root(sc, solvers.Options(time_limit=60, rel_gap=1e-9), None)
    lp = root.master.h.getLp()
    before = (list(lp.col_lower_), list(lp.col_upper_), root.master.h.getInfo().objective_function_value)
    log: dict = {"lp_solves": 0}
    found = dive(root.ar, root.pricer, root.master, 30.0, log)
    assert log["dive"]["end"] == "whole" and found is not None
    lp = root.master.h.getLp()
    n_before = len(before[0])
    assert list(lp.col_lower_)[:n_before] == before[0] and list(lp.col_upper_)[:n_before] == before[1]
    assert root.master.h.getInfo().objective_function_value == pytest.approx(before[2], rel=1e-9)
    ev = evaluate(sc, Plan("dive", tuple(plan_of(root.ar, root.master, found.counts))))
    assert ev.feasible and ev.objective == pytest.approx(found.objective, rel=1e-9)
    assert found.objective >= best - 1e-9 >= root.node[0] - 2e-9


def test_once_the_listing_reaches_the_incumbent_the_integer_master_gets_the_time_left(monkeypatch):
    """Closing the gap by listing: while the target is below the incumbent the integer master gets the listing's
    share of the time; once every column a better plan could use is listed (target = incumbent) it is the whole
    step and gets all the time left, and the listing stops there."""
    from adaptres.solvers.cg import tree
    from adaptres.solvers.cg.generation import Clock
    from adaptres.solvers.cg.integer import MipResult
    targets, asked, starts = [], [], []
    monkeypatch.setattr(tree, "list_within", lambda ar, pricer, master, nodes, target, deadline: targets.append(target) or 10)
    clock = Clock(100.0)

    def mip(seconds, start=None):
        asked.append(seconds)
        starts.append(start)
        return MipResult("time_limit", None, None, {})  # proves nothing, finds nothing

    best = MipResult("optimal", 1.0, None, {0: 1})
    got, bound = tree.close_gap(None, None, None, [], 0.9, best, mip, clock, 1e-4, {})
    assert got is best and bound == 0.9
    assert targets[-1] == 1.0 and all(t < 1.0 for t in targets[:-1]) and len(targets) > 1
    assert all(s <= (1 - tree.ENUMERATE_SHARE) * 100.0 + 1e-6 for s in asked[:-1])
    assert asked[-1] > 99.0  # the time left
    assert all(start == {0: 1} for start in starts)  # each integer master starts from the incumbent


def test_past_half_the_gap_the_listing_goes_straight_to_the_incumbent(monkeypatch):
    """The room grows fourfold from 1e-4 of the bound; the first room past half the gap lists up to the incumbent
    at once (a target just short of it listed about as many columns, its integer master as slow), not one more
    partial round."""
    from adaptres.solvers.cg import tree
    from adaptres.solvers.cg.generation import Clock
    from adaptres.solvers.cg.integer import MipResult
    targets = []
    monkeypatch.setattr(tree, "list_within", lambda ar, pricer, master, nodes, target, deadline: targets.append(target) or 10)
    monkeypatch.setattr(tree, "COMPLETE_FROM", 0.5)
    best = MipResult("optimal", 1.0, None, {0: 1})
    tree.close_gap(None, None, None, [], 0.9, best, lambda seconds, **_: MipResult("time_limit", None, None, {}),
                   Clock(100.0), 1e-4, {})
    rooms = [0.9e-4 * 4 ** k for k in range(6)]  # the sixth, 0.092, is past half the gap (0.05), short of all of it
    assert targets == pytest.approx([0.9 + r for r in rooms[:5]] + [1.0], rel=1e-12)


def test_a_short_list_grows_before_its_integer_master_and_a_list_over_the_cap_leaves_the_last_one(monkeypatch):
    """The room grows fourfold while the list is shorter than ``list_min``, with no integer master between; a wider
    list over the cap (None) leaves the last one made, whose integer master is solved at that list's target: the
    bound rises to at most that target, however high HiGHS' bound on the listed columns."""
    from adaptres.solvers.cg import tree
    from adaptres.solvers.cg.generation import Clock
    from adaptres.solvers.cg.integer import MipResult
    lengths = iter([100, 400, 1600, None, None])  # the fourth list is over the cap, and the next after the master
    targets, solved = [], []
    monkeypatch.setattr(tree, "list_within",
                        lambda ar, pricer, master, nodes, target, deadline: targets.append(target) or next(lengths))
    monkeypatch.setattr(tree, "COMPLETE_FROM", 0.5)

    def mip(seconds, start=None):
        solved.append(len(targets))
        return MipResult("time_limit", None, 0.95, {})  # HiGHS' bound on the listed columns: above every target

    best = MipResult("optimal", 1.0, None, {0: 1})
    log: dict = {}
    got, bound = tree.close_gap(None, None, None, [], 0.9, best, mip, Clock(100.0), 1e-4, log, list_min=3000)
    rooms = [0.9e-4 * 4 ** k for k in range(4)]
    bound_after = 0.9 + rooms[2]  # the third list's target, proven by its integer master
    assert targets == pytest.approx([0.9 + r for r in rooms] + [bound_after + 4 * rooms[2]], rel=1e-12)
    assert solved == [4]  # one integer master, after the fourth list was tried
    assert log["listed"] == 1600 and bound == pytest.approx(bound_after, rel=1e-12) and got is best


def _step_with_sources(n_devices: int = 8, n_requests: int = 6, seed: int = 2, memory_model: str = "per_request"):
    """A §V-A-like step (the fast profile's 224-px table) whose requests come from several sources."""
    from adaptres.experiments import sim
    units, configs, _, _ = sim.inputs("fast", table="224")
    return random_step(units.units, units.input_bytes, configs, paper_devices(n_devices), n_requests, seed=seed,
                       memory_model=memory_model)


def _poor_plan(root):
    """Requests placed one after the other at no prices (``heuristics.greedy``): a plan to start from."""
    import time

    from adaptres.solvers.cg.heuristics import greedy
    return greedy(root.ar, root.pricer, root.master, Prices.zero(root.ar.N), time.perf_counter() + 30)


def test_a_completed_dive_keeps_its_fixed_plans_and_fits():
    """Where a dive is stuck, ``complete`` keeps the plans it fixed and places the other requests on what they
    leave: every request once (served or not), the fixed plan among them, within every capacity."""
    from adaptres.solvers.cg.diving import complete, feasible
    from adaptres.solvers.cg.generation import Clock
    from adaptres.solvers.cg.keys import UnservedCol
    from adaptres.solvers.colgen import Root
    sc = _step_with_sources()
    root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9), None, cuts=False, dive=False)
    ar, master = root.ar, root.master
    fixed = next(c for c, what in enumerate(master.columns) if isinstance(what, Column) and master.fits[c])
    for chosen in ({}, {fixed: 1}):
        counts = complete(ar, root.pricer, master, chosen, Clock(30))
        assert counts is not None and feasible(ar, master, counts)
        assert all(counts.get(c, 0) >= n for c, n in chosen.items())
        per_source = np.zeros(len(ar.sources))
        for c, n in counts.items():
            what = master.columns[c]
            per_source[what.s] += n if isinstance(what, (Column, UnservedCol)) else 0
        assert (per_source == ar.n_s).all()


@pytest.mark.parametrize("memory_model", ["per_request", "shared_weights"])
def test_a_neighbourhood_changes_only_its_free_sources_and_starts_from_the_plan_given(memory_model):
    """``integer.mip`` with ``free`` (a model of the free sources' columns alone, the held ones' use off the rows):
    every other source keeps the start's counts exactly; its plan costs at most the start (HiGHS has it as its first
    incumbent), and with every source free it is the whole master's optimum. Under shared weights the held plans'
    loaded units stay loaded for the free ones."""
    from adaptres.solvers.colgen import Root
    sc = _step_with_sources(memory_model=memory_model)
    root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9), None, cuts=False, dive=False)
    master, start = root.master, _poor_plan(root)
    S = len(root.ar.sources)
    assert S >= 3
    whole = master.mip(30, 1e-9)
    for free in ({0}, {1, 2}, set(range(S))):
        got = master.mip(30, 1e-9, start=start, free=free)
        assert got.objective is not None and got.objective <= master.value(start) + 1e-12
        for c, what in enumerate(master.columns):
            if getattr(what, "s", None) is not None and what.s not in free:
                assert got.counts.get(c, 0) == start.get(c, 0), (free, what)
    assert got.objective == pytest.approx(whole.objective, rel=1e-9)
    assert whole.objective < master.value(start)  # the start was improvable: the checks above could fail


def test_the_neighbourhood_search_improves_a_poor_plan_the_same_way_each_time(monkeypatch):
    """``neighbourhood.search`` from a poor plan: a better plan, which the evaluator accepts at its value; the
    rounds are drawn from the step (and here bounded by HiGHS' nodes, not seconds), so a second search from the same plan
    ends with the same plan. A step of at most ``FREE`` sources has no neighbourhood: no round runs."""
    from adaptres.solvers.cg import neighbourhood
    from adaptres.solvers.cg.integer import MipResult
    from adaptres.solvers.colgen import Root, plan_of
    monkeypatch.setattr(neighbourhood, "ROUND_S", 60.0)
    monkeypatch.setattr(neighbourhood, "STALL", 6)
    for sc, rounds in ((_step_with_sources(n_devices=10, n_requests=10, seed=1), True), (_step_with_sources(), False)):
        root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9, max_nodes=1), None, cuts=False, dive=False)
        master, start = root.master, _poor_plan(root)
        assert (len(root.ar.sources) > neighbourhood.FREE) == rounds
        found, logs = [], []
        for _ in range(2):
            log: dict = {}
            best = MipResult("greedy", master.value(start), None, dict(start))
            found.append(neighbourhood.search(root.ar, master, best, root.mip, np.inf, log))
            logs.append(log["lns"])
        if not rounds:
            assert logs[0]["rounds"] == 0 and found[0].counts == start
            continue
        assert found[0].objective < master.value(start) and logs[0]["better"] >= 1
        assert found[0].counts == found[1].counts and logs[0]["rounds"] == logs[1]["rounds"]
        ev = evaluate(sc, Plan("lns", tuple(plan_of(root.ar, master, found[0].counts))))
        assert ev.feasible and ev.objective == pytest.approx(found[0].objective, rel=1e-9)


def test_prices_toward_others_are_their_convex_combination_at_every_column():
    """``Prices.toward``: a column's price at a · p + (1 − a) · q is a · its price at p + (1 − a) · its price at q
    (every row's price mixed, those one side lacks taken as zero); a = 0 gives q itself; the rows keep p's order,
    then q's (the same in every process, whatever the keys' hashes)."""
    sc = small_scenario(3, 3, 4, 2, memory_model="shared_weights")
    ar = Arrays(sc)
    rng = np.random.default_rng(3)
    p, q = random_prices(ar, rng, budgets=True), random_prices(ar, rng, budgets=True)
    q.cut = {cut: y for cut, y in list(q.cut.items())[::2]}  # cuts priced on one side only
    del q.arc[0]
    assert p.toward(q, 0.0) is q
    pricer = Pricer(ar)
    for a in (0.25, 0.5, 0.9):
        mixed = p.toward(q, a)
        assert list(mixed.cut) == list(p.cut) + [cut for cut in q.cut if cut not in p.cut]
        assert list(mixed.arc) == list(p.arc) + [s for s in q.arc if s not in p.arc]
        for s in range(len(ar.sources)):
            value, column, _ = pricer.best(mixed, s)
            for c in np.flatnonzero(np.isfinite(value))[:5]:
                col = column(int(c))
                want = a * price_of(ar, p, col) + (1 - a) * price_of(ar, q, col)
                assert price_of(ar, mixed, col) == pytest.approx(want, rel=1e-9, abs=1e-12)
                assert value[c] == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_smoothed_generation_ends_at_the_lp_optimum_of_the_generation_without(seed, monkeypatch):
    """Column generation with its prices smoothed toward the best bound's (``SMOOTHING``) converges to the same LP
    value, with a Lagrangian bound equal to it, as the generation at the LP's own prices."""
    from adaptres.solvers.cg import generation
    from adaptres.solvers.cg.generation import Clock, generate, seed_columns
    sc = small_scenario(seed, 3, 5, 3, tight=0.7, memory_model=["per_request", "shared_weights"][seed % 2])
    values = []
    for smoothing in (0.0, 0.5, 0.8):
        monkeypatch.setattr(generation, "SMOOTHING", smoothing)
        ar = Arrays(sc)
        pricer, master = Pricer(ar), Master(ar)
        seed_columns(ar, pricer, master, None)
        log = {"lp_solves": 0}
        status, (bound, _, _), converged = generate(ar, pricer, master, Clock(60), 0.0, log)
        assert status == "optimal" and converged
        lp = master.solve_lp(60)[1]
        assert bound == pytest.approx(lp, rel=1e-7)
        values.append(lp)
    assert values == pytest.approx([values[0]] * 3, rel=1e-7)


def test_the_ladder_climbs_from_a_poor_plan_to_a_better_one_the_evaluator_accepts():
    """``ladder.climb`` from a poor plan: a plan that costs less, at the value the evaluator gives it, found by the
    integer master over the LP's cheapest plans; with columns added since the LP, the LP is solved again first."""
    from adaptres.solvers.cg import ladder
    from adaptres.solvers.cg.integer import MipResult
    from adaptres.solvers.colgen import Root, plan_of
    sc = _step_with_sources(n_devices=10, n_requests=10, seed=1)
    root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9), None, cuts=False, dive=False)
    master, start = root.master, _poor_plan(root)
    assert master.stale  # the greedy plans became columns after the last LP
    log: dict = {}
    found = ladder.climb(master, MipResult("greedy", master.value(start), None, dict(start)), root.mip, np.inf, log)
    assert not master.stale and log["ladder"]["rungs"] >= 1 and log["ladder"]["better"] >= 1
    assert found.objective < master.value(start)
    ev = evaluate(sc, Plan("ladder", tuple(plan_of(root.ar, master, found.counts))))
    assert ev.feasible and ev.objective == pytest.approx(found.objective, rel=1e-9)


@pytest.mark.parametrize("memory_model", ["per_request", "shared_weights"])
def test_a_purge_deletes_only_priced_out_plans_and_keeps_the_lp_its_columns_and_a_plan(memory_model):
    """``pool.purge`` after the root: the plans it deletes are at zero with a reduced cost above the room, the
    protected ones stay, the LP's optimum is the same, and every index the master keeps (``index``, ``by_source``,
    ``columns``) names the same HiGHS column as before, so a plan mapped to the new indices costs the same."""
    from adaptres.solvers.colgen import Root
    sc = _step_with_sources(n_devices=10, n_requests=10, seed=1, memory_model=memory_model)
    root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9), None, cuts=False, dive=False)
    master, start = root.master, _poor_plan(root)
    _, z, _, _ = master.solve_lp(30)
    before = list(master.columns)
    cost = np.asarray(master.h.getLp().col_cost_)
    new = pool.purge(master, 0.0, set(start))
    assert new is not None and (new == -1).sum() > 0  # something was deleted: the checks below could fail
    gone = [before[c] for c in np.flatnonzero(new == -1)]
    assert all(isinstance(col, Column) for col in gone) and not set(np.flatnonzero(new == -1)) & set(start)
    assert master.h.getNumCol() == len(master.columns) == int((new >= 0).sum())
    assert [before[c] for c in np.flatnonzero(new >= 0)] == master.columns
    assert all(master.columns[c] == col for col, c in master.index.items())
    assert all(master.columns[c].s == s for s, cols in enumerate(master.by_source) for c in cols)
    mapped = {int(new[c]): n for c, n in start.items()}
    assert master.value(mapped) == pytest.approx(float(sum(cost[c] * n for c, n in start.items())), rel=1e-12)
    status, z_after, _, _ = master.solve_lp(30)
    assert status == "optimal" and z_after == pytest.approx(z, rel=1e-9, abs=1e-12)


def test_a_neighbourhood_prices_columns_for_its_free_sources_until_none_improves_its_lp(monkeypatch):
    """``neighbourhood.price`` from a poor plan: the columns it adds are the free sources' alone, they lower the
    neighbourhood's LP, and once it stops for want of columns a second call adds none (its prices, read from the
    neighbourhood's rows, are those at which no free source has a better column)."""
    from adaptres.solvers._highs_thread import new_highs, run_within
    from adaptres.solvers.cg import neighbourhood
    from adaptres.solvers.cg.integer import neighbourhood_model
    from adaptres.solvers.colgen import Root
    monkeypatch.setattr(neighbourhood, "PRICE_ROUNDS", 200)
    sc = _step_with_sources(n_devices=12, n_requests=12, seed=3)  # a neighbourhood whose LP its columns lower
    root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9), None, cuts=False, dive=False)
    master, start = root.master, _poor_plan(root)
    free = {1, 2}

    def lp_value():
        lp, _, _, _ = neighbourhood_model(master, free, start)
        lp.integrality_ = []
        h = new_highs()
        h.passModel(lp)
        run_within(h)
        return h.getInfo().objective_function_value
    n0, z0 = len(master.columns), lp_value()
    added = neighbourhood.price(root.pricer, master, free, start, np.inf)
    assert added > 0 and all(col.s in free for col in master.columns[n0:])
    assert lp_value() < z0 - 1e-9
    assert neighbourhood.price(root.pricer, master, free, start, np.inf) == 0


def test_a_neighbourhood_search_that_prices_its_columns_ends_the_same_way_each_time(monkeypatch):
    """``neighbourhood.search`` with a pricer, twice from the same root and plan: the same plan, the same rounds and
    columns priced, a plan better than the start that the evaluator accepts at its value."""
    from adaptres.solvers.cg import neighbourhood
    from adaptres.solvers.cg.integer import MipResult
    from adaptres.solvers.colgen import Root, plan_of
    monkeypatch.setattr(neighbourhood, "ROUND_S", 60.0)
    monkeypatch.setattr(neighbourhood, "STALL", 6)
    sc = _step_with_sources(n_devices=10, n_requests=10, seed=1)
    found, logs = [], []
    for _ in range(2):
        root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9, max_nodes=1), None, cuts=False, dive=False)
        master, start = root.master, _poor_plan(root)
        log: dict = {}
        best = MipResult("greedy", master.value(start), None, dict(start))
        found.append(neighbourhood.search(root.ar, master, best, root.mip, np.inf, log, root.pricer))
        logs.append(log["lns"])
    assert logs[0]["priced"] > 0 and logs[0] == {**logs[1], "s": logs[0]["s"]}
    assert found[0].counts == found[1].counts and found[0].objective < master.value(start)
    ev = evaluate(sc, Plan("lns", tuple(plan_of(root.ar, master, found[1].counts))))
    assert ev.feasible and ev.objective == pytest.approx(found[1].objective, rel=1e-9)


def test_the_purged_plans_that_improve_an_lp_are_those_whose_reduced_cost_at_its_duals_is_negative():
    """``Pool.improving`` at duals of every row but the cuts: the purged plans of the sources asked for whose reduced cost
    (cost − duals × their column, the column read from HiGHS once they are added back) is negative, at most ``most`` per
    source, the most negative first."""
    from adaptres.solvers.cg.integer import columns
    from adaptres.solvers.colgen import Root
    sc = _step_with_sources(n_devices=10, n_requests=10, seed=1)
    root = Root(sc, solvers.Options(time_limit=30, rel_gap=1e-9), None, cuts=False, dive=False)
    master = root.master
    master.solve_lp(30)
    assert pool.purge(master, 0.0) is not None
    purged = master.pool.plans()
    S = len(root.ar.sources)
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1.0, master.h.getNumRow())
    y[master.cut_rows] = 0.0
    free = set(range(0, S, 2))
    got, one = master.pool.improving(y, free, 10**6, master.index), master.pool.improving(y, free, 1, master.index)
    n0 = len(master.columns)
    master.add_many(purged)
    purged.sort(key=lambda col: master.index[col])  # HiGHS reads a set of columns in order
    idx = np.array([master.index[col] for col in purged], dtype=np.int32)
    cost = np.asarray(master.h.getLp().col_cost_)[idx]
    rc = cost - columns(master.h, idx, master.h.getNumRow()).T @ y
    want = {col for col, r, c in zip(purged, rc, cost) if col.s in free and r < -1e-9 * max(1.0, abs(c))}
    assert len(master.columns) == n0 + len(purged) and want and set(got) == want and len(got) == len(want)
    least = {}
    for col, r in zip(purged, rc):
        if col in want and (col.s not in least or r < least[col.s][0]):
            least[col.s] = (r, col)
    assert sorted(one, key=lambda col: col.s) == [least[s][1] for s in sorted(least)]
    assert master.pool.improving(y, free, 10**6, master.index) == []  # back in the master: none is offered again


def test_a_node_whose_lp_serves_a_whole_number_splits_a_fractional_flow():
    """``tree.children`` on an LP that serves a whole number of requests with two half plans of one source that differ
    in one unit's device: the two children bound that flow (s, j, i) to at most its floor and at least its ceiling."""
    from adaptres.solvers.cg import tree
    sc = small_scenario(1, 3, 4, 2)
    ar = Arrays(sc)
    master = Master(ar)
    a, b = Column(0, int(ar.K[0]), (0,) * ar.J), Column(0, int(ar.K[0]), (1,) + (0,) * (ar.J - 1))
    master.add(a)
    master.add(b)
    master._x = np.zeros(len(master.columns))
    master._x[[master.index[a], master.index[b]]] = 0.5
    assert tree.flows(master)[0, 0, 0] == pytest.approx(0.5) and tree.flows(master)[0, 1, 0] == pytest.approx(1.0)
    node = tree.Node(0.0, 0, (0, ar.R), {})
    down, up = tree.children(master, node, ar)
    key = next(iter(down.arcs))
    assert key[0] == 0 and key[1] == 0 and key[2] in (0, 1) and down.served == up.served == (0, ar.R)
    assert down.arcs[key] == (0, 0) and up.arcs[key] == (1, int(ar.n_s[0]))
