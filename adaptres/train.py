"""Training of the block-wise ResNet (paper §III): SGD with momentum, mixed precision, resumable.

Each epoch ends with an atomic checkpoint (model, optimiser, scheduler, history, RNG state); a killed
run started again with ``resume=True`` continues after the last finished epoch and ends with the
same weights as an uninterrupted run (every epoch's shuffling and augmentation come from a generator
seeded by (seed, epoch), so they do not depend on where a run started).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import data as D
from .model import build


@dataclass
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
            ("dataset", self.dataset in D.NAMES, f"must be one of {', '.join(D.NAMES)}"),
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "must be a positive integer"),
            ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1, "must be a positive integer"),
            ("lr", self.lr > 0, "must be positive"),
            ("image_size", isinstance(self.image_size, int) and self.image_size >= 8, "must be an integer ≥ 8"),
            ("schedule", self.schedule in ("cosine", "constant"), "must be 'cosine' or 'constant'"),
            ("momentum", 0 <= self.momentum < 1, "must be in [0, 1)"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"{name}: {why}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        """A short hash of every field: results carry it so they can be matched to their recipe."""
        import hashlib
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True where the CPU computes bf16 natively (AMX or AVX512-BF16). Elsewhere (an AVX2-only CPU,
    say) bf16 autocast is emulated and was measured many times slower than fp32. Read once per process:
    ``autocast`` asks at every training step."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def use_amp(amp: bool | str, device: torch.device) -> bool:
    if amp == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())
    return bool(amp)


def autocast(device: torch.device, amp: bool | str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp(amp, device))


def _lr_lambda(recipe: Recipe, steps_per_epoch: int):
    total = recipe.epochs * steps_per_epoch
    warm = int(recipe.warmup_epochs * steps_per_epoch)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if recipe.schedule == "constant":
            return 1.0
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


@torch.no_grad()
def evaluate(model, images: D.ImageSet, image_size: int, device: torch.device | str = "cpu",
             batch_size: int = 500, amp: bool | str = "auto", drop_dc=(), drop_sc=(), progress: bool = False) -> dict:
    """Accuracy (percent) and mean loss of ``model`` on a whole split, with optional drops."""
    device = torch.device(device)
    model.eval()
    correct, loss, n = 0, 0.0, len(images)
    for i in tqdm(range(0, n, batch_size), desc="eval", leave=False, disable=not progress):
        x = D.prepare(images.images[i:i + batch_size].to(device), images.name, image_size)
        y = images.labels[i:i + batch_size].to(device)
        with autocast(device, amp):
            logits = model(x, drop_dc=drop_dc, drop_sc=drop_sc)
        loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    return {"accuracy": 100.0 * correct / n, "loss": loss / n, "n": n}


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def train(recipe: Recipe, out_dir: str | Path, resume: bool = True, device: str | None = None,
          progress: bool = True, data_root: str | Path | None = None) -> pd.DataFrame:
    """Train per ``recipe`` into ``out_dir`` (checkpoint.pt, history.csv, recipe.json, model.pt).

    Returns the per-epoch history. With ``resume`` and a checkpoint of the same recipe in
    ``out_dir``, training continues after its last epoch; a checkpoint of another recipe is an error.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    seed_everything(recipe.seed)
    train_set = D.load(recipe.dataset, "train", data_root).subset(recipe.train_limit, recipe.seed)
    test_set = D.load(recipe.dataset, "test", data_root).subset(recipe.test_limit, recipe.seed)
    model = build(recipe.arch, num_classes=len(train_set.classes), stem=recipe.stem, weights=recipe.weights)
    model.to(dev)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    params_bn = [p for n, p in model.named_parameters() if p.ndim <= 1]
    params_w = [p for n, p in model.named_parameters() if p.ndim > 1]
    opt = torch.optim.SGD([{"params": params_w, "weight_decay": recipe.weight_decay},
                           {"params": params_bn, "weight_decay": 0.0}],
                          lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
    steps = math.ceil(len(train_set) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(recipe, steps))
    history: list[dict] = []
    start_epoch = 0
    ckpt_path = out_dir / "checkpoint.pt"
    recipe_dict = recipe.to_dict()
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt["recipe"] != recipe_dict:
            diff = sorted(k for k in recipe_dict if ckpt["recipe"].get(k) != recipe_dict[k])
            raise ValueError(f"resume: {ckpt_path} was written by another recipe (differs in {', '.join(diff)}); "
                             "use another out_dir or resume=False")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        history = ckpt["history"]
        start_epoch = ckpt["epoch"]
        _set_rng_state(ckpt["rng"])
    atomic_write_text(out_dir / "recipe.json", json.dumps(recipe_dict, indent=2))
    for epoch in range(start_epoch, recipe.epochs):
        model.train()
        gen = torch.Generator().manual_seed(recipe.seed * 100_003 + epoch)
        order = torch.randperm(len(train_set), generator=gen)
        t0 = time.perf_counter()
        seen, loss_sum, correct = 0, 0.0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{recipe.epochs}", disable=not progress, leave=False)
        for step in bar:
            idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
            x = D.prepare(train_set.images[idx].to(dev, non_blocking=True), recipe.dataset, recipe.image_size,
                          train=recipe.augment, generator=gen, channels_last=recipe.channels_last)
            y = train_set.labels[idx].to(dev, non_blocking=True)
            with autocast(dev, recipe.amp):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}")
        train_s = time.perf_counter() - t0
        ev = evaluate(model, test_set, recipe.image_size, dev, recipe.eval_batch_size, recipe.amp)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": 100 * correct / seen,
                        "test_loss": ev["loss"], "test_accuracy": ev["accuracy"], "lr": opt.param_groups[0]["lr"],
                        "train_s": train_s, "eval_s": time.perf_counter() - t0 - train_s,
                        "img_per_s": seen / train_s})
        if progress:
            h = history[-1]
            tqdm.write(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}, test accuracy "
                       f"{h['test_accuracy']:.2f}% ({h['img_per_s']:.0f} img/s)")
        state = {"recipe": recipe_dict, "epoch": epoch + 1, "model": model.state_dict(),
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "history": history,
                 "rng": _rng_state()}
        atomic_write_bytes(ckpt_path, lambda fh: torch.save(state, fh))
        atomic_write_text(out_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
    final = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(out_dir / "model.pt", lambda fh: torch.save(final, fh))
    return pd.DataFrame(history)


def load_trained(out_dir: str | Path, device: str = "cpu"):
    """The trained model and its recipe from a ``train`` output folder."""
    out_dir = Path(out_dir)
    path = out_dir / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"model: no trained model in {out_dir} (run training first)")
    recipe = Recipe(**json.loads((out_dir / "recipe.json").read_text()))
    n_classes = torch.load(path, map_location="cpu", weights_only=True)["fc.weight"].shape[0]
    model = build(recipe.arch, num_classes=n_classes, stem=recipe.stem, weights=path).to(device).eval()
    return model, recipe
