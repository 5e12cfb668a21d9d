"""Baseline open-set acceptors to compare coinval against, on coinval's own features.

Every method here is fitted on genuine coins only, one model per coin, and
scores a batch as an array of shape (n, n_coins): a normalised distance from
each taught coin's acceptance region, at most 1 inside it at the method's
default threshold.  Scaling that bound (accept when the score is at most
``factor``) widens or narrows every region at once, which is how the DET
curves of :mod:`coinval_eval.accuracy` are traced for coinval and the baselines
alike.

* :class:`MahalanobisWindows`: the textbook comparison an outside acceptance
  test uses: per coin, a linear temperature term per feature fitted by least
  squares, the residuals' covariance (Ledoit-Wolf shrinkage, in numpy) and a
  chi-square cut at a stated false-rejection rate.  Pure numpy and scipy.
* :class:`MinMaxWindows`: what traditional coin acceptors store: per feature
  the lowest and highest value seen while teaching, widened by a fixed share
  of that range.  Pure numpy.
* :class:`GaussianReject`: a Gaussian per coin (quadratic-discriminant style)
  with a likelihood reject threshold: a shrunk (Ledoit-Wolf) covariance and a
  chi-square bound on the Mahalanobis distance.  Needs scikit-learn.
* :class:`IsolationForestReject`: an isolation forest per coin, rejecting
  above scikit-learn's own anomaly-score threshold.  Needs scikit-learn.

The baselines see the continuous features (:data:`coinval.features.FEATURE_NAMES`)
only and no edge-count rule; only the Mahalanobis window models temperature.
Each coin's model uses the columns that are finite for every one of its teach
coins (the loss columns are NaN on a head without loss traces).  A test coin's
NaN is a feature not read on that coin (a loss phase within the noise): as
coinval does, the Gaussian methods judge such a coin on the columns read (the
marginal distance, against the chi-square cut for that many columns) and the
min/max windows on the other windows; the isolation forest, which cannot leave
a column out, refuses it.  An infinite value is outside every region.
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
IntArray = npt.NDArray[np.int64]

DEFAULT_MARGIN = 0.1
"""Share of the taught range added on each side of a min/max window."""
DEFAULT_ALPHA = 1e-5
"""Genuine-coin rejection rate the Gaussian's chi-square bound is set for."""
DEFAULT_MAHALANOBIS_FR = 1e-3
"""False-rejection rate the Mahalanobis window's chi-square cut is stated for: the
share of genuine coins beyond it if the teach coins' Gaussian were the truth."""
ISOLATION_THRESHOLD = 0.5
"""scikit-learn's anomaly-score threshold for ``contamination="auto"``."""


class OpenSetMethod(Protocol):
    """What the accuracy benchmark needs of a method."""

    name: str

    def fit(self, features_by_coin: Mapping[str, CoinFeatures]) -> Self:
        """Fit one model per coin on that coin's genuine teach features."""
        ...

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


def finite_columns(values: FloatArray) -> npt.NDArray[np.bool_]:
    """Columns finite for every row: those a per-coin model can be fitted on.

    Parameters
    ----------
    values : ndarray of shape (n, n_features)

    Returns
    -------
    ndarray of bool, shape (n_features,)
    """
    return np.asarray(np.isfinite(values).all(axis=0))


def marginal_d2(
    z: FloatArray, covariance: FloatArray, precision: FloatArray
) -> tuple[FloatArray, IntArray]:
    """Squared Mahalanobis distances over the columns read (not NaN) of each row.

    The marginal of a Gaussian over some columns has the covariance's sub-block
    over them: a row with unread columns is measured with the inverse of that
    block, and its distance has as many degrees of freedom as columns read.

    Parameters
    ----------
    z : ndarray of shape (n, p)
        Rows already centred (and scaled as the covariance is); NaN where not read.
    covariance, precision : ndarray of shape (p, p)
        The covariance and its inverse.

    Returns
    -------
    d2 : ndarray of shape (n,)
        Infinite for a row with an infinite value or with nothing read.
    dof : ndarray of shape (n,)
        Columns read in each row.
    """
    unread = np.isnan(z)
    dof = (z.shape[1] - unread.sum(axis=1)).astype(np.int64)
    d2 = np.full(z.shape[0], np.inf)
    full = ~unread.any(axis=1)
    zf = z[full]
    d2[full] = np.einsum("ij,jk,ik->i", zf, precision, zf)
    # Few distinct patterns of unread columns: one sub-block inverse each.
    for pattern in np.unique(unread[~full], axis=0):
        keep = ~pattern
        if not keep.any():
            continue
        rows = np.flatnonzero((unread == pattern).all(axis=1))
        zk = z[np.ix_(rows, np.flatnonzero(keep))]
        sub = np.linalg.inv(covariance[np.ix_(keep, keep)])
        d2[rows] = np.einsum("ij,jk,ik->i", zk, sub, zk)
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(np.isfinite(d2), np.maximum(d2, 0.0), np.inf)
    return out, dof


