from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from coinval.engine import Engine
from coinval.profile import ProfileError, loads
from coinval.signature import Signature
from coinval.teach import TeachError, teach

AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def taught(shared_samples: dict[str, list[Signature]]):  # type: ignore[no-untyped-def]
    profile, _report = teach(shared_samples, head="bench-head-B7")
    return profile


def test_round_trip_decides_the_same(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    again = loads(taught.dumps())
    sigs = [s for group in shared_samples.values() for s in group]
    assert Engine(taught).decide_signatures(sigs, AT) == Engine(again).decide_signatures(sigs, AT)


def test_operator_inhibit_and_override(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    fifty = shared_samples["gb-050-1997"]
    inhibited = taught.with_settings(inhibited=frozenset({"gb-050-1997"}))
    out = Engine(inhibited).decide_signatures(fifty, AT)
    assert {(d.coin, d.reason, d.accepted) for d in out} == {("gb-050-1997", "inhibited", False)}
    rounds = shared_samples["gb-100-1983"]
    assert {d.reason for d in Engine(taught).decide_signatures(rounds, AT)} == {"inhibited"}
    forced = taught.with_settings(legal_tender_override={"gb-100-1983": True})
    assert {d.reason for d in Engine(forced).decide_signatures(rounds, AT)} == {"accepted"}
    # The override survives the profile file.
    assert loads(forced.dumps()).legal_tender_override == {"gb-100-1983": True}


def test_a_taught_coin_never_carries_an_untaught_id(shared_samples) -> None:  # type: ignore[no-untyped-def]
    only_new, _ = teach({"gb-100-2017": shared_samples["gb-100-2017"]})
    out = Engine(only_new).decide_signatures(shared_samples["gb-100-1983"], AT)
    assert all(d.coin is None and not d.accepted for d in out)
    assert {d.reason for d in out} <= {"counterfeit", "unknown"}
    tens = Engine(only_new).decide_signatures(shared_samples["gb-010-2012"], AT)
    assert {d.reason for d in tens} == {"unknown"}


def test_too_few_coins_refused(shared_samples) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TeachError, match="at least"):
        teach({"gb-100-2017": shared_samples["gb-100-2017"][:3]})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(schema_version="3"),
        lambda d: d.update(coins=[]),
        lambda d: d["coins"].update({"xx": {}}),
        lambda d: d["coins"]["gb-100-2017"].update(security="lax"),
        lambda d: d["coins"]["gb-100-2017"].update(teach="yesterday"),
        lambda d: d["coins"]["gb-100-2017"].pop("teach"),
        lambda d: d["coins"]["gb-100-2017"]["features"].pop("lo_level"),  # correlation 1 short
        lambda d: d["coins"]["gb-100-2017"]["temperature"].update(ref_c=None),
        lambda d: d.update(inhibited="all"),
        lambda d: d.update(legal_tender_override={"gb-100-1983": "yes"}),
        lambda d: d["coins"]["gb-100-2017"]["temperature"].update(sxx=-1000.0),
        lambda d: d["coins"]["gb-100-2017"]["temperature"].update(min_c=30.0, max_c=10.0),
        lambda d: d["coins"]["gb-100-2017"].update(n_samples=10**30),
        lambda d: d["coins"]["gb-100-2017"]["features"]["lo_level"].update(mean=10**400),
        lambda d: d["coins"]["gb-100-2017"]["correlation"][0].__setitem__(0, 1e300),
        lambda d: d["coins"]["gb-100-2017"]["correlation"][0].__setitem__(1, 5.0),
        lambda d: d["coins"]["gb-100-2017"]["correlation"][0].__setitem__(0, 0.5),
        lambda d: d["coins"]["gb-100-2017"]["correlation"][1].__setitem__(0, True),
        lambda d: d["coins"]["gb-100-2017"]["correlation"].pop(),
        lambda d: d["coins"]["gb-100-2017"].update(shrinkage=1.5),
        lambda d: d.update(teach_notes={"x": {"a": float("nan")}}),
        lambda d: d["coins"]["gb-100-2017"].update(milling="sometimes"),
        lambda d: d["coins"]["gb-100-2017"].update(speed="fast"),
        lambda d: d["coins"]["gb-100-2017"].pop("speed"),
        lambda d: d["coins"]["gb-100-2017"]["speed"].pop("sxx"),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(min_log_mm_s=9.0),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(max_log_mm_s=9.0),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(sxx=-1.0),
        lambda d: d["coins"]["gb-100-2017"]["features"]["lo_level"].pop("slope_per_log_speed"),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(sxy_with_temperature=1e9),
        lambda d: d["coins"]["gb-100-2017"]["features"]["diameter_mm"].update(
            slope_per_log_speed=1.0
        ),
        lambda d: d["coins"]["gb-100-2017"]["features"].update(
            log_engraving_mm={"mean": 0.0, "slope_per_k": 0.0, "scale": 1.0}
        ),
        lambda d: d["coins"]["gb-100-2017"]["features"]["log_lettering_mm"].update(scale=0.0),
        lambda d: d.update(no_coin="flat"),
        lambda d: d["no_coin"]["channels"].update(eddy_mid={"level": 0.0}),
        lambda d: d["no_coin"]["channels"]["eddy_lo"].update(level=float("inf")),
        lambda d: d["no_coin"]["channels"]["eddy_lo"].update(n_ends=0),
    ],
)
def test_malformed_profiles_are_refused(taught, mutate) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    mutate(doc)
    with pytest.raises(ProfileError):
        loads(json.dumps(doc))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"format": "coinval-profile", "schema_version": 1' + "0" * 5000 + "}",
        "\ud800",
    ],
)
def test_hostile_profile_text_is_a_profile_error(text: str) -> None:
    with pytest.raises(ProfileError):
        loads(text)


