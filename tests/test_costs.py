import json
from pathlib import Path

import pytest
import torch
from conftest import slow_after
from torch.utils.flop_counter import FlopCounterMode

from adaptres.nn import costs as C
from adaptres.nn.model import build
from adaptres.problem import formulas, unit_costs

ARCHS = slow_after(["resnet50", "resnet18", "resnet34", "resnet101", "resnet152"], 2)  # the paper's, a basic-block one


def test_resnet50_known_total():
    df = C.unit_costs("resnet50", image_size=224, num_classes=10)
    assert int(df["macs"].sum()) == 4_087_156_736
    assert len(df) == 18
    stem = df.iloc[0]
    # SPEC §8's example row
    assert (stem.macs, stem.weight_bytes, stem.activation_bytes, stem.output_bytes) == \
        (118013952, 38656, 10436608, 802816)
    assert df.attrs["input_bytes"] == 602112


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("mode", ["full", "drop_dc"])
def test_macs_match_flop_counter(arch, mode):
    """Eq 2 from shapes equals torch's FlopCounterMode (which counts 2 flops per multiply-add)."""
    size = 64
    df = C.unit_costs(arch, image_size=size).set_index("name")
    net = build(arch).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        for unit in net.units:
            m = mode if unit.droppable else "full"
            counter = FlopCounterMode(display=False)
            with counter:
                y = net.run_unit(unit.name, x, m)
            want = counter.get_total_flops() // 2
            col = "macs" if m == "full" else "macs_dropped"
            assert int(df.loc[unit.name, col]) == want, unit.name
            if m == "full":
                assert int(df.loc[unit.name, "output_bytes"]) == y[0].numel() * 4
                x = y
            else:
                x = net.run_unit(unit.name, x, "full")


@pytest.mark.parametrize("arch", ARCHS)
def test_weights_add_up_to_model(arch):
    df = C.unit_costs(arch)
    net = build(arch)
    n = sum(p.numel() for p in net.parameters())
    n += sum(b.numel() for b in net.buffers() if b.is_floating_point())
    assert int(df["weight_bytes"].sum()) == 4 * n
    assert (df["memory_bytes"] == df["weight_bytes"] + df["activation_bytes"]).all()


def test_dropped_identity_is_free_and_conv_keeps_projection():
    df = C.unit_costs("resnet50").set_index("name")
    assert df.loc["layer3.2", "macs_dropped"] == 0 and df.loc["layer3.2", "memory_bytes_dropped"] == 0
    # the projection: 1x1 conv 512 -> 1024, stride 2, output 14x14 at 224 px
    assert df.loc["layer3.0", "macs_dropped"] == 512 * 1024 * 14 * 14
    assert df.loc["layer3.0", "input_bytes"] == df.loc["layer2.3", "output_bytes"]


def test_bytes_per_element_scales():
    a = C.unit_costs("resnet18", image_size=32, bytes_per_element=4)
    b = C.unit_costs("resnet18", image_size=32, bytes_per_element=2)
    assert (a["memory_bytes"] == 2 * b["memory_bytes"]).all()
    assert (a["macs"] == b["macs"]).all()


def test_drop_savings():
    df = C.unit_costs("resnet50")
    s = C.drop_savings(df, ["layer3.2", "layer4.0"])
    assert s["macs_saved"] == 218365952 + (372506624 - 102760448)
    with pytest.raises(ValueError, match="cannot be dropped"):
        C.drop_savings(df, ["stem"])
    with pytest.raises(ValueError, match="unknown"):
        C.drop_savings(df, ["layer7.0"])


@pytest.mark.parametrize("kwargs,match", [(dict(image_size=4), "image_size"),
                                          (dict(bytes_per_element=3), "bytes_per_element"),
                                          (dict(arch="vgg"), "arch")])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.unit_costs(**kwargs)


def test_latency_and_energy_formulas():
    assert formulas.computation_latency(2.8e9, 1.4e9) == pytest.approx(2.0)
    assert formulas.transmission_latency(1_000_000, 8.0) == pytest.approx(1.0)
    assert formulas.request_latency(1.0, 0.5, 0.25) == pytest.approx(1.75)
    assert formulas.energy(2.0, 1.0, 8, 10) == pytest.approx(26.0)


COMMITTED = sorted((Path(__file__).resolve().parent.parent / "data" / "costs").glob("*.json"))


@pytest.mark.parametrize("path", slow_after(COMMITTED, 2), ids=[p.stem for p in COMMITTED])
def test_committed_unit_cost_tables_equal_the_torch_measurement(path):
    """The problem side reads data/costs/*.json instead of importing torch: each file must be
    exactly what ``adaptres.nn.costs`` measures now."""
    table = unit_costs.load(folder=path.parent, **{k: v for k, v in json.loads(path.read_text()).items()
                                                     if k in ("arch", "image_size", "num_classes", "stem",
                                                              "bytes_per_element")})
    fresh = C.unit_table(table.arch, table.image_size, table.num_classes, table.stem, table.bytes_per_element)
    assert fresh.units == table.units and fresh.input_bytes == table.input_bytes
    assert path.name == unit_costs.file_name(table.arch, table.image_size, table.num_classes, table.stem,
                                             table.bytes_per_element)


def test_committed_tables_cover_what_the_profiles_use_and_a_missing_one_says_how_to_make_it():
    from adaptres.experiments import profiles
    assert len(COMMITTED) >= 6
    assert unit_costs.load(**profiles.UNITS).total_macs == 4_087_156_736
    with pytest.raises(ValueError, match=r"no table for resnet18 at 64 px.*costs --arch resnet18 --image-size 64"):
        unit_costs.load("resnet18", 64)
