"""The objective (Eq 5) over the model's decisions."""

from __future__ import annotations

import pyomo.environ as pyo

from ...problem.formulas import UNSERVED_PENALTY
from .model import Data

ALPHA_ZERO_EPS = 1e-6  # with α = 0, latency still breaks ties (SPEC §5)


def weighted_sum(m: pyo.ConcreteModel, d: Data) -> None:
    """Eq 5: α · L̂ + β · ΔA + 10 · U, minimised (with α = 0, α is taken as 1e-6), plus the scenario's price of
    the devices' energy where it has one (``formulas.energy_charge``)."""
    sc = d.sc
    Rn = max(d.R, 1)
    a0 = sc.configs[0].accuracy
    alpha = sc.alpha if sc.alpha > 0 else ALPHA_ZERO_EPS
    m.latency_norm = pyo.Expression(expr=sum(m.latency[r] for r in m.R) / (Rn * sc.l_ref()))
    m.accuracy_loss = pyo.Expression(expr=sum((a0 - sc.configs[k].accuracy) / a0 * m.y[r, k]
                                              for r in m.R for k in m.K) / Rn)
    m.n_unserved = pyo.Expression(expr=sum(1 - m.s[r] for r in m.R))
    m.energy_charge = pyo.Expression(expr=sc.kernel.charge([m.energy_used[i] for i in m.I]))
    m.obj = pyo.Objective(expr=alpha * m.latency_norm + sc.beta * m.accuracy_loss + UNSERVED_PENALTY * m.n_unserved
                          + m.energy_charge, sense=pyo.minimize)
