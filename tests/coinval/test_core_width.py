"""The core's width on each eddy channel: a bimetal coin's core size, in millimetres.

A counterfeit bimetal pound may have the right metals and the wrong core: a core
a fifth smaller moved no other feature beyond a batch's allowance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from scipy.special import erf

from coinval.engine import Engine
from coinval.features import FEATURE_NAMES, eddy_features
from coinval.teach import teach
from sim import counterfeits
from sim.coins import COUNTERFEIT, Family, genuine_design
from sim.population import generate

LO_WIDTH = FEATURE_NAMES.index("lo_core_width_mm") - FEATURE_NAMES.index("inductive_width_mm")
HI_WIDTH = LO_WIDTH + 1
RATE_HZ, SPEED_MM_S = 2000.0, 500.0  # 0.25 mm a sample
AT = dt.datetime(2017, 6, 1, 12, tzinfo=dt.UTC)


def coin_trace(
    core_mm: float, ring: float, core: float, *, blur_mm: float = 1.0, length: int = 160
) -> np.ndarray:
    """A 23.4 mm coin passing the coil: a ring box and a core box, blurred by the coil."""
    x = (np.arange(length) - length / 2 + 0.3) * SPEED_MM_S / RATE_HZ

    def box(half: float) -> np.ndarray:
        s = np.sqrt(2.0) * blur_mm
        return 0.5 * (erf((x + half) / s) - erf((x - half) / s))

    return ring * box(11.7) + (core - ring) * box(core_mm / 2.0)


def widths(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo, hi = np.atleast_2d(lo), np.atleast_2d(hi)
    n = lo.shape[0]
    f = eddy_features(lo, hi, np.full(n, RATE_HZ), np.full(n, SPEED_MM_S))
    return f[:, [LO_WIDTH, HI_WIDTH]]


@pytest.mark.parametrize(
    ("lo_levels", "hi_levels"),
    [
        ((1.0, 0.8), (0.6, 0.3)),  # a weaker core (the new pound, the 2 pound)
        ((-0.5, -0.3), (0.4, 0.2)),  # magnetic: the low channel below zero
        ((1.0, 0.8), (0.3, 0.5)),  # weaker on one channel only: both are read
    ],
    ids=["weaker-core", "magnetic", "one-channel"],
)
def test_each_channel_reads_the_cores_chord(
    lo_levels: tuple[float, float], hi_levels: tuple[float, float]
) -> None:
    measured = {
        core_mm: widths(coin_trace(core_mm, *lo_levels), coin_trace(core_mm, *hi_levels))[0]
        for core_mm in (12.0, 13.5, 15.0)
    }
    np.testing.assert_allclose(measured[15.0], 15.0, atol=1.5)
    # A core 10 % or 20 % smaller reads smaller on both channels, nearly by as much:
    # the ring's level, read beside the core, takes a little of the step's blur.
    for core_mm in (13.5, 12.0):
        ratio = (measured[15.0] - measured[core_mm]) / (15.0 - core_mm)
        assert ((ratio > 0.6) & (ratio < 1.1)).all(), (core_mm, ratio)


def test_a_coin_whose_centre_reads_no_weaker_than_its_ring_reads_zero() -> None:
    """Only a core weaker than its ring is checked (a one-metal coin's centre reads
    stronger): the others are not measured at all, which is most of a mixed batch."""
    stronger = widths(coin_trace(15.0, 0.6, 1.0), coin_trace(15.0, 0.3, 0.5))
    plain = widths(coin_trace(15.0, 1.0, 1.0, blur_mm=2.0), coin_trace(15.0, 1.0, 1.0, blur_mm=2.0))
    mixed = widths(
        np.stack([coin_trace(15.0, 0.6, 1.0), coin_trace(15.0, 1.0, 0.8)]),
        np.stack([coin_trace(15.0, 0.3, 0.5), coin_trace(15.0, 0.6, 0.3)]),
    )
    np.testing.assert_array_equal(stronger, 0.0)
    np.testing.assert_array_equal(plain, 0.0)
    np.testing.assert_array_equal(mixed[0], 0.0)
    np.testing.assert_allclose(mixed[1], 15.0, atol=1.5)


def test_a_blur_as_wide_as_the_ring_keeps_the_weaker_core_inside_the_coin() -> None:
    """Leaving the coin also steps the weaker core's way: the coin's own edge must not
    count as core (it read wider than the core and moved with the sampling phase)."""
    blurred = {
        core_mm: widths(
            coin_trace(core_mm, 1.0, 0.6, blur_mm=2.25), coin_trace(core_mm, 0.5, 0.3, blur_mm=2.25)
        )[0]
        for core_mm in (13.5, 15.0)
    }
    assert (blurred[15.0] < 15.0).all()
    assert (blurred[15.0] - blurred[13.5] > 0.3 * 1.5).all()


def test_one_noisy_sample_moves_the_width_by_at_most_its_own_share() -> None:
    """A sum over samples, not the first crossing of half-way: one sample on the
    core's plateau pushed past half-way would move a crossing to the centre."""
    clean = coin_trace(15.0, 1.0, 0.8)
    before = widths(clean, clean)[0]
    sample_mm = SPEED_MM_S / RATE_HZ
    for at in (70, 75, 80, 85):  # on the core's plateau, around the centre (80)
        hit = clean.copy()
        hit[at] += 0.15  # three quarters of the way to the ring's level
        after = widths(hit, hit)[0]
        assert np.abs(after - before).max() <= sample_mm


