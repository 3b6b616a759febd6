"""The test bed's processes, with stand-ins (no namespaces, no root needed): the bring-up when Ray's head does not
register in time (a loaded host) — every node stopped and the bring-up tried again, the head alone first; a head
that never registers is an error naming the head — a driver that does not end after Ctrl-C, and a command that
takes down the bed it brought up and leaves one it found up."""
import contextlib
import os
import signal
import subprocess
import sys
import textwrap

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


@pytest.mark.slow  # a subprocess
def test_a_driver_that_ignores_ctrl_c_is_stopped_after_the_grace_and_says_where_it_was(tmp_path):
    """Ctrl-C reaches the command and the driver it re-executed inside the hub; a driver still running after the
    grace is stopped by SIGABRT, its threads' stacks printed (faulthandler), and the command ends with 130."""
    child = tmp_path / "stuck_driver.py"
    child.write_text(textwrap.dedent("""
        import signal, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("ready", flush=True)
        def stuck_in_a_step():
            while True:
                time.sleep(0.1)
        stuck_in_a_step()
    """))
    command = tmp_path / "command.py"
    command.write_text(textwrap.dedent(f"""
        import subprocess, sys
        from adaptres.testbed import driver
        popen = subprocess.Popen
        driver.subprocess.Popen = lambda argv, **kw: popen(argv[4:], **kw)  # without 'ip netns exec HUB'
        sys.exit(driver.reexec_inside([{str(child)!r}], grace_s=2.0))
    """))
    p = subprocess.Popen([sys.executable, str(command)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True,  # Ctrl-C's default (pytest-xdist's workers ignore SIGINT, and
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # pass that on)
    try:
        assert p.stdout.readline().strip() == "ready"
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:  # a failure leaves neither the command nor its driver running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert p.returncode == 130, err
    assert "did not end within 2 s of Ctrl-C" in err
    assert "stuck_in_a_step" in err and "most recent call first" in err  # where the driver was


@pytest.mark.parametrize("was_up", [False, True])
@pytest.mark.parametrize("driver", ["ends", "ctrl_c", "raises"])
def test_a_command_takes_down_the_bed_it_brought_up_and_leaves_one_it_found(monkeypatch, was_up, driver):
    """``serve``/``load --testbed netns`` from the host re-run themselves inside the hub: a bed found up is used
    and left up; one they brought up is taken down however the driver ended (its status, 130 after Ctrl-C, or an
    error) — the shared test bed's tests find it up, so this rule is held here with stand-ins."""
    from adaptres import testbed
    from adaptres.cli import runtime
    calls = []

    def reexec_inside(argv):
        calls.append("driver")
        if driver == "raises":
            raise OSError("ip: not found")
        return 130 if driver == "ctrl_c" else 0
    up = testbed.Status(3, ["hub", "d0", "d1", "d2"], {}, [])
    monkeypatch.setattr(testbed, "status", lambda: up if was_up else testbed.Status(None, [], {}, []))
    monkeypatch.setattr(testbed, "up", lambda n: calls.append(f"up {n}") or (0.0 if was_up else 1.5))
    monkeypatch.setattr(testbed, "down", lambda: calls.append("down") or 0.5)
    monkeypatch.setattr(testbed, "reexec_inside", reexec_inside)
    monkeypatch.setattr(testbed, "head_answers", lambda: True)
    monkeypatch.setattr(testbed, "namespaces", lambda: [])
    monkeypatch.setattr(testbed, "host_links", lambda: 0)
    with pytest.raises(SystemExit if driver != "raises" else OSError) as e:
        runtime.inside_testbed(3)
    if driver != "raises":
        assert e.value.code == (130 if driver == "ctrl_c" else 0)
    assert calls == (["driver"] if was_up else ["up 3", "driver", "down"])


@pytest.mark.parametrize("found", ["whole", "with a link cut", "of another size", "none"])
def test_a_notebook_runs_on_a_whole_bed_and_leaves_one_it_found_whole(monkeypatch, found):
    """``held(n, clean=True)`` (notebooks 09 and 12): a bed found up with n devices and no link cut is used, the
    links cut during the work restored after, and left up; one with a link cut or of another size is taken down,
    one brought up and taken down after; none: brought up, taken down."""
    from adaptres import testbed
    bed = {"whole": (3, []), "with a link cut": (3, [(0, 2)]), "of another size": (2, []), "none": (None, [])}[found]
    state = {"devices": bed[0], "cut": list(bed[1])}
    calls = []

    def status():
        n = state["devices"]
        return testbed.Status(n, [] if n is None else ["hub", *(f"d{i}" for i in range(n))], {}, list(state["cut"]))

    def up(n):
        calls.append(f"up {n}")
        state.update(devices=n, cut=[])
        return 1.0

    def down():
        calls.append("down")
        state.update(devices=None, cut=[])
        return 0.5

    def restore(i, j):
        calls.append(f"restore {i}-{j}")
        state["cut"].remove((i, j))
    for name, fn in (("status", status), ("up", up), ("down", down), ("restore", restore),
                     ("head_answers", lambda: state["devices"] is not None), ("namespaces", lambda: []),
                     ("host_links", lambda: 0)):
        monkeypatch.setattr(testbed, name, fn)
    times: dict = {}
    with testbed.held(3, times, clean=True) as was_found:
        state["cut"].append((1, 2))  # the work cuts a link
    if found == "whole":
        assert was_found and calls == ["restore 1-2"] and times == {"found_up": True}
        assert state == {"devices": 3, "cut": []}
    else:
        assert not was_found and state["devices"] is None
        assert set(times) == {"up_s", "down_s", "left_namespaces", "left_host_links"} and times["left_namespaces"] == 0
        assert calls == (["down"] if found in ("with a link cut", "of another size") else []) + ["up 3", "down"]
