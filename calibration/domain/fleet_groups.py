"""Fleet groups: a head's model, and actions on every head of a model at once.

A group action changes every head of the model in one write transaction (all
of them or none) and writes one audit entry naming the model, the heads and
each head's versions before and after; subscribers hear of each head only
once it is committed.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from calibration.context import Context
from calibration.db import Tx
from calibration.domain.common import MAX_HEADS_LISTED, check_head
from calibration.domain.fleet import check_model
from calibration.domain.fleet_views import check_known_model
from calibration.domain.profiles import activate_in, insert_version_in, previous_active_in
from calibration.errors import ConflictError, NotFoundError
from calibration.repository import audit, rollups
from calibration.repository import fleet_heads as fleet_heads_repo
from calibration.repository import heads as heads_repo
from calibration.repository import profiles as profiles_repo
from coinval.profile import loads


def _model_view(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    return {
        "model": row.get("model"),
        "model_source": row.get("model_source"),
        "reported_model": row.get("reported_model"),
    }


def set_model(ctx: Context, actor: str, head: str, model: str | None) -> dict[str, Any]:
    """An operator's model for ``head`` (None: drop it, the acceptor's comes back); audited.

    The head must be known to the store (a profile, an acceptor's report or a
    decision): a misspelt head is refused rather than made.
    """
    check_head(head)
    if model is not None:
        check_model(model)
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        before = fleet_heads_repo.get(tx, head)
        if (
            before is None
            and heads_repo.get_head(tx, head) is None
            and not rollups.has_head(tx, head)
        ):
            raise NotFoundError(
                f"head {head!r} is not known to this store: no profile, no acceptor report"
                " and no decision names it (GET /api/v1/fleet/heads lists the known heads)"
            )
        fleet_heads_repo.set_model(tx, head, model, now)
        after = fleet_heads_repo.get(tx, head)
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="fleet.head.model",
            target=f"head:{head}",
            before=_model_view(before),
            after=_model_view(after),
        )
    return {"head": head, **_model_view(after)}


def _heads_of(tx: Tx, model: str) -> list[str]:
    check_known_model(tx, model)  # 404 naming the models heads have
    return fleet_heads_repo.heads_of_model(tx, model)


def _version(tx: Tx, profile_id: int | None) -> dict[str, Any] | None:
    if profile_id is None:
        return None
    row = profiles_repo.get_profile(tx, profile_id)
    return {"profile_id": profile_id, "version": row["version"] if row else None}


def _active_of(tx: Tx, head: str) -> dict[str, Any] | None:
    row = heads_repo.get_head(tx, head)
    return _version(tx, None if row is None else row["active_profile_id"])


def activate_model(ctx: Context, actor: str, model: str, profile_id: int) -> dict[str, Any]:
    """Make a stored profile version the active one of every head of ``model``.

    The head the version belongs to activates it as it is; every other head
    gets it as its own new version (the document with its head name, parent the
    version given), or the newest of its versions with that very document if it
    has one (so doing it twice makes no second copy), and activates that.
    """
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        heads = _heads_of(tx, model)
        source = profiles_repo.get_profile(tx, profile_id, document=True)
        if source is None:
            raise NotFoundError(f"no profile with id {profile_id}")
        profile = loads(source["document"])
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for head in heads:
            before[head] = _active_of(tx, head)
            copied = False
            if source["head"] == head:
                target = profile_id
            else:
                copy = replace(profile, head=head)
                digest = hashlib.sha256(copy.dumps().encode()).hexdigest()
                same = profiles_repo.latest_with_sha256(tx, head, digest)
                if same is not None:
                    target = int(same["id"])
                else:
                    meta = insert_version_in(
                        tx,
                        actor,
                        copy,
                        head=head,
                        source="fleet",
                        note=f"model {model}: profile {profile_id} (head {source['head']},"
                        f" version {source['version']})",
                        parent_id=profile_id,
                        now=now,
                        audited=False,  # the group's one entry below says it
                    )
                    target, copied = int(meta["id"]), True
            done = activate_in(
                tx, actor, head, target, kind="model-activate", now=now, audited=False
            )
            after[head] = {**done["active"], "copied": copied}
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="fleet.model.activate",
            target=f"model:{model}",
            before={"heads": before},
            after={
                "profile_id": profile_id,
                "from_head": source["head"],
                "version": source["version"],
                "heads": after,
            },
        )
    for head in heads:
        ctx.changed(head)
    return {"model": model, "profile_id": profile_id, "heads": _pairs(heads, before, after)}


def rollback_model(ctx: Context, actor: str, model: str) -> dict[str, Any]:
    """Every head of ``model`` goes back to the profile active before its present one.

    ConflictError (nothing changed) naming every head that cannot: no active
    profile, or none active before it.
    """
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        heads = _heads_of(tx, model)
        targets: dict[str, int] = {}
        stuck: list[dict[str, str]] = []
        for head in heads:
            try:
                targets[head] = previous_active_in(tx, head)
            except ConflictError as exc:
                stuck.append({"head": head, "reason": exc.message})
        if stuck:
            names = ", ".join(s["head"] for s in stuck[:MAX_HEADS_LISTED])
            more = len(stuck) - MAX_HEADS_LISTED
            raise ConflictError(
                f"{len(stuck)} head(s) of model {model!r} cannot roll back: {names}"
                + (f" and {more} more" if more > 0 else "")
                + "; nothing was rolled back",
                details=stuck[:MAX_HEADS_LISTED],
            )
        before = {head: _active_of(tx, head) for head in heads}
        after: dict[str, Any] = {}
        for head in heads:
            done = activate_in(
                tx, actor, head, targets[head], kind="model-rollback", now=now, audited=False
            )
            after[head] = done["active"]
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="fleet.model.rollback",
            target=f"model:{model}",
            before={"heads": before},
            after={"heads": after},
        )
    for head in heads:
        ctx.changed(head)
    return {"model": model, "heads": _pairs(heads, before, after)}


def _pairs(heads: list[str], before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"head": h, "before": before[h], "after": after[h]} for h in heads]
