"""The paper's claims checked on constructed runs: held, not held, and a flat metric."""
import numpy as np
import pandas as pd
import pytest

from adaptres.experiments import claims

ORDER = ["5/10", "50/100", "800/1000"]


def runs_along(x, order, **series):
    """Two seeds per sweep point; each metric given as one value per point (seed 1 adds a little)."""
    rows = []
    for i, v in enumerate(order):
        for seed in (0, 1):
            rows.append({x: v, "seed": seed, **{m: vals[i] + 0.01 * seed for m, vals in series.items()}})
    return pd.DataFrame(rows)


def verdicts(df, reading="per step"):
    """Each figure's verdict: per step where the claim is read both ways, else its one reading."""
    df = claims.read(df, reading)
    return dict(zip(df["figure"], df["held"]))


def test_per_step_claims_are_also_read_per_served_request():
    """More requests served per step raise a per-step total while each request costs less: the two
    readings then disagree, and both are reported."""
    runs = runs_along("battery_j", ORDER, accuracy_pct=[80, 85, 90], latency_s=[3, 2, 1], energy_j=[10, 12, 14],
                      energy_j_req=[5, 4, 3.5], shared_mb=[1, 1.2, 1.4], shared_mb_req=[0.5, 0.4, 0.3],
                      gmacs=[1, 1.1, 1.2], gmacs_req=[0.5, 0.45, 0.4])
    out = claims.fig7(runs, ORDER)
    assert verdicts(out)["7(e)"] == "not held" and verdicts(out, "per request")["7(e)"] == "held"
    assert (out.groupby("figure").size() == [1, 1, 2, 2, 2]).all()
    assert "per served request" in out[(out.figure == "7(e)") & (out.reading == "per request")]["this run"].iloc[0]
    # runs without the per-request columns (older results): that reading is n/a, not a verdict
    old = runs.drop(columns=["energy_j_req", "shared_mb_req", "gmacs_req"])
    assert verdicts(claims.fig7(old, ORDER), "per request")["7(e)"] == "n/a"


def test_trend_held_not_held_and_flat():
    runs = runs_along("battery_j", ORDER, accuracy_pct=[80, 85, 90], latency_s=[1, 2, 3],
                      gmacs=[9, 8, 7], energy_j=[3, 2, 2.5]).assign(shared_mb=5.0)
    out = verdicts(claims.fig7(runs, ORDER))
    assert out == {"7(a)": "held", "7(b)": "not held", "7(c)": "not held", "7(d)": "held", "7(e)": "held"}
    shared = claims.fig7(runs, ORDER).set_index(["figure", "reading"]).loc[("7(c)", "per step"), "this run"]
    assert "no change along the sweep" in shared
    # a sweep point with no measurement at all: n/a, not a verdict
    empty = runs.assign(latency_s=float("nan"))
    assert verdicts(claims.fig7(empty, ORDER))["7(b)"] == "n/a"


def test_trend_needs_both_the_ends_and_the_rank_correlation():
    # ends rise, but the middle point is far below both: ρ still positive → held; ends fall → not held
    runs = runs_along("lam", [1, 3, 5, 8], latency_s=[2, 1, 3, 4], accuracy_pct=[90, 91, 89, 85],
                      shared_mb=[1, 2, 3, 4], energy_j=[4, 3, 2, 1], gmacs=[1, 1.5, 2, 2.5])
    out = verdicts(claims.fig8(runs, [1, 3, 5, 8]))
    assert out == {"8(a)": "held", "8(b)": "held", "8(c)": "held", "8(d)": "not held", "8(e)": "held"}


def test_fig9_directions():
    order = ["0.35/0.7", "1.4/2.8", "2.8/5.6"]
    runs = runs_along("compute_g", order, accuracy_pct=[80, 85, 88], latency_s=[1.0, 1.5, 2.0],
                      shared_mb=[6, 5, 4], energy_j=[10, 12, 14])
    assert set(verdicts(claims.fig9(runs, order)).values()) == {"held"}
    flipped = runs.assign(latency_s=runs.latency_s[::-1].values, shared_mb=runs.shared_mb[::-1].values)
    out = verdicts(claims.fig9(flipped, order))
    assert out["9(b)"] == "not held" and out["9(c)"] == "not held" and out["9(a)"] == "held"


def fig6_runs(acc, gmacs, energy):
    """acc[threshold][beta] etc. for thresholds 70, 80 and β ∈ {0, 0.5, 1}."""
    rows = []
    for th in (70.0, 80.0):
        for b in (0.0, 0.5, 1.0):
            rows.append({"accuracy_threshold": th, "beta": b, "accuracy_pct": acc[th][b], "gmacs": gmacs[b],
                         "energy_j": energy[b], "latency_s": 1.0})
    return pd.DataFrame(rows)


def test_fig6_held():
    acc = {70.0: {0.0: 80, 0.5: 85, 1.0: 87}, 80.0: {0.0: 82, 0.5: 86, 1.0: 87.5}}
    runs = fig6_runs(acc, gmacs={0.0: 8, 0.5: 9, 1.0: 10}, energy={0.0: 40, 0.5: 45, 1.0: 50})
    rows = claims.fig6(runs, full_accuracy=88.0)
    assert list(rows["held"]) == ["held", "held", "held"]


