"""Teach sessions: one coin on one head, fed genuine coins, previewed, committed or abandoned.

A session teaches a single coin with ``coinval.teach.teach`` and merges the
new acceptance region into a copy of the head's active profile (or the base
chosen at start): the other coins' regions and positions are kept as they are.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, cast

import numpy as np
import orjson

from calibration.context import Context, apply_settings
from calibration.db import Row, Tx, utcnow
from calibration.domain import sample_features, uploads
from calibration.domain import signatures as sigs
from calibration.domain.common import check_coin, check_head, check_head_exists
from calibration.domain.profiles import activate_in, insert_version_in
from calibration.domain.write_batches import next_size
from calibration.errors import CalibrationError, ConflictError, InvalidError, NotFoundError
from calibration.repository import audit
from calibration.repository import events as events_repo
from calibration.repository import heads as heads_repo
from calibration.repository import profiles as profiles_repo
from calibration.repository import teach as teach_repo
from calibration.repository.teach import PackedSample
from coinval.catalogue import coin as catalogue_coin
from coinval.classifier import (
    DEFAULT_PAIR,
    FEATURE_UNITS,
    SECURITY_LEVELS,
    CoinClassifier,
    Nearness,
    SecurityLevel,
    moved_to,
    nearness,
    region_shadow,
    separating_pair,
)
from coinval.engine import Engine
from coinval.features import FEATURE_NAMES, CoinFeatures, extract_signatures
from coinval.legal_tender import LONDON
from coinval.profile import Profile, ProfileError, merge_coin, profile_from_json_dict
from coinval.signature import Signature
from coinval.teach import (
    MIN_COINS,
    TeachError,
    TeachReport,
    narrow_temperature_warning,
    screen,
    screening_warnings,
    teach,
)

MAX_CHANGES_LISTED = 50
#: A preview's plot sends at most this many session coins and as many traffic coins.
MAX_PLOT_POINTS = 200
#: Who feeds live coins (the serve loop): the key id their rows carry.
LIVE_ACTOR = "serve"
#: Signature text written per transaction of an upload at most: a transaction's
#: lock hold grows with the bytes it writes (4 MB held the lock ~150 ms).
BATCH_BYTES = 1 << 20


def _session(row: Row) -> dict[str, Any]:
    out = dict(row)
    out.pop("summary", None)
    out.pop("summary_count", None)
    out.pop("sample_count", None)
    out["live"] = bool(out["live"])
    out["count"] = int(out.get("count") or 0)
    return out


def _get_open(tx: Tx, session_id: int) -> Row:
    row = teach_repo.get_session(tx, session_id)
    if row is None:
        raise NotFoundError(f"no teach session with id {session_id}")
    if row["state"] != "open":
        raise ConflictError(f"teach session {session_id} is {row['state']}, no longer open")
    return row


def normalise_security(level: str) -> SecurityLevel:
    """``standard``, ``narrow`` or ``very narrow`` (``very-narrow`` taken too)."""
    text = level.replace("-", " ").replace("_", " ")
    if text not in SECURITY_LEVELS:
        raise InvalidError(f"security must be standard, narrow or very-narrow, not {level!r}")
    return cast(SecurityLevel, text)


def start(
    ctx: Context,
    actor: str,
    *,
    head: str,
    coin: str,
    security: str = "standard",
    live: bool = False,
    base_profile_id: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Open a teach session for ``coin`` on ``head``.

    ``base_profile_id`` fixes the version the new region is merged into;
    without it the head's active profile at commit time is used.  ``live``
    sessions also take coins the serve loop feeds with :func:`feed_live`.
    """
    check_head(head)
    check_coin(coin)
    level = normalise_security(security)
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        check_head_exists(tx, head)
        if base_profile_id is not None:
            base = profiles_repo.get_profile(tx, base_profile_id)
            if base is None:
                raise NotFoundError(f"no profile with id {base_profile_id}")
            if base["head"] != head:
                raise ConflictError(f"profile {base_profile_id} belongs to head {base['head']!r}")
        heads_repo.ensure_head(tx, head, now)
        row = teach_repo.insert_session(
            tx,
            head=head,
            coin=coin,
            security=level,
            live=live,
            base_profile_id=base_profile_id,
            note=note,
            at=now,
            by=actor,
        )
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="teach.start",
            target=f"teach:{row['id']}",
            after={
                "head": head,
                "coin": coin,
                "security": level,
                "live": live,
                "base_profile_id": base_profile_id,
            },
        )
    return _session({**row, "count": 0})


