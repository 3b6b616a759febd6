"""What the test bed records of itself (``/tmp/adrtb/testbed.json``) and what exists of it now."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .commands import namespaces, ns_pids
from .names import STATE, address


@dataclass(frozen=True)
class Status:
    """What exists of the test bed now."""

    devices: int | None  # as recorded by ``up`` (None: not up)
    namespaces: list[str]
    processes: dict[str, int]  # namespace -> processes in it
    cut: list[tuple[int, int]]

    @property
    def up(self) -> bool:
        return self.devices is not None and len(self.namespaces) == self.devices + 1

    def line(self) -> str:
        if not self.namespaces:
            return "test bed: down (no namespace, no Ray process of the test bed)"
        procs = sum(self.processes.values())
        state = f"up, {self.devices} devices" if self.up else "partly up (run 'testbed down')"
        return (f"test bed: {state}; {len(self.namespaces)} namespaces, {procs} processes; head at {address()}"
                + (f"; links cut: {', '.join(f'{i}-{j}' for i, j in self.cut)}" if self.cut else ""))


def saved() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def save(**kw) -> None:
    from ..io import atomic_write_text
    atomic_write_text(STATE, json.dumps({**saved(), **kw}))


def status() -> Status:
    nss = namespaces()
    st = saved() if nss else {}
    return Status(st.get("devices"), nss, {ns: len(ns_pids(ns)) for ns in nss},
                  [tuple(c) for c in st.get("cut", [])])


# ---------------------------------------------------------------------------- up / down

