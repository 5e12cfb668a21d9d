"""The min/max windows baseline, and the scikit-learn baselines skipped without it."""

from __future__ import annotations

import numpy as np
import pytest

from coinval.features import CoinFeatures
from coinval_eval import baselines
from coinval_eval.baselines import MinMaxWindows, make_baselines


def _features(rows: list[list[float]]) -> CoinFeatures:
    values = np.array(rows, dtype=np.float64)
    n = values.shape[0]
    return CoinFeatures(values, np.zeros(n, dtype=np.int64), np.full(n, 20.0))


def test_minmax_windows_on_a_tiny_feature_set() -> None:
    taught = {
        "a": _features([[0.0, 10.0, 5.0], [1.0, 12.0, 5.0], [2.0, 11.0, 5.0]]),
        "b": _features([[100.0, 0.0, 5.0], [104.0, 2.0, 5.0], [102.0, 1.0, 5.0]]),
    }
    clf = MinMaxWindows(margin=0.25).fit(taught)
    assert clf.coins_ == ["a", "b"]
    # [min, max] widened by a quarter of the range (2 and 4, 2, 0) on each side.
    np.testing.assert_allclose(clf.low_, [[-0.5, 9.5, 5.0], [99.0, -0.5, 5.0]])
    np.testing.assert_allclose(clf.high_, [[2.5, 12.5, 5.0], [105.0, 2.5, 5.0]])
    probe = _features(
        [
            [1.0, 11.0, 5.0],  # centre of a
            [2.5, 11.0, 5.0],  # on a's upper x limit
            [3.0, 11.0, 5.0],  # just outside a
            [102.0, 1.0, 5.0],  # centre of b
            [1.0, 11.0, 5.1],  # a constant feature that moved: outside everything
        ]
    )
    score = clf.score(probe)
    assert score.shape == (5, 2)
    np.testing.assert_allclose(score[:4, 0], [0.0, 1.0, 4 / 3, score[3, 0]])
    assert score[3, 1] == 0.0 and score[3, 0] > 1.0
    assert np.argmin(score, axis=1)[:4].tolist() == [0, 0, 0, 1]
    assert score[4].min() > 1e3
    # Without a margin the taught extremes are the limits.
    tight = MinMaxWindows(margin=0.0).fit(taught).score(_features([[2.0, 12.0, 5.0]]))
    assert tight[0, 0] == pytest.approx(1.0)


def test_sklearn_baselines_are_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baselines, "sklearn_available", lambda: False)
    methods, notes = make_baselines()
    assert [m.name for m in methods] == ["Mahalanobis window", "min/max windows"]
    assert len(notes) == 2 and all("scikit-learn is not installed" in n for n in notes)
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baselines(("knn",))
