"""The calibration profile: a portable, versioned JSON document.

``coinval teach`` writes it, ``coinval classify`` and the serial bridge read it,
and the calibration service imports and exports exactly this format.  Loading
validates everything, so a corrupt, truncated or too-new file is refused with
a message that says what is wrong, never half-used.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval import __version__
from coinval.catalogue import coins as catalogue_coins
from coinval.classifier import SECURITY_LEVELS, TEACH_KINDS, CoinClassifier
from coinval.classifier.drift import Covariates
from coinval.classifier.fitting import Region
from coinval.features import CORE_WIDTHS, EDGED_ONLY, FEATURE_NAMES, INDUCTIVE, LOSS_ANGLES
from coinval.no_coin import CHANNELS as NO_COIN_CHANNELS
from coinval.no_coin import NoCoinLevels

FORMAT = "coinval-profile"
EDDY_NAMES = frozenset(FEATURE_NAMES[i] for i in INDUCTIVE) | set(CORE_WIDTHS) | set(LOSS_ANGLES)
# More teach coins than any field teach uses; bounds what a hand-edited file may claim.
MAX_TEACH_COINS = 1_000_000
# 3: Mahalanobis regions (per-coin "correlation", "shrinkage", "teach"), loss
# ratios.  Versions 1 and 2 held fixed allowances around the teach coins: they are
# refused with a message to teach again, never decided with another meaning.
SCHEMA_VERSION = 3


class ProfileError(ValueError):
    """A profile that cannot be used, with the reason."""


@dataclass(frozen=True)
class Profile:
    """A sensor head's calibration: fitted regions plus operator settings.

    Attributes
    ----------
    classifier : CoinClassifier
        Fitted acceptance regions, one per taught coin.
    head : str or None
        Serial of the sensor head it was taught on.
    created : str
        ISO 8601 creation time (UTC).
    inhibited : frozenset of str
        Coins the operator has inhibited.
    legal_tender_override : dict of str to bool
        Per coin: True accepts it outside its legal-tender dates, False refuses
        it inside them.  Absent coins follow the schedule.
    teach_notes : dict of str to dict
        Per coin: teach-set hygiene results (dropped ids, warnings).
    no_coin : NoCoinLevels or None
        The head's no-coin level of each eddy trace, read off the teach coins'
        clean ends: what a coin overflowing the eddy window is measured against.
    """

    classifier: CoinClassifier
    head: str | None = None
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    inhibited: frozenset[str] = frozenset()
    legal_tender_override: dict[str, bool] = field(default_factory=dict)
    teach_notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    no_coin: NoCoinLevels | None = None

    @property
    def requires_loss(self) -> bool:
        """Whether coins must come with loss traces (some region was taught with them)."""
        return self.classifier.requires_loss

    @property
    def coins(self) -> list[str]:
        """Taught coin ids, in ccTalk position order (position 1 first)."""
        return list(self.classifier.coins_)

    def with_settings(
        self,
        *,
        inhibited: frozenset[str] | None = None,
        legal_tender_override: dict[str, bool] | None = None,
    ) -> Profile:
        """A copy with operator settings changed."""
        return replace(
            self,
            inhibited=self.inhibited if inhibited is None else inhibited,
            legal_tender_override=(
                self.legal_tender_override
                if legal_tender_override is None
                else legal_tender_override
            ),
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "engine_version": __version__,
            "created": self.created,
            "head": self.head,
            "feature_names": list(FEATURE_NAMES),
            "coins": regions_to_dict(self.classifier),
            "inhibited": sorted(self.inhibited),
            "legal_tender_override": dict(sorted(self.legal_tender_override.items())),
            "teach_notes": self.teach_notes,
            "no_coin": None if self.no_coin is None else self.no_coin.to_dict(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json_dict(), indent=1, allow_nan=False) + "\n"

    def save(self, path: str | Path) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(self.dumps(), encoding="utf-8")
        tmp.replace(target)


def regions_to_dict(classifier: CoinClassifier) -> dict[str, Any]:
    """The ``"coins"`` block of a profile: each fitted region, JSON-ready.

    Only the features a region judges are written; :func:`regions_from_dict`
    gives the others the values of a feature no region uses.
    """
    clf = classifier
    out: dict[str, Any] = {}
    for c, coin in enumerate(clf.coins_):
        cv = clf.covariates_[c]
        used = np.flatnonzero(clf.used_[c])
        corr = clf.correlation_[c][np.ix_(used, used)]
        out[coin] = {
            "n_samples": int(clf.n_samples_[c]),
            "security": clf.security_[c],
            "teach": clf.teach_kind_[c],
            "edge_count": int(clf.edge_count_[c]),
            "milling": "alternate" if clf.alternate_milling_[c] else "any",
            "temperature": {
                "ref_c": cv.t_ref,
                "min_c": cv.t_min,
                "max_c": cv.t_max,
                "sxx": cv.t_sxx,
            },
            "speed": {
                "ref_log_mm_s": cv.u_ref,
                "min_log_mm_s": cv.u_min,
                "max_log_mm_s": cv.u_max,
                "sxx": cv.u_sxx,
                "sxy_with_temperature": cv.tu_sxy,
            },
            "features": {
                FEATURE_NAMES[j]: {
                    "mean": float(clf.mean_[c, j]),
                    "slope_per_k": float(clf.slope_[c, j]),
                    "slope_per_log_speed": float(clf.speed_slope_[c, j]),
                    "scale": float(clf.scale_[c, j]),
                    "drift_per_k": float(clf.drift_prior_[c, j]),
                }
                for j in used
            },
            "correlation": corr.tolist(),
            "shrinkage": float(clf.shrinkage_[c]),
            "distance_bound": clf.distance_bound(c),
            "provenance": clf.provenance(c),
        }
    return out


def regions_from_dict(regions: Mapping[str, Mapping[str, Any]]) -> CoinClassifier:
    """The fitted classifier of a ``"coins"`` block (:func:`regions_to_dict`, validated).

    A feature a region does not judge is absent from its block: centre and
    slopes 0, spread 1, no correlation, as :meth:`CoinClassifier.fit` leaves
    it.  ``drift_per_k`` and ``distance_bound`` are written for the reader and
    derived again from the centres and the security level.
    """
    return CoinClassifier.from_regions([_region(coin, body) for coin, body in regions.items()])


def _region(coin: str, body: Mapping[str, Any]) -> Region:
    """One coin's region from its validated block."""
    feats = body["features"]
    used = np.array([name in feats for name in FEATURE_NAMES], dtype=bool)

    def column(key: str, absent: float) -> npt.NDArray[np.float64]:
        return np.array(
            [feats[name][key] if name in feats else absent for name in FEATURE_NAMES],
            dtype=np.float64,
        )

    correlation = np.eye(len(FEATURE_NAMES))
    correlation[np.ix_(used, used)] = np.array(body["correlation"], dtype=np.float64)
    t, u = body["temperature"], body["speed"]
    return Region(
        coin=coin,
        n_samples=body["n_samples"],
        security=body["security"],
        teach_kind=body["teach"],
        edge_count=body["edge_count"],
        alternate_milling=body["milling"] == "alternate",
        used=used,
        covariates=Covariates(
            t_ref=float(t["ref_c"]),
            t_min=float(t["min_c"]),
            t_max=float(t["max_c"]),
            t_sxx=float(t["sxx"]),
            u_ref=float(u["ref_log_mm_s"]),
            u_min=float(u["min_log_mm_s"]),
            u_max=float(u["max_log_mm_s"]),
            u_sxx=float(u["sxx"]),
            tu_sxy=float(u["sxy_with_temperature"]),
        ),
        mean=column("mean", 0.0),
        slope_t=column("slope_per_k", 0.0),
        slope_u=column("slope_per_log_speed", 0.0),
        scale=column("scale", 1.0),
        correlation=correlation,
        shrinkage=float(body["shrinkage"]),
    )


