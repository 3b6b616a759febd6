"""The unit-cost tables the problem side reads: data, not torch.

Each table (SPEC §2: multiplications, weight and activation bytes, with the DC dropped or not,
output bytes; and the input image's bytes) is a committed JSON file in ``data/costs/``, one per
architecture, input size, class count, stem and precision. ``python -m adaptres costs --write``
measures one with torch (``adaptres.nn.costs``) and writes it; a test regenerates every
committed table and compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import InputError, read_json
from ..paths import COSTS, relative
from .checks import exact_keys, number
from .scenario import UNIT_FIELDS, Unit

TABLE_FIELDS = ("arch", "image_size", "num_classes", "stem", "bytes_per_element", "input_bytes", "units",
                "generated_by")


@dataclass(frozen=True)
class UnitTable:
    """The units of one network in execution order, with the input image's size in bytes."""

    arch: str
    image_size: int
    num_classes: int
    stem: str
    bytes_per_element: int
    input_bytes: int
    units: tuple[Unit, ...]
    generated_by: str = ""

    @property
    def total_macs(self) -> float:
        return sum(u.macs for u in self.units)

    def to_dict(self) -> dict:
        return {"arch": self.arch, "image_size": self.image_size, "num_classes": self.num_classes, "stem": self.stem,
                "bytes_per_element": self.bytes_per_element, "input_bytes": self.input_bytes,
                "units": [{k: getattr(u, k) for k in UNIT_FIELDS} for u in self.units],
                "generated_by": self.generated_by}

    @classmethod
    def from_dict(cls, obj, where: str = "unit costs") -> "UnitTable":
        exact_keys(obj, TABLE_FIELDS, where)
        if not isinstance(obj["units"], list):
            raise InputError(f"{where}.units: must be a list")
        units = []
        for j, u in enumerate(obj["units"]):
            exact_keys(u, UNIT_FIELDS, f"{where}.units[{j}]")
            unit = Unit(**u)
            unit.check(f"{where}.units[{j}]")
            units.append(unit)
        number(obj["input_bytes"], f"{where}.input_bytes", "input_bytes")
        return cls(**{**obj, "units": tuple(units)})


def file_name(arch: str, image_size: int, num_classes: int = 10, stem: str = "imagenet",
              bytes_per_element: int = 4) -> str:
    return f"{arch}_{image_size}px_{num_classes}cls_{stem}_{8 * bytes_per_element}bit.json"


def load(arch: str = "resnet50", image_size: int = 224, num_classes: int = 10, stem: str = "imagenet",
         bytes_per_element: int = 4, folder: str | Path | None = None) -> UnitTable:
    """The committed unit-cost table of a network (see the module's docstring)."""
    path = Path(folder or COSTS) / file_name(arch, image_size, num_classes, stem, bytes_per_element)
    if not path.exists():
        have = sorted(p.stem for p in Path(folder or COSTS).glob("*.json"))
        raise InputError(f"unit costs: no table for {arch} at {image_size} px with {num_classes} classes "
                         f"({relative(path)}); make it with `python -m adaptres costs --arch {arch} --image-size "
                         f"{image_size} --num-classes {num_classes} --write` (needs torch); committed: {', '.join(have)}")
    return UnitTable.from_dict(read_json(path, "unit costs"), where=relative(path))
