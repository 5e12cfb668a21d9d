"""The bench-k2 part: how each teach mode splits a collection, and the threshold curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.coinval_eval.conftest import K2_COINS, K2_FAMILIES, K2_PER_BATCH


def test_k2_teach_modes_split_the_collection(k2_folder: Path) -> None:
    """Launch teaches batch 1 and decides the rest; circulation teaches 25 drawn from
    batches 1-3 with a fixed seed and decides every other coin; no coin is in both."""
    from coinval_eval import k2

    collection = k2.load(k2_folder)
    assert sorted(collection.genuine) == sorted(K2_COINS)
    assert collection.head == "B" and not collection.problems
    launch = k2.split(collection, "launch")
    assert {c: len(s) for c, s in launch.teach.items()} == dict.fromkeys(K2_COINS, K2_PER_BATCH)
    assert sorted({c.batch for c in launch.cells if c.truth}) == [2, 3, 4]
    assert [c.kind for c in launch.cells if c.truth is None] == sorted(K2_FAMILIES)

    circulation = k2.split(collection, "circulation", seed=0)
    for coin in K2_COINS:
        taught = {s.id for s in circulation.teach[coin]}
        tested = {s.id for c in circulation.cells if c.truth == coin for s in c.signatures}
        assert len(taught) == k2.CIRCULATION_N
        assert not taught & tested
        assert len(taught | tested) == 4 * K2_PER_BATCH
        # Drawn from batches 1-3 mixed, never from batch 4.
        assert {s.id.split("-b")[1][0] for s in circulation.teach[coin]} <= {"1", "2", "3"}
    again = k2.split(collection, "circulation", seed=0)
    other = k2.split(collection, "circulation", seed=1)
    ids = [s.id for s in circulation.teach[K2_COINS[0]]]
    assert ids == [s.id for s in again.teach[K2_COINS[0]]]
    assert ids != [s.id for s in other.teach[K2_COINS[0]]]
    with pytest.raises(ValueError, match="teach mode"):
        k2.split(collection, "one-day")


def test_threshold_curve_counts_genuine_coins_only_as_themselves() -> None:
    from coinval_eval.k2 import fr_at_no_fa, threshold_curve

    best = np.array([0.2, 0.5, 0.9, 3.0, 0.7, 1.5, np.inf])
    best_coin = np.array([0, 1, 0, 0, 0, 1, 0])
    truth = np.array([0, 0, 1, 0, -1, -1, -1])  # the 2nd and 3rd are taken for another coin
    curve = threshold_curve(best, best_coin, truth)
    at = {float(t): (fr, fa) for t, fr, fa in curve}
    assert at[0.2] == (0.75, 0.0)
    assert at[1.0] == (0.75, pytest.approx(1 / 3))
    assert at[3.0] == (0.5, pytest.approx(2 / 3))  # the inf fake is never accepted
    assert fr_at_no_fa(curve) == (0.75, 0.5)
