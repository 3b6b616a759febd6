"""The test bed's network: one namespace per device on a bridge, htb-shaped links, cuts as blackhole routes."""

from __future__ import annotations

from .commands import batch, run
from .names import BRIDGE, HUB, HUB_IP, PREFIX, UNSHAPED, classid, device_ip, device_ns
from .state import save, saved


def build(n: int) -> None:
    run("ip", "netns", "add", HUB)
    for i in range(n):
        run("ip", "netns", "add", device_ns(i))
    hub = [f"link add {BRIDGE} type bridge", f"addr add {HUB_IP}/24 dev {BRIDGE}", f"link set {BRIDGE} up",
           "link set lo up"]
    batch("ip", hub, HUB)
    for i in range(n):
        v, e = f"{PREFIX}-v{i}", f"{PREFIX}-e{i}"
        # created inside the hub, so the pair never appears among the host's interfaces
        batch("ip", [f"link add {v} type veth peer name {e}", f"link set {e} netns {device_ns(i)}",
                      f"link set {v} master {BRIDGE}", f"link set {v} up"], HUB)
        # one packet per segment: htb meters each packet, and a 64-KB GSO packet would pass at once
        batch("ip", [f"link set {e} name eth0", "link set eth0 gso_max_segs 1", "link set eth0 gso_max_size 1500",
                      f"addr add {device_ip(i)}/24 dev eth0", "link set eth0 up", "link set lo up"], device_ns(i))
        lines = ["qdisc add dev eth0 root handle 1: htb default 1",
                 f"class add dev eth0 parent 1: classid 1:1 htb rate {UNSHAPED}"]
        for j in range(n):
            if j != i:
                lines += [f"class add dev eth0 parent 1: classid {classid(j)} htb rate 100mbit",
                          f"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {device_ip(j)}/32 "
                          f"flowid {classid(j)}"]
        batch("tc", lines, device_ns(i))


def set_rates(rates_mbps) -> None:
    """Every directed link's rate (Mb/s; ``rates_mbps[i][j]`` for i→j), changed in place."""
    n = len(rates_mbps)
    for i in range(n):
        batch("tc", [f"class change dev eth0 parent 1: classid {classid(j)} htb rate {max(rates_mbps[i][j], 1e-3):.6f}mbit "
                      f"ceil {max(rates_mbps[i][j], 1e-3):.6f}mbit" for j in range(n) if j != i], device_ns(i))


def cut(i: int, j: int) -> None:
    """Cut link i–j: a blackhole route for each one's address in the other's namespace."""
    run("ip", "-n", device_ns(i), "route", "add", "blackhole", f"{device_ip(j)}/32")
    run("ip", "-n", device_ns(j), "route", "add", "blackhole", f"{device_ip(i)}/32")
    save(cut=sorted({*map(tuple, saved().get("cut", [])), (min(i, j), max(i, j))}))


def restore(i: int, j: int) -> None:
    """Undo ``cut(i, j)``."""
    run("ip", "-n", device_ns(i), "route", "del", "blackhole", f"{device_ip(j)}/32", check=False)
    run("ip", "-n", device_ns(j), "route", "del", "blackhole", f"{device_ip(i)}/32", check=False)
    save(cut=[c for c in saved().get("cut", []) if tuple(c) != (min(i, j), max(i, j))])


def class_bytes(n: int) -> list[list[int]]:
    """Bytes sent so far on every directed link (htb class counters): ``[i][j]`` for i→j."""
    out = [[0] * n for _ in range(n)]
    for i in range(n):
        text = run("tc", "-n", device_ns(i), "-s", "class", "show", "dev", "eth0", check=False).stdout
        cls = None
        for line in text.splitlines():
            w = line.split()
            if len(w) > 2 and w[0] == "class" and w[1] == "htb":
                cls = int(w[2].split(":")[1], 16) - 0x100
            elif w[:1] == ["Sent"] and cls is not None and 0 <= cls < n:
                out[i][cls] = int(w[1])
                cls = None
    return out

