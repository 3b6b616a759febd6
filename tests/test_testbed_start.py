"""The test bed's bring-up when Ray's head does not register in time (a loaded host): every node is stopped and
the bring-up tried again, the head alone first; a head that never registers is an error naming the head. The nodes are
stand-in processes here (no namespaces, no root needed)."""
import subprocess
import sys

import pytest

from adaptres.testbed import names, nodes


def _fake(monkeypatch, tmp_path, head_fails: int):
    started, killed = [], []

    def ray(ns, *args):
        head = "--head" in args
        started.append("head" if head else ns)
        fail = head and started.count("head") <= head_fails
        code = "print('Exception: The current node timed out during startup.'); raise SystemExit(1)" if fail else ""
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    wait = nodes._wait

    def waited(procs, timeout=120.0):
        started.extend(f"wait {name}" for name in procs)
        wait(procs, timeout)

    monkeypatch.setattr(nodes, "_ray", ray)
    monkeypatch.setattr(nodes, "_wait", waited)
    monkeypatch.setattr(nodes, "_token", lambda: None)
    monkeypatch.setattr(nodes, "TEMP", tmp_path / "ray")
    monkeypatch.setattr(nodes, "_listening", lambda ns, port: False)
    monkeypatch.setattr(nodes, "_registered", lambda i: False)
    monkeypatch.setattr(nodes, "namespaces", lambda: ["hub", "d0", "d1"])
    monkeypatch.setattr(nodes, "ns_pids", lambda ns: [{"hub": 11, "d0": 12, "d1": 13}[ns]])
    monkeypatch.setattr(nodes, "kill", lambda pids: killed.append(sorted(pids)))
    return started, killed


def test_a_head_that_times_out_once_is_started_again_alone_first(monkeypatch, tmp_path):
    started, killed = _fake(monkeypatch, tmp_path, head_fails=1)
    ticks = []
    nodes.start(2, progress=ticks.append)
    d0, d1 = nodes.device_ns(0), nodes.device_ns(1)
    first, second = started[:4], started[4:]
    assert first == ["head", d0, d1, "wait head"]  # at first the devices start while the head still starts
    assert second == ["head", "wait head", d0, d1, "wait device 0", "wait device 1"]  # then the head alone first
    assert killed == [[11, 12, 13]]  # every node of the first try stopped, before the second
    assert ticks == [1, 1, 1]  # the head and each device once, all from the try that worked


def test_a_head_that_times_out_every_time_is_an_error_naming_it(monkeypatch, tmp_path):
    started, killed = _fake(monkeypatch, tmp_path, head_fails=len(nodes.HEAD_TRIES))
    with pytest.raises(names.TestBedError, match="head: 'ray start' failed: .*timed out during startup") as e:
        nodes.start(2)
    assert type(e.value) is names.TestBedError
    assert started.count("head") == len(nodes.HEAD_TRIES) == len(killed)
    assert started[-2:] == ["head", "wait head"]  # a later try: no device before the head answers
