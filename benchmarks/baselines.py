"""Baseline open-set acceptors to compare coinval against, on coinval's own features.

Every method here is fitted on genuine coins only, one model per coin, and
scores a batch as an array of shape (n, n_coins): a normalised distance from
each taught coin's acceptance region, at most 1 inside it at the method's
default threshold.  Scaling that bound (accept when the score is at most
``factor``) widens or narrows every region at once, which is how the DET
curves of :mod:`benchmarks.accuracy` are traced for coinval and the baselines
alike.

* :class:`MinMaxWindows`: what traditional coin acceptors store: per feature
  the lowest and highest value seen while teaching, widened by a fixed share
  of that range.  Pure numpy.
* :class:`GaussianReject`: a Gaussian per coin (quadratic-discriminant style)
  with a likelihood reject threshold: a shrunk (Ledoit-Wolf) covariance and a
  chi-square bound on the Mahalanobis distance.  Needs scikit-learn.
* :class:`IsolationForestReject`: an isolation forest per coin, rejecting
  above scikit-learn's own anomaly-score threshold.  Needs scikit-learn.

The baselines see the continuous features (:data:`coinval.features.FEATURE_NAMES`)
only: no temperature model and no edge-count rule, as a classic acceptor has
neither.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, Protocol, Self

import numpy as np
import numpy.typing as npt
from scipy.special import chdtri

from coinval.features import CoinFeatures

FloatArray = npt.NDArray[np.float64]

DEFAULT_MARGIN = 0.1
"""Share of the taught range added on each side of a min/max window."""
DEFAULT_ALPHA = 1e-5
"""Genuine-coin rejection rate the Gaussian's chi-square bound is set for."""
ISOLATION_THRESHOLD = 0.5
"""scikit-learn's anomaly-score threshold for ``contamination="auto"``."""


class OpenSetMethod(Protocol):
    """What the accuracy benchmark needs of a method."""

    name: str

    def fit(self, features_by_coin: Mapping[str, CoinFeatures]) -> Self: ...

    def score(self, features: CoinFeatures) -> FloatArray:
        """Normalised distances of shape (n, n_coins); at most 1 inside by default."""
        ...


def sklearn_available() -> bool:
    """Whether scikit-learn can be imported (the ``baselines`` extra)."""
    return importlib.util.find_spec("sklearn") is not None


def _scale_floor(mean: FloatArray) -> FloatArray:
    """The smallest spread a feature may have: a constant feature is not exact."""
    out: FloatArray = 1e-9 + 1e-6 * np.abs(mean)
    return out


class MinMaxWindows:
    """Per-coin, per-feature [min, max] windows from the teach set, widened.

    Parameters
    ----------
    margin : float
        Share of each feature's taught range (max - min) added below the
        minimum and above the maximum.

    Attributes
    ----------
    coins_ : list of str, length n_coins
    low_, high_ : ndarray of shape (n_coins, n_features)
        The widened windows.
    """

    name = "min/max windows"

    def __init__(self, margin: float = DEFAULT_MARGIN) -> None:
        self.margin = margin

    def fit(self, features_by_coin: Mapping[str, CoinFeatures]) -> Self:
        """Store the widened window of every feature of every coin.

        Parameters
        ----------
        features_by_coin : mapping of coin id to CoinFeatures of shape (n_c, n_features)
        """
        if self.margin < 0:
            raise ValueError("margin must be >= 0")
        self.coins_ = list(features_by_coin)
        lo = np.array([features_by_coin[c].values.min(axis=0) for c in self.coins_])
        hi = np.array([features_by_coin[c].values.max(axis=0) for c in self.coins_])
        pad = self.margin * (hi - lo)
        self.low_: FloatArray = lo - pad
        self.high_: FloatArray = hi + pad
        self._centre = 0.5 * (self.low_ + self.high_)
        self._half = np.maximum(0.5 * (self.high_ - self.low_), _scale_floor(self._centre))
        return self

    def score(self, features: CoinFeatures) -> FloatArray:
        """Largest distance from a window centre in half-window widths.

        Parameters
        ----------
        features : CoinFeatures of n coins

        Returns
        -------
        ndarray of shape (n, n_coins)
            At most 1 when every feature lies inside the coin's window.
        """
        x = features.values[:, None, :]
        z = np.abs(x - self._centre[None]) / self._half[None]
        out: FloatArray = z.max(axis=2)
        return out


