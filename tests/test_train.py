import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from adaptres.nn import train as T

REPO = Path(__file__).resolve().parent.parent
TINY = dict(dataset="fashion-mnist", arch="resnet18", stem="imagenet", image_size=32, batch_size=16, lr=0.02,
            warmup_epochs=0.5, amp=False)


@pytest.mark.slow
def test_same_seed_same_weights(fmnist_root, tmp_path):
    r = T.Recipe(epochs=2, seed=5, **TINY)
    h1 = T.train(r, tmp_path / "a", data_root=fmnist_root, progress=False)
    h2 = T.train(r, tmp_path / "b", data_root=fmnist_root, progress=False)
    a = torch.load(tmp_path / "a" / "model.pt")
    b = torch.load(tmp_path / "b" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert h1["test_accuracy"].tolist() == h2["test_accuracy"].tolist()
    assert list(h1.columns[:5]) == ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]
    c = T.train(T.Recipe(epochs=2, seed=6, **TINY), tmp_path / "c", data_root=fmnist_root, progress=False)
    assert not torch.equal(torch.load(tmp_path / "c" / "model.pt")["fc.weight"], a["fc.weight"])
    assert len(c) == 2


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    from conftest import make_fashion_mnist
    root = make_fashion_mnist(tmp_path / "data", n_train=192, n_test=32)
    args = ["--profile", "fast", "--data", str(root)]
    for k, v in dict(TINY, epochs=3, seed=1, train_limit="none", test_limit="none").items():
        args += ["--set", f"{k}={v}"]
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONPATH=str(REPO))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "adaptres", "train", "--out", str(out), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoint.pt"
    for line in proc.stderr:  # the run's log: kill it as soon as its first checkpoint is written
        if "epoch 1 of 3: checkpoint written" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (out / "model.pt").exists(), "the run was not killed mid-way"
    done_before = torch.load(ckpt, weights_only=False)["epoch"]
    assert 1 <= done_before < 3
    # resume in-process, and compare with a run that was never interrupted
    recipe = T.Recipe(**json.loads((out / "recipe.json").read_text()))
    hist = T.train(recipe, out, data_root=root, progress=False)
    assert len(hist) == 3
    T.train(recipe, tmp_path / "straight", data_root=root, progress=False)
    a = torch.load(out / "model.pt")
    b = torch.load(tmp_path / "straight" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_refuses_another_recipe(fmnist_root, tmp_path):
    T.train(T.Recipe(epochs=1, **TINY), tmp_path / "r", data_root=fmnist_root, progress=False)
    with pytest.raises(ValueError, match="another recipe"):
        T.train(T.Recipe(epochs=1, **{**TINY, "lr": 0.5}), tmp_path / "r", data_root=fmnist_root, progress=False)


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -1.0), ("dataset", "mnist"), ("schedule", "step")])
def test_bad_recipe(field, value):
    with pytest.raises(ValueError, match=field):
        T.Recipe(**{field: value})


