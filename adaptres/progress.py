"""Progress bars: tqdm's, shown in interactive use and left out where ``TQDM_DISABLE`` is set (the main
job sets it, so that executed notebooks keep no progress output)."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["bar", "tqdm"]


def bar(iterable=None, progress: bool = True, **kwargs):
    """``tqdm(iterable, **kwargs)``, hidden when ``progress`` is False or ``TQDM_DISABLE`` is set (tqdm reads
    that variable only for the bars whose ``disable`` is not given)."""
    off = not progress or os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")
    return tqdm(iterable, disable=off, **kwargs)
