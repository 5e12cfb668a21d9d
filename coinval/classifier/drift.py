"""How a region's centre moves with temperature and rolling speed, and how much
wider that makes a prediction far from the teach.

Each slope is fitted against a prior of how far the feature can physically
drift (:data:`DRIFT_PER_K`; speed slopes shrunk towards none), so a teach over a
few kelvin does not invent a slope; the slopes' own uncertainty widens the
region for a coin far from the taught temperatures and speeds, as a
regression's prediction interval widens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinval.features import CORE_WIDTHS, FEATURE_NAMES, INDUCTIVE, LOSS_ANGLES

FloatArray = npt.NDArray[np.float64]

# How far each feature may drift per kelvin, in its own physical unit, before
# any teach coin says: the prior of its temperature slope (one standard
# deviation).  A teach over the seasons measures the slope and this hardly
# counts; a teach within a few kelvin leaves the slope to it, and a coin far
# colder or hotter than taught gets a region as much wider as this allows.
# Levels are hardware units: a share of their size (a head's gain drifts a few
# tenths of a percent a kelvin, a metal's conductivity as much); contrasts of
# two levels: the two drifting apart by that share (``(1 - c^2) / 2`` per unit
# of relative change; the two metals' or channels' coefficients differ by less
# than either); loss angles: radians (conductivity's coefficient, about 0.4 %/K,
# moves a phase by at most half as many radians, and less where the reactive
# part saturates); lengths: millimetres (thermal expansion and a gauge's drift,
# microns a kelvin).
DRIFT_PER_K: dict[str, tuple[str, float]] = {
    "diameter_mm": ("mm", 0.001),
    "thickness_mm": ("mm", 0.001),
    "edge_depth_mm": ("mm", 0.0005),
    "edge_sharpness": ("unit", 0.001),
    "log_milling_mm": ("unit", 0.002),
    "milling_alternation": ("unit", 0.001),
    "log_lettering_mm": ("unit", 0.002),
    "inductive_width_mm": ("share", 0.001),
    "lo_level": ("share", 0.003),
    "hi_level": ("share", 0.003),
    "lo_ring": ("share", 0.003),
    "lo_core": ("share", 0.003),
    "hi_ring": ("share", 0.003),
    "hi_core": ("share", 0.003),
    "lo_core_vs_ring": ("contrast", 0.002),
    "hi_core_vs_ring": ("contrast", 0.002),
    "hi_vs_lo_ring": ("contrast", 0.002),
    "hi_vs_lo_core": ("contrast", 0.002),
    "hi_vs_lo_level": ("contrast", 0.002),
    "lo_core_width_mm": ("share", 0.001),
    "hi_core_width_mm": ("share", 0.001),
    "lo_ring_loss_angle": ("unit", 0.001),
    "lo_core_loss_angle": ("unit", 0.001),
    "hi_ring_loss_angle": ("unit", 0.001),
    "hi_core_loss_angle": ("unit", 0.001),
}
# Speed slopes are shrunk towards zero as if this much log speed (5 %) of
# spread were missing: a teach at one speed must not invent a slope from noise.
SPEED_PRIOR = 0.05
# Features that move with rolling speed: the eddy traces (a front end's time
# constant smears a fast coin); metrology does not.
MOVES_WITH_SPEED = np.zeros(len(FEATURE_NAMES), dtype=bool)
MOVES_WITH_SPEED[INDUCTIVE] = True
MOVES_WITH_SPEED[[FEATURE_NAMES.index(n) for n in (*CORE_WIDTHS, *LOSS_ANGLES)]] = True


@dataclass(frozen=True, slots=True)
class Covariates:
    """What a region's centre moves with, as the teach coins spanned it.

    ``t_*`` are degrees Celsius, ``u_*`` the natural log of the speed in mm/s.
    ``*_sxx`` are sums of squared deviations from the reference; ``tu_sxy`` the
    sum of their products (the two slopes are fitted together).
    """

    t_ref: float
    t_min: float
    t_max: float
    t_sxx: float
    u_ref: float
    u_min: float
    u_max: float
    u_sxx: float
    tu_sxy: float


def drift_prior(mean: FloatArray) -> FloatArray:
    """Each feature's temperature-slope prior (one sd, per kelvin) at its taught centre.

    Parameters
    ----------
    mean : ndarray of shape (n_features,)
    """
    return np.array(
        [drift_prior_of(name, float(m)) for name, m in zip(FEATURE_NAMES, mean, strict=True)]
    )


def drift_prior_of(name: str, mean: float) -> float:
    """One feature's temperature-slope prior (one sd, per kelvin) at its centre ``mean``."""
    kind, value = DRIFT_PER_K[name]
    if kind == "share":
        out = value * abs(mean)
    elif kind == "contrast":
        out = value * 0.5 * (1.0 - min(mean**2, 1.0))
    else:
        out = value
    # A feature at zero still drifts by noise's worth; never a zero prior.
    return max(out, 1e-12)


def normal_inverse(cov: Covariates, n: int, scale: FloatArray, prior_t: FloatArray) -> FloatArray:
    """Per feature, the inverse of the covariates' normal matrix with the priors.

    ``Var(slopes) = scale^2 * inverse``; the speed term only for eddy features.

    Returns
    -------
    ndarray of shape (n_features, 3)
        ``[tt, tu, uu]`` entries of the symmetric 2x2 inverse.
    """
    a11 = cov.t_sxx + (scale / prior_t) ** 2
    a22 = cov.u_sxx + n * SPEED_PRIOR**2
    a12 = np.where(MOVES_WITH_SPEED, cov.tu_sxy, 0.0)
    det = a11 * a22 - a12 * a12
    return np.stack(
        [
            np.where(MOVES_WITH_SPEED, a22 / det, 1.0 / a11),
            np.where(MOVES_WITH_SPEED, -a12 / det, 0.0),
            np.where(MOVES_WITH_SPEED, a11 / det, 0.0),
        ],
        axis=1,
    )
