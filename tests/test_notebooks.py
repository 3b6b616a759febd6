"""The committed notebooks read as a reader opens them: no error stream, no progress output, and no path
of the machine that executed them in their outputs; a thin driver's figures are reached by name."""
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|tmp|root|home|usr|opt|var)/|\.venv/|site-packages")


def outputs(path: Path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            yield i, out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_stderr_and_no_machine_paths_in_committed_outputs(path):
    bad = []
    for i, out in outputs(path):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            bad.append(f"cell {i}: an error stream: {''.join(out.get('text', ''))[:120]!r}")
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
            bad.append(f"cell {i}: a progress widget")
        found = MACHINE_PATH.search(json.dumps(out.get("text", out.get("data", {}))))
        if found:
            bad.append(f"cell {i}: a machine path {found.group(0)!r}")
    assert not bad, bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_figures_are_reached_by_name(path):
    sources = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    assert not re.search(r"figures\[\d+\]", sources)


def test_committed_notebooks_carry_no_machine_and_one_copy_of_their_parameters():
    """No absolute path of the machine that ran them (papermill's metadata included), no papermill-injected
    second copy of the parameters, no solver banner among the outputs."""
    paths = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "data" / "results").rglob("*.ipynb"))
    for path in paths:
        text = path.read_text()
        assert str(REPO) not in text and "/work/" not in text, path
        nb = json.loads(text)
        tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
        assert "injected-parameters" not in tags, path
        assert "Running HiGHS" not in text, path
