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
