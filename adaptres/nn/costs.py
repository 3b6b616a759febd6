"""Measuring the cost of every unit (paper Eqs 1-2) with torch, and writing it as data.

``unit_costs`` runs every unit of the block-wise ResNet once on a *meta* tensor (shapes only, no
arithmetic) with a hook on each layer; Eqs 1 and 2 (``adaptres.problem.formulas``) are then
evaluated from the layers' shapes. ``unit_table`` turns the result into the table the problem
side reads (``adaptres.problem.unit_costs``), ``write_table`` commits it to ``data/costs/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from ..io import write_json
from ..paths import COSTS
from ..problem import formulas as F
from ..problem import unit_costs as data_tables
from ..problem.scenario import UNIT_FIELDS, Unit
from .model import AdaptiveResNet, build


# ---------------------------------------------------------------------------- Eqs 1 and 2
def multiplications(layer: nn.Module, out: torch.Tensor) -> int:
    """Eq 2: multiplications of one layer for one image.

    Convolution: K_h · K_w · C_in/groups · C_out · H_out · W_out; fully connected: in · out.
    Batch norm, ReLU, pooling and the residual addition are not counted (as in the paper).
    """
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return F.conv_multiplications(kh, kw, layer.in_channels, layer.out_channels, layer.groups,
                                      out.shape[-2], out.shape[-1])
    if isinstance(layer, nn.Linear):
        return F.linear_multiplications(layer.in_features, layer.out_features)
    return 0


memory_load = F.memory_load  # Eq 1


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


def unit_table(arch: str = "resnet50", image_size: int = 224, num_classes: int = 10, stem: str = "imagenet",
               bytes_per_element: int = 4) -> data_tables.UnitTable:
    """The problem side's table of ``unit_costs`` (SPEC §2's unit fields; integers, None for stem and head)."""
    df = unit_costs(arch, image_size, num_classes, bytes_per_element, stem)
    units = tuple(Unit(name=r["name"], kind=r["kind"], **{k: None if pd.isna(r[k]) else int(r[k]) for k in UNIT_FIELDS[2:]})
                  for r in df.to_dict("records"))
    return data_tables.UnitTable(arch, image_size, num_classes, stem, bytes_per_element, int(df.attrs["input_bytes"]),
                                 units, f"adaptres.nn.costs.unit_costs (torch {torch.__version__})")


def write_table(table: data_tables.UnitTable, folder=None):
    """Write ``table`` to ``data/costs/`` (or ``folder``) under its standard name; returns the path."""
    from pathlib import Path
    path = Path(folder or COSTS) / data_tables.file_name(table.arch, table.image_size, table.num_classes, table.stem,
                                                         table.bytes_per_element)
    write_json(path, table.to_dict())
    return path
