"""Coin outlines: sizes the catalogue states, constant width for Reuleaux polygons."""

from __future__ import annotations

import numpy as np

from sim.coins import genuine_design
from sim.shapes import mean_radius, outline_radius, reuleaux_radius, rounded_polygon_radius

THETA = np.linspace(0.0, 2.0 * np.pi, 4001)[None, :]


def test_new_pound_outline_matches_catalogue_figures() -> None:
    design = genuine_design("gb-100-2017")
    r = rounded_polygon_radius(
        THETA, 12, np.array([design.diameter_mm / 2]), np.array([design.corner_radius_mm])
    )
    assert abs(2 * r.max() - 23.43) < 1e-3  # point to point
    assert abs(2 * r.min() - 23.03) < 0.02  # across flats, "about 23.03"


def test_sharp_polygon_reaches_its_apothem() -> None:
    r = rounded_polygon_radius(THETA, 12, np.array([10.0]), np.array([0.0]))
    assert abs(r.max() - 10.0) < 1e-9
    assert abs(r.min() - 10.0 * np.cos(np.pi / 12)) < 1e-4


def test_outline_is_continuous() -> None:
    r = rounded_polygon_radius(THETA, 12, np.array([11.7]), np.array([3.0]))
    assert np.abs(np.diff(r, axis=1)).max() < 0.01


def test_reuleaux_heptagon_has_constant_width() -> None:
    theta = np.linspace(0.0, 2.0 * np.pi, 20001)
    r = reuleaux_radius(theta[None, :], 7, np.array([27.3]))[0]
    points = np.c_[r * np.cos(theta), r * np.sin(theta)]
    directions = np.linspace(0.0, np.pi, 181)
    u = np.c_[np.cos(directions), np.sin(directions)]
    projections = points @ u.T
    widths = projections.max(axis=0) - projections.min(axis=0)
    np.testing.assert_allclose(widths, 27.3, atol=1e-3)
    # ...yet it is not round: vertices stand out from the middles of the sides.
    assert abs(r.max() - 27.3 / (2 * np.cos(np.pi / 14))) < 1e-6
    assert abs(r.min() - (27.3 - r.max())) < 1e-6


def test_outline_keeps_float32_and_round_is_flat() -> None:
    theta = THETA.astype(np.float32)
    r = outline_radius("polygon", 12, theta, np.array([23.43]), np.array([5.85]))
    assert r.dtype == np.float32
    flat = outline_radius("round", 0, THETA, np.array([22.5]), np.array([0.0]))
    assert np.ptp(flat) == 0 and flat[0, 0] == 11.25
    assert mean_radius("round", 0, np.array([22.5]), np.array([0.0]))[0] == 11.25
