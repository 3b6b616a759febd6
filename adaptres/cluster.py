"""Ray, started once per process: the engine of the runtime (one actor per device) and of the sweeps
(one task per (point, seed) run) — and the one place that reaches into Ray's private APIs
(``session_dir``, ``actor_state``): ``private_apis`` says in one line what moved when Ray changes them
(a test runs it).

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
from typing import Any

from .processes import descendants, kill

OBJECT_STORE_BYTES = 512 * 2**20
START_TRIES = 3  # a local Ray whose node does not register in time (a loaded host) is started again, twice at most
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
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
              "configure_logging": True}
    if address:
        ray.init(address=address, **kwargs)
    else:
        _init_local(ray, num_cpus=num_cpus or os.cpu_count(), object_store_memory=OBJECT_STORE_BYTES, **kwargs)
        _OWN_SESSION = session_dir()
        atexit.register(stop)  # a process that exits without stopping Ray leaves no session folder either
    return ray


def _init_local(ray, **kwargs) -> None:
    """``ray.init`` of a local Ray. Its node must register within 30 s (fixed in Ray's code); on a loaded 2-core
    host it sometimes does not ("The current node timed out during startup ... the GCS has become
    overloaded"), which is temporary: what that attempt started (its processes, its session folder) is
    removed and Ray started again."""
    for attempt in range(START_TRIES):
        children, sessions = descendants(), _sessions()
        try:
            ray.init(**kwargs)
            return
        except Exception as exc:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(exc) or attempt == START_TRIES - 1:
                raise
        with contextlib.suppress(Exception):
            ray.shutdown()
        kill(descendants() - children)
        for folder in _sessions() - sessions:
            shutil.rmtree(folder, ignore_errors=True)


def _sessions() -> set[str]:
    from ray._common.utils import get_default_ray_temp_dir  # private: where a local Ray puts its sessions
    root = get_default_ray_temp_dir()
    return {os.path.join(root, f) for f in os.listdir(root) if f.startswith("session_2")} \
        if os.path.isdir(root) else set()


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
        latest = os.path.join(os.path.dirname(_OWN_SESSION), "session_latest")  # Ray's link to it, left dangling
        with contextlib.suppress(OSError):
            if os.path.islink(latest) and os.path.realpath(latest) == os.path.realpath(_OWN_SESSION):
                os.unlink(latest)
        _OWN_SESSION = None


# ---------------------------------------------------------------------------- Ray's private APIs, here only
class RayChanged(RuntimeError):
    """Ray no longer has a private API this module relies on; the message names it."""


def session_dir() -> str | None:
    """The session folder of the Ray this process started (logs, sockets), which Ray leaves behind."""
    from ray._private import worker  # private: the node this driver started (no public API gives its folder)
    node = getattr(worker, "_global_node", None)
    return node.get_session_dir_path() if node is not None else None


def actor_state(actor) -> str | None:
    """Ray's control store's state of ``actor`` (ALIVE, RESTARTING, DEAD, ...; None when it has no record):
    public APIs give it only through the dashboard, which the runtime does not start."""
    from ray._private.state import state  # private: the store's actor table
    info = state.actor_table(actor._actor_id.hex())
    return info.get("State") if isinstance(info, dict) else None


def private_apis() -> list[str]:
    """What of Ray's private APIs this module uses is missing (empty: all there)."""
    missing = []
    try:
        from ray._private import worker
        if not hasattr(worker, "_global_node"):
            missing.append("ray._private.worker._global_node (session_dir)")
    except ImportError:
        missing.append("ray._private.worker (session_dir)")
    try:
        from ray._private.state import state
        if not callable(getattr(state, "actor_table", None)):
            missing.append("ray._private.state.state.actor_table (actor_state)")
    except ImportError:
        missing.append("ray._private.state (actor_state)")
    try:
        from ray._common.utils import get_default_ray_temp_dir
        if not callable(get_default_ray_temp_dir):
            missing.append("ray._common.utils.get_default_ray_temp_dir (a failed start's session folder)")
    except ImportError:
        missing.append("ray._common.utils.get_default_ray_temp_dir (a failed start's session folder)")
    import ray
    if not hasattr(ray.actor.ActorHandle, "_actor_id"):
        missing.append("ray.actor.ActorHandle._actor_id (actor_state)")
    return missing