def test_noise_spreads_the_width_like_noise() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    for core in (0.9, 0.7):
        clean = coin_trace(15.0, 1.0, core)
        lo = clean + rng.normal(0.0, 0.01, (n, clean.size))
        hi = clean + rng.normal(0.0, 0.01, (n, clean.size))
        w = widths(lo, hi)
        assert w.std(axis=0).max() < 0.25
        z = (w - w.mean(axis=0)) / w.std(axis=0)
        assert np.abs(z).max() < 5.5


def test_a_core_barely_weaker_than_its_ring_reads_a_width_inside_the_coin() -> None:
    """A step as tall as the noise on one sample: most passes are measured, and
    their widths scatter widely but stay finite and inside the coin (such a coin's
    width is never checked: see has_core below)."""
    rng = np.random.default_rng(8)
    clean = coin_trace(15.0, 1.0, 0.99)
    noisy = clean + rng.normal(0.0, 0.01, (200, clean.size))
    w = widths(noisy, noisy)
    assert np.isfinite(w).all()
    assert (w > 0.0).mean() > 0.5
    assert w.std() > 1.0
    assert ((w >= 0.0) & (w <= 23.4)).all()


def _taught(head: str) -> Engine:
    coins = ("gb-100-2017", "gb-200-1997", "gb-100-1983", "gb-050-1997", "gb-010-2012")
    # Coins from circulation: 15 from each of four batches; tests use batch 2.
    samples = {
        c: [
            s
            for b in (0, 1, 3, 4)
            for s in generate(
                c, 15, head=head, seed=3, batch=b, temperature_c=(5.0, 35.0), wear=0.5, dirt=0.5
            ).signatures()
        ]
        for c in coins
    }
    return Engine(teach(samples, head=head)[0])


@pytest.fixture(scope="module")
def engine_a() -> Engine:
    return _taught("A")


def test_only_bimetal_coins_have_their_core_width_checked(engine_a: Engine) -> None:
    """A one-metal coin's "core" is the noise on its flat top (the catalogue says which
    coins are bimetal: a fact of the coin, not of any head)."""
    clf = engine_a.profile.classifier
    columns = [FEATURE_NAMES.index(f"{ch}_core_width_mm") for ch in ("lo", "hi")]
    used = dict(zip(clf.coins_, clf.used_features()[:, columns].any(axis=1).tolist(), strict=True))
    assert used == {
        "gb-100-2017": True,
        "gb-200-1997": True,
        "gb-100-1983": False,
        "gb-050-1997": False,
        "gb-010-2012": False,
    }


def test_a_new_pound_with_a_core_a_fifth_too_small_is_refused(
    engine_a: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_pound = genuine_design("gb-100-2017")
    fake = dataclasses.replace(
        new_pound,
        name="small-core",
        core_diameter_mm=0.8 * new_pound.core_diameter_mm,
        variation=COUNTERFEIT,
    )
    monkeypatch.setitem(counterfeits.FAMILIES, "small-core", Family("test", ((1.0, fake),)))
    hot_and_cold = {"temperature_c": (-10.0, 45.0), "wear": 0.5, "dirt": 0.5}
    fakes = generate("small-core", 400, head="A", seed=11, batch=1, **hot_and_cold)
    genuine = generate("gb-100-2017", 400, head="A", seed=12, batch=2, **hot_and_cold)
    taken = [d.accepted for d in engine_a.decide_batch(fakes, AT)]
    assert sum(taken) <= 0.25 * len(taken)  # before the core's width: 92 %
    decided = engine_a.decide_batch(genuine, AT)
    assert sum(d.accepted and d.coin == "gb-100-2017" for d in decided) >= 0.995 * len(decided)


@pytest.mark.parametrize("head", ["A", "C", "seed:109"])
def test_one_coin_at_the_gate_reads_what_a_batch_reads(head: str) -> None:
    """The gate's one-coin path (plain slices) and the batch path are one measure."""
    from coinval.features import extract_rows

    b = generate("gb-100-2017", 40, head=head, seed=4, wear=0.5, dirt=0.5)
    columns = [FEATURE_NAMES.index(f"{ch}_core_width_mm") for ch in ("lo", "hi")]
    batch = extract_rows(b).values[:, columns]
    ones = np.concatenate([extract_rows(b.rows(i, i + 1)).values[:, columns] for i in range(40)])
    assert (batch > 0).all()
    np.testing.assert_allclose(ones, batch, rtol=0, atol=1e-9)


def test_a_core_only_a_percent_off_its_ring_has_its_width_left_unchecked() -> None:
    """Statistically clear in one teach (11 spreads) but within what another batch
    moves: on one simulated head the 2 pound's high channel stepped by under 1 %, and
    its width swung between none and the whole coin from batch to batch."""
    from coinval.classifier import CoinClassifier
    from coinval.features import CoinFeatures

    rng = np.random.default_rng(3)
    n = 60
    values = np.linspace(1.0, 2.0, len(FEATURE_NAMES)) + 0.001 * rng.standard_normal(
        (n, len(FEATURE_NAMES))
    )
    contrasts = [FEATURE_NAMES.index(f"{ch}_core_vs_ring") for ch in ("lo", "hi")]
    values[:, contrasts] = [-0.2, -0.008] + [0.002, 0.0007] * rng.standard_normal((n, 2))
    feats = CoinFeatures(
        values=values, edge_count=np.zeros(n, dtype=np.int64), temperature_c=rng.uniform(5, 35, n)
    )
    clf = CoinClassifier().fit({"gb-200-1997": feats})
    widths = [FEATURE_NAMES.index(f"{ch}_core_width_mm") for ch in ("lo", "hi")]
    assert clf.used_features()[0, widths].tolist() == [True, False]
