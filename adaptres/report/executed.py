"""An executed notebook as it is committed: the parameters it ran with in its ``parameters`` cell (papermill's
injected copy dropped), no absolute path of the machine that ran it, no solver banner among its outputs."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_text
from ..paths import REPO

BANNER = ("Running HiGHS ", "Includes third-party software components")  # HiGHS' start-up lines, not results


def clean(path: Path) -> None:
    """An executed notebook as it is committed: the parameters it ran with in its ``parameters`` cell (papermill's
    injected copy dropped), no absolute path in papermill's metadata, no solver banner among its outputs."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    injected = next((c for c in nb.cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])), None)
    if injected is not None:
        params = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
        if params is not None:
            params.source = _with_values(params.source, injected.source)
        nb.cells.remove(injected)
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in meta:
            meta[key] = Path(meta[key]).name
    root = f"{REPO}/"
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.outputs:
            if o.get("output_type") == "stream":
                o["text"] = "".join(line for line in o["text"].splitlines(keepends=True) if not line.startswith(BANNER))
                o["text"] = o["text"].replace(root, "")
            for kind, text in o.get("data", {}).items():
                if kind.startswith("text/") and isinstance(text, str):
                    o["data"][kind] = text.replace(root, "")
        c.outputs = [o for o in c.outputs if o.get("output_type") != "stream" or o["text"]]
    atomic_write_text(path, nbformat.writes(nb) + "\n")


def _with_values(source: str, injected: str) -> str:
    """The ``parameters`` cell ``source`` with the values papermill injected (``name = value`` lines) put in
    place of its defaults; its comments kept."""
    values = {}
    for line in injected.splitlines():
        name, sep, value = line.partition(" = ")
        if sep and name.isidentifier():
            values[name] = value
    out = []
    for line in source.splitlines():
        name, sep, rest = line.partition(" = ")
        if sep and name in values:
            comment = rest[rest.index("  #"):] if "  #" in rest else ""
            line = f"{name} = {values.pop(name)}{comment}"
        out.append(line)
    out += [f"{k} = {v}" for k, v in values.items()]
    return "\n".join(out)
