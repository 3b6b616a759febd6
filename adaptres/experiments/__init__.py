"""Experiments on top of the problem and solver sides: the profiles (``profiles``), the time-stepped
simulation and its sweeps (``sim``), the evaluation sections (``sections``), the solver comparison
(``compare``) and the paper's claims (``claims``)."""
