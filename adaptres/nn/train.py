"""Training of the block-wise ResNet (paper §III): SGD with momentum, mixed precision, resumable.

Each epoch ends with an atomic checkpoint (model, optimiser, scheduler, history, RNG state); a killed
run started again with ``resume=True`` continues after the last finished epoch and ends with the
same weights as an uninterrupted run (every epoch's shuffling and augmentation come from a generator
seeded by (seed, epoch), so they do not depend on where a run started).
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..io import atomic_write_bytes, atomic_write_text
from ..progress import bar, tqdm
from . import data as D
from .model import build
from .recipe import LATER_FIELDS, Recipe


def pick_device(device: str | None = None) -> torch.device:
    """``device`` checked (cpu, cuda, cuda:N, mps, and there), or CUDA when present, else the CPU."""
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"device: {device!r} is not a device (cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"device: {device!r} asked for, but this machine has no CUDA GPU (use cpu)")
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"device: {device!r} asked for, but this machine has {n} CUDA GPU(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: {device!r} asked for, but MPS is not available here (use cpu)")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device: {device!r} is not supported (cpu, cuda, cuda:N or mps)")
    return dev


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


def precision(amp: bool | str, device: torch.device | str) -> str:
    """What a recipe's ``amp`` computes in on ``device`` (for provenance headers): "bf16" or "fp32"."""
    return "bf16" if use_amp(amp, torch.device(device)) else "fp32"


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
    for i in bar(range(0, n, batch_size), desc="eval", leave=False, progress=progress):
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


def _optimiser(model, recipe: Recipe, steps: int):
    """SGD with momentum (no weight decay on BN and biases) and the recipe's per-step schedule."""
    params_bn = [p for n, p in model.named_parameters() if p.ndim <= 1]
    params_w = [p for n, p in model.named_parameters() if p.ndim > 1]
    opt = torch.optim.SGD([{"params": params_w, "weight_decay": recipe.weight_decay},
                           {"params": params_bn, "weight_decay": 0.0}],
                          lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(recipe, steps))


def read_checkpoint(path: Path) -> dict:
    """A training checkpoint, or a one-line error when it is damaged (truncated by a crash, say)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file (zip, pickle, EOF)
        raise ValueError(f"checkpoint: {path} is damaged ({type(exc).__name__}); delete it, or use --restart "
                         "to train from scratch") from None
    keys = ("recipe", "epoch", "model", "optimizer", "scheduler", "history", "rng")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in keys):
        raise ValueError(f"checkpoint: {path} is not an adaptres training checkpoint; delete it or use --restart")
    return ckpt


def _resume(ckpt_path: Path, recipe: Recipe, model, opt, sched) -> tuple[list[dict], int]:
    """Continue from a checkpoint of the same recipe: (history, epochs done)."""
    ckpt = read_checkpoint(ckpt_path)
    recipe_dict = recipe.to_dict()
    saved = {**LATER_FIELDS, **ckpt["recipe"]}  # a checkpoint from before a field existed has its default
    if saved != recipe_dict:
        diff = sorted(k for k in recipe_dict if saved.get(k) != recipe_dict[k])
        raise ValueError(f"resume: {ckpt_path} was written by another recipe (differs in {', '.join(diff)}); "
                         "use another out_dir or resume=False (--restart)")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    _set_rng_state(ckpt["rng"])
    return ckpt["history"], ckpt["epoch"]


def _step_loss(model, x, y, recipe: Recipe, rates: list[float] | None):
    """One step's loss and the logits its accuracy is counted on. Without ``rates``: the standard loss.
    With them (drop-aware epochs): the drop-path pass, and with ``sandwich`` the full network too, the
    drop-path pass then also learning the full network's (detached) predictions (``distill``), the full
    network's own loss weighted by ``full_weight``."""
    ce = lambda logits: F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
    if rates is None:
        logits = model(x)
        return ce(logits), logits
    sub = model.forward_drop_path(x, rates)
    if not recipe.sandwich:
        return ce(sub), sub
    full = model(x)
    loss = recipe.full_weight * ce(full) + (1 - recipe.distill) * ce(sub)
    if recipe.distill:
        teacher = F.softmax(full.detach().float(), dim=1)
        loss = loss + recipe.distill * F.kl_div(F.log_softmax(sub.float(), dim=1), teacher, reduction="batchmean")
    return loss, full


