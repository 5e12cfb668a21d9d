from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import jv

from sim.coins import CoinDesign, genuine_design
from sim.counterfeits import FAMILIES
from sim.heads import HEADS, SensorHead
from sim.pieces import BatchShift, Pieces, draw_pieces
from sim.population import generate
from sim.rim import _Angles, rim_profiles
from sim.shapes import outline_radius


def _pieces(design: CoinDesign, n: int) -> Pieces:
    pieces = draw_pieces(design, n, np.random.default_rng(3), BatchShift(0, 0, 0, 0, 0))
    return dataclasses.replace(pieces, ellipticity_mm=np.zeros(n))


def _edge_sidebands(offcentre_mm: float, warp_rad: float = 0.0, sides: int = 12) -> float:
    """Median sideband over carrier at the edge harmonic of a 12- or 7-sided coin."""
    design = genuine_design("gb-100-2017" if sides == 12 else "gb-050-1997")
    n, m = 40, 2048
    pieces = _pieces(design, n)
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
    return float(np.median(0.5 * (amp[:, sides - 1] + amp[:, sides + 1]) / amp[:, sides]))


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_warped_harmonics_and_grid_follow_the_warped_angle(direction: float) -> None:
    """cos/sin of k theta and the lettering grid both read the same warped angle."""
    rng = np.random.default_rng(1)
    n, m = 5, 700
    step = 2 * np.pi * np.arange(m)[None, :] / m
    warp = (0.03 * np.sin(step + rng.uniform(0, 6, (n, 1)))).astype(np.float32)
    angles = _Angles(rng.uniform(0, 2 * np.pi, n), np.full(n, direction), m, warp)
    theta = angles.theta.astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, n)
    for k in (2.0, 6.0, 146.0, 250.0):
        c, s = angles.harmonic(k, phase)
        assert np.abs(c - np.cos(k * theta - phase[:, None])).max() < 2e-3
        assert np.abs(s - np.sin(k * theta - phase[:, None])).max() < 2e-3
    grid = 4096
    cell = np.angle(np.exp(1j * (angles.grid_index(grid) * 2 * np.pi / grid - theta)))
    assert np.abs(cell).max() <= np.pi / grid * 1.01


@pytest.mark.parametrize("kind", ["plain-edge-12-sided", "gb-050-1997"])
def test_an_off_centre_coin_reads_as_rays_from_the_gauge_axis_meet_its_edge(kind: str) -> None:
    """The rim is the distance from the gauge's axis to the edge along each sample's
    ray, for a coin whose centre is off that axis: the first harmonic and the lead
    and lag of the edge together, to a few microns at 0.3 mm off centre."""
    design = FAMILIES[kind].variants[0][1] if kind in FAMILIES else genuine_design(kind)
    n, m, e = 6, 1024, 0.3
    pieces = _pieces(design, n)
    rng = np.random.default_rng(5)
    start = rng.uniform(0, 2 * np.pi, n)
    direction = rng.choice([-1.0, 1.0], n)
    phase = rng.uniform(0, 2 * np.pi, n)
    rim = rim_profiles(pieces, m, start, direction, np.full(n, e), phase)

    psi = 2 * np.pi * np.arange(m)[None, :] / m
    centre = e * np.exp(-1j * phase)[:, None]  # e cos(psi + phase) is its first harmonic
    alpha = np.repeat(psi, n, axis=0)  # gauge-frame angle of the edge point, from the centre
    for _ in range(30):
        theta = start[:, None] + direction[:, None] * alpha
        radius = outline_radius(
            design.shape, design.sides, theta, pieces.diameter_mm, pieces.corner_radius_mm
        )
        point = centre + radius * np.exp(1j * alpha)
        alpha = alpha + np.angle(np.exp(1j * (psi - np.angle(point))))
    exact = np.abs(point)
    assert np.abs(rim - exact).max() < 0.01


def test_eccentric_mounting_and_uneven_sample_angles_modulate_the_edge() -> None:
    """Either leads and lags the edge once a turn: sidebands one harmonic either side
    of the edge harmonic, J1 / J0 of the index (k e / R, or k times the gauge's own
    warp), none when centred on an even gauge.  The foreign head of ../shared/samples
    shows 0.183 (12 sides) and 0.106 (7 sides) on every coin: 0.030 rad of warp."""
    assert _edge_sidebands(0.0) < 0.01
    assert _edge_sidebands(0.3) == pytest.approx(
        jv(1, 12 * 0.3 / 11.6) / jv(0, 12 * 0.3 / 11.6), rel=0.1
    )
    for sides in (12, 7):
        expected = jv(1, sides * 0.030) / jv(0, sides * 0.030)
        assert _edge_sidebands(0.0, warp_rad=0.030, sides=sides) == pytest.approx(
            expected, rel=0.05
        )


def test_a_head_with_uneven_sample_angles_puts_them_in_its_signatures() -> None:
    """Through ``generate``: the head's warp reaches the rims it reports, and its
    milling spreads over more harmonics."""
    even = HEADS["A"]
    uneven = dataclasses.replace(even, name="A-warped", rim_warp_rad=0.03)

    def spectrum(head: SensorHead) -> np.ndarray:
        rim = generate("gb-100-2017", 30, head=head, seed=2).rim
        return np.abs(np.fft.rfft(rim - rim.mean(axis=1, keepdims=True), axis=1))

    a, b = spectrum(even), spectrum(uneven)
    assert np.median(b[:, 11] / b[:, 12]) > 0.15 > 0.05 > np.median(a[:, 11] / a[:, 12])
    # Share of the milling band's energy in its strongest harmonic: smaller when spread.
    band = slice(100, 200)
    peak = lambda s: np.median(s[:, band].max(axis=1) ** 2 / (s[:, band] ** 2).sum(axis=1))  # noqa: E731
    assert peak(b) < 0.7 * peak(a)


def test_a_head_rejects_an_absurd_warp() -> None:
    with pytest.raises(ValueError, match="rim warp"):
        dataclasses.replace(HEADS["A"], rim_warp_rad=0.5)
