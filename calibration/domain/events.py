"""Decision events: record them (serve loop, classify route), read them, page them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from calibration.context import Context
from calibration.db import format_time
from calibration.domain import signatures as sigs
from calibration.domain import uploads
from calibration.domain.common import check_head, in_zone, stored_moment
from calibration.domain.write_batches import next_size
from calibration.errors import ConflictError, InvalidError
from calibration.repository import audit
from calibration.repository import events as events_repo
from calibration.repository.events import EventFilter
from coinval.decision import REASONS, Decision
from coinval.engine import Engine, invalid
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
    key_id: str = "serve",
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
            key_id=key_id,
        )
        if text is not None and event_id % PRUNE_EVERY == 0:
            events_repo.forget_old_signatures(
                tx, keep=ctx.settings.keep_event_signatures, window=2 * PRUNE_EVERY
            )
    return event_id


@dataclass
class Classified:
    """A classify reply: its fields, and the decisions as JSON text in pieces.

    The decisions of a large upload are kept as compact JSON bytes, batch by
    batch, and sent piece by piece (:meth:`stream`), never as one object per
    decision held at once.
    """

    fields: dict[str, Any]
    pieces: list[bytes] = field(default_factory=list)
    count: int = 0

    def stream(self) -> Iterator[bytes]:
        """The reply's JSON text: ``{...fields, "decisions": [...]}``, piece by piece."""
        yield orjson.dumps(self.fields)[:-1] + b',"decisions":['
        first = True
        while self.pieces:
            piece = self.pieces.pop(0)
            yield piece if first else b"," + piece
            first = False
        yield b"]}"


def classify(
    ctx: Context,
    *,
    head: str,
    body: bytes,
    content_type: str | None,
    at: dt.datetime | None = None,
    record: bool = True,
    actor: str | None = None,
    backfill: bool = False,
) -> Classified:
    """Decide uploaded signatures with the head's active profile, in order; record them.

    A bad signature gets an ``invalid`` decision, as ``coinval classify`` gives.
    The body is read item by item (at most ``max_items_per_request``), decided
    and recorded in batches of ``write_batch_rows``: each batch is one short
    transaction, so no upload holds the store's write lock for long.

    Recorded events carry ``actor`` (the key that sent them), and each batch
    is audited. ``at`` further than ``backfill_window_s`` from the server's
    clock is only recorded with ``backfill`` (audited as ``events.backfill``).
    """
    check_head(head)
    active = ctx.engine(head)
    if active is None:
        raise ConflictError(
            f"head {head!r} has no active profile: import or teach one, then activate"
        )
    config, engine = active
    moment = in_zone("at", at or ctx.clock(), LONDON)
    stamp = stored_moment("at", moment)
    if record:
        _check_window(ctx, moment, backfill)
    uploads.count_items(body, content_type, ctx.settings.max_items_per_request)
    out = Classified(
        {"head": head, "profile_id": config.profile_id, "version": config.version, "at": stamp}
    )
    batch: list[sigs.Item] = []
    most = size = ctx.settings.write_batch_rows
    recording = _Recording(head, config.profile_id, moment, actor, backfill)
    for item in uploads.iter_items(body, content_type):
        batch.append(sigs.check_item(item))
        if len(batch) >= size:
            held = _decide_batch(ctx, engine, batch, out, record, recording)
            size = next_size(size, most, held)
            batch = []
    if batch:
        _decide_batch(ctx, engine, batch, out, record, recording)
    return out


@dataclass(frozen=True)
class _Recording:
    head: str
    profile_id: int
    moment: dt.datetime
    actor: str | None
    backfill: bool


def _check_window(ctx: Context, moment: dt.datetime, backfill: bool) -> None:
    """Refuse a recorded ``at`` far from the server's clock unless ``backfill`` is asked."""
    off = abs((moment - ctx.clock()).total_seconds())
    window = ctx.settings.backfill_window_s
    if off > window and not backfill:
        raise InvalidError(
            f"at is {off:.0f} s from the server's clock: recording decisions dated more than "
            f"{window} s away needs backfill=true (audited), or record=false to only decide"
        )


def _decide_batch(
    ctx: Context,
    engine: Engine,
    batch: list[sigs.Item],
    out: Classified,
    record: bool,
    rec: _Recording,
) -> float:
    """Decide and (``record``) write one batch; the seconds it held the write lock."""
    held = 0.0
    moment = rec.moment
    valid = [item.signature for item in batch if item.signature is not None]
    decided = iter(engine.decide_signatures(valid, moment) if valid else [])
    decisions = [
        next(decided)
        if item.signature is not None
        else invalid(echo_id(item.obj), item.error or "invalid signature")
        for item in batch
    ]
    if record:
        keep = ctx.settings.store_event_signatures
        stamp = stored_moment("at", moment)
        with ctx.db.transaction(write=True, bulk=True) as tx:
            start = time.perf_counter()
            ids = [
                events_repo.insert_decision(
                    tx,
                    decision,
                    at=stamp,
                    head=rec.head,
                    profile_id=rec.profile_id,
                    source="api",
                    signature=(
                        sigs.to_text(item.signature)
                        if keep and item.signature is not None
                        else None
                    ),
                    key_id=rec.actor,
                )
                for item, decision in zip(batch, decisions, strict=True)
            ]
            audit.append(
                tx,
                at=ctx.now(),
                key_id=rec.actor or "api",
                action="events.backfill" if rec.backfill else "events.record",
                target=f"head:{rec.head}",
                after={
                    "events": len(ids),
                    "first_id": ids[0],
                    "last_id": ids[-1],
                    "at": stamp,
                    "backfill": rec.backfill,
                },
            )
            if keep:
                events_repo.forget_old_signatures(
                    tx, keep=ctx.settings.keep_event_signatures, window=len(batch) + PRUNE_EVERY
                )
        held = time.perf_counter() - start
    out.pieces.append(orjson.dumps([d.to_json_dict() for d in decisions])[1:-1])
    out.count += len(decisions)
    return held


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
