"""The paper's cost formulas as named functions (Eqs 1, 2, 5, 7-11, 19): plain arithmetic.

The evaluator, the solvers and the network-side cost measurement all call these, so each
equation is written once.
"""

from __future__ import annotations

from typing import Any

# what Eqs 9-11 and 19 take and give: a float, a numpy array (the cost kernel) or a solver's expression
# (the MILP's coefficients) — the formulas are plain arithmetic on any of them
Quantity = Any

BITS_PER_BYTE = 8
MEGA = 1e6
MB = 1e6  # bytes in a megabyte (the solvers' memory rows, the study's tables)
GMAC = 1e9  # multiplications in a giga-multiplication (the solvers' computation rows)
UNSERVED_PENALTY = 10.0  # SPEC §5: a request left unserved adds 10 to the objective
NO_LINK = 0  # a link rate of 0 between two devices: there is no link (cut); no plan may send over it
MIN_RATE_MBPS = 1e-3  # the slowest link a scenario allows (a missing link's arithmetic uses it, masked)


def memory_load(weight_elements: int, activation_elements: int, bytes_per_element: int = 4) -> int:
    """Eq 1: memory of a unit = (its weights + the outputs of all its layers for one image) · b."""
    return (weight_elements + activation_elements) * bytes_per_element


def conv_multiplications(kernel_h: int, kernel_w: int, in_channels: int, out_channels: int, groups: int,
                         out_h: int, out_w: int) -> int:
    """Eq 2 for a convolution: K_h · K_w · C_in/groups · C_out · H_out · W_out (one image)."""
    return kernel_h * kernel_w * (in_channels // groups) * out_channels * out_h * out_w


def linear_multiplications(in_features: int, out_features: int) -> int:
    """Eq 2 for a fully connected layer: in · out."""
    return in_features * out_features


def computation_latency(macs: Quantity, macs_per_s: Quantity) -> Quantity:
    """Eq 9: time for a device of speed e_i (multiplications per second) to compute ``macs``."""
    return macs / macs_per_s


def transmission_latency(nbytes: Quantity, rate_mbps: Quantity, overhead_s: float = 0.0) -> Quantity:
    """Eqs 10-11: time to send ``nbytes`` over a link of ``rate_mbps`` megabits per second.

    Eq 10 is a direct-connection transfer (a block's output to the next block's device), Eq 11 a
    skip-connection transfer (data that passes a dropped block); both are size / rate. ``overhead_s``
    (the scenario's ``link_overhead_s``, 0 in the paper's model) is a fixed time per transfer, fitted
    on real links: what a message costs beyond its bytes (the runtime's and TCP's round trips).
    """
    return nbytes * BITS_PER_BYTE / (rate_mbps * MEGA) + overhead_s


def request_latency(computation_s: float, dc_transfer_s: float, sc_transfer_s: float, wait_s: float = 0.0) -> float:
    """Eqs 7-8: a request's latency is its computation plus its DC and SC transmission time; ``wait_s``
    (not in the paper: 0 there) the time it waits behind work submitted before it (``Scenario.ready_s``)."""
    return computation_s + dc_transfer_s + sc_transfer_s + wait_s


def energy(compute_s: Quantity, transmit_s: Quantity, p_compute_w: Quantity, p_transmit_w: Quantity) -> Quantity:
    """Eq 19: a device's energy = p_compute · computing time + p_transmit · sending time (joules)."""
    return p_compute_w * compute_s + p_transmit_w * transmit_s


def energy_charge(price_per_j: Quantity, energy_j: Quantity) -> Quantity:
    """A controller's price of a device's energy (not in the paper): price · joules, added to Eq 5 so that
    a step's plan weighs what its energy will be missed later (``Scenario.energy_price``)."""
    return price_per_j * energy_j


def objective(alpha: float, beta: float, latencies, accuracies, full_accuracy: float, n_requests: int,
              n_unserved: int, latency_ref_s: float) -> tuple[float, float, float]:
    """Eq 5: α · L̂ + β · ΔA + 10 · U, with L̂ (latency over L_ref) and ΔA (relative accuracy loss)
    averaged over all R requests of the step. Returns (objective, L̂, ΔA)."""
    if n_requests == 0:
        return 0.0, 0.0, 0.0
    l_hat = sum(latencies) / (n_requests * latency_ref_s)
    d_acc = sum((full_accuracy - a) / full_accuracy for a in accuracies) / n_requests
    return alpha * l_hat + beta * d_acc + UNSERVED_PENALTY * n_unserved, l_hat, d_acc
