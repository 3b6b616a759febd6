"""The test bed's names and addresses: namespaces, its private /24, Ray's settings on it (no code)."""

from __future__ import annotations

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


def classid(j: int) -> str:
    return f"1:{0x100 + j:x}"
