from __future__ import annotations

import numpy as np
import pytest
from scipy.special import chdtri, chndtrix

from coinval.classifier import (
    FALSE_REJECTION,
    LAUNCH_BATCH_WIDTHS,
    CoinClassifier,
    ledoit_wolf_shrinkage,
    nearness,
)
from coinval.features import FEATURE_NAMES, INDUCTIVE, LOSS_ANGLES, CoinFeatures, extract_signatures
from coinval.profile import regions_from_dict, regions_to_dict
from coinval.signature import Signature
from coinval.teach import teach

COIN = "gb-100-1983"  # round, one metal: its region uses every feature but the edged ones


@pytest.fixture(scope="module")
def taught(shared_samples: dict[str, list[Signature]]):  # type: ignore[no-untyped-def]
    return teach(shared_samples)[0].classifier


def _synthetic(
    rng: np.random.Generator,
    n: int,
    *,
    temps: np.ndarray | None = None,
    speeds: np.ndarray | None = None,
    correlated: float = 0.0,
) -> CoinFeatures:
    """Features of one round coin type: noise of 0.01 around distinct centres, 20 C.

    ``correlated`` couples the inductive levels through a shared term (lift-off
    moves every level of both channels together on a real head).
    """
    base = np.linspace(1.0, 2.0, len(FEATURE_NAMES))
    values = base + 0.01 * rng.standard_normal((n, len(FEATURE_NAMES)))
    if correlated:
        shared = correlated * rng.standard_normal(n)
        for name in ("lo_level", "hi_level", "lo_ring", "lo_core", "hi_ring", "hi_core"):
            values[:, FEATURE_NAMES.index(name)] += shared
    t = np.full(n, 20.0) if temps is None else temps
    return CoinFeatures(values, np.zeros(n, dtype=np.int64), t, speeds)


