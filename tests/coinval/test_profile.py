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
        lambda d: d.update(schema_version="1"),
        lambda d: d.update(coins=[]),
        lambda d: d["coins"].update({"xx": {}}),
        lambda d: d["coins"]["gb-100-2017"].update(security="lax"),
        lambda d: d["coins"]["gb-100-2017"]["features"].pop("lo_level"),
        lambda d: d["coins"]["gb-100-2017"]["temperature"].update(ref_c=None),
        lambda d: d.update(inhibited="all"),
        lambda d: d.update(legal_tender_override={"gb-100-1983": "yes"}),
        lambda d: d["coins"]["gb-100-2017"]["temperature"].update(sxx=-1000.0),
        lambda d: d["coins"]["gb-100-2017"]["temperature"].update(min_c=30.0, max_c=10.0),
        lambda d: d["coins"]["gb-100-2017"].update(n_samples=10**30),
        lambda d: d["coins"]["gb-100-2017"]["features"]["lo_level"].update(mean=10**400),
        lambda d: d["coins"]["gb-100-2017"]["covariance"][0].__setitem__(0, 1e300),
        lambda d: d["coins"]["gb-100-2017"]["covariance"][0].__setitem__(1, 5.0),
        lambda d: d.update(teach_notes={"x": {"a": float("nan")}}),
        lambda d: d["coins"]["gb-100-2017"].update(milling="sometimes"),
        lambda d: d["coins"]["gb-100-2017"].update(outline="best-guess"),
        lambda d: d["coins"]["gb-100-2017"].update(speed="fast"),
        lambda d: d["coins"]["gb-100-2017"]["speed"].pop("sxx"),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(min_log_mm_s=9.0),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(max_log_mm_s=9.0),
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(sxx=-1.0),
        lambda d: d["coins"]["gb-100-2017"]["features"]["lo_level"].pop("slope_per_log_speed"),
        lambda d: d["coins"]["gb-100-2017"].pop("speed"),  # slopes left without it
        lambda d: d["coins"]["gb-100-2017"]["speed"].update(sxy_with_temperature=1e9),
        lambda d: d["coins"]["gb-100-2017"]["features"]["diameter_mm"].update(
            slope_per_log_speed=1.0
        ),
        lambda d: d["coins"]["gb-100-2017"]["features"].update(
            log_engraving_mm={"mean": 0.0, "slope_per_k": 0.0, "scale": 1.0}
        ),
        lambda d: d["coins"]["gb-100-2017"]["features"]["log_lettering_mm"].update(scale=0.0),
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


def test_the_new_pound_must_show_alternate_milling_and_old_profiles_still_load(taught) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    assert doc["coins"]["gb-100-2017"]["milling"] == "alternate"
    assert doc["coins"]["gb-100-1983"]["milling"] == "any"  # round: no sides to alternate
    for body in doc["coins"].values():
        del body["milling"]  # as profiles written before the rule
    old = loads(json.dumps(doc))
    assert not old.classifier.alternate_milling_.any()
    assert old.classifier.alternation_unmeasured_.all()


