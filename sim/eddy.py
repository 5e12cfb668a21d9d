"""Eddy traces: region responses of each piece, laid out along the coil's scan line.

The coin rolls past the coil, whose centre sits at a fixed height above the
rail, so the coil scans the chord of the coin at ``chord_offset`` from its
centre.  Along that chord the response map is piecewise constant: ring level,
core level, ring level again (a hole reads zero).  Convolving a box of
half-width ``a`` with the coil's Gaussian window of standard deviation ``s``
is a difference of error functions, so the whole trace is a sum of at most
three such boxes, in closed form::

    box(x; a) = (erf((x + a) / (sqrt(2) s)) - erf((x - a) / (sqrt(2) s))) / 2
    trace(x)  = L_ring box(x; a_outer) + (L_core - L_ring) box(x; a_core)
                - L_inner box(x; a_hole)

with ``x`` the position along the chord (speed times time from the coin's
centre passing the coil).  The loss component (:func:`region_components`) goes
through the same window: both are linear in the region levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import erf

from sim.coins import Region
from sim.pieces import Pieces
from sim.response import LayerState, stack_components
from sim.shapes import mean_radius

FloatArray = npt.NDArray[np.float64]


def region_stack(
    region: Region,
    pieces: Pieces,
    temperature_c: FloatArray,
    *,
    core: bool,
) -> list[LayerState]:
    """The layers of one region of every piece, near face first.

    Parameters
    ----------
    region : Region
    pieces : Pieces
        n pieces; supply thickness and conductivity/cladding factors.
    temperature_c : ndarray of shape (n,)
    core : bool
        Use the core's factors rather than the ring's.

    Returns
    -------
    list of LayerState
        ``2 * len(region.cladding) + 1`` layers, arrays of shape (n,).
    """
    sub_f = pieces.core_sigma if core else pieces.outer_sigma
    clad_sigma_f = pieces.core_cladding_sigma if core else pieces.outer_cladding_sigma
    clad_f = pieces.core_cladding if core else pieces.outer_cladding
    near: list[LayerState] = []
    clad_total = np.zeros(len(pieces))
    for layer in region.cladding:
        t = layer.thickness_mm * clad_f
        clad_total += t
        sigma = layer.material.conductivity(temperature_c, clad_sigma_f)
        mat = layer.material
        near.append(LayerState(sigma, mat.mu_r, t * 1e-3, mat.hysteresis_tangent))
    sub_t = np.maximum(pieces.thickness_mm - 2.0 * clad_total, 0.0)
    sub = region.substrate
    substrate = LayerState(
        sub.conductivity(temperature_c, sub_f), sub.mu_r, sub_t * 1e-3, sub.hysteresis_tangent
    )
    layers = [*near, substrate, *reversed(near)]
    # Dirt is a film on the face next to the coil: it lowers that layer's conductivity.
    first = layers[0]
    layers[0] = LayerState(
        first.sigma * pieces.surface_sigma, first.mu_r, first.thickness_m, first.mu_loss_tangent
    )
    return layers


@dataclass(frozen=True, slots=True)
class RegionLevels:
    """Reactive and loss responses of ring and core at both frequencies.

    Attributes
    ----------
    outer, outer_loss : ndarray of shape (n, 2)
        Ring (or blank): reactive and loss component, columns low and high frequency.
    core, core_loss : ndarray of shape (n, 2) or None
        The same for the core, or None for a monometallic piece.
    """

    outer: FloatArray
    outer_loss: FloatArray
    core: FloatArray | None
    core_loss: FloatArray | None


def _components(
    layers: list[LayerState], freq_hz: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    parts = [stack_components(layers, f) for f in freq_hz]
    return np.stack([p[0] for p in parts], axis=1), np.stack([p[1] for p in parts], axis=1)


def region_components(
    pieces: Pieces, temperature_c: FloatArray, freq_hz: tuple[float, float]
) -> RegionLevels:
    """Normalised reactive and loss responses of ring and core at both frequencies.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    temperature_c : ndarray of shape (n,)
    freq_hz : (float, float)
        Low and high excitation frequency.

    Returns
    -------
    RegionLevels
        Arrays of shape (n, 2).
    """
    design = pieces.design
    outer, outer_loss = _components(
        region_stack(design.outer, pieces, temperature_c, core=False), freq_hz
    )
    if design.core is None:
        return RegionLevels(outer, outer_loss, None, None)
    core, core_loss = _components(
        region_stack(design.core, pieces, temperature_c, core=True), freq_hz
    )
    return RegionLevels(outer, outer_loss, core, core_loss)


def region_levels(
    pieces: Pieces, temperature_c: FloatArray, freq_hz: tuple[float, float]
) -> tuple[FloatArray, FloatArray | None]:
    """Normalised (reactive) responses of ring and core at both frequencies.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    temperature_c : ndarray of shape (n,)
    freq_hz : (float, float)
        Low and high excitation frequency.

    Returns
    -------
    outer : ndarray of shape (n, 2)
        Ring (or blank) response, columns low and high frequency.
    core : ndarray of shape (n, 2) or None
        Core response, or None for a monometallic piece.
    """
    levels = region_components(pieces, temperature_c, freq_hz)
    return levels.outer, levels.core


def _box(x: FloatArray, half_width: FloatArray, sd: float) -> FloatArray:
    """A box of the given half-width (n,) convolved with a Gaussian, at x (n, m)."""
    a = half_width[:, None]
    k = 1.0 / (np.sqrt(2.0) * sd)
    return np.asarray(0.5 * (erf((x + a) * k) - erf((x - a) * k)))


def _half_chord(radius: FloatArray, offset: FloatArray) -> FloatArray:
    return np.asarray(np.sqrt(np.maximum(radius**2 - offset**2, 0.0)))


def eddy_profiles(
    pieces: Pieces,
    outer: FloatArray,
    core: FloatArray | None,
    x_mm: FloatArray,
    chord_offset_mm: FloatArray,
    footprint_mm: float,
) -> tuple[FloatArray, FloatArray]:
    """Noise-free responses along the scan, in normalised units.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    outer : ndarray of shape (n, 2)
    core : ndarray of shape (n, 2) or None
        From :func:`region_levels` (already scaled by lift-off if wanted).
    x_mm : ndarray of shape (n, m)
        Position of the coil along each coin's chord at every sample.
    chord_offset_mm : ndarray of shape (n,)
        Distance of the scanned chord from the coin's centre.
    footprint_mm : float
        Coil window width, about four standard deviations.

    Returns
    -------
    lo, hi : ndarray of shape (n, m)
    """
    d = pieces.design
    sd = footprint_mm / 4.0
    r_outer = mean_radius(d.shape, d.sides, pieces.diameter_mm, pieces.corner_radius_mm)
    box_outer = _box(x_mm, _half_chord(r_outer, chord_offset_mm), sd)
    lo = outer[:, 0:1] * box_outer
    hi = outer[:, 1:2] * box_outer
    inner = outer
    if core is not None:
        box_core = _box(x_mm, _half_chord(pieces.core_diameter_mm / 2.0, chord_offset_mm), sd)
        lo += (core[:, 0:1] - outer[:, 0:1]) * box_core
        hi += (core[:, 1:2] - outer[:, 1:2]) * box_core
        inner = core
    if d.hole_diameter_mm > 0:
        box_hole = _box(x_mm, _half_chord(pieces.hole_diameter_mm / 2.0, chord_offset_mm), sd)
        lo -= inner[:, 0:1] * box_hole
        hi -= inner[:, 1:2] * box_hole
    return lo, hi