def test_non_finite_features_are_in_no_region(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    feats = extract_signatures(shared_samples["gb-100-2017"][:1])
    assert taught.deviation(feats).min() <= 1
    for bad in (np.nan, np.inf, -np.inf):
        for column, name in enumerate(FEATURE_NAMES):
            if name in LOSS_ANGLES:
                continue  # the shared samples have none: no region uses them
            values = feats.values.copy()
            values[0, column] = bad
            broken = CoinFeatures(values, feats.edge_count, feats.temperature_c)
            dev = taught.deviation(broken)
            used = taught.used_features()[:, column]
            assert np.isinf(dev[:, used]).all(), name
        hot = CoinFeatures(feats.values, feats.edge_count, np.array([bad]))
        assert np.isinf(taught.deviation(hot)).all()


def test_the_bound_is_chi_square_of_the_features_used_plus_a_launch_budget() -> None:
    rng = np.random.default_rng(1)
    feats = _synthetic(rng, 40)
    circulation = CoinClassifier().fit({COIN: feats})
    launch = CoinClassifier().fit({COIN: feats}, teach_kind={COIN: "launch"})
    dof = int(circulation.used_features()[0].sum())
    # A round one-metal coin: no edge-relative features, no core widths, and no
    # loss angles in these features (they are finite here, so they count).
    assert dof == len(FEATURE_NAMES) - 2 - 2
    expected = float(chdtri(dof, FALSE_REJECTION["standard"]))
    assert circulation.distance_bound(0) == pytest.approx(expected)
    launch_bound = float(chndtrix(1 - FALSE_REJECTION["standard"], dof, LAUNCH_BATCH_WIDTHS**2))
    assert launch.distance_bound(0) == pytest.approx(launch_bound)
    # Another batch several spreads off along one feature: more of it inside the
    # launch region.
    shifted = _synthetic(np.random.default_rng(2), 1000)
    shifted.values[:, FEATURE_NAMES.index("lo_ring")] += 0.068
    in_circulation = (circulation.predict(shifted)[0] == 0).mean()
    assert (launch.predict(shifted)[0] == 0).mean() > in_circulation + 0.1


def test_a_fake_moving_correlated_features_apart_is_refused_inside_every_shadow() -> None:
    """Lift-off moves both channels together; a fake whose channels disagree by as
    much as each moves alone lies inside every per-feature band but outside the
    ellipsoid, which a per-feature box would have accepted."""
    rng = np.random.default_rng(3)
    clf = CoinClassifier().fit({COIN: _synthetic(rng, 60, correlated=0.05)})
    lo, hi = FEATURE_NAMES.index("lo_level"), FEATURE_NAMES.index("hi_level")
    genuine = _synthetic(np.random.default_rng(4), 500, correlated=0.05)
    assert (clf.predict(genuine)[0] == 0).mean() > 0.99
    centre, below, above = clf.bounds(np.array([20.0]))
    fake = _synthetic(np.random.default_rng(5), 500)
    fake.values[:, lo] += 0.2
    fake.values[:, hi] -= 0.2
    inside_shadows = (fake.values[:, [lo, hi]] < centre[0, 0, [lo, hi]] + above[0, 0, [lo, hi]]) & (
        fake.values[:, [lo, hi]] > centre[0, 0, [lo, hi]] - below[0, 0, [lo, hi]]
    )
    assert inside_shadows.all()
    assert (clf.predict(fake)[0] == -1).all()
    assert clf.correlation_[0, lo, hi] > 0.6


def test_shrinkage_follows_the_evidence() -> None:
    rng = np.random.default_rng(7)
    independent = rng.standard_normal((2000, 10))
    assert ledoit_wolf_shrinkage(independent) > 0.5  # nothing to keep: towards identity
    shared = rng.standard_normal((2000, 1))
    coupled = shared + 0.3 * rng.standard_normal((2000, 10))
    assert ledoit_wolf_shrinkage(coupled) < 0.05  # strong, well-measured correlations
    few = shared[:12] + 0.3 * rng.standard_normal((12, 10))
    assert ledoit_wolf_shrinkage(coupled) < ledoit_wolf_shrinkage(few) <= 1.0


def test_predict_agrees_with_deviation_one_coin_or_many() -> None:
    from coinval.features import extract
    from sim.population import generate

    taught = ("gb-100-2017", "gb-200-1997", "gb-100-1983")
    clf = teach({k: generate(k, 30, head="B", seed=1).signatures() for k in taught})[0].classifier
    kinds = (*taught, "cast-round-pound", "euro-1")
    batches = [generate(k, 30, head="B", seed=4, batch=2, wear=0.5, dirt=0.5) for k in kinds]
    feats = CoinFeatures.concat([extract(b) for b in batches])
    dev = clf.deviation(feats)
    expected = np.where(dev.min(axis=1) <= 1.0, dev.argmin(axis=1), -1)
    in_batch, _ = clf.predict(feats)
    assert (in_batch == expected).all()
    one_by_one = [int(clf.predict(feats.rows([i]))[0][0]) for i in range(len(feats))]
    assert one_by_one == expected.tolist()
    assert (expected >= 0).any() and (expected < 0).any()


def _speed_dependent(rng: np.random.Generator, n: int, speeds: np.ndarray) -> CoinFeatures:
    """Eddy features moving with the log of the rolling speed, 20 C."""
    feats = _synthetic(rng, n, speeds=speeds)
    feats.values[:, INDUCTIVE] += 0.2 * np.log(speeds / 400.0)[:, None]
    return feats


def test_a_speed_dependence_is_learned_and_never_extrapolated() -> None:
    rng = np.random.default_rng(2)
    teach_set = _speed_dependent(rng, 60, rng.uniform(300.0, 500.0, 60))
    clf = CoinClassifier().fit({COIN: teach_set})
    cov = clf.covariates_[0]
    # Shrunk towards zero as the prior says: by suu / (suu + n * 0.05^2), about 0.9 here.
    shrink = cov.u_sxx / (cov.u_sxx + 60 * 0.05**2)
    assert clf.speed_slope_[0, INDUCTIVE] == pytest.approx(0.2 * shrink, abs=0.02)
    assert (clf.speed_slope_[0, : INDUCTIVE[0]] == 0).all()  # metrology: no speed term
    # The residual spread is the noise, not the speed's sweep (0.1 over 300-500 mm/s).
    used = clf.used_features()[0]
    assert (clf.scale_[0, used] < 0.015).all()
    slow, fast = (
        _speed_dependent(rng, 200, np.full(200, 310.0)),
        _speed_dependent(rng, 200, np.full(200, 490.0)),
    )
    assert (clf.predict(slow)[0] == 0).mean() > 0.99
    assert (clf.predict(fast)[0] == 0).mean() > 0.99
    # A fast coin's features at a slow coin's speed lie outside: the centre moved.
    swapped = CoinFeatures(fast.values, fast.edge_count, fast.temperature_c, slow.speed_mm_s)
    assert (clf.predict(swapped)[0] == -1).all()
    # Outside the taught speeds the region neither moves on nor grows: a coin at
    # 1e-300 mm/s (valid, absurd) is judged at the slowest taught speed.
    crawl = CoinFeatures(slow.values, slow.edge_count, slow.temperature_c, np.full(200, 1e-300))
    at_edge = CoinFeatures(
        slow.values, slow.edge_count, slow.temperature_c, np.full(200, np.exp(cov.u_min))
    )
    np.testing.assert_allclose(clf.deviation(crawl), clf.deviation(at_edge))
    # Without speeds (features from elsewhere) the centre stays at the teach speed.
    unknown = CoinFeatures(slow.values, slow.edge_count, slow.temperature_c)
    mid = CoinFeatures(
        slow.values, slow.edge_count, slow.temperature_c, np.full(200, np.exp(cov.u_ref))
    )
    np.testing.assert_allclose(clf.deviation(unknown), clf.deviation(mid))


def test_a_coin_far_from_the_taught_temperatures_gets_a_wider_region() -> None:
    """The centre's own uncertainty grows with the distance from the teach
    temperatures, as a regression's prediction interval does: by as much as each
    feature's physical drift allows where a one-day teach could not see it."""
    rng = np.random.default_rng(4)
    n = 60
    feats = _synthetic(rng, n, temps=rng.uniform(15.0, 17.0, n))
    clf = CoinClassifier().fit({COIN: feats})
    _, half_mid, _ = clf.bounds(np.array([16.0]))
    _, half_cold, _ = clf.bounds(np.array([-20.0]))
    used = clf.used_features()[0]
    assert (half_cold[0, 0, used] >= half_mid[0, 0, used]).all()
    levels = [FEATURE_NAMES.index(n) for n in ("lo_level", "hi_level", "lo_ring", "hi_core")]
    # 0.3 %/K of a level near 1.5 over 36 K is 0.16, against a spread of 0.01.
    assert (half_cold[0, 0, levels] > 5.0 * half_mid[0, 0, levels]).all()
    probe = _synthetic(np.random.default_rng(5), 1)
    probe.values[0] = clf.mean_[0] + 3.0 * clf.scale_[0]
    at_mid = CoinFeatures(probe.values, probe.edge_count, np.array([16.0]))
    at_cold = CoinFeatures(probe.values, probe.edge_count, np.array([-20.0]))
    assert clf.distance(at_cold)[0, 0] < clf.distance(at_mid)[0, 0]


def test_an_unread_loss_angle_is_left_out_not_held_against_the_coin() -> None:
    rng = np.random.default_rng(8)
    clf = CoinClassifier().fit({COIN: _synthetic(rng, 60)})
    assert clf.requires_loss
    genuine = _synthetic(np.random.default_rng(9), 200)
    weak = genuine.values.copy()
    weak[:, FEATURE_NAMES.index("hi_core_loss_angle")] = np.nan
    unread = CoinFeatures(weak, genuine.edge_count, genuine.temperature_c)
    assert (clf.predict(unread)[0] == 0).mean() > 0.99
    # ... while a measured feature that is missing refuses the coin.
    weak[:, FEATURE_NAMES.index("lo_level")] = np.nan
    broken = CoinFeatures(weak, genuine.edge_count, genuine.temperature_c)
    assert (clf.predict(broken)[0] == -1).all()


def test_a_refusal_names_the_measurement_and_how_far(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    feats = extract_signatures(shared_samples["gb-100-2017"][:3])
    column = FEATURE_NAMES.index("hi_vs_lo_ring")
    pound = taught.coins_.index("gb-100-2017")
    feats.values[:, column] -= 12.0 * taught.scale_[pound, column]
    assert (taught.predict(feats)[0] == -1).all()
    for words in taught.explain(feats):
        assert words.startswith("nearest gb-100-2017: hi_vs_lo_ring ")
        assert "widths low" in words
    only = teach({"gb-100-2017": shared_samples["gb-100-2017"]})[0].classifier
    edges = CoinFeatures(feats.values, np.full(3, 9), feats.temperature_c)
    assert all(": 9 edges on the rim where gb-100-2017 has 12" in w for w in only.explain(edges))


def test_regions_survive_saving_and_loading(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    again = regions_from_dict(regions_to_dict(taught))
    feats = extract_signatures([s for sigs in shared_samples.values() for s in sigs])
    np.testing.assert_allclose(again.deviation(feats), taught.deviation(feats), rtol=1e-12)
    doc = regions_to_dict(taught)["gb-100-2017"]
    assert set(doc["provenance"]) >= {"widths", "bound", "temperature", "batches"}


def test_milled_all_round_or_plain_is_not_a_new_pound_even_on_a_noisy_gauge() -> None:
    """Head B's coarse, noisy rim gauge blurs how much milling there is; whether it
    alternates side to side is a geometric fact the classifier requires."""
    from coinval.features import extract
    from sim.population import generate

    coins = ("gb-100-2017", "gb-100-1983")
    clf = teach(
        {k: generate(k, 60, head="B", seed=5, wear=0.5, dirt=0.5).signatures() for k in coins}
    )[0].classifier
    pound = clf.coins_.index("gb-100-2017")
    assert clf.alternate_milling_[pound]
    for fake in ("milled-all-sides", "plain-edge-12-sided"):
        feats = extract(generate(fake, 400, head="B", seed=9, wear=0.5, dirt=0.5))
        index, _ = clf.predict(feats)
        assert (index == pound).mean() < 0.05, fake


def test_nearness_names_every_other_coin_closest_first(taught, shared_samples) -> None:  # type: ignore[no-untyped-def]
    feats = extract_signatures(shared_samples["gb-100-2017"])
    near = nearness(taught, "gb-100-2017", feats)
    assert sorted(n.coin for n in near) == sorted(set(taught.coins_) - {"gb-100-2017"})
    closest = [
        np.inf if n.closest_sample_deviation is None else n.closest_sample_deviation for n in near
    ]
    assert closest == sorted(closest)
    dev = taught.deviation(feats)
    for n in near:
        c = taught.coins_.index(n.coin)
        assert n.samples_inside_its_region == int((dev[:, c] <= 1.0).sum())
        assert not n.conflict  # six distinct coins, none inside another's region


def test_two_regions_fitted_from_the_same_coins_conflict() -> None:
    feats = _synthetic(np.random.default_rng(11), 40)
    clf = CoinClassifier().fit({COIN: feats, "gb-020-1982": feats})
    (other,) = nearness(clf, COIN, feats)
    assert other.coin == "gb-020-1982" and other.conflict
    assert other.its_centre_deviation == pytest.approx(0.0, abs=1e-9)
    assert other.samples_inside_its_region == (clf.deviation(feats)[:, 1] <= 1.0).sum() > 35
