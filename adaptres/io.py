"""Files: atomic writes, strict JSON, CSV tables with a provenance header, output-path checks.

Nothing here imports torch; pandas is imported only by the table functions that need it.
A write goes through a temporary file in the target's folder and a rename, so an interrupted
run leaves the previous file intact; a symlink is written through (its target is replaced).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import stat
import subprocess
import tempfile
from pathlib import Path

from .paths import REPO


class InputError(ValueError):
    """Bad input: the message names the field (or file) and the reason, in one line."""


# ---------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written file.
    ``write(fh)`` writes the content; a symlink at ``path`` is followed (its target is replaced)."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
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


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def check_output(path: str | Path, field: str = "--out", inputs=()) -> Path:
    """Refuse an output path that cannot take a regular file: a folder, a device or pipe (say
    ``/dev/stdout``), one of the ``inputs``, or a file inside a missing or non-folder parent.
    A symlink to a regular file is allowed (written through). Returns the path to write."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    if target.exists():
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{field}: {path} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise InputError(f"{field}: {path} is not a regular file (a device, pipe or socket)")
        for other in inputs:
            if Path(other).exists() and os.path.samefile(target, other):
                raise InputError(f"{field}: {path} is the input {other}; choose another output file")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{field}: {parent} is not a folder")
    return target


# ---------------------------------------------------------------------------- JSON
def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: str | Path, what: str):
    """Parse a JSON file strictly (no NaN or Infinity); errors name ``what`` and the file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{what}: {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what}: {path} is a folder, not a file") from None
    except PermissionError:
        raise InputError(f"{what}: {path} cannot be read (permission denied)") from None
    except UnicodeDecodeError:
        raise InputError(f"{what}: {path} is not a text file (not UTF-8)") from None
    except OSError as exc:
        raise InputError(f"{what}: {path} cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: {path} is not JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # NaN / Infinity, an integer of over 4300 digits, deep nesting
        reason = ("nested too deeply" if isinstance(exc, RecursionError) else
                  "a number of over 4300 digits" if "digits" in str(exc) else str(exc).split(";")[0])
        raise InputError(f"{what}: {path} is not usable JSON ({reason})") from None


def load_json(path: str | Path, what: str, parse):
    """``parse`` of a JSON file; an error names ``what``, the file, then (from ``parse``) the field."""
    obj = read_json(path, what)
    try:
        return parse(obj)
    except InputError as exc:
        raise type(exc)(f"{what} {path}: {exc}") from None


def finite_or_none(obj):
    """``obj`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json(path: str | Path, obj) -> None:
    """Strict JSON (non-finite numbers become null), written atomically."""
    atomic_write_text(path, json.dumps(finite_or_none(obj), indent=1, allow_nan=False) + "\n")


# ---------------------------------------------------------------------------- provenance
def git_commit() -> str:
    """The checkout's commit, ``+dirty`` when the code, notebooks, tests or pyproject differ from it
    (a run's own outputs do not count)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--",
                                "adaptres", "notebooks", "pyproject.toml", "tests"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(**fields) -> dict:
    """``fields`` with the commit and the UTC date (the header of every result table)."""
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**fields, "commit": git_commit(), "date": date}


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


# ---------------------------------------------------------------------------- CSV with provenance
def write_table(table, path: str | Path, meta: dict, float_format: str = "%.6g") -> None:
    """A DataFrame as CSV under a ``# key: value`` provenance header, written atomically."""
    import io
    buf = io.StringIO()
    for k, v in meta.items():
        buf.write(f"# {k}: {v}\n")
    table.to_csv(buf, index=False, float_format=float_format)
    atomic_write_text(path, buf.getvalue())


def read_header(path: str | Path) -> dict:
    """The ``# key: value`` provenance lines at the top of one of our CSV files."""
    meta = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("# "):
                break
            k, _, v = line[2:].rstrip("\n").partition(": ")
            meta[k] = v
    return meta


def read_table(path: str | Path, required=("kind", "dropped", "accuracy"), what: str = "accuracy table"):
    """A table and its provenance header (an accuracy table unless ``required`` says otherwise)."""
    import pandas as pd
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what}: {path} {'is a folder' if path.is_dir() else 'does not exist'}"
                         f"{' (run the ablation first)' if what == 'accuracy table' else ''}")
    try:
        meta = read_header(path)
        table = pd.read_csv(path, comment="#", keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{what}: {path} is not a CSV table ({type(exc).__name__})") from None
    missing = set(required) - set(table.columns)
    if missing:
        raise InputError(f"{what}: {path} lacks column(s) {sorted(missing)}")
    return table, meta