def _epoch(model, opt, sched, recipe: Recipe, train_set: D.ImageSet, epoch: int, steps: int, dev,
           progress: bool) -> dict:
    """One epoch of training; returns its loss, accuracy, time and throughput."""
    model.train()
    gen = torch.Generator().manual_seed(recipe.seed * 100_003 + epoch)
    order = torch.randperm(len(train_set), generator=gen)
    rates = recipe.drop_rates(len(model.block_names())) \
        if recipe.drop_aware and epoch >= recipe.drop_path_from_epoch else None
    t0 = time.perf_counter()
    seen, loss_sum, correct = 0, 0.0, 0
    pbar = bar(range(steps), desc=f"epoch {epoch + 1}/{recipe.epochs}{' (drop path)' if rates else ''}",
               progress=progress, leave=False)
    for step in pbar:
        idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
        x = D.prepare(train_set.images[idx].to(dev, non_blocking=True), recipe.dataset, recipe.image_size,
                      train=recipe.augment, generator=gen, channels_last=recipe.channels_last)
        y = train_set.labels[idx].to(dev, non_blocking=True)
        with autocast(dev, recipe.amp):
            loss, logits = _step_loss(model, x, y, recipe, rates)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        seen += len(y)
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        pbar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}")
    train_s = time.perf_counter() - t0
    return {"train_loss": loss_sum / seen, "train_accuracy": 100 * correct / seen, "train_s": train_s,
            "img_per_s": seen / train_s}


def train(recipe: Recipe, out_dir: str | Path, resume: bool = True, device: str | None = None,
          progress: bool = True, data_root: str | Path | None = None, download: bool = False,
          log=None) -> pd.DataFrame:
    """Train per ``recipe`` into ``out_dir`` (checkpoint.pt, history.csv, recipe.json, model.pt).

    Returns the per-epoch history; ``log`` (a stream) gets a line as each epoch's checkpoint is written.
    With ``resume`` and a checkpoint of the same recipe in
    ``out_dir``, training continues after its last epoch; a checkpoint of another recipe is an error.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out: {out_dir} is a file, not a folder")
    dev = pick_device(device)
    seed_everything(recipe.seed)
    train_set = D.load(recipe.dataset, "train", data_root, download).subset(recipe.train_limit, recipe.seed)
    test_set = D.load(recipe.dataset, "test", data_root, download).subset(recipe.test_limit, recipe.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build(recipe.arch, num_classes=len(train_set.classes), stem=recipe.stem, weights=recipe.weights)
    model.to(dev)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    steps = math.ceil(len(train_set) / recipe.batch_size)
    opt, sched = _optimiser(model, recipe, steps)
    history, start_epoch = [], 0
    ckpt_path = out_dir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        history, start_epoch = _resume(ckpt_path, recipe, model, opt, sched)
    atomic_write_text(out_dir / "recipe.json", json.dumps(recipe.to_dict(), indent=2))
    for epoch in range(start_epoch, recipe.epochs):
        t0 = time.perf_counter()
        h = _epoch(model, opt, sched, recipe, train_set, epoch, steps, dev, progress)
        ev = evaluate(model, test_set, recipe.image_size, dev, recipe.eval_batch_size, recipe.amp)
        history.append({"epoch": epoch + 1, "train_loss": h["train_loss"], "train_accuracy": h["train_accuracy"],
                        "test_loss": ev["loss"], "test_accuracy": ev["accuracy"], "lr": opt.param_groups[0]["lr"],
                        "train_s": h["train_s"], "eval_s": time.perf_counter() - t0 - h["train_s"],
                        "img_per_s": h["img_per_s"]})
        if progress:
            tqdm.write(f"epoch {epoch + 1}: train loss {h['train_loss']:.4f}, test accuracy "
                       f"{ev['accuracy']:.2f}% ({h['img_per_s']:.0f} img/s)")
        state = {"recipe": recipe.to_dict(), "epoch": epoch + 1, "model": model.state_dict(),
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "history": history,
                 "rng": _rng_state()}
        atomic_write_bytes(ckpt_path, lambda fh, state=state: torch.save(state, fh))
        atomic_write_text(out_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
        if log is not None:
            print(f"epoch {epoch + 1} of {recipe.epochs}: checkpoint written", file=log, flush=True)
    final = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(out_dir / "model.pt", lambda fh: torch.save(final, fh))
    return pd.DataFrame(history)


def load_trained(out_dir: str | Path, device: str = "cpu", weights: str | Path | None = None,
                 recipe: Recipe | None = None):
    """The trained model and its recipe from a ``train`` output folder (``weights`` and ``recipe``:
    another weights file, fp16 or fp32, and the recipe when the folder is not at hand)."""
    out_dir = Path(out_dir)
    path = Path(weights) if weights is not None else out_dir / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"weights: {path} does not exist" if weights is not None else
                                f"model: no trained model in {out_dir} (run training first)")
    if recipe is None:
        from ..io import read_json
        recipe = Recipe.from_dict(read_json(out_dir / "recipe.json", "recipe"), where=f"recipe ({out_dir / 'recipe.json'})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        n_classes = state["fc.weight"].shape[0]
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise ValueError(f"model: {path} is not a trained adaptres model ({type(exc).__name__})") from None
    model = build(recipe.arch, num_classes=n_classes, stem=recipe.stem, weights=state).to(device).eval()
    return model, recipe


def save_weights_fp16(model_pt: str | Path, dest: str | Path) -> None:
    """A trained model's state dict in fp16 (half the size, for committing), written atomically."""
    state = torch.load(model_pt, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    atomic_write_bytes(Path(dest), lambda fh: torch.save(half, fh))
