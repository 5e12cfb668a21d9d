"""One passage of coins through the head, shared by both eddy physics.

How the coins were inserted (as unit variates the head maps to its own ranges),
where the coil is over each coin, and the eddy traces a physics returns.
:mod:`sim.measure` draws and composes them; :mod:`sim.physics_b` is the second
eddy physics that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

COIN_TEMPERATURE_SD_K = 1.0


@dataclass(frozen=True, slots=True)
class Insertion:
    """How n coins were inserted, as unit variates. Arrays of shape (n,).

    Attributes
    ----------
    temperature_c : ndarray
        Board temperature.
    coin_temperature_c : ndarray
        The coin's own temperature (conductivity follows this one).
    speed_u, gap_u, position_u, offcentre_u : ndarray
        Uniform in [0, 1): mapped to the head's speed, gap, window position
        and off-centre ranges.
    height_z : ndarray
        Standard normal: bounce of the coin on the rail (chord jitter).
    rim_start, offcentre_phase : ndarray
        Angles, radians.
    rim_direction : ndarray
        +1 or -1.
    warp_phase : ndarray
        Phase of the rim gauge's once-a-turn angular non-uniformity, radians.
    """

    temperature_c: FloatArray
    coin_temperature_c: FloatArray
    speed_u: FloatArray
    gap_u: FloatArray
    position_u: FloatArray
    offcentre_u: FloatArray
    height_z: FloatArray
    rim_start: FloatArray
    offcentre_phase: FloatArray
    rim_direction: FloatArray
    warp_phase: FloatArray


def draw_insertion(
    n: int, rng: np.random.Generator, temperature_c: tuple[float, float]
) -> Insertion:
    """Insertion conditions of n coins.

    Parameters
    ----------
    n : int
    rng : numpy.random.Generator
    temperature_c : (float, float)
        Board temperature range, drawn uniformly.
    """
    board = rng.uniform(temperature_c[0], temperature_c[1], n)
    return Insertion(
        temperature_c=board,
        coin_temperature_c=board + rng.normal(0.0, COIN_TEMPERATURE_SD_K, n),
        speed_u=rng.uniform(0.0, 1.0, n),
        gap_u=rng.uniform(0.0, 1.0, n),
        position_u=rng.uniform(0.0, 1.0, n),
        offcentre_u=rng.uniform(0.0, 1.0, n),
        height_z=rng.normal(0.0, 1.0, n),
        rim_start=rng.uniform(0.0, 2.0 * np.pi, n),
        offcentre_phase=rng.uniform(0.0, 2.0 * np.pi, n),
        rim_direction=rng.choice([-1.0, 1.0], n),
        # Drawn last: the draws before it stay what they were before it existed.
        warp_phase=rng.uniform(0.0, 2.0 * np.pi, n),
    )


@dataclass(frozen=True, slots=True)
class Scan:
    """Where the coil is over each coin at every sample, and how well it couples.

    Shared by both physics: the passage, the scanned chord, the gap, the board's gain.

    Attributes
    ----------
    x_mm : ndarray of shape (n, m)
        Position of the coil along each coin's chord, from the chord's middle.
    chord_mm : ndarray of shape (n,)
        Distance of the scanned chord from the coin's centre.
    gap_mm : ndarray of shape (n,)
        Coin-to-coil gap (lift-off), dirt included.
    gain : ndarray of shape (n, 2)
        Board gain per channel at the board's temperature: ``scale * (1 + drift (T - 20))``.
    """

    x_mm: FloatArray
    chord_mm: FloatArray
    gap_mm: FloatArray
    gain: FloatArray


@dataclass(frozen=True, slots=True)
class EddyTraces:
    """The eddy channels of n coins, hardware units, shape (n, m) each."""

    lo: FloatArray
    hi: FloatArray
    lo_loss: FloatArray | None = None
    hi_loss: FloatArray | None = None
