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
    feats = [extract(generate(k, 30, head="B", seed=4, batch=2, wear=0.5, dirt=0.5)) for k in kinds]
    values = np.concatenate([f.values for f in feats])
    edges = np.concatenate([f.edge_count for f in feats])
    temps = np.concatenate([f.temperature_c for f in feats])
    dev = clf.deviation(CoinFeatures(values, edges, temps))
    expected = np.where(dev.min(axis=1) <= 1.0, dev.argmin(axis=1), -1)
    in_batch, _ = clf.predict(CoinFeatures(values, edges, temps))
    assert (in_batch == expected).all()
    one_by_one = [
        int(clf.predict(CoinFeatures(values[i : i + 1], edges[i : i + 1], temps[i : i + 1]))[0][0])
        for i in range(len(values))
    ]
    assert one_by_one == expected.tolist()
    assert (expected >= 0).any() and (expected < 0).any()


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
