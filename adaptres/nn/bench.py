"""Throughput benchmark: the block-wise ResNet-50 against torchvision's, in one run.

Train (forward + backward + SGD step) and eval (forward, no grad) images per second, batch 64,
32 px, interleaved repeats so that both models see the same machine state. Two block-wise paths
are measured: ``forward`` with nothing dropped, and ``run_units`` (the unit-by-unit path that
drops and device slices use). Ratios are block-wise / torchvision (1.0 = same speed).
"""

from __future__ import annotations

import platform
import time

import torch
import torch.nn.functional as F
import torchvision

from .model import build
from .train import autocast, use_amp


def _train_step(model, opt, x, y, dev, amp, unitwise):
    with autocast(dev, amp):
        logits = model.run_units(x) if unitwise else model(x)
        loss = F.cross_entropy(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


@torch.no_grad()
def _eval_step(model, x, dev, amp, unitwise):
    with autocast(dev, amp):
        (model.run_units(x) if unitwise else model(x)).sum().item()


def run_model_bench(steps: int = 10, batch_size: int = 64, image_size: int = 32, repeats: int = 3,
                    amp: bool | str = "auto", device: str = "cpu", seed: int = 0) -> dict:
    dev = torch.device(device)
    torch.manual_seed(seed)
    ref = torchvision.models.resnet50(num_classes=10)
    ours = build("resnet50", num_classes=10, weights=ref.state_dict())
    models = {"torchvision": (ref, False), "blockwise_forward": (ours, False), "blockwise_run_units": (ours, True)}
    x = torch.randn(batch_size, 3, image_size, image_size, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=dev)
    opts = {}
    for name, (m, _) in models.items():
        m.to(dev).to(memory_format=torch.channels_last)
        opts[name] = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
    timings = {(name, mode): [] for name in models for mode in ("train", "eval")}
    for name, (m, unitwise) in models.items():  # warm-up
        m.train()
        _train_step(m, opts[name], x, y, dev, amp, unitwise)
        m.eval()
        _eval_step(m, x, dev, amp, unitwise)
    for _ in range(repeats):
        for name, (m, unitwise) in models.items():
            m.train()
            t0 = time.perf_counter()
            for _ in range(steps):
                _train_step(m, opts[name], x, y, dev, amp, unitwise)
            timings[(name, "train")].append(time.perf_counter() - t0)
            m.eval()
            t0 = time.perf_counter()
            for _ in range(steps):
                _eval_step(m, x, dev, amp, unitwise)
            timings[(name, "eval")].append(time.perf_counter() - t0)
    ips = {f"{name}_{mode}_img_per_s": steps * batch_size / min(ts) for (name, mode), ts in timings.items()}
    result = {"device": str(dev), "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "bf16_autocast": use_amp(amp, dev), "batch_size": batch_size, "image_size": image_size,
              "steps": steps, "repeats": repeats, **{k: round(v, 1) for k, v in ips.items()}}
    for path in ("blockwise_forward", "blockwise_run_units"):
        for mode in ("train", "eval"):
            result[f"ratio_{path}_{mode}"] = round(ips[f"{path}_{mode}_img_per_s"] / ips[f"torchvision_{mode}_img_per_s"], 3)
    return result


def run_ablation_bench(n_images: int = 200, image_size: int = 32, batch_size: int = 100, seed: int = 0,
                       amp: bool | str = "auto", device: str = "cpu") -> dict:
    """Ablation wall time with prefix reuse against the naive way (every configuration from the
    input), on the same ``n_images`` random images in one run; checks that both agree."""
    from . import ablation, data
    dev = torch.device(device)
    torch.manual_seed(seed)
    model = build("resnet50", num_classes=10).to(dev).eval()
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_images, 1, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n_images,), generator=g)
    fake = data.ImageSet("fashion-mnist", "test", images, labels, [str(i) for i in range(10)], "random")
    out = {}
    tables = {}
    for mode, reuse in (("reuse", True), ("naive", False)):
        t0 = time.perf_counter()
        tables[mode] = ablation.run(model, fake, image_size, dev, batch_size, amp, reuse=reuse, progress=False)
        out[f"{mode}_s"] = round(time.perf_counter() - t0, 2)
    out["speedup"] = round(out["naive_s"] / out["reuse_s"], 2)
    out["configurations"] = len(tables["reuse"])
    out["same_accuracies"] = bool((tables["reuse"]["correct"] == tables["naive"]["correct"]).all())
    return {"device": str(dev), "images": n_images, "image_size": image_size, "bf16_autocast": use_amp(amp, dev), **out}
