"""The accuracy trial's typed settings, its test plan and its own error."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from coinval_eval.accuracy import AccuracyConfig
from coinval_eval.errors import EvaluationError
from coinval_eval.heads import HeadsConfig
from coinval_eval.trial import EVALUATION_HEAD, TrialConfig, fake_kinds, plan
from sim.coins import TAUGHT_COINS
from sim.heads import DEFAULT_HEAD


def test_the_default_trial_runs_on_the_held_out_head() -> None:
    config = TrialConfig()
    assert config.head == EVALUATION_HEAD != DEFAULT_HEAD
    assert (config.teach_n, config.n, config.batches, config.seed) == (60, 1000, (1, 2, 3, 4), 7)
    assert config.launch and not TrialConfig(teach_batches=(5, 6, 7, 8)).launch


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"teach_n": 4}, "teach_n"),
        ({"n": 0}, "n"),
        ({"batches": ()}, "batches"),
        ({"batches": (1, -1)}, "batches"),
        ({"teach_batches": (-2,)}, "teach_batches"),
        ({"seed": -1}, "seed"),
        ({"wear": 1.5}, "wear"),
        ({"dirt": -0.1}, "dirt"),
        ({"teach_wear": 2.0}, "teach_wear"),
        ({"teach_temperature_c": (35.0, 5.0)}, "teach_temperature_c"),
        ({"security": "lax"}, "security"),
        ({"head": "Z"}, "head"),
    ],
)
def test_a_setting_out_of_range_is_named(change: dict[str, object], setting: str) -> None:
    with pytest.raises(EvaluationError) as caught:
        dataclasses.replace(TrialConfig(), **change)
    assert caught.value.setting == setting
    assert str(caught.value).startswith(f"{setting}: ")
    assert isinstance(caught.value, ValueError)


def test_the_comparison_checks_its_baselines_settings_too() -> None:
    for change, setting in (
        ({"baselines": ("minmax", "knn")}, "baselines"),
        ({"margin": -0.1}, "margin"),
        ({"alpha": 1.0}, "alpha"),
        ({"mahalanobis_fr": 0.0}, "mahalanobis_fr"),
        ({"n": 0}, "n"),
    ):
        with pytest.raises(EvaluationError) as caught:
            AccuracyConfig(**change)  # type: ignore[arg-type]
        assert caught.value.setting == setting


def test_many_heads_test_only_batches_never_taught() -> None:
    with pytest.raises(EvaluationError, match="taught") as caught:
        HeadsConfig(("A",), TrialConfig(batches=(0, 1)))
    assert caught.value.setting == "batches"
    with pytest.raises(EvaluationError):
        HeadsConfig(("A", "Z"))
    with pytest.raises(EvaluationError):
        HeadsConfig(("A",), jobs=0)


def test_the_error_keeps_its_setting_across_processes() -> None:
    """The heads' trials run in worker processes: their errors come back pickled."""
    error = pickle.loads(pickle.dumps(EvaluationError("must be >= 1, got 0", "n")))
    assert (error.setting, error.reason, str(error)) == (
        "n",
        "must be >= 1, got 0",
        "n: must be >= 1, got 0",
    )


def test_the_plan_decides_each_taught_coin_per_batch_then_every_fake() -> None:
    cells = plan(TrialConfig(batches=(2, 5), seed=3))
    genuine = [c for c in cells if c.truth is not None]
    assert [(c.kind, c.batch) for c in genuine] == [
        (coin, b) for coin in TAUGHT_COINS for b in (2, 5)
    ]
    assert [c.kind for c in cells[len(genuine) :]] == fake_kinds()
    assert all(c.batch == 0 and c.truth is None for c in cells[len(genuine) :])
    # Each cell its own seed, so that a cell's coins do not depend on the others run.
    assert [c.seed for c in cells] == [3017 + i for i in range(len(cells))]
