import pytest
import torch
import torchvision
from conftest import slow_after

from adaptres.nn import model as M

ARCHS = slow_after(["resnet50", "resnet18", "resnet34", "resnet101", "resnet152"], 2)  # the paper's, a basic-block one


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_equal_torchvision(arch):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, arch)(num_classes=10).eval()
    # non-trivial BN statistics, so that a wrong wiring cannot hide behind identity BNs
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    net = M.build(arch, num_classes=10, weights=ref.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = ref(x)
        assert (net(x) - want).abs().max().item() <= 1e-5
        # the unit-by-unit path is the same computation
        assert (net.run_units(x) - want).abs().max().item() <= 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_units_and_kinds(arch):
    net = M.build(arch)
    names = [u.name for u in net.units]
    assert names[0] == "stem" and names[-1] == "head"
    assert list(net.units) == list(M.unit_list(arch))
    block, layers = M.LAYOUTS[arch]
    assert len(names) == sum(layers) + 2
    kinds = {u.name: u.kind for u in net.units}
    for stage in range(2, 5):
        assert kinds[f"layer{stage}.0"] == "conv"
    assert kinds["layer1.0"] == ("conv" if block is torchvision.models.resnet.Bottleneck else "identity")
    # unit names are the state-dict prefixes people know
    keys = net.state_dict().keys()
    for name in names[1:-1]:
        assert any(k.startswith(name + ".") for k in keys)


def test_resnet50_has_18_units():
    assert len(M.unit_list("resnet50")) == 18
    assert M.droppable_units("resnet50")[:2] == ["layer1.0", "layer1.1"]


def _manual_forward(net, x, dc, sc):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    for stage in range(1, 5):
        for idx, blk in enumerate(getattr(net, f"layer{stage}")):
            name = f"layer{stage}.{idx}"
            shortcut = blk.downsample(x) if blk.downsample is not None else x
            branch = blk.bn3(blk.conv3(blk.relu(blk.bn2(blk.conv2(blk.relu(blk.bn1(blk.conv1(x))))))))
            if name in dc:
                x = torch.relu(shortcut)
            elif name in sc:
                x = torch.relu(branch)
            else:
                x = torch.relu(branch + shortcut)
    return net.fc(torch.flatten(net.avgpool(x), 1))


@pytest.mark.parametrize("dc,sc", [({"layer1.1"}, set()), ({"layer2.0", "layer3.4"}, set()),
                                   (set(), {"layer1.0"}), ({"layer4.0"}, {"layer3.2"})])
def test_drops_match_definition(dc, sc):
    torch.manual_seed(1)
    net = M.build("resnet50").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = net(x, drop_dc=dc, drop_sc=sc)
        want = _manual_forward(net, x, dc, sc)
        full = net(x)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, full, atol=1e-4)


def test_slices_compose():
    torch.manual_seed(2)
    net = M.build("resnet18", stem="cifar").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        mid = net.run_units(x, 0, "layer2.1", drop_dc={"layer1.1"})
        out = net.run_units(mid, "layer3.0", None, drop_dc={"layer1.1"})
        assert torch.allclose(out, net(x, drop_dc={"layer1.1"}), atol=1e-5)
        # a dropped identity block is a pass-through
        y = net.run_units(x, 0, 1)
        assert torch.equal(net.run_unit("layer1.1", y, "drop_dc"), y)


def test_cifar_stem_keeps_resolution():
    net = M.build("resnet50", stem="cifar")
    with torch.no_grad():
        y = net.run_units(torch.randn(1, 3, 28, 28), 0, 1)
    assert y.shape == (1, 64, 28, 28)


@pytest.mark.parametrize("kwargs,match", [
    (dict(arch="resnet51"), "arch"),
    (dict(stem="tiny"), "stem"),
    (dict(num_classes=0), "num_classes"),
    (dict(weights="/no/such/file.pt"), "weights"),
    (dict(weights="IMAGENET9K"), "weights"),
])
def test_build_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.build(**kwargs)


@pytest.mark.slow
def test_mismatched_weights_rejected(tmp_path):
    other = torchvision.models.resnet18(num_classes=10).state_dict()
    with pytest.raises(ValueError, match="weights: do not match resnet50"):
        M.build("resnet50", weights=other)
    path = tmp_path / "w.pt"
    torch.save(torchvision.models.resnet50(num_classes=10).state_dict(), path)
    with pytest.raises(ValueError, match="another shape"):
        M.build("resnet50", stem="cifar", weights=path)


def test_weights_file_and_imagenet_head(tmp_path):
    torch.manual_seed(3)
    ref = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "imagenet_like.pth"
    torch.save(ref.state_dict(), path)
    net = M.build("resnet18", num_classes=10, weights=str(path))
    assert torch.equal(net.layer4[1].conv2.weight, ref.layer4[1].conv2.weight)
    assert net.fc.out_features == 10  # classifier re-initialised for the new task


def test_torchvision_weight_name_offline_is_clear(monkeypatch):
    from torchvision.models import ResNet18_Weights

    def boom(self, *a, **k):
        raise OSError("no network")
    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", boom)
    with pytest.raises(ValueError, match="could not fetch"):
        M.build("resnet18", weights="ResNet18_Weights.IMAGENET1K_V1")


@pytest.mark.parametrize("dc,sc,match", [
    ({"stem"}, set(), "cannot be dropped"),
    ({"head"}, set(), "cannot be dropped"),
    (set(), {"layer9.0"}, "unknown unit"),
    ({"layer2.0"}, {"layer2.0"}, "both"),
])
def test_bad_drops(dc, sc, match):
    net = M.build("resnet50")
    with pytest.raises(ValueError, match=match):
        net(torch.randn(1, 3, 32, 32), drop_dc=dc, drop_sc=sc)


def test_every_recipe_architecture_has_a_layout():
    from adaptres.nn import model, recipe
    assert tuple(model.LAYOUTS) == recipe.ARCHS
