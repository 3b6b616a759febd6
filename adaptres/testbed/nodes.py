"""The test bed's Ray nodes: a head in the hub, one node per device in its namespace, started by PID and
stopped by PID (never ``ray stop``, which would end every Ray process of the machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..processes import kill, own
from .commands import namespaces, ns_pids
from .names import HUB, HUB_IP, PORT, RAY_ENV, TEMP, TestBedError, address, device_ip, device_ns

HEAD_TRIES = (True, False, False)  # the devices start beside the head (first try) or after it has registered
STAGGER_S = 10.0  # the most a device's node is given to start its raylet before the next one starts

def _ray(ns: str, *args: str) -> subprocess.Popen:
    ray = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, **RAY_ENV}
    return subprocess.Popen(["ip", "netns", "exec", ns, ray, "start", *args, "--temp-dir", str(TEMP),
                             "--disable-usage-stats"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _wait(procs: dict[str, subprocess.Popen], timeout: float = 120.0) -> None:
    for name, p in procs.items():
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise TestBedError(f"{name}: 'ray start' did not finish within {timeout:.0f} s") from None
        if p.returncode:
            last = [line for line in out.splitlines() if line.strip()][-3:]
            raise TestBedError(f"{name}: 'ray start' failed: {' '.join(' '.join(last).split())[:300]}")


def _token() -> None:
    """Ray's authentication token (``~/.ray/auth_token``), made when this machine has none yet (a fresh
    machine: a local ``ray.init`` would make one too, but the test bed may come first)."""
    ray = str(Path(sys.executable).with_name("ray"))
    p = subprocess.run([ray, "get-auth-token", "--generate"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **RAY_ENV})
    if p.returncode:
        raise TestBedError(f"ray get-auth-token --generate: {' '.join((p.stderr or p.stdout).split())[:300]}")


def start(n: int, progress=None) -> None:
    """The head in the hub, then each device's node: the devices start once the head's control store listens
    (its own agents still starting), one after another, each once the one before has its raylet — started all
    at once they contend (two at a time took 61 s for six devices, one at a time 32 s), and a node waits 30 s
    at most to register (Ray's own limit, fixed in its code). A head that does not register in time on a
    loaded host (Ray: "the GCS has become overloaded") is temporary: every node is stopped and the bring-up
    tried again (twice at most), the head alone first."""
    TEMP.mkdir(parents=True, exist_ok=True)
    _token()
    for overlap in HEAD_TRIES:
        try:
            return _start(n, progress, overlap)
        except _HeadFailed as e:
            failed = e
            mine = own()
            kill([p for ns in namespaces() for p in ns_pids(ns) if p not in mine])
    raise TestBedError(str(failed)) from None


class _HeadFailed(TestBedError):
    pass


def _start(n: int, progress, overlap: bool) -> None:
    common = ["--object-store-memory", str(200 * 2**20), "--include-log-monitor", "false"]
    head = _ray(HUB, "--head", "--node-ip-address", HUB_IP, "--port", str(PORT), "--num-cpus", "0",
                "--include-dashboard", "false", *common)
    if overlap:
        end = time.time() + STAGGER_S
        while not _listening(HUB, PORT) and head.poll() is None and time.time() < end:
            time.sleep(0.05)
    else:
        _wait_head(head)

    def device(i: int) -> subprocess.Popen:
        return _ray(device_ns(i), "--address", address(), "--node-ip-address", device_ip(i), "--num-cpus", "1",
                    "--resources", json.dumps({f"device{i}": 1}), *common)

    procs: dict[int, subprocess.Popen] = {}
    for i in range(n):
        procs[i] = device(i)
        end = time.time() + STAGGER_S
        while not _registered(i) and procs[i].poll() is None and time.time() < end:
            time.sleep(0.05)
    if overlap:
        _wait_head(head)
    if progress:
        progress(1)
    for i, p in procs.items():
        try:
            _wait({f"device {i}": p})
        except TestBedError:  # once more, alone (a loaded host): its processes first stopped
            kill(ns_pids(device_ns(i)))
            _wait({f"device {i}": device(i)})
        if progress:
            progress(1)


def _wait_head(head: subprocess.Popen) -> None:
    try:
        _wait({"head": head})
    except TestBedError as e:
        raise _HeadFailed(str(e)) from None


def _listening(ns: str, port: int) -> bool:
    """Does something in namespace ``ns`` listen on TCP ``port``?"""
    p = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
    return bool(p.stdout.strip())


def _registered(i: int) -> bool:
    """Does device i's node show in its namespace with a raylet running?"""
    for p in ns_pids(device_ns(i)):
        try:
            if b"raylet" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]:
                return True
        except OSError:
            continue
    return False


def head_answers() -> bool:
    return bool(ns_pids(HUB))