def merge_coin(
    base: Profile | None, taught: Profile, coin: str, head: str, created: str
) -> Profile:
    """``base`` with ``coin``'s region replaced (or added) by the one in ``taught``.

    The other coins' regions, settings and positions are kept as they are; a
    new coin takes the next position.  With no ``base``, ``taught`` itself
    (with ``head`` where it names none).

    Parameters
    ----------
    base : Profile or None
        The head's profile the coin is taught into.
    taught : Profile
        A profile holding ``coin``'s new region and teach notes.
    coin : str
    head : str
        The head's serial, for a profile that names none.
    created : str
        ISO 8601 creation time of the result.

    Raises
    ------
    ProfileError
        When the result is not a valid profile (e.g. a 17th coin).
    """
    fresh = taught.to_json_dict()
    if base is None:
        doc = fresh
        doc["head"] = doc.get("head") or head
    else:
        doc = base.to_json_dict()
        doc["coins"] = {**doc["coins"], coin: fresh["coins"][coin]}
        doc["teach_notes"] = {**doc.get("teach_notes", {}), coin: fresh["teach_notes"][coin]}
    doc["created"] = created
    return profile_from_json_dict(doc)


def _need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ProfileError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProfileError(f"{where}: {key!r} has the wrong type")
    return value


def _finite(obj: Mapping[str, Any], key: str, where: str) -> float:
    value = _need(obj, key, (int, float), where)
    try:
        number = float(value)  # an integer too big for a float overflows here
    except OverflowError:
        raise ProfileError(f"{where}: {key!r} is out of range") from None
    if not math.isfinite(number):
        raise ProfileError(f"{where}: {key!r} must be finite")
    return number