def test_the_new_pound_must_show_alternate_milling(taught) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    assert doc["coins"]["gb-100-2017"]["milling"] == "alternate"
    assert doc["coins"]["gb-100-1983"]["milling"] == "any"  # round: no sides to alternate


@pytest.mark.parametrize("version", [1, 2])
def test_a_profile_of_the_allowance_engine_is_refused_with_teach_again(taught, version) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    doc["schema_version"] = version
    with pytest.raises(ProfileError, match="teach again"):
        loads(json.dumps(doc))


def test_a_profile_says_where_each_width_came_from(taught) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    for coin, body in doc["coins"].items():
        words = body["provenance"]
        assert f"{body['n_samples']} teach coins" in words["widths"], coin
        assert "chi-square" in words["bound"]
        assert ("launch" if body["teach"] == "launch" else "circulation") in words["batches"]


@pytest.mark.parametrize("n", [24, 25, 60])
def test_a_teach_at_one_speed_and_one_temperature_writes_a_profile_that_loads(n: int) -> None:
    """The mean of equal values can round an ulp past them; the profile must still load."""
    import dataclasses

    from sim.population import generate

    sigs = [
        dataclasses.replace(sig, speed_mm_s=500.0, temperature_c=21.3)
        for sig in generate("gb-050-1997", n, head="A", seed=1).signatures()
    ]
    profile, _ = teach({"gb-050-1997": sigs})
    again = loads(profile.dumps())
    decided = Engine(again).decide_signatures(sigs, AT)
    assert sum(d.accepted for d in decided) == n


