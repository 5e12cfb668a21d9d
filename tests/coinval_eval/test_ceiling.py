"""The oracles that say what the features and the signatures allow at best."""

from __future__ import annotations

import numpy as np
import pytest

from coinval.features import CoinFeatures
from coinval_eval import baselines


@pytest.mark.skipif(not baselines.sklearn_available(), reason="needs scikit-learn")
def test_separability_ceiling_tells_inseparable_from_separable_families() -> None:
    from coinval.classifier import CoinClassifier
    from coinval_eval.accuracy import Dataset, separability_ceiling
    from coinval_eval.trial import Cell

    rng = np.random.default_rng(3)
    n, width = 2000, 4
    genuine = rng.normal(0.0, 1.0, (n, width))
    twin = rng.normal(0.0, 1.0, (n, width))  # the same distribution: cannot be told apart
    far = rng.normal(0.0, 1.0, (n, width)) + np.array([8.0, 0.0, 0.0, 0.0])
    cells = [
        Cell("coin", "batch 1", "coin", 1, 0),
        Cell("twin", "-", None, 0, 1),
        Cell("far", "-", None, 0, 2),
    ]
    values = np.concatenate([genuine, twin, far])
    values[:, 0] += 22.0  # a diameter, so the families resemble the coin
    data = Dataset(
        coins=["coin"],
        teach={},
        classifier=CoinClassifier(),
        cells=cells,
        features=CoinFeatures(values, np.zeros(3 * n, dtype=np.int64), np.full(3 * n, 20.0)),
        cell_index=np.repeat(np.arange(3), n),
        truth_index=np.repeat(np.array([0, -1, -1]), n),
    )
    ceiling = separability_ceiling(data)
    assert set(ceiling) == {"twin", "far"}
    assert ceiling["twin"]["resembles"] == "coin"
    assert ceiling["twin"]["false_acceptance"] > 0.9
    assert ceiling["far"]["false_acceptance"] < 0.01


def test_aligned_traces_centre_the_coin_whatever_its_speed() -> None:
    """The oracle's traces: a bump put on a mm axis lands at the grid's centre,
    at the same width whether the coin ran fast or slow; the no-coin level is gone."""
    from coinval.batch import SignatureBatch
    from coinval_eval.ceiling import aligned_traces

    index = np.arange(200.0)
    rate, speeds = 1000.0, np.array([250.0, 500.0])
    # A 4 mm-wide bump, centred at sample 70 (coin 1) or 120 (coin 2), on a level of 5.
    mm = index[None, :] * (speeds[:, None] / rate)
    centres_mm = np.array([70.0, 120.0]) * speeds / rate
    bump = np.exp(-0.5 * ((mm - centres_mm[:, None]) / 2.0) ** 2)
    batch = SignatureBatch(
        eddy_lo=5.0 + bump,
        eddy_hi=5.0 - 2.0 * bump,
        eddy_rate_hz=np.full(2, rate),
        rim=np.zeros((2, 64)),
        thickness_mm=np.full(2, 3.0),
        speed_mm_s=speeds,
        temperature_c=np.full(2, 20.0),
    )
    out = aligned_traces(batch, half_width_mm=8.0, points=33)
    assert out.shape == (2, 66)
    lo, hi = out[:, :33], out[:, 33:]
    np.testing.assert_allclose(lo[0], lo[1], atol=2e-3)  # speed does not matter
    assert np.argmax(lo[0]) == 16 and lo[0, 16] == pytest.approx(1.0, abs=2e-3)
    np.testing.assert_allclose(hi, -2.0 * lo, atol=1e-9)
    assert abs(lo[0, 0]) < 1e-3  # 8 mm out: the level is taken off
