"""Profile versions: import, export, list, diff, activate, roll back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from calibration.context import Context
from calibration.db import Row, Tx
from calibration.domain.common import check_head
from calibration.errors import ConflictError, InvalidError, NotFoundError
from calibration.repository import audit
from calibration.repository import heads as heads_repo
from calibration.repository import profiles as profiles_repo
from calibration.settings import DEFAULT_HEAD
from coinval.profile import Profile, ProfileError, loads


def _meta(row: Row) -> dict[str, Any]:
    out = dict(row)
    out["coins"] = json.loads(row["coins"])
    out.pop("document", None)
    return out


def head_of(profile: Profile, head: str | None) -> str:
    """The head a profile is stored under: the one asked for, else its own, else the default.

    Raises
    ------
    InvalidError
        When the document names another head than the one asked for: inductive
        levels belong to the head they were taught on.
    """
    if head is not None:
        check_head(head)
        if profile.head is not None and profile.head != head:
            raise InvalidError(
                f"this profile was taught on head {profile.head!r}, not {head!r}; a profile"
                " only fits the head it was taught on"
            )
        return head
    return check_head(profile.head) if profile.head else DEFAULT_HEAD


def insert_version_in(
    tx: Tx,
    actor: str,
    profile: Profile,
    *,
    head: str,
    source: str,
    note: str | None,
    parent_id: int | None,
    now: str,
    audit_extra: dict[str, Any] | None = None,
    audited: bool = True,
) -> dict[str, Any]:
    """Inside an open write transaction: store ``profile`` as the head's next version.

    ``audited=False``: no audit entry of its own, for a caller that writes one
    entry for a whole group of changes.
    """
    if profile.head is None and head != DEFAULT_HEAD:
        profile = replace(profile, head=head)
    document = profile.dumps()
    digest = hashlib.sha256(document.encode()).hexdigest()
    heads_repo.ensure_head(tx, head, now)
    row = profiles_repo.insert_profile(
        tx,
        head=head,
        document=document,
        sha256=digest,
        coins=json.dumps(profile.coins),
        source=source,
        note=note,
        parent_id=parent_id,
        created_at=now,
        created_by=actor,
    )
    meta = _meta(row)
    if not audited:
        return meta
    audit.append(
        tx,
        at=now,
        key_id=actor,
        action=f"profile.{source}",
        target=f"profile:{meta['id']}",
        after={
            "head": head,
            "version": meta["version"],
            "sha256": digest,
            "coins": meta["coins"],
            "parent_id": parent_id,
            **(audit_extra or {}),
        },
    )
    return meta


def store_profile(
    ctx: Context,
    actor: str,
    profile: Profile,
    *,
    head: str,
    source: str,
    note: str | None,
    parent_id: int | None,
    activate: bool,
) -> dict[str, Any]:
    """Store ``profile`` as the head's next version, optionally activating it, atomically."""
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        meta = insert_version_in(
            tx, actor, profile, head=head, source=source, note=note, parent_id=parent_id, now=now
        )
        if activate:
            meta["activation"] = activate_in(tx, actor, head, meta["id"], kind="activate", now=now)
    if activate:
        ctx.changed(head)
    return meta


def import_profile(
    ctx: Context,
    actor: str,
    text: str | bytes,
    *,
    head: str | None = None,
    note: str | None = None,
    activate: bool = False,
) -> dict[str, Any]:
    """Validate a profile document (the ``coinval teach`` format) and store it as a new version."""
    try:
        profile = loads(text)
    except ProfileError as exc:
        raise InvalidError(f"not a usable profile: {exc}") from None
    target = head_of(profile, head)
    meta = store_profile(
        ctx,
        actor,
        profile,
        head=target,
        source="import",
        note=note,
        parent_id=None,
        activate=activate,
    )
    meta["warnings"] = []
    return meta


def get_meta(ctx: Context, profile_id: int) -> dict[str, Any]:
    """A version's metadata; NotFoundError if there is none."""
    with ctx.db.transaction() as tx:
        row = profiles_repo.get_profile(tx, profile_id)
    if row is None:
        raise NotFoundError(f"no profile with id {profile_id}")
    return _meta(row)


def get_document(ctx: Context, profile_id: int) -> str:
    """A version's document, exactly as stored (the ``coinval teach`` format)."""
    with ctx.db.transaction() as tx:
        row = profiles_repo.get_profile(tx, profile_id, document=True)
    if row is None:
        raise NotFoundError(f"no profile with id {profile_id}")
    return str(row["document"])


def load_profile(ctx: Context, profile_id: int) -> Profile:
    """A stored version as a :class:`Profile`."""
    return loads(get_document(ctx, profile_id))