def test_fig6_not_held():
    # the lowest accuracy at β = 0.5 for A_th 70; β = 1 uses fewer resources; β = 1 reaches the full model
    acc = {70.0: {0.0: 84, 0.5: 83, 1.0: 88}, 80.0: {0.0: 82, 0.5: 86, 1.0: 88}}
    runs = fig6_runs(acc, gmacs={0.0: 10, 0.5: 9, 1.0: 8}, energy={0.0: 50, 0.5: 45, 1.0: 40})
    rows = claims.fig6(runs, full_accuracy=88.0)
    assert list(rows["held"]) == ["not held", "not held", "not held"]
    assert "lowest at β = 0.5" in rows.iloc[0]["this run"]


@pytest.mark.parametrize("section", ["V-A", "V-B", "V-C", "V-D"])
def test_every_section_checks_its_figures_claims(section):
    """Each section's claims function, run on a sweep of its own points, checks its own figure's
    claims (and only those), one verdict each."""
    import dataclasses

    from adaptres.experiments import profiles, sections, sim
    sec = sections.get(section)
    fig = str(6 + "ABCD".index(section[-1]))  # the figure's panels: 6(a), 6(b), ...
    S = dataclasses.replace(profiles.get("fast").sim)
    points = sec.points(S)
    rng = np.random.default_rng(0)
    rows = [{**sim.setting(sec.base, p), "seed": seed, **{m: float(rng.uniform(1, 90)) for m in sim.METRICS}}
            for p in points for seed in (0, 1)]
    runs = pd.DataFrame(rows)
    for key in ("battery_j", "compute_g"):
        runs[key] = runs[key].map(sim.label)
    checks = sec.claims(runs, sec.order(points), 90.0)
    assert len(checks) > 0 and set(checks["figure"].str.split("(").str[0]) == {fig}, checks
    assert set(checks["held"]) <= {"held", "not held", "n/a"} and checks["paper"].str.len().gt(10).all()


def test_side_by_side_puts_each_tables_means_next_to_each_other(tmp_path):
    import dataclasses

    import pandas as pd

    from adaptres.experiments import profiles, sections
    from adaptres.report.evaluation import SUMMARY_COLUMNS, SectionRun, side_by_side
    sec = sections.get("V-C")
    def run(table, dropped):
        rows = [{"lam": lam, "seed": seed, **{c: 0.0 for c in SUMMARY_COLUMNS}, "dropped_blocks": dropped * lam + seed}
                for lam in (1.0, 3.0) for seed in (0, 1)]
        settings = dataclasses.replace(profiles.get("fast").sim, table=table)
        return SectionRun(sec, "fast", settings, {}, pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame(), tmp_path)
    t = side_by_side([run("cpu-dropaware", 2.0), run("cpu", 1.0)], columns=("dropped_blocks", "latency_s"))
    assert list(t.columns) == [("dropped_blocks", "cpu-dropaware"), ("dropped_blocks", "cpu"),
                               ("latency_s", "cpu-dropaware"), ("latency_s", "cpu")]
    assert t[("dropped_blocks", "cpu-dropaware")].tolist() == [2.5, 6.5] and t[("dropped_blocks", "cpu")].tolist() == [1.5, 3.5]


def test_side_by_side_aligns_shifted_thresholds_on_the_papers(tmp_path):
    import dataclasses

    import pandas as pd

    from adaptres.experiments import profiles, sections
    from adaptres.report.evaluation import SUMMARY_COLUMNS, SectionRun, side_by_side
    sec = sections.get("V-A")
    def run(table, shift):
        rows = [{"accuracy_threshold": a + shift, "beta": b, **{c: 1.0 for c in SUMMARY_COLUMNS}}
                for a in (70.0, 80.0) for b in (0.0, 1.0)]
        settings = dataclasses.replace(profiles.get("fast").sim, table=table, threshold_shift=shift)
        return SectionRun(sec, "fast", settings, {}, pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame(), tmp_path)
    t = side_by_side([run("cpu-dropaware", -15.49), run("cpu", -14.29)])
    assert len(t) == 4 and not t.isna().any().any() and t.index.names[0] == "A_th (paper)"
    assert sorted(set(t.index.get_level_values(0))) == [70.0, 80.0]


def test_the_report_counts_each_claim_once_per_reading(tmp_path):
    """A claim read both ways counts in each reading with its own verdict; a claim read one way counts in
    both with its one verdict; tables (and controllers) are counted apart."""
    import json

    from adaptres.report.study import _claims_table
    note = {"[t] 7(a) accuracy rises (per request)": "held: x", "[t] 7(e) energy falls (per step)": "not held: y",
            "[t] 7(e) energy falls (per request)": "held: z", "[t, horizon] 7(a) accuracy rises (per request)": "held: w",
            "commit": "abc"}
    path = tmp_path / "05_eval_battery.json"
    path.write_text(json.dumps(note))
    head = _claims_table([path])[1]
    assert "1 of 2 held on the t table, read per step" in head and "2 of 2 held on the t table, read per request" in head
    assert "1 of 1 held on the t, horizon table" in head
