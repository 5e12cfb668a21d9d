"""Decision events: record them (serve loop, classify route), read them, page them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calibration.context import Context
from calibration.db import format_time
from calibration.domain import signatures as sigs
from calibration.domain.common import check_head, in_zone, stored_moment
from calibration.errors import ConflictError, InvalidError
from calibration.repository import events as events_repo
from calibration.repository.events import EventFilter
from coinval.decision import REASONS, Decision
from coinval.engine import invalid
from coinval.legal_tender import LONDON
from coinval.signature import Signature, echo_id

PRUNE_EVERY = 100
"""Old event signatures are forgotten every this many recorded decisions."""


def record_decision(
    ctx: Context,
    *,
    head: str,
    decision: Decision,
    at: dt.datetime | None = None,
    signature: Signature | None = None,
    profile_id: int | None = None,
    source: str = "live",
) -> int:
    """Store one decision as an event; its id.

    The serve loop calls this for every coin.  ``signature`` is kept with the
    event (when the settings allow) so teach previews can replay the traffic.
    """
    moment = at or ctx.clock()
    text = (
        sigs.to_text(signature)
        if signature is not None and ctx.settings.store_event_signatures
        else None
    )
    with ctx.db.transaction(write=True) as tx:
        event_id = events_repo.insert_decision(
            tx,
            decision,
            at=format_time(moment),
            head=head,
            profile_id=profile_id,
            source=source,
            signature=text,
        )
        if text is not None and event_id % PRUNE_EVERY == 0:
            events_repo.forget_old_signatures(
                tx, keep=ctx.settings.keep_event_signatures, window=2 * PRUNE_EVERY
            )
    return event_id


def classify(
    ctx: Context,
    *,
    head: str,
    body: bytes,
    content_type: str | None,
    at: dt.datetime | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Decide uploaded signatures with the head's active profile, in order; record them.

    A bad signature gets an ``invalid`` decision, as ``coinval classify`` gives.
    """
    check_head(head)
    active = ctx.engine(head)
    if active is None:
        raise ConflictError(
            f"head {head!r} has no active profile: import or teach one, then activate"
        )
    config, engine = active
    moment = in_zone("at", at or ctx.clock(), LONDON)
    parsed = sigs.validate(sigs.decode(body, content_type))
    valid = [item.signature for item in parsed if item.signature is not None]
    decided = iter(engine.decide_signatures(valid, moment))
    decisions = [
        next(decided)
        if item.signature is not None
        else invalid(echo_id(item.obj), item.error or "invalid signature")
        for item in parsed
    ]
    stamp = stored_moment("at", moment)
    if record:
        keep = ctx.settings.store_event_signatures
        with ctx.db.transaction(write=True) as tx:
            for item, decision in zip(parsed, decisions, strict=True):
                events_repo.insert_decision(
                    tx,
                    decision,
                    at=stamp,
                    head=head,
                    profile_id=config.profile_id,
                    source="api",
                    signature=(
                        sigs.to_text(item.signature)
                        if keep and item.signature is not None
                        else None
                    ),
                )
            if keep:
                events_repo.forget_old_signatures(
                    tx, keep=ctx.settings.keep_event_signatures, window=len(parsed) + PRUNE_EVERY
                )
    return {
        "head": head,
        "profile_id": config.profile_id,
        "version": config.version,
        "at": stamp,
        "decisions": [d.to_json_dict() for d in decisions],
    }


def check_filter(
    head: str | None,
    coin: str | None,
    reason: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> EventFilter:
    """An event filter from query values, checked."""
    if reason is not None and reason not in REASONS:
        raise InvalidError(f"reason must be one of {', '.join(REASONS)}")
    return EventFilter(
        head=head,
        coin=coin,
        reason=reason,
        since=stored_moment("since", since) if since else None,
        until=stored_moment("until", until) if until else None,
    )


def page(ctx: Context, flt: EventFilter, *, before: int | None, limit: int) -> dict[str, Any]:
    """A page of events, newest first, and the cursor of the next page."""
    with ctx.db.transaction() as tx:
        items = events_repo.query(tx, flt, before_id=before, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_before": items[-1]["id"] if more and items else None}


def newer(ctx: Context, flt: EventFilter, after_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """Events after ``after_id``, oldest first (the live stream polls this)."""
    with ctx.db.transaction() as tx:
        return events_repo.after(tx, flt, after_id=after_id, limit=limit)


def last_event_id(ctx: Context) -> int:
    """The newest event id, 0 when none."""
    with ctx.db.transaction() as tx:
        return events_repo.last_id(tx)