def chi2_cut(dof: npt.ArrayLike, false_rejection: float) -> FloatArray:
    """Chi-square quantile with ``dof`` degrees of freedom exceeded with this probability.

    Infinite-free: ``dof`` 0 (nothing measured) gives NaN, which no comparison accepts.
    """
    k = np.asarray(dof, dtype=np.float64)
    out: FloatArray = np.where(k > 0, chdtri(np.maximum(k, 1.0), false_rejection), np.nan)
    return out


def ledoit_wolf(x: FloatArray) -> tuple[FloatArray, float]:
    """Ledoit-Wolf shrunk covariance of rows already centred (Ledoit and Wolf, 2004).

    The empirical covariance ``x.T @ x / n`` is pulled towards ``mu * I`` (``mu``
    its mean variance) by the shrinkage that minimises the expected Frobenius
    loss, estimated from the data alone: no constant is chosen here.  The same
    estimate as ``sklearn.covariance.ledoit_wolf(x, assume_centered=True)``,
    without needing scikit-learn.

    Parameters
    ----------
    x : ndarray of shape (n, p), n >= 1

    Returns
    -------
    covariance : ndarray of shape (p, p)
    shrinkage : float
        Weight of the target, within [0, 1].
    """
    n, p = x.shape
    emp = x.T @ x / n
    variances = np.diag(emp)
    mu = float(variances.sum()) / p
    x2 = x**2
    # beta: how noisy the empirical covariance is; delta: how far it is from the target.
    beta_sum = float((x2.T @ x2).sum()) / n
    delta_sum = float((emp**2).sum())
    beta = (beta_sum - delta_sum) / (p * n)
    delta = (delta_sum - 2.0 * mu * float(variances.sum()) + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0.0 else beta / delta
    cov: FloatArray = (1.0 - shrinkage) * emp + shrinkage * mu * np.eye(p)
    return cov, shrinkage


class MahalanobisWindows:
    """Per coin: linear temperature term, shrunk residual covariance, chi-square cut.

    The plain statistical acceptor an outside acceptance test compares with
    ("the features, a linear temperature term, a chi-square cut").  For each
    taught coin, on its teach coins:

    1. columns: the features finite for every teach coin and not constant
       among them (a constant column has no spread to measure distances in);
    2. each column ``x = a + b (T - T_mean)`` fitted by least squares on the
       board temperature ``T`` (a teach at one temperature gives ``b = 0``);
    3. the residuals, each divided by its own spread, get a Ledoit-Wolf shrunk
       covariance (the shrinkage is estimated from the teach coins, not
       tuned), scaled by ``n / (n - 2)`` for the two parameters fitted per column;
    4. the cut on the squared Mahalanobis distance ``d2`` is the chi-square
       quantile with as many degrees of freedom as columns, at the stated
       false-rejection rate.

    A coin is accepted as the coin whose region holds it with the smallest
    ``d2 / cut``, and refused when no region holds it.

    Parameters
    ----------
    false_rejection : float
        Share of genuine coins the cut would reject if the teach coins'
        Gaussian were the truth (with few teach coins and many columns the
        true share is higher: the DET curve shows by how much).

    Attributes
    ----------
    coins_ : list of str, length n_coins
    columns_ : ndarray of bool, shape (n_coins, n_features)
        The columns each coin's model uses.
    t_mean_ : ndarray of shape (n_coins,)
    intercept_, slope_, spread_ : list of ndarray, one per coin, shape (p_c,)
        Value at ``t_mean_``, change per kelvin, residual spread.
    covariance_, precision_ : list of ndarray, one per coin, shape (p_c, p_c)
        The shrunk residual covariance (on standardised residuals) and its inverse.
    shrinkage_ : ndarray of shape (n_coins,)
    cut_ : ndarray of shape (n_coins,)
        Chi-square cut on ``d2`` of each coin.
    """

    name = "Mahalanobis window"

    def __init__(self, false_rejection: float = DEFAULT_MAHALANOBIS_FR) -> None:
        self.false_rejection = false_rejection

    def fit(self, features_by_coin: Mapping[str, CoinFeatures]) -> Self:
        """Fit every coin's temperature line, covariance and cut.

        Parameters
        ----------
        features_by_coin : mapping of coin id to CoinFeatures of shape (n_c, n_features)

        Raises
        ------
        ValueError
            A false-rejection rate outside (0, 1), fewer than 3 teach coins of a
            coin, or a coin with no usable column.
        """
        if not 0.0 < self.false_rejection < 1.0:
            raise ValueError("false_rejection must lie within (0, 1)")
        self.coins_ = list(features_by_coin)
        columns, t_means, shrinkages, cuts = [], [], [], []
        self.intercept_: list[FloatArray] = []
        self.slope_: list[FloatArray] = []
        self.spread_: list[FloatArray] = []
        self.covariance_: list[FloatArray] = []
        self.precision_: list[FloatArray] = []
        for coin in self.coins_:
            feats = features_by_coin[coin]
            n = len(feats)
            if n < 3:
                raise ValueError(f"{coin}: {n} teach coins; a line and a spread need 3 or more")
            used = finite_columns(feats.values)
            with np.errstate(invalid="ignore"):
                spread = np.where(used, feats.values.std(axis=0), 0.0)
                mean = np.where(used, feats.values.mean(axis=0), 0.0)
            used &= spread > _scale_floor(mean)
            if not used.any():
                raise ValueError(f"{coin}: no feature is finite and varies among its teach coins")
            x = feats.values[:, used]
            t_mean = float(feats.temperature_c.mean())
            design = np.column_stack([np.ones(n), feats.temperature_c - t_mean])
            # lstsq gives the minimum-norm solution: a teach at one temperature
            # (a zero column) fits no slope rather than failing.
            coef, *_ = np.linalg.lstsq(design, x, rcond=None)
            resid = x - design @ coef
            dof = max(n - 2, 1)
            scale = np.maximum(np.sqrt((resid**2).sum(axis=0) / dof), _scale_floor(coef[0]))
            cov, shrinkage = ledoit_wolf(resid / scale)
            cov *= n / dof
            columns.append(used)
            t_means.append(t_mean)
            shrinkages.append(shrinkage)
            cuts.append(float(chdtri(int(used.sum()), self.false_rejection)))
            self.intercept_.append(coef[0])
            self.slope_.append(coef[1])
            self.spread_.append(scale)
            self.covariance_.append(cov)
            self.precision_.append(np.asarray(np.linalg.inv(cov), dtype=np.float64))
        self.columns_ = np.array(columns)
        self.t_mean_ = np.array(t_means)
        self.shrinkage_ = np.array(shrinkages)
        self.cut_ = np.array(cuts)
        return self

    def d2_and_dof(self, features: CoinFeatures) -> tuple[FloatArray, IntArray]:
        """Squared Mahalanobis distance from every coin's temperature line, and its columns.

        A coin's NaN in a column is a feature not read: its distance is the
        marginal one over the columns read (see :func:`marginal_d2`).

        Returns
        -------
        d2 : ndarray of shape (n, n_coins)
            Infinite where a used column is infinite or nothing is read.
        dof : ndarray of shape (n, n_coins)
            Columns of each coin's model read on each coin.
        """
        d2 = np.empty((len(features), len(self.coins_)))
        dof = np.empty(d2.shape, dtype=np.int64)
        for c in range(len(self.coins_)):
            x = features.values[:, self.columns_[c]]
            centre = self.intercept_[c] + np.outer(
                features.temperature_c - self.t_mean_[c], self.slope_[c]
            )
            z = (x - centre) / self.spread_[c]
            d2[:, c], dof[:, c] = marginal_d2(z, self.covariance_[c], self.precision_[c])
        return d2, dof

    def d2(self, features: CoinFeatures) -> FloatArray:
        """Squared Mahalanobis distances, shape (n, n_coins) (see :meth:`d2_and_dof`)."""
        return self.d2_and_dof(features)[0]

    def score(self, features: CoinFeatures) -> FloatArray:
        """``sqrt(d2 / cut)`` per coin and region: at most 1 inside the region.

        The cut is :attr:`cut_` for a coin with every column read, and the
        chi-square cut for the columns read otherwise.  The square root keeps
        the bound factor of the DET sweep a scale of distance, as for the other
        methods; the order of the regions, and so the coin a coin is accepted
        as, is that of ``d2 / cut``.

        Returns
        -------
        ndarray of shape (n, n_coins)
        """
        d2, dof = self.d2_and_dof(features)
        cut = np.where(
            dof == self.columns_.sum(axis=1)[None, :],
            self.cut_[None, :],
            chi2_cut(dof, self.false_rejection),
        )
        with np.errstate(invalid="ignore"):
            out: FloatArray = np.sqrt(d2 / cut)
        return np.where(np.isnan(out), np.inf, out)


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
    used_ : ndarray of bool, shape (n_coins, n_features)
        The columns finite for every teach coin of each coin.
    low_, high_ : ndarray of shape (n_coins, n_features)
        The widened windows (0 in columns not used).
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
        self.used_ = np.array([finite_columns(features_by_coin[c].values) for c in self.coins_])
        with np.errstate(invalid="ignore"):
            lo = np.array([features_by_coin[c].values.min(axis=0) for c in self.coins_])
            hi = np.array([features_by_coin[c].values.max(axis=0) for c in self.coins_])
        # A column some teach coin lacks has no window: the coin's model leaves it out.
        lo = np.where(self.used_, lo, 0.0)
        hi = np.where(self.used_, hi, 0.0)
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
            At most 1 when every feature read lies inside the coin's window.
        """
        x = features.values[:, None, :]
        z = np.abs(x - self._centre[None]) / self._half[None]
        # A feature not read (NaN) is not checked, nor is an unused column;
        # a coin with no used column read lies outside.
        read = self.used_[None] & ~np.isnan(z)
        z = np.where(read, z, 0.0)
        out: FloatArray = np.where(read.any(axis=2), z.max(axis=2), np.inf)
        return out


class _PerCoinStandardised:
    """Shared part of the scikit-learn baselines: one model per coin on z-scores."""

    coins_: list[str]
    used_: npt.NDArray[np.bool_]
    mean_: FloatArray
    std_: FloatArray
    models_: list[Any]
    judges_unread = False
    """Whether :meth:`_score_coin` takes rows with NaN (features not read)."""

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
        self.used_ = np.array([finite_columns(features_by_coin[c].values) for c in self.coins_])
        # Each coin's model sees the columns finite for all its teach coins.
        x = [features_by_coin[c].values[:, u] for c, u in zip(self.coins_, self.used_, strict=True)]
        self.mean_ = np.zeros(self.used_.shape)
        self.std_ = np.ones(self.used_.shape)
        for c, v in enumerate(x):
            mean = v.mean(axis=0)
            self.mean_[c, self.used_[c]] = mean
            self.std_[c, self.used_[c]] = np.maximum(v.std(axis=0, ddof=1), _scale_floor(mean))
        self.models_ = [
            self._fit_coin((v - self.mean_[c, self.used_[c]]) / self.std_[c, self.used_[c]])
            for c, v in enumerate(x)
        ]
        return self

    def score(self, features: CoinFeatures) -> FloatArray:
        """Normalised distances, shape (n, n_coins); at most 1 inside by default.

        Infinite where a used column is infinite, and where one is not read
        (NaN) unless the method judges such coins on the columns read.
        """
        out = np.empty((len(features), len(self.coins_)))
        for c, model in enumerate(self.models_):
            used = self.used_[c]
            z = (features.values[:, used] - self.mean_[c, used]) / self.std_[c, used]
            readable = np.isfinite(z) | (np.isnan(z) if self.judges_unread else False)
            ok = np.asarray(readable.all(axis=1) & (~np.isnan(z)).any(axis=1))
            out[:, c] = np.inf
            if ok.any():
                out[ok, c] = self._score_coin(model, z[ok])
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
    models_ : list of (sklearn.covariance.LedoitWolf, float), length n_coins
        Each coin's covariance and its chi-square bound.
    """

    name = "Gaussian (sklearn)"
    judges_unread = True

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.alpha = alpha

    def _fit_coin(self, z: FloatArray) -> Any:
        from sklearn.covariance import LedoitWolf

        # The bound follows the coin's own column count (a coin may lack some columns).
        return LedoitWolf(assume_centered=True).fit(z), float(chdtri(z.shape[1], self.alpha))

    def _score_coin(self, model: Any, z: FloatArray) -> FloatArray:
        covariance, bound = model
        d2, dof = marginal_d2(z, covariance.covariance_, covariance.precision_)
        cut = np.where(dof == z.shape[1], bound, chi2_cut(dof, self.alpha))
        out: FloatArray = np.sqrt(d2 / cut)
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


BASELINES = ("mahalanobis", "minmax", "gaussian", "iforest")
"""Names accepted by :func:`make_baselines`."""


def make_baselines(
    names: tuple[str, ...] = BASELINES,
    *,
    margin: float = DEFAULT_MARGIN,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    mahalanobis_fr: float = DEFAULT_MAHALANOBIS_FR,
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
        if name == "mahalanobis":
            methods.append(MahalanobisWindows(mahalanobis_fr))
        elif name == "minmax":
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
