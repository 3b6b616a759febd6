"""The failure detector, on a fake Ray: a killed device is found at once through the control store, a slow
one (late pings, the store holding it ALIVE) is not taken for dead, a hung one is after ``hung_s``, a
restarted one (a new process) is, and the store is asked at most every ``store_every_s``."""
import pytest
import ray.exceptions as rex

from adaptres.runtime.detector import HeartbeatDetector


class Ref:
    def __init__(self, device):
        self.device = device


class Actor:
    def __init__(self, d):
        self.d = d
        self.ping = self

    def remote(self):
        return Ref(self.d)


class FakeRay:
    """``get`` answers each device's ping with its pid, or raises what the test set."""

    def __init__(self, pids):
        self.pids, self.raises = dict(pids), {}

    def get(self, ref):
        if ref.device in self.raises:
            raise self.raises[ref.device]
        return self.pids[ref.device]


@pytest.fixture
def det(monkeypatch):
    store = {0: "ALIVE", 1: "ALIVE", 2: "ALIVE"}
    asked = []
    d = HeartbeatDetector(FakeRay({0: 10, 1: 11, 2: 12}), [Actor(i) for i in range(3)], [10, 11, 12],
                          interval_s=0.05, timeout_s=1.0, suspect_s=0.1, hung_s=10.0, store_every_s=0.25,
                          alive={0, 1, 2})

    def state(actor):
        asked.append(actor.d)
        return store[actor.d]
    monkeypatch.setattr(d, "state", state)
    return d, store, asked


def answered(d, now, devices):
    """The pings of ``devices`` come back at ``now``; returns the devices found failed."""
    return d.collect({d.pings[k][0] for k in devices if k in d.pings}, now)


def test_a_killed_device_is_found_through_the_store(det):
    d, store, _ = det
    d.poll(0.0)
    assert answered(d, 0.05, [0, 1, 2]) == set()
    d.poll(0.1)
    store[1] = "DEAD"
    assert answered(d, 0.25, [0, 2]) == {1}  # its ping late by 0.15 s: the store says dead


def test_a_slow_device_is_not_taken_for_dead(det):
    """Late pings of an actor the store holds ALIVE (a loaded machine): no failure, even past the old 1-s
    timeout, and the store is not asked more than every 0.25 s."""
    d, _, asked = det
    d.poll(0.0)
    failed = set()
    for k in range(1, 80):  # 4 s of loop steps, 0.05 s apart: device 2 never answers
        t = 0.05 * k
        failed |= answered(d, t, [0, 1])
        d.poll(t)
    assert failed == set()
    assert 8 <= asked.count(2) <= 17, asked.count(2)


def test_a_hung_device_fails_after_hung_s(det):
    d, _, _ = det
    d.poll(0.0)
    assert answered(d, 9.9, [0, 1]) == set()
    assert answered(d, 10.01, []) == {2}


def test_a_restarted_device_has_failed(det):
    d, _, _ = det
    d.ray.pids[0] = 99  # answers from a new process
    d.poll(0.0)
    assert answered(d, 0.02, [0, 1, 2]) == {0}


def test_temporarily_unavailable_is_temporary(det):
    """Ray's ActorUnavailableError: not a failure while it lasts less than ``timeout_s``, a failure after."""
    d, _, _ = det
    d.ray.raises[1] = rex.ActorUnavailableError("unavailable", b"\0" * 16)
    d.poll(0.0)
    assert answered(d, 0.02, [0, 1, 2]) == set()
    d.poll(0.5)
    assert answered(d, 0.52, [0, 1, 2]) == set()
    del d.ray.raises[1]
    d.poll(0.9)
    assert answered(d, 0.92, [0, 1, 2]) == set()
    assert 1 not in d.unavailable  # answered again: forgotten
    d.ray.raises[1] = rex.ActorUnavailableError("unavailable", b"\0" * 16)
    d.poll(2.0)
    assert answered(d, 2.02, [0, 1, 2]) == set()
    d.poll(3.1)
    assert answered(d, 3.12, [0, 1, 2]) == {1}
