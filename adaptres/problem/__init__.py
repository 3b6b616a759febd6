"""The problem side (no torch): the paper's cost formulas, typed scenarios and plans, the evaluator,
and the unit-cost and accuracy tables as data.

Import what you need from the modules: ``scenario`` (``Scenario`` and its parts), ``plan``
(``Plan``), ``evaluate``, ``formulas`` (Eqs 1, 2, 5, 7-11, 19), ``unit_costs``, ``accuracy``,
``generate`` (devices, rates, seeded steps).
"""

from .plan import Assignment, Plan
from .scenario import Config, Device, Request, Scenario, ScenarioError, Unit

__all__ = ["Assignment", "Config", "Device", "Plan", "Request", "Scenario", "ScenarioError", "Unit"]
