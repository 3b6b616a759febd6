"""Where things live: the repository and its data, results, figures and runs (no torch, no pandas).

Every path the package computes starts here; environment variables move the writable ones:
``ADAPTRES_DATA`` (raw datasets), ``ADAPTRES_RESULTS`` (per-step tables of the evaluation
notebooks), ``ADAPTRES_FIGURES`` (figures), ``ADAPTRES_RUN_DIR`` (one main-job run).

Run from a checkout, the data are the repository's ``data/``. Installed (``pip install .``, a wheel),
the package carries the files the problem side reads — the unit-cost tables (``data/costs``) and the
accuracy tables (``data/study``) — as ``adaptres/_data``; the study itself (notebooks, training, the
committed results) needs the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
NOTEBOOKS = REPO / "notebooks"
INSTALLED = not (REPO / "data" / "costs").is_dir() and (PACKAGE / "_data" / "costs").is_dir()
DATA = PACKAGE / "_data" if INSTALLED else REPO / "data"
STUDY = DATA / "study"  # committed training logs and accuracy tables (with provenance)
COSTS = DATA / "costs"  # committed unit-cost tables, one per architecture and input size
MODELS_DIR = DATA / "models"  # committed model weights (fp16 state dicts)


def repo_path(relative: str | Path) -> Path:
    """A path given relative to the repository root (as profiles and notes write them); ``data/...`` is
    the installed package's copy when there is no checkout."""
    parts = Path(relative).parts
    if INSTALLED and parts and parts[0] == "data":
        return DATA.joinpath(*parts[1:])
    return REPO / relative


def raw_data() -> Path:
    """Raw datasets: ``$ADAPTRES_DATA`` or ``data/raw``."""
    return Path(os.environ.get("ADAPTRES_DATA") or DATA / "raw")


def results_dir() -> Path:
    """Per-step results of the evaluation notebooks: ``$ADAPTRES_RESULTS`` or ``data/results``."""
    return Path(os.environ.get("ADAPTRES_RESULTS") or DATA / "results")


def results_path(notebook: str, profile: str) -> Path:
    """``<results>/<notebook>_<profile>.csv`` (the fast profile's are git-ignored)."""
    return results_dir() / f"{notebook}_{profile}.csv"


def figures_dir(profile: str) -> Path:
    """``$ADAPTRES_FIGURES/<profile>`` or ``figures/<profile>``."""
    return Path(os.environ.get("ADAPTRES_FIGURES") or REPO / "figures") / profile


def run_dir(profile: str | None = None) -> Path:
    """One main-job run (executed notebooks, notes, report): ``$ADAPTRES_RUN_DIR`` or ``runs/<profile>``."""
    env = os.environ.get("ADAPTRES_RUN_DIR")
    return Path(env) if env else REPO / "runs" / (profile or "interactive")


def relative(path: str | Path) -> str:
    """``path`` relative to the repository when it is inside it (for notes and provenance)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