def test_a_profile_from_before_the_milling_measure_does_not_use_it(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    """Older profiles learned a noise-diluted alternation: it is left out, not
    compared with today's measure, and stays left out through a round trip."""
    import json

    from coinval.features import FEATURE_NAMES

    doc = json.loads(taught.dumps())
    for body in doc["coins"].values():
        del body["milling"]
    old = loads(json.dumps(doc))
    column = FEATURE_NAMES.index("milling_alternation")
    assert not old.classifier.used_features()[:, column].any()
    assert not old.classifier.alternate_milling_.any()
    again = json.loads(old.dumps())
    assert {b["milling"] for b in again["coins"].values()} == {"unmeasured"}
    sigs = [s for group in shared_samples.values() for s in group]
    decided = Engine(old).decide_signatures(sigs, AT)
    assert sum(d.accepted for d in decided) >= sum(
        d.accepted for d in Engine(taught).decide_signatures(sigs, AT)
    )


def test_regions_taught_before_both_channels_outlined_coins_are_named(taught) -> None:  # type: ignore[no-untyped-def]
    """Such regions still decide, but a warning names them, and saving keeps them so."""
    import json

    doc = json.loads(taught.dumps())
    assert {b["outline"] for b in doc["coins"].values()} == {"both-channels"}
    assert taught.located_otherwise() is None
    del doc["coins"]["gb-100-2017"]["outline"]  # as profiles written before it
    doc["coins"]["gb-200-1997"]["outline"] = "clearer-channel"
    old = loads(json.dumps(doc))
    warning = old.located_otherwise()
    assert warning is not None
    assert "gb-100-2017, gb-200-1997:" in warning and "teach them again" in warning
    assert "gb-100-1983" not in warning
    again = json.loads(old.dumps())
    assert again["coins"]["gb-100-2017"]["outline"] == "clearer-channel"
    assert again["coins"]["gb-100-1983"]["outline"] == "both-channels"


def test_a_profile_from_before_speed_was_a_covariate_loads_and_decides(
    taught, shared_samples
) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    assert all("speed" in b for b in doc["coins"].values())
    for body in doc["coins"].values():
        del body["speed"]
        for entry in body["features"].values():
            del entry["slope_per_log_speed"]
    old = loads(json.dumps(doc))
    assert not old.classifier.speed_known_.any()
    assert "speed" not in json.loads(old.dumps())["coins"]["gb-100-2017"]
    sigs = [s for group in shared_samples.values() for s in group]
    decided = Engine(old).decide_signatures(sigs, AT)
    # Recognised as the coin it is (the round pound inhibited at AT, the rest accepted).
    truth = [coin for coin, group in shared_samples.items() for _ in group]
    assert sum(d.coin == c for d, c in zip(decided, truth, strict=True)) >= 0.9 * len(sigs)


def test_a_profile_from_before_the_inscription_was_measured_loads_without_it(
    taught, shared_samples
) -> None:  # type: ignore[no-untyped-def]
    """Older profiles have no log_lettering_mm: they load, leave the inscription
    unchecked, decide the shared samples as before, and keep it absent when saved."""
    import json

    from coinval.features import FEATURE_NAMES

    doc = json.loads(taught.dumps())
    for body in doc["coins"].values():
        del body["features"]["log_lettering_mm"]
    old = loads(json.dumps(doc))
    column = FEATURE_NAMES.index("log_lettering_mm")
    assert old.classifier.missing_features_[:, column].all()
    assert old.classifier.missing_features_.sum() == len(old.classifier.coins_)
    assert not old.classifier.used_features()[:, column].any()
    assert taught.classifier.used_features()[:, column].all()
    again = json.loads(old.dumps())
    assert all("log_lettering_mm" not in b["features"] for b in again["coins"].values())
    sigs = [s for group in shared_samples.values() for s in group]
    decided = Engine(old).decide_signatures(sigs, AT)
    assert sum(d.accepted for d in decided) >= sum(
        d.accepted for d in Engine(taught).decide_signatures(sigs, AT)
    )


def test_a_profile_from_before_the_core_width_was_measured_loads_without_it(
    taught, shared_samples
) -> None:  # type: ignore[no-untyped-def]
    """Profiles written before lo/hi_core_width_mm load with the core's width
    unchecked, decide the shared samples as before, and keep it absent when saved."""
    import json

    from coinval.features import FEATURE_NAMES

    names = ("lo_core_width_mm", "hi_core_width_mm")
    doc = json.loads(taught.dumps())
    for body in doc["coins"].values():
        for name in names:
            del body["features"][name]
    old = loads(json.dumps(doc))
    columns = [FEATURE_NAMES.index(name) for name in names]
    assert old.classifier.missing_features_[:, columns].all()
    assert not old.classifier.used_features()[:, columns].any()
    # The shared samples' new pound and 2 pound show their cores: checked when taught now.
    now = taught.classifier
    bimetal = [now.coins_.index(c) for c in ("gb-100-2017", "gb-200-1997")]
    assert now.used_features()[np.ix_(bimetal, columns)].any(axis=1).all()
    again = json.loads(old.dumps())
    assert all(name not in b["features"] for b in again["coins"].values() for name in names)
    sigs = [s for group in shared_samples.values() for s in group]
    decided = Engine(old).decide_signatures(sigs, AT)
    assert decided == Engine(taught).decide_signatures(sigs, AT)


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
    for name in ("speed_slope_", "u_ref_", "u_sxx_", "tu_sxy_", "u_range_", "slope_", "scale_"):
        np.testing.assert_array_equal(
            getattr(again.classifier, name), getattr(profile.classifier, name)
        )
    probe = coins(300)
    np.testing.assert_array_equal(
        again.classifier.deviation(probe), profile.classifier.deviation(probe)
    )


def test_a_version_1_profile_loads(taught) -> None:  # type: ignore[no-untyped-def]
    import json

    doc = json.loads(taught.dumps())
    doc["schema_version"] = 1
    for body in doc["coins"].values():
        body.pop("outline")
        body.pop("speed")
        for entry in body["features"].values():
            entry.pop("slope_per_log_speed")
    old = loads(json.dumps(doc))
    assert old.located_otherwise() is not None
    assert json.loads(old.dumps())["schema_version"] == 2
