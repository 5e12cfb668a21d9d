"""Populations: valid, deterministic, and physically right where the classifier looks."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from coinval.signature import parse_signature
from sim.coins import genuine_design
from sim.heads import HEADS, get_head
from sim.pieces import batch_shift
from sim.population import UnknownKindError, generate, kinds, to_json_dicts
from tests.sim.helpers import milling_alternation, normalised, peak_level, rim_spectrum

REQUIRED_KINDS = {
    "gb-100-2017",
    "gb-100-1983",
    "gb-200-1997",
    "gb-050-1997",
    "gb-020-1982",
    "gb-010-2012",
    "gb-005-2012",
    "cast-round-pound",
    "struck-brass-round-pound",
    "mono-12-sided",
    "bimetal-unplated-core",
    "milled-all-sides",
    "plain-edge-12-sided",
    "ring-alloy-off",
    "undersized-12-sided",
    "cast-zinc-12-sided",
    "euro-1",
    "threepence-1937",
    "steel-washer",
    "plated-slug",
}
ALL_HEADS = ["A", "B", "C", "D", "seed:7"]


def test_kinds_lists_every_required_kind_with_a_description() -> None:
    listed = kinds()
    assert set(listed) >= REQUIRED_KINDS
    assert all(desc.strip() for desc in listed.values())


@pytest.mark.parametrize("head", ALL_HEADS)
def test_every_kind_makes_valid_signatures(head: str) -> None:
    sensor = get_head(head)
    for kind in kinds():
        batch = generate(kind, 4, head=head, seed=11, temperature_c=(-10, 45), wear=1, dirt=1)
        assert batch.eddy_lo.shape == (4, sensor.eddy_samples)
        assert batch.rim.shape == (4, sensor.rim_samples)
        for obj in to_json_dicts(batch, sensor.name):
            sig = parse_signature(obj)
            assert sig.head == sensor.name
            assert sig.id is not None and sig.id.startswith(f"{kind}-{sensor.name}-b0-s11-")


def test_ids_follow_the_documented_pattern() -> None:
    batch = generate("gb-100-2017", 43, head="A", seed=0, batch=0)
    assert batch.ids[42] == "gb-100-2017-A-b0-s0-00042"
    assert len(set(batch.ids)) == 43
    long_head = generate(
        "struck-brass-round-pound", 2, head="seed:4294967295", batch=10**9, seed=10**9
    )
    assert all(
        i is not None and len(i) <= 64 and re.search(r"-0000[01]$", i) for i in long_head.ids
    )


def test_generation_is_deterministic_per_seed() -> None:
    a = generate("ring-alloy-off", 20, head="B", seed=5, wear=0.5, dirt=0.5)
    b = generate("ring-alloy-off", 20, head="B", seed=5, wear=0.5, dirt=0.5)
    c = generate("ring-alloy-off", 20, head="B", seed=6, wear=0.5, dirt=0.5)
    for name in ("eddy_lo", "eddy_hi", "rim", "thickness_mm", "speed_mm_s", "temperature_c"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.eddy_lo, c.eddy_lo)


def test_same_seed_gives_the_same_coins_on_every_head() -> None:
    on_a = generate("gb-200-1997", 50, head="A", seed=2)
    on_c = generate("gb-200-1997", 50, head="C", seed=2)
    # Same pieces and insertions: only the gauges' own noise differs.
    assert np.abs(on_a.thickness_mm - on_c.thickness_mm).max() < 0.08
    assert np.abs(on_a.temperature_c - on_c.temperature_c).max() < 2.5


@pytest.mark.parametrize(
    ("kind", "sides"),
    [("gb-100-2017", 12), ("gb-050-1997", 7), ("gb-020-1982", 7), ("threepence-1937", 12)],
)
def test_rim_shows_one_bump_per_side(kind: str, sides: int) -> None:
    spec = rim_spectrum(generate(kind, 20, head="A", seed=1).rim)
    band = spec[:, 3:41]
    assert (np.argmax(band, axis=1) + 3 == sides).all()
    assert (band.max(axis=1) > 0.05).all()


@pytest.mark.parametrize("kind", ["gb-100-1983", "gb-200-1997", "gb-010-2012", "gb-005-2012"])
def test_round_coins_show_no_bumps(kind: str) -> None:
    spec = rim_spectrum(generate(kind, 20, head="A", seed=1).rim)
    assert spec[:, 3:41].max() < 0.01


def test_new_pound_is_milled_on_alternate_sides_only() -> None:
    genuine = milling_alternation(generate("gb-100-2017", 30, head="A", seed=3).rim)
    all_sides = milling_alternation(generate("milled-all-sides", 30, head="A", seed=3).rim)
    assert np.median(genuine) > 0.3
    assert np.median(all_sides) < 0.15


def test_milling_energy_is_present_only_on_milled_edges() -> None:
    def fine_rms(kind: str) -> float:
        spec = rim_spectrum(generate(kind, 20, head="C", seed=4).rim)
        return float(np.median(np.sqrt((spec[:, 100:] ** 2).sum(axis=1) / 2)))

    milled, plain = fine_rms("gb-100-1983"), fine_rms("plain-edge-12-sided")
    assert milled > 2 * plain


def test_batches_differ_by_a_few_percent_at_most() -> None:
    head = HEADS["A"]
    for kind in ("gb-100-1983", "gb-100-2017", "gb-050-1997"):
        levels = []
        for batch in range(5):
            lo, _ = normalised(generate(kind, 300, head="A", seed=8, batch=batch), head)
            levels.append(float(np.median(peak_level(lo))))
        spread = max(levels) / min(levels) - 1.0
        assert 0.003 < spread < 0.05, (kind, levels)


def test_batch_shifts_are_deterministic_and_a_few_percent() -> None:
    design = genuine_design("gb-100-2017")
    for batch in range(20):
        shift = batch_shift(design, "gb-100-2017", batch)
        assert shift == batch_shift(design, "gb-100-2017", batch)
        values = np.abs(
            [
                shift.outer_sigma,
                shift.core_sigma,
                shift.outer_cladding,
                shift.core_cladding,
                shift.core_diameter,
            ]
        )
        assert ((values >= 0.01) & (values <= 0.04)).all()
    assert batch_shift(design, "gb-100-2017", 1) != batch_shift(design, "gb-100-2017", 2)
    a = generate("gb-100-2017", 5, seed=1, batch=3)
    b = generate("gb-100-2017", 5, seed=1, batch=3)
    np.testing.assert_array_equal(a.eddy_hi, b.eddy_hi)


@pytest.mark.parametrize("head", ["A", "B", "C", "D", "seed:3"])
@pytest.mark.parametrize("kind", ["gb-010-2012", "gb-005-2012", "steel-washer"])
def test_steel_gives_a_negative_low_frequency_response(kind: str, head: str) -> None:
    sensor = get_head(head)
    lo, hi = normalised(generate(kind, 30, head=head, seed=2), sensor)
    ends = np.concatenate([lo[:, :4], lo[:, -4:]], axis=1)
    assert (np.abs(np.median(ends, axis=1)) < 0.05).all()  # baseline at the head's offset
    level = np.median(peak_level(lo))
    assert level < -0.1
    assert np.median(peak_level(hi)) > level


def test_washer_hole_shows_a_dip_at_the_centre() -> None:
    head = HEADS["C"]
    lo, _ = normalised(generate("steel-washer", 20, head="C", seed=1), head)
    for trace in lo:
        smooth = np.convolve(trace, np.ones(9) / 9, mode="same")
        inside = np.flatnonzero(smooth < 0.5 * smooth.min())
        centre = smooth[(inside[0] + inside[-1]) // 2]
        assert abs(centre) < 0.6 * abs(smooth.min())


def test_bimetal_core_differs_from_ring() -> None:
    head = HEADS["C"]
    lo, _ = normalised(generate("gb-100-2017", 20, head="C", seed=1), head)
    for trace in lo:
        smooth = np.convolve(trace, np.ones(9) / 9, mode="same")
        inside = np.flatnonzero(smooth > 0.5 * smooth.max())
        centre = smooth[(inside[0] + inside[-1]) // 2]
        assert centre < 0.85 * smooth.max()  # ring, lower core, ring


def test_passage_length_follows_speed() -> None:
    head = HEADS["D"]
    batch = generate("gb-050-1997", 40, head="D", seed=9)
    lo, _ = normalised(batch, head)
    smooth = np.apply_along_axis(lambda t: np.convolve(t, np.ones(15) / 15, mode="same"), 1, lo)
    width_samples = (smooth > 0.5 * smooth.max(axis=1, keepdims=True)).sum(axis=1)
    width_mm = width_samples / batch.eddy_rate_hz * batch.speed_mm_s
    assert np.ptp(batch.speed_mm_s) > 100
    assert np.std(width_mm) / np.mean(width_mm) < 0.05
    assert abs(np.mean(width_mm) - 27.3) < 3.0


def test_temperature_range_is_honoured() -> None:
    cold = generate("gb-050-1997", 200, temperature_c=(-10.0, 45.0), seed=1)
    assert cold.temperature_c.min() < 0 < 40 < cold.temperature_c.max()
    assert cold.temperature_c.min() > -11.5 and cold.temperature_c.max() < 46.5


def test_wear_shrinks_the_coin_and_its_milling() -> None:
    new = generate("gb-100-1983", 100, head="C", seed=4)
    worn = generate("gb-100-1983", 100, head="C", seed=4, wear=1.0)
    assert np.mean(worn.rim) < np.mean(new.rim) - 0.008
    assert np.mean(worn.thickness_mm) < np.mean(new.thickness_mm) - 0.015
    fine_new = np.sqrt((rim_spectrum(new.rim)[:, 100:] ** 2).sum(axis=1))
    fine_worn = np.sqrt((rim_spectrum(worn.rim)[:, 100:] ** 2).sum(axis=1))
    assert np.median(fine_worn) < 0.85 * np.median(fine_new)


def test_dirt_lowers_the_eddy_level_slightly() -> None:
    head = HEADS["A"]
    clean, _ = normalised(generate("gb-100-1983", 200, seed=4), head)
    dirty, _ = normalised(generate("gb-100-1983", 200, seed=4, dirt=1.0), head)
    ratio = np.median(peak_level(dirty)) / np.median(peak_level(clean))
    assert 0.9 < ratio < 0.995


def test_counterfeits_vary_more_than_genuine_coins() -> None:
    genuine = generate("gb-100-1983", 200, head="C", seed=1)
    fake = generate("cast-round-pound", 200, head="C", seed=1)
    assert fake.thickness_mm.std() > 1.5 * genuine.thickness_mm.std()
    assert fake.rim.mean(axis=1).std() > 1.5 * genuine.rim.mean(axis=1).std()


def test_undersized_fake_is_smaller() -> None:
    genuine = generate("gb-100-2017", 20, seed=1).rim.max(axis=1).mean()
    small = generate("undersized-12-sided", 20, seed=1).rim.max(axis=1).mean()
    assert 0.94 < small / genuine < 0.97


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"kind": "nope", "n": 3}, "unknown coin kind"),
        ({"kind": "euro-1", "n": 0}, "positive integer"),
        ({"kind": "euro-1", "n": 3, "temperature_c": (30.0, 10.0)}, "temperature"),
        ({"kind": "euro-1", "n": 3, "temperature_c": (-50.0, 10.0)}, "-40..85"),
        ({"kind": "euro-1", "n": 3, "wear": 1.5}, "wear"),
        ({"kind": "euro-1", "n": 3, "head": "Q"}, "sensor head"),
    ],
)
def test_bad_arguments_are_refused(args: dict[str, object], message: str) -> None:
    kind, n = args.pop("kind"), args.pop("n")
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(kind, n, **args)  # type: ignore[arg-type]


def test_unknown_kind_error_is_a_value_error() -> None:
    with pytest.raises(UnknownKindError):
        generate("gb-999-2099", 1)


def test_ten_thousand_coins_in_a_few_seconds() -> None:
    start = time.perf_counter()
    batch = generate("gb-100-2017", 10_000, head="A", seed=1)
    elapsed = time.perf_counter() - start
    assert len(batch) == 10_000
    assert elapsed < 10.0  # ~1.5 s on one core; generous for a shared machine


def test_a_glitch_hits_one_to_three_eddy_samples_in_a_row_and_one_rim_sample() -> None:
    """With every coin glitched, each eddy channel it hit differs from the clean head
    in one run of 1-3 consecutive samples (cut short at the trace's end), runs of each
    length occur, and a glitched rim differs in one sample."""
    import dataclasses

    clean = dataclasses.replace(HEADS["A"], spike_prob=0.0)
    always = dataclasses.replace(HEADS["A"], spike_prob=1.0)
    a = generate("gb-100-2017", 600, head=clean, seed=3)
    b = generate("gb-100-2017", 600, head=always, seed=3)
    lengths = []
    for ours, theirs in ((a.eddy_lo, b.eddy_lo), (a.eddy_hi, b.eddy_hi)):
        for row in np.flatnonzero((ours != theirs).any(axis=1)):
            hit = np.flatnonzero(ours[row] != theirs[row])
            assert 1 <= hit.size <= 3 and np.all(np.diff(hit) == 1)
            lengths.append(hit.size)
    assert {1, 2, 3} <= set(lengths)
    assert len(lengths) > 600  # every coin on one channel or both
    rim_hits = (a.rim != b.rim).sum(axis=1)
    assert set(rim_hits.tolist()) == {0, 1} and rim_hits.sum() > 200


def test_a_family_of_ones_own_is_generated_like_a_listed_one() -> None:
    """Probes pass a design the simulator does not list: same seeds, same coins;
    keyed and named by the design's name."""
    import dataclasses

    from sim.coins import COUNTERFEIT, Family, genuine_design

    design = dataclasses.replace(
        genuine_design("gb-050-1997"),
        name="probe-50p-round",
        shape="round",
        sides=0,
        variation=COUNTERFEIT,
    )
    family = Family("a round 50p", ((1.0, design),))
    a = generate(family, 5, head="A", seed=3, batch=1)
    b = generate(family, 5, head="A", seed=3, batch=1)
    np.testing.assert_array_equal(a.rim, b.rim)
    assert all(i is not None and i.startswith("probe-50p-round-A-b1-s3") for i in a.ids)
    # Round: its rim has no seven-sided ripple the listed 50p has.
    listed = generate("gb-050-1997", 5, head="A", seed=3, batch=1)
    assert np.ptp(a.rim, axis=1).mean() < 0.5 * np.ptp(listed.rim, axis=1).mean()
