"""The open-set classifier: one Mahalanobis region per taught coin, fitted from
genuine coins only; a coin outside every region is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import numpy.typing as npt

from coinval.classifier.bounds import (
    FALSE_REJECTION,
    LAUNCH_BATCH_WIDTHS,
    SecurityLevel,
    TeachKind,
    distance_bound,
)
from coinval.classifier.drift import SPEED_PRIOR, Covariates, drift_prior, normal_inverse
from coinval.classifier.fitting import ALTERNATE_MILLING, ALTERNATION, Region, fit_region
from coinval.features import FEATURE_NAMES, LOSS_ANGLES, CoinFeatures

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_LOSS = np.array([name in LOSS_ANGLES for name in FEATURE_NAMES])
# "Resembles" a taught coin (so a refusal is a counterfeit, not unknown):
# metrology close to it, in geometric terms only.
RESEMBLANCE_DIAMETER = 0.05
RESEMBLANCE_THICKNESS = 0.25
_DIAMETER = FEATURE_NAMES.index("diameter_mm")
_THICKNESS = FEATURE_NAMES.index("thickness_mm")
# How many measurements a refusal's detail names.
_NAMED = 2


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
        return self._set_regions(
            [
                fit_region(
                    coin,
                    feats,
                    security.get(coin, "standard"),
                    teach_kind.get(coin, "circulation"),
                )
                for coin, feats in features_by_coin.items()
            ]
        )

    @classmethod
    def from_regions(cls, regions: Sequence[Region]) -> CoinClassifier:
        """A fitted classifier of regions fitted before (those a profile holds).

        Parameters
        ----------
        regions : sequence of Region, length n_coins
            In coin position order.
        """
        return cls()._set_regions(regions)

    def _set_regions(self, regions: Sequence[Region]) -> Self:
        """Take ``regions`` as the fitted attributes, and prepare what decisions reuse."""
        n_c, n_f = len(regions), len(FEATURE_NAMES)

        def rows(name: str) -> FloatArray:
            return np.array([getattr(r, name) for r in regions], dtype=np.float64).reshape(n_c, n_f)

        self.coins_ = [r.coin for r in regions]
        self.n_samples_ = np.array([r.n_samples for r in regions], dtype=np.int64)
        self.security_ = [r.security for r in regions]
        self.teach_kind_ = [r.teach_kind for r in regions]
        self.edge_count_ = np.array([r.edge_count for r in regions], dtype=np.int64)
        self.alternate_milling_ = np.array([r.alternate_milling for r in regions], dtype=bool)
        self.used_ = np.array([r.used for r in regions], dtype=bool).reshape(n_c, n_f)
        self.covariates_ = [r.covariates for r in regions]
        self.mean_ = rows("mean")
        self.slope_ = rows("slope_t")
        self.speed_slope_ = rows("slope_u")
        self.scale_ = rows("scale")
        self.correlation_ = np.array([r.correlation for r in regions], dtype=np.float64).reshape(
            n_c, n_f, n_f
        )
        self.shrinkage_ = np.array([r.shrinkage for r in regions], dtype=np.float64)
        # The engine's physics at each taught centre: never read from a profile,
        # so a hand-edited prior cannot widen a region.
        self.drift_prior_ = np.where(
            self.used_, np.array([drift_prior(row) for row in self.mean_]).reshape(n_c, n_f), 1.0
        )
        self._prepare()
        return self

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
                normal_inverse(cv[c], int(self.n_samples_[c]), self.scale_[c], self.drift_prior_[c])
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
        return distance_bound(self.security_[c], self.teach_kind_[c], dof)

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

    def _shape_fits(self, features: CoinFeatures) -> BoolArray:
        """Whether each coin shows each region's geometry, shape (n, n_coins)."""
        edges = features.edge_count[:, None]
        need = self.edge_count_[None, :]
        fits = (need == 0) | (edges == need)
        with np.errstate(invalid="ignore"):
            milled = features.values[:, ALTERNATION] > ALTERNATE_MILLING
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
                f"{SPEED_PRIOR:g} of log speed were missing; never extrapolated"
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
