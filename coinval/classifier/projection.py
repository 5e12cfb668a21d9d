"""A region seen on two of its features: what a teach preview draws.

A region is an ellipsoid over every feature its coin has; a plot has two axes.
The region's *shadow* on a pair of features is the set of values of those two
that some coin inside the region shows: an ellipse, the Mahalanobis ellipse of
the centre and the pair's marginal covariance at the region's own bound.  A
coin outside the shadow is outside the region; a coin inside it may still be
outside the region on its other features (the ellipsoid is thinner than its
shadow), as :meth:`CoinClassifier.bounds` says of one feature.

The pair shown is the one on which the new region stands furthest from the
nearest coins it should not take (:func:`separating_pair`), so the plot shows
what keeps them apart; lacking such coins, diameter and thickness
(:data:`DEFAULT_PAIR`), the two every region has.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinval.classifier.estimator import CoinClassifier
from coinval.features import FEATURE_NAMES, LOSS_ANGLES, CoinFeatures

FloatArray = npt.NDArray[np.float64]

DEFAULT_PAIR = ("diameter_mm", "thickness_mm")
"""The pair shown when no coin says which separates best: every region has both."""

SEPARATION_NEIGHBOURS = 20
"""How many of the nearest untaken coins choose the pair (:func:`separating_pair`):
the ones that test the region, not coins of other sizes that only diameter tells apart."""

# Each feature's unit, for a plot's axes.  Lengths are millimetres; the milling
# and lettering the natural log of one; levels the head's own hardware units;
# contrasts (a - b) / (|a| + |b|) and the edge-relative shapes have none.
FEATURE_UNITS: dict[str, str] = {
    **{name: "mm" for name in FEATURE_NAMES if name.endswith("_mm")},
    "log_milling_mm": "ln mm",
    "log_lettering_mm": "ln mm",
    "edge_sharpness": "ratio",
    "milling_alternation": "ratio",
    **{
        name: "hardware units"
        for name in ("lo_level", "hi_level", "lo_ring", "lo_core", "hi_ring", "hi_core")
    },
    **{name: "contrast" for name in FEATURE_NAMES if "_vs_" in name},
    **{name: "rad" for name in LOSS_ANGLES},
}


@dataclass(frozen=True, slots=True)
class RegionShadow:
    """One region's shadow on two features at one temperature and speed.

    Attributes
    ----------
    features : tuple of 2 str
        The x and y features, names from :data:`FEATURE_NAMES`.
    centre : ndarray of shape (2,)
        The region's centre on them, in the features' own units.
    covariance : ndarray of shape (2, 2)
        One predicted spread of the pair: the residual spreads widened as a
        prediction at that temperature and speed is, with their correlation.
    bound : float
        The region's bound on the squared distance (all its features'): the
        shadow is ``(y - centre)' covariance^-1 (y - centre) <= bound``.
    outline : ndarray of shape (n_points, 2)
        Points on the shadow's edge, anticlockwise from the major axis' end;
        the last is not repeated.
    """

    features: tuple[str, str]
    centre: FloatArray
    covariance: FloatArray
    bound: float
    outline: FloatArray

    def deviation(self, points: npt.ArrayLike) -> FloatArray:
        """How far points lie from the centre, in the shadow's radii.

        Parameters
        ----------
        points : array_like of shape (n, 2)

        Returns
        -------
        ndarray of shape (n,)
            1 on the outline, less inside it; NaN where a point is not finite.
        """
        y = np.asarray(points, dtype=np.float64).reshape(-1, 2) - self.centre
        d2 = np.einsum("ni,ij,nj->n", y, np.linalg.inv(self.covariance), y)
        out: FloatArray = np.sqrt(np.maximum(d2, 0.0) / self.bound)
        return out


def _prediction(
    clf: CoinClassifier, c: int, temperature_c: FloatArray, speed_mm_s: FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    """Region ``c``'s centre and predicted spread of every feature at given temperatures and speeds.

    The same terms :meth:`CoinClassifier.distance` uses: the centre moved by
    the slopes, the speed clipped to the taught range, the spread widened by
    the centre's own uncertainty there.

    Parameters
    ----------
    temperature_c : ndarray of shape (n,)
    speed_mm_s : ndarray of shape (n,) or None
        None: the taught reference speed.

    Returns
    -------
    centre, spread : ndarrays of shape (n, n_features)
    """
    dt = np.asarray(temperature_c, dtype=np.float64).reshape(-1) - float(clf._t_ref[c])
    du = np.zeros_like(dt)
    if speed_mm_s is not None:
        low, high = clf._u_range[c]
        u = np.log(np.asarray(speed_mm_s, dtype=np.float64).reshape(-1))
        du = np.clip(u, low, high) - float(clf._u_ref[c])
    ones = np.ones_like(dt)
    centre = (np.stack((ones, dt, du), axis=1) @ clf._centre_terms[c]) * clf.scale_[c]
    widening = np.stack((ones, dt * dt, dt * du, du * du), axis=1) @ clf._widening_terms[c]
    spread: FloatArray = clf.scale_[c] * np.sqrt(widening)
    return centre, spread


def _at(temperature_c: float, speed_mm_s: float | None) -> tuple[FloatArray, FloatArray | None]:
    """One temperature and speed as the arrays :func:`_prediction` takes."""
    speed = None if speed_mm_s is None else np.array([speed_mm_s], dtype=np.float64)
    return np.array([temperature_c], dtype=np.float64), speed


def _pair_index(clf: CoinClassifier, c: int, pair: tuple[str, str]) -> tuple[int, int]:
    i, j = (FEATURE_NAMES.index(name) for name in pair)
    if i == j:
        raise ValueError(f"a pair needs two features, not {pair[0]} twice")
    for k, name in ((i, pair[0]), (j, pair[1])):
        if not clf.used_[c, k]:
            raise ValueError(f"{clf.coins_[c]}'s region does not use {name}")
    return i, j


def region_shadow(
    clf: CoinClassifier,
    coin: str,
    pair: tuple[str, str],
    temperature_c: float,
    speed_mm_s: float | None = None,
    n_points: int = 72,
) -> RegionShadow:
    """The shadow of ``coin``'s region on two of its features.

    Parameters
    ----------
    clf : CoinClassifier
        Fitted, with a region for ``coin``.
    coin : str
    pair : tuple of 2 str
        Two distinct features the region uses (x first).
    temperature_c : float
        Where the centre is taken: the region's centre moves with temperature.
    speed_mm_s : float or None
        Rolling speed, likewise (clipped to the taught speeds as decisions
        are); None for the taught reference speed.
    n_points : int
        Points on the outline.

    Returns
    -------
    RegionShadow
        Its outline has shape (n_points, 2), in the features' own units.

    Raises
    ------
    ValueError
        When the pair is one feature twice or the region does not use one of them.
    """
    c = clf.coins_.index(coin)
    i, j = _pair_index(clf, c, pair)
    centres, spreads = _prediction(clf, c, *_at(temperature_c, speed_mm_s))
    centre, spread = centres[0], spreads[0]
    r = float(clf.correlation_[c, i, j])
    s = np.array([spread[i], spread[j]])
    covariance = np.array([[1.0, r], [r, 1.0]]) * np.outer(s, s)
    bound = float(clf._bound[c])
    # The unit circle through the covariance's square root, scaled to the bound:
    # every point at squared distance ``bound``.
    values, vectors = np.linalg.eigh(covariance)
    angle = np.linspace(0.0, 2.0 * np.pi, n_points, endpoint=False)
    circle = np.stack((np.cos(angle), np.sin(angle)), axis=1)
    root = vectors[:, ::-1] * np.sqrt(values[::-1])  # major axis first
    outline = centre[[i, j]] + np.sqrt(bound) * circle @ root.T
    return RegionShadow(
        features=(pair[0], pair[1]),
        centre=centre[[i, j]],
        covariance=covariance,
        bound=bound,
        outline=outline,
    )


def moved_to(
    clf: CoinClassifier,
    coin: str,
    features: CoinFeatures,
    temperature_c: float,
    speed_mm_s: float | None = None,
) -> FloatArray:
    """Coins' features as ``coin``'s region would see them at one temperature and speed.

    Each coin is moved by the region's own slopes from its temperature and
    speed to the given ones, so that coins measured on a cold morning and a
    hot afternoon sit against one outline where the region judges them.

    Parameters
    ----------
    clf : CoinClassifier
    coin : str
    features : CoinFeatures of n coins
    temperature_c : float
    speed_mm_s : float or None

    Returns
    -------
    ndarray of shape (n, n_features)
    """
    c = clf.coins_.index(coin)
    there, _ = _prediction(clf, c, *_at(temperature_c, speed_mm_s))
    own, _ = _prediction(clf, c, features.temperature_c, features.speed_mm_s)
    out: FloatArray = features.values - own + there
    return out


def pair_deviation(clf: CoinClassifier, coin: str, features: CoinFeatures) -> FloatArray:
    """Each coin's deviation in the shadow of every pair of the region's features.

    Taken at each coin's own temperature and speed, as decisions are.

    Parameters
    ----------
    clf : CoinClassifier
    coin : str
    features : CoinFeatures of n coins

    Returns
    -------
    ndarray of shape (n, n_features, n_features)
        Symmetric, in the shadow's radii (1 on its outline); NaN on the diagonal,
        for a feature the region does not use, and where a coin's feature is
        not finite.
    """
    c = clf.coins_.index(coin)
    z = clf._standardised(features)[c]  # (n, n_features), in predicted spreads
    r = clf.correlation_[c]
    zi, zj = z[:, :, None], z[:, None, :]
    with np.errstate(all="ignore"):
        d2 = (zi * zi - 2.0 * r * zi * zj + zj * zj) / (1.0 - r * r)
        out: FloatArray = np.sqrt(np.maximum(d2, 0.0) / float(clf._bound[c]))
    used = clf.used_[c]
    keep = used[:, None] & used[None, :] & ~np.eye(len(FEATURE_NAMES), dtype=bool)
    return np.where(keep[None] & np.isfinite(out), out, np.nan)


def separating_pair(
    clf: CoinClassifier,
    coin: str,
    others: CoinFeatures,
    neighbours: int = SEPARATION_NEIGHBOURS,
) -> tuple[str, str] | None:
    """The pair of ``coin``'s features on which its region stands furthest from ``others``.

    Of ``others`` (coins the region should not take), the ``neighbours``
    nearest the region by its full distance; for every pair of the region's
    features, the deviation in the pair's shadow of the one of them closest to
    it; the pair where that is largest.  The closest, not a typical one: the
    plot is to show the margin, and the nearest counterfeit is the one that
    tests it (a one-metal fake of a bimetal coin is told by its core's width,
    where a median over the fake and five other coin types picks diameter).

    Parameters
    ----------
    clf : CoinClassifier
    coin : str
    others : CoinFeatures of n coins
    neighbours : int

    Returns
    -------
    tuple of 2 str, or None
        In :data:`FEATURE_NAMES` order; None when no coin of ``others`` has a
        finite distance (none given, or none measured on the region's features).
    """
    if not len(others):
        return None
    c = clf.coins_.index(coin)
    distance = clf.distance(others)[:, c]
    finite = np.flatnonzero(np.isfinite(distance))
    if not finite.size:
        return None
    nearest = finite[np.argsort(distance[finite], kind="stable")[:neighbours]]
    dev = pair_deviation(clf, coin, others.rows(nearest))
    with warnings.catch_warnings():
        # A pair no coin measured (an unused feature, the diagonal) is all NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        closest = np.nanmin(dev, axis=0)
    closest = np.where(np.isfinite(closest), closest, -np.inf)
    if not np.isfinite(closest.max()):
        return None
    i, j = sorted(np.unravel_index(int(np.argmax(closest)), closest.shape))
    return FEATURE_NAMES[int(i)], FEATURE_NAMES[int(j)]
