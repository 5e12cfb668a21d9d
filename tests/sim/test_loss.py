"""Loss traces (signature contract v1.1): there exactly for heads with a demodulator,
and carrying the conductivity in a ratio that gain and lift-off leave alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from coinval.signature import parse_signature
from sim.coins import Family
from sim.counterfeits import FAMILIES
from sim.heads import HEADS, SensorHead, get_head, head_from_seed
from sim.population import generate, kinds, to_json_dicts
from tests.sim.helpers import baseline_free, peak_window_loss_ratio

FIELDS = ("eddy_lo", "eddy_hi", "rim", "thickness_mm", "speed_mm_s", "temperature_c")
LOSS_HEADS = ["D", "seed:5", "seed:9", "phys2:D", "phys2:seed:9"]
V1_HEADS = ["A", "B", "C", "seed:3", "seed:4242", "phys2:A", "phys2:seed:3"]


def _ring_alloy_off() -> tuple[Family, Family]:
    (w_low, low), (w_high, high) = FAMILIES["ring-alloy-off"].variants
    return Family("ring -20 %", ((w_low, low),)), Family("ring +20 %", ((w_high, high),))


def _quiet(name: str) -> SensorHead:
    """A head as named, reporting loss, without noise or glitches: physics only."""
    return dataclasses.replace(get_head(name), reports_loss=True, noise=(0.0, 0.0), spike_prob=0.0)


def test_named_heads_report_loss_where_their_board_has_a_demodulator() -> None:
    assert [h for h, head in HEADS.items() if head.reports_loss] == ["D"]
    share = np.mean([head_from_seed(s).reports_loss for s in range(200)])
    assert 0.35 < share < 0.65  # both kinds of board stay in the field


def test_a_seed_head_without_a_demodulator_keeps_the_defaults() -> None:
    for seed in range(40):
        head = head_from_seed(seed)
        if not head.reports_loss:
            assert (head.loss_gain, head.loss_offset, head.demod_phase_rad) == (
                (1.0, 1.0),
                (0.0, 0.0),
                0.0,
            )


@pytest.mark.parametrize("head", LOSS_HEADS + V1_HEADS)
def test_loss_traces_are_there_exactly_for_heads_that_report_them(head: str) -> None:
    sensor = get_head(head)
    assert sensor.reports_loss == (head in LOSS_HEADS)
    for kind in kinds():
        batch = generate(kind, 3, head=head, seed=4, temperature_c=(-10, 45), wear=1, dirt=1)
        assert batch.has_loss == sensor.reports_loss
        if batch.eddy_lo_loss is not None and batch.eddy_hi_loss is not None:
            assert batch.eddy_lo_loss.shape == batch.eddy_hi_loss.shape == batch.eddy_lo.shape
            assert np.isfinite(batch.eddy_lo_loss).all() and np.isfinite(batch.eddy_hi_loss).all()
        else:
            assert batch.eddy_lo_loss is None and batch.eddy_hi_loss is None
        for obj in to_json_dicts(batch, sensor.name):
            assert ("eddy_lo_loss" in obj) == ("eddy_hi_loss" in obj) == sensor.reports_loss
            sig = parse_signature(obj)
            assert sig.has_loss == sensor.reports_loss
            if sig.eddy_lo_loss is not None and sig.eddy_hi_loss is not None:
                assert len(sig.eddy_lo_loss) == len(sig.eddy_hi_loss) == len(sig.eddy_lo)


def test_long_populations_join_their_loss_traces_across_chunks() -> None:
    from sim.measure import CHUNK

    batch = generate("gb-100-1983", CHUNK + 3, head="D", seed=2)
    assert batch.eddy_lo_loss is not None and batch.eddy_lo_loss.shape[0] == CHUNK + 3


@pytest.mark.parametrize("head", ["A", "B", "C", "seed:3", "seed:7"])
def test_a_demodulator_leaves_the_reactive_traces_as_they_were(head: str) -> None:
    """The loss channels draw their noise from a stream of their own: a v1 head's
    signatures are the same, sample for sample, as those of the same board with a
    demodulator."""
    v1 = get_head(head)
    with_loss = dataclasses.replace(v1, reports_loss=True, loss_gain=(0.7, 1.3))
    for kind in ("gb-100-2017", "steel-washer", "ring-alloy-off"):
        a = generate(kind, 30, head=v1, seed=6, wear=0.5, dirt=0.5)
        b = generate(kind, 30, head=with_loss, seed=6, wear=0.5, dirt=0.5)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not a.has_loss and b.has_loss


@pytest.mark.parametrize("head", ["D", "phys2:D"])
def test_loss_traces_are_deterministic_per_seed(head: str) -> None:
    a = generate("gb-200-1997", 20, head=head, seed=5, wear=0.5, dirt=0.5)
    b = generate("gb-200-1997", 20, head=head, seed=5, wear=0.5, dirt=0.5)
    c = generate("gb-200-1997", 20, head=head, seed=6, wear=0.5, dirt=0.5)
    for name in (*FIELDS, "eddy_lo_loss", "eddy_hi_loss"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.eddy_lo_loss is not None and c.eddy_lo_loss is not None
    assert not np.allclose(a.eddy_lo_loss, c.eddy_lo_loss)


def test_each_loss_channel_has_noise_of_its_own() -> None:
    head = dataclasses.replace(HEADS["D"], spike_prob=0.0)
    batch = generate("gb-050-1997", 200, head=head, seed=3)
    assert batch.eddy_lo_loss is not None
    # Coin-free samples: pure noise on both components, uncorrelated.
    lo = batch.eddy_lo[:, :40] - batch.eddy_lo[:, :40].mean(axis=1, keepdims=True)
    loss = batch.eddy_lo_loss[:, :40] - batch.eddy_lo_loss[:, :40].mean(axis=1, keepdims=True)
    assert abs(np.corrcoef(lo.ravel(), loss.ravel())[0, 1]) < 0.05
    assert 0.5 * head.noise[0] < loss.std() < 2.0 * head.noise[0] * head.loss_gain[0]


@pytest.mark.parametrize("head", ["A", "phys2:A"])
def test_a_coin_raises_its_loss_traces(head: str) -> None:
    for kind in ("gb-100-2017", "gb-010-2012", "steel-washer", "euro-1"):
        batch = generate(kind, 10, head=_quiet(head), seed=1)
        assert batch.eddy_lo_loss is not None and batch.eddy_hi_loss is not None
        for loss in (batch.eddy_lo_loss, batch.eddy_hi_loss):
            free = baseline_free(loss)
            # Never below the baseline (but for a window end resting on the coin's tail).
            assert free.min() > -1e-3 * free.max() and (free.max(axis=1) > 20.0).all()


def _ratios(kind: str | Family, head: SensorHead, n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    batch = generate(kind, n, head=head, seed=3)
    assert batch.eddy_lo_loss is not None and batch.eddy_hi_loss is not None
    return (
        peak_window_loss_ratio(batch.eddy_lo, batch.eddy_lo_loss),
        peak_window_loss_ratio(batch.eddy_hi, batch.eddy_hi_loss),
    )


@pytest.mark.parametrize(
    ("head", "kind"),
    [("A", "gb-100-2017"), ("A", "gb-200-1997"), ("phys2:A", "gb-100-1983")],
)
def test_gain_and_lift_off_cancel_in_the_loss_ratio(head: str, kind: str) -> None:
    """The same coins, inserted the same way, on a head at 0.2 mm and at 1.2 mm of
    lift-off and with five times the gain: their ring's loss/reactive ratio holds.
    (Physics b's footprint widens with the gap, so it is checked on a coin whose
    metal reaches well beyond the footprint: the round pound.)"""
    base = _quiet(head)
    near = dataclasses.replace(base, gap_mm=(0.2, 0.2))
    far = dataclasses.replace(base, gap_mm=(1.2, 1.2))
    loud = dataclasses.replace(base, scale=(base.scale[0] * 5, base.scale[1] * 3))
    ref = _ratios(kind, near)
    for other in (far, loud):
        for ours, theirs in zip(_ratios(kind, other), ref, strict=True):
            assert np.abs(ours / theirs - 1.0).max() < 0.01, (other.gap_mm, other.scale)


@pytest.mark.parametrize(
    ("head", "channels"), [("A", (0, 1)), ("D", (0, 1)), ("phys2:A", (0,)), ("phys2:D", (0,))]
)
def test_a_ring_alloy_twenty_percent_off_moves_the_loss_ratio(
    head: str, channels: tuple[int, ...]
) -> None:
    """Skin-effect physics: the ratio grows as the conductivity falls (~ sigma ** -1/2 at
    the high frequency, +-10 % for +-20 %), beyond what mint batches and temperature do
    to a genuine ring.  On physics b the wider footprint blends the new pound's
    nickel-plated core (ratio about 0.8 at the high frequency) into the ring's window
    there, more so at a larger gap, so only the low frequency is checked."""
    sensor = dataclasses.replace(get_head(head), reports_loss=True, spike_prob=0.0)
    genuine = _ratios("gb-100-2017", sensor, 40)
    low_family, high_family = _ring_alloy_off()
    low = _ratios(low_family, sensor, 40)
    high = _ratios(high_family, sensor, 40)
    for ch in channels:
        g, lo, hi = (float(np.median(r[ch])) for r in (genuine, low, high))
        assert lo > 1.06 * g, (ch, g, lo)
        assert hi < 0.95 * g, (ch, g, hi)
    if sensor.physics == "a":
        # On a genuine ring the ratio scatters by a few percent at most.
        for ch in channels:
            assert np.percentile(genuine[ch], 90) / np.percentile(genuine[ch], 10) < 1.06


@pytest.mark.parametrize("head", ["A", "phys2:A"])
def test_counterfeit_metals_bring_their_own_loss(head: str) -> None:
    """The families' loss comes from their metals: plain brass conducts better than the
    round pound's nickel-brass (lower ratio), the cast leaded alloy worse (higher)."""
    sensor = _quiet(head)
    genuine = np.median(_ratios("gb-100-1983", sensor, 20)[1])
    brass = np.median(_ratios("struck-brass-round-pound", sensor, 20)[1])
    cast = np.median(_ratios("cast-round-pound", sensor, 20)[1])
    assert brass < 0.95 * genuine < 0.95**2 * cast