def get(ctx: Context, session_id: int) -> dict[str, Any]:
    """A session's state and sample count."""
    with ctx.db.transaction() as tx:
        row = teach_repo.get_session(tx, session_id)
    if row is None:
        raise NotFoundError(f"no teach session with id {session_id}")
    return _session(row)


def list_sessions(
    ctx: Context, *, head: str | None, state: str | None, limit: int
) -> list[dict[str, Any]]:
    """Sessions, newest first."""
    with ctx.db.transaction() as tx:
        return [
            _session(r) for r in teach_repo.list_sessions(tx, head=head, state=state, limit=limit)
        ]


def add_upload(
    ctx: Context, actor: str, session_id: int, body: bytes, content_type: str | None
) -> dict[str, Any]:
    """Feed uploaded signatures; the valid ones are kept, the bad ones reported.

    The body is read item by item (at most ``max_items_per_request``); the
    first bad items are listed in full (``rejected``) and all are counted
    (``rejected_total``, ``rejected_by_field``).
    """
    with ctx.db.transaction() as tx:
        # Sessions opened before heads had to exist: their uploads are refused
        # here with the heads that do, not one by one for naming their head.
        head = check_head_exists(tx, _get_open(tx, session_id)["head"])
    total = uploads.count_items(body, content_type, ctx.settings.max_items_per_request)
    problems = uploads.Problems()
    with_loss = 0

    def valid() -> Iterator[tuple[str, Signature]]:
        nonlocal with_loss
        for item in uploads.iter_items(body, content_type):
            checked = sigs.check_item(item, head=head)
            if checked.signature is None:
                problems.add(checked)
                continue
            with_loss += int(checked.signature.has_loss)
            yield sigs.to_text(checked.signature), checked.signature

    # Features now, a few hundred signatures at a time, so that the session's
    # summary is made from them and never parses its signatures again.
    good = list(sample_features.packed_in_chunks(valid()))
    if not good:
        raise InvalidError(
            f"none of the {total} uploaded signatures is valid",
            details=problems.listed,
            extra=problems.summary(),
        )
    now = ctx.now()
    before: int | None = None
    added = 0
    most = ctx.settings.write_batch_rows
    rows = [most]  # the next batch's rows, shrunk after a long lock hold
    try:
        for number, batch in enumerate(_batches(good, lambda: rows[0])):
            started = time.perf_counter()
            with ctx.db.transaction(write=True, bulk=True) as tx:
                count = int(_get_open(tx, session_id)["count"])
                if before is None:
                    _check_cap(ctx, session_id, count, len(good))
                    before = count
                teach_repo.add_samples(tx, session_id, batch, source="upload", at=now, key_id=actor)
                audit.append(
                    tx,
                    at=now,
                    key_id=actor,
                    action="teach.samples",
                    target=f"teach:{session_id}",
                    before={"count": count},
                    after={
                        "count": count + len(batch),
                        "added": len(batch),
                        "rejected": problems.total if number == 0 else 0,
                        "batch": number,
                    },
                )
            added += len(batch)
            rows[0] = next_size(rows[0], most, time.perf_counter() - started)
    except CalibrationError as exc:
        if added:  # some batches are in: say how many, so the caller sends only the rest
            exc.extra["added"] = added
        raise
    assert before is not None
    with contextlib.suppress(CalibrationError):  # a busy store: the next viewer computes it
        refresh_summary(ctx, session_id)
    return {
        "added": len(good),
        "rejected": problems.listed,
        **problems.summary(),
        "count": before + added,
        # So the operator sees at once whether the head's demodulator reported
        # (contract v1.1), before a profile is taught with or without them.
        "with_loss_traces": with_loss,
    }


def _check_cap(ctx: Context, session_id: int, count: int, adding: int) -> None:
    cap = ctx.settings.max_session_samples
    if count + adding > cap:
        raise ConflictError(
            f"teach session {session_id} holds {count} signatures and may hold at most {cap} "
            f"(COINVAL_MAX_SESSION_SAMPLES): {adding} more would pass that"
        )


