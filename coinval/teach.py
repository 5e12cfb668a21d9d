"""Teaching: from genuine coins of one head to a profile, with teach-set hygiene.

A teach file may hold a stray coin of another type, a counterfeit, or be the
wrong file altogether.  Checks use only geometric facts from the catalogue
(nominal diameter, thickness, edge count) and the teach set's own spread:

* the file as a whole must look like the coin it claims to be, else teaching
  is refused;
* single coins far from the rest are named and dropped with a warning, or,
  when too many, teaching is refused: the file is a mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from coinval.batch import group_by_shape
from coinval.catalogue import CoinSpec
from coinval.catalogue import coin as catalogue_coin
from coinval.classifier import CoinClassifier, SecurityLevel, TeachKind
from coinval.features import (
    CORE_WIDTHS,
    EDGED_ONLY,
    FEATURE_NAMES,
    LOSS_ANGLES,
    MILLING_FIRST_HARMONIC,
    CoinFeatures,
    extract_signatures,
    milling_visibility,
)
from coinval.no_coin import NoCoinLevels, fit_no_coin_levels
from coinval.profile import Profile
from coinval.signature import Signature

MIN_COINS = 5
RECOMMENDED_COINS = 20
# Coins further than this many robust deviations from the teach set's own
# temperature trend, on any feature, are outliers (genuine spread is ~3).
OUTLIER_Z = 12.0
# More than this share of outliers means the file is a mix, not a few strays.
MAX_OUTLIER_SHARE = 0.2
# Whole-file checks against nominal metrology (wear, batches and the gauge all
# move a real coin by far less than this).
NOMINAL_DIAMETER_TOL = 0.07
NOMINAL_THICKNESS_TOL = 0.2
# Below this milling-band energy over the gauge's noise (median of the teach
# coins) a milled coin's milling is read unreliably: plain and all-round fakes
# then pass for the new pound on 0.25-1.75 % of tries (README, heads B, D).
MILLING_VISIBLE = 5.0
# A teach spread over fewer kelvin than this measures no temperature slope.
TEMPERATURE_SPAN_K = 10.0


class TeachError(ValueError):
    """Teaching refused, with the reason."""


@dataclass
class TeachReport:
    """What teaching found about each coin's file."""

    warnings: list[str] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)


def _shape_problem(spec: CoinSpec, feats: CoinFeatures) -> str | None:
    """Why this file does not look like ``spec`` at all, or None."""
    diam = float(np.median(feats.values[:, FEATURE_NAMES.index("diameter_mm")]))
    thick = float(np.median(feats.values[:, FEATURE_NAMES.index("thickness_mm")]))
    # A polygon's mean radius lies between across-flats and point-to-point.
    nominal = spec.diameter_mm * (0.985 if spec.shape != "round" else 1.0)
    if abs(diam / nominal - 1) > NOMINAL_DIAMETER_TOL:
        return f"median diameter {diam:.2f} mm, but {spec.id} is {spec.diameter_mm:.2f} mm"
    if abs(thick / spec.thickness_mm - 1) > NOMINAL_THICKNESS_TOL:
        return f"median thickness {thick:.2f} mm, but {spec.id} is {spec.thickness_mm:.2f} mm"
    counts = np.bincount(feats.edge_count, minlength=17)
    if spec.sides:
        share = counts[spec.sides] / len(feats)
        if share < 0.5:
            mode = int(np.argmax(counts))
            return f"the rims show {mode} edges, but {spec.id} has {spec.sides} sides"
    else:
        # A round coin's strongest harmonic wanders; a steady one (other than
        # ellipticity, harmonic 2) is an edged coin.
        counts[2] = 0
        if counts.max() >= 0.8 * len(feats):
            return f"the rims show {int(np.argmax(counts))} edges, but {spec.id} is round"
    return None


