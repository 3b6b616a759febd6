"""A training recipe: everything that decides a training run (torch-free, so that profiles and the
command line can read and check it without loading torch)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

DATASETS = ("fashion-mnist", "cifar10")
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
STEMS = ("imagenet", "cifar")


def _int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _real(v, lo: float, hi: float, open_lo: bool = False) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and (v > lo if open_lo else v >= lo) and v <= hi)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run."""

    dataset: str = "fashion-mnist"
    arch: str = "resnet50"
    stem: str = "imagenet"
    image_size: int = 32
    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # "cosine" (linear warm-up, cosine decay, per step) or "constant"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True
    weights: str | None = None  # None, a file, or a torchvision weight name (paper: ImageNet)
    train_limit: int | None = None  # seeded subset sizes (None: whole split)
    test_limit: int | None = None
    seed: int = 0
    amp: bool | str = "auto"  # bf16 autocast; "auto": on CUDA, and on CPUs with native bf16 (AMX / AVX512-BF16)
    channels_last: bool = True
    eval_batch_size: int = 500

    def __post_init__(self):
        checks = [
            ("dataset", self.dataset in DATASETS, f"must be one of {', '.join(DATASETS)}"),
            ("arch", self.arch in ARCHS, f"must be one of {', '.join(ARCHS)}"),
            ("stem", self.stem in STEMS, f"must be one of {', '.join(STEMS)}"),
            ("image_size", _int(self.image_size, 8, 4096), "must be an integer in [8, 4096]"),
            ("epochs", _int(self.epochs, 1, 10_000), "must be an integer in [1, 10000]"),
            ("batch_size", _int(self.batch_size, 1, 1 << 20), "must be a positive integer"),
            ("eval_batch_size", _int(self.eval_batch_size, 1, 1 << 20), "must be a positive integer"),
            ("lr", _real(self.lr, 0, 100, open_lo=True), "must be a positive number (at most 100)"),
            ("momentum", _real(self.momentum, 0, 1) and self.momentum < 1, "must be in [0, 1)"),
            ("weight_decay", _real(self.weight_decay, 0, 1), "must be in [0, 1]"),
            ("schedule", self.schedule in ("cosine", "constant"), "must be 'cosine' or 'constant'"),
            ("warmup_epochs", _real(self.warmup_epochs, 0, 10_000), "must be a non-negative number"),
            ("label_smoothing", _real(self.label_smoothing, 0, 1) and self.label_smoothing < 1, "must be in [0, 1)"),
            ("train_limit", self.train_limit is None or _int(self.train_limit, 1, 1 << 40),
             "must be a positive integer or none (the whole split)"),
            ("test_limit", self.test_limit is None or _int(self.test_limit, 1, 1 << 40),
             "must be a positive integer or none (the whole split)"),
            ("seed", _int(self.seed, 0, 2**32 - 1), "must be an integer in [0, 2**32 - 1]"),
            ("amp", self.amp in (True, False, "auto"), "must be true, false or 'auto'"),
            ("weights", self.weights is None or (isinstance(self.weights, str) and self.weights != ""),
             "must be none, a file or a torchvision weight name"),
        ]
        for name in ("nesterov", "augment", "channels_last"):
            checks.append((name, isinstance(getattr(self, name), bool), "must be true or false"))
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"{name}: {why}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        """A short hash of every field: results carry it so they can be matched to their recipe."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, obj, where: str = "recipe") -> "Recipe":
        """A recipe from JSON (``recipe.json`` of a training run); unknown or bad fields are named."""
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: must be an object, got {type(obj).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(obj) - fields)
        if extra:
            raise ValueError(f"{where}: unknown field {extra[0]!r}")
        return cls(**obj)
