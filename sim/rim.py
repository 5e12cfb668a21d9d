"""Rim gauge: the centre-to-edge distance over one revolution, before gauge noise.

``rim(k) = outline(theta_k) + milling(theta_k) + lettering(theta_k)
          + ellipticity + e cos(2 pi k / m + phase)``

with ``theta_k = start + direction * (2 pi k / m + warp_k)`` in the coin's frame
(random start angle, either direction of travel).  ``warp_k = (e / R)
sin(2 pi k / m + phase)``: a coin turned about a point ``e`` off its centre shows
the gauge its edge early and late once a turn, which phase-modulates every edge
feature (sidebands one harmonic either side of the edge count, milling spread
over nearby harmonics); to first order in e / R this is exactly where a ray from
the gauge's axis meets the edge (``tests/sim/test_rim.py``).  A gauge whose
samples are not evenly spaced in angle adds its own once-a-turn lead and lag
(``SensorHead.rim_warp_rad``): the foreign head of ``../shared/samples`` shows
0.030 rad on every coin, whatever the coin's first harmonic.

Milling is ``grooves`` fine grooves per revolution, a raised-cosine groove with
a crisper second harmonic for struck edges; on alternately milled edges a
smooth mask keeps every other of ``segments`` arcs plain.  The gauge sees edge
relief through its probe tip (a Gaussian of ``PROBE_TIP_MM`` along the edge)
and an anti-alias filter below its Nyquist rate, both applied to each groove
harmonic analytically, so a head with few rim samples loses the milling
instead of aliasing it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.coins import CoinDesign
from sim.pieces import Pieces, stable_hash
from sim.shapes import mean_radius, outline_radius

FloatArray = npt.NDArray[np.float64]

PROBE_TIP_MM = 0.05
ANTI_ALIAS_FRACTION = 0.8  # filter corner as a fraction of the Nyquist harmonic
SEGMENT_EDGE_SHARPNESS = 6.0  # tanh gain of the milled/plain mask transitions
LETTERING_GRID = 4096
# Rim geometry is computed in float32: 1e-6 mm resolution is plenty, and float32
# trig is many times faster on (n, m) arrays.
WORK_DTYPE = np.float32
WorkArray = npt.NDArray[np.float32]


def gauge_transfer(harmonic: float, radius_mm: FloatArray, rim_samples: int) -> FloatArray:
    """Gain of the rim gauge for a ripple of ``harmonic`` cycles per revolution.

    Parameters
    ----------
    harmonic : float
    radius_mm : ndarray of shape (n,)
        Coin radius (converts the harmonic to a wavelength along the edge).
    rim_samples : int

    Returns
    -------
    ndarray of shape (n,)
    """
    probe = np.exp(-0.5 * (harmonic * PROBE_TIP_MM / radius_mm) ** 2)
    corner = ANTI_ALIAS_FRACTION * rim_samples / 2.0
    return np.asarray(probe / (1.0 + (harmonic / corner) ** 8))


@cache
def lettering_profile(name: str) -> FloatArray:
    """A fixed edge inscription for a design: dips of depth up to 1 on a grid.

    Returns
    -------
    ndarray of shape (LETTERING_GRID,)
        Relief over one revolution (0 = plain edge, -1 = deepest stroke).
    """
    rng = np.random.default_rng([stable_hash(name), 0x1E77])
    grid = np.linspace(0.0, 2.0 * np.pi, LETTERING_GRID, endpoint=False)
    strokes: list[float] = []
    start = float(rng.uniform(0.0, 2.0 * np.pi))
    angle = start
    # Words of 3-9 letters, letters of 2-3 strokes, the inscription covering about 3/4 of the edge.
    while angle < start + 1.5 * np.pi:
        for _letter in range(int(rng.integers(3, 10))):
            for _stroke in range(int(rng.integers(2, 4))):
                strokes.append(angle)
                angle += float(rng.uniform(0.025, 0.04))
            angle += 0.05
        angle += 0.15
    centres = np.asarray(strokes)
    weights = rng.uniform(0.6, 1.0, centres.shape[0])
    diff = np.angle(np.exp(1j * (grid[:, None] - centres[None, :])))
    profile = -(weights * np.exp(-0.5 * (diff / 0.012) ** 2)).sum(axis=1)
    return np.asarray(profile / max(1e-12, float(-profile.min())))


def sample_steps(rim_samples: int) -> FloatArray:
    """The gauge's even angle of each sample, radians, shape (1, rim_samples)."""
    return np.asarray(2.0 * np.pi * np.arange(rim_samples)[None, :] / rim_samples)


