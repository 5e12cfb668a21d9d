"""Normalised eddy-current response of a layered metal stack at one frequency.

The model
---------
A coin region (the ring, the core) is a stack of layers seen from the face
next to the coil: plating or cladding, the substrate, the same cladding again
on the far face.  Every layer ``i`` has conductivity ``sigma_i``, relative
permeability ``mu_i`` and thickness ``t_i``.  At frequency ``f`` its skin
depth is::

    delta_i = 1 / sqrt(pi * f * mu_0 * mu_i * sigma_i)

The exciting field decays as ``exp(-z / delta)`` into the metal, so the eddy
current density squared (what loads the coil) decays as ``exp(-2 z / delta)``.
Layer ``i`` starts at optical depth ``a_i = sum_{j<i} t_j / delta_j`` and
contributes

* an effective sheet conductance
  ``G_i = sigma_i * delta_i / 2 * exp(-2 a_i) * (1 - exp(-2 t_i / delta_i))``
  (``sigma * t`` for a thin layer, ``sigma * delta / 2`` for a thick one), and
* an effective magnetic thickness
  ``M_i = (mu_i - 1) * delta_i / 2 * exp(-2 a_i) * (1 - exp(-2 t_i / delta_i))``.

The conductive part of the response saturates in the induction number
``x = omega * mu_0 * G * L_COIL`` with a coil coupling length ``L_COIL`` (a
fraction of the coil radius).  For a thick plate ``G = sigma delta / 2`` and so
``x = L_COIL / delta``: the response approaches a perfect conductor as
``1 - delta / L_COIL``, the classic thick-plate behaviour, and the ratio of the
two channels depends on conductivity (not on lift-off)::

    R = x / (1 + x)  -  C_MAG * y / (1 + y),      y = M / L_MAG

so ``R`` lies in (-C_MAG, 1): 1 is a perfect conductor filling the coil's
field, negative values mean magnetic material dominates.  Consequences that
match real acceptors:

* low frequency: ``delta`` is about the coin thickness, ``R`` grows with
  ``sigma x thickness`` and saturates;
* high frequency: ``delta`` is tens of microns, plating dominates, the
  substrate is shielded;
* steel and nickel: ``mu_r ~ 100`` shrinks ``delta``, so little conductive
  response but a large magnetic pull-down, larger at low frequency (deeper
  penetration, larger ``M``), which can take the response below zero.

The loss component
------------------
``R`` above is the *reactive* part of the coil's impedance change (the
inductance the coin removes).  A demodulating board also measures the *loss*
(resistive) part: the power the coin dissipates.  In the picture behind ``R``
the coin expels the share ``x / (1 + x)`` of the coil's field from its skin,
so the field left at its surface is ``h = 1 / (1 + x)`` of the field with no
coin.  Joule heat is the sheet conductance times the field there squared::

    R_cond = x / (1 + x) = 1 - h            L_cond = x h**2 = x / (1 + x)**2

* a thin or poor conductor (``x << 1``): ``L ~ x``, proportional to ``sigma t``;
* a thick good conductor (``x = L_COIL / delta >> 1``): ``R -> 1 - delta / L_COIL``
  saturates while ``L ~ delta / L_COIL`` keeps falling as the skin depth
  shrinks (the surface impedance ``(1 + j) / (sigma delta)`` of a good
  conductor: its resistive part equals the reactive deficit);
* ``L_cond / R_cond = h = 1 / (1 + x)``: a function of the induction number
  alone, i.e. of conductivity and thickness over skin depth.  The coil's gain
  and the coin's lift-off multiply both components and cancel in the ratio.

Magnetic metals add hysteresis: with the complex permeability
``mu' (1 - j tan_h)`` the magnetised volume dissipates ``mu''`` times the
field inside it squared, which the pull-down's own saturation reduces like the
conductive term::

    R_mag = -C_MAG y / (1 + y)              L_mag = C_MAG y_h / (1 + y)**2

with ``y_h = sum mu_i tan_h,i w_i / L_MAG`` over the layers (``w_i`` the
skin-depth weight below).  The model reduces a stack to one conductance and
one magnetic thickness per frequency, so a plated coin reads like a
homogeneous plate of the same conductance; :mod:`sim.physics_b` resolves the
layers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MU_0 = 4e-7 * np.pi
L_COIL_M = 1.5e-3  # puts a nickel-brass coin at the low frequency mid-range
L_MAG_M = 3.0e-3  # magnetic thickness at which the magnetic term is half saturated
C_MAG = 0.8  # saturated magnetic pull-down, in units of the perfect-conductor response


@dataclass(frozen=True, slots=True)
class LayerState:
    """One layer of n coins, at the temperature of each coin's passage.

    Attributes
    ----------
    sigma : ndarray of shape (n,)
        Conductivity, S/m.
    mu_r : float
        Relative permeability.
    thickness_m : ndarray of shape (n,)
        Thickness, metres (may be 0 where a layer is worn through).
    mu_loss_tangent : float
        Hysteresis loss tangent ``mu'' / mu'`` (0 for non-magnetic metals).
    """

    sigma: FloatArray
    mu_r: float
    thickness_m: FloatArray
    mu_loss_tangent: float = 0.0


def skin_depth_m(sigma: npt.ArrayLike, mu_r: float, freq_hz: float) -> FloatArray:
    """Skin depth ``1 / sqrt(pi f mu_0 mu_r sigma)``, metres.

    Parameters
    ----------
    sigma : array_like of shape (n,)
        Conductivity, S/m.
    """
    s = np.asarray(sigma, dtype=np.float64)
    return np.asarray(1.0 / np.sqrt(np.pi * freq_hz * MU_0 * mu_r * s))


def stack_response(layers: Sequence[LayerState], freq_hz: float) -> FloatArray:
    """Normalised (reactive) response of n layered stacks at one frequency.

    Parameters
    ----------
    layers : sequence of LayerState
        From the face next to the coil to the far face; each with arrays of
        shape (n,).
    freq_hz : float
        Excitation frequency.

    Returns
    -------
    ndarray of shape (n,)
        Response in (-C_MAG, 1); see the module docstring.
    """
    return stack_components(layers, freq_hz)[0]


def stack_components(layers: Sequence[LayerState], freq_hz: float) -> tuple[FloatArray, FloatArray]:
    """Reactive and loss components of n layered stacks at one frequency.

    Parameters
    ----------
    layers : sequence of LayerState
        From the face next to the coil to the far face; each with arrays of
        shape (n,).
    freq_hz : float
        Excitation frequency.

    Returns
    -------
    reactive : ndarray of shape (n,)
        In (-C_MAG, 1), as :func:`stack_response`.
    loss : ndarray of shape (n,)
        >= 0, in the same units (a perfect conductor's reactive response is 1).
    """
    if not layers:
        raise ValueError("a stack needs at least one layer")
    n = layers[0].sigma.shape[0]
    depth = np.zeros(n)  # optical depth a_i reached so far
    conductance = np.zeros(n)
    magnetic = np.zeros(n)
    hysteresis = np.zeros(n)
    for layer in layers:
        delta = skin_depth_m(layer.sigma, layer.mu_r, freq_hz)
        t = np.maximum(layer.thickness_m, 0.0)
        # Share of the (squared) field that this layer absorbs, reached through the layers above.
        weight = 0.5 * delta * np.exp(-2.0 * depth) * -np.expm1(-2.0 * t / delta)
        conductance += layer.sigma * weight
        magnetic += (layer.mu_r - 1.0) * weight
        hysteresis += layer.mu_r * layer.mu_loss_tangent * weight
        depth += t / delta
    x = 2.0 * np.pi * freq_hz * MU_0 * conductance * L_COIL_M
    y = magnetic / L_MAG_M
    reactive = np.asarray(x / (1.0 + x) - C_MAG * y / (1.0 + y))
    # Joule heat: conductance times the square of the field the coin leaves at its surface.
    loss = x / (1.0 + x) ** 2 + C_MAG * (hysteresis / L_MAG_M) / (1.0 + y) ** 2
    return reactive, np.asarray(loss)
