"""Column generation for one step (the ``colgen`` method): a Dantzig–Wolfe reformulation of SPEC §5.

Each request chooses among whole plans — a configuration and the device of every unit — rather than
unit by unit: ``data`` (a step as arrays, a column's cost and use of the devices), ``pricing`` (the
cheapest column under the master's prices, by dynamic programming over units × devices for every
configuration at once) and ``master`` (the restricted master on HiGHS through ``highspy``).
"""