class _PerCoinStandardised:
    """Shared part of the scikit-learn baselines: one model per coin on z-scores."""

    coins_: list[str]
    mean_: FloatArray
    std_: FloatArray
    models_: list[Any]

    def _fit_coin(self, z: FloatArray) -> Any:
        raise NotImplementedError

    def _score_coin(self, model: Any, z: FloatArray) -> FloatArray:
        raise NotImplementedError

    def fit(self, features_by_coin: Mapping[str, CoinFeatures]) -> Self:
        """Fit one model per coin on its teach coins standardised by their own spread.

        Parameters
        ----------
        features_by_coin : mapping of coin id to CoinFeatures of shape (n_c, n_features)
        """
        self.coins_ = list(features_by_coin)
        x = [features_by_coin[c].values for c in self.coins_]
        self.mean_ = np.array([v.mean(axis=0) for v in x])
        self.std_ = np.array(
            [
                np.maximum(v.std(axis=0, ddof=1), _scale_floor(m))
                for v, m in zip(x, self.mean_, strict=True)
            ]
        )
        self.models_ = [self._fit_coin((v - self.mean_[c]) / self.std_[c]) for c, v in enumerate(x)]
        return self

    def score(self, features: CoinFeatures) -> FloatArray:
        """Normalised distances, shape (n, n_coins); at most 1 inside by default."""
        out = np.empty((len(features), len(self.coins_)))
        for c, model in enumerate(self.models_):
            z = (features.values - self.mean_[c]) / self.std_[c]
            out[:, c] = self._score_coin(model, z)
        return out


class GaussianReject(_PerCoinStandardised):
    """A Gaussian per coin with a likelihood (Mahalanobis) reject threshold.

    Parameters
    ----------
    alpha : float
        Share of genuine coins the chi-square bound would reject if the teach
        set's Gaussian were the truth.

    Attributes
    ----------
    coins_ : list of str, length n_coins
    mean_, std_ : ndarray of shape (n_coins, n_features)
    models_ : list of sklearn.covariance.LedoitWolf, length n_coins
    bound_ : float
        Chi-square bound on the squared Mahalanobis distance.
    """

    name = "Gaussian (sklearn)"

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.alpha = alpha

    def _fit_coin(self, z: FloatArray) -> Any:
        from sklearn.covariance import LedoitWolf

        self.bound_ = float(chdtri(z.shape[1], self.alpha))
        return LedoitWolf(assume_centered=True).fit(z)

    def _score_coin(self, model: Any, z: FloatArray) -> FloatArray:
        d2 = np.asarray(model.mahalanobis(z), dtype=np.float64)
        out: FloatArray = np.sqrt(np.maximum(d2, 0.0) / self.bound_)
        return out


class IsolationForestReject(_PerCoinStandardised):
    """An isolation forest per coin; anomaly scores above 0.5 are rejected.

    Parameters
    ----------
    n_estimators : int
    seed : int

    Attributes
    ----------
    coins_ : list of str, length n_coins
    models_ : list of sklearn.ensemble.IsolationForest, length n_coins
    """

    name = "IsolationForest (sklearn)"

    def __init__(self, n_estimators: int = 100, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.seed = seed

    def _fit_coin(self, z: FloatArray) -> Any:
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=self.n_estimators, random_state=self.seed).fit(z)

    def _score_coin(self, model: Any, z: FloatArray) -> FloatArray:
        # score_samples is minus the anomaly score, which lies in (0, 1].
        anomaly = -np.asarray(model.score_samples(z), dtype=np.float64)
        out: FloatArray = anomaly / ISOLATION_THRESHOLD
        return out


BASELINES = ("minmax", "gaussian", "iforest")
"""Names accepted by :func:`make_baselines`."""


def make_baselines(
    names: tuple[str, ...] = BASELINES,
    *,
    margin: float = DEFAULT_MARGIN,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> tuple[list[OpenSetMethod], list[str]]:
    """The requested baselines that can run here, and notes on those that cannot.

    Returns
    -------
    methods : list of unfitted methods, in the order asked for
    notes : list of str
        One line per baseline skipped because scikit-learn is not installed.
    """
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}: use {', '.join(BASELINES)}")
    have_sklearn = sklearn_available()
    methods: list[OpenSetMethod] = []
    notes: list[str] = []
    for name in names:
        if name == "minmax":
            methods.append(MinMaxWindows(margin))
        elif not have_sklearn:
            notes.append(
                f"{name}: skipped, scikit-learn is not installed (pip install 'coinval[baselines]')"
            )
        elif name == "gaussian":
            methods.append(GaussianReject(alpha))
        else:
            methods.append(IsolationForestReject(seed=seed))
    return methods, notes
