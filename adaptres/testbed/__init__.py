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
- a cut link i–j: a blackhole route for j's address in i's namespace and back (``restore`` takes it out).

Ray runs with token authentication (``RAY_AUTH_MODE=token``, the token of ``~/.ray``), its own
temporary folder (so that no other Ray user of the machine joins this cluster by accident), and
objects over ``INLINE_BYTES`` (1 KB, not Ray's 100 KB) stored where they are made: the devices put every
activation in their own node's store and pass on a reference, so that it travels to the next device
over their link, never inlined through the driver (``runtime.device``). Its processes are
stopped by their PIDs (``ip netns pids``), never with ``ray stop``, which would end every Ray
process of the machine.

The modules: ``names`` (addresses, Ray's settings), ``commands`` (iproute2, the namespaces' processes),
``network`` (namespaces, bridge, shaped links, cuts), ``state`` (what it records of itself), ``nodes`` (the
Ray nodes), ``driver`` (the coordinator inside the hub), ``memory`` (what its processes hold).

``up``, ``down`` and ``status`` are idempotent; ``down`` finds everything by the name prefix and the
namespaces' processes, so it also cleans up after a driver killed with ``kill -9``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time

from ..processes import kill as _kill
from ..processes import own
from .commands import host_links, namespaces, ns_pids, run
from .driver import inside, reexec_inside
from .names import HUB, IN_TESTBED, MAX_DEVICES, NODE_GB, PORT, PREFIX, RAY_ENV, TEMP, TestBedError, address, device_ip, device_ns
from .network import build, class_bytes, cut, restore, set_rates
from .nodes import head_answers, start
from .state import Status, save, status

__all__ = ["HUB", "IN_TESTBED", "PORT", "PREFIX", "RAY_ENV", "Status", "TestBedError", "address", "available",
           "check_devices", "class_bytes", "cut", "device_ip", "device_ns", "down", "held", "host_links", "inside",
           "max_devices",
           "namespaces", "ns_pids", "reexec_inside", "restore", "set_rates", "status", "up"]


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


def max_devices() -> int:
    """How many devices this host can hold: its available memory over a device's node and actor."""
    try:
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:")) * 1024
    except (OSError, StopIteration, ValueError):
        return MAX_DEVICES
    return max(1, min(MAX_DEVICES, int((avail / 2**30 - 1.5) // NODE_GB)))


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
    if st.up and st.devices == n and head_answers():
        return 0.0
    if st.namespaces:
        if st.up and st.devices != n:
            raise ValueError(f"--devices: a test bed with {st.devices} devices is already up (run 'testbed down' first)")
        down()
    t0 = time.time()
    try:
        build(n)
        set_rates(rates_mbps or [[100.0] * n for _ in range(n)])
        save(devices=n, cut=[], started=t0)
        start(n, progress)
    except BaseException:
        down()
        raise
    return time.time() - t0


def down() -> float:
    """Remove every namespace, veth and Ray process of the test bed (and its temporary folder), and
    nothing else; returns the seconds it took. Safe to call when nothing is up."""
    t0 = time.time()
    nss = namespaces()
    mine = own()
    _kill([p for ns in nss for p in ns_pids(ns) if p not in mine])
    for ns in nss:
        run("ip", "netns", "del", ns, check=False)
    shutil.rmtree(TEMP, ignore_errors=True)
    return time.time() - t0


@contextlib.contextmanager
def held(n: int, times: dict | None = None, clean: bool = False):
    """The test bed with ``n`` devices for the work inside (a command's driver, a notebook's runs): one found up with
    ``n`` devices is used and left up; otherwise one is brought up and taken down when the work ends, however it
    ends. ``clean``: a bed found with a link cut, partly up or of another size is taken down first, and the links
    cut inside are restored on one found up (a notebook's runs start from a whole bed and leave it whole).
    ``times`` gets ``up_s``, ``down_s`` and what the take-down left (``left_namespaces``, ``left_host_links``: 0
    when nothing was left) of what was done here, or ``found_up``. Yields whether it was found up."""
    times = {} if times is None else times
    st = status()
    if clean and st.namespaces and not (st.up and st.devices == n and not st.cut):
        down()
        st = status()
    found = st.up and st.devices == n and head_answers()
    if found:
        times["found_up"] = True
    else:
        times["up_s"] = round(up(n), 2)
    try:
        yield found
    finally:
        if not found:
            times["down_s"] = round(down(), 2)
            times.update(left_namespaces=len(namespaces()), left_host_links=host_links())
        elif clean:
            for i, j in status().cut:
                restore(i, j)
