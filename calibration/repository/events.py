"""Decision events: what the engine decided, when, on which head; and their counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calibration.db import Row, Tx

_PUBLIC = (
    "id, at, head, signature_id, coin, accepted, reason, detail, profile_id, source,"
    " signature IS NOT NULL AS has_signature"
)


@dataclass(frozen=True)
class EventFilter:
    """Which events to read; every field is optional."""

    head: str | None = None
    coin: str | None = None
    reason: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions and their parameters."""
        where: list[str] = []
        params: list[Any] = []
        for column, value, op in (
            ("head", self.head, "="),
            ("coin", self.coin, "="),
            ("reason", self.reason, "="),
            ("at", self.since, ">="),
            ("at", self.until, "<"),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        return where, params


def insert_event(
    tx: Tx,
    *,
    at: str,
    head: str,
    signature_id: str | None,
    coin: str | None,
    accepted: bool,
    reason: str,
    detail: str | None,
    profile_id: int | None,
    source: str,
    signature: str | None,
) -> int:
    """Record one decision; its event id."""
    row = tx.fetchone(
        "INSERT INTO events (at, head, signature_id, coin, accepted, reason, detail, profile_id,"
        " source, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            at,
            head,
            signature_id,
            coin,
            int(accepted),
            reason,
            detail,
            profile_id,
            source,
            signature,
        ),
    )
    assert row is not None
    return int(row["id"])


def _clean(rows: list[Row]) -> list[Row]:
    for row in rows:
        row["accepted"] = bool(row["accepted"])
        row["has_signature"] = bool(row["has_signature"])
    return rows


def query(tx: Tx, flt: EventFilter, *, before_id: int | None, limit: int) -> list[Row]:
    """Events newest first, keyset-paged by id."""
    where, params = flt.where()
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _clean(
        tx.fetchall(
            f"SELECT {_PUBLIC} FROM events {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
    )


def after(tx: Tx, flt: EventFilter, *, after_id: int, limit: int) -> list[Row]:
    """Events newer than ``after_id``, oldest first (for the live stream)."""
    where, params = flt.where()
    where.append("id > ?")
    params.append(after_id)
    return _clean(
        tx.fetchall(
            f"SELECT {_PUBLIC} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit),
        )
    )


def last_id(tx: Tx) -> int:
    """The newest event id (0 when there are none)."""
    row = tx.fetchone("SELECT MAX(id) AS m FROM events")
    return int(row["m"] or 0) if row else 0


def forget_old_signatures(tx: Tx, *, keep: int, window: int) -> int:
    """Drop the signatures of all but the newest ``keep`` events; how many were dropped.

    Only the ``window`` events just older than the kept ones are looked at, so
    the cost does not grow with the store; call it at least every ``window``
    new events.
    """
    newest = last_id(tx)
    cut = newest - keep
    if cut <= 0:
        return 0
    return tx.execute(
        "UPDATE events SET signature = NULL WHERE id <= ? AND id > ? AND signature IS NOT NULL",
        (cut, cut - window),
    )


def recent_with_signatures(tx: Tx, head: str, limit: int) -> list[Row]:
    """The head's newest events that kept their signature, newest first."""
    return tx.fetchall(
        "SELECT id, at, coin, accepted, reason, signature FROM events"
        " WHERE head = ? AND signature IS NOT NULL ORDER BY id DESC LIMIT ?",
        (head, limit),
    )


def counts(tx: Tx, flt: EventFilter, *, bucket_chars: int | None) -> list[Row]:
    """Event counts grouped by (bucket, coin, reason).

    ``bucket_chars`` cuts the stored UTC time text: 13 gives hours
    (``2024-05-01T13``), 10 days; None gives no time bucket.
    """
    where, params = flt.where()
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    bucket = f"SUBSTR(at, 1, {int(bucket_chars)})" if bucket_chars else "''"
    return tx.fetchall(
        f"SELECT {bucket} AS bucket, coin, reason, COUNT(*) AS n FROM events {clause}"
        f" GROUP BY {bucket}, coin, reason ORDER BY bucket, coin, reason",
        params,
    )


def counts_by_head(tx: Tx) -> list[Row]:
    """All-time counts per (head, coin, reason), for metrics."""
    return tx.fetchall(
        "SELECT head, coin, reason, COUNT(*) AS n FROM events GROUP BY head, coin, reason"
        " ORDER BY head, coin, reason"
    )
