"""Fleet events: decisions and summaries sent by acceptors, stored once per idempotency key."""

from __future__ import annotations

from calibration.db import Row, Tx


def insert_event(
    tx: Tx,
    *,
    key: str,
    at: str,
    head: str,
    signature_id: str | None,
    coin: str | None,
    accepted: bool,
    reason: str,
    detail: str | None,
    key_id: str,
) -> int | None:
    """Store one acceptor's event unless its idempotency ``key`` is stored; its id, or None."""
    row = tx.fetchone(
        "INSERT INTO events (at, head, signature_id, coin, accepted, reason, detail, profile_id,"
        " source, signature, key_id, idempotency_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'fleet', NULL, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        (at, head, signature_id, coin, int(accepted), reason, detail, key_id, key),
    )
    return int(row["id"]) if row is not None else None


def insert_summary(
    tx: Tx,
    *,
    key: str,
    head: str,
    coin: str | None,
    reason: str,
    n: int,
    first_at: str,
    last_at: str,
    received_at: str,
    key_id: str,
) -> int | None:
    """Store one summary (``n`` events folded into a count) unless its key is stored."""
    row = tx.fetchone(
        "INSERT INTO fleet_summaries (idempotency_key, head, coin, reason, n, first_at, last_at,"
        " received_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        (key, head, coin, reason, n, first_at, last_at, received_at, key_id),
    )
    return int(row["id"]) if row is not None else None


def summary_totals(tx: Tx, head: str | None = None) -> list[Row]:
    """Summarised events per (head, coin, reason): the counts acceptors sent instead of events."""
    where = "WHERE head = ?" if head is not None else ""
    rows = tx.fetchall(
        "SELECT head, coin, reason, SUM(n) AS n FROM fleet_summaries"
        f" {where} GROUP BY head, coin, reason ORDER BY head, coin, reason",
        (head,) if head is not None else (),
    )
    return [{**row, "n": int(row["n"])} for row in rows]