def _batches(samples: list[PackedSample], rows: Callable[[], int]) -> Iterator[list[PackedSample]]:
    """``samples`` in runs of at most ``rows()`` items and :data:`BATCH_BYTES`
    characters of signature text.

    ``rows`` is asked afresh for each run: the caller shrinks it when a run held
    the store's write lock too long.
    """
    batch: list[PackedSample] = []
    size = 0
    for sample in samples:
        if batch and (len(batch) >= rows() or size + len(sample.text) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(sample)
        size += len(sample.text)
    if batch:
        yield batch


def feed_live(ctx: Context, head: str, signature: Signature) -> list[int]:
    """Give one live coin to every open live session of ``head``; their ids.

    The serve loop calls this for each validated signature while an operator
    teaches by inserting coins.
    """
    with ctx.db.transaction() as tx:  # most coins: no live session, no write lock
        if not teach_repo.open_live_sessions(tx, head):
            return []
    (sample,) = sample_features.packed_in_chunks([(sigs.to_text(signature), signature)])
    with ctx.db.transaction(write=True) as tx:
        cap = ctx.settings.max_session_samples
        ids = [
            i
            for i in teach_repo.open_live_sessions(tx, head)
            if int((teach_repo.get_session(tx, i) or {}).get("count") or 0) < cap
        ]
        now = ctx.now()
        for session_id in ids:
            teach_repo.add_samples(
                tx, session_id, [sample], source="live", at=now, key_id=LIVE_ACTOR
            )
    return ids


def _samples(ctx: Context, session_id: int) -> tuple[Row, list[Signature]]:
    with ctx.db.transaction() as tx:
        row = teach_repo.get_session(tx, session_id)
        if row is None:
            raise NotFoundError(f"no teach session with id {session_id}")
        texts = teach_repo.samples(tx, session_id)
    return row, [sigs.from_text(t) for t in texts]


def _teach_one(row: Row, samples: list[Signature]) -> tuple[Profile, TeachReport]:
    coin = str(row["coin"])
    try:
        return teach(
            {coin: samples},
            head=row["head"],
            security={coin: cast(SecurityLevel, row["security"])},
        )
    except TeachError as exc:
        raise InvalidError(f"teach refused: {exc}") from None


def _teach_open_session(
    ctx: Context, session_id: int
) -> tuple[Row, list[Signature], Profile, TeachReport]:
    """An open session's row and coins, taught: what preview and commit both start from."""
    row, samples = _samples(ctx, session_id)
    if row["state"] != "open":
        raise ConflictError(f"teach session {session_id} is {row['state']}, no longer open")
    if len(samples) < MIN_COINS:
        raise InvalidError(f"{len(samples)} coins so far; at least {MIN_COINS} are needed")
    taught, report = _teach_one(row, samples)
    return row, samples, taught, report


def _spread(feats: CoinFeatures) -> dict[str, Any]:
    """Median and robust spread of each feature over the coins that measured it.

    A feature a coin cannot give is NaN in its row (the loss angles of a
    signature without loss traces): it is left out, not allowed to spoil the
    median, and a feature no coin measured reads null (JSON has no NaN).
    """
    out: dict[str, Any] = {}
    for j, name in enumerate(FEATURE_NAMES):
        column = feats.values[:, j]
        x = column[np.isfinite(column)]
        if not x.size:
            out[name] = {"median": None, "robust_sd": None, "relative": None, "measured": 0}
            continue
        med = float(np.median(x))
        mad = 1.4826 * float(np.median(np.abs(x - med)))
        out[name] = {
            "median": med,
            "robust_sd": mad,
            "relative": mad / abs(med) if med != 0 else None,
            "measured": int(x.size),
        }
    return out


def _summarise(
    row: Row, feats: CoinFeatures | None, has_loss: np.ndarray, ids: list[str]
) -> dict[str, Any]:
    """Count, spread, outliers and whether the commit's checks would pass (``teachable``).

    Made from each sample's features as it came in: the checks of
    :func:`coinval.teach.screen` (enough coins, the coin it claims to be, not a
    mix) and its strays.  The commit's teach fits the head's no-coin levels over
    all the samples first, and adds what needs the traces (the milling, loss
    traces); preview shows that.
    """
    out: dict[str, Any] = {
        "teachable": False,
        "problem": None,
        "outliers": [],
        "warnings": [],
        "spread": None,
        "temperature_c": None,
        "edge_counts": None,
        "with_loss_traces": int(has_loss.sum()),
    }
    if feats is not None and len(feats):
        out["spread"] = _spread(feats)
        out["temperature_c"] = {
            "min": float(feats.temperature_c.min()),
            "max": float(feats.temperature_c.max()),
        }
        out["edge_counts"] = {str(k): v for k, v in Counter(feats.edge_count.tolist()).items()}
    if len(ids) < MIN_COINS:
        out["problem"] = f"{len(ids)} coins so far; at least {MIN_COINS} are needed"
        return out
    try:
        spec = catalogue_coin(str(row["coin"]))
        bad = screen(spec, feats, ids)
    except (KeyError, TeachError) as exc:
        out["problem"] = f"teach refused: {exc.args[0]}"
        return out
    assert feats is not None
    dropped = [ids[int(i)] for i in np.flatnonzero(bad)]
    out["teachable"] = True
    out["outliers"] = dropped
    out["warnings"] = screening_warnings(spec, len(ids) - len(dropped), dropped)
    out["warnings"] += narrow_temperature_warning({spec.id: feats.rows(~bad)})
    return out


def _stored_features(
    ctx: Context, session_id: int
) -> tuple[Row, CoinFeatures | None, np.ndarray, list[str]]:
    """A session's row and its samples' kept features, loss flags and names.

    Samples stored before features were kept get theirs now, once, in
    batches (a store migrated from an older version).
    """
    with ctx.db.transaction() as tx:
        row = teach_repo.get_session(tx, session_id)
        if row is None:
            raise NotFoundError(f"no teach session with id {session_id}")
        stored = teach_repo.sample_features(tx, session_id)
    missing = [int(r["id"]) for r in stored if not sample_features.usable(r["features"])]
    if missing:
        filled = _fill_features(ctx, missing)
        for r in stored:
            if int(r["id"]) in filled:
                r["signature_id"], r["features"] = filled[int(r["id"])]
    ids = [r["signature_id"] or f"#{i + 1}" for i, r in enumerate(stored)]
    if not stored:
        return row, None, np.zeros(0, dtype=bool), ids
    feats, has_loss = sample_features.unpack([r["features"] for r in stored])
    return row, feats, has_loss, ids


def _fill_features(ctx: Context, sample_ids: list[int]) -> dict[int, tuple[str | None, bytes]]:
    """Make and keep the features of samples stored without them."""
    filled: dict[int, tuple[str | None, bytes]] = {}
    for start in range(0, len(sample_ids), sample_features.CHUNK):
        part = sample_ids[start : start + sample_features.CHUNK]
        with ctx.db.transaction() as tx:
            rows = teach_repo.signatures_by_id(tx, part)
        parsed = [(int(r["id"]), sigs.from_text(r["signature"])) for r in rows]
        packed = sample_features.pack([sig for _, sig in parsed])
        made = [(i, sig.id, blob) for (i, sig), blob in zip(parsed, packed, strict=True)]
        with ctx.db.transaction(write=True, bulk=True) as tx:
            teach_repo.set_features(tx, made)
        filled.update({i: (sid, blob) for i, sid, blob in made})
    return filled


_summary_guard = threading.Lock()
_summary_locks: dict[tuple[int, int], threading.Lock] = {}


def _summary_lock(ctx: Context, session_id: int) -> threading.Lock:
    """One lock per session (and context): one viewer computes, the others wait for it."""
    with _summary_guard:
        return _summary_locks.setdefault((id(ctx), session_id), threading.Lock())


def refresh_summary(ctx: Context, session_id: int) -> dict[str, Any]:
    """Compute a session's summary from its samples and keep it with their count."""
    row, feats, has_loss, ids = _stored_features(ctx, session_id)
    summary = _summarise(row, feats, has_loss, ids)
    with ctx.db.transaction(write=True) as tx:
        tx.execute(
            "UPDATE teach_sessions SET summary = ?, summary_count = ? WHERE id = ?",
            (orjson.dumps(summary).decode(), len(ids), session_id),
        )
    return summary


def _cached(row: Row) -> dict[str, Any] | None:
    if row.get("summary") is None or row.get("summary_count") != int(row["count"]):
        return None
    return dict(orjson.loads(row["summary"]))


def progress(ctx: Context, session_id: int) -> bytes:
    """How the session stands, as the JSON reply: count, spread, outliers found,
    whether it can be committed.

    Read from the summary kept since the session's last samples came in (one
    row, its sample count kept by a trigger) and written out as it is read; only
    when samples came in without one (live coins) is it computed, once, by the
    first viewer to ask.
    """
    row = _row(ctx, session_id)
    summary = _cached(row)
    if summary is None:
        with _summary_lock(ctx, session_id):
            row = _row(ctx, session_id)
            summary = _cached(row) or refresh_summary(ctx, session_id)
    out = _session(row)
    teachable = bool(summary.pop("teachable"))
    out.update(summary)
    out["ready"] = teachable and row["state"] == "open"
    return orjson.dumps(out)


def _row(ctx: Context, session_id: int) -> Row:
    with ctx.db.transaction() as tx:
        row = teach_repo.get_session(tx, session_id)
    if row is None:
        raise NotFoundError(f"no teach session with id {session_id}")
    return row


def _merge(base: Profile | None, taught: Profile, coin: str, head: str, created: str) -> Profile:
    """:func:`coinval.profile.merge_coin`, its refusal an invalid request."""
    try:
        return merge_coin(base, taught, coin, head, created)
    except ProfileError as exc:
        raise InvalidError(f"the merged profile is not valid: {exc}") from None


def _base_id(tx: Tx, row: Row) -> int | None:
    if row["base_profile_id"] is not None:
        return int(row["base_profile_id"])
    head = heads_repo.get_head(tx, row["head"])
    if head is None or head["active_profile_id"] is None:
        return None
    return int(head["active_profile_id"])


def _load(tx: Tx, profile_id: int | None) -> Profile | None:
    if profile_id is None:
        return None
    prof = profiles_repo.get_profile(tx, profile_id, document=True)
    assert prof is not None
    return profile_from_json_dict(json.loads(prof["document"]))


#: One recent coin as replayed: its event, its signature, and what the current
#: and the candidate profile decide (coin, reason).
Replayed = tuple[Row, Signature, tuple[str | None, str], tuple[str | None, str]]


def _replay(
    events: list[Row], current: Engine | None, candidate: Engine
) -> tuple[dict[str, Any], list[Replayed]]:
    """Decide recent live traffic with the candidate (and the current profile).

    Returns the reply's ``replay`` and each coin as replayed, oldest first.
    """
    parsed = [(e, sigs.from_text(e["signature"])) for e in reversed(events)]
    before: dict[int, tuple[str | None, str]] = {}
    after: dict[int, tuple[str | None, str]] = {}
    by_day: dict[str, list[tuple[Row, Signature]]] = {}
    for event, sig in parsed:
        by_day.setdefault(str(event["at"])[:10], []).append((event, sig))
    for group in by_day.values():
        moment = dt.datetime.fromisoformat(str(group[0][0]["at"]).replace("Z", "+00:00"))
        moment = moment.astimezone(LONDON)
        signatures = [s for _, s in group]
        new = candidate.decide_signatures(signatures, moment)
        old = current.decide_signatures(signatures, moment) if current else None
        for k, (event, _) in enumerate(group):
            after[event["id"]] = (new[k].coin, new[k].reason)
            before[event["id"]] = (
                (old[k].coin, old[k].reason) if old else (event["coin"], event["reason"])
            )
    changes = [
        {
            "event_id": event["id"],
            "at": event["at"],
            "recorded": {"coin": event["coin"], "reason": event["reason"]},
            "current": {"coin": before[event["id"]][0], "reason": before[event["id"]][1]},
            "candidate": {"coin": after[event["id"]][0], "reason": after[event["id"]][1]},
        }
        for event, _ in parsed
        if before[event["id"]] != after[event["id"]]
    ]

    def tally(d: dict[int, tuple[str | None, str]]) -> dict[str, int]:
        return dict(Counter(f"{reason}:{coin}" if coin else reason for coin, reason in d.values()))

    replayed = [(e, sig, before[e["id"]], after[e["id"]]) for e, sig in parsed]
    return {
        "events": len(parsed),
        "current": tally(before),
        "candidate": tally(after),
        "changed": len(changes),
        "changes": changes[:MAX_CHANGES_LISTED],
    }, replayed


def _evenly(n: int, most: int) -> np.ndarray:
    """At most ``most`` indices of ``range(n)``, spread evenly over it (all when fewer)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def _xy(points: np.ndarray) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in points]


def _plot(
    candidate: Profile, coin: str, feats: CoinFeatures, replayed: list[Replayed]
) -> dict[str, Any]:
    """The new region against recent traffic, on two features: the reply's ``plot``.

    The pair is the one on which the region stands furthest from the nearest
    replayed coins the candidate does not take as ``coin``
    (:func:`coinval.classifier.separating_pair`); with none, diameter and
    thickness.  Everything is taken at the session coins' median temperature
    and speed: the region's shadow there, and every coin moved there by the
    region's own slopes.  At most :data:`MAX_PLOT_POINTS` session coins (evenly
    spread over the session) and as many traffic coins (those nearest the
    outline, so that the coins that test the region are never the ones left
    out) are sent.
    """
    clf = candidate.classifier
    t0 = float(np.median(feats.temperature_c))
    u0 = None if feats.speed_mm_s is None else float(np.median(feats.speed_mm_s))
    traffic = (
        extract_signatures([sig for _, sig, _, _ in replayed], candidate.no_coin)
        if replayed
        else None
    )
    untaken = [k for k, (_, _, _, (taken, _)) in enumerate(replayed) if taken != coin]
    pair = None
    if traffic is not None and untaken:
        pair = separating_pair(clf, coin, traffic.rows(untaken))
    chosen_by = "traffic" if pair else "default"
    pair = pair or DEFAULT_PAIR
    shadow = region_shadow(clf, coin, pair, t0, u0)
    columns = [FEATURE_NAMES.index(name) for name in pair]

    own = moved_to(clf, coin, feats.rows(_evenly(len(feats), MAX_PLOT_POINTS)), t0, u0)
    own = own[:, columns]
    points: list[dict[str, Any]] = []
    if traffic is not None:
        xy = moved_to(clf, coin, traffic, t0, u0)[:, columns]
        placed = np.flatnonzero(np.isfinite(xy).all(axis=1))  # an unread loss angle: no place
        nearest = placed[np.argsort(shadow.deviation(xy[placed]), kind="stable")]
        for k in sorted(nearest[:MAX_PLOT_POINTS].tolist(), reverse=True):  # newest first
            event, _, before, after = replayed[k]
            points.append(
                {
                    "event_id": event["id"],
                    "x": float(xy[k, 0]),
                    "y": float(xy[k, 1]),
                    "coin": after[0],
                    "reason": after[1],
                    "changed": before != after,
                }
            )
    return {
        "x": {"feature": pair[0], "unit": FEATURE_UNITS[pair[0]]},
        "y": {"feature": pair[1], "unit": FEATURE_UNITS[pair[1]]},
        "chosen_by": chosen_by,
        "temperature_c": t0,
        "speed_mm_s": u0,
        "region": {"centre": _xy(shadow.centre[None])[0], "outline": _xy(shadow.outline)},
        "teach": {
            "total": len(feats),
            "points": _xy(own[np.isfinite(own).all(axis=1)]),
        },
        "traffic": {"total": len(replayed), "untaken": len(untaken), "points": points},
    }


def _geometry(clf: CoinClassifier, coin: str) -> str:
    """The geometry a coin's region requires, in words: ``12 edges and alternate-side milling``."""
    c = clf.coins_.index(coin)
    edges = int(clf.edge_count_[c])
    parts = [f"{edges} edges"] if edges else []
    if clf.alternate_milling_[c]:
        parts.append("alternate-side milling")
    return " and ".join(parts) or "no particular edge"


