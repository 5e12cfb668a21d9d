"""One coin's region from its teach coins: centre, slopes, spreads and shrunk correlations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinval.catalogue import coin as catalogue_coin
from coinval.classifier.bounds import SecurityLevel, TeachKind
from coinval.classifier.drift import (
    MOVES_WITH_SPEED,
    Covariates,
    drift_prior,
    normal_inverse,
)
from coinval.features import CORE_WIDTHS, EDGED_ONLY, FEATURE_NAMES, CoinFeatures

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# An edge count is required of a coin when this share of its teach coins agree;
# so is alternate-side milling.
_EDGE_AGREEMENT = 0.9
# Milling on alternate sides gates the milling's energy on and off side by side:
# its envelope's modulation (``milling_alternation``) is 4/pi, milling all round
# gives 0.  Half-way between is a geometric fact, not a sensor's number.
ALTERNATE_MILLING = 2.0 / np.pi
ALTERNATION = FEATURE_NAMES.index("milling_alternation")
_EDGED = np.array([name in EDGED_ONLY for name in FEATURE_NAMES])
_CORES = np.array([name in CORE_WIDTHS for name in FEATURE_NAMES])

# A core's width is read on a channel only where its step from the ring stands
# this many teach spreads clear of zero, and is at least CORE_STEP: a core 10 %
# weaker or stronger than its ring (batches move a level by a few percent; on
# one simulated head a 2 pound's high channel stepped by under 1 %, and its
# width swung by millimetres from coin to coin).
_STEP_CLEAR = 5.0
CORE_STEP = 0.05
_CORE_WIDTH_COLUMNS = np.array([FEATURE_NAMES.index(n) for n in CORE_WIDTHS])
_CORE_CONTRAST_COLUMNS = np.array(
    [FEATURE_NAMES.index("lo_core_vs_ring"), FEATURE_NAMES.index("hi_core_vs_ring")]
)
# A residual spread below this share of a feature's size is below any sensor's
# resolution: it keeps a constant feature's width finite.
_RESOLUTION = 1e-6


def ledoit_wolf_shrinkage(z: FloatArray) -> float:
    """Ledoit and Wolf's shrinkage intensity of a correlation matrix towards identity.

    Parameters
    ----------
    z : ndarray of shape (n, p)
        Standardised residuals (each column of unit variance, mean zero).

    Returns
    -------
    float in [0, 1]
        The weight of the identity in ``(1 - s) R + s I``: the share of the
        sample correlations that the teach set's size cannot vouch for.
    """
    n, p = z.shape
    if p < 2 or n < 2:
        return 1.0
    r = (z.T @ z) / n
    target_distance = float(((r - np.eye(p)) ** 2).sum())
    if target_distance <= 0.0:
        return 1.0
    # The mean squared distance of each coin's outer product from r: how
    # noisy the sample correlations are.
    outer = np.einsum("ni,nj->nij", z, z)
    noise = float(((outer - r) ** 2).sum()) / (n * n)
    return float(min(1.0, max(0.0, noise / target_distance)))


def clear_steps(contrast: FloatArray) -> BoolArray:
    """Whether the teach coins show a clear step from ring to core on each channel.

    A core's width is the distance between the steps: where the step is lost
    in the noise, or so small that another batch's few percent could undo it
    (:data:`CORE_STEP`), the width swings between none and the whole coin.

    Parameters
    ----------
    contrast : ndarray of shape (n, 2)
        ``lo_core_vs_ring`` and ``hi_core_vs_ring`` of the teach coins.
    """
    with np.errstate(invalid="ignore"):
        mean = np.abs(contrast.mean(axis=0))
        spread = contrast.std(axis=0)
    return np.asarray((mean >= _STEP_CLEAR * spread) & (mean >= CORE_STEP), dtype=bool)


@dataclass(frozen=True, slots=True)
class Region:
    """One taught coin's acceptance region, as fitted or as a profile holds it.

    Attributes
    ----------
    coin : str
    n_samples : int
        Teach coins it was fitted from.
    security : SecurityLevel
    teach_kind : TeachKind
    edge_count : int
        Rim edge count required, 0 when none is.
    alternate_milling : bool
        Whether milling on alternate sides is required (the new pound).
    used : ndarray of shape (n_features,), bool
        The features the region judges.
    covariates : Covariates
    mean, slope_t, slope_u : ndarray of shape (n_features,)
        Centre at the reference temperature and speed, its change per kelvin
        and per unit of log speed; 0 where unused.
    scale : ndarray of shape (n_features,)
        Residual spread, 1 where unused.
    correlation : ndarray of shape (n_features, n_features)
        Shrunk residual correlations of the used features, identity elsewhere.
    shrinkage : float
        The identity's weight in the correlations.
    """

    coin: str
    n_samples: int
    security: SecurityLevel
    teach_kind: TeachKind
    edge_count: int
    alternate_milling: bool
    used: BoolArray
    covariates: Covariates
    mean: FloatArray
    slope_t: FloatArray
    slope_u: FloatArray
    scale: FloatArray
    correlation: FloatArray
    shrinkage: float


def fit_region(
    coin: str, feats: CoinFeatures, security: SecurityLevel, teach_kind: TeachKind
) -> Region:
    """One coin's region from its genuine teach coins.

    Parameters
    ----------
    coin : str
        Catalogue id: whether the coin is bimetal decides if core widths count.
    feats : CoinFeatures of shape (n, n_features)
        At least 3 coins.
    security : SecurityLevel
    teach_kind : TeachKind

    Raises
    ------
    ValueError
        Fewer than 3 coins.
    """
    x = feats.values
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"{coin}: at least 3 coins are needed to fit, got {n}")
    counts = np.bincount(feats.edge_count, minlength=17)
    mode = int(np.argmax(counts))
    edge_count, alternate_milling = 0, False
    if mode >= 3 and counts[mode] >= _EDGE_AGREEMENT * n:
        edge_count = mode
        alternate = np.mean(x[:, ALTERNATION] > ALTERNATE_MILLING)
        alternate_milling = bool(alternate >= _EDGE_AGREEMENT)
    used: BoolArray = np.asarray(np.isfinite(x).all(axis=0), dtype=bool)
    if edge_count == 0:
        used &= ~_EDGED  # measured against edges a round coin does not have
    if not catalogue_coin(coin).bimetal:
        used &= ~_CORES  # the noise on a one-metal coin's flat top
    else:
        used[_CORE_WIDTH_COLUMNS] &= clear_steps(x[:, _CORE_CONTRAST_COLUMNS])
    speed = feats.speed_mm_s
    u = np.log(speed) if speed is not None else np.zeros(n)
    cov, mean, slope_t, slope_u, scale, corr, shrink = _fit_centre_and_spread(
        x, feats.temperature_c, u, used
    )
    return Region(
        coin=coin,
        n_samples=n,
        security=security,
        teach_kind=teach_kind,
        edge_count=edge_count,
        alternate_milling=alternate_milling,
        used=used,
        covariates=cov,
        mean=mean,
        slope_t=slope_t,
        slope_u=slope_u,
        scale=scale,
        correlation=corr,
        shrinkage=shrink,
    )


def _fit_centre_and_spread(
    x: FloatArray, t: FloatArray, u: FloatArray, used: BoolArray
) -> tuple[Covariates, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, float]:
    """A region's covariates, centre, slopes, spread, correlations and shrinkage.

    Parameters
    ----------
    x : ndarray of shape (n, n_features)
    t, u : ndarray of shape (n,)
        Temperature (C) and log speed (log mm/s).
    used : ndarray of shape (n_features,), bool
    """
    n = x.shape[0]
    # The mean of equal values can round an ulp past them: keep it inside.
    t_ref = min(max(float(t.mean()), float(t.min())), float(t.max()))
    u_ref = min(max(float(u.mean()), float(u.min())), float(u.max()))
    dt, du = t - t_ref, u - u_ref
    cov = Covariates(
        t_ref=t_ref,
        t_min=float(t.min()),
        t_max=float(t.max()),
        t_sxx=float(dt @ dt),
        u_ref=u_ref,
        u_min=float(u.min()),
        u_max=float(u.max()),
        u_sxx=float(du @ du),
        tu_sxy=float(dt @ du),
    )
    xs = np.where(used, x, 0.0)
    mean = xs.mean(axis=0)
    xc = xs - mean
    prior_t = drift_prior(mean)
    b = np.stack([dt @ xc, du @ xc], axis=1)  # (n_features, 2)
    # Twice: the prior weighs against the residual spread, which the first
    # pass (plain least squares, speed shrunk) measures.
    scale = xc.std(axis=0) + 1e-12  # an upper bound of the residual spread
    for _ in range(2):
        inv = normal_inverse(cov, n, scale, prior_t)
        slope_t = inv[:, 0] * b[:, 0] + inv[:, 1] * b[:, 1]
        slope_u = inv[:, 1] * b[:, 0] + inv[:, 2] * b[:, 1]
        resid = xc - np.outer(dt, slope_t) - np.outer(du, slope_u)
        dof = np.where(MOVES_WITH_SPEED, n - 3.0, n - 2.0).clip(min=1.0)
        scale = np.sqrt((resid**2).sum(axis=0) / dof)
        scale = np.maximum(scale, _RESOLUTION * np.abs(mean) + 1e-12)
    z = resid[:, used] / scale[used]
    shrink = ledoit_wolf_shrinkage(z)
    p = int(used.sum())
    r = (z.T @ z) / n
    # Unit diagonal exactly: the scales carry the variances.  (A feature that
    # never moved has no correlations: nothing to divide.)
    d = np.sqrt(np.diag(r))
    d = np.where(d > 0.0, d, 1.0)
    r = r / np.outer(d, d)
    np.fill_diagonal(r, 1.0)
    corr = (1.0 - shrink) * r + shrink * np.eye(p)
    full = np.eye(x.shape[1])
    full[np.ix_(used, used)] = corr
    return (
        cov,
        np.where(used, mean, 0.0),
        np.where(used, slope_t, 0.0),
        np.where(used, slope_u, 0.0),
        np.where(used, scale, 1.0),
        full,
        shrink,
    )
