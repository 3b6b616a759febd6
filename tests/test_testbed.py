"""The network test bed, shared by the tests that need it (one bring-up, one group of the parallel run): the
closed loop and the load test on real shaped links, a link cut and devices killed under them, a driver
interrupted leaving the bed as it was, and a driver killed (the bed's last test) leaving nothing ``testbed down``
does not remove. Needs root and iproute2 (skipped elsewhere)."""
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from conftest import TESTBED_DEVICES

from adaptres import testbed

REPO = Path(__file__).resolve().parent.parent
NO_TESTBED = testbed.available()
pytestmark = [pytest.mark.skipif(NO_TESTBED is not None, reason=f"network test bed: {NO_TESTBED}"),
              pytest.mark.slow, pytest.mark.xdist_group("testbed")]
N = TESTBED_DEVICES  # the shared bed (conftest's ``bed``)


def adaptres(*argv, timeout=280):
    p = subprocess.run([sys.executable, "-m", "adaptres", *map(str, argv)], capture_output=True, text=True, cwd=REPO,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p


def _left() -> dict:
    """What of the test bed exists: namespaces, veths of its prefix on the host, its Ray processes."""
    return {"namespaces": len(testbed.namespaces()), "host_links": testbed.host_links(),
            "processes": sum(len(testbed.ns_pids(ns)) for ns in testbed.namespaces())}


def test_serve_with_a_cut_link_never_crosses_it_once_found(bed, tmp_path):
    """A link cut early in step 0: every request ends once; a hop over the link after the cut is what finds it
    (probes), and once found no later hop crosses it; if nothing tried it, nothing crossed it after the cut."""
    out = tmp_path / "live.csv"
    adaptres("serve", "--devices", N, "--steps", 2, "--seed", 0, "--testbed", "netns", "--cut", "0-2@0:0.2",
             "--out", out)
    assert testbed.status().up  # found up, left up
    rows, recs = pd.read_csv(out, comment="#"), json.loads(out.with_suffix(".json").read_text())
    assert rows["lost"].sum() == 0 and len(recs["requests"]) == rows["n_requests"].sum()
    assert {q["status"] for q in recs["requests"]} <= {"answered", "unserved", "failed"}
    assert any(e["kind"] == "cut" and e["link"] == [0, 2] for e in recs["events"])
    found = [e for e in recs["events"] if e["kind"] == "link"]
    hops = [(q["step"], h) for q in recs["requests"] for h in q["hops"] if {h["src"], h["device"]} == {0, 2}]
    after_cut = [(t, h) for t, h in hops if t > 0 or h["arrive"] >= 0.2]
    if not found:
        assert not after_cut, after_cut  # nothing tried the cut link
    else:
        assert found[0]["link"] == [0, 2] and found[0]["detected_s"] >= 0.2
        assert not [h for t, h in hops if t > found[0]["step"]]  # later steps plan around it
    answered = [q for q in recs["requests"] if q["status"] == "answered"]
    assert all(q["bytes_sent"] == sum(h["bytes"] for h in q["hops"]) for q in answered)
    assert rows["wire_bytes"].sum() >= rows["bytes_sent"].sum()  # the bytes crossed the shaped links
    assert testbed.status().cut == [(0, 2)]
    testbed.restore(0, 2)  # the next tests get the link back
    assert testbed.status().cut == []


def test_a_live_load_survives_a_killed_device(bed, tmp_path):
    """The adaptive policy under load with device 1 killed: the kill is found, nothing is lost, every request
    ends once, and nothing planned after it was found runs on the dead device."""
    out = tmp_path / "load.csv"
    adaptres("load", "--policy", "adaptive", "--profile", "fast", "--devices", N, "--load", 1.0, "--duration", 8,
             "--executor", "live", "--testbed", "netns", "--fail", "1@3", "--out", out)
    t, s = pd.read_csv(out, comment="#", keep_default_na=False), json.loads(out.with_suffix(".json").read_text())
    kill = [e for e in s["events"] if e["kind"] == "device"]
    assert len(kill) == 1 and kill[0]["device"] == 1 and kill[0]["detected_s"] >= 3.0
    assert s["lost"] == 0 and len(t) == s["arrived"] and t["id"].is_unique
    assert s["answered"] + s["refused"] + s["unserved"] + s["failed"] == s["arrived"]
    later = t[(t["planned_s"] > kill[0]["detected_s"] + 1.0) & (t["status"] == "answered")]
    assert len(later) and not later["devices"].astype(str).str.split().map(lambda d: "1" in d).any()


def test_a_live_load_plans_around_a_cut_link(bed, tmp_path):
    """Link 0-2 cut under load: once found, no request planned after it crosses it."""
    out = tmp_path / "load.csv"
    adaptres("load", "--policy", "static", "--profile", "fast", "--devices", N, "--load", 0.5, "--duration", 8,
             "--executor", "live", "--testbed", "netns", "--cut", "0-2@2", "--out", out)
    t, s = pd.read_csv(out, comment="#", keep_default_na=False), json.loads(out.with_suffix(".json").read_text())
    assert s["lost"] == 0
    found = [e for e in s["events"] if e["kind"] == "link"]
    crossing = t["links"].astype(str).str.split().map(lambda ls: bool({"0-2", "2-0"} & set(ls)))
    if found:
        assert not (crossing & (t["planned_s"] > found[0]["detected_s"])).any()
    else:
        assert not (crossing & (t["planned_s"] > 2.0)).any()
    testbed.restore(0, 2)  # the next runs get the link back


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def _until(p: subprocess.Popen, words: str) -> tuple[list[str], threading.Thread]:
    """Read the command's log until a line with ``words`` (an event, not a timer); the rest of the log is read
    on by the thread returned (the pipe never fills) into the list returned: what happened, if the test fails."""
    log: list[str] = []
    for line in p.stderr:
        log.append(line)
        if words in line:
            reader = threading.Thread(target=lambda: log.extend(p.stderr), daemon=True)
            reader.start()
            return log, reader
    raise AssertionError(f"the command ended before saying {words!r} (status {p.wait()}):\n{''.join(log[-40:])}")


def _serve_until_a_step_is_written(out: Path, devices: int) -> tuple[subprocess.Popen, list[str], threading.Thread]:
    """``serve`` on the test bed (Ctrl-C's default: pytest-xdist's workers ignore SIGINT and pass that on), read
    until its first step is written."""
    argv = [sys.executable, "-m", "adaptres", "serve", "--devices", str(devices), "--steps", "50", "--seed", "0",
            "--testbed", "netns", "--out", str(out)]
    p = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log, reader = _until(p, "step 1 of 50 written")
    return p, log, reader


def _stop(p: subprocess.Popen, how: signal.Signals, log: list[str], reader: threading.Thread) -> int:
    """Send ``how`` to the command's process group; its status (a command still running 120 s later: an error)."""
    os.killpg(p.pid, how)
    try:
        rc = p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        reader.join(timeout=10)
        testbed.down()
        raise AssertionError(f"{how.name}: serve still running 120 s later:\n{''.join(log[-60:])}") from None
    reader.join(timeout=10)
    return rc


def test_ctrl_c_ends_serve_with_its_steps_written_and_the_bed_left_as_it_found_it(bed, tmp_path):
    """Ctrl-C (to the command's process group: the command and the driver it runs inside the hub) ends ``serve``
    with status 130 and its finished steps written; the bed it found up is left up, with nothing of the driver's
    left in it (that a bed the command brought up is taken down: ``test_testbed_processes``)."""
    before = {k: v for k, v in _left().items() if k != "processes"}  # Ray's workers come and go on their own
    out = tmp_path / "live.csv"
    p, log, reader = _serve_until_a_step_is_written(out, N)
    assert _stop(p, signal.SIGINT, log, reader) == 130, "".join(log[-60:])
    assert len(pd.read_csv(out, comment="#")) >= 1
    assert testbed.status().up and {k: v for k, v in _left().items() if k != "processes"} == before
    drivers = [pid for ns in testbed.namespaces() for pid in testbed.ns_pids(ns)
               if b"adaptres\0serve" in _cmdline(pid)]
    assert drivers == []  # the driver inside the hub ended with the command


@pytest.mark.takes_testbed_down
def test_after_kill_9_of_a_driver_testbed_down_removes_everything(bed, tmp_path):
    """The last test of the shared test bed: ``serve`` killed by SIGKILL mid-horizon takes nothing down (nothing
    ran to do it); ``testbed down`` then removes everything (namespaces, veths, Ray processes, the job's too)."""
    out = tmp_path / "live.csv"
    p, log, reader = _serve_until_a_step_is_written(out, N)
    assert _stop(p, signal.SIGKILL, log, reader) == -signal.SIGKILL
    assert testbed.namespaces()  # killed: nothing took it down
    assert subprocess.run([sys.executable, "-m", "adaptres", "testbed", "down"], cwd=REPO,
                          capture_output=True, timeout=60).returncode == 0
    assert _left() == {"namespaces": 0, "host_links": 0, "processes": 0}
