"""Files: atomic writes, strict JSON, CSV tables with a provenance header, input and output path checks.

Nothing here imports torch; pandas is imported only by the table functions that need it.
A write goes through a temporary file in the target's folder and a rename, so an interrupted
run leaves the previous file intact; a symlink is written through (its target is replaced), and a
file that existed keeps its permissions.

The rule for output paths (``check_output``, applied before any work starts): an output is a regular
file, named by a non-empty path that does not end in ``/``; it is not ``-``, not a folder, not one of
the command's inputs, not under ``/dev``, ``/proc`` or ``/sys`` (standard output included: omit the
flag to print), and its folder can be written. Missing parent folders are created. An input
(``read_json``) is a regular file of at most ``MAX_INPUT_BYTES``, UTF-8 JSON without NaN, Infinity or
a key given twice.
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


MAX_SEED = 2**32 - 1  # every seed of the study (numpy's, pymoo's, the recipes') lies in [0, MAX_SEED]


def check_range(v, field: str, lo: float, hi: float = math.inf, integer: bool = True, above: bool = False,
                unit: str = ""):
    """``v`` if it is an integer (or, ``integer=False``, a finite number) in [lo, hi] — above ``lo`` with
    ``above`` — else an ``InputError`` naming ``field``: the one rule, and message, of every range check."""
    kind = "an integer" if integer else "a number"
    show = (lambda x: f"{x:d}") if integer else (lambda x: f"{x:g}")
    within = f"above {show(lo)}" if above else f"in [{show(lo)}, {show(hi)}]" if hi < math.inf else f"at least {show(lo)}"
    if above and hi < math.inf:
        within += f" and at most {show(hi)}"
    ok = not isinstance(v, bool) and (isinstance(v, int) if integer else
                                      isinstance(v, (int, float)) and math.isfinite(v))
    if not ok or v < lo or (above and v == lo) or v > hi:
        raise InputError(f"{field}: must be {kind} {within}{f' ({unit})' if unit else ''}, got {v!r}")
    return v


def check_seed(v, field: str = "seed") -> int:
    """``v`` if it is an integer seed in [0, ``MAX_SEED``], else an ``InputError`` naming ``field``."""
    return check_range(v, field, 0, MAX_SEED)


class NoResult(Exception):
    """A command ran but has no result to give (exit status 3 on the command line); the message says why."""


# ---------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written file.
    ``write(fh)`` writes the content; a symlink at ``path`` is followed (its target is replaced); a file
    that existed keeps its permissions (a new one gets the umask's)."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    # a short name of its own: the target's name may already be as long as the file system allows
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".adaptres-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


SYSTEM = ("/dev", "/proc", "/sys")  # no results there: devices, standard output, the kernel's files


def check_output(path: str | Path, field: str = "--out") -> Path:
    """The path to write an output to, or an ``InputError`` naming ``field`` when it breaks the rule of
    the module's docstring. Returns the path to write (a symlink's target). That it is none of the
    command's inputs is the command line's rule (``cli.files``), which knows them all."""
    text = str(path)
    if not text:
        raise InputError(f"{field}: the path is empty; name a file")
    if text == "-":
        raise InputError(f"{field}: '-' is not a file name (to print, leave {field} out)")
    if text.endswith("/"):
        raise InputError(f"{field}: {text} ends with '/', a folder; name a file in it")
    path = Path(path)
    try:
        target = path.resolve() if path.is_symlink() else path
        absolute = Path(os.path.abspath(target)).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        why = "a symlink loop" if isinstance(exc, RuntimeError) else exc.strerror
        raise InputError(f"{field}: {path} cannot be resolved ({why})") from None
    named = Path(os.path.abspath(text))  # /dev/stdout names a device even where it resolves to a file
    if any(p == Path(s) or Path(s) in p.parents for s in SYSTEM for p in (named, absolute)):
        raise InputError(f"{field}: {path} is a system path ({absolute}), not a place for a result file")
    if target.exists():
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{field}: {path} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise InputError(f"{field}: {path} is not a regular file (a device, pipe or socket)")
    folder = next((p for p in absolute.parents if p.exists()), Path("/"))
    longest = _name_max(folder)
    too_long = next((part for part in absolute.relative_to(folder).parts if len(os.fsencode(part)) > longest), None)
    if too_long is not None:
        raise InputError(f"{field}: the name {too_long[:40]}... is {len(os.fsencode(too_long))} bytes, more than the "
                         f"{longest} a file name may have here")
    if not folder.is_dir():
        raise InputError(f"{field}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{field}: cannot write in {folder} (permission denied)")
    return target


# ---------------------------------------------------------------------------- JSON
def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


MAX_INPUT_BYTES = 256 * 2**20  # the largest JSON input read (a scenario of 400 000 requests is about 20 MB)


def _unique_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"the key {k!r} is given twice in one object")
        obj[k] = v
    return obj


def check_input(path: str | Path, what: str) -> Path:
    """``path`` if it names a regular file of at most ``MAX_INPUT_BYTES`` (not a folder, device, FIFO or
    socket: those would block or never end), else an ``InputError`` naming ``what``."""
    if not str(path):
        raise InputError(f"{what}: the path is empty; name a file")
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what}: {path} does not exist") from None
    except RuntimeError:
        raise InputError(f"{what}: {path} cannot be resolved (a symlink loop)") from None
    except OSError as exc:
        raise InputError(f"{what}: {path} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what}: {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what}: {path} is not a regular file (a device, pipe or socket)")
    if st.st_size > MAX_INPUT_BYTES:
        raise InputError(f"{what}: {path} is {st.st_size / 2**20:.0f} MB, more than the {MAX_INPUT_BYTES // 2**20} MB "
                         "an input may have")
    return path


def read_json(path: str | Path, what: str):
    """Parse a JSON file strictly (no NaN or Infinity, no key twice); errors name ``what`` and the file."""
    path = check_input(path, what)  # exists, a regular file, not too large
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what}: {path} is not a text file (not UTF-8)") from None
    except OSError as exc:  # permission denied, an I/O error, gone since
        raise InputError(f"{what}: {path} cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
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
