"""Image data: CIFAR-10 (the paper's) and Fashion-MNIST, through torchvision's dataset classes.

A split is loaded once into memory as uint8 tensors (N, C, H, W); ``prepare`` turns a batch into the
network's input on the device where it will run (grey → 3 channels, resize to ``image_size``,
normalise, and for training a random crop and flip). Doing this per batch with tensor operations is
much faster on two cores than per-image PIL transforms, and it runs the same on a GPU.

Sources, first found wins (all offline; nothing is downloaded unless ``download=True``):
1. ``root`` (default ``data/raw`` in the repository, or ``$ADAPTRES_DATA``) in torchvision's layout;
2. for Fashion-MNIST, the idx.gz files of Debian's package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``), unpacked into ``root`` on first use.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets

from ..paths import raw_data
from .recipe import DATASETS

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# per-channel statistics of the training sets (after grey → 3 channels for Fashion-MNIST)
STATS = {
    "fashion-mnist": ((0.2860, 0.2860, 0.2860), (0.3530, 0.3530, 0.3530)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
NAMES = DATASETS


class _CIFAR10Files(datasets.CIFAR10):
    """torchvision's CIFAR-10 reader, checking that the batch files exist rather than their MD5
    (so that a copy re-pickled elsewhere, or the small files the tests write, load too)."""

    train_list = [[name, None] for name, _ in datasets.CIFAR10.train_list]
    test_list = [[name, None] for name, _ in datasets.CIFAR10.test_list]
    meta = {**datasets.CIFAR10.meta, "md5": None}


@dataclass
class ImageSet:
    """One split in memory: uint8 images (N, C, H, W), int64 labels, class names."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> "ImageSet":
        """A seeded random subset of ``n`` images (all when ``n`` is None or ≥ the size)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return ImageSet(self.name, self.split, self.images[idx], self.labels[idx], self.classes,
                        f"{self.source} (subset of {n})")


def default_root() -> Path:
    return raw_data()


def _how_to_get(name: str, root: Path) -> str:
    if name == "fashion-mnist":
        return (f"dataset: Fashion-MNIST not found in {root}/FashionMNIST/raw or {DEBIAN_FASHION_MNIST}; "
                "install it with `apt-get install dataset-fashion-mnist` (Debian), copy the four "
                f"*-ubyte(.gz) files into {root}/FashionMNIST/raw, or, where the network allows, download it "
                "(`train --download`, or `load(..., download=True)`)")
    return (f"dataset: CIFAR-10 not found in {root}/cifar-10-batches-py; download the 'python version' "
            f"archive (cifar-10-python.tar.gz) and unpack it into {root}, or, where the network allows, "
            "download it (`train --download`, or `load(..., download=True)`)")


def _gunzip_into(raw: Path, gz_files) -> None:
    """Decompress idx.gz files into torchvision's raw folder (atomically, file by file)."""
    raw.mkdir(parents=True, exist_ok=True)
    for gz in gz_files:
        target = raw / gz.name[:-3]
        if target.exists():
            continue
        with gzip.open(gz, "rb") as src, tempfile.NamedTemporaryFile(dir=raw, delete=False) as tmp:
            shutil.copyfileobj(src, tmp)
        os.chmod(tmp.name, 0o644)  # readable like the files it came from (a temporary file is 0600)
        os.replace(tmp.name, target)


def _fashion_files_present(raw: Path) -> bool:
    return all((raw / f"{p}-{k}-idx{d}-ubyte").exists()
               for p in ("train", "t10k") for k, d in (("images", 3), ("labels", 1)))


def load(name: str, split: str = "train", root: str | Path | None = None, download: bool = False) -> ImageSet:
    """Load a whole split of ``fashion-mnist`` or ``cifar10`` into memory."""
    if name not in NAMES:
        raise ValueError(f"dataset: unknown dataset {name!r} (expected one of {', '.join(NAMES)})")
    if split not in ("train", "test"):
        raise ValueError(f"split: must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else default_root()
    if root.exists() and not root.is_dir():
        raise ValueError(f"dataset: the data root {root} is a file, not a folder (--data or $ADAPTRES_DATA)")
    try:
        return _load(name, split, root, download)
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, pickle.UnpicklingError) as exc:
        if str(exc).startswith("dataset:"):
            raise
        raise ValueError(f"dataset: {name} in {root} could not be read ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else 'damaged file'}); "
                         "replace the damaged files") from None


def _load(name: str, split: str, root: Path, download: bool) -> ImageSet:
    train = split == "train"
    if name == "fashion-mnist":
        raw = root / "FashionMNIST" / "raw"
        source = str(raw)
        if not _fashion_files_present(raw) and not download:
            # torchvision also accepts the .gz files; decompress them when only those are there
            if raw.exists():
                _gunzip_into(raw, raw.glob("*-ubyte.gz"))
            if not _fashion_files_present(raw) and DEBIAN_FASHION_MNIST.is_dir():
                _gunzip_into(raw, DEBIAN_FASHION_MNIST.glob("*-ubyte.gz"))
                source = f"{DEBIAN_FASHION_MNIST} (Debian dataset-fashion-mnist)"
        if not _fashion_files_present(raw) and not download:
            raise FileNotFoundError(_how_to_get(name, root))
        ds = datasets.FashionMNIST(root, train=train, download=download)
        images = ds.data.unsqueeze(1).contiguous()  # (N, 1, 28, 28) uint8
        labels = ds.targets.long()
    else:
        folder = root / _CIFAR10Files.base_folder
        if not folder.is_dir() and not download:
            raise FileNotFoundError(_how_to_get(name, root))
        cls = datasets.CIFAR10 if download else _CIFAR10Files
        try:
            ds = cls(root, train=train, download=download)
        except RuntimeError as exc:
            raise FileNotFoundError(f"{_how_to_get(name, root)} ({exc})") from None
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32) uint8
        labels = torch.as_tensor(ds.targets, dtype=torch.long)
        source = str(folder)
    return ImageSet(name, split, images, labels, list(ds.classes), source)


def prepare(images: torch.Tensor, dataset: str, image_size: int, train: bool = False,
            generator: torch.Generator | None = None, channels_last: bool = True) -> torch.Tensor:
    """A uint8 batch (B, C, h, w) → the float network input (B, 3, image_size, image_size).

    Training adds the standard augmentation: a random crop of the image padded by 1/8 of its side
    and a random horizontal flip, drawn from ``generator`` (so a seed fixes them).
    """
    x = images.float().div_(255)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if train:
        b, _, h, w = x.shape
        pad = max(1, h // 8)
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        gen_dev = generator.device if generator is not None else x.device
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=gen_dev).to(x.device)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=gen_dev).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device)[None, :])  # (b, h)
        cols = (ox[:, None] + torch.arange(w, device=x.device)[None, :])  # (b, w)
        x = x[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(3, device=x.device)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
        flip = torch.rand(b, generator=generator, device=gen_dev).to(x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                          antialias=image_size < images.shape[-1])
    mean, std = STATS[dataset]
    x = (x - torch.tensor(mean, device=x.device)[:, None, None]) / torch.tensor(std, device=x.device)[:, None, None]
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