def _nearness_entry(near: Nearness, clf: CoinClassifier, coin: str) -> dict[str, Any]:
    """One other coin of the preview, a distance that does not exist left out and said why.

    A deviation is infinite when a coin lacks the geometry a region requires
    (its edge count, alternate-side milling): no closeness in tolerances can
    bring it inside, so there is no number to show, and a bare ``null`` read
    as "not computed".  ``apart`` says what keeps them apart instead.
    """
    out = {k: v for k, v in asdict(near).items() if v is not None}
    apart = []
    if near.its_centre_deviation is None:
        apart.append(
            f"{near.coin}'s centre lacks the {_geometry(clf, coin)} the new {coin} region"
            " requires, so it can never be inside it"
        )
    if near.closest_sample_deviation is None:
        apart.append(
            f"none of the session's coins shows the {_geometry(clf, near.coin)} {near.coin}'s"
            " region requires, so none is inside it"
        )
    if apart:
        out["apart"] = "; ".join(apart)
    return out


def preview(ctx: Context, session_id: int) -> dict[str, Any]:
    """What committing would do, without committing.

    * ``self``: how many of the session's own coins the new region accepts;
    * ``other_coins``: how close the new region comes to each other taught coin
      (session coins inside another region, that coin's centre against the new
      region, in tolerances: <= 1 is inside);
    * ``replay``: recent live decisions of the head that kept their signature,
      decided again by the current and by the candidate profile;
    * ``plot``: the new region's outline on two features, the session's coins
      and the replayed traffic with the candidate's decisions (:func:`_plot`).
    """
    row, samples, taught, report = _teach_open_session(ctx, session_id)
    coin, head = str(row["coin"]), str(row["head"])
    with ctx.db.transaction() as tx:
        base_id = _base_id(tx, row)
        base = _load(tx, base_id)
        settings = heads_repo.coin_settings(tx, head)
        head_row = heads_repo.get_head(tx, head)
        events = events_repo.recent_with_signatures(tx, head, ctx.settings.preview_events)
    candidate = _merge(base, taught, coin, head, utcnow())
    master = bool(head_row["master_inhibit"]) if head_row else False
    feats = extract_signatures(samples)
    own = candidate.classifier.deviation(feats)[:, candidate.classifier.coins_.index(coin)]
    current = ctx.engine(head)
    cand_engine = Engine(apply_settings(candidate, settings, master))
    replay, replayed = _replay(events, current[1] if current else None, cand_engine)
    return {
        "session": _session({**row, "count": len(samples)}),
        "base_profile_id": base_id,
        "coins": candidate.coins,
        "replaces_region": base is not None and coin in base.coins,
        "outliers": report.dropped.get(coin, []),
        "warnings": report.warnings,
        "self": {"samples": len(samples), "inside_new_region": int((own <= 1.0).sum())},
        "other_coins": [
            _nearness_entry(n, candidate.classifier, coin)
            for n in nearness(candidate.classifier, coin, feats)
        ],
        "replay": replay,
        "plot": _plot(candidate, coin, feats, replayed),
    }