MILLING_RULES = ("any", "alternate")
EDGED = frozenset(EDGED_ONLY)
ALWAYS_USED = frozenset(FEATURE_NAMES) - EDGED - set(CORE_WIDTHS) - set(LOSS_ANGLES)
# The largest spread a feature can have on a real coin, in its own unit: lengths in
# mm, contrasts within -1..1, phases within a half turn, logs of relief depths.
MAX_SCALE: dict[str, float] = {
    "diameter_mm": 1.0,
    "thickness_mm": 1.0,
    "edge_depth_mm": 1.0,
    "edge_sharpness": 2.0,
    "log_milling_mm": 5.0,
    "milling_alternation": 2.0,
    "log_lettering_mm": 5.0,
    "inductive_width_mm": 10.0,
    "lo_core_width_mm": 10.0,
    "hi_core_width_mm": 10.0,
    **{name: 1.0 for name in FEATURE_NAMES if "_vs_" in name},
    **{name: math.pi for name in LOSS_ANGLES},
}


def _check_coin(coin: str, body: Any) -> None:
    where = f"coins.{coin}"
    if coin not in catalogue_coins():
        raise ProfileError(f"{where}: unknown coin id")
    if not isinstance(body, Mapping):
        raise ProfileError(f"{where}: must be an object")
    n = _need(body, "n_samples", int, where)
    if not 3 <= n <= MAX_TEACH_COINS:
        raise ProfileError(f"{where}: n_samples must be from 3 to {MAX_TEACH_COINS}")
    if _need(body, "security", str, where) not in SECURITY_LEVELS:
        raise ProfileError(f"{where}: security must be one of {', '.join(SECURITY_LEVELS)}")
    if _need(body, "teach", str, where) not in TEACH_KINDS:
        raise ProfileError(f"{where}: teach must be one of {', '.join(TEACH_KINDS)}")
    edges = _need(body, "edge_count", int, where)
    if not (edges == 0 or 3 <= edges <= 16):
        raise ProfileError(f"{where}: edge_count must be 0 or 3..16")
    if _need(body, "milling", str, where) not in MILLING_RULES:
        raise ProfileError(f"{where}: milling must be one of {', '.join(MILLING_RULES)}")
    temp = _need(body, "temperature", Mapping, where)
    ref, low, high, sxx = (
        _finite(temp, key, f"{where}.temperature") for key in ("ref_c", "min_c", "max_c", "sxx")
    )
    slack = 1e-9 * max(abs(ref), 1.0)
    if not (low - slack <= ref <= high + slack and low >= -40 and high <= 85):
        raise ProfileError(f"{where}.temperature: need -40 <= min_c <= ref_c <= max_c <= 85")
    if sxx < 0:
        raise ProfileError(f"{where}.temperature: sxx must be >= 0")
    speed = _need(body, "speed", Mapping, where)
    lo, ref_log, hi = (
        _finite(speed, key, f"{where}.speed")
        for key in ("min_log_mm_s", "ref_log_mm_s", "max_log_mm_s")
    )
    # Signatures' speeds lie in (0, 5000) mm/s.
    if not (lo - 1e-9 <= ref_log <= hi + 1e-9 and hi < math.log(5000.0)):
        raise ProfileError(
            f"{where}.speed: need min_log_mm_s <= ref_log_mm_s <= max_log_mm_s < log(5000)"
        )
    u_sxx = _finite(speed, "sxx", f"{where}.speed")
    if u_sxx < 0:
        raise ProfileError(f"{where}.speed: sxx must be >= 0")
    # Cauchy-Schwarz: the cross sum cannot exceed the two sums it comes from.
    sxy = _finite(speed, "sxy_with_temperature", f"{where}.speed")
    if sxy * sxy > sxx * u_sxx * (1.0 + 1e-9) + 1e-300:
        raise ProfileError(f"{where}.speed: sxy_with_temperature exceeds sqrt(sxx * sxx)")

    # The sums of squares cannot exceed what the teach's own range allows.
    if sxx > n * (high - low) ** 2 * (1.0 + 1e-9) + 1e-9:
        raise ProfileError(f"{where}.temperature: sxx exceeds n_samples * (max_c - min_c)^2")
    if u_sxx > n * (hi - lo) ** 2 * (1.0 + 1e-9) + 1e-9:
        raise ProfileError(f"{where}.speed: sxx exceeds n_samples * (max - min)^2")
    feats = _need(body, "features", Mapping, where)
    if not feats or not set(feats) <= set(FEATURE_NAMES):
        raise ProfileError(f"{where}: features do not match this engine's feature set")
    # Every region judges what every coin has; a region of a few features would
    # take anything that matches those (a hand-edited profile of thickness alone).
    needed = ALWAYS_USED | (EDGED if edges else frozenset())
    if missing := sorted(needed - set(feats)):
        raise ProfileError(f"{where}: features missing: {', '.join(missing)}")
    for name in feats:
        entry = _need(feats, name, Mapping, f"{where}.features")
        for key in ("mean", "slope_per_k", "slope_per_log_speed"):
            _finite(entry, key, f"{where}.features.{name}")
        # Only the eddy features move with speed; metrology must not.
        if name not in EDDY_NAMES and entry["slope_per_log_speed"] != 0.0:
            raise ProfileError(f"{where}.features.{name}: only eddy features have a speed slope")
        scale = _finite(entry, "scale", f"{where}.features.{name}")
        if not 0 < scale <= MAX_SCALE.get(name, math.inf):
            raise ProfileError(
                f"{where}.features.{name}: scale must be > 0 and at most "
                f"{MAX_SCALE.get(name, math.inf):g}"
            )
        # Written for the reader; the engine derives it from the centre again
        # (DRIFT_PER_K), so a hand-edited prior cannot widen a region.
        if _finite(entry, "drift_per_k", f"{where}.features.{name}") <= 0:
            raise ProfileError(f"{where}.features.{name}: drift_per_k must be > 0")
    size = len(feats)
    corr = _need(body, "correlation", list, where)
    if len(corr) != size or not all(isinstance(row, list) and len(row) == size for row in corr):
        raise ProfileError(f"{where}: correlation must be a {size}x{size} matrix")
    if any(isinstance(v, bool) for row in corr for v in row):
        raise ProfileError(f"{where}: correlation must hold numbers")
    try:
        matrix = np.array(corr, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ProfileError(f"{where}: correlation must hold numbers") from None
    if not np.isfinite(matrix).all():
        raise ProfileError(f"{where}: correlation must hold finite numbers")
    if not np.allclose(matrix, matrix.T, rtol=1e-6, atol=1e-12):
        raise ProfileError(f"{where}: correlation must be symmetric")
    if not np.allclose(np.diag(matrix), 1.0, rtol=0.0, atol=1e-6):
        raise ProfileError(f"{where}: correlation must have a unit diagonal")
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise ProfileError(f"{where}: correlation is not positive definite") from None
    shrink = _finite(body, "shrinkage", where)
    if not 0.0 <= shrink <= 1.0:
        raise ProfileError(f"{where}: shrinkage must be from 0 to 1")


def profile_from_json_dict(obj: Any) -> Profile:
    """Validate a decoded profile document and build the :class:`Profile`.

    Raises
    ------
    ProfileError
        Naming what is wrong: not a profile, a newer schema, a missing or
        malformed field, an unknown coin.
    """
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise ProfileError(f'not a coinval profile (expected "format": "{FORMAT}")')
    version = _need(obj, "schema_version", int, "profile")
    if version > SCHEMA_VERSION:
        raise ProfileError(
            f"profile schema version {version} is newer than this coinval supports "
            f"({SCHEMA_VERSION}); upgrade coinval"
        )
    if version < 1:
        raise ProfileError(f"profile schema version {version} is not valid")
    if version < SCHEMA_VERSION:
        raise ProfileError(
            f"profile schema version {version} was written by an earlier coinval, whose "
            "regions were fixed allowances around the teach coins; this coinval fits "
            "regions of another kind and cannot use them: teach again (coinval teach)"
        )
    coins = _need(obj, "coins", Mapping, "profile")
    if not coins:
        raise ProfileError("profile: no coins taught")
    if len(coins) > 16:
        raise ProfileError("profile: at most 16 coins (ccTalk positions 1-16)")
    for coin, body in coins.items():
        _check_coin(coin, body)
    head = obj.get("head")
    if head is not None and not isinstance(head, str):
        raise ProfileError("profile: 'head' must be a string or null")
    inhibited = obj.get("inhibited", [])
    if not isinstance(inhibited, list) or not all(isinstance(c, str) for c in inhibited):
        raise ProfileError("profile: 'inhibited' must be a list of coin ids")
    override = obj.get("legal_tender_override", {})
    if not isinstance(override, Mapping) or not all(isinstance(v, bool) for v in override.values()):
        raise ProfileError("profile: 'legal_tender_override' must map coin ids to true/false")
    notes = obj.get("teach_notes", {})
    if not isinstance(notes, Mapping):
        raise ProfileError("profile: 'teach_notes' must be an object")
    try:
        json.dumps(notes, allow_nan=False)
    except ValueError:
        raise ProfileError("profile: 'teach_notes' must hold finite numbers only") from None
    created = obj.get("created", "")
    no_coin = _check_no_coin(obj.get("no_coin"))
    return Profile(
        classifier=regions_from_dict(coins),
        head=head,
        created=str(created),
        inhibited=frozenset(inhibited),
        legal_tender_override=dict(override),
        teach_notes={str(k): dict(v) for k, v in notes.items() if isinstance(v, Mapping)},
        no_coin=no_coin,
    )


def _check_no_coin(obj: Any) -> NoCoinLevels | None:
    """Validate the optional ``no_coin`` block and build it."""
    if obj is None:
        return None
    where = "no_coin"
    if not isinstance(obj, Mapping):
        raise ProfileError(f"{where}: must be an object or null")
    _finite(obj, "ref_c", where)
    channels = _need(obj, "channels", Mapping, where)
    if not set(channels) <= set(NO_COIN_CHANNELS):
        raise ProfileError(f"{where}.channels: known channels are {', '.join(NO_COIN_CHANNELS)}")
    for name, entry in channels.items():
        if entry is None:
            continue
        if not isinstance(entry, Mapping):
            raise ProfileError(f"{where}.channels.{name}: must be an object or null")
        _finite(entry, "level", f"{where}.channels.{name}")
        _finite(entry, "slope_per_k", f"{where}.channels.{name}")
        if _need(entry, "n_ends", int, f"{where}.channels.{name}") < 1:
            raise ProfileError(f"{where}.channels.{name}: n_ends must be >= 1")
    return NoCoinLevels.from_dict(obj)


def loads(text: str | bytes) -> Profile:
    """Parse and validate a profile document."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, huge ints
        raise ProfileError(f"profile is not valid JSON (corrupt or truncated?): {exc}") from None
    return profile_from_json_dict(obj)


def load(path: str | Path) -> Profile:
    """Read and validate a profile file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read profile {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return loads(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None
