"""Fleet: acceptors report their decided coins to a central service.

Each acceptor sends its events in batches, every event with an idempotency
key unique per acceptor (``<acceptor-id>:<sequence>``).  A key already stored
is a duplicate (the acceptor sent the batch again after a crash or a lost
reply) and is ignored, so every event is stored exactly once however often it
is sent.  Summaries stand for events an acceptor's full outbox folded into
per (head, coin, reason) counts; they are keyed the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from calibration.context import Context
from calibration.domain.common import check_head, stored_moment
from calibration.domain.fleet_items import FleetAcceptor, FleetEvent, FleetSummary, Item
from calibration.domain.fleet_writes import Part, group_writer
from calibration.domain.uploads import TooManyItemsError
from calibration.domain.write_batches import next_size
from calibration.errors import InvalidError
from calibration.repository import fleet as fleet_repo
from coinval.decision import REASONS

#: The longest idempotency key taken.
MAX_KEY_CHARS = 200
#: The longest acceptor id taken.
MAX_ACCEPTOR_CHARS = 64
#: The highest profile version an acceptor may report (the store's INTEGER column).
MAX_VERSION = 2**31 - 1
_MODEL = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _check(items: Sequence[Item]) -> list[tuple[Item, tuple[str, ...]]]:
    """Each item with its stored times; InvalidError naming the first bad one."""
    seen: dict[str, int] = {}
    out: list[tuple[Item, tuple[str, ...]]] = []
    for index, item in enumerate(items):
        kind = "events" if isinstance(item, FleetEvent) else "summaries"
        where = f"{kind}[{index if kind == 'events' else index - _n_events(items)}]"
        if not item.key or len(item.key) > MAX_KEY_CHARS:
            raise InvalidError(f"{where}.key: 1 to {MAX_KEY_CHARS} characters")
        if item.key in seen:
            raise InvalidError(
                f"{where}.key {item.key!r} is already item {seen[item.key]} of this batch: "
                "each idempotency key once per batch"
            )
        seen[item.key] = index
        try:
            check_head(item.head)
        except InvalidError as exc:
            raise InvalidError(f"{where}.head: {exc.message}") from None
        if item.reason not in REASONS:
            raise InvalidError(f"{where}.reason must be one of {', '.join(REASONS)}")
        texts = {"key": item.key, "coin": item.coin}
        if isinstance(item, FleetEvent):
            texts |= {"detail": item.detail, "signature_id": item.signature_id}
        for name, text in texts.items():
            _no_nul(f"{where}.{name}", text)
        if isinstance(item, FleetEvent):
            stamps: tuple[str, ...] = (stored_moment(f"{where}.at", item.at),)
        else:
            first = stored_moment(f"{where}.first_at", item.first_at)
            last = stored_moment(f"{where}.last_at", item.last_at)
            if last < first:
                raise InvalidError(f"{where}: last_at is before first_at")
            stamps = (first, last)
        out.append((item, stamps))
    return out


def _no_nul(name: str, text: str | None) -> None:
    """InvalidError for a NUL character: PostgreSQL cannot store one in a text column
    (it was a 500 there, and SQLite would keep it where no other store could)."""
    if text is not None and "\x00" in text:
        raise InvalidError(f"{name} holds a NUL character (\\u0000), which is not taken")


def _n_events(items: Sequence[Item]) -> int:
    return sum(1 for item in items if isinstance(item, FleetEvent))


def record_batch(
    ctx: Context,
    events: Sequence[FleetEvent],
    summaries: Sequence[FleetSummary] = (),
    *,
    actor: str,
    acceptor: FleetAcceptor | None = None,
) -> dict[str, Any]:
    """Store a batch's new events and summaries, ignore the ones stored before.

    The whole batch is checked first (a bad item refuses the batch: nothing is
    stored).  Rows go in chunks of at most ``write_batch_rows`` (fewer while one
    holds the lock over 50 ms), each audited as ``fleet.events`` with its
    counts; chunks of batches arriving together share a write transaction
    (:mod:`calibration.domain.fleet_writes`).  Every stored row names ``actor``.

    With ``acceptor``, every head the batch names (in its events and its
    summaries, duplicates included: the acceptor was heard from all the same) is
    recorded as seen now by that acceptor, with its model and running version
    when given, in the first write transaction.
    """
    items: list[Item] = [*events, *summaries]
    most = ctx.settings.fleet_max_events
    if len(items) > most:
        raise TooManyItemsError(
            f"the batch holds {len(items)} events and summaries; at most {most} per request"
            " (COINVAL_FLEET_MAX_EVENTS): send them in smaller batches",
            extra={"max_items": most},
        )
    checked = _check(items)
    if acceptor is not None:
        _check_acceptor(acceptor)
    sighting = acceptor
    heads = sorted({item.head for item, _ in checked}) if acceptor is not None else []
    new_events = new_summaries = 0
    size = limit = ctx.settings.write_batch_rows
    writer = group_writer(ctx.db)  # batches arriving together share a transaction
    start = 0
    while start < len(checked):
        chunk = checked[start : start + size]
        part = Part(chunk, actor, sighting, heads if sighting is not None else ())
        held, added_events, added_summaries = writer.write(ctx, part)
        sighting = None  # once per batch
        new_events += added_events
        new_summaries += added_summaries
        start += len(chunk)
        size = next_size(size, limit, held)
    new = new_events + new_summaries
    return {
        "received": len(items),
        "new": new,
        "duplicates": len(items) - new,
        "events": {"new": new_events, "duplicates": len(events) - new_events},
        "summaries": {"new": new_summaries, "duplicates": len(summaries) - new_summaries},
    }


def _check_acceptor(acceptor: FleetAcceptor) -> None:
    """InvalidError naming the acceptor's bad field (the HTTP body is checked before;
    this guards other callers)."""
    if not 1 <= len(acceptor.id) <= MAX_ACCEPTOR_CHARS:
        raise InvalidError(f"acceptor.id: 1 to {MAX_ACCEPTOR_CHARS} characters")
    _no_nul("acceptor.id", acceptor.id)
    if acceptor.model is not None:
        check_model(acceptor.model, "acceptor.model")
    if acceptor.profile_version is not None and not 1 <= acceptor.profile_version <= MAX_VERSION:
        raise InvalidError(f"acceptor.profile_version: 1 to {MAX_VERSION}")


def check_model(model: str, name: str = "model") -> str:
    """A model name: 1-64 letters, digits, ``.``, ``_`` or ``-``; InvalidError otherwise."""
    if not _MODEL.fullmatch(model):
        raise InvalidError(
            f"{name} {model!r} is not a valid model name (1-64 letters, digits, '.', '_' or '-')"
        )
    return model


def summary_totals(ctx: Context, head: str | None = None) -> list[dict[str, Any]]:
    """What acceptors summarised, per (head, coin, reason)."""
    if head is not None:
        check_head(head)
    with ctx.db.transaction() as tx:
        return [dict(row) for row in fleet_repo.summary_totals(tx, head)]