def test_a_profile_with_speed_slopes_decides_the_same_after_saving() -> None:
    from coinval.classifier import CoinClassifier
    from coinval.features import FEATURE_NAMES, INDUCTIVE, CoinFeatures
    from coinval.profile import Profile

    rng = np.random.default_rng(3)

    def coins(n: int) -> CoinFeatures:
        speeds = rng.uniform(300.0, 500.0, n)
        values = np.linspace(1.0, 2.0, len(FEATURE_NAMES)) + 0.01 * rng.standard_normal(
            (n, len(FEATURE_NAMES))
        )
        values[:, INDUCTIVE] += 0.2 * np.log(speeds / 400.0)[:, None]
        return CoinFeatures(values, np.zeros(n, dtype=np.int64), rng.uniform(5, 35, n), speeds)

    profile = Profile(CoinClassifier().fit({"gb-100-1983": coins(60)}))
    assert profile.classifier.speed_slope_.any()  # else this test checks nothing
    again = loads(profile.dumps())
    for name in ("speed_slope_", "slope_", "scale_", "mean_", "correlation_"):
        np.testing.assert_array_equal(
            getattr(again.classifier, name), getattr(profile.classifier, name)
        )
    assert again.classifier.covariates_ == profile.classifier.covariates_
    probe = coins(300)
    np.testing.assert_array_equal(
        again.classifier.deviation(probe), profile.classifier.deviation(probe)
    )


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (
            lambda d: d["coins"]["gb-100-2017"]["features"]["diameter_mm"].update(scale=5.0),
            "at most 1",
        ),
        (
            lambda d: d["coins"]["gb-100-2017"].update(
                features={"thickness_mm": d["coins"]["gb-100-2017"]["features"]["thickness_mm"]},
                correlation=[[1.0]],
            ),
            "features missing",
        ),
        (
            lambda d: d["coins"]["gb-100-2017"]["temperature"].update(sxx=1e9),
            "exceeds n_samples",
        ),
    ],
)
def test_a_hand_edited_profile_cannot_widen_a_region_past_physics(taught, mutate, words) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    mutate(doc)
    with pytest.raises(ProfileError, match=words):
        loads(json.dumps(doc))


def test_the_drift_prior_is_derived_not_read(taught) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    for entry in doc["coins"]["gb-100-2017"]["features"].values():
        entry["drift_per_k"] = 1e300
    edited = loads(json.dumps(doc))
    np.testing.assert_array_equal(edited.classifier.drift_prior_, taught.classifier.drift_prior_)


def test_merging_a_taught_coin_keeps_the_other_regions_settings_and_positions(
    shared_samples: dict[str, list[Signature]],
) -> None:
    from coinval.profile import merge_coin, regions_to_dict

    base, _ = teach(
        {c: shared_samples[c] for c in ("gb-100-2017", "gb-050-1997", "gb-010-2012")},
        head="bench-head-B7",
    )
    base = base.with_settings(inhibited=frozenset({"gb-010-2012"}))
    again, _ = teach({"gb-050-1997": shared_samples["gb-050-1997"][::2]})
    created = "2024-03-01T12:00:00+00:00"
    merged = merge_coin(base, again, "gb-050-1997", "other-head", created)
    assert merged.coins == base.coins
    assert (merged.head, merged.created, merged.inhibited) == (
        "bench-head-B7",
        created,
        base.inhibited,
    )
    regions, before = regions_to_dict(merged.classifier), regions_to_dict(base.classifier)
    assert regions["gb-050-1997"] == regions_to_dict(again.classifier)["gb-050-1997"]
    assert regions["gb-050-1997"] != before["gb-050-1997"]
    assert {c: regions[c] for c in ("gb-100-2017", "gb-010-2012")} == {
        c: before[c] for c in ("gb-100-2017", "gb-010-2012")
    }
    assert merged.teach_notes["gb-050-1997"] == again.teach_notes["gb-050-1997"]
    assert merged.teach_notes["gb-100-2017"] == base.teach_notes["gb-100-2017"]

    twenty, _ = teach({"gb-020-1982": shared_samples["gb-020-1982"]})
    added = merge_coin(base, twenty, "gb-020-1982", "other-head", created)
    assert added.coins == [*base.coins, "gb-020-1982"]  # a new coin takes the next position
    first = merge_coin(None, twenty, "gb-020-1982", "other-head", created)
    assert (first.coins, first.head, first.created) == (["gb-020-1982"], "other-head", created)


def test_a_merge_that_is_not_a_valid_profile_is_refused(taught) -> None:  # type: ignore[no-untyped-def]
    from coinval.profile import Profile, merge_coin, regions_from_dict, regions_to_dict

    regions = regions_to_dict(taught.classifier)
    regions["gb-050-1997"]["n_samples"] = 2
    broken = Profile(regions_from_dict(regions), teach_notes=taught.teach_notes)
    with pytest.raises(ProfileError, match="n_samples"):
        merge_coin(taught, broken, "gb-050-1997", "bench-head-B7", "2024-03-01T12:00:00+00:00")
