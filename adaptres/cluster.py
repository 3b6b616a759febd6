"""Ray, started once per process: the engine of the runtime (one actor per device) and of the sweeps
(one task per (point, seed) run).

``start()`` starts a local Ray (or joins a cluster with ``address``) unless one is already running,
quietly (no dashboard, no worker logs on the driver) and with a small object store: activations of
a ResNet at batch 1 and a model's weights are megabytes. On this 2-core machine ``ray.init`` takes
about 4-5 s, so tests and notebooks start it once.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys

OBJECT_STORE_BYTES = 512 * 2**20
_OWN_SESSION: str | None = None  # the session folder of the local Ray started here


def start(address: str | None = None, num_cpus: int | None = None):
    """Ray, started here (locally, or joined to the cluster at ``address``) unless already running.
    Returns the ``ray`` module."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    # a segment lost with its device leaves an errored reference that nobody reads: not an error to print
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    import ray
    if ray.is_initialized():
        return ray
    global _OWN_SESSION
    kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
              "configure_logging": True}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), object_store_memory=OBJECT_STORE_BYTES, **kwargs)
        from ray._private import worker
        node = worker._global_node
        _OWN_SESSION = node.get_session_dir_path() if node is not None else None
        atexit.register(stop)  # a process that exits without stopping Ray leaves no session folder either
    return ray


def cpus() -> int:
    """The CPUs of the running Ray (local or the cluster), or this machine's without Ray."""
    import ray
    if ray.is_initialized():
        return int(ray.cluster_resources().get("CPU", 1))
    return os.cpu_count() or 1


@contextlib.contextmanager
def scoped():
    """The work inside may start Ray (``start``): if it was not running before, it is stopped when the work
    ends and its session folder removed — a notebook's kernel is killed, not exited, so ``atexit`` would not
    run. A Ray already running (a test session's, a cluster joined earlier) is left as it was."""
    running = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    try:
        yield
    finally:
        if not running and "ray" in sys.modules and sys.modules["ray"].is_initialized():
            stop()


def stop() -> None:
    """Shut down the Ray this process started, and remove its session folder (logs, sockets), which Ray
    leaves under its temporary folder."""
    global _OWN_SESSION
    import ray
    if ray.is_initialized():
        ray.shutdown()
    if _OWN_SESSION:
        shutil.rmtree(_OWN_SESSION, ignore_errors=True)
        _OWN_SESSION = None