def _outliers(feats: CoinFeatures, spec: CoinSpec) -> np.ndarray:
    """Boolean mask of coins far from the rest of their teach set, shape (n,)."""
    # Loss angles are left out: a head without loss traces has none, and a channel
    # that all but loses the coin reads none on some coins, which are not strays
    # (the classifier leaves an unread angle out, and a coin's region uses an
    # angle only where every teach coin read it).
    loss = np.array([name in LOSS_ANGLES for name in FEATURE_NAMES])
    measured: np.ndarray = np.asarray(~loss, dtype=bool)
    x, t = feats.values[:, measured], feats.temperature_c
    names = [name for name, m in zip(FEATURE_NAMES, measured.tolist(), strict=True) if m]
    # A coin whose features are not all finite (an absurd but in-range
    # signature) can teach nothing: it is an outlier before any statistics.
    bad: np.ndarray = np.asarray(~np.isfinite(x).all(axis=1), dtype=bool)
    if spec.sides:
        bad |= feats.edge_count != spec.sides
    for _ in range(2):
        keep = ~bad
        if keep.sum() < 3:
            break
        dt = t - np.median(t[keep])
        slope = np.array(
            [
                np.polyfit(dt[keep], x[keep, j], 1)[0] if np.ptp(dt[keep]) > 1 else 0.0
                for j in range(x.shape[1])
            ]
        )
        resid = x - np.outer(dt, slope)
        med = np.median(resid[keep], axis=0)
        mad = 1.4826 * np.median(np.abs(resid[keep] - med), axis=0)
        spread = np.std(resid[keep], axis=0)
        scale = np.maximum(np.maximum(mad, 0.2 * spread), 1e-6 * np.abs(med) + 1e-9)
        z = np.abs(resid - med) / scale
        if not spec.sides:
            z[:, [names.index(name) for name in EDGED_ONLY]] = 0.0
        if not spec.bimetal:
            # A one-metal coin's "core" is the noise on its flat top, never checked.
            z[:, [names.index(name) for name in CORE_WIDTHS]] = 0.0
        bad = bad | (z.max(axis=1) > OUTLIER_Z)
    return bad


def screen(
    spec: CoinSpec,
    feats: CoinFeatures | None,
    ids: Sequence[str],
    *,
    drop_outliers: bool = True,
) -> np.ndarray:
    """The teach set's strays, after the whole-set checks: a boolean mask, shape (n,).

    Parameters
    ----------
    spec : CoinSpec
        The coin the set claims to be.
    feats : CoinFeatures or None
        The set's features, n rows; None when there are fewer than
        :data:`MIN_COINS` coins (nothing to extract).
    ids : sequence of str
        A name for each coin, used in the messages.

    Raises
    ------
    TeachError
        Too few coins, a set that does not look like ``spec``, more strays
        than :data:`MAX_OUTLIER_SHARE` (a mix), or strays when
        ``drop_outliers`` is False.
    """
    if feats is None or len(feats) < MIN_COINS:
        raise TeachError(f"{spec.id}: {len(ids)} coins; at least {MIN_COINS} are needed")
    problem = _shape_problem(spec, feats)
    if problem:
        raise TeachError(f"{spec.id}: this does not look like {spec.name}: {problem}")
    bad = _outliers(feats, spec)
    if bad.any():
        named = [ids[int(i)] for i in np.flatnonzero(bad)]
        if bad.mean() > MAX_OUTLIER_SHARE:
            raise TeachError(
                f"{spec.id}: {int(bad.sum())} of {len(ids)} coins do not match the rest "
                f"(another coin type or counterfeits mixed in?): {', '.join(named[:10])}"
            )
        if not drop_outliers:
            raise TeachError(f"{spec.id}: outliers found: {', '.join(named)}")
    return bad


def screening_warnings(spec: CoinSpec, kept: int, dropped: Sequence[str]) -> list[str]:
    """What :func:`screen`'s outcome tells the operator: strays dropped, too few coins."""
    out = []
    if dropped:
        out.append(
            f"{spec.id}: dropped {len(dropped)} coin(s) unlike the rest: {', '.join(dropped)}"
        )
    if kept < RECOMMENDED_COINS:
        out.append(
            f"{spec.id}: only {kept} coins; {RECOMMENDED_COINS} or more give "
            "a reliable acceptance region"
        )
    return out


def narrow_temperature_warning(fitted: Mapping[str, CoinFeatures]) -> list[str]:
    """One warning naming the coins taught over too few kelvin to show a slope."""
    narrow = [
        f"{coin} {f.temperature_c.min():.1f}-{f.temperature_c.max():.1f} C"
        for coin, f in fitted.items()
        if float(np.ptp(f.temperature_c)) < TEMPERATURE_SPAN_K
    ]
    if not narrow:
        return []
    return [
        f"taught over less than {TEMPERATURE_SPAN_K:.0f} K ({', '.join(narrow)}): how these "
        "coins change with temperature is not measured, so coins much colder or hotter are "
        "judged with generic drift bounds, which let more fakes through. Teach with coins "
        "inserted over a wider range of temperatures (several days) where you can"
    ]


