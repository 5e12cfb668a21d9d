"""Physical pieces: a design realised n times, with mint batch, piece scatter, wear and dirt.

Everything here belongs to the metal in the hand, not to the sensor head that
will measure it, so the same seed gives the same pieces on every head.

Mint batches
------------
Each ``(kind, batch)`` pair deterministically draws a shift of a few percent
(``Variation.batch_shift``, 1-4 % for genuine coins) with a random sign, in:
ring conductivity, core conductivity, ring and core cladding (plating)
thickness and core diameter.  Pieces then scatter around their batch.

Wear and dirt (severities 0..1 per piece)
-----------------------------------------
Wear takes up to 0.12 mm off the diameter and 0.06 mm off the thickness,
rounds polygon corners (+0.4 mm), thins plating by up to half and flattens
milling and lettering by up to 60 %.  Dirt adds up to 0.02 mm of thickness,
fills grooves (up to 40 % shallower milling), lowers the surface layer's
conductivity by up to 10 % and lifts the coin off the coil by up to 0.15 mm.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.coins import CoinDesign

FloatArray = npt.NDArray[np.float64]

WEAR_DIAMETER_MM = 0.12
WEAR_THICKNESS_MM = 0.06
WEAR_CORNER_MM = 0.4
WEAR_CLADDING = 0.5
WEAR_RELIEF = 0.6
DIRT_THICKNESS_MM = 0.02
DIRT_RELIEF = 0.4
DIRT_SURFACE_SIGMA = 0.10
DIRT_GAP_MM = 0.15


@dataclass(frozen=True, slots=True)
class BatchShift:
    """Fractional shifts shared by every piece of one mint batch."""

    outer_sigma: float
    core_sigma: float
    outer_cladding: float
    core_cladding: float
    core_diameter: float


@dataclass(frozen=True, slots=True)
class Pieces:
    """n pieces of one design. Every array has shape (n,).

    Attributes
    ----------
    design : CoinDesign
    diameter_mm, thickness_mm, corner_radius_mm, core_diameter_mm, hole_diameter_mm : ndarray
        Actual geometry of each piece.
    outer_sigma, core_sigma : ndarray
        Conductivity factor of the ring (or blank) and core substrates.
    outer_cladding_sigma, core_cladding_sigma : ndarray
        Conductivity factor of the cladding layers.
    outer_cladding, core_cladding : ndarray
        Thickness factor of the cladding layers.
    surface_sigma : ndarray
        Conductivity factor of the outermost layer (dirt film).
    milling_depth_mm, lettering_depth_mm : ndarray
    ellipticity_mm, ellipticity_phase : ndarray
        Out-of-roundness of the blank (second harmonic of the rim).
    extra_gap_mm : ndarray
        Lift-off added by dirt.
    wear, dirt : ndarray
        Severities, 0..1.
    """

    design: CoinDesign
    diameter_mm: FloatArray
    thickness_mm: FloatArray
    corner_radius_mm: FloatArray
    core_diameter_mm: FloatArray
    hole_diameter_mm: FloatArray
    outer_sigma: FloatArray
    core_sigma: FloatArray
    outer_cladding_sigma: FloatArray
    core_cladding_sigma: FloatArray
    outer_cladding: FloatArray
    core_cladding: FloatArray
    surface_sigma: FloatArray
    milling_depth_mm: FloatArray
    lettering_depth_mm: FloatArray
    ellipticity_mm: FloatArray
    ellipticity_phase: FloatArray
    extra_gap_mm: FloatArray
    wear: FloatArray
    dirt: FloatArray

    def __len__(self) -> int:
        return int(self.diameter_mm.shape[0])


def stable_hash(text: str) -> int:
    """A hash of a string that is the same in every process (unlike ``hash``)."""
    return zlib.crc32(text.encode("utf-8"))


def batch_shift(design: CoinDesign, key: str, batch: int) -> BatchShift:
    """The deterministic shift of mint batch ``batch`` of the piece kind ``key``.

    Parameters
    ----------
    design : CoinDesign
        Supplies the range of shift magnitudes.
    key : str
        Identifies the kind (and variant) so different coins get different batches.
    batch : int
    """
    rng = np.random.default_rng([stable_hash(key), batch & 0xFFFFFFFF, 0xBA7C])
    lo, hi = design.variation.batch_shift
    shifts = rng.choice([-1.0, 1.0], size=5) * rng.uniform(lo, hi, size=5)
    return BatchShift(*(float(s) for s in shifts))


def draw_pieces(
    design: CoinDesign,
    n: int,
    rng: np.random.Generator,
    shift: BatchShift,
    wear: float = 0.0,
    dirt: float = 0.0,
) -> Pieces:
    """Realise n pieces of a design from one batch.

    Parameters
    ----------
    design : CoinDesign
    n : int
    rng : numpy.random.Generator
        Stream for piece scatter (independent of any sensor head).
    shift : BatchShift
        The batch these pieces come from.
    wear, dirt : float
        Maximum severity, 0..1; each piece draws uniformly up to it.

    Returns
    -------
    Pieces
    """
    v = design.variation
    # Always draw the severities, so the same seed gives the same pieces at any wear/dirt.
    w = wear * rng.uniform(0.0, 1.0, n)
    d = dirt * rng.uniform(0.0, 1.0, n)

    def scatter(sd: float) -> FloatArray:
        return rng.normal(0.0, sd, n)

    diameter = design.diameter_mm + scatter(v.piece_diameter_mm) - WEAR_DIAMETER_MM * w
    thickness = (
        design.thickness_mm
        + scatter(v.piece_thickness_mm)
        - WEAR_THICKNESS_MM * w
        + DIRT_THICKNESS_MM * d
    )
    corner = np.full(n, design.corner_radius_mm) + WEAR_CORNER_MM * w
    core_d = design.core_diameter_mm * (1.0 + shift.core_diameter + scatter(v.piece_core_diameter))
    cladding_wear = 1.0 - WEAR_CLADDING * w
    # Milling and lettering are relief: wear flattens it, dirt fills it.
    relief = np.clip((1.0 - WEAR_RELIEF * w) * (1.0 - DIRT_RELIEF * d), 0.0, 1.0)
    milling = np.clip(design.edge.depth_mm * (1.0 + scatter(v.piece_milling)), 0.0, None) * relief
    lettering = design.edge.lettering_depth_mm * relief
    return Pieces(
        design=design,
        diameter_mm=diameter,
        thickness_mm=np.maximum(thickness, 0.2),
        corner_radius_mm=corner,
        core_diameter_mm=np.clip(core_d, 0.0, diameter - 1.0),
        hole_diameter_mm=np.full(n, design.hole_diameter_mm),
        outer_sigma=1.0 + shift.outer_sigma + scatter(v.piece_sigma),
        core_sigma=1.0 + shift.core_sigma + scatter(v.piece_sigma),
        outer_cladding_sigma=1.0 + scatter(v.piece_sigma),
        core_cladding_sigma=1.0 + scatter(v.piece_sigma),
        outer_cladding=np.clip(1.0 + shift.outer_cladding + scatter(v.piece_cladding), 0.2, None)
        * cladding_wear,
        core_cladding=np.clip(1.0 + shift.core_cladding + scatter(v.piece_cladding), 0.2, None)
        * cladding_wear,
        surface_sigma=1.0 - DIRT_SURFACE_SIGMA * d,
        milling_depth_mm=milling,
        lettering_depth_mm=lettering,
        ellipticity_mm=np.abs(scatter(v.ellipticity_mm)),
        ellipticity_phase=rng.uniform(0.0, 2.0 * np.pi, n),
        extra_gap_mm=DIRT_GAP_MM * d,
        wear=w,
        dirt=d,
    )