def test_cli_bad_input_exit_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "adaptres", "train", "--profile", "nope", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "profile" in r.stderr
    r = subprocess.run([sys.executable, "-m", "adaptres", "train", "--set", "color=red", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--set" in r.stderr


def test_drop_path_drops_a_block_as_inference_does(monkeypatch):
    """A dropped branch in training is the block's shortcut only, exactly as drop_dc runs it (SPEC §1)."""
    import timm.layers

    from adaptres.nn.model import build
    torch.manual_seed(0)
    net = build("resnet18").eval()
    x = torch.randn(2, 3, 32, 32)
    blocks = net.block_names()
    with torch.no_grad():
        assert torch.equal(net.forward_drop_path(x, [0.5] * len(blocks)), net(x))  # eval: nothing dropped
        monkeypatch.setattr(timm.layers, "drop_path", lambda b, p, training, scale_by_keep: b * 0)
        every = net.forward_drop_path(x, [0.5] * len(blocks))
        assert torch.allclose(every, net(x, drop_dc=blocks), atol=1e-6)


@pytest.mark.slow
def test_drop_aware_recipe_trains_from_its_epoch_and_keeps_old_hashes(fmnist_root, tmp_path):
    standard = T.Recipe(epochs=2, seed=2, **TINY)
    aware = T.Recipe(epochs=2, seed=2, drop_path=0.5, drop_path_from_epoch=1, sandwich=True, distill=0.5, **TINY)
    h1 = T.train(standard, tmp_path / "s", data_root=fmnist_root, progress=False)
    h2 = T.train(aware, tmp_path / "d", data_root=fmnist_root, progress=False)
    assert h1.test_accuracy[0] == h2.test_accuracy[0] and h1.train_loss[0] == h2.train_loss[0]  # epoch 1: standard
    assert h1.train_loss[1] != h2.train_loss[1]  # epoch 2: drop path with the full network beside it
    assert aware.sha256() != standard.sha256()
    # a recipe at the defaults of the later fields hashes as before they existed
    fields = {k: v for k, v in standard.to_dict().items() if k not in T.LATER_FIELDS}
    import hashlib
    assert standard.sha256() == hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    assert aware.drop_rates(4) == [0.125, 0.25, 0.375, 0.5]
    with pytest.raises(ValueError, match="distill"):
        T.Recipe(distill=0.5)  # distillation needs the full network's pass (sandwich)


def test_full_weight_weights_the_full_networks_loss_only():
    """With sandwich, the step's loss is full_weight x the full network's loss + the drop-path pass's: a weight of
    3 adds twice the full network's loss; without sandwich the weight is refused (there is no full pass)."""
    from adaptres.nn.model import build
    torch.manual_seed(0)
    net = build("resnet18", num_classes=10)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    full = torch.nn.functional.cross_entropy(net.eval()(x), y)
    losses = {}
    for w in (1.0, 3.0):
        recipe = T.Recipe(drop_path=0.5, sandwich=True, distill=0.5, full_weight=w)
        torch.manual_seed(1)
        losses[w], _ = T._step_loss(net.eval(), x, y, recipe, [0.5] * len(net.block_names()))
    assert losses[3.0].item() == pytest.approx(losses[1.0].item() + 2 * full.item(), rel=1e-5)
    with pytest.raises(ValueError, match="full_weight"):
        T.Recipe(drop_path=0.5, full_weight=2.0)
    with pytest.raises(ValueError, match="full_weight"):
        T.Recipe(drop_path=0.5, sandwich=True, full_weight=0.0)


def test_train_command_takes_the_profiles_drop_aware_recipe():
    import argparse

    from adaptres.cli.nn import recipe_of
    from adaptres.experiments import profiles
    args = argparse.Namespace(profile="cpu", set=["epochs=6"], drop_aware=True)
    got = recipe_of(args)
    want = profiles.recipes("cpu")["dropaware"]
    assert got.drop_path == want.drop_path == 0.2 and got.sandwich and got.distill == 0.5
    assert got.drop_path_from_epoch == 3 and got.epochs == 6  # the second half of the given budget
    assert recipe_of(argparse.Namespace(profile="cpu", set=None, drop_aware=False)) == profiles.get("cpu").recipe


def test_a_recipe_probe_row_replaces_its_earlier_row_and_keeps_the_header(tmp_path, monkeypatch):
    """The probes' table: a probe measured again replaces its row; rows from before ``full_weight`` read 1."""
    from adaptres.experiments import recipe_probes as P
    table = tmp_path / "probes.csv"
    table.write_text("# what: probes\n# seed: 0\nprobe,full_accuracy\nP0,74.29\nQ1,60.0\n")
    monkeypatch.setattr(P, "TABLE", table)
    P.record({"probe": "Q1", "full_accuracy": 71.5, "full_weight": 2.0})
    got = pd.read_csv(table, comment="#")
    assert list(got.probe) == ["P0", "Q1"] and list(got.full_accuracy) == [74.29, 71.5]
    assert list(got.full_weight) == [1.0, 2.0] and "# what: probes" in table.read_text()
    q1 = P.recipe("Q1_uni0.35_sw_d0.5_from1_full2")
    assert q1.full_weight == 2.0 and q1.drop_path == 0.35  # a probe's name says its rate, whatever the recipe's