def _milling_warnings(
    spec: CoinSpec, sigs: Sequence[Signature], *, required_alternate: bool
) -> list[str]:
    """What this head's rim gauge cannot check of a milled coin: said, not refused."""
    if "milled" not in spec.edge:
        return []
    by_length: dict[int, list[np.ndarray]] = {}
    for sig in sigs:
        by_length.setdefault(sig.rim.shape[0], []).append(sig.rim)
    visibility = float(
        np.median(np.concatenate([milling_visibility(np.stack(r)) for r in by_length.values()]))
    )
    out: list[str] = []
    fewest = min(by_length)
    coarse = fewest // 2 + 1 <= MILLING_FIRST_HARMONIC
    if coarse:
        out.append(
            f"{spec.id}: this head's rim gauge has too few samples a turn to see milling "
            f"({fewest}): fakes milled otherwise or not at all are not told from it "
            "by the rim"
        )
    elif visibility < MILLING_VISIBLE:
        out.append(
            f"{spec.id}: this head's rim gauge sees the milling at only {visibility:.1f} times "
            f"its noise (median of the teach coins; {MILLING_VISIBLE:.0f} or more reads it "
            "reliably): worn coins may be refused, and fakes milled otherwise or not at all "
            "accepted. A rim gauge with more samples a turn or less noise reads it better"
        )
    if not coarse and "alternate" in spec.edge and not required_alternate:
        out.append(
            f"{spec.id}: milled on alternate sides, but too few teach coins show it on this "
            "head, so it is not required: fakes milled all round are not told from it by "
            "the rim"
        )
    return out


def teach(
    samples: Mapping[str, Sequence[Signature]],
    *,
    head: str | None = None,
    security: Mapping[str, SecurityLevel] | None = None,
    drop_outliers: bool = True,
    launch: bool | Sequence[str] = False,
) -> tuple[Profile, TeachReport]:
    """Build a profile from genuine coins.

    Parameters
    ----------
    samples : mapping of coin id to sequence of Signature
        Genuine coins of each type, on one head, at the day's temperature.
    head : str, optional
        Sensor head serial recorded in the profile.
    security : mapping of coin id to security level, optional
    drop_outliers : bool
        Drop stray coins with a warning (default) or refuse the whole teach.
    launch : bool or sequence of coin ids
        Coins whose teach coins all come from one mint batch (a launch teach):
        True for every coin.  Their regions get the launch batch budget
        (``coinval.classifier.LAUNCH_BATCH_WIDTHS``); the others are taught
        as coins from circulation, whose spread holds several batches.

    Raises
    ------
    TeachError
        Unknown coin id, too few coins, a file that is another coin, or a mix.
    """
    report = TeachReport()
    no_coin = _no_coin_levels([sig for sigs in samples.values() for sig in sigs])
    fitted: dict[str, CoinFeatures] = {}
    kept: dict[str, list[Signature]] = {}
    for coin_id, sigs in samples.items():
        try:
            spec = catalogue_coin(coin_id)
        except KeyError as exc:
            raise TeachError(str(exc.args[0])) from None
        feats = extract_signatures(sigs, no_coin) if len(sigs) >= MIN_COINS else None
        ids = [sig.id or f"#{i + 1}" for i, sig in enumerate(sigs)]
        bad = screen(spec, feats, ids, drop_outliers=drop_outliers)
        assert feats is not None
        dropped = [ids[int(i)] for i in np.flatnonzero(bad)]
        if dropped:
            report.dropped[coin_id] = dropped
        report.warnings.extend(screening_warnings(spec, len(feats) - len(dropped), dropped))
        feats = feats.rows(~bad)
        fitted[coin_id] = feats
        # The gauge's reading of the milling is judged on the coins kept, not on
        # strays or absurd rims that say nothing about this head.
        kept[coin_id] = [sig for sig, stray in zip(sigs, bad, strict=True) if not stray]
    if not fitted:
        raise TeachError("no coins to teach")
    launched = set(samples) if launch is True else set(launch or ())
    kinds: dict[str, TeachKind] = {
        coin: ("launch" if coin in launched else "circulation") for coin in fitted
    }
    clf = CoinClassifier().fit(fitted, security, kinds)
    report.warnings.extend(narrow_temperature_warning(fitted))
    for c, coin_id in enumerate(clf.coins_):
        report.warnings.extend(
            _milling_warnings(
                catalogue_coin(coin_id),
                kept[coin_id],
                required_alternate=bool(clf.alternate_milling_[c]),
            )
        )
    if (
        fitted
        and not clf.requires_loss
        and any(sig.has_loss for sigs in kept.values() for sig in sigs)
    ):
        report.warnings.append(
            "some teach coins came without loss traces: taught on the reactive traces only"
        )
    notes = {
        coin: {
            "n_samples": len(fitted[coin]),
            "dropped": report.dropped.get(coin, []),
            "teach": kinds[coin],
        }
        for coin in fitted
    }
    profile = Profile(classifier=clf, head=head, teach_notes=notes, no_coin=no_coin)
    return profile, report


def _no_coin_levels(signatures: Sequence[Signature]) -> NoCoinLevels:
    """The head's no-coin levels from every teach coin's clean ends."""
    return fit_no_coin_levels(
        (
            (
                (batch.eddy_lo, batch.eddy_hi, batch.eddy_lo_loss, batch.eddy_hi_loss),
                batch.temperature_c,
            )
            for _, batch in group_by_shape(signatures)
        )
    )
