"""How requests are executed on the device actors (``ExecutionOptions``), as the record states them."""

from __future__ import annotations

from dataclasses import dataclass

from .. import solvers

LINKS = ("emulated", "real")


@dataclass(frozen=True)
class ExecutionOptions:
    """How requests are executed: links and compute emulated (paced to the scenario) or real; the solver
    that re-plans around a failure; the heartbeat; ``exclusive``: one request at a time (no queueing
    between them); ``accumulate``: a device keeps the weights it loaded for earlier requests (a
    pipelined load, where requests of several epochs are in flight) instead of holding only the
    current step's."""

    links: str = "emulated"
    compute: str = "emulated"
    method: str = "colgen_round"
    time_limit: float = 5.0
    heartbeat_s: float = 0.05
    heartbeat_timeout_s: float = 1.0  # a device Ray finds temporarily unavailable this long has failed (detector)
    exclusive: bool = False
    deadline_s: float | None = None  # a request not done this long after it starts ends unserved (default: 3 × its
    # modelled latency + 30 s)
    accumulate: bool = False

    def __post_init__(self):
        for name in ("links", "compute"):
            if getattr(self, name) not in LINKS:
                raise ValueError(f"{name}: must be 'emulated' or 'real', got {getattr(self, name)!r}")
        solvers.get(self.method)
        for name in ("heartbeat_s", "heartbeat_timeout_s", "time_limit"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 < v < 1e4:
                raise ValueError(f"{name}: must be a positive number of seconds, got {v!r}")

    def record(self) -> dict:
        """The options as a run's record states them."""
        return {"links": self.links, "compute": self.compute, "method": self.method, "exclusive": self.exclusive,
                "heartbeat_s": self.heartbeat_s, "heartbeat_timeout_s": self.heartbeat_timeout_s}


def options_record(options: ExecutionOptions) -> dict:
    return options.record()
