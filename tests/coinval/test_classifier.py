from __future__ import annotations

import numpy as np
import pytest

from coinval.features import CoinFeatures, extract_signatures
from coinval.signature import Signature
from coinval.teach import teach


@pytest.fixture(scope="module")
def taught(shared_samples: dict[str, list[Signature]]):  # type: ignore[no-untyped-def]
    return teach(shared_samples)[0].classifier


def test_non_finite_features_are_in_no_region(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    feats = extract_signatures(shared_samples["gb-100-2017"][:1])
    assert taught.deviation(feats).min() <= 1
    for bad in (np.nan, np.inf, -np.inf):
        for column in range(feats.values.shape[1]):
            values = feats.values.copy()
            values[0, column] = bad
            broken = CoinFeatures(values, feats.edge_count, feats.temperature_c)
            assert np.isinf(taught.deviation(broken)).all()
        hot = CoinFeatures(feats.values, feats.edge_count, np.array([bad]))
        assert np.isinf(taught.deviation(hot)).all()


def test_security_level_changes_take_effect_without_a_reload(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    feats = extract_signatures(shared_samples["gb-100-2017"])
    strict = taught.with_security(dict.fromkeys(taught.coins_, "very narrow"))
    assert strict.security_ == ["very narrow"] * len(taught.coins_)
    column = taught.coins_.index("gb-100-2017")
    assert (strict.deviation(feats)[:, column] > taught.deviation(feats)[:, column]).all()


def test_predict_agrees_with_deviation_one_coin_or_many() -> None:
    """predict skips regions a coin's diameter rules out (batches) or tests them all
    (a coin or a few at the gate); either way it is the argmin of deviation <= 1."""
    from coinval.features import extract
    from sim.population import generate

    taught = ("gb-100-2017", "gb-200-1997", "gb-100-1983")
    clf = teach({k: generate(k, 30, head="B", seed=1).signatures() for k in taught})[0].classifier
    kinds = (*taught, "cast-round-pound", "euro-1")
    batches = [generate(k, 30, head="B", seed=4, batch=2, wear=0.5, dirt=0.5) for k in kinds]
    feats = CoinFeatures.concat([extract(b) for b in batches])
    assert feats.speed_mm_s is not None
    dev = clf.deviation(feats)
    expected = np.where(dev.min(axis=1) <= 1.0, dev.argmin(axis=1), -1)
    in_batch, _ = clf.predict(feats)
    assert (in_batch == expected).all()
    one_by_one = [int(clf.predict(feats.rows([i]))[0][0]) for i in range(len(feats))]
    assert one_by_one == expected.tolist()
    assert (expected >= 0).any() and (expected < 0).any()


def _speed_dependent(rng: np.random.Generator, n: int, speeds: np.ndarray) -> CoinFeatures:
    """One coin type whose eddy features move with the log of its rolling speed (as a
    front end's time constant or a window a slow coin overflows makes them do), 20 C."""
    from coinval.features import FEATURE_NAMES, INDUCTIVE

    base = np.linspace(1.0, 2.0, len(FEATURE_NAMES))
    values = base + 0.01 * rng.standard_normal((n, len(FEATURE_NAMES)))
    values[:, INDUCTIVE] += 0.2 * np.log(speeds / 400.0)[:, None]
    return CoinFeatures(values, np.zeros(n, dtype=np.int64), np.full(n, 20.0), speeds)


def test_a_speed_dependence_is_learned_and_never_extrapolated() -> None:
    from coinval.classifier import CoinClassifier

    rng = np.random.default_rng(2)
    teach_set = _speed_dependent(rng, 60, rng.uniform(300.0, 500.0, 60))
    from coinval.features import INDUCTIVE

    clf = CoinClassifier().fit({"gb-100-1983": teach_set})
    # Shrunk towards zero as the prior says: by suu / (suu + n * 0.05^2), about 0.9 here.
    shrink = clf.u_sxx_[0] / (clf.u_sxx_[0] + 60 * 0.05**2)
    assert clf.speed_slope_[0, INDUCTIVE] == pytest.approx(0.2 * shrink, abs=0.02)
    assert (clf.speed_slope_[0, : INDUCTIVE[0]] == 0).all()  # metrology: no speed term
    # The residual spread is the noise, not the speed's sweep (0.1 over 300-500 mm/s).
    assert (clf.scale_[0] < 0.015).all()
    slow, fast = (
        _speed_dependent(rng, 200, np.full(200, 310.0)),
        _speed_dependent(rng, 200, np.full(200, 490.0)),
    )
    assert (clf.predict(slow)[0] == 0).mean() > 0.99
    assert (clf.predict(fast)[0] == 0).mean() > 0.99
    # A fast coin's features at a slow coin's speed lie outside: the centre moved.
    swapped = CoinFeatures(fast.values, fast.edge_count, fast.temperature_c, slow.speed_mm_s)
    assert (clf.predict(swapped)[0] == -1).all()
    # Outside the taught speeds the region neither moves on nor grows: a coin at
    # 1e-300 mm/s (valid, absurd) is judged at the slowest taught speed.
    crawl = CoinFeatures(slow.values, slow.edge_count, slow.temperature_c, np.full(200, 1e-300))
    at_edge = CoinFeatures(
        slow.values, slow.edge_count, slow.temperature_c, np.full(200, np.exp(clf.u_range_[0, 0]))
    )
    np.testing.assert_allclose(clf.deviation(crawl), clf.deviation(at_edge))
    # Without speeds (features from elsewhere) the centre stays at the teach speed.
    unknown = CoinFeatures(slow.values, slow.edge_count, slow.temperature_c)
    mid = CoinFeatures(
        slow.values, slow.edge_count, slow.temperature_c, np.full(200, np.exp(clf.u_ref_[0]))
    )
    np.testing.assert_allclose(clf.deviation(unknown), clf.deviation(mid))


def test_milled_all_round_or_plain_is_not_a_new_pound_even_on_a_noisy_gauge() -> None:
    """Head B's coarse, noisy rim gauge blurs how much milling there is; whether it
    alternates side to side is a geometric fact the classifier requires."""
    from coinval.features import extract
    from sim.population import generate

    coins = ("gb-100-2017", "gb-100-1983")
    clf = teach(
        {k: generate(k, 60, head="B", seed=5, wear=0.5, dirt=0.5).signatures() for k in coins}
    )[0].classifier
    pound = clf.coins_.index("gb-100-2017")
    assert clf.alternate_milling_[pound]
    for fake in ("milled-all-sides", "plain-edge-12-sided"):
        feats = extract(generate(fake, 400, head="B", seed=9, wear=0.5, dirt=0.5))
        index, _ = clf.predict(feats)
        assert (index == pound).mean() < 0.05, fake
    genuine = extract(generate("gb-100-2017", 400, head="B", seed=9, batch=2, wear=0.3, dirt=0.3))
    assert (clf.predict(genuine)[0] == pound).mean() > 0.98


def test_no_speed_slope_where_the_teach_coins_show_none() -> None:
    """A slope fitted to noise would only widen the region: without a clear speed
    dependence the fit, and every decision, is the one made without speeds."""
    from coinval.classifier import CoinClassifier
    from coinval.features import FEATURE_NAMES

    rng = np.random.default_rng(6)
    n = 40
    values = np.linspace(1.0, 2.0, len(FEATURE_NAMES)) + 0.01 * rng.standard_normal(
        (n, len(FEATURE_NAMES))
    )
    temps = rng.uniform(5.0, 35.0, n)
    speeds = rng.uniform(300.0, 500.0, n)
    with_speed = CoinFeatures(values, np.zeros(n, dtype=np.int64), temps, speeds)
    without = CoinFeatures(values, np.zeros(n, dtype=np.int64), temps)
    a = CoinClassifier().fit({"gb-100-1983": with_speed})
    b = CoinClassifier().fit({"gb-100-1983": without})
    assert a.speed_known_[0] and not b.speed_known_[0]
    assert (a.speed_slope_ == 0).all()
    np.testing.assert_array_equal(a.scale_, b.scale_)
    probe = _speed_dependent(rng, 100, rng.uniform(250.0, 550.0, 100))
    np.testing.assert_array_equal(a.deviation(probe), b.deviation(probe))


def test_temperature_and_speed_slopes_fitted_together_widen_a_prediction_together() -> None:
    """Teach coins whose temperature and speed rose together (a warm afternoon of fast
    coins) pin down the two slopes' sum better than each: a coin warm but slow lies
    where the fit knows least, and its eddy tolerances must widen most."""
    from coinval.classifier import CoinClassifier
    from coinval.features import INDUCTIVE

    rng = np.random.default_rng(4)
    n = 60
    temps = rng.uniform(5.0, 35.0, n)
    speeds = 400.0 * np.exp(0.01 * (temps - 20.0) + 0.1 * rng.standard_normal(n))
    feats = _speed_dependent(rng, n, speeds)
    feats = CoinFeatures(feats.values, feats.edge_count, temps, speeds)
    clf = CoinClassifier().fit({"gb-100-1983": feats})
    assert (clf.speed_slope_[0, INDUCTIVE] != 0).all()
    sxx, suu, sxy = clf.t_sxx_[0], clf.u_sxx_[0], clf.tu_sxy_[0]
    assert sxy > 0.5 * np.sqrt(sxx * suu)
    warm = 30.0
    region = np.zeros(1, dtype=np.int64)

    def widen(speed: float) -> float:
        bounds = clf._pair_bounds(np.array([warm]), region, speed_mm_s=np.array([speed]))
        return float(bounds[4][0])

    normal = np.array([[sxx + n * 5.0**2, sxy], [sxy, suu + n * 0.05**2]])
    for speed in (350.0, 450.0):
        v = np.array([warm - clf.t_ref_[0], np.log(speed) - clf.u_ref_[0]])
        expected = np.sqrt(1.0 + 1.0 / n + v @ np.linalg.solve(normal, v))
        assert widen(speed) == pytest.approx(expected, rel=1e-9)
    # Warm and fast agrees with the teach coins; warm and slow contradicts them.
    assert widen(350.0) > 1.02 * widen(450.0)