def list_profiles(
    ctx: Context, *, head: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Versions' metadata, newest first."""
    with ctx.db.transaction() as tx:
        rows = profiles_repo.list_profiles(tx, head=head, limit=limit, offset=offset)
    return [_meta(r) for r in rows]


def activate_in(
    tx: Tx, actor: str, head: str, profile_id: int, *, kind: str, now: str, audited: bool = True
) -> dict[str, Any]:
    """Inside an open write transaction: make a version the head's active one.

    ``audited=False``: no audit entry of its own (the caller writes one for a group).
    """
    prof = profiles_repo.get_profile(tx, profile_id)
    if prof is None:
        raise NotFoundError(f"no profile with id {profile_id}")
    if prof["head"] != head:
        raise ConflictError(f"profile {profile_id} belongs to head {prof['head']!r}, not {head!r}")
    row = heads_repo.ensure_head(tx, head, now)
    previous = row["active_profile_id"]
    before = None
    if previous is not None:
        old = profiles_repo.get_profile(tx, int(previous))
        before = {"profile_id": previous, "version": old["version"] if old else None}
    heads_repo.set_active(tx, head, profile_id, now)
    heads_repo.insert_activation(
        tx, head=head, profile_id=profile_id, previous=previous, kind=kind, at=now, key_id=actor
    )
    after = {"profile_id": profile_id, "version": prof["version"]}
    if not audited:
        return {"head": head, "previous": before, "active": after}
    audit.append(
        tx,
        at=now,
        key_id=actor,
        action=f"head.{kind}",
        target=f"head:{head}",
        before=before,
        after=after,
    )
    return {"head": head, "previous": before, "active": after}


def activate(ctx: Context, actor: str, head: str, profile_id: int) -> dict[str, Any]:
    """Make a version the head's active profile (one transaction: atomic)."""
    check_head(head)
    with ctx.db.transaction(write=True) as tx:
        result = activate_in(tx, actor, head, profile_id, kind="activate", now=ctx.now())
    ctx.changed(head)
    return result


def rollback(ctx: Context, actor: str, head: str, version: int | None) -> dict[str, Any]:
    """Go back to an earlier version: the one given, else the one active before this one."""
    check_head(head)
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        row = heads_repo.get_head(tx, head)
        if row is None or row["active_profile_id"] is None:
            raise ConflictError(f"head {head!r} has no active profile to roll back from")
        current = profiles_repo.get_profile(tx, int(row["active_profile_id"]))
        assert current is not None
        if version is None:
            target_id = previous_active_in(tx, head)
        else:
            target = profiles_repo.get_by_version(tx, head, version)
            if target is None:
                raise NotFoundError(f"head {head!r} has no profile version {version}")
            if version >= int(current["version"]):
                raise ConflictError(
                    f"version {version} is not earlier than the active version "
                    f"{current['version']}; use activate to move forward"
                )
            target_id = int(target["id"])
        result = activate_in(tx, actor, head, target_id, kind="rollback", now=now)
    ctx.changed(head)
    return result


def previous_active_in(tx: Tx, head: str) -> int:
    """Inside an open transaction: the profile a rollback without a version goes back to
    (the one active before the present one); ConflictError when there is none."""
    row = heads_repo.get_head(tx, head)
    if row is None or row["active_profile_id"] is None:
        raise ConflictError(f"head {head!r} has no active profile to roll back from")
    history = heads_repo.activation_history(tx, head, 1)
    previous = history[0]["previous_profile_id"] if history else None
    if previous is None:
        raise ConflictError(f"head {head!r} has no earlier active profile to roll back to")
    return int(previous)


def history(ctx: Context, head: str, limit: int) -> list[dict[str, Any]]:
    """The head's activations and rollbacks, newest first."""
    with ctx.db.transaction() as tx:
        return heads_repo.activation_history(tx, head, limit)


def _rel(a: float, b: float) -> float:
    scale = max(abs(a), abs(b), 1e-12)
    return (b - a) / scale


def diff(ctx: Context, from_id: int, to_id: int) -> dict[str, Any]:
    """What changed from one version to another: coins, regions, settings."""
    a = json.loads(get_document(ctx, from_id))
    b = json.loads(get_document(ctx, to_id))
    coins_a, coins_b = a["coins"], b["coins"]
    changed: dict[str, Any] = {}
    for coin in [c for c in coins_a if c in coins_b]:
        ra, rb = coins_a[coin], coins_b[coin]
        if ra == rb:
            continue
        entry: dict[str, Any] = {}
        for key in ("n_samples", "security", "edge_count", "milling"):
            if ra.get(key) != rb.get(key):
                entry[key] = {"from": ra.get(key), "to": rb.get(key)}
        if ra.get("temperature") != rb.get("temperature"):
            entry["temperature"] = {"from": ra.get("temperature"), "to": rb.get("temperature")}
        features: dict[str, Any] = {}
        for name, fa in ra.get("features", {}).items():
            fb = rb.get("features", {}).get(name)
            if fb is None or fa == fb:
                continue
            shift = (fb["mean"] - fa["mean"]) / max(fa["scale"], 1e-12)
            features[name] = {
                "mean": {"from": fa["mean"], "to": fb["mean"]},
                "mean_shift_in_scales": shift,
                "scale_change": _rel(fa["scale"], fb["scale"]),
            }
        if features:
            entry["features"] = features
        changed[coin] = entry
    return {
        "from": from_id,
        "to": to_id,
        "head": {"from": a.get("head"), "to": b.get("head")},
        "coins_added": [c for c in coins_b if c not in coins_a],
        "coins_removed": [c for c in coins_a if c not in coins_b],
        "coins_changed": changed,
        "positions": {"from": list(coins_a), "to": list(coins_b)},
        "inhibited": {
            "added": sorted(set(b.get("inhibited", [])) - set(a.get("inhibited", []))),
            "removed": sorted(set(a.get("inhibited", [])) - set(b.get("inhibited", []))),
        },
        "legal_tender_override": {
            "from": a.get("legal_tender_override", {}),
            "to": b.get("legal_tender_override", {}),
        },
    }
