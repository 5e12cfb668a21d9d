"""The calibration-driven, open-set coin classifier.

Each taught coin gets one acceptance region fitted from genuine coins only
(there are never counterfeits at teach time).  The region is a Mahalanobis
ellipsoid over every feature the coin has, around a centre that moves
linearly with temperature (and, for the eddy features, with the log of the
rolling speed):

* widths and correlations are the teach coins' own residual spread and
  correlations, the correlations shrunk towards none by as much as the teach
  set's size warrants (Ledoit and Wolf's estimate, from the data itself), so
  that a fake moving two correlated features apart is refused where
  independent per-feature boxes would take it;
* the bound on the squared distance is the chi-square quantile of the
  coin's feature count at the security level's false-rejection rate, for a
  coin whose centre is known only from n teach coins (each distance is
  taken against the residual variance plus the centre's own uncertainty at
  that temperature and speed, as a regression's prediction interval is);
* a teach from circulation (the normal field teach) holds several mint
  batches, so their spread is in the teach coins already; a launch teach
  (every coin from one batch) gets a documented extra budget in the same
  units: another batch may lie :data:`LAUNCH_BATCH_WIDTHS` teach spreads
  from the taught one, in any one direction.

Only geometric facts are built in: the edge count a polygon must show, and
that the new pound is milled on alternate sides.  Everything sensor-dependent
is learned in :meth:`CoinClassifier.fit`; :meth:`CoinClassifier.provenance`
says, per coin, where each width came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from scipy.special import chdtri, chndtrix

from coinval.catalogue import coin as catalogue_coin
from coinval.features import (
    CORE_WIDTHS,
    EDGED_ONLY,
    FEATURE_NAMES,
    INDUCTIVE,
    LOSS_ANGLES,
    CoinFeatures,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SecurityLevel = Literal["standard", "narrow", "very narrow"]
SECURITY_LEVELS: tuple[SecurityLevel, ...] = ("standard", "narrow", "very narrow")
TeachKind = Literal["circulation", "launch"]
TEACH_KINDS: tuple[TeachKind, ...] = ("circulation", "launch")

FALSE_REJECTION: dict[SecurityLevel, float] = {
    "standard": 1e-5,
    "narrow": 1e-4,
    "very narrow": 1e-3,
}
"""The chance that a genuine coin like those taught falls outside its region, per
security level, if its features were normal: the chi-square bound's tail."""

LAUNCH_BATCH_WIDTHS = 3.0
"""A launch teach (one mint batch) cannot see how far other batches lie: the
region admits another batch whose centre lies this many teach spreads (along
any one direction of the ellipsoid) from the taught one, by adding its square
to the distance bound.  Mint batches differ by a few percent in alloy and a few
hundredths of a millimetre, against a teach spread of a few percent."""

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
# microns a kelvin).  The slopes fitted over -10..45 C on bench-k2 and on both
# of the simulator's physics stay within these (levels up to 0.16 %/K,
# contrasts 0.15 %/K, phases 0.6 mrad/K).
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
_SPEED_PRIOR = 0.05
# An edge count is required of a coin when this share of its teach coins agree;
# so is alternate-side milling.
_EDGE_AGREEMENT = 0.9
# Milling on alternate sides gates the milling's energy on and off side by side:
# its envelope's modulation (``milling_alternation``) is 4/pi, milling all round
# gives 0.  Half-way between is a geometric fact, not a sensor's number.
ALTERNATE_MILLING = 2.0 / np.pi
_ALTERNATION = FEATURE_NAMES.index("milling_alternation")
# Features that move with rolling speed: the eddy traces (a front end's time
# constant smears a fast coin); metrology does not.
_EDDY = np.zeros(len(FEATURE_NAMES), dtype=bool)
_EDDY[INDUCTIVE] = True
_EDDY[[FEATURE_NAMES.index(n) for n in (*CORE_WIDTHS, *LOSS_ANGLES)]] = True
_EDGED = np.array([name in EDGED_ONLY for name in FEATURE_NAMES])
_CORES = np.array([name in CORE_WIDTHS for name in FEATURE_NAMES])
_LOSS = np.array([name in LOSS_ANGLES for name in FEATURE_NAMES])
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
# "Resembles" a taught coin (so a refusal is a counterfeit, not unknown):
# metrology close to it, in geometric terms only.
RESEMBLANCE_DIAMETER = 0.05
RESEMBLANCE_THICKNESS = 0.25
_DIAMETER = FEATURE_NAMES.index("diameter_mm")
_THICKNESS = FEATURE_NAMES.index("thickness_mm")
# A residual spread below this share of a feature's size is below any sensor's
# resolution: it keeps a constant feature's width finite.
_RESOLUTION = 1e-6
# How many measurements a refusal's detail names.
_NAMED = 2


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


