"""Virtual sensor heads: named heads differ markedly, random heads are plausible."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sim.heads import HEADS, LARGEST_COIN_MM, SensorHead, get_head, head_from_seed


def test_four_named_heads_differ_markedly() -> None:
    assert set("ABCD") <= set(HEADS)
    lo_scales = [h.scale[0] for h in HEADS.values()]
    assert max(lo_scales) / min(lo_scales) >= 10
    assert len({h.eddy_samples for h in HEADS.values()}) == len(HEADS)
    assert len({h.rim_samples for h in HEADS.values()}) == len(HEADS)
    assert len({h.offset for h in HEADS.values()}) == len(HEADS)
    # One sign convention: a conductive coin raises both channels on every head.
    assert all(min(h.scale) > 0 for h in HEADS.values())


@pytest.mark.parametrize("head", [*HEADS.values(), *(head_from_seed(s) for s in range(30))])
def test_largest_coin_fits_the_eddy_window_at_the_slowest_speed(head: SensorHead) -> None:
    passage = head.passage_samples(LARGEST_COIN_MM, head.speed_mm_s[0])
    assert passage < 0.85 * head.eddy_samples


def test_head_from_seed_is_deterministic_and_plausible() -> None:
    assert head_from_seed(3) == head_from_seed(3)
    assert head_from_seed(3) != head_from_seed(4)
    for seed in range(50):
        head = head_from_seed(seed)
        assert head.name == f"seed:{seed}"
        assert 64 <= head.eddy_samples <= 1024
        assert 128 <= head.rim_samples <= 4096
        assert 10e3 <= head.freq_hz[0] <= 60e3 and 200e3 <= head.freq_hz[1] <= 1e6
        assert min(head.scale) > 0


def test_get_head_accepts_names_and_seeds() -> None:
    assert get_head("A") is HEADS["A"]
    assert get_head("b") is HEADS["B"]
    assert get_head("seed:12") == head_from_seed(12)


@pytest.mark.parametrize("bad", ["Z", "", "seed:", "seed:-1", "seed:x", "AB"])
def test_get_head_rejects_unknown_names(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown sensor head"):
        get_head(bad)


@pytest.mark.parametrize(
    "change",
    [
        {"scale": (-1000.0, 1000.0)},
        {"eddy_samples": 32},
        {"rim_samples": 8192},
        {"speed_mm_s": (500.0, 100.0)},
        {"freq_hz": (500e3, 400e3)},
        {"loss_gain": (0.0, 1.0)},
        {"demod_phase_rad": 0.5},
        {"physics": "c"},
    ],
)
def test_sensor_head_validates_its_fields(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="sensor head"):
        dataclasses.replace(HEADS["A"], **change)
