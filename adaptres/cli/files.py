"""The files a command reads and writes, checked together before it starts (one rule for every command).

Each subcommand declares its files with ``declare``: the arguments that name files it reads, those
that name files it writes, and what it reads or writes without a flag (the committed model and
tables, a results file's JSON twin beside it). ``check`` then applies, before any work:

- every output passes ``io.check_output`` (a regular file in a folder that can be written, ...);
- no output is one of the command's inputs, however it is named (a symlink, ``./x``, another path
  to the same file), nor a committed data file the command reads (``data/costs``, ``data/study``,
  ``data/models``): writing there would destroy what the command reads;
- no two outputs are the same file (a results table and its per-request twin).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io import InputError, check_output


@dataclass(frozen=True)
class Files:
    """What a command reads and writes (see the module's docstring). Arguments are named as the user
    writes them: ``scenario`` for a positional one, ``--weights`` for an option."""

    inputs: tuple[str, ...] = ()  # arguments whose values name files read
    outputs: tuple[str, ...] = ()  # arguments whose values name files written
    committed: bool = False  # it reads the committed data (model weights, unit costs, accuracy tables)
    implied: Callable | None = None  # args -> (extra inputs {label: path}, extra outputs {label: path})


def declare(parser, inputs=(), outputs=(), committed: bool = False, implied: Callable | None = None) -> None:
    parser.set_defaults(files=Files(tuple(inputs), tuple(outputs), committed, implied))


def twin(path, suffix: str = ".json") -> Path:
    """The file written beside a results table: the same stem with ``suffix``."""
    return Path(path).with_suffix(suffix)


def committed_data() -> list[Path]:
    """The committed data files the commands read (weights, unit costs, accuracy tables)."""
    from ..paths import COSTS, MODELS_DIR, STUDY
    return [p for d in (COSTS, STUDY, MODELS_DIR) if d.is_dir() for p in sorted(d.iterdir()) if p.is_file()]


def _value(args, name: str):
    return getattr(args, name.lstrip("-").replace("-", "_"), None)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check(args) -> None:
    """Apply the rule of the module's docstring to parsed ``args``; an ``InputError`` names the flag."""
    files: Files | None = getattr(args, "files", None)
    if files is None:
        return
    inputs = {name: Path(_value(args, name)) for name in files.inputs if _value(args, name) is not None}
    outputs = {name: _value(args, name) for name in files.outputs if _value(args, name) is not None}
    if files.implied is not None:
        more_in, more_out = files.implied(args)
        inputs.update({k: Path(v) for k, v in more_in.items()})
        outputs.update(more_out)
    committed = committed_data() if files.committed else []
    resolved: dict[str, Path] = {}
    for field, path in outputs.items():
        target = check_output(path, field)
        for name, other in inputs.items():
            if _same(target, other):
                raise InputError(f"{field}: {path} is the input {name} ({other}); choose another output file")
        for other in committed:
            if _same(target, other):
                raise InputError(f"{field}: {path} is committed data the command reads ({other.name}); choose "
                                 "another output file")
        absolute = Path(os.path.abspath(target)).resolve()
        for name, seen in resolved.items():
            if seen == absolute:
                raise InputError(f"{field}: {path} is also where {name} is written; choose another output file")
        resolved[field] = absolute
