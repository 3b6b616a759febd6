"""The execution engine's own loop, on a fake cluster: should it raise (a bug), every request handed over —
before or after — ends once, failed, the error named, instead of waiting for ever (a load test's drain did); and an
activation lost with its device (an input with its sender, an answer with the device that computed it) fails that
device, not another, and its request resumes from a survivor's activation."""
import threading
import time
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


def lost_input_engine(monkeypatch, alive, answered=False):
    """An engine mid-way through one request routed source → a → b: the segment on b is in flight, its input sent
    from a; Ray answers it with the error a receiving device's task raises when the sender died before the input
    arrived (``RayTaskError(OwnerDiedError)``, as Ray 2 raises it) — or, ``answered``, b's segment is done and the
    answer it holds is lost when read. Re-plans are caught, not solved."""
    import ray.exceptions as rex

    from adaptres.experiments import trials
    from adaptres.problem.plan import Assignment, Plan
    from adaptres.runtime import routes as R
    from adaptres.runtime.jobs import InFlight, Job, Progress

    sc = trials.scenario(4, 1, 0)
    s = sc.requests[0].source
    a, b = [d for d in range(4) if d != s][:2]
    names, k = sc.unit_names, len(sc.unit_names) // 3
    plan = Plan("t", [Assignment(True, 0, {n: (s if j < k else a if j < 2 * k else b) for j, n in enumerate(names)})])
    route = R.routes(sc, plan)[0]
    assert [g.device for g in route.segments] == [s, a, b]

    lost = rex.RayTaskError("hop", "", rex.OwnerDiedError("00" * 28, None, "")).as_instanceof_cause()

    def get(ref):
        if ref == "rec3" and answered:
            return {"arrive": time.time(), "end": time.time()}
        raise lost
    cl = SimpleNamespace(ray=SimpleNamespace(get=get), actors=[None] * 4, pids=[0] * 4)
    eng = Engine(cl, ExecutionOptions(), alive=alive(s, a, b))
    st = Progress(Job(0, sc, 0, route, "image", {}, 0, 0), route, [(0, s, "image"), (k, s, "x1"), (2 * k, a, "x2")],
                  seg=2, hop=3, started=time.time())
    st.inflight = InFlight(3, b, "x3", "rec3", time.time(), a, "t3")
    eng.state[0], eng.pending["rec3"] = st, (0, 3)
    dispatched = []
    monkeypatch.setattr(eng, "_dispatch", lambda group, what: dispatched.append(group))
    return eng, st, dispatched, (s, a, b, k)


@pytest.mark.parametrize("sender", ["not yet found failed", "found failed before"])
def test_an_input_lost_with_its_sender_fails_the_sender_not_the_device_it_was_sent_to(monkeypatch, sender):
    """Under three kills a moment apart, a live device was taken for failed: its segment's input, a reference into
    the killed sender's store, was lost with it. The sender is the device that failed, and the request resumes
    from the activation a survivor holds — whether the sender's failure is found here or was found before."""
    known = sender == "found failed before"
    eng, st, dispatched, (s, a, b, k) = lost_input_engine(
        monkeypatch, lambda s, a, b: set(range(4)) - ({a} if known else set()))
    failed = eng._collect(["rec3"])
    assert b not in failed and failed == (set() if known else {a})
    assert st.inflight is None and st.lost[-1]["device"] == b and st.lost[-1]["input_lost_with"] == a
    if not known:
        assert dispatched == []  # the engine's step fails the sender, which re-plans this request with its others
        eng._failed(failed)
    assert [f["device"] for f in eng.failures] == ([] if known else [a]) and b in eng.alive
    assert len(dispatched) == 1 and [(q.request, q.start, q.holder) for q in dispatched[0]] == [(0, k, s)]


def test_an_answer_lost_with_its_device_before_it_was_read_is_computed_again(monkeypatch):
    """The last segment done, its device killed just after: over real links its answer is in that device's store,
    lost with it (Ray's ``OwnerDiedError`` when read). The request neither stops the engine's loop (a load test's
    did: every open request failed) nor hangs: the device is found failed, the request resumes from a survivor's
    activation."""
    eng, st, dispatched, (s, a, b, k) = lost_input_engine(monkeypatch, lambda s, a, b: set(range(4)), answered=True)
    failed = eng._collect(["rec3"])
    assert failed == {b} and 0 not in eng.ended and st.lost[-1]["device"] == b and st.lost[-1]["answer_lost"]
    eng._failed(failed)
    assert [f["device"] for f in eng.failures] == [b]
    assert len(dispatched) == 1 and [(q.request, q.start, q.holder) for q in dispatched[0]] == [(0, 2 * k, a)]
