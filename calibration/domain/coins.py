"""The coin catalogue and a head's inhibits: per coin, master, legal-tender overrides."""

from __future__ import annotations

from typing import Any

from calibration.context import LEGAL_TENDER_VALUES, Context
from calibration.domain.common import check_coin, check_head
from calibration.errors import InvalidError
from calibration.repository import audit
from calibration.repository import heads as heads_repo
from coinval.catalogue import CoinSpec
from coinval.catalogue import coins as catalogue_coins
from coinval.legal_tender import is_legal_tender
from coinval.legal_tender import now as london_now


def _spec_dict(spec: CoinSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "value_pence": spec.value_pence,
        "cctalk_id": spec.cctalk_id,
        "legal_tender_from": spec.legal_tender_from.isoformat() if spec.legal_tender_from else None,
        "legal_tender_until": (
            spec.legal_tender_until.isoformat() if spec.legal_tender_until else None
        ),
        "legal_tender_now": is_legal_tender(spec, london_now()),
    }


def catalogue() -> list[dict[str, Any]]:
    """Every coin the engine can be taught, with its legal-tender dates."""
    return [_spec_dict(spec) for spec in catalogue_coins().values()]


def head_coins(ctx: Context, head: str) -> dict[str, Any]:
    """Every catalogue coin with its state on ``head``: taught, position, inhibits, enabled now."""
    check_head(head)
    with ctx.db.transaction() as tx:
        row = heads_repo.get_head(tx, head)
        explicit = heads_repo.coin_settings(tx, head)
    active = ctx.engine(head)
    moment = london_now()
    taught = active[0].profile.coins if active else []
    coins: list[dict[str, Any]] = []
    for spec in catalogue_coins().values():
        entry = _spec_dict(spec)
        setting = explicit.get(spec.id, {})
        entry.update(
            taught=spec.id in taught,
            position=taught.index(spec.id) + 1 if spec.id in taught else None,
            inhibited_setting=(
                None if setting.get("inhibited") is None else bool(setting["inhibited"])
            ),
            legal_tender_setting=setting.get("legal_tender"),
        )
        if active:
            config, engine = active
            entry["inhibited"] = spec.id in config.profile.inhibited
            entry["legal_tender_override"] = config.profile.legal_tender_override.get(spec.id)
            entry["enabled_now"] = spec.id in taught and engine.enabled(spec.id, moment)
        else:
            entry["inhibited"] = bool(setting.get("inhibited"))
            entry["legal_tender_override"] = None
            entry["enabled_now"] = False
        coins.append(entry)
    return {
        "head": head,
        "master_inhibit": bool(row["master_inhibit"]) if row else False,
        "active_profile_id": active[0].profile_id if active else None,
        "active_version": active[0].version if active else None,
        "coins": coins,
    }


def _put(
    ctx: Context, actor: str, head: str, coin: str, *, field: str, value: Any
) -> dict[str, Any]:
    check_head(head)
    check_coin(coin)
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        heads_repo.ensure_head(tx, head, now)
        current = heads_repo.coin_settings(tx, head).get(coin, {})
        before = {
            "inhibited": current.get("inhibited"),
            "legal_tender": current.get("legal_tender"),
        }
        after = dict(before)
        after[field] = value
        heads_repo.put_coin_setting(
            tx, head, coin, inhibited=after["inhibited"], legal_tender=after["legal_tender"]
        )
        heads_repo.bump_revision(tx, head, now)
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action=f"coin.{field}",
            target=f"head:{head}/coin:{coin}",
            before=before,
            after=after,
        )
    ctx.changed(head)
    # Stored as 0/1 (SQLite has no booleans); the reply says true/false, as it was asked.
    inhibited = None if after["inhibited"] is None else bool(after["inhibited"])
    return {
        "head": head,
        "coin": coin,
        "inhibited": inhibited,
        "legal_tender": after["legal_tender"],
    }


def set_inhibit(ctx: Context, actor: str, head: str, coin: str, inhibited: bool) -> dict[str, Any]:
    """Inhibit a coin on a head, or enable it again (wins over the profile's own setting)."""
    return _put(ctx, actor, head, coin, field="inhibited", value=int(inhibited))


def set_legal_tender(ctx: Context, actor: str, head: str, coin: str, value: str) -> dict[str, Any]:
    """Override a coin's legal-tender dates: ``always``, ``never``, or follow the ``schedule``."""
    if value not in LEGAL_TENDER_VALUES:
        raise InvalidError(f"legal_tender must be one of {', '.join(LEGAL_TENDER_VALUES)}")
    return _put(ctx, actor, head, coin, field="legal_tender", value=value)


def set_master_inhibit(ctx: Context, actor: str, head: str, value: bool) -> dict[str, Any]:
    """Set or clear a head's master inhibit: while set, no coin is accepted."""
    check_head(head)
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        row = heads_repo.ensure_head(tx, head, now)
        before = bool(row["master_inhibit"])
        heads_repo.set_master_inhibit(tx, head, value, now)
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="head.master_inhibit",
            target=f"head:{head}",
            before={"master_inhibit": before},
            after={"master_inhibit": value},
        )
    ctx.changed(head)
    return {"head": head, "master_inhibit": value}


def list_heads(ctx: Context) -> list[dict[str, Any]]:
    """Every head the store knows, with its active version."""
    with ctx.db.transaction() as tx:
        rows = heads_repo.list_heads(tx)
        out = []
        for row in rows:
            out.append(
                {
                    "head": row["head"],
                    "active_profile_id": row["active_profile_id"],
                    "master_inhibit": bool(row["master_inhibit"]),
                    "revision": row["revision"],
                    "updated_at": row["updated_at"],
                }
            )
    return out
