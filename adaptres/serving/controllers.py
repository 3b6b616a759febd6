"""Controllers: what each step's solver is asked, given the steps still to come (no torch).

The paper optimises every step on its own (``myopic``): a step that can serve its requests at full
accuracy does, whatever that leaves for the steps after it. ``horizon`` prices energy by the future
with Lyapunov drift-plus-penalty (Neely, *Stochastic Network Optimization*, 2010): each device i keeps a
virtual deficit queue

    Q_i(t+1) = max(0, Q_i(t) + E_i(t) − B_i(t) / (T − t)),

what it spent beyond a sustainable share of its battery (battery now over the steps left), and the
step's scenario carries the price Q_i / V per joule of device i (``Scenario.energy_price``), which every
registered solver adds to Eq 5 (``formulas.energy_charge``): a device that has overspent is spared, a
request is served by cheaper placements and configurations, and with V → ∞ the controller is myopic.
It sees what a deployed controller would — the batteries now, the horizon's length, what each device
spent — never the future draws. The cost model is the solvers' own: the controller only sets a price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..io import InputError
from ..problem.scenario import RANGES, Scenario

CONTROLLERS = ("myopic", "horizon")


class ControllerError(InputError):
    """A bad controller parameter; the message names it."""


@dataclass(frozen=True)
class Params:
    """The horizon controller's parameters (data in the profiles)."""

    v: float = 20.0  # drift-plus-penalty's V, J² per objective unit: a deficit of Q joules prices a joule at Q / V

    def __post_init__(self):
        v = self.v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= 1e9:
            raise ControllerError(f"v: must be a number in (0, 1e9] (J² per objective unit), got {v!r}")


class Myopic:
    """Each step as it is: the paper's per-step optimisation."""

    name = "myopic"

    def scenario(self, sc: Scenario, t: int) -> Scenario:
        return sc

    def observe(self, t: int, spent: Sequence[float], battery: Sequence[float]) -> None:
        pass

    def prices(self) -> np.ndarray | None:
        return None


class Horizon:
    """Drift-plus-penalty over a horizon of ``steps`` steps on ``n_devices`` devices (see the module)."""

    name = "horizon"

    def __init__(self, n_devices: int, steps: int, params: Params = Params()):
        self.steps, self.params = steps, params
        self.deficit = np.zeros(n_devices)

    def prices(self) -> np.ndarray:
        """Objective units per joule of each device: its deficit over V (within the scenario's range)."""
        return np.minimum(self.deficit / self.params.v, RANGES["energy_price"][1])

    def scenario(self, sc: Scenario, t: int) -> Scenario:
        """The step's scenario with the devices' prices of energy (unchanged while no device owes any)."""
        p = self.prices()
        return sc.replace(energy_price=tuple(float(x) for x in p)) if p.any() else sc

    def observe(self, t: int, spent: Sequence[float], battery: Sequence[float]) -> None:
        """After step t: ``spent`` joules per device out of ``battery`` (before the step)."""
        share = np.asarray(battery, dtype=float) / max(self.steps - t, 1)
        self.deficit = np.maximum(0.0, self.deficit + np.asarray(spent, dtype=float) - share)


def make(name: str, n_devices: int, steps: int, params: Params | None = None):
    """A controller by name (``CONTROLLERS``); a bad name is a ``ControllerError`` naming ``controller``."""
    if name == "myopic":
        return Myopic()
    if name == "horizon":
        return Horizon(n_devices, steps, params or Params())
    raise ControllerError(f"controller: must be one of {', '.join(CONTROLLERS)}, got {name!r}")
