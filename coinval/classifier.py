"""The calibration-driven, open-set coin classifier.

Each taught coin gets an acceptance region fitted from genuine coins only
(there are never counterfeits at teach time).  Per coin and per feature the
region is a temperature-dependent centre, ``mean_ + slope_ * (T - t_ref_)``,
with a tolerance on each side that is the larger of

* a statistical half-width, ``k * scale_`` widened like a regression
  prediction interval when T lies far from the teach temperatures, and
* a batch allowance: how far the same coin from another mint batch, or worn,
  or dirty, may lie from the batch it was taught on.  The allowance is stated
  in millimetres for metrology and as a fraction for inductive levels and
  contrasts, so it does not depend on any head's scale or offset.

Everything sensor-dependent (centres, slopes, scales) is learned in ``fit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from scipy.special import chdtri, stdtrit

from coinval.features import (
    CORE_WIDTHS,
    EDGED_ONLY,
    FEATURE_NAMES,
    INDUCTIVE,
    OUTLINE,
    CoinFeatures,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SecurityLevel = Literal["standard", "narrow", "very narrow"]
SECURITY_LEVELS: tuple[SecurityLevel, ...] = ("standard", "narrow", "very narrow")


@dataclass(frozen=True, slots=True)
class Allowance:
    """How far another batch, wear or dirt may move a feature, below and above.

    ``abs_*`` are in the feature's own unit (mm for metrology); ``rel_*`` are
    fractions of the feature's taught magnitude; ``ratio`` applies to the
    contrasts ``(a - b) / (|a| + |b|)``: the relative change of the ratio a/b
    allowed, turned into contrast units at the taught contrast ``c`` by
    ``(1 - c^2) / 2 * ratio``, so it means the same on every head.
    """

    abs_below: float = 0.0
    abs_above: float = 0.0
    rel_below: float = 0.0
    rel_above: float = 0.0
    ratio: float = 0.0
    # Outside the taught temperatures a slope the teach could not see (all coins
    # taught on one day) may move the feature this much per kelvin: a fraction
    # of its magnitude (levels: gain drift plus the metal's coefficient), or a
    # relative change of the ratio (contrasts: the two channels drift apart).
    rel_per_kelvin: float = 0.0
    ratio_per_kelvin: float = 0.0


# Another batch differs by a few percent in conductivity, plating and core size:
# on levels that is a few percent too, plus the lift-off of a dirty coin.
_LEVEL = Allowance(rel_below=0.06, rel_above=0.06, rel_per_kelvin=0.003)
# High vs low frequency: set by conductivity.  The ratio moves at most about as
# much as conductivity does (where the low frequency sees a low-conductivity
# alloy as a thin plate), so a batch's few percent plus its plating needs 6 %;
# at 5 % a cupronickel-ringed 2 pound of another batch fell to 95 % on a head
# with a 12 kHz low channel (head C).  A 15 % different metal moves it more.
_FREQUENCY_RATIO = Allowance(ratio=0.06, ratio_per_kelvin=0.004)
# Core vs ring: core size, plating thickness and plating wear all move it; the
# channel's gain cancels, only the two metals' coefficients differ.
_CORE_RATIO = Allowance(ratio=0.2, ratio_per_kelvin=0.002)

# Another batch's core is a few percent larger or smaller, and where the coil's
# blur is as wide as the ring, the levels the core steps between move its edge.
_CORE_WIDTH = Allowance(abs_below=0.3, abs_above=0.3, rel_below=0.08, rel_above=0.08)

ALLOWANCES: dict[str, Allowance] = {
    # Wear takes metal off: more room below than above.
    "diameter_mm": Allowance(abs_below=0.25, abs_above=0.15),
    "thickness_mm": Allowance(abs_below=0.12, abs_above=0.08),
    # Wear rounds corners and so makes edges shallower.
    "edge_depth_mm": Allowance(abs_below=0.02, abs_above=0.02, rel_below=0.3, rel_above=0.2),
    "edge_sharpness": Allowance(abs_below=0.15, abs_above=0.15),
    # Worn milling is shallower; a plain edge has none at all.
    # In log: worn milling may be 1.6 times shallower, or 1.4 times deeper.
    "log_milling_mm": Allowance(abs_below=0.45, abs_above=0.35),
    "milling_alternation": Allowance(abs_below=0.1, abs_above=0.1, rel_below=0.4, rel_above=0.25),
    # An inscription is relief like milling: worn or dirty it reads shallower.
    "log_lettering_mm": Allowance(abs_below=0.45, abs_above=0.35),
    "inductive_width_mm": Allowance(abs_below=0.5, abs_above=0.5),
    "lo_level": _LEVEL,
    "hi_level": _LEVEL,
    "lo_ring": _LEVEL,
    "lo_core": _LEVEL,
    "hi_ring": _LEVEL,
    "hi_core": _LEVEL,
    "lo_core_vs_ring": _CORE_RATIO,
    "hi_core_vs_ring": _CORE_RATIO,
    "hi_vs_lo_ring": _FREQUENCY_RATIO,
    "hi_vs_lo_core": _FREQUENCY_RATIO,
    "hi_vs_lo_level": _FREQUENCY_RATIO,
    "lo_core_width_mm": _CORE_WIDTH,
    "hi_core_width_mm": _CORE_WIDTH,
}

# (statistical half-width in scales, fraction of the batch allowance) per level.
SECURITY_SETTINGS: dict[SecurityLevel, tuple[float, float]] = {
    "standard": (5.5, 1.0),
    "narrow": (4.5, 0.75),
    "very narrow": (3.5, 0.55),
}

# The joint (Mahalanobis) test on the inductive features: false-rejection rate
# per security level of a chi-square bound, and how much of the batch allowance
# counts as one standard deviation of unseen batch-to-batch variation.
JOINT_ALPHA: dict[SecurityLevel, float] = {
    "standard": 1e-5,
    "narrow": 1e-4,
    "very narrow": 1e-3,
}
_ALLOWANCE_SIGMAS = 3.0
# Covariance shrinkage towards its diagonal: 25-60 teach coins estimate a
# dozen variances well, their correlations less so.
_SHRINK = 0.2

# Slopes are shrunk towards zero as if this many kelvin of spread were missing:
# a teach done at one temperature must not invent a slope from noise.
_SLOPE_PRIOR_K = 5.0
# Features move with rolling speed too, on some heads: a front end's time constant
# smears a fast coin over more millimetres, a slow one may overflow the window and
# leave its tail where the no-coin level is read.  Learned per coin against the log
# of speed, shrunk as if this much of its spread were missing (5 % of speed).
_SPEED_PRIOR = 0.05
# ... and only where the teach coins show it clearly: a slope as far from zero as
# noise puts one in 1 of 370 coin-features (three standard errors for many teach
# coins; Student's t with the teach's degrees of freedom for few: 4.1 at 12).
_SPEED_CHANCE = 0.0027
# An edge count is required of a coin when this share of its teach coins agree;
# so is alternate-side milling.
_EDGE_AGREEMENT = 0.9
# Milling on alternate sides gates the milling's energy on and off side by side:
# its envelope's modulation (``milling_alternation``) is 4/pi, milling all round
# gives 0.  Half-way between is a geometric fact, not a sensor's number.
ALTERNATE_MILLING = 2.0 / np.pi
_ALTERNATION = FEATURE_NAMES.index("milling_alternation")
LATE_FEATURES: frozenset[str] = frozenset(
    {"log_lettering_mm", "lo_core_width_mm", "hi_core_width_mm"}
)
"""Features added after profiles were first written: a profile without one loads,
and the feature goes unchecked for its coins (see ``missing_features_``)."""
# What stands in for a missing feature's fit: never compared (it is masked out).
_MISSING_FEATURE = {"mean": 0.0, "slope_per_k": 0.0, "scale": 1.0}
# "Resembles" a taught coin (so a refusal is a counterfeit, not unknown):
# metrology close to it, in geometric terms only.
RESEMBLANCE_DIAMETER = 0.05
RESEMBLANCE_THICKNESS = 0.25
_ALL_COLUMNS = slice(None)
# Each contrast (a - b) / (|a| + |b|) and the levels it divides by.
_CONTRAST_LEVELS = {
    "lo_core_vs_ring": ("lo_core", "lo_ring"),
    "hi_core_vs_ring": ("hi_core", "hi_ring"),
    "hi_vs_lo_ring": ("hi_ring", "lo_ring"),
    "hi_vs_lo_core": ("hi_core", "lo_core"),
    "hi_vs_lo_level": ("hi_level", "lo_level"),
}
# Column gathers: ``take`` with an index array and plain slices cost a fraction
# of fancy indexing with a list, which numpy converts on every call; at the
# gate, one coin's decision is mostly such small calls.
_CONTRASTS = slice(
    FEATURE_NAMES.index("lo_core_vs_ring"), FEATURE_NAMES.index("hi_vs_lo_level") + 1
)
_CONTRAST_A = np.array([FEATURE_NAMES.index(a) for a, _ in _CONTRAST_LEVELS.values()])
_CONTRAST_B = np.array([FEATURE_NAMES.index(b) for _, b in _CONTRAST_LEVELS.values()])
_INDUCTIVE = slice(INDUCTIVE[0], INDUCTIVE[-1] + 1)
# A signal this many times weaker than taught is widened no further: it is
# then as good as absent, and the levels' own test decides.
_MAX_WEAKER_SIGNAL = 4.0
# A core's width is widened at most this much for a step weaker than taught; on
# a step weaker still, the coil's blur outweighs the step and the width means little.
_MAX_WEAKER_WIDTH = 2.0
# A coin's core width is checked on a channel only where its teach coins show a
# core there: the centre reads weaker than the ring, by this many of its own
# spreads, and by a contrast no other batch undoes (a core 10 % weaker than its
# ring: batches move a level by a few percent; a step of 1 % crossed zero in
# another batch, and the width with it).  A one-metal coin never shows one: the
# coil's blur can only take response off the ring's window, not the centre's.
_CORE_CLEAR = 5.0
_CORE_DISTINCT = 0.05
_CORE_WIDTHS = np.array([FEATURE_NAMES.index(name) for name in CORE_WIDTHS])
_CORE_CONTRASTS = np.array(
    [FEATURE_NAMES.index("lo_core_vs_ring"), FEATURE_NAMES.index("hi_core_vs_ring")]
)
_RING_LEVELS = np.array([FEATURE_NAMES.index("lo_ring"), FEATURE_NAMES.index("hi_ring")])
# Up to this many coins, predict tests every region rather than prefiltering.
_FEW_COINS = 8
_DIAMETER_COLUMN = slice(FEATURE_NAMES.index("diameter_mm"), FEATURE_NAMES.index("diameter_mm") + 1)


@cache
def _allowance_arrays() -> tuple[FloatArray, ...]:
    rows = [ALLOWANCES[name] for name in FEATURE_NAMES]
    return tuple(
        np.array([getattr(a, key) for a in rows], dtype=np.float64)
        for key in (
            "abs_below",
            "abs_above",
            "rel_below",
            "rel_above",
            "ratio",
            "rel_per_kelvin",
            "ratio_per_kelvin",
        )
    )


class CoinClassifier:
    """Open-set classifier: one acceptance region per taught coin.

    Fitted attributes (after :meth:`fit`)
    -------------------------------------
    coins_ : list of str, length n_coins
    n_samples_ : ndarray of shape (n_coins,)
    t_ref_ : ndarray of shape (n_coins,)
        Mean teach temperature.
    t_range_ : ndarray of shape (n_coins, 2)
        Lowest and highest teach temperature.
    t_sxx_ : ndarray of shape (n_coins,)
        Sum of squared teach-temperature deviations.
    speed_known_ : ndarray of shape (n_coins,), bool
        Whether the teach coins' speeds were known (from ``fit``: whenever the
        features carry them; profiles written before speed counted: never).
    u_ref_, u_sxx_ : ndarray of shape (n_coins,)
        Mean log teach speed (mm/s) and the sum of squared deviations from it.
    tu_sxy_ : ndarray of shape (n_coins,)
        Sum of products of teach temperature and log speed deviations: the two
        slopes were fitted together, and so widen a prediction together.
    u_range_ : ndarray of shape (n_coins, 2)
        Lowest and highest log teach speed: the speed term is never extrapolated
        beyond them (a coin faster or slower than any taught is judged at the
        nearest taught speed, not given a tolerance that grows without bound).
    speed_slope_ : ndarray of shape (n_coins, n_features)
        Change per unit of log speed: eddy features only, 0 for metrology.
    mean_, slope_, scale_ : ndarray of shape (n_coins, n_features)
        Centre at ``t_ref_``, change per kelvin, residual standard deviation.
    edge_count_ : ndarray of shape (n_coins,)
        Required rim edge count, 0 when the coin has no edges to require.
    alternate_milling_ : ndarray of shape (n_coins,), bool
        Whether the coin must be milled on alternate sides (the new pound).
    alternation_unmeasured_ : ndarray of shape (n_coins,), bool
        Regions from profiles written before ``milling_alternation`` was
        measured net of gauge noise: their taught alternation describes another
        measure, so it is not used (teach again to have it checked).
    missing_features_ : ndarray of shape (n_coins, n_features), bool
        Features of LATE_FEATURES that a region's profile was written without: not
        checked for that coin (teach again to have them checked).
    covariance_ : ndarray of shape (n_coins, n_inductive, n_inductive)
        Shrunk residual covariance of the inductive features, where lift-off
        and speed show up as correlations the joint test discounts.
    security_ : list of str, length n_coins
    outline_ : list of str, length n_coins
        How each region's teach coins were located on the eddy traces
        (:data:`coinval.features.OUTLINES`); fit always uses the current one.
    """

    coins_: list[str]
    n_samples_: IntArray
    t_ref_: FloatArray
    t_range_: FloatArray
    t_sxx_: FloatArray
    speed_known_: npt.NDArray[np.bool_]
    u_ref_: FloatArray
    u_sxx_: FloatArray
    tu_sxy_: FloatArray
    u_range_: FloatArray
    speed_slope_: FloatArray
    mean_: FloatArray
    slope_: FloatArray
    scale_: FloatArray
    edge_count_: IntArray
    alternate_milling_: npt.NDArray[np.bool_]
    alternation_unmeasured_: npt.NDArray[np.bool_]
    missing_features_: npt.NDArray[np.bool_]
    covariance_: FloatArray
    security_: list[SecurityLevel]
    outline_: list[str]

    def fit(
        self,
        features_by_coin: Mapping[str, CoinFeatures],
        security: Mapping[str, SecurityLevel] | None = None,
    ) -> Self:
        """Fit one acceptance region per coin from genuine coins only.

        Parameters
        ----------
        features_by_coin : mapping of coin id to CoinFeatures of shape (n_c, n_features)
            At least 3 coins each (teaching warns below 20, see ``coinval.teach``).
        security : mapping of coin id to security level, optional
        """
        security = security or {}
        coins = list(features_by_coin)
        n_f = len(FEATURE_NAMES)
        shape = (len(coins), n_f)
        self.coins_ = coins
        self.n_samples_ = np.zeros(len(coins), dtype=np.int64)
        self.t_ref_ = np.zeros(len(coins))
        self.t_range_ = np.zeros((len(coins), 2))
        self.t_sxx_ = np.zeros(len(coins))
        self.speed_known_ = np.zeros(len(coins), dtype=bool)
        self.u_ref_ = np.zeros(len(coins))
        self.u_sxx_ = np.zeros(len(coins))
        self.tu_sxy_ = np.zeros(len(coins))
        self.u_range_ = np.zeros((len(coins), 2))
        self.speed_slope_ = np.zeros(shape)
        self.mean_ = np.zeros(shape)
        self.slope_ = np.zeros(shape)
        self.scale_ = np.zeros(shape)
        self.edge_count_ = np.zeros(len(coins), dtype=np.int64)
        self.alternate_milling_ = np.zeros(len(coins), dtype=bool)
        self.alternation_unmeasured_ = np.zeros(len(coins), dtype=bool)
        self.missing_features_ = np.zeros(shape, dtype=bool)
        n_i = len(INDUCTIVE)
        self.covariance_ = np.zeros((len(coins), n_i, n_i))
        self.security_ = []
        self.outline_ = [OUTLINE] * len(coins)
        for c, coin in enumerate(coins):
            feats = features_by_coin[coin]
            x, t = feats.values, feats.temperature_c
            n = x.shape[0]
            if n < 3:
                raise ValueError(f"{coin}: at least 3 coins are needed to fit, got {n}")
            # The mean of equal values can round an ulp past them: keep it inside.
            t_ref = min(max(float(t.mean()), float(t.min())), float(t.max()))
            dt = t - t_ref
            sxx = float(dt @ dt)
            x_mean = x.mean(axis=0)
            xc = x - x_mean
            known = feats.speed_mm_s is not None
            u = np.log(feats.speed_mm_s) if feats.speed_mm_s is not None else np.zeros(n)
            u_ref = min(max(float(u.mean()), float(u.min())), float(u.max()))
            du = u - u_ref
            suu = float(du @ du)
            a11 = sxx + n * _SLOPE_PRIOR_K**2
            b1 = dt @ xc
            slope = b1 / a11
            resid = xc - np.outer(dt, slope)
            dof = np.full(x.shape[1], float(max(n - 2, 1)))
            scale = np.sqrt((resid**2).sum(axis=0) / dof)
            speed_slope = np.zeros_like(slope)
            if known and n > 3:
                # An eddy feature gets a speed slope only where the teach coins show
                # one clearly: a slope fitted to noise would only widen the region
                # (at 12 teach coins that let twice as many 12-sided fakes through).
                # Both slopes at once, each shrunk towards zero by its prior, since a
                # teach's temperatures and speeds may be correlated.
                a22 = suu + n * _SPEED_PRIOR**2
                a12 = float(dt @ du)
                b2 = du @ xc[:, _INDUCTIVE]
                det = a11 * a22 - a12 * a12
                both_t = (a22 * b1[_INDUCTIVE] - a12 * b2) / det
                both_u = (a11 * b2 - a12 * b1[_INDUCTIVE]) / det
                both_r = xc[:, _INDUCTIVE] - np.outer(dt, both_t) - np.outer(du, both_u)
                both_scale = np.sqrt((both_r**2).sum(axis=0) / (n - 3))
                # The speed slope's standard error: speed's spread left once
                # temperature has taken its share.
                partial = max(suu - a12 * a12 / sxx if sxx > 0 else suu, 1e-12)
                t_stat = np.abs(both_u) * np.sqrt(partial) / np.maximum(both_scale, 1e-300)
                evidence = float(stdtrit(n - 3, 1.0 - 0.5 * _SPEED_CHANCE))
                clear = np.flatnonzero(t_stat >= evidence) + _INDUCTIVE.start
                if clear.size:
                    pick = clear - _INDUCTIVE.start
                    slope[clear] = both_t[pick]
                    speed_slope[clear] = both_u[pick]
                    resid[:, clear] = both_r[:, pick]
                    dof[clear] = n - 3
                    scale[clear] = both_scale[pick]
            self.n_samples_[c] = n
            self.t_ref_[c] = t_ref
            self.t_range_[c] = (float(t.min()), float(t.max()))
            self.t_sxx_[c] = sxx
            self.speed_known_[c] = known
            self.u_ref_[c] = u_ref
            self.u_sxx_[c] = suu
            self.tu_sxy_[c] = float(dt @ du)
            self.u_range_[c] = (float(u.min()), float(u.max()))
            self.speed_slope_[c] = speed_slope
            self.mean_[c] = x_mean
            self.slope_[c] = slope
            self.scale_[c] = np.maximum(scale, 1e-9 + 1e-6 * np.abs(x_mean))
            r = resid[:, INDUCTIVE]
            cov = (r.T @ r) / dof[INDUCTIVE].min()
            cov = (1.0 - _SHRINK) * cov + _SHRINK * np.diag(np.diag(cov))
            floor = self.scale_[c, INDUCTIVE] ** 2
            self.covariance_[c] = cov + np.diag(1e-6 * floor)
            counts = np.bincount(feats.edge_count, minlength=17)
            mode = int(np.argmax(counts))
            if mode >= 3 and counts[mode] >= _EDGE_AGREEMENT * n:
                self.edge_count_[c] = mode
                alternate = np.mean(x[:, _ALTERNATION] > ALTERNATE_MILLING)
                self.alternate_milling_[c] = bool(alternate >= _EDGE_AGREEMENT)
            self.security_.append(security.get(coin, "standard"))
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Precompute what decisions reuse: inverse joint covariances per coin."""
        abs_lo, abs_hi, rel_lo, rel_hi, ratio, _, _ = _allowance_arrays()
        mag = np.abs(self.mean_)
        allowance = np.maximum(abs_lo, abs_hi) + np.maximum(rel_lo, rel_hi) * mag
        allowance = allowance + ratio * 0.5 * (1.0 - np.minimum(mag, 1.0) ** 2)
        self._k = np.array([SECURITY_SETTINGS[s][0] for s in self.security_])
        self._f = np.array([SECURITY_SETTINGS[s][1] for s in self.security_])
        self._used_mask = self._used()
        n = self.n_samples_.astype(np.float64)
        self._widen_base = 1.0 + 1.0 / n
        self._widen_sxx = self.t_sxx_ + n * _SLOPE_PRIOR_K**2
        # The two-slope fit's normal matrix [[a11, a12], [a12, a22]], inverted, gives a
        # prediction's variance at (dt, du) for a feature with both slopes.
        a11 = self._widen_sxx
        a22 = self.u_sxx_ + n * _SPEED_PRIOR**2
        det = a11 * a22 - self.tu_sxy_**2
        self._both_tt, self._both_tu, self._both_uu = a22 / det, -self.tu_sxy_ / det, a11 / det
        # Most heads show no speed dependence: then the gate skips the speed term.
        self._speed_matters = bool(self.speed_slope_.any())
        extra = (self._f[:, None] * allowance[:, INDUCTIVE] / _ALLOWANCE_SIGMAS) ** 2
        joint = self.covariance_ + extra[:, :, None] * np.eye(len(INDUCTIVE))[None]
        self._joint_inverse = np.linalg.inv(joint)
        self._joint_bound = np.array(
            [chdtri(len(INDUCTIVE), JOINT_ALPHA[s]) for s in self.security_]
        )

    # -- decision --------------------------------------------------------------
    #
    # Everything is computed on (coin, region) pairs: rows of features matched
    # with the taught coin they are tested against.  ``deviation`` tests every
    # pair; ``predict`` first drops the pairs whose diameter is already outside
    # the region (most of them: coins differ in size), which cannot change its
    # answer, since a pair's deviation is at least its diameter's.

    def _pair_bounds(
        self,
        temperature_c: FloatArray,
        region: IntArray,
        columns: slice = _ALL_COLUMNS,
        values: FloatArray | None = None,
        speed_mm_s: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Centre, tolerances below/above, out-of-range drift, and widening.

        Parameters
        ----------
        temperature_c : ndarray of shape (m,)
        region : ndarray of shape (m,)
            Index of the taught coin each row is tested against.
        columns : slice
            The features wanted (all by default).
        values : ndarray of shape (m, n_features), optional
            The rows' own features (with all columns): a contrast measured on a
            weaker signal than taught is noisier, and its spread is widened to match;
            so is a core's width measured on a weaker step (at most twice), and
            on a step under half the taught one its tolerance is unbounded.
        speed_mm_s : ndarray of shape (m,), optional
            The rows' speeds; without them each region's centre is at its teach speed.

        Returns
        -------
        centre, below, above, drift : ndarrays of shape (m, n_columns)
        widen : ndarray of shape (m,)
            Prediction-interval widening of the eddy features at each row's
            temperature and speed (metrology's: at its temperature alone).
        """
        abs_lo, abs_hi, rel_lo, rel_hi, ratio, rel_k, ratio_k = (
            a[columns] for a in _allowance_arrays()
        )
        dt = temperature_c - self.t_ref_[region]
        mean, slope, scale = (
            (a.take(region, axis=0) for a in (self.mean_, self.slope_, self.scale_))
            if columns == _ALL_COLUMNS
            else (a[region, columns] for a in (self.mean_, self.slope_, self.scale_))
        )
        centre = mean + slope * dt[:, None]
        widen = np.sqrt(self._widen_base[region] + dt**2 / self._widen_sxx[region])
        stat = scale * (self._k[region] * widen)[:, None]
        if speed_mm_s is not None and columns == _ALL_COLUMNS and self._speed_matters:
            # Only the eddy features move with speed (the rest have no speed slope).
            u_range = self.u_range_[region]
            u = np.minimum(np.maximum(np.log(speed_mm_s), u_range[:, 0]), u_range[:, 1])
            du = np.where(self.speed_known_[region], u - self.u_ref_[region], 0.0)
            speed_slope = self.speed_slope_.take(region, axis=0)
            centre = centre + speed_slope * du[:, None]
            # Wider only for the features that move with speed (the rest have none),
            # as the two slopes fitted together: [dt du] M^-1 [dt du]'.
            eddy_widen = np.sqrt(
                self._widen_base[region]
                + self._both_tt[region] * dt**2
                + 2.0 * self._both_tu[region] * dt * du
                + self._both_uu[region] * du**2
            )
            grow = np.where(speed_slope[:, _INDUCTIVE] != 0.0, (eddy_widen / widen)[:, None], 1.0)
            stat[:, _INDUCTIVE] *= grow
            widen = widen * grow.max(axis=1)
        if values is not None and columns == _ALL_COLUMNS:
            # A contrast's noise goes as one over the levels it divides by: where
            # they are weaker than taught (a magnetic coin whose conductive and
            # magnetic responses all but cancel, at a temperature that weakens
            # them further) its taught spread understates it.
            taught = np.abs(centre.take(_CONTRAST_A, axis=1)) + np.abs(
                centre.take(_CONTRAST_B, axis=1)
            )
            own = np.abs(values.take(_CONTRAST_A, axis=1)) + np.abs(
                values.take(_CONTRAST_B, axis=1)
            )
            # A zero level divides by zero here: _pair_deviation, the one caller
            # that passes values, runs under np.errstate and maps non-finite to the cap.
            weaker = np.minimum(np.maximum(taught / own, 1.0), _MAX_WEAKER_SIGNAL)
            stat[:, _CONTRASTS] *= np.where(np.isfinite(weaker), weaker, _MAX_WEAKER_SIGNAL)
            # The core's width likewise, by how much less its step stands out than
            # taught, but at most twice: the step is the counterfeiter's to choose.
            # Under half the taught step (a new pound worn and dirtier than any
            # taught, its core's plating worn through) the coil's blur outweighs
            # the step: there is no width worth comparing, and the core's contrast
            # and levels judge it.  (NaN ratios only arise on channels a region
            # does not check.)
            sign = np.sign(centre.take(_RING_LEVELS, axis=1))
            taught_step = -centre.take(_CORE_CONTRASTS, axis=1) * sign
            own_step = -values.take(_CORE_CONTRASTS, axis=1) * sign
            faint = ~(own_step * _MAX_WEAKER_WIDTH > taught_step)
            smaller = np.minimum(np.maximum(taught_step / own_step, 1.0), _MAX_WEAKER_WIDTH)
            stat[:, _CORE_WIDTHS] *= np.where(np.isfinite(smaller), smaller, _MAX_WEAKER_WIDTH)
        else:
            faint = None
        mag = np.abs(centre)
        to_contrast = 0.5 * (1.0 - np.minimum(mag, 1.0) ** 2)
        t_range = self.t_range_[region]
        excess = np.maximum(
            0.0, np.maximum(t_range[:, 0] - temperature_c, temperature_c - t_range[:, 1])
        )
        drift = (rel_k * mag + ratio_k * to_contrast) * excess[:, None]
        f = self._f[region][:, None]
        common = rel_lo * mag + ratio * to_contrast
        below = np.maximum(stat, f * (abs_lo + common)) + drift
        common = rel_hi * mag + ratio * to_contrast
        above = np.maximum(stat, f * (abs_hi + common)) + drift
        if faint is not None:
            below[:, _CORE_WIDTHS] = np.where(faint, np.inf, below[:, _CORE_WIDTHS])
            above[:, _CORE_WIDTHS] = np.where(faint, np.inf, above[:, _CORE_WIDTHS])
        return centre, below, above, drift, widen

    def _bounds(
        self, temperature_c: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Centre, tolerances below/above and drift of every region at every temperature.

        Returns four arrays of shape (n, n_coins, n_features).
        """
        n, n_coins = temperature_c.shape[0], len(self.coins_)
        rows, region = _every_pair(n, n_coins)
        t = temperature_c[rows]
        parts = self._pair_bounds(t, region)[:4]
        centre, below, above, drift = (x.reshape(n, n_coins, -1) for x in parts)
        return centre, below, above, drift

    def _pair_deviation(
        self,
        values: FloatArray,
        temperature_c: FloatArray,
        edge_count: IntArray,
        region: IntArray,
        speed_mm_s: FloatArray | None = None,
    ) -> FloatArray:
        """Deviation of each row from one region, in tolerances, shape (m,)."""
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            centre, below, above, drift, widen = self._pair_bounds(
                temperature_c, region, values=values, speed_mm_s=speed_mm_s
            )
            diff = values - centre
            z = np.where(diff < 0, -diff / below, diff / above)
            z = np.where(self._used_mask.take(region, axis=0), z, 0.0)
            worst = z.max(axis=1)
            # Joint test: distance in the inductive features, lift-off correlations
            # discounted; scaled so that the bound is 1 like the per-feature test.
            # Drift allowed outside the taught temperatures is taken off first.
            r = diff[:, _INDUCTIVE]
            r = np.sign(r) * np.maximum(np.abs(r) - drift[:, _INDUCTIVE], 0.0)
            r /= widen[:, None]
            # One small matrix product per pair, in one call (numpy loops in C).
            d2 = np.add.reduce(
                np.matmul(r[:, None, :], self._joint_inverse.take(region, axis=0))[:, 0, :] * r,
                axis=1,
            )
            joint = np.sqrt(np.maximum(d2, 0.0) / self._joint_bound[region])
            worst = np.maximum(worst, joint)
        required = self.edge_count_[region]
        wrong_edges = (required > 0) & (edge_count != required)
        # Milled all round, or not at all, where alternate sides are required.
        wrong_edges |= self.alternate_milling_[region] & ~(
            values[:, _ALTERNATION] > ALTERNATE_MILLING
        )
        # A coin whose features or temperature are not all finite is in no region,
        # explicitly: NaN must never compare its way into an acceptance.
        broken = ~(np.logical_and.reduce(np.isfinite(values), axis=1) & np.isfinite(temperature_c))
        out: FloatArray = np.where(wrong_edges | broken | ~np.isfinite(worst), np.inf, worst)
        return out

    def bounds(self, temperature_c: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per-feature acceptance boxes at given temperatures.

        Parameters
        ----------
        temperature_c : ndarray of shape (n,)

        Returns
        -------
        centre, below, above : ndarrays of shape (n, n_coins, n_features)
            The box of each coin is ``centre - below .. centre + above``, for a
            coin whose contrasts and core steps are as strong as taught: a weaker
            one widens its own tolerances when it is decided.
        """
        centre, below, above, _ = self._bounds(np.asarray(temperature_c, dtype=np.float64))
        return centre, below, above

    def used_features(self) -> npt.NDArray[np.bool_]:
        """Which features count for each coin, shape (n_coins, n_features)."""
        return self._used_mask.copy()

    def _used(self) -> npt.NDArray[np.bool_]:
        """Which features count for each coin, shape (n_coins, n_features)."""
        edged = np.array([name in EDGED_ONLY for name in FEATURE_NAMES])
        used = ~(edged[None, :] & (self.edge_count_[:, None] == 0))
        used[:, _ALTERNATION] &= ~self.alternation_unmeasured_
        used[:, _CORE_WIDTHS] &= self.has_core()
        used &= ~self.missing_features_
        return np.asarray(used)

    def has_core(self) -> npt.NDArray[np.bool_]:
        """Whether each coin's teach coins show a core on each channel, shape (n_coins, 2).

        A contrast ``(core - ring) / (|core| + |ring|)`` taken with the sign of
        the ring's level is how much stronger the centre reads; a clear negative
        is a core of another metal, seen on that channel (low, high).
        """
        weaker = -self.mean_[:, _CORE_CONTRASTS] * np.sign(self.mean_[:, _RING_LEVELS])
        bound = np.maximum(_CORE_CLEAR * self.scale_[:, _CORE_CONTRASTS], _CORE_DISTINCT)
        return np.asarray(weaker >= bound)

    def deviation(self, features: CoinFeatures) -> FloatArray:
        """How far each coin lies from each taught region, in tolerances.

        Parameters
        ----------
        features : CoinFeatures of n coins

        Returns
        -------
        ndarray of shape (n, n_coins)
            The largest feature deviation as a fraction of its tolerance; a coin
            lies inside a region when this is <= 1 and its edge count fits.
        """
        n, n_coins = len(features), len(self.coins_)
        rows, region = _every_pair(n, n_coins)
        out = self._pair_deviation(
            features.values[rows],
            features.temperature_c[rows],
            features.edge_count[rows],
            region,
            self._speeds(features, rows),
        )
        return out.reshape(n, n_coins)

    def _speeds(self, features: CoinFeatures, rows: IntArray) -> FloatArray | None:
        """The rows' speeds where any region moves with speed, else None (skips the work)."""
        if features.speed_mm_s is None or not self._speed_matters:
            return None
        speeds: FloatArray = features.speed_mm_s[rows]
        return speeds

    def _milling_rule(self, c: int) -> str:
        if self.alternation_unmeasured_[c]:
            return "unmeasured"
        return "alternate" if self.alternate_milling_[c] else "any"

    def resembles(self, features: CoinFeatures) -> npt.NDArray[np.bool_]:
        """Whether each coin's metrology is near some taught coin's, shape (n,)."""
        d = FEATURE_NAMES.index("diameter_mm")
        t = FEATURE_NAMES.index("thickness_mm")
        dd = np.abs(features.values[:, None, d] / self.mean_[None, :, d] - 1.0)
        tt = np.abs(features.values[:, None, t] / self.mean_[None, :, t] - 1.0)
        close = (dd <= RESEMBLANCE_DIAMETER) & (tt <= RESEMBLANCE_THICKNESS)
        return np.asarray(close.any(axis=1))

    def predict(self, features: CoinFeatures) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Recognise coins.

        Returns
        -------
        coin_index : ndarray of shape (n,)
            Index into ``coins_`` of the recognised coin, -1 when none.
        resembles : ndarray of shape (n,)
            For unrecognised coins: whether they resemble a taught coin
            (a counterfeit) rather than nothing taught (unknown).
        """
        n, n_coins = len(features), len(self.coins_)
        if n <= _FEW_COINS:  # the gate's one coin: one pass over every region is cheaper
            dev = self.deviation(features)
        else:
            dev = np.empty((n, n_coins))
            dev.fill(np.inf)
            rows, region = self._diameter_fits(features).nonzero()
            if rows.size:
                dev[rows, region] = self._pair_deviation(
                    features.values[rows],
                    features.temperature_c[rows],
                    features.edge_count[rows],
                    region,
                    self._speeds(features, rows),
                )
        best = dev.argmin(axis=1)
        ok = dev[np.arange(n), best] <= 1.0
        return np.where(ok, best, -1), self.resembles(features)

    def _diameter_fits(self, features: CoinFeatures) -> npt.NDArray[np.bool_]:
        """Whether each coin's diameter lies inside each region's box, shape (n, n_coins)."""
        n, n_coins = len(features), len(self.coins_)
        rows, region = _every_pair(n, n_coins)
        t = features.temperature_c[rows]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            # Diameter has no speed slope (the profile validator holds metrology to it).
            centre, below, above, _, _ = self._pair_bounds(t, region, _DIAMETER_COLUMN)
            diff = features.values[rows, _DIAMETER_COLUMN] - centre
            # The same arithmetic as the deviation, so the two agree at a tie.
            fits = np.where(diff < 0, -diff / below, diff / above) <= 1.0
        return np.asarray(fits.reshape(n, n_coins))

    # -- persistence -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted regions (see ``coinval.profile``)."""
        out: dict[str, Any] = {}
        for c, coin in enumerate(self.coins_):
            out[coin] = {
                "n_samples": int(self.n_samples_[c]),
                "security": self.security_[c],
                "edge_count": int(self.edge_count_[c]),
                "milling": self._milling_rule(c),
                "outline": self.outline_[c],
                "temperature": {
                    "ref_c": float(self.t_ref_[c]),
                    "min_c": float(self.t_range_[c, 0]),
                    "max_c": float(self.t_range_[c, 1]),
                    "sxx": float(self.t_sxx_[c]),
                },
                "covariance": self.covariance_[c].tolist(),
                "features": {
                    name: {
                        "mean": float(self.mean_[c, j]),
                        "slope_per_k": float(self.slope_[c, j]),
                        "scale": float(self.scale_[c, j]),
                        **(
                            {"slope_per_log_speed": float(self.speed_slope_[c, j])}
                            if self.speed_known_[c]
                            else {}
                        ),
                    }
                    for j, name in enumerate(FEATURE_NAMES)
                    # Unmeasured stays absent, so that saving and loading keeps it so.
                    if not self.missing_features_[c, j]
                },
            }
            if self.speed_known_[c]:
                out[coin]["speed"] = {
                    "ref_log_mm_s": float(self.u_ref_[c]),
                    "min_log_mm_s": float(self.u_range_[c, 0]),
                    "max_log_mm_s": float(self.u_range_[c, 1]),
                    "sxx": float(self.u_sxx_[c]),
                    "sxy_with_temperature": float(self.tu_sxy_[c]),
                }
        return out

    @classmethod
    def from_dict(cls, regions: Mapping[str, Mapping[str, Any]]) -> CoinClassifier:
        """Rebuild a fitted classifier from :meth:`to_dict` output (already validated)."""
        self = cls()
        coins = list(regions)
        self.coins_ = coins
        self.n_samples_ = np.array([regions[c]["n_samples"] for c in coins], dtype=np.int64)
        self.security_ = [regions[c]["security"] for c in coins]
        self.edge_count_ = np.array([regions[c]["edge_count"] for c in coins], dtype=np.int64)
        # A profile from before the milling rule has no "milling": its taught
        # alternation is of the older, noise-diluted measure (see the attribute).
        rules = [regions[c].get("milling", "unmeasured") for c in coins]
        self.alternate_milling_ = np.array([r == "alternate" for r in rules], dtype=bool)
        self.alternation_unmeasured_ = np.array([r == "unmeasured" for r in rules], dtype=bool)
        # Before coins were located on both channels, the clearer one alone outlined them.
        self.outline_ = [str(regions[c].get("outline", "clearer-channel")) for c in coins]
        temp = [regions[c]["temperature"] for c in coins]
        self.t_ref_ = np.array([t["ref_c"] for t in temp], dtype=np.float64)
        self.t_range_ = np.array([[t["min_c"], t["max_c"]] for t in temp], dtype=np.float64)
        self.t_sxx_ = np.array([t["sxx"] for t in temp], dtype=np.float64)
        # Profiles from before speed was a covariate have no "speed": centres stay put.
        speed = [regions[c].get("speed") for c in coins]
        self.speed_known_ = np.array([v is not None for v in speed], dtype=bool)
        self.u_ref_ = np.array([v["ref_log_mm_s"] if v else 0.0 for v in speed], dtype=np.float64)
        self.u_sxx_ = np.array([v["sxx"] if v else 0.0 for v in speed], dtype=np.float64)
        self.tu_sxy_ = np.array(
            [v["sxy_with_temperature"] if v else 0.0 for v in speed], dtype=np.float64
        )
        self.u_range_ = np.array(
            [[v["min_log_mm_s"], v["max_log_mm_s"]] if v else [0.0, 0.0] for v in speed],
            dtype=np.float64,
        ).reshape(len(coins), 2)

        self.missing_features_ = np.array(
            [[name not in regions[c]["features"] for name in FEATURE_NAMES] for c in coins],
            dtype=bool,
        ).reshape(len(coins), len(FEATURE_NAMES))

        def table(key: str) -> FloatArray:
            return np.array(
                [
                    [
                        regions[c]["features"].get(name, _MISSING_FEATURE)[key]
                        for name in FEATURE_NAMES
                    ]
                    for c in coins
                ],
                dtype=np.float64,
            ).reshape(len(coins), len(FEATURE_NAMES))

        self.mean_ = table("mean")
        self.slope_ = table("slope_per_k")
        self.scale_ = table("scale")
        self.speed_slope_ = np.array(
            [
                [
                    regions[c]["features"].get(name, {}).get("slope_per_log_speed", 0.0)
                    for name in FEATURE_NAMES
                ]
                for c in coins
            ],
            dtype=np.float64,
        ).reshape(len(coins), len(FEATURE_NAMES))
        n_i = len(INDUCTIVE)
        self.covariance_ = np.array(
            [regions[c]["covariance"] for c in coins], dtype=np.float64
        ).reshape(len(coins), n_i, n_i)
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


def _every_pair(n: int, n_coins: int) -> tuple[IntArray, IntArray]:
    """Row and region of every (coin, region) pair, row by row: two arrays of n * n_coins."""
    rows: IntArray = np.arange(n).repeat(n_coins)
    region: IntArray = np.arange(n * n_coins) % n_coins
    return rows, region


def coins_of(classifier: CoinClassifier) -> Sequence[str]:
    """The taught coin ids, in position order."""
    return list(classifier.coins_)
