"""The Mahalanobis window baseline of ``coinval bench accuracy``, on synthetic features."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from coinval.features import CoinFeatures
from coinval_eval import baselines
from coinval_eval.baselines import MahalanobisWindows, MinMaxWindows, ledoit_wolf


def _coin(
    rng: np.random.Generator, n: int, centre: list[float], slope: list[float]
) -> CoinFeatures:
    """n coins of correlated features drifting linearly with temperature."""
    temps = rng.uniform(-10.0, 45.0, n)
    p = len(centre)
    mixing = np.eye(p) + 0.5 * np.tri(p, k=-1)  # correlated columns, as features are
    noise = rng.normal(0.0, 1.0, (n, p)) @ mixing.T
    values = np.array(centre) + np.outer(temps - 20.0, slope) + noise
    return CoinFeatures(values, np.zeros(n, dtype=np.int64), temps)


def _two_coins(rng: np.random.Generator, n: int) -> dict[str, CoinFeatures]:
    return {
        "a": _coin(rng, n, [0.0, 10.0, 5.0, 3.0], [0.2, -0.1, 0.0, 0.05]),
        "b": _coin(rng, n, [40.0, -10.0, 5.0, 0.0], [0.0, 0.3, 0.1, 0.0]),
    }


def test_it_accepts_its_own_teach_distribution_and_refuses_an_obvious_outlier() -> None:
    rng = np.random.default_rng(1)
    model = MahalanobisWindows(false_rejection=1e-3).fit(_two_coins(rng, 400))
    # Fresh coins of the same distributions, at temperatures over the whole range.
    fresh = _two_coins(np.random.default_rng(2), 2000)
    for c, coin in enumerate(("a", "b")):
        score = model.score(fresh[coin])
        assert score.shape == (2000, 2)
        accepted = score.min(axis=1) <= 1.0
        assert (np.argmin(score, axis=1) == c).all()
        # Stated 0.1 % false rejection; with 400 teach coins the estimate is close.
        assert accepted.mean() >= 0.99
    outlier = CoinFeatures(
        np.array([[0.0, 10.0, 5.0, 30.0], [20.0, 0.0, 5.0, 1.5], [0.0, 10.0, np.inf, 3.0]]),
        np.zeros(3, dtype=np.int64),
        np.array([20.0, 20.0, 20.0]),
    )
    score = model.score(outlier)
    assert (score.min(axis=1) > 1.0).all()  # far off, between the coins, an absurd value
    assert np.isinf(score[2]).all()


def test_a_feature_not_read_is_left_out_of_the_distance() -> None:
    """A NaN (a loss phase within the noise) is judged on the other columns: the
    marginal distance, against the chi-square cut for the columns read."""
    rng = np.random.default_rng(9)
    model = MahalanobisWindows(false_rejection=1e-3).fit(_two_coins(rng, 400))
    values = np.array([[0.0, 10.0, np.nan, 3.0], [0.0, 10.0, np.nan, 30.0], [np.nan] * 4])
    coins = CoinFeatures(values, np.zeros(3, dtype=np.int64), np.full(3, 20.0))
    d2, dof = model.d2_and_dof(coins)
    assert dof[:, 0].tolist() == [3, 3, 0]
    # The marginal distance: the covariance's sub-block over the columns read.
    keep = [0, 1, 3]
    centre = model.intercept_[0] + (20.0 - model.t_mean_[0]) * model.slope_[0]
    z = (values[0, keep] - centre[keep]) / model.spread_[0][keep]
    sub = np.linalg.inv(model.covariance_[0][np.ix_(keep, keep)])
    assert d2[0, 0] == pytest.approx(z @ sub @ z)
    score = model.score(coins)
    assert score[0, 0] == pytest.approx(np.sqrt(d2[0, 0] / chi2.ppf(1 - 1e-3, 3)))
    assert score[0].min() <= 1.0 and score[1].min() > 1.0
    assert np.isinf(score[2]).all()  # nothing read: nothing to accept


def test_the_temperature_term_follows_the_drift() -> None:
    """A coin at 45 C, where the drift has moved it 5 sigma from the 20 C mean, is
    accepted: the centre follows the fitted line; without it it would not be."""
    rng = np.random.default_rng(3)
    taught = {"a": _coin(rng, 300, [0.0, 0.0], [0.2, 0.0])}
    model = MahalanobisWindows().fit(taught)
    np.testing.assert_allclose(model.slope_[0], [0.2, 0.0], atol=0.02)
    hot = CoinFeatures(np.array([[5.0, 0.0]]), np.zeros(1, dtype=np.int64), np.array([45.0]))
    assert model.score(hot)[0, 0] < 1.0
    cold = CoinFeatures(np.array([[5.0, 0.0]]), np.zeros(1, dtype=np.int64), np.array([-5.0]))
    assert model.score(cold)[0, 0] > 1.0


def test_columns_missing_or_constant_are_left_out_and_the_cut_is_chi_square() -> None:
    rng = np.random.default_rng(4)
    feats = _coin(rng, 50, [0.0, 1.0, 2.0, 3.0, 4.0], [0.0] * 5)
    values = feats.values.copy()
    values[:, 3] = np.nan  # a loss ratio on a head without loss traces
    values[:, 4] = 7.0  # a feature that does not vary on this coin
    model = MahalanobisWindows(false_rejection=0.01).fit(
        {"a": CoinFeatures(values, feats.edge_count, feats.temperature_c)}
    )
    assert model.columns_.tolist() == [[True, True, True, False, False]]
    assert model.cut_[0] == pytest.approx(chi2.ppf(0.99, 3))
    assert 0.0 <= model.shrinkage_[0] <= 1.0
    # Whatever the coin reads in columns it does not use, its distance is the same.
    probe = values[:3].copy()
    probe[:, 3:] = [123.0, -4.0]
    np.testing.assert_allclose(
        model.d2(CoinFeatures(probe, feats.edge_count[:3], feats.temperature_c[:3])),
        model.d2(CoinFeatures(values[:3], feats.edge_count[:3], feats.temperature_c[:3])),
    )
    with pytest.raises(ValueError, match="false_rejection"):
        MahalanobisWindows(false_rejection=0.0).fit({"a": feats})
    with pytest.raises(ValueError, match="3 or more"):
        MahalanobisWindows().fit({"a": feats.rows([0, 1])})


def test_one_day_teach_fits_no_slope() -> None:
    rng = np.random.default_rng(5)
    feats = _coin(rng, 30, [0.0, 1.0], [0.0, 0.0])
    same_day = CoinFeatures(feats.values, feats.edge_count, np.full(30, 13.0))
    model = MahalanobisWindows().fit({"a": same_day})
    np.testing.assert_allclose(model.slope_[0], 0.0, atol=1e-12)
    assert np.isfinite(model.score(feats)).all()


def test_ledoit_wolf_is_scikit_learns() -> None:
    sklearn_covariance = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(6)
    for n, p in ((25, 20), (200, 5), (10, 1)):
        x = rng.normal(0.0, 1.0, (n, p)) * np.linspace(1.0, 3.0, p)
        cov, shrinkage = ledoit_wolf(x)
        want_cov, want_shrinkage = sklearn_covariance.ledoit_wolf(x, assume_centered=True)
        np.testing.assert_allclose(cov, want_cov, rtol=1e-10, atol=1e-12)
        assert shrinkage == pytest.approx(want_shrinkage, abs=1e-12)


def test_every_baseline_leaves_out_columns_a_coin_lacks() -> None:
    """Features of a head without loss traces are NaN in the loss columns: no
    baseline may refuse every coin for it, and a test coin with one feature not
    read is judged on the rest by all but the isolation forest."""
    rng = np.random.default_rng(7)
    taught = _two_coins(rng, 120)
    fresh = _two_coins(np.random.default_rng(8), 50)

    def without_last(f: CoinFeatures) -> CoinFeatures:
        values = f.values.copy()
        values[:, -1] = np.nan
        return CoinFeatures(values, f.edge_count, f.temperature_c)

    taught = {c: without_last(f) for c, f in taught.items()}
    methods, _ = baselines.make_baselines()
    assert isinstance(methods[0], MahalanobisWindows)
    assert any(isinstance(m, MinMaxWindows) for m in methods)
    unread = without_last(fresh["a"])
    unread.values[:, 1] = np.nan
    for method in methods:
        method.fit(taught)
        score = method.score(without_last(fresh["a"]))
        assert np.isfinite(score).all(), method.name
        assert (np.argmin(score, axis=1) == 0).mean() > 0.9, method.name
        judged = np.isfinite(method.score(unread))
        assert judged.all() != (method.name == "IsolationForest (sklearn)"), method.name
