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


LATER_FIELDS = {"drop_path": 0.0, "drop_path_schedule": "linear", "drop_path_from_epoch": 0, "sandwich": False,
                "distill": 0.0, "full_weight": 1.0}


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
    # drop-aware training (at their defaults they do not enter the hash: ``sha256``, ``LATER_FIELDS``)
    drop_path: float = 0.0  # the largest per-sample rate at which a block's residual branch is dropped
    drop_path_schedule: str = "linear"  # "linear": rising with depth to drop_path; "uniform": every block drop_path
    drop_path_from_epoch: int = 0  # epochs of standard training before drop path starts
    sandwich: bool = False  # each step also trains the full network; the drop-path pass learns from it too
    distill: float = 0.0  # with sandwich: weight of distillation from the full network in the drop-path pass's loss
    full_weight: float = 1.0  # with sandwich: weight of the full network's loss against the drop-path pass's

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
        checks += [
            ("drop_path", _real(self.drop_path, 0, 1) and self.drop_path < 1, "must be in [0, 1)"),
            ("drop_path_schedule", self.drop_path_schedule in ("linear", "uniform"), "must be 'linear' or 'uniform'"),
            ("drop_path_from_epoch", _int(self.drop_path_from_epoch, 0, 10_000), "must be a non-negative integer"),
            ("distill", _real(self.distill, 0, 1) and (self.sandwich or self.distill == 0),
             "must be in [0, 1], and 0 unless sandwich is true"),
            ("full_weight", _real(self.full_weight, 0, 100, open_lo=True) and (self.sandwich or self.full_weight == 1),
             "must be in (0, 100], and 1 unless sandwich is true"),
        ]
        for name in ("nesterov", "augment", "channels_last", "sandwich"):
            checks.append((name, isinstance(getattr(self, name), bool), "must be true or false"))
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"{name}: {why}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        """A short hash of every field: results carry it so they can be matched to their recipe. Fields
        added after the first results were committed count only when they differ from their defaults."""
        fields = {k: v for k, v in self.to_dict().items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def drop_aware(self) -> bool:
        return self.drop_path > 0

    def drop_rates(self, n_blocks: int) -> list[float]:
        """Each block's drop-path rate: rising linearly with depth to ``drop_path``, or all equal."""
        if self.drop_path_schedule == "uniform":
            return [self.drop_path] * n_blocks
        return [self.drop_path * (b + 1) / n_blocks for b in range(n_blocks)]

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