class _Angles:
    """Sample angles of n coins: ``theta = start + direction * step``.

    Harmonics ``cos(k theta)`` are built from per-coin and per-sample tables by
    the angle-sum identity, which is far cheaper than trig on (n, m) arrays.
    """

    def __init__(
        self,
        start: FloatArray,
        direction: FloatArray,
        rim_samples: int,
        warp: WorkArray | None = None,
    ) -> None:
        self.start = start[:, None]
        self.direction = direction[:, None].astype(WORK_DTYPE)
        self.step = sample_steps(rim_samples)
        # Coin-frame angle each sample is away from its even step, shape (n, m):
        # an eccentric coin shows the gauge its edge a little ahead or behind.
        self.warp = warp

    @property
    def theta(self) -> WorkArray:
        """Coin-frame angles in (-2 pi, 4 pi), shape (n, m)."""
        start = np.mod(self.start, 2.0 * np.pi).astype(WORK_DTYPE)
        theta = start + self.direction * self.step.astype(WORK_DTYPE)
        return np.asarray(theta if self.warp is None else theta + self.warp)

    def grid_index(self, grid: int) -> npt.NDArray[np.int32]:
        """Index of each sample's angle on a periodic grid of ``grid`` (a power of 2) points."""
        # One rounding of the whole angle (theta lies within a few turns of 0, where
        # float32 resolves far finer than a grid cell).
        index = np.round(self.theta * WORK_DTYPE(grid / (2.0 * np.pi))).astype(np.int32)
        # Two's-complement & wraps negative indices too (reversed direction of travel).
        return np.asarray(index & (grid - 1))

    def harmonic(self, k: float, phase: FloatArray | float = 0.0) -> tuple[WorkArray, WorkArray]:
        """``cos(k theta - phase)`` and ``sin(k theta - phase)``, each of shape (n, m)."""
        # Per-coin and per-sample tables in float64 (exact phases), products in float32.
        a = k * self.start - (phase[:, None] if isinstance(phase, np.ndarray) else phase)
        ca, sa = np.cos(a).astype(WORK_DTYPE), np.sin(a).astype(WORK_DTYPE)
        cb = np.cos(k * self.step).astype(WORK_DTYPE)
        sb = self.direction * np.sin(k * self.step).astype(WORK_DTYPE)
        c, s = ca * cb - sa * sb, sa * cb + ca * sb
        if self.warp is None:
            return np.asarray(c), np.asarray(s)
        # cos and sin of k (theta + warp): the even-step harmonic turned by k warp.
        kw = WORK_DTYPE(k) * self.warp
        cw, sw = np.cos(kw), np.sin(kw)
        return np.asarray(c * cw - s * sw), np.asarray(s * cw + c * sw)


def _milling(
    design: CoinDesign, pieces: Pieces, angles: _Angles, radius: FloatArray, rim_samples: int
) -> WorkArray:
    """Milling relief of n pieces at the sampled angles, mm, shape (n, m)."""
    edge = design.edge
    grooves = edge.grooves
    h1 = (0.5 * gauge_transfer(grooves, radius, rim_samples)).astype(WORK_DTYPE)[:, None]
    h2 = (0.12 * edge.sharpness * gauge_transfer(2 * grooves, radius, rim_samples)).astype(
        WORK_DTYPE
    )[:, None]
    c1, _ = angles.harmonic(grooves)
    c2 = WORK_DTYPE(2.0) * c1 * c1 - WORK_DTYPE(1.0)  # cos(2 M theta)
    groove = WORK_DTYPE(0.5) - h1 * c1 - h2 * c2
    ripple = -pieces.milling_depth_mm.astype(WORK_DTYPE)[:, None] * groove
    segments = design.milled_segments
    if segments:
        _, s = angles.harmonic(segments / 2.0)
        mask = WORK_DTYPE(0.5) * (WORK_DTYPE(1.0) + np.tanh(WORK_DTYPE(SEGMENT_EDGE_SHARPNESS) * s))
        ripple = ripple * mask
    return np.asarray(ripple)


