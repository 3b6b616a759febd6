"""The memory of the test bed's processes: peak PSS by kind of process, sampled while a run goes on."""

from __future__ import annotations

import threading
from pathlib import Path

from .commands import namespaces, ns_pids
from .names import HUB


class Sampler(threading.Thread):
    """Peak PSS of the test bed's processes and the driver, by kind, sampled every ``every`` s (the driver: the
    ``adaptres`` command named ``driver``, e.g. serve or load)."""

    def __init__(self, every: float = 1.0, driver: str = "serve"):
        super().__init__(daemon=True)
        self.every, self.driver, self.stop, self.peak = every, driver, threading.Event(), {}

    def run(self):
        while not self.stop.wait(self.every):
            now: dict = {}
            for pid, kind in processes(self.driver):
                now[kind] = now.get(kind, 0) + pss(pid)
            if sum(now.values()) > sum(self.peak.values()):
                self.peak = now


def processes(driver: str = "serve"):
    """(pid, kind) of every process in the test bed's namespaces."""
    for ns in namespaces():
        for pid in ns_pids(ns):
            yield pid, kind(pid, ns, driver)


def kind(pid: int, ns: str, driver: str = "serve") -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "DeviceActor" in cmd:
        return "device actor"
    if "adaptres" in cmd and driver in cmd:
        return "driver (coordinator)"
    for name in ("raylet", "gcs_server", "DashboardAgent", "RuntimeEnvAgent", "log_monitor", "monitor.py"):
        if name in cmd:
            return f"ray {name}" + (" (head)" if ns == HUB else "")
    if "default_worker" in cmd or "ray::" in cmd:
        return "ray worker (idle)"
    return "other"


def pss(pid: int) -> int:
    """A process's proportional set size (bytes; 0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