def commit(
    ctx: Context, actor: str, session_id: int, *, activate: bool = False, note: str | None = None
) -> dict[str, Any]:
    """Teach the coin and store the merged profile as a new version (and activate it if asked).

    Merge, new version, session close and activation happen in one
    transaction: two operators committing at once both get their coin in,
    one after the other, and a crash leaves the old state or the new one.
    """
    row, samples, taught, report = _teach_open_session(ctx, session_id)
    coin, head = str(row["coin"]), str(row["head"])
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        _get_open(tx, session_id)
        base_id = _base_id(tx, row)
        candidate = _merge(_load(tx, base_id), taught, coin, head, now)
        meta = insert_version_in(
            tx,
            actor,
            candidate,
            head=head,
            source="teach",
            note=note or row["note"],
            parent_id=base_id,
            now=now,
            audit_extra={
                "session": session_id,
                "coin": coin,
                "samples": len(samples),
                "dropped": report.dropped.get(coin, []),
            },
        )
        if not teach_repo.close_session(
            tx, session_id, state="committed", result_profile_id=meta["id"], at=now, by=actor
        ):
            raise ConflictError(f"teach session {session_id} was closed meanwhile")
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="teach.commit",
            target=f"teach:{session_id}",
            before={"state": "open"},
            after={"state": "committed", "profile_id": meta["id"], "version": meta["version"]},
        )
        if activate:
            meta["activation"] = activate_in(tx, actor, head, meta["id"], kind="activate", now=now)
    if activate:
        ctx.changed(head)
    return {"profile": meta, "warnings": report.warnings, "outliers": report.dropped.get(coin, [])}


def abandon(ctx: Context, actor: str, session_id: int) -> dict[str, Any]:
    """Close a session without teaching; its coins are kept for the record."""
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        _get_open(tx, session_id)
        teach_repo.close_session(
            tx, session_id, state="abandoned", result_profile_id=None, at=now, by=actor
        )
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="teach.abandon",
            target=f"teach:{session_id}",
            before={"state": "open"},
            after={"state": "abandoned"},
        )
    return get(ctx, session_id)
