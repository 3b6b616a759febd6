import pytest
import torch

from adaptres.nn import data as D


def test_fashion_mnist_from_idx_gz(fmnist_root):
    train = D.load("fashion-mnist", "train", fmnist_root)
    test = D.load("fashion-mnist", "test", fmnist_root)
    assert train.images.shape == (64, 1, 28, 28) and train.images.dtype == torch.uint8
    assert len(test) == 32 and test.labels.dtype == torch.long
    assert train.classes[0] == "T-shirt/top"
    # decompressed next to the .gz files, in torchvision's layout
    assert (fmnist_root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_cifar10_from_pickled_batches(cifar_root):
    train = D.load("cifar10", "train", cifar_root)
    test = D.load("cifar10", "test", cifar_root)
    assert train.images.shape == (100, 3, 32, 32) and len(test) == 20
    assert train.classes[-1] == "truck"


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        D.load("fashion-mnist", "train", tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        D.load("cifar10", "train", tmp_path)


@pytest.mark.parametrize("name,split,match", [("mnist", "train", "dataset"), ("cifar10", "val", "split")])
def test_bad_names(name, split, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        D.load(name, split, tmp_path)


def test_prepare_shapes_and_seeded_augmentation(fmnist_root):
    ds = D.load("fashion-mnist", "train", fmnist_root)
    x = D.prepare(ds.images[:8], "fashion-mnist", 32)
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    a = D.prepare(ds.images[:8], "fashion-mnist", 32, train=True, generator=torch.Generator().manual_seed(1))
    b = D.prepare(ds.images[:8], "fashion-mnist", 32, train=True, generator=torch.Generator().manual_seed(1))
    c = D.prepare(ds.images[:8], "fashion-mnist", 32, train=True, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_subset_is_seeded(fmnist_root):
    ds = D.load("fashion-mnist", "train", fmnist_root)
    assert torch.equal(ds.subset(10, 3).labels, ds.subset(10, 3).labels)
    assert len(ds.subset(None)) == 64
