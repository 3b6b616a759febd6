"""A test bed of real hosts on one machine: one Linux network namespace per device, joined by a
bridge, with rate-shaped links between them and one Ray node per device (no torch).

Layout (nothing is added to the host's own interfaces or routes; every address lies in one private
/24 that exists only inside these namespaces):

- ``adrtb-hub``: the bridge ``br0`` holding ``10.77.0.1``, Ray's head node and the coordinator
  (the driver: ``serve`` re-executes itself here with ``ip netns exec``);
- ``adrtb-d<i>``: device i, its end of a veth pair (``eth0``, ``10.77.0.<10+i>``), the other end in
  the hub on the bridge; one Ray node (``--resources '{"device<i>": 1}' --num-cpus 1``);
- per directed link i→j an htb class with the link's rate on i's ``eth0`` (a u32 filter on j's
  address); other traffic (to the hub: control messages, the driver's results) is not shaped.
  Rates change in place (``tc class change``) at every step;
- a cut link i–j: a blackhole route for j's address in i's namespace and back; a device cut off
  entirely: its ``eth0`` down.

Ray runs with token authentication (``RAY_AUTH_MODE=token``, the token of ``~/.ray``), its own
temporary folder (so that no other Ray user of the machine joins this cluster by accident), and
objects over ``INLINE_BYTES`` (1 KB, not Ray's 100 KB) stored where they are made: the devices put every
activation in their own node's store and pass on a reference, so that it travels to the next device
over their link, never inlined through the driver (``runtime.device``). Its processes are
stopped by their PIDs (``ip netns pids``), never with ``ray stop``, which would end every Ray
process of the machine.

``up``, ``down`` and ``status`` are idempotent; ``down`` finds everything by the name prefix and the
namespaces' processes, so it also cleans up after a driver killed with ``kill -9``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "adrtb"
HUB = f"{PREFIX}-hub"
SUBNET = "10.77.0"  # a /24 that exists only inside the test bed's namespaces
HUB_IP = f"{SUBNET}.1"
FIRST_DEVICE = 10
MAX_DEVICES = 200  # addresses .10 .. .209 of the /24
PORT = 6379
TEMP = Path("/tmp/adrtb")  # Ray's temporary folder (short: its unix socket paths must stay under 107 characters)
STATE = TEMP / "testbed.json"
BRIDGE = "br0"
UNSHAPED = "10gbit"  # the default class (traffic to the hub)
NODE_GB = 1.1  # a device's Ray node and actor (resident set measured 0.3 + 0.8 GB): what the host must hold per device
# objects up to this size travel inline with Ray's messages (through the driver): pings and records; every
# activation (8 KB and more at 32 px) and image is larger, so it is stored on its device and crosses the link
INLINE_BYTES = 1024
RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_max_direct_call_object_size": str(INLINE_BYTES), "RAY_DEDUP_LOGS": "0",
           "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_USAGE_STATS_ENABLED": "0",
           # no idle Python workers started ahead (0.17 GB each): the devices' actors are the only workers
           "RAY_enable_worker_prestart": "0", "RAY_prestart_worker_first_driver": "0"}
IN_TESTBED = "ADAPTRES_IN_TESTBED"  # set in the driver's environment inside the hub


class TestBedError(OSError):
    """The test bed cannot be set up here (no root, no iproute2, no network namespaces) or is in a
    state that refuses the request; the message says which, in one line."""


def device_ns(i: int) -> str:
    return f"{PREFIX}-d{i}"


def device_ip(i: int) -> str:
    return f"{SUBNET}.{FIRST_DEVICE + i}"


def address() -> str:
    """The head node's address (inside the hub)."""
    return f"{HUB_IP}:{PORT}"


def _classid(j: int) -> str:
    return f"1:{0x100 + j:x}"


# ---------------------------------------------------------------------------- commands
def _run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and p.returncode:
        raise TestBedError(f"{' '.join(cmd[:6])}: {' '.join((p.stderr or p.stdout).split())[:300]}")
    return p


def _batch(tool: str, lines: list[str], ns: str | None = None) -> None:
    """Many ``ip``/``tc`` commands in one process (``-batch -``)."""
    if lines:
        _run(tool, *(["-n", ns] if ns else []), "-batch", "-", input="\n".join(lines) + "\n")


def available() -> str | None:
    """None when the test bed can run here, else why not (one line)."""
    if sys.platform != "linux":
        return "the network test bed needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the network test bed needs root (network namespaces, veth, htb)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the network test bed needs iproute2 ('{tool}' not found; Debian: apt-get install iproute2)"
    return None


def namespaces() -> list[str]:
    """The test bed's namespaces that exist now."""
    if shutil.which("ip") is None:
        return []
    out = _run("ip", "netns", "list", check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.split() and line.split()[0].startswith(PREFIX + "-"))


