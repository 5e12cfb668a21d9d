"""Centre-to-edge distance of coin outlines, as a function of angle.

Angles are in the coin's own frame: for polygons a vertex lies at angle 0 and
side ``k`` runs from vertex ``k`` (angle ``2 pi k / N``) to vertex ``k + 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from coinval.catalogue import Shape

FloatArray = npt.NDArray[np.float64]
# Angle grids may be float32 (see sim.rim); outlines come back in the same dtype.
AnyFloatArray = npt.NDArray[np.floating[Any]]


def rounded_polygon_radius(
    theta: AnyFloatArray, sides: int, outer_radius: FloatArray, corner_radius: FloatArray
) -> AnyFloatArray:
    """Polar radius of a regular polygon with rounded corners.

    The outline is the Minkowski sum of a regular polygon of circumradius
    ``outer_radius - corner_radius`` and a disc of ``corner_radius``: arcs round
    the vertices, straight flats between them.

    Parameters
    ----------
    theta : ndarray of shape (n, m)
        Angles, radians.
    sides : int
    outer_radius, corner_radius : ndarray of shape (n,)
        Half the point-to-point diameter, and the corner rounding, mm.

    Returns
    -------
    ndarray of shape (n, m)
        Distance from the centre to the edge, mm.
    """
    # Work in theta's dtype (float32 halves the cost of the trig on (n, m) arrays).
    dt = theta.dtype.type
    half = dt(np.pi / sides)
    rho = np.minimum(corner_radius, outer_radius).astype(theta.dtype)[:, None]
    inner = outer_radius.astype(theta.dtype)[:, None] - rho  # circumradius before rounding
    phi = np.abs(np.mod(theta + half, 2 * half) - half)  # angle from the nearest vertex
    arc_end = np.arctan2(rho * np.sin(half), inner + rho * np.cos(half))
    cos_phi, sin_phi = np.cos(phi), np.sin(phi)
    on_arc = inner * cos_phi + np.sqrt(np.maximum(rho**2 - (inner * sin_phi) ** 2, 0.0))
    # cos(half - phi) by the angle-difference identity: no third trig call on (n, m).
    on_flat = (inner * np.cos(half) + rho) / (np.cos(half) * cos_phi + np.sin(half) * sin_phi)
    return np.asarray(np.where(phi <= arc_end, on_arc, on_flat))


def reuleaux_radius(theta: AnyFloatArray, sides: int, width: FloatArray) -> AnyFloatArray:
    """Polar radius of a Reuleaux polygon of constant width.

    Each side is an arc of radius ``width`` centred on the opposite vertex.

    Parameters
    ----------
    theta : ndarray of shape (n, m)
    sides : int
        Odd number of sides (7 for the 20p and 50p).
    width : ndarray of shape (n,)
        Constant width, mm.

    Returns
    -------
    ndarray of shape (n, m)
    """
    dt = theta.dtype.type
    half = dt(np.pi / sides)
    w = width.astype(theta.dtype)[:, None]
    r_vertex = w / (dt(2.0) * np.cos(half / dt(2.0)))
    psi = np.mod(theta, 2 * half) - half  # angle from the middle of the current side
    c = r_vertex * np.cos(psi)
    return np.asarray(-c + np.sqrt(c**2 - r_vertex**2 + w**2))


def outline_radius(
    shape: Shape,
    sides: int,
    theta: AnyFloatArray,
    diameter: FloatArray,
    corner_radius: FloatArray,
) -> AnyFloatArray:
    """Polar radius of any catalogue outline.

    Parameters
    ----------
    shape : {"round", "polygon", "reuleaux"}
    sides : int
    theta : ndarray of shape (n, m)
    diameter : ndarray of shape (n,)
        Point-to-point diameter (polygon), width (Reuleaux) or diameter, mm.
    corner_radius : ndarray of shape (n,)
        Polygon corner rounding, mm (ignored otherwise).

    Returns
    -------
    ndarray of shape (n, m), dtype of ``theta``
    """
    if shape == "polygon":
        return rounded_polygon_radius(theta, sides, diameter / 2.0, corner_radius)
    if shape == "reuleaux":
        return reuleaux_radius(theta, sides, diameter)
    return np.broadcast_to((diameter / 2.0).astype(theta.dtype)[:, None], theta.shape).copy()


def mean_radius(
    shape: Shape, sides: int, diameter: FloatArray, corner_radius: FloatArray
) -> FloatArray:
    """Average of the largest and smallest centre-to-edge distance, mm, shape (n,).

    What the eddy coil sees of the outline: the coin rolls, so its corners
    pass the coil at random phases and only the mean size matters.
    """
    if shape == "polygon":
        half = np.pi / sides
        rho = np.minimum(corner_radius, diameter / 2.0)
        across_flats_half = (diameter / 2.0 - rho) * np.cos(half) + rho
        return np.asarray((diameter / 2.0 + across_flats_half) / 2.0)
    return np.asarray(diameter / 2.0)
