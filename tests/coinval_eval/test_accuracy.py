"""Accuracy pinned with fixed seeds: a regression in features or regions fails here.

Taught on a simulated head drawn from a seed (not one of the heads used while
developing) with coins from circulation (four mint batches, worn and dirty);
tested on two other batches at -10..45 C. Only outcomes the engine reaches
with a wide margin are pinned.
"""

from __future__ import annotations

import datetime as dt

import pytest

from coinval.engine import Engine
from coinval.teach import teach
from coinval_eval.scoring import LabelledBatch, Report
from sim.coins import TAUGHT_COINS
from sim.population import generate

HEAD = "seed:4242"
AT = dt.datetime(2017, 6, 1, 12, tzinfo=dt.UTC)
CLEARLY_DIFFERENT = (
    "mono-12-sided",
    "bimetal-unplated-core",
    "milled-all-sides",
    "cast-zinc-12-sided",
    "undersized-12-sided",
    "euro-1",
    "threepence-1937",
    "steel-washer",
)


TEACH_BATCHES = (0, 1, 3, 4)


def _circulation(coin: str, n: int, day: tuple[float, float]) -> list:  # type: ignore[type-arg]
    """``n`` coins of one type shared out over four batches, as from circulation."""
    out = []
    for k, b in enumerate(TEACH_BATCHES):
        count = n // len(TEACH_BATCHES) + (1 if k < n % len(TEACH_BATCHES) else 0)
        out += generate(
            coin, count, head=HEAD, seed=3 + b, batch=b, temperature_c=day, wear=0.5, dirt=0.5
        ).signatures()
    return out


@pytest.fixture(
    scope="module",
    params=[(60, (5.0, 35.0)), (25, (5.0, 35.0)), (40, (15.0, 17.0))],
    ids=["teach60", "teach25", "teach40-one-day"],
)
def report(request: pytest.FixtureRequest) -> Report:
    n_teach, day = request.param
    samples = {c: _circulation(c, n_teach, day) for c in TAUGHT_COINS}
    engine = Engine(teach(samples, head=HEAD)[0])
    out = Report()
    for i, coin in enumerate(TAUGHT_COINS):
        for b in (2, 5):
            batch = generate(
                coin,
                300,
                head=HEAD,
                seed=50 + 10 * i + b,
                batch=b,
                temperature_c=(-10.0, 45.0),
                wear=0.5,
                dirt=0.5,
            )
            out.add(LabelledBatch(coin, f"batch {b}", coin, batch), engine, AT)
    for j, fake in enumerate(CLEARLY_DIFFERENT):
        batch = generate(fake, 300, head=HEAD, seed=900 + j, temperature_c=(-10.0, 45.0))
        out.add(LabelledBatch(fake, "-", None, batch), engine, AT)
    return out


def test_genuine_coins_of_other_batches_are_accepted(report: Report) -> None:
    for (coin, group), tally in report.genuine.items():
        assert tally.acceptance >= 0.98, (coin, group, tally.reasons)
        assert tally.accepted_as_other == 0, (coin, group)


def test_clearly_different_fakes_are_never_credited(report: Report) -> None:
    for (fake, _), tally in report.fakes.items():
        assert tally.false_acceptance == 0.0, (fake, tally.reasons)
        assert "accepted" not in tally.reasons


def test_a_launch_teach_is_recorded_and_widens_only_by_its_budget() -> None:
    """One batch of trial pieces: the profile says so, and every region's bound is
    the one for a batch the documented budget away."""
    from coinval.classifier import LAUNCH_BATCH_WIDTHS

    samples = {
        c: generate(
            c, 30, head=HEAD, seed=3, batch=0, temperature_c=(5.0, 35.0), wear=0.5, dirt=0.5
        ).signatures()
        for c in ("gb-100-2017", "gb-200-1997")
    }
    launch, _ = teach(samples, head=HEAD, launch=True)
    circulation, _ = teach(samples, head=HEAD)
    assert launch.classifier.teach_kind_ == ["launch", "launch"]
    assert circulation.classifier.teach_kind_ == ["circulation", "circulation"]
    from scipy.special import chndtrix

    for c in range(2):
        dof = int(launch.classifier.used_features()[c].sum())
        # A batch that many spreads off along one direction: noncentral chi-square.
        expected = chndtrix(1 - 1e-5, dof, LAUNCH_BATCH_WIDTHS**2)
        assert launch.classifier.distance_bound(c) == pytest.approx(expected)
        assert expected > circulation.classifier.distance_bound(c) + LAUNCH_BATCH_WIDTHS**2
    assert launch.teach_notes["gb-100-2017"]["teach"] == "launch"