def ns_pids(ns: str) -> list[int]:
    out = _run("ip", "netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _own() -> set[int]:
    """This process and its ancestors (a driver inside the hub must not kill itself)."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def max_devices() -> int:
    """How many devices this host can hold: its available memory over a device's node and actor."""
    try:
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:")) * 1024
    except (OSError, StopIteration, ValueError):
        return MAX_DEVICES
    return max(1, min(MAX_DEVICES, int((avail / 2**30 - 1.5) // NODE_GB)))


# ---------------------------------------------------------------------------- state
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


def _state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def _save(**kw) -> None:
    from ..io import atomic_write_text
    atomic_write_text(STATE, json.dumps({**_state(), **kw}))


def status() -> Status:
    nss = namespaces()
    st = _state() if nss else {}
    return Status(st.get("devices"), nss, {ns: len(ns_pids(ns)) for ns in nss},
                  [tuple(c) for c in st.get("cut", [])])


# ---------------------------------------------------------------------------- up / down
def check_devices(n) -> int:
    """``n`` if the host can hold that many devices, else a ``ValueError`` naming ``--devices``."""
    limit = max_devices()
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"--devices: must be an integer in [1, {limit}] (what this host's memory holds), got {n!r}")
    return n


def up(n: int, rates_mbps=None, progress=None) -> float:
    """Bring the test bed up with ``n`` devices (idempotent: an identical one that is up is kept);
    returns the seconds it took. ``rates_mbps``: the links' first rates (default 100 Mb/s)."""
    why = available()
    if why:
        raise TestBedError(why)
    check_devices(n)
    st = status()
    if st.up and st.devices == n and _head_answers():
        return 0.0
    if st.namespaces:
        if st.up and st.devices != n:
            raise ValueError(f"--devices: a test bed with {st.devices} devices is already up (run 'testbed down' first)")
        down()
    t0 = time.time()
    try:
        _network(n)
        set_rates(rates_mbps or [[100.0] * n for _ in range(n)])
        _save(devices=n, cut=[], started=t0)
        _ray_nodes(n, progress)
    except BaseException:
        down()
        raise
    return time.time() - t0


def _network(n: int) -> None:
    _run("ip", "netns", "add", HUB)
    for i in range(n):
        _run("ip", "netns", "add", device_ns(i))
    hub = [f"link add {BRIDGE} type bridge", f"addr add {HUB_IP}/24 dev {BRIDGE}", f"link set {BRIDGE} up",
           "link set lo up"]
    _batch("ip", hub, HUB)
    for i in range(n):
        v, e = f"{PREFIX}-v{i}", f"{PREFIX}-e{i}"
        # created inside the hub, so the pair never appears among the host's interfaces
        _batch("ip", [f"link add {v} type veth peer name {e}", f"link set {e} netns {device_ns(i)}",
                      f"link set {v} master {BRIDGE}", f"link set {v} up"], HUB)
        # one packet per segment: htb meters each packet, and a 64-KB GSO packet would pass at once
        _batch("ip", [f"link set {e} name eth0", "link set eth0 gso_max_segs 1", "link set eth0 gso_max_size 1500",
                      f"addr add {device_ip(i)}/24 dev eth0", "link set eth0 up", "link set lo up"], device_ns(i))
        lines = ["qdisc add dev eth0 root handle 1: htb default 1",
                 f"class add dev eth0 parent 1: classid 1:1 htb rate {UNSHAPED}"]
        for j in range(n):
            if j != i:
                lines += [f"class add dev eth0 parent 1: classid {_classid(j)} htb rate 100mbit",
                          f"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {device_ip(j)}/32 "
                          f"flowid {_classid(j)}"]
        _batch("tc", lines, device_ns(i))


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


STAGGER_S = 10.0  # the most a device's node is given to start its raylet before the next one starts


def _token() -> None:
    """Ray's authentication token (``~/.ray/auth_token``), made when this machine has none yet (a fresh
    machine: a local ``ray.init`` would make one too, but the test bed may come first)."""
    ray = str(Path(sys.executable).with_name("ray"))
    p = subprocess.run([ray, "get-auth-token", "--generate"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **RAY_ENV})
    if p.returncode:
        raise TestBedError(f"ray get-auth-token --generate: {' '.join((p.stderr or p.stdout).split())[:300]}")


def _ray_nodes(n: int, progress=None) -> None:
    TEMP.mkdir(parents=True, exist_ok=True)
    _token()
    common = ["--object-store-memory", str(200 * 2**20), "--include-log-monitor", "false"]
    _wait({"head": _ray(HUB, "--head", "--node-ip-address", HUB_IP, "--port", str(PORT), "--num-cpus", "0",
                        "--include-dashboard", "false", *common)})
    if progress:
        progress(1)

    def start(i: int) -> subprocess.Popen:
        return _ray(device_ns(i), "--address", address(), "--node-ip-address", device_ip(i), "--num-cpus", "1",
                    "--resources", json.dumps({f"device{i}": 1}), *common)

    # one after another, each started once the one before has its raylet: started all at once they contend (two
    # at a time took 61 s for six devices, one at a time 32 s), and a node waits 30 s at most to register
    procs: dict[int, subprocess.Popen] = {}
    for i in range(n):
        procs[i] = start(i)
        end = time.time() + STAGGER_S
        while not _registered(i) and procs[i].poll() is None and time.time() < end:
            time.sleep(0.05)
    for i, p in procs.items():
        try:
            _wait({f"device {i}": p})
        except TestBedError:  # once more, alone (a loaded host): its processes first stopped
            _kill(ns_pids(device_ns(i)))
            _wait({f"device {i}": start(i)})
        if progress:
            progress(1)


def _registered(i: int) -> bool:
    """Does device i's node show in its namespace with a raylet running?"""
    for p in ns_pids(device_ns(i)):
        try:
            if b"raylet" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]:
                return True
        except OSError:
            continue
    return False


def _kill(pids: list[int]) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        end = time.time() + grace
        while pids and time.time() < end:
            pids = [p for p in pids if _exists(p)]
            time.sleep(0.05)
        if not pids:
            return


def _head_answers() -> bool:
    return bool(ns_pids(HUB))


def down() -> float:
    """Remove every namespace, veth and Ray process of the test bed (and its temporary folder), and
    nothing else; returns the seconds it took. Safe to call when nothing is up."""
    t0 = time.time()
    nss = namespaces()
    own = _own()
    _kill([p for ns in nss for p in ns_pids(ns) if p not in own])
    for ns in nss:
        _run("ip", "netns", "del", ns, check=False)
    shutil.rmtree(TEMP, ignore_errors=True)
    return time.time() - t0


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------------------- links
def set_rates(rates_mbps) -> None:
    """Every directed link's rate (Mb/s; ``rates_mbps[i][j]`` for i→j), changed in place."""
    n = len(rates_mbps)
    for i in range(n):
        _batch("tc", [f"class change dev eth0 parent 1: classid {_classid(j)} htb rate {max(rates_mbps[i][j], 1e-3):.6f}mbit "
                      f"ceil {max(rates_mbps[i][j], 1e-3):.6f}mbit" for j in range(n) if j != i], device_ns(i))


def cut(i: int, j: int) -> None:
    """Cut link i–j: a blackhole route for each one's address in the other's namespace."""
    _run("ip", "-n", device_ns(i), "route", "add", "blackhole", f"{device_ip(j)}/32")
    _run("ip", "-n", device_ns(j), "route", "add", "blackhole", f"{device_ip(i)}/32")
    _save(cut=sorted({*map(tuple, _state().get("cut", [])), (min(i, j), max(i, j))}))


def restore(i: int, j: int) -> None:
    """Undo ``cut(i, j)``."""
    _run("ip", "-n", device_ns(i), "route", "del", "blackhole", f"{device_ip(j)}/32", check=False)
    _run("ip", "-n", device_ns(j), "route", "del", "blackhole", f"{device_ip(i)}/32", check=False)
    _save(cut=[c for c in _state().get("cut", []) if tuple(c) != (min(i, j), max(i, j))])


def isolate(i: int) -> None:
    """Cut device i off entirely: its interface down."""
    _run("ip", "-n", device_ns(i), "link", "set", "eth0", "down")


def class_bytes(n: int) -> list[list[int]]:
    """Bytes sent so far on every directed link (htb class counters): ``[i][j]`` for i→j."""
    out = [[0] * n for _ in range(n)]
    for i in range(n):
        text = _run("tc", "-n", device_ns(i), "-s", "class", "show", "dev", "eth0", check=False).stdout
        cls = None
        for line in text.splitlines():
            w = line.split()
            if len(w) > 2 and w[0] == "class" and w[1] == "htb":
                cls = int(w[2].split(":")[1], 16) - 0x100
            elif w[:1] == ["Sent"] and cls is not None and 0 <= cls < n:
                out[i][cls] = int(w[1])
                cls = None
    return out


def interface_bytes(i: int) -> int:
    """Bytes device i's interface has sent."""
    out = _run("ip", "-n", device_ns(i), "-s", "-j", "link", "show", "eth0", check=False).stdout
    try:
        return int(json.loads(out)[0]["stats64"]["tx"]["bytes"])
    except (ValueError, KeyError, IndexError):
        return 0


# ---------------------------------------------------------------------------- the driver inside the hub
def inside() -> bool:
    """Is this process the driver inside the hub?"""
    return os.environ.get(IN_TESTBED) == "1"


def reexec_inside(argv: list[str]) -> int:
    """Run ``python argv…`` inside the hub namespace (the driver's place), with Ray's settings; its
    exit status. Ctrl-C reaches it (same process group); this process waits for it."""
    env = {**os.environ, **RAY_ENV, IN_TESTBED: "1"}
    p = subprocess.Popen(["ip", "netns", "exec", HUB, sys.executable, *argv], env=env)
    while True:
        try:
            return p.wait()
        except KeyboardInterrupt:  # the child got it too: let it write what finished
            continue
