"""The execution engine's own loop, on a fake cluster: should it raise (a bug), every request handed over —
before or after — ends once, failed, the error named, instead of waiting for ever (a load test's drain did)."""
import threading
from types import SimpleNamespace

import pytest

from adaptres.runtime.engine import Engine
from adaptres.runtime.options import ExecutionOptions


def job(key):
    return SimpleNamespace(key=key, route=SimpleNamespace(source=0), image=None, start_at=0.0)


@pytest.fixture
def engine(monkeypatch):
    cl = SimpleNamespace(ray=None, actors=[], pids=[])
    eng = Engine(cl, ExecutionOptions(), alive=[0, 1])
    stepped = threading.Event()

    def step():
        eng._take()
        stepped.set()
        if len(eng.state) >= 2:
            raise RuntimeError("a bug in the loop")
    monkeypatch.setattr(eng, "step", step)
    monkeypatch.setattr(eng, "record", lambda key: {"key": key, **eng.ended[key]})
    return eng


def ended(eng) -> dict:
    out = {}
    while not eng.finished.empty():
        key, rec = eng.finished.get()
        assert key not in out
        out[key] = rec
    return out


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_loop_that_raises_fails_every_request_once_with_its_error(engine):
    engine.start()
    engine.submit([job(1), job(2)])
    engine._thread.join(timeout=30)
    assert not engine._thread.is_alive() and isinstance(engine.error, RuntimeError)
    first = ended(engine)
    assert set(first) == {1, 2} and engine.open() == 0
    assert all(r["status"] == "failed" and "RuntimeError: a bug in the loop" in r["reason"] for r in first.values())
    engine.submit([job(3)])  # handed over after the loop stopped: ends at once
    assert set(ended(engine)) == {3} and engine.open() == 0 and engine.twice == []
    engine.stop()


def test_closing_a_cluster_kills_every_actor_it_can_and_never_raises():
    """On the way out (Ctrl-C) an actor may be gone or Ray's connection closing: close kills the others and
    returns, so that an interruption still ends as one (status 130), not as that error."""
    from adaptres.runtime.cluster import Cluster
    killed = []

    def kill(actor, no_restart):
        if actor == "gone":
            raise RuntimeError("the connection to Ray is closing")
        killed.append((actor, no_restart))

    cl = Cluster.__new__(Cluster)
    cl.ray, cl.actors, cl.pids = SimpleNamespace(kill=kill), ["a", "gone", "b"], [1, 2, 3]
    cl.close()
    assert killed == [("a", True), ("b", True)] and cl.actors == [] and cl.pids == []
