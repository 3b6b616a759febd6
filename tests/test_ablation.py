import pytest
import torch

from adaptres.io import InputError, read_table, write_table
from adaptres.nn import ablation, data
from adaptres.nn.model import build
from adaptres.problem.accuracy import configs_from_rows


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build("resnet18", num_classes=10).eval()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 1, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (24,), generator=g)
    return model, data.ImageSet("fashion-mnist", "test", images, labels, [str(i) for i in range(10)], "random")


@pytest.mark.slow
def test_prefix_reuse_equals_naive(tiny):
    model, ds = tiny
    fast = ablation.run(model, ds, 32, batch_size=10, amp=False, reuse=True, progress=False)
    naive = ablation.run(model, ds, 32, batch_size=10, amp=False, reuse=False, progress=False)
    assert fast["correct"].tolist() == naive["correct"].tolist()
    blocks = 8  # resnet18
    assert len(fast) == 1 + 2 * blocks + blocks * (blocks - 1) // 2
    assert fast.loc[0, "kind"] == "none" and fast["n"].eq(24).all()


def test_tables_and_configs_round_trip(tiny, tmp_path):
    model, ds = tiny
    t = ablation.run(model, ds, 32, batch_size=24, amp=False, progress=False)
    t = ablation.add_savings(t, "resnet18", "imagenet", 32)
    sc_row = t[t.kind == "sc"].iloc[0]
    assert sc_row.macs_saved_trained == 0  # SC drops save nothing
    dc_pair = t[(t.kind == "dc") & (t.n_dropped == 2)].iloc[0]
    a, b = dc_pair.dropped.split(";")
    singles = t[(t.kind == "dc") & (t.n_dropped == 1)].set_index("dropped")
    assert dc_pair.macs_saved_224 == singles.loc[a, "macs_saved_224"] + singles.loc[b, "macs_saved_224"]
    path = tmp_path / "table.csv"
    write_table(t, path, {"dataset": "fashion-mnist", "px": 32})
    back, meta = read_table(path)
    assert meta == {"dataset": "fashion-mnist", "px": "32"}
    assert back["correct"].tolist() == t["correct"].tolist()
    cfgs = configs_from_rows(back.to_dict("records"), threshold=0.0)
    assert cfgs[0].dropped == () and len(cfgs) == 1 + 8 + 28  # full, single DC, DC pairs (no SC)
    assert all(c.accuracy >= 50 for c in configs_from_rows(back.to_dict("records"), threshold=50.0)[1:])
    assert ablation.table_one(back).shape == (8, 3)
    m = ablation.pair_matrix(back)
    assert m.shape == (8, 8) and (m.values == m.values.T).all()
    with pytest.raises(ValueError, match="threshold"):
        configs_from_rows(back.to_dict("records"), threshold=101)
    with pytest.raises(InputError, match="accuracy table"):
        read_table(tmp_path / "missing.csv")


@pytest.mark.slow
def test_larger_drop_sets_are_measured_with_prefix_reuse_and_intervals(tiny):
    model, ds = tiny
    blocks = model.block_names()
    singles = {b: float(i) for i, b in enumerate(blocks)}  # the last block "costs least"
    sets = ablation.larger_drop_sets(blocks, singles, k_min=3, k_max=5, per_k=3, seed=1)
    families = {f for f, _ in sets}
    assert families == {"nested", "stage-suffix", "random"}
    assert sets[0] == ("nested", tuple(blocks[-3:]))  # the three blocks with the highest single-drop accuracy
    assert len({d for _, d in sets}) == len(sets)
    assert all(list(d) == sorted(d, key=blocks.index) for _, d in sets)  # in execution order
    fast = ablation.run(model, ds, 32, batch_size=10, amp=False, progress=False, extra=sets, base=False)
    naive = ablation.run(model, ds, 32, batch_size=10, amp=False, progress=False, extra=sets, base=False, reuse=False)
    assert fast["correct"].tolist() == naive["correct"].tolist() and len(fast) == 1 + len(sets)
    assert list(fast.family[1:]) == [f for f, _ in sets] and fast.family[0] == "full"
    assert ((fast.ci95_low <= fast.accuracy) & (fast.accuracy <= fast.ci95_high)).all()
    lo, hi = ablation.wilson_interval(90, 100)
    assert 82 < lo < 90 < hi < 95  # the Wilson interval of 90 of 100


def test_dominated_configurations_are_pruned():
    from adaptres.problem.accuracy import undominated
    from adaptres.problem.scenario import Config
    cfgs = [Config((), 90.0), Config(("a",), 85.0), Config(("a", "b"), 86.0), Config(("c",), 80.0),
            Config(("b",), 84.0), Config(("a", "c"), 79.0)]
    kept = undominated(cfgs)
    # {a} is dominated by {a, b} (more dropped, more accurate), {b} too; {c} and {a, c} are not
    assert [c.dropped for c in kept] == [(), ("a", "b"), ("c",), ("a", "c")]


def test_robustness_counts_singles_and_pairs_by_family():
    import pandas as pd
    rows = [("none", "", "full", 80.0), ("dc", "a", "single", 79.5), ("dc", "b", "single", 76.0),
            ("dc", "a;b", "pair", 78.0), ("dc", "b;c", "pair", 70.0), ("dc", "b;c", "stage-suffix", 70.0),
            ("dc", "a;b;c", "nested", 77.5), ("sc", "a", "sc-single", 10.0)]
    t = pd.DataFrame([{"kind": k, "dropped": d, "n_dropped": len([x for x in d.split(";") if x]), "family": f,
                       "accuracy": a, "macs_saved_pct_trained": 10.0 * len([x for x in d.split(";") if x])}
                      for k, d, f, a in rows])
    r = ablation.robustness(t)
    assert r["mean_single_loss"] == 2.25 and r["max_single_loss"] == 4.0 and r["singles_within_1pt"] == "1/2"
    assert r["pairs_within_3pt"] == "1/2"  # the stage suffix repeating a pair is not counted twice
    assert r["most_blocks_within_3pt"] == 3 and r["most_saved_within_3pt"].startswith("30.0 %")