def rim_profiles(
    pieces: Pieces,
    rim_samples: int,
    start: FloatArray,
    direction: FloatArray,
    offcentre_mm: FloatArray,
    offcentre_phase: FloatArray,
    warp_rad: float = 0.0,
    warp_phase: FloatArray | None = None,
) -> FloatArray:
    """Noise-free rim traces of n pieces.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    rim_samples : int
        m, samples per revolution.
    start : ndarray of shape (n,)
        Coin-frame angle of the first sample, radians.
    direction : ndarray of shape (n,)
        +1 or -1, the sense of rotation.
    offcentre_mm, offcentre_phase : ndarray of shape (n,)
        Mounting eccentricity in the gauge and its phase.
    warp_rad : float
        The gauge's own once-a-turn angular non-uniformity (see ``SensorHead``).
    warp_phase : ndarray of shape (n,), optional
        Its phase for each coin (0 when omitted).

    Returns
    -------
    ndarray of shape (n, m)
        Centre-to-edge distance, mm.
    """
    design = pieces.design
    radius = mean_radius(design.shape, design.sides, pieces.diameter_mm, pieces.corner_radius_mm)
    # Turned about a point off its centre, the coin shows the gauge its edge at a
    # coin-frame angle that leads and lags the gauge's by (offset / radius) once a
    # turn: every edge feature is phase-modulated, most of all the fine milling
    # (its harmonic times that angle), whose energy spreads to nearby harmonics.
    step = sample_steps(rim_samples)
    # The off-centre term below is e cos(step + phase): the coin's centre lies at
    # angle -phase, and a ray at ``step`` meets the edge (e / R) sin(step + phase)
    # further round the coin than it would from the centre.
    lead = (offcentre_mm / radius)[:, None] * np.sin(step + offcentre_phase[:, None])
    if warp_rad:
        phase = np.zeros(len(start)) if warp_phase is None else warp_phase
        lead = lead + warp_rad * np.sin(step - phase[:, None])
    warp = (direction[:, None] * lead).astype(WORK_DTYPE)
    angles = _Angles(start, direction, rim_samples, warp)
    rim: npt.NDArray[np.floating[Any]]
    if design.shape == "round":
        rim = np.repeat((pieces.diameter_mm / 2.0).astype(WORK_DTYPE)[:, None], rim_samples, axis=1)
    else:
        rim = outline_radius(
            design.shape, design.sides, angles.theta, pieces.diameter_mm, pieces.corner_radius_mm
        )
    if design.edge.milling != "none" and design.edge.grooves > 0:
        rim += _milling(design, pieces, angles, radius, rim_samples)
    if design.edge.lettering_depth_mm > 0:
        # Nearest point of a fine grid (0.02 mm along the edge) is plenty for lettering.
        profile = lettering_profile(design.name).astype(WORK_DTYPE)
        relief = profile[angles.grid_index(LETTERING_GRID)]
        rim += pieces.lettering_depth_mm.astype(WORK_DTYPE)[:, None] * relief
    ellipse, _ = angles.harmonic(2.0, 2.0 * pieces.ellipticity_phase)
    rim += pieces.ellipticity_mm.astype(WORK_DTYPE)[:, None] * ellipse
    # Off-centre mounting turns with the gauge, not with the coin: a first harmonic in sample index.
    gauge_frame = _Angles(np.zeros_like(start), np.ones_like(direction), rim_samples)
    first, _ = gauge_frame.harmonic(1.0, -offcentre_phase)
    rim += offcentre_mm.astype(WORK_DTYPE)[:, None] * first
    return np.asarray(rim.astype(np.float64))
