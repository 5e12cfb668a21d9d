from __future__ import annotations

import numpy as np
import pytest
from scipy.special import jv

from sim.coins import genuine_design
from sim.pieces import BatchShift, draw_pieces
from sim.rim import rim_profiles
from sim.shapes import mean_radius


def _edge_sidebands(offcentre_mm: float, warp_rad: float = 0.0) -> tuple[float, float]:
    """Sideband over carrier at the 12-sided pound's edge harmonic, and the index
    k e / R that phase modulation by an eccentric mounting predicts."""
    design = genuine_design("gb-100-2017")
    n, m = 40, 2048
    pieces = draw_pieces(design, n, np.random.default_rng(3), BatchShift(0, 0, 0, 0, 0))
    rng = np.random.default_rng(4)
    rim = rim_profiles(
        pieces,
        m,
        rng.uniform(0, 2 * np.pi, n),
        rng.choice([-1.0, 1.0], n),
        np.full(n, offcentre_mm),
        rng.uniform(0, 2 * np.pi, n),
        warp_rad=warp_rad,
        warp_phase=rng.uniform(0, 2 * np.pi, n),
    )
    amp = np.abs(np.fft.rfft(rim, axis=1))
    radius = mean_radius(design.shape, design.sides, pieces.diameter_mm, pieces.corner_radius_mm)
    ratio = 0.5 * (amp[:, 11] + amp[:, 13]) / amp[:, 12]
    return float(np.median(ratio)), float(np.median(12 * offcentre_mm / radius))


def test_eccentric_mounting_phase_modulates_the_edge() -> None:
    """A coin turned about a point off its centre shows its edge early and late once
    a turn: sidebands one harmonic either side of the edge's, of the size phase
    modulation gives (J1 / J0 of the index), as on the foreign head of ../shared."""
    centred, _ = _edge_sidebands(0.0)
    assert centred < 0.01
    ratio, index = _edge_sidebands(0.3)
    assert ratio > 0.1
    assert abs(ratio - jv(1, index) / jv(0, index)) < 0.2 * ratio


def test_a_gauge_with_uneven_sample_angles_modulates_every_coin_alike() -> None:
    """The foreign head's rims carry sidebands of the same size on every coin (0.183
    of the edge harmonic for the 12-sided pound, 0.106 for the 7-sided 50p: k times
    0.0153), whatever their eccentricity: the gauge's own uneven sample angles.
    0.0305 rad of it gives those sidebands here."""
    ratio, _ = _edge_sidebands(0.0, warp_rad=0.0305)
    assert ratio == pytest.approx(jv(1, 12 * 0.0305) / jv(0, 12 * 0.0305), rel=0.05)
    assert ratio == pytest.approx(0.183, abs=0.01)
