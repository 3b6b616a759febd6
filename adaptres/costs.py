"""Cost models: per-unit memory and multiplications (paper Eqs 1-2), latency and energy (Eqs 7-11, 19).

``unit_costs`` measures every unit of the block-wise ResNet by running it once on a *meta* tensor
(shapes only, no arithmetic) with a hook on each layer; Eq 2 is then evaluated from the layers'
shapes. The latency and energy functions are the scalar formulas that the evaluator, the MILP and
the heuristics all share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from .model import AdaptiveResNet, build

BITS_PER_BYTE = 8
MEGA = 1e6


# ---------------------------------------------------------------------------- Eqs 1 and 2
def multiplications(layer: nn.Module, out: torch.Tensor) -> int:
    """Eq 2: multiplications of one layer for one image.

    Convolution: K_h · K_w · C_in/groups · C_out · H_out · W_out; fully connected: in · out.
    Batch norm, ReLU, pooling and the residual addition are not counted (as in the paper).
    """
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return kh * kw * (layer.in_channels // layer.groups) * layer.out_channels * out.shape[-2] * out.shape[-1]
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    return 0


def memory_load(weight_elements: int, activation_elements: int, bytes_per_element: int = 4) -> int:
    """Eq 1: memory of a unit = (its weights + the outputs of all its layers for one image) · b."""
    return (weight_elements + activation_elements) * bytes_per_element


@dataclass
class _Trace:
    macs: int = 0
    activation_elements: int = 0
    layers: dict = field(default_factory=dict)  # id -> module, in call order, unique

    def hook(self, module, _inputs, output):
        if next(module.children(), None) is not None:
            return  # containers: their leaves are counted
        self.macs += multiplications(module, output)
        self.activation_elements += output.numel() // output.shape[0]
        self.layers.setdefault(id(module), module)

    @property
    def weight_elements(self) -> int:
        total = 0
        for m in self.layers.values():
            total += sum(p.numel() for p in m.parameters(recurse=False))
            total += sum(b.numel() for b in m.buffers(recurse=False) if b.is_floating_point())
        return total


def _trace_unit(model: AdaptiveResNet, name: str, x: torch.Tensor, mode: str) -> tuple[_Trace, torch.Tensor]:
    trace = _Trace()
    handle = torch.nn.modules.module.register_module_forward_hook(trace.hook)
    try:
        out = model.run_unit(name, x, mode)
    finally:
        handle.remove()
    return trace, out


def unit_costs(arch: str = "resnet50", image_size: int = 224, num_classes: int = 10,
               bytes_per_element: int = 4, stem: str = "imagenet") -> pd.DataFrame:
    """SPEC §2's cost table: one row per unit, in execution order.

    Columns: name, kind, macs, macs_dropped, weight_bytes, weight_bytes_dropped, activation_bytes,
    activation_bytes_dropped, memory_bytes, memory_bytes_dropped, output_bytes, input_bytes (what
    enters the unit). ``*_dropped`` is the unit with its direct connection dropped (NaN for stem
    and head). ``df.attrs`` holds the settings and ``input_bytes`` (the image).
    """
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size: must be an integer of at least 8, got {image_size!r}")
    if bytes_per_element not in (1, 2, 4, 8):
        raise ValueError(f"bytes_per_element: must be 1, 2, 4 or 8, got {bytes_per_element!r}")
    with torch.device("meta"):
        model = build(arch, num_classes=num_classes, stem=stem)
    model.eval()
    x = torch.empty(1, 3, image_size, image_size, device="meta")
    image_bytes = x.numel() * bytes_per_element
    rows = []
    with torch.no_grad():
        for unit in model.units:
            full, out = _trace_unit(model, unit.name, x, "full")
            row = {
                "name": unit.name, "kind": unit.kind,
                "macs": full.macs, "macs_dropped": None,
                "weight_bytes": full.weight_elements * bytes_per_element, "weight_bytes_dropped": None,
                "activation_bytes": full.activation_elements * bytes_per_element, "activation_bytes_dropped": None,
                "memory_bytes": memory_load(full.weight_elements, full.activation_elements, bytes_per_element),
                "memory_bytes_dropped": None,
                "output_bytes": out[0].numel() * bytes_per_element,
                "input_bytes": x[0].numel() * bytes_per_element,
            }
            if unit.droppable:
                dropped, _ = _trace_unit(model, unit.name, x, "drop_dc")
                row.update(macs_dropped=dropped.macs,
                           weight_bytes_dropped=dropped.weight_elements * bytes_per_element,
                           activation_bytes_dropped=dropped.activation_elements * bytes_per_element,
                           memory_bytes_dropped=memory_load(dropped.weight_elements, dropped.activation_elements,
                                                            bytes_per_element))
            rows.append(row)
            x = out
    df = pd.DataFrame(rows)
    for col in ("macs_dropped", "weight_bytes_dropped", "activation_bytes_dropped", "memory_bytes_dropped"):
        df[col] = df[col].astype("Int64")  # integers with NA for stem / head
    df.attrs.update(arch=arch, image_size=image_size, num_classes=num_classes,
                    bytes_per_element=bytes_per_element, stem=stem, input_bytes=image_bytes)
    return df


def drop_savings(costs: pd.DataFrame, dropped: list[str] | tuple[str, ...] | frozenset) -> dict:
    """Multiplications and memory saved by dropping the direct connections of ``dropped``."""
    sel = costs[costs["name"].isin(list(dropped))]
    if len(sel) != len(set(dropped)):
        unknown = sorted(set(dropped) - set(sel["name"]))
        raise ValueError(f"dropped: unknown unit(s) {unknown}")
    if sel["macs_dropped"].isna().any():
        raise ValueError(f"dropped: {sorted(sel[sel['macs_dropped'].isna()]['name'])} cannot be dropped")
    macs = int((sel["macs"] - sel["macs_dropped"]).sum())
    mem = int((sel["memory_bytes"] - sel["memory_bytes_dropped"]).sum())
    return {"macs_saved": macs, "memory_saved_bytes": mem,
            "macs_saved_pct": 100.0 * macs / int(costs["macs"].sum()),
            "memory_saved_pct": 100.0 * mem / int(costs["memory_bytes"].sum())}


# ---------------------------------------------------------------------------- Eqs 7-11, 19
def computation_latency(macs: float, macs_per_s: float) -> float:
    """Eq 9: time for a device of speed e_i (multiplications per second) to compute ``macs``."""
    return macs / macs_per_s


def transmission_latency(nbytes: float, rate_mbps: float) -> float:
    """Eqs 10-11: time to send ``nbytes`` over a link of ``rate_mbps`` megabits per second.

    Eq 10 is a direct-connection transfer (a block's output to the next block's device), Eq 11 a
    skip-connection transfer (data that passes a dropped block); both are size / rate.
    """
    return nbytes * BITS_PER_BYTE / (rate_mbps * MEGA)


def request_latency(computation_s: float, dc_transfer_s: float, sc_transfer_s: float) -> float:
    """Eqs 7-8: a request's latency is its computation plus its DC and SC transmission time."""
    return computation_s + dc_transfer_s + sc_transfer_s


def energy(compute_s: float, transmit_s: float, p_compute_w: float, p_transmit_w: float) -> float:
    """Eq 19: a device's energy = p_compute · computing time + p_transmit · sending time (joules)."""
    return p_compute_w * compute_s + p_transmit_w * transmit_s
