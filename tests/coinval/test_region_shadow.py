"""A region's shadow on two features (coinval.classifier.projection): what a teach preview draws."""

from __future__ import annotations

import numpy as np
import pytest

from coinval.classifier import (
    CoinClassifier,
    moved_to,
    pair_deviation,
    region_shadow,
    separating_pair,
)
from coinval.features import FEATURE_NAMES, CoinFeatures

COIN = "gb-100-1983"  # round, one metal: no edge-relative features, no core widths
PAIR = ("lo_level", "hi_level")  # correlated through the shared lift-off term below
T0, U0 = 24.0, 450.0
LO, HI = FEATURE_NAMES.index(PAIR[0]), FEATURE_NAMES.index(PAIR[1])


def _coins(rng: np.random.Generator, n: int) -> CoinFeatures:
    """One coin type over 5-30 C and 300-600 mm/s, its levels drifting with both."""
    base = np.linspace(1.0, 2.0, len(FEATURE_NAMES))
    values = base + 0.01 * rng.standard_normal((n, len(FEATURE_NAMES)))
    temps = rng.uniform(5.0, 30.0, n)
    speeds = rng.uniform(300.0, 600.0, n)
    shared = 0.03 * rng.standard_normal(n)
    for name in ("lo_level", "hi_level", "lo_ring", "hi_ring"):
        k = FEATURE_NAMES.index(name)
        values[:, k] += shared + 0.002 * (temps - 20.0) + 0.05 * np.log(speeds / 400.0)
    return CoinFeatures(values, np.zeros(n, dtype=np.int64), temps, speeds)


@pytest.fixture(scope="module")
def clf() -> CoinClassifier:
    return CoinClassifier().fit({COIN: _coins(np.random.default_rng(1), 80)})


def _at(values: np.ndarray, t: float = T0, u: float | None = U0) -> CoinFeatures:
    n = values.shape[0]
    return CoinFeatures(
        values,
        np.zeros(n, dtype=np.int64),
        np.full(n, t),
        None if u is None else np.full(n, u),
    )


def _affine(
    clf: CoinClassifier, t: float = T0, u: float | None = U0
) -> tuple[np.ndarray, np.ndarray]:
    """The region's centre and predicted spread over every feature, read off the classifier.

    Its standardised residual is ``(x - centre) / spread`` on each used feature:
    two probes give both, independently of the projection's own arithmetic.
    Unused features keep the region's mean and a spread of 0.
    """
    used = clf.used_[0]
    probe = clf.mean_[0].copy()
    z0 = clf._standardised(_at(probe[None], t, u))[0, 0]
    z1 = clf._standardised(_at((probe + clf.scale_[0])[None], t, u))[0, 0]
    spread = np.where(used, clf.scale_[0] / np.where(used, z1 - z0, 1.0), 0.0)
    return probe - z0 * spread, spread


def _centre(clf: CoinClassifier, t: float = T0, u: float | None = U0) -> np.ndarray:
    return _affine(clf, t, u)[0]


def _boundary(clf: CoinClassifier, directions: np.ndarray) -> np.ndarray:
    """Points on the region's boundary (squared distance = bound) along standardised directions.

    A direction ``e`` in predicted spreads goes to ``z = R e``, scaled so that
    ``z' R^-1 z`` is the bound, then to the features' units.
    """
    used = np.flatnonzero(clf.used_[0])
    corr = clf.correlation_[0][np.ix_(used, used)]
    centre, spread = _affine(clf)
    out = np.repeat(centre[None], len(directions), axis=0)
    for k, e in enumerate(directions):
        z = corr @ e[used]
        z *= np.sqrt(clf.distance_bound(0) / (z @ np.linalg.solve(corr, z)))
        out[k, used] += spread[used] * z
    return out


