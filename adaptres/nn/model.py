"""The block-wise adaptive ResNet (SPEC §1, paper §III).

A ResNet is a chain of *units*: ``stem``, the residual blocks named as in torchvision's state dict
(``layer1.0`` ... ``layer4.2``) and ``head``. Any block can be run whole, with its direct
connection dropped (``drop_dc``: the residual branch is skipped, only the shortcut remains) or with
its skip connection dropped (``drop_sc``: the branch runs, no addition).

The module *is* a torchvision ``ResNet`` (same attributes, same state-dict keys), so torchvision's
weights load unchanged and, with nothing dropped, the logits equal torchvision's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import torch
from torch import Tensor, nn
from torchvision.models import resnet as tv_resnet

from ..problem.scenario import DROPPABLE
from .recipe import ARCHS, STEMS

Block: TypeAlias = tv_resnet.BasicBlock | tv_resnet.Bottleneck  # a residual block: a unit that can be dropped

# each architecture of ``recipe.ARCHS``: its block and the blocks per stage (torchvision's layouts)
LAYOUTS = {
    "resnet18": (tv_resnet.BasicBlock, [2, 2, 2, 2]),
    "resnet34": (tv_resnet.BasicBlock, [3, 4, 6, 3]),
    "resnet50": (tv_resnet.Bottleneck, [3, 4, 6, 3]),
    "resnet101": (tv_resnet.Bottleneck, [3, 4, 23, 3]),
    "resnet152": (tv_resnet.Bottleneck, [3, 8, 36, 3]),
}


@dataclass(frozen=True)
class UnitSpec:
    """One unit of the chain: its torchvision name and its kind (stem / conv / identity / head)."""

    name: str
    kind: str

    @property
    def droppable(self) -> bool:
        return self.kind in DROPPABLE


def _block_branch(block: Block, x: Tensor) -> Tensor:
    """The residual branch (the paper's direct connection) of a basic or bottleneck block."""
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    if isinstance(block, tv_resnet.Bottleneck):
        out = block.bn3(block.conv3(block.relu(out)))
    return out


def run_block(block: Block, x: Tensor, mode: str = "full") -> Tensor:
    """Run one residual block: ``full``, ``drop_dc`` (shortcut only) or ``drop_sc`` (branch only)."""
    if mode == "full":
        return block(x)
    if mode == "drop_dc":
        if block.downsample is None:
            return x  # identity block: a pass-through (x is already the output of a ReLU)
        return block.relu(block.downsample(x))
    if mode == "drop_sc":
        return block.relu(_block_branch(block, x))
    raise ValueError(f"mode: must be 'full', 'drop_dc' or 'drop_sc', got {mode!r}")


class AdaptiveResNet(tv_resnet.ResNet):
    """torchvision's ResNet, run unit by unit, with blocks that can be dropped.

    ``units`` lists the units in execution order; ``forward(x, drop_dc, drop_sc)`` runs them all;
    ``run_units(x, start, stop, ...)`` runs a slice (one device's share of a plan, or the suffix
    after a cached prefix in the ablation).
    """

    def __init__(self, arch: str, num_classes: int = 10, stem: str = "imagenet"):
        block, layers = LAYOUTS[arch]
        super().__init__(block, layers, num_classes=num_classes)
        self.arch = arch
        self.stem = stem
        if stem == "cifar":
            # 3x3 stride-1 first conv and no max-pool: keeps small images' resolution.
            self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
            self.maxpool = nn.Identity()
        units = [UnitSpec("stem", "stem")]
        for stage in range(1, 5):
            layer = getattr(self, f"layer{stage}")
            for idx, blk in enumerate(layer):
                units.append(UnitSpec(f"layer{stage}.{idx}", "conv" if blk.downsample is not None else "identity"))
        units.append(UnitSpec("head", "head"))
        self.units: tuple[UnitSpec, ...] = tuple(units)
        self.unit_names: tuple[str, ...] = tuple(u.name for u in units)
        self._index = {u.name: i for i, u in enumerate(units)}

    # ----------------------------------------------------------------- lookup and validation
    def unit_index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise ValueError(f"unit: unknown unit {name!r} for {self.arch} "
                             f"(expected one of stem, layer1.0 ... {self.unit_names[-2]}, head)") from None

    def block(self, name: str) -> Block:
        """The torchvision block module of a droppable unit."""
        stage, idx = name[len("layer"):].split(".")
        return getattr(self, f"layer{stage}")[int(idx)]

    def validate_drops(self, drop_dc: Iterable[str] = (), drop_sc: Iterable[str] = ()) -> tuple[frozenset, frozenset]:
        """Check a drop configuration; return it as two frozensets of unit names."""
        dc, sc = frozenset(drop_dc), frozenset(drop_sc)
        for field, names in (("drop_dc", dc), ("drop_sc", sc)):
            for name in sorted(names):
                if not self.units[self.unit_index(name)].droppable:
                    raise ValueError(f"{field}: unit {name!r} cannot be dropped (only residual blocks can)")
        both = dc & sc
        if both:
            raise ValueError(f"drop_dc/drop_sc: block {sorted(both)[0]!r} cannot have both its direct "
                             "and its skip connection dropped")
        return dc, sc

    # ----------------------------------------------------------------- execution
    def run_unit(self, name: str, x: Tensor, mode: str = "full") -> Tensor:
        """Run a single unit on ``x``."""
        if name == "stem":
            return self.maxpool(self.relu(self.bn1(self.conv1(x))))
        if name == "head":
            return self.fc(torch.flatten(self.avgpool(x), 1))
        return run_block(self.block(name), x, mode)

    def run_units(self, x: Tensor, start: int | str = 0, stop: int | str | None = None,
                  drop_dc: Iterable[str] = (), drop_sc: Iterable[str] = ()) -> Tensor:
        """Run units ``start`` .. ``stop - 1`` (indices or names; a name ``stop`` is inclusive)."""
        dc, sc = self.validate_drops(drop_dc, drop_sc)
        i0 = self.unit_index(start) if isinstance(start, str) else start
        i1 = len(self.units) if stop is None else (self.unit_index(stop) + 1 if isinstance(stop, str) else stop)
        if not 0 <= i0 <= i1 <= len(self.units):
            raise ValueError(f"start/stop: slice {i0}:{i1} is outside 0:{len(self.units)}")
        for unit in self.units[i0:i1]:
            mode = "drop_dc" if unit.name in dc else "drop_sc" if unit.name in sc else "full"
            x = self.run_unit(unit.name, x, mode)
        return x

    def block_names(self) -> list[str]:
        """The residual blocks (the droppable units), in order."""
        return [u.name for u in self.units if u.droppable]

    def forward_drop_path(self, x: Tensor, rates: Sequence[float]) -> Tensor:
        """Training with stochastic depth: each block's residual branch is dropped per sample with its
        rate (timm's ``drop_path``; a kept branch is scaled by 1 / (1 − rate)), so a dropped block is
        its shortcut only — ``relu(downsample(x))`` for a conv block, ``x`` for an identity block —
        exactly as ``drop_dc`` runs it at inference (SPEC §1). In eval mode nothing is dropped."""
        from timm.layers import drop_path
        blocks = self.block_names()
        if len(rates) != len(blocks):
            raise ValueError(f"rates: {len(rates)} given for {len(blocks)} blocks")
        x = self.run_unit("stem", x)
        for name, rate in zip(blocks, rates):
            block = self.block(name)
            identity = x if block.downsample is None else block.downsample(x)
            x = block.relu(identity + drop_path(_block_branch(block, x), rate, self.training, scale_by_keep=True))
        return self.run_unit("head", x)

    def forward(self, x: Tensor, drop_dc: Iterable[str] = (), drop_sc: Iterable[str] = ()) -> Tensor:
        if not drop_dc and not drop_sc:
            return self._forward_impl(x)  # torchvision's own path: identical numerics and speed
        return self.run_units(x, 0, None, drop_dc, drop_sc)


def _resolve_tv_weights(arch: str, name: str):
    """A torchvision weights enum from 'IMAGENET1K_V2', 'DEFAULT' or 'ResNet50_Weights.IMAGENET1K_V2'."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    short = name.split(".", 1)[1] if name.startswith(enum.__name__ + ".") else name
    try:
        return enum[short] if short != "DEFAULT" else enum.DEFAULT
    except KeyError:
        known = ", ".join(w.name for w in enum)
        raise ValueError(f"weights: {name!r} is neither a file nor a torchvision weight of {arch} "
                         f"(known: {known}, DEFAULT)") from None


def _load_state_dict_file(path: Path) -> dict:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # a training checkpoint of adaptres.train
    if not isinstance(obj, dict):
        raise ValueError(f"weights: {path} holds no state dict")
    return obj


def build(arch: str = "resnet50", num_classes: int = 10, stem: str = "imagenet",
          weights: str | Path | dict | None = None, progress: bool = False) -> AdaptiveResNet:
    """Build the block-wise ResNet.

    ``weights``: None (random init), a path to a state dict (or an adaptres checkpoint), a state
    dict, or a torchvision weight name (``"IMAGENET1K_V2"``, ``"DEFAULT"``,
    ``"ResNet50_Weights.IMAGENET1K_V1"``). ImageNet weights with ``num_classes != 1000`` load every
    layer but ``fc``, which keeps its fresh initialisation (fine-tuning, as in the paper).
    """
    if arch not in ARCHS:
        raise ValueError(f"arch: unknown architecture {arch!r} (expected one of {', '.join(ARCHS)})")
    if stem not in STEMS:
        raise ValueError(f"stem: must be one of {', '.join(STEMS)}, got {stem!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: must be a positive integer, got {num_classes!r}")
    model = AdaptiveResNet(arch, num_classes=num_classes, stem=stem)
    if weights is None:
        return model
    if isinstance(weights, dict):
        state = weights
    elif Path(weights).is_file():
        state = _load_state_dict_file(Path(weights))
    elif isinstance(weights, Path) or any(s in str(weights) for s in ("/", "\\")) or str(weights).endswith((".pt", ".pth")):
        raise ValueError(f"weights: file {weights} does not exist")
    else:
        tv_weights = _resolve_tv_weights(arch, str(weights))
        try:
            state = tv_weights.get_state_dict(progress=progress)
        except Exception as exc:  # noqa: BLE001 - offline machines: say what to do instead of a traceback
            raise ValueError(f"weights: could not fetch {tv_weights} ({type(exc).__name__}); download it "
                             "where the network allows and pass the file's path instead") from None
    load_weights(model, state)
    return model


def load_weights(model: AdaptiveResNet, state: dict) -> None:
    """Load a state dict strictly; a classifier of another width is left at its initialisation."""
    own = model.state_dict()
    fc_keys = {"fc.weight", "fc.bias"}
    if all(k in state for k in fc_keys) and state["fc.weight"].shape != own["fc.weight"].shape:
        state = {k: v for k, v in state.items() if k not in fc_keys}
        strict_missing = fc_keys
    else:
        strict_missing = set()
    missing = sorted(set(own) - set(state) - strict_missing)
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shape:
            k = shape[0]
            parts.append(f"{len(shape)} of another shape (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise ValueError(f"weights: do not match {model.arch} with the {model.stem} stem and "
                         f"{model.fc.out_features} classes: " + "; ".join(parts))
    model.load_state_dict(state, strict=not strict_missing)


def droppable_units(arch: str) -> list[str]:
    """Names of the residual blocks of an architecture, in order."""
    return [u.name for u in unit_list(arch) if u.droppable]


def unit_list(arch: str) -> Sequence[UnitSpec]:
    """The units of an architecture without building its weights twice."""
    if arch not in ARCHS:
        raise ValueError(f"arch: unknown architecture {arch!r} (expected one of {', '.join(ARCHS)})")
    block, layers = LAYOUTS[arch]
    units = [UnitSpec("stem", "stem")]
    for stage, n in enumerate(layers, start=1):
        for idx in range(n):
            conv = idx == 0 and (stage > 1 or block is tv_resnet.Bottleneck)
            units.append(UnitSpec(f"layer{stage}.{idx}", "conv" if conv else "identity"))
    units.append(UnitSpec("head", "head"))
    return units
