"""Teach says what a head or a teach cannot check: milling it cannot read, a
temperature slope it did not see.  Said as warnings; the profile is still made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import resample

from coinval.features import milling_visibility
from coinval.signature import Signature
from coinval.teach import MILLING_VISIBLE, teach
from sim.population import generate

TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997")


def _teach_set(head: str, temperature_c: tuple[float, float] = (5.0, 35.0)) -> dict:
    return {
        coin: generate(
            coin, 40, head=head, seed=5, wear=0.5, dirt=0.5, temperature_c=temperature_c
        ).signatures()
        for coin in TAUGHT
    }


def _coarse(sigs: list[Signature], samples: int) -> list[Signature]:
    """The same coins through a band-limited rim gauge of ``samples`` a turn.

    Band-limited as a real gauge's spot is: plain decimation would fold the
    milling's harmonics down among the edge harmonics.
    """
    return [dataclasses.replace(s, rim=resample(s.rim, samples)) for s in sigs]


def test_a_good_head_taught_over_the_seasons_gets_no_capability_warning() -> None:
    _, report = teach(_teach_set("A"))
    assert not [w for w in report.warnings if "rim gauge" in w or "temperature" in w]


def test_a_one_day_teach_is_told_its_temperature_slope_is_unmeasured() -> None:
    _, report = teach(_teach_set("A", temperature_c=(12.0, 14.0)))
    narrow = [w for w in report.warnings if "not measured" in w]
    assert len(narrow) == 1  # one warning for the whole teach, naming each coin
    for coin in TAUGHT:
        assert coin in narrow[0]
    assert "12." in narrow[0] or "13." in narrow[0]


def test_a_noisy_rim_gauge_is_named_for_the_new_pound_only_where_it_matters() -> None:
    _, report = teach(_teach_set("B"))
    new_pound = [w for w in report.warnings if w.startswith("gb-100-2017") and "noise" in w]
    assert len(new_pound) == 1
    shown = float(new_pound[0].split("only ")[1].split(" times")[0])
    assert 0 < shown < MILLING_VISIBLE
    # The 20p and 50p have plain edges: nothing to read, nothing to warn of.
    assert not [w for w in report.warnings if w.startswith(("gb-050-1997", "gb-020-1982"))]


def test_a_rim_gauge_too_coarse_for_milling_says_so_and_the_rule_is_dropped() -> None:
    samples = _teach_set("A")
    coarse = {coin: _coarse(list(sigs), 64) for coin, sigs in samples.items()}
    profile, report = teach(coarse)
    blind = [w for w in report.warnings if "too few samples a turn" in w]
    assert any(w.startswith("gb-100-2017") and "(64)" in w for w in blind)
    assert any(w.startswith("gb-100-1983") for w in blind)
    assert profile.to_json_dict()["coins"]["gb-100-2017"]["milling"] == "any"


@pytest.mark.parametrize("head", ["A", "B"])
def test_milling_visibility_tells_milled_from_plain(head: str) -> None:
    milled = milling_visibility(generate("gb-100-1983", 200, head=head, seed=3).rim)
    plain = milling_visibility(generate("plain-edge-12-sided", 200, head=head, seed=3).rim)
    # White noise alone gives about 1 over the band; a milled coin clearly more.
    assert 0.7 < float(np.median(plain)) < 1.5
    assert float(np.median(milled)) > 3.0
    coarse = resample(generate("gb-100-1983", 5, head=head, seed=3).rim, 64, axis=1)
    assert milling_visibility(coarse).max() == 0


def test_a_noise_free_milled_rim_is_seen_clearly() -> None:
    # Synthetic rims without noise: milling over nothing, not "too few samples".
    angle = np.linspace(0.0, 2.0 * np.pi, 1024, endpoint=False)
    rim = 11.25 + 0.03 * np.sin(150 * angle)
    assert milling_visibility(rim[None, :])[0] > 1e3


def test_absurd_rims_among_the_teach_coins_neither_crash_nor_hide_the_warning() -> None:
    samples = {coin: list(sigs) for coin, sigs in _teach_set("B").items()}
    first = samples["gb-100-2017"][0]
    samples["gb-100-2017"][0] = dataclasses.replace(
        first, rim=np.full_like(first.rim, 1e300), id="absurd"
    )
    _, report = teach(samples)
    assert any("dropped 1" in w and "absurd" in w for w in report.warnings)
    assert any(w.startswith("gb-100-2017") and "times its noise" in w for w in report.warnings)