def test_the_centre_is_inside_and_the_outline_is_at_the_bound(clf: CoinClassifier) -> None:
    shadow = region_shadow(clf, COIN, PAIR, T0, U0)
    centre = _centre(clf)
    assert clf.distance(_at(centre[None]))[0, 0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(shadow.centre, centre[[LO, HI]], rtol=1e-12)
    assert shadow.deviation(shadow.centre[None])[0] == pytest.approx(0.0)
    assert shadow.outline.shape == (72, 2)
    np.testing.assert_allclose(shadow.deviation(shadow.outline), 1.0, rtol=1e-9)
    # The two levels share lift-off: the outline leans along the diagonal, it is no box.
    assert clf.correlation_[0, LO, HI] > 0.5
    spread = shadow.outline - shadow.centre
    assert np.corrcoef(spread.T)[0, 1] > 0.5


def test_points_on_the_region_boundary_map_onto_or_inside_the_outline(
    clf: CoinClassifier,
) -> None:
    shadow = region_shadow(clf, COIN, PAIR, T0, U0)
    rng = np.random.default_rng(7)
    anywhere = _boundary(clf, rng.standard_normal((300, len(FEATURE_NAMES))))
    # On the boundary by the classifier's own distance, at that temperature and speed.
    np.testing.assert_allclose(clf.distance(_at(anywhere))[:, 0], clf.distance_bound(0), rtol=1e-9)
    assert (shadow.deviation(anywhere[:, [LO, HI]]) <= 1.0 + 1e-9).all()
    assert (shadow.deviation(anywhere[:, [LO, HI]]) < 0.99).any()  # most lie inside the shadow
    # The boundary's furthest points in the plane of the pair lie on the outline itself.
    angles = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    flat = np.zeros((24, len(FEATURE_NAMES)))
    flat[:, LO], flat[:, HI] = np.cos(angles), np.sin(angles)
    # _boundary's ``R e`` is the ellipsoid's furthest point along ``e``: along a
    # direction in the pair's plane, the shadow's edge is that point's projection.
    extremes = _boundary(clf, flat)
    np.testing.assert_allclose(shadow.deviation(extremes[:, [LO, HI]]), 1.0, rtol=1e-6)


def test_the_outline_spans_the_regions_shadow_on_each_axis(clf: CoinClassifier) -> None:
    # At the taught speed, CoinClassifier.bounds gives the same shadow one axis at a time.
    shadow = region_shadow(clf, COIN, PAIR, T0, None, n_points=3600)
    centre, below, above = clf.bounds(np.array([T0]))
    for axis, k in enumerate((LO, HI)):
        assert shadow.centre[axis] == pytest.approx(centre[0, 0, k], rel=1e-12)
        assert shadow.outline[:, axis].max() == pytest.approx(
            centre[0, 0, k] + above[0, 0, k], rel=1e-5
        )
        assert shadow.outline[:, axis].min() == pytest.approx(
            centre[0, 0, k] - below[0, 0, k], rel=1e-5
        )


def test_the_centre_moves_with_temperature_and_coins_are_moved_with_it(
    clf: CoinClassifier,
) -> None:
    warm = region_shadow(clf, COIN, PAIR, 30.0, U0)
    cold = region_shadow(clf, COIN, PAIR, 5.0, U0)
    assert (warm.centre - cold.centre > 0.02).all()  # 0.002 a kelvin over 25 K, learned
    # The region's cold centre, moved to 30 C, is its warm centre.
    moved = moved_to(clf, COIN, _at(_centre(clf, 5.0)[None], 5.0), 30.0, U0)
    np.testing.assert_allclose(moved[0, [LO, HI]], warm.centre, rtol=1e-9)


def test_pair_deviation_is_the_shadows_own(clf: CoinClassifier) -> None:
    coins = _coins(np.random.default_rng(3), 50)
    at_t0 = CoinFeatures(coins.values, coins.edge_count, np.full(50, T0), np.full(50, U0))
    dev = pair_deviation(clf, COIN, at_t0)
    assert dev.shape == (50, len(FEATURE_NAMES), len(FEATURE_NAMES))
    shadow = region_shadow(clf, COIN, PAIR, T0, U0)
    np.testing.assert_allclose(dev[:, LO, HI], shadow.deviation(coins.values[:, [LO, HI]]))
    np.testing.assert_allclose(dev[:, LO, HI], dev[:, HI, LO])
    assert np.isnan(dev[:, LO, LO]).all()
    unused = FEATURE_NAMES.index("edge_sharpness")  # a round coin's region leaves it out
    assert np.isnan(dev[:, unused, LO]).all()


def test_the_pair_chosen_is_the_one_the_other_coins_are_moved_apart_on(
    clf: CoinClassifier,
) -> None:
    a, b = FEATURE_NAMES.index("thickness_mm"), FEATURE_NAMES.index("hi_vs_lo_core")
    others = _coins(np.random.default_rng(4), 40)
    others.values[:, a] += 0.08
    others.values[:, b] -= 0.08
    assert separating_pair(clf, COIN, others) == ("thickness_mm", "hi_vs_lo_core")
    # Far coins of another size do not choose: the nearest ones do.
    far = _coins(np.random.default_rng(5), 200)
    far.values[:, FEATURE_NAMES.index("diameter_mm")] += 5.0
    mixed = CoinFeatures.concat([others, far])
    assert separating_pair(clf, COIN, mixed, neighbours=40) == ("thickness_mm", "hi_vs_lo_core")
    # Taken all together, only a pair with diameter keeps them all out.
    assert "diameter_mm" in (separating_pair(clf, COIN, mixed, neighbours=240) or ())
    # The closest coin has its say: a nearer one moved on two other features
    # makes the pair one of each, the one on which neither group is inside.
    near = _coins(np.random.default_rng(8), 1)
    near.values[:, FEATURE_NAMES.index("lo_ring")] += 0.05
    near.values[:, FEATURE_NAMES.index("hi_ring")] -= 0.05
    pair = separating_pair(clf, COIN, CoinFeatures.concat([others, near]))
    assert pair is not None
    assert set(pair) & {"thickness_mm", "hi_vs_lo_core"} and set(pair) & {"lo_ring", "hi_ring"}


def test_no_pair_without_coins_measured_on_the_region(clf: CoinClassifier) -> None:
    nothing = _coins(np.random.default_rng(6), 3)
    nothing.values[:] = np.nan
    assert separating_pair(clf, COIN, nothing) is None
    assert separating_pair(clf, COIN, nothing.rows(np.zeros(0, dtype=np.int64))) is None


def test_a_pair_must_be_two_features_of_the_region(clf: CoinClassifier) -> None:
    with pytest.raises(ValueError, match="twice"):
        region_shadow(clf, COIN, ("lo_level", "lo_level"), T0)
    with pytest.raises(ValueError, match="does not use edge_sharpness"):
        region_shadow(clf, COIN, ("lo_level", "edge_sharpness"), T0)
