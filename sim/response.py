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
    """

    sigma: FloatArray
    mu_r: float
    thickness_m: FloatArray


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
    """Normalised response of n layered stacks at one frequency.

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
    if not layers:
        raise ValueError("a stack needs at least one layer")
    n = layers[0].sigma.shape[0]
    depth = np.zeros(n)  # optical depth a_i reached so far
    conductance = np.zeros(n)
    magnetic = np.zeros(n)
    for layer in layers:
        delta = skin_depth_m(layer.sigma, layer.mu_r, freq_hz)
        t = np.maximum(layer.thickness_m, 0.0)
        # Share of the (squared) field that this layer absorbs, reached through the layers above.
        weight = 0.5 * delta * np.exp(-2.0 * depth) * -np.expm1(-2.0 * t / delta)
        conductance += layer.sigma * weight
        magnetic += (layer.mu_r - 1.0) * weight
        depth += t / delta
    x = 2.0 * np.pi * freq_hz * MU_0 * conductance * L_COIL_M
    y = magnetic / L_MAG_M
    return np.asarray(x / (1.0 + x) - C_MAG * y / (1.0 + y))