def _normal_inverse(cov: Covariates, n: int, scale: FloatArray, prior_t: FloatArray) -> FloatArray:
    """Per feature, the inverse of the covariates' normal matrix with the priors.

    ``Var(slopes) = scale^2 * inverse``; the speed term only for eddy features.

    Returns
    -------
    ndarray of shape (n_features, 3)
        ``[tt, tu, uu]`` entries of the symmetric 2x2 inverse.
    """
    a11 = cov.t_sxx + (scale / prior_t) ** 2
    a22 = cov.u_sxx + n * _SPEED_PRIOR**2
    a12 = np.where(_EDDY, cov.tu_sxy, 0.0)
    det = a11 * a22 - a12 * a12
    return np.stack(
        [
            np.where(_EDDY, a22 / det, 1.0 / a11),
            np.where(_EDDY, -a12 / det, 0.0),
            np.where(_EDDY, a11 / det, 0.0),
        ],
        axis=1,
    )


def _clear_steps(contrast: FloatArray) -> BoolArray:
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
class _Region:
    covariates: Covariates
    mean: FloatArray
    slope_t: FloatArray
    slope_u: FloatArray
    scale: FloatArray
    correlation: FloatArray
    shrinkage: float
    drift_prior: FloatArray


def _fit_region(x: FloatArray, t: FloatArray, u: FloatArray, used: BoolArray) -> _Region:
    """One coin's region from its teach coins.

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
        inv = _normal_inverse(cov, n, scale, prior_t)
        slope_t = inv[:, 0] * b[:, 0] + inv[:, 1] * b[:, 1]
        slope_u = inv[:, 1] * b[:, 0] + inv[:, 2] * b[:, 1]
        resid = xc - np.outer(dt, slope_t) - np.outer(du, slope_u)
        dof = np.where(_EDDY, n - 3.0, n - 2.0).clip(min=1.0)
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
    return _Region(
        covariates=cov,
        mean=np.where(used, mean, 0.0),
        slope_t=np.where(used, slope_t, 0.0),
        slope_u=np.where(used, slope_u, 0.0),
        scale=np.where(used, scale, 1.0),
        correlation=full,
        shrinkage=shrink,
        drift_prior=np.where(used, prior_t, 1.0),
    )


class CoinClassifier:
    """Open-set classifier: one Mahalanobis region per taught coin.

    Fitted attributes (after :meth:`fit`)
    -------------------------------------
    coins_ : list of str, length n_coins
    n_samples_ : ndarray of shape (n_coins,)
    security_ : list of str, length n_coins
    teach_kind_ : list of str, length n_coins
        ``"circulation"`` (several batches in the teach) or ``"launch"`` (one).
    used_ : ndarray of shape (n_coins, n_features), bool
        The features in each region: every feature but the edge-relative ones
        of a round coin, the core widths of a one-metal coin, and the loss
        ratios of a coin taught without loss traces.
    covariates_ : list of Covariates, length n_coins
    mean_ : ndarray of shape (n_coins, n_features)
        Centre at the reference temperature and speed.
    slope_ : ndarray of shape (n_coins, n_features)
        Change per kelvin.
    speed_slope_ : ndarray of shape (n_coins, n_features)
        Change per unit of log speed (eddy features only).
    scale_ : ndarray of shape (n_coins, n_features)
        Residual standard deviation: one teach spread.
    correlation_ : ndarray of shape (n_coins, n_features, n_features)
        Shrunk residual correlations of the used features (identity elsewhere).
    shrinkage_ : ndarray of shape (n_coins,)
        The identity's weight in each coin's correlations.
    drift_prior_ : ndarray of shape (n_coins, n_features)
        The prior of each temperature slope, per kelvin (:data:`DRIFT_PER_K`
        at the taught centre).
    edge_count_ : ndarray of shape (n_coins,)
        Required rim edge count, 0 when the coin has no edges to require.
    alternate_milling_ : ndarray of shape (n_coins,), bool
        Whether the coin must be milled on alternate sides (the new pound).
    """

    coins_: list[str]
    n_samples_: IntArray
    security_: list[SecurityLevel]
    teach_kind_: list[TeachKind]
    used_: BoolArray
    covariates_: list[Covariates]
    mean_: FloatArray
    slope_: FloatArray
    speed_slope_: FloatArray
    scale_: FloatArray
    correlation_: FloatArray
    shrinkage_: FloatArray
    drift_prior_: FloatArray
    edge_count_: IntArray
    alternate_milling_: BoolArray

    # -- fitting ---------------------------------------------------------------

    def fit(
        self,
        features_by_coin: Mapping[str, CoinFeatures],
        security: Mapping[str, SecurityLevel] | None = None,
        teach_kind: Mapping[str, TeachKind] | None = None,
    ) -> Self:
        """Fit one acceptance region per coin from genuine coins only.

        Parameters
        ----------
        features_by_coin : mapping of coin id to CoinFeatures of shape (n_c, n_features)
            At least 3 coins each (teaching warns below 20, see ``coinval.teach``).
        security : mapping of coin id to security level, optional
        teach_kind : mapping of coin id to "circulation" or "launch", optional
            Default "circulation".
        """
        security = security or {}
        teach_kind = teach_kind or {}
        coins = list(features_by_coin)
        n_c, n_f = len(coins), len(FEATURE_NAMES)
        self.coins_ = coins
        self.n_samples_ = np.zeros(n_c, dtype=np.int64)
        self.security_ = [security.get(c, "standard") for c in coins]
        self.teach_kind_ = [teach_kind.get(c, "circulation") for c in coins]
        self.used_ = np.zeros((n_c, n_f), dtype=bool)
        self.covariates_ = []
        self.mean_ = np.zeros((n_c, n_f))
        self.slope_ = np.zeros((n_c, n_f))
        self.speed_slope_ = np.zeros((n_c, n_f))
        self.scale_ = np.ones((n_c, n_f))
        self.correlation_ = np.tile(np.eye(n_f), (n_c, 1, 1))
        self.shrinkage_ = np.ones(n_c)
        self.drift_prior_ = np.ones((n_c, n_f))
        self.edge_count_ = np.zeros(n_c, dtype=np.int64)
        self.alternate_milling_ = np.zeros(n_c, dtype=bool)
        for c, coin in enumerate(coins):
            self._fit_coin(c, coin, features_by_coin[coin])
        self._prepare()
        return self

    def _fit_coin(self, c: int, coin: str, feats: CoinFeatures) -> None:
        x, t = feats.values, feats.temperature_c
        n = x.shape[0]
        if n < 3:
            raise ValueError(f"{coin}: at least 3 coins are needed to fit, got {n}")
        counts = np.bincount(feats.edge_count, minlength=17)
        mode = int(np.argmax(counts))
        if mode >= 3 and counts[mode] >= _EDGE_AGREEMENT * n:
            self.edge_count_[c] = mode
            alternate = np.mean(x[:, _ALTERNATION] > ALTERNATE_MILLING)
            self.alternate_milling_[c] = bool(alternate >= _EDGE_AGREEMENT)
        used: BoolArray = np.asarray(np.isfinite(x).all(axis=0), dtype=bool)
        if self.edge_count_[c] == 0:
            used &= ~_EDGED  # measured against edges a round coin does not have
        if not catalogue_coin(coin).bimetal:
            used &= ~_CORES  # the noise on a one-metal coin's flat top
        else:
            used[_CORE_WIDTH_COLUMNS] &= _clear_steps(x[:, _CORE_CONTRAST_COLUMNS])
        self.used_[c] = used

        speed = feats.speed_mm_s
        u = np.log(speed) if speed is not None else np.zeros(n)
        fit = _fit_region(x, t, u, used)
        self.covariates_.append(fit.covariates)
        self.n_samples_[c] = n
        self.mean_[c] = fit.mean
        self.slope_[c] = fit.slope_t
        self.speed_slope_[c] = fit.slope_u
        self.scale_[c] = fit.scale
        self.correlation_[c] = fit.correlation
        self.shrinkage_[c] = fit.shrinkage
        self.drift_prior_[c] = fit.drift_prior

    def _prepare(self) -> None:
        """Precompute what decisions reuse: inverse correlations and distance bounds."""
        n_c = len(self.coins_)
        self._precision = np.zeros_like(self.correlation_)
        for c in range(n_c):
            used = self.used_[c]
            inv = np.linalg.inv(self.correlation_[c][np.ix_(used, used)])
            self._precision[c][np.ix_(used, used)] = 0.5 * (inv + inv.T)
        self._dof = self.used_.sum(axis=1)
        self._bound = np.array([self.distance_bound(c) for c in range(n_c)])
        cv = self.covariates_
        self._t_ref = np.array([v.t_ref for v in cv])
        self._u_ref = np.array([v.u_ref for v in cv])
        self._u_range = np.array([[v.u_min, v.u_max] for v in cv]).reshape(n_c, 2)
        # The slopes' uncertainty, per feature: a prediction interval's widening.
        self._inv = np.stack(
            [
                _normal_inverse(
                    cv[c], int(self.n_samples_[c]), self.scale_[c], self.drift_prior_[c]
                )
                for c in range(n_c)
            ]
        ).reshape(n_c, len(FEATURE_NAMES), 3)
        self._inv_n = 1.0 / self.n_samples_
        self._inverse_scale = 1.0 / self.scale_
        # (n_coins, 3, n_features): centre at the reference, per kelvin, per log speed.
        self._centre_terms = np.stack(
            (self.mean_ / self.scale_, self.slope_ / self.scale_, self.speed_slope_ / self.scale_),
            axis=1,
        )
        # (n_coins, 4, n_features): a prediction's variance over the residual's.
        inv = self._inv
        self._widening_terms = np.stack(
            (
                1.0 + self._inv_n[:, None] * np.ones(len(FEATURE_NAMES)),
                inv[..., 0],
                2.0 * inv[..., 1],
                inv[..., 2],
            ),
            axis=1,
        )

    def distance_bound(self, c: int, dof: int | None = None) -> float:
        """The bound on coin ``c``'s squared distance: chi-square, noncentral for a launch.

        ``dof`` is the number of features judged (default: all the region's).
        """
        dof = int(self.used_[c].sum()) if dof is None else dof
        alpha = FALSE_REJECTION[self.security_[c]]
        if self.teach_kind_[c] == "launch":
            # A coin of a batch LAUNCH_BATCH_WIDTHS off along one direction: its
            # squared distance is noncentral chi-square with that offset squared.
            return float(chndtrix(1.0 - alpha, dof, LAUNCH_BATCH_WIDTHS**2))
        return float(chdtri(dof, alpha))

    # -- deciding --------------------------------------------------------------

    def _standardised(self, features: CoinFeatures) -> FloatArray:
        """Each coin's residuals against every region, in predicted spreads.

        A prediction's spread is the residual spread widened by the centre's own
        uncertainty at the coin's temperature and speed (a regression's
        prediction interval: ``1 + 1/n`` plus the slopes' share).

        Returns
        -------
        ndarray of shape (n_coins, n, n_features)
            0 for unused features, NaN where a used feature is not finite.
        """
        with np.errstate(all="ignore"):
            x = features.values
            dt = features.temperature_c[None, :] - self._t_ref[:, None]
            if features.speed_mm_s is not None:
                # Never extrapolated beyond the taught speeds: a coin faster or
                # slower than any taught is judged at the nearest taught speed.
                u = np.log(features.speed_mm_s)[None, :]
                du = np.clip(u, self._u_range[:, :1], self._u_range[:, 1:]) - self._u_ref[:, None]
            else:
                du = np.zeros_like(dt)
            # Centre and widening are linear in (1, dt, du) and (1, dt^2, dt du, du^2):
            # one matrix product each per region, not a pass per term.
            ones = np.ones_like(dt)
            centre = np.matmul(np.stack((ones, dt, du), axis=2), self._centre_terms)
            widening = np.matmul(
                np.stack((ones, dt * dt, dt * du, du * du), axis=2), self._widening_terms
            )
            z = x[None, :, :] * self._inverse_scale[:, None, :]
            z -= centre
            z /= np.sqrt(widening)
        out: FloatArray = np.where(self.used_[:, None, :], z, 0.0)
        return out

    def distance(self, features: CoinFeatures) -> FloatArray:
        """Squared Mahalanobis distance of each coin from each region's centre.

        Parameters
        ----------
        features : CoinFeatures of n coins

        Returns
        -------
        ndarray of shape (n, n_coins)
            ``inf`` where a used feature is not finite (see :meth:`deviation`
            for loss angles too weak to read).
        """
        z = self._standardised(features)
        # (c, n, f) @ (c, f, f): one matrix product per region, then a row-wise dot.
        # Absurd but valid signatures overflow here: their distance is inf or NaN,
        # and NaN becomes inf below.
        with np.errstate(all="ignore"):
            d2 = np.add.reduce(np.matmul(z, self._precision) * z, axis=2)
        d2 = np.where(np.isfinite(d2), d2, np.inf)
        out: FloatArray = d2.T
        return out

    def _ratio(self, features: CoinFeatures) -> FloatArray:
        """Squared distance over the bound, shape (n, n_coins).

        A loss angle is not read where the coin's response on that channel is
        within the noise (``coinval.features``); such a coin is judged on its
        other features alone: the distance of the marginal ellipsoid, against
        the bound for that many features.
        """
        ratio = self.distance(features) / self._bound[None, :]
        unread = ~np.isfinite(features.values) & _LOSS[None, :]
        # Only the phases some region reads: a head without loss traces has none.
        rows = np.flatnonzero((unread @ self.used_.T.astype(np.int64)).any(axis=1))
        if rows.size == 0:
            return ratio
        z = self._standardised(features.rows(rows))
        # One marginal ellipsoid per pattern of unread phases and region (at most
        # 16 patterns), not one per coin.
        patterns, which = np.unique(unread[rows], axis=0, return_inverse=True)
        which = np.asarray(which).reshape(-1)
        for p, pattern in enumerate(patterns):
            members = np.flatnonzero(which == p)
            for c in range(len(self.coins_)):
                keep = self.used_[c] & ~pattern
                if keep.sum() == self._dof[c]:
                    continue
                if not keep.any():
                    ratio[rows[members], c] = np.inf
                    continue
                sub = np.linalg.inv(self.correlation_[c][np.ix_(keep, keep)])
                zk = z[c][np.ix_(members, np.flatnonzero(keep))]
                with np.errstate(all="ignore"):
                    d2 = np.add.reduce((zk @ sub) * zk, axis=1)
                bound = self.distance_bound(c, int(keep.sum()))
                ratio[rows[members], c] = np.where(np.isfinite(d2), d2 / bound, np.inf)
        return ratio
        z = self._standardised(features.rows(rows))
        for k, i in enumerate(rows.tolist()):
            for c in range(len(self.coins_)):
                keep = self.used_[c] & ~unread[i]
                if keep.sum() == self._dof[c]:
                    continue
                if not keep.any():
                    ratio[i, c] = np.inf
                    continue
                sub = np.linalg.inv(self.correlation_[c][np.ix_(keep, keep)])
                zk = z[c, k, keep]
                d2 = float(zk @ sub @ zk)
                bound = self.distance_bound(c, int(keep.sum()))
                ratio[i, c] = d2 / bound if np.isfinite(d2) else np.inf
        return ratio

    def _shape_fits(self, features: CoinFeatures) -> BoolArray:
        """Whether each coin shows each region's geometry, shape (n, n_coins)."""
        edges = features.edge_count[:, None]
        need = self.edge_count_[None, :]
        fits = (need == 0) | (edges == need)
        with np.errstate(invalid="ignore"):
            milled = features.values[:, _ALTERNATION] > ALTERNATE_MILLING
        fits &= ~self.alternate_milling_[None, :] | milled[:, None]
        return np.asarray(fits)

    def deviation(self, features: CoinFeatures) -> FloatArray:
        """How far each coin lies from each taught region, in region radii.

        Returns
        -------
        ndarray of shape (n, n_coins)
            ``sqrt(distance / bound)``: a coin lies inside a region when this is
            <= 1 and it shows the region's geometry (``inf`` when it does not).
        """
        ratio = np.sqrt(self._ratio(features))
        return np.where(self._shape_fits(features), ratio, np.inf)

    def resembles(self, features: CoinFeatures) -> BoolArray:
        """Whether each coin's metrology is near some taught coin's, shape (n,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            dd = np.abs(features.values[:, None, _DIAMETER] / self.mean_[None, :, _DIAMETER] - 1)
            tt = np.abs(features.values[:, None, _THICKNESS] / self.mean_[None, :, _THICKNESS] - 1)
        close = (dd <= RESEMBLANCE_DIAMETER) & (tt <= RESEMBLANCE_THICKNESS)
        return np.asarray(close.any(axis=1))

    def predict(self, features: CoinFeatures) -> tuple[IntArray, BoolArray]:
        """Recognise coins.

        Returns
        -------
        coin_index : ndarray of shape (n,)
            Index into ``coins_`` of the recognised coin, -1 when none.
        resembles : ndarray of shape (n,)
            For unrecognised coins: whether they resemble a taught coin
            (a counterfeit) rather than nothing taught (unknown).
        """
        dev = self.deviation(features)
        n = dev.shape[0]
        best = dev.argmin(axis=1) if dev.shape[1] else np.zeros(n, dtype=np.int64)
        ok = dev[np.arange(n), best] <= 1.0 if dev.shape[1] else np.zeros(n, dtype=bool)
        return np.where(ok, best, -1).astype(np.int64), self.resembles(features)

    def explain(self, features: CoinFeatures) -> list[str]:
        """Why each coin lies outside the region it is nearest, in words.

        The nearest region by :meth:`deviation` (a coin whose geometry fits no
        region is told so).  Within it, the measurements that add most to the
        distance are named with how many teach spreads they lie off centre.
        """
        with np.errstate(all="ignore"):
            return self._explain(features)

    def _explain(self, features: CoinFeatures) -> list[str]:
        z = self._standardised(features)
        raw = np.sqrt(self._ratio(features))
        out = []
        shape = self._shape_fits(features)
        for i in range(len(features)):
            if not shape[i].any():
                c = int(np.argmin(np.where(np.isfinite(raw[i]), raw[i], np.inf)))
                out.append(self._shape_words(c, features, i))
                continue
            fits = np.flatnonzero(shape[i])
            c = int(fits[np.argmin(raw[i, fits])])
            zi = z[c, i]
            zi = np.where(_LOSS & ~np.isfinite(zi), 0.0, zi)  # unread phases count nothing
            if not np.isfinite(zi).all():
                bad = [FEATURE_NAMES[j] for j in np.flatnonzero(~np.isfinite(zi))]
                out.append(f"nearest {self.coins_[c]}: {', '.join(bad[:_NAMED])} not measurable")
                continue
            share = zi * (self._precision[c] @ zi)
            top = np.argsort(-share)[:_NAMED]
            named = "; ".join(
                f"{FEATURE_NAMES[j]} {abs(zi[j]):.1f} widths {'high' if zi[j] > 0 else 'low'}"
                for j in top
            )
            out.append(
                f"nearest {self.coins_[c]}: {named} "
                f"(distance {raw[i, c]:.2f} of the region's radius)"
            )
        return out

    def _shape_words(self, c: int, features: CoinFeatures, i: int) -> str:
        coin = self.coins_[c]
        need = int(self.edge_count_[c])
        got = int(features.edge_count[i])
        if need and got != need:
            return f"nearest {coin}: {got} edges on the rim where {coin} has {need}"
        return f"nearest {coin}: not milled on alternate sides as {coin} is"

    # -- region summaries ----------------------------------------------------

    def used_features(self) -> BoolArray:
        """Which features count for each coin, shape (n_coins, n_features)."""
        return self.used_.copy()

    @property
    def t_ref_(self) -> FloatArray:
        """Reference (mean teach) temperature of each region, shape (n_coins,)."""
        return np.array([v.t_ref for v in self.covariates_])

    @property
    def requires_loss(self) -> bool:
        """Whether some region uses the loss angles (taught with loss traces)."""
        return bool(self.used_[:, _LOSS].any())

    def bounds(self, temperature_c: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The regions' shadows on each feature axis at given temperatures.

        Parameters
        ----------
        temperature_c : ndarray of shape (n,)

        Returns
        -------
        centre, below, above : ndarrays of shape (n, n_coins, n_features)
            At the taught speed; a coin outside ``centre - below .. centre +
            above`` on any feature is outside the region, one inside every
            such band may still be outside it (the ellipsoid is narrower than
            its shadows).
        """
        t = np.asarray(temperature_c, dtype=np.float64)
        dt = t[:, None] - self._t_ref[None, :]
        centre = self.mean_[None] + dt[:, :, None] * self.slope_[None]
        inflation = (
            1.0 + self._inv_n[None, :, None] + self._inv[None, :, :, 0] * (dt * dt)[:, :, None]
        )
        half = np.sqrt(self._bound[None, :, None] * inflation) * self.scale_[None]
        half = np.where(self.used_[None], half, np.inf)
        return centre, half, half.copy()

    def provenance(self, c: int) -> dict[str, str]:
        """Where each width of coin ``c``'s region came from, in words."""
        cv = self.covariates_[c]
        n = int(self.n_samples_[c])
        out = {
            "widths": (
                f"residual spread and correlations of {n} teach coins, correlations "
                f"shrunk {self.shrinkage_[c]:.2f} towards none (Ledoit-Wolf, from the data)"
            ),
            "bound": (
                f"chi-square with {int(self.used_[c].sum())} degrees of freedom at a "
                f"false-rejection rate of {FALSE_REJECTION[self.security_[c]]:g} "
                f"({self.security_[c]})"
            ),
            "temperature": (
                f"slope per kelvin from the teach coins ({cv.t_min:.1f} to {cv.t_max:.1f} C) "
                "against a prior of each feature's physical drift (DRIFT_PER_K); widths grow "
                "with the distance from the taught temperatures by the slope's uncertainty"
            ),
            "speed": (
                "eddy features' slope per log speed from the teach coins, shrunk as if "
                f"{_SPEED_PRIOR:g} of log speed were missing; never extrapolated"
            ),
        }
        if self.teach_kind_[c] == "launch":
            out["batches"] = (
                f"launch teach (one batch): another batch may lie {LAUNCH_BATCH_WIDTHS:g} "
                "teach spreads off in any one direction"
            )
        else:
            out["batches"] = "teach from circulation: other batches' spread is in the teach coins"
        return out

    # -- persistence -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted regions (see ``coinval.profile``)."""
        out: dict[str, Any] = {}
        for c, coin in enumerate(self.coins_):
            cv = self.covariates_[c]
            used = np.flatnonzero(self.used_[c])
            corr = self.correlation_[c][np.ix_(used, used)]
            out[coin] = {
                "n_samples": int(self.n_samples_[c]),
                "security": self.security_[c],
                "teach": self.teach_kind_[c],
                "edge_count": int(self.edge_count_[c]),
                "milling": "alternate" if self.alternate_milling_[c] else "any",
                "temperature": {
                    "ref_c": cv.t_ref,
                    "min_c": cv.t_min,
                    "max_c": cv.t_max,
                    "sxx": cv.t_sxx,
                },
                "speed": {
                    "ref_log_mm_s": cv.u_ref,
                    "min_log_mm_s": cv.u_min,
                    "max_log_mm_s": cv.u_max,
                    "sxx": cv.u_sxx,
                    "sxy_with_temperature": cv.tu_sxy,
                },
                "features": {
                    FEATURE_NAMES[j]: {
                        "mean": float(self.mean_[c, j]),
                        "slope_per_k": float(self.slope_[c, j]),
                        "slope_per_log_speed": float(self.speed_slope_[c, j]),
                        "scale": float(self.scale_[c, j]),
                        "drift_per_k": float(self.drift_prior_[c, j]),
                    }
                    for j in used
                },
                "correlation": corr.tolist(),
                "shrinkage": float(self.shrinkage_[c]),
                "distance_bound": self.distance_bound(c),
                "provenance": self.provenance(c),
            }
        return out

    @classmethod
    def from_dict(cls, regions: Mapping[str, Mapping[str, Any]]) -> CoinClassifier:
        """Rebuild a fitted classifier from :meth:`to_dict` output (already validated)."""
        self = cls()
        coins = list(regions)
        n_c, n_f = len(coins), len(FEATURE_NAMES)
        self.coins_ = coins
        self.n_samples_ = np.array([regions[c]["n_samples"] for c in coins], dtype=np.int64)
        self.security_ = [regions[c]["security"] for c in coins]
        self.teach_kind_ = [regions[c]["teach"] for c in coins]
        self.edge_count_ = np.array([regions[c]["edge_count"] for c in coins], dtype=np.int64)
        self.alternate_milling_ = np.array(
            [regions[c]["milling"] == "alternate" for c in coins], dtype=bool
        )
        self.used_ = np.array(
            [[name in regions[c]["features"] for name in FEATURE_NAMES] for c in coins],
            dtype=bool,
        ).reshape(n_c, n_f)
        self.covariates_ = []
        for c in coins:
            t, u = regions[c]["temperature"], regions[c]["speed"]
            self.covariates_.append(
                Covariates(
                    t_ref=float(t["ref_c"]),
                    t_min=float(t["min_c"]),
                    t_max=float(t["max_c"]),
                    t_sxx=float(t["sxx"]),
                    u_ref=float(u["ref_log_mm_s"]),
                    u_min=float(u["min_log_mm_s"]),
                    u_max=float(u["max_log_mm_s"]),
                    u_sxx=float(u["sxx"]),
                    tu_sxy=float(u["sxy_with_temperature"]),
                )
            )

        def table(key: str, absent: float) -> FloatArray:
            return np.array(
                [
                    [
                        regions[c]["features"][name][key]
                        if name in regions[c]["features"]
                        else absent
                        for name in FEATURE_NAMES
                    ]
                    for c in coins
                ],
                dtype=np.float64,
            ).reshape(n_c, n_f)

        self.mean_ = table("mean", 0.0)
        self.slope_ = table("slope_per_k", 0.0)
        self.speed_slope_ = table("slope_per_log_speed", 0.0)
        self.scale_ = table("scale", 1.0)
        # Derived from the centres, not read: the prior is the engine's physics.
        self.drift_prior_ = np.where(
            self.used_, np.stack([drift_prior(row) for row in self.mean_]), 1.0
        ).reshape(n_c, n_f)
        self.correlation_ = np.tile(np.eye(n_f), (n_c, 1, 1))
        for k, coin in enumerate(coins):
            used = self.used_[k]
            self.correlation_[k][np.ix_(used, used)] = np.array(
                regions[coin]["correlation"], dtype=np.float64
            )
        self.shrinkage_ = np.array([regions[c]["shrinkage"] for c in coins], dtype=np.float64)
        self._prepare()
        return self

    def with_security(self, levels: Mapping[str, SecurityLevel]) -> CoinClassifier:
        """A copy with some coins' security levels changed (no re-teach needed)."""
        other = CoinClassifier.from_dict(self.to_dict())
        other.security_ = [
            levels.get(c, s) for c, s in zip(self.coins_, self.security_, strict=True)
        ]
        other._prepare()
        return other


def coins_of(classifier: CoinClassifier) -> Sequence[str]:
    """The taught coin ids, in position order."""
    return list(classifier.coins_)
