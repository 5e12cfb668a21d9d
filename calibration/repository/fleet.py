"""Fleet events: decisions and summaries sent by acceptors, stored once per idempotency key."""

from __future__ import annotations

from collections.abc import Sequence

from calibration.db import Row, Tx

#: The columns :func:`insert_events` fills, in its rows' order.
EVENT_COLUMNS = (
    "at",
    "head",
    "signature_id",
    "coin",
    "accepted",
    "reason",
    "detail",
    "key_id",
    "idempotency_key",
)
#: Each of :data:`EVENT_COLUMNS`' PostgreSQL type, for its array.
_PG_TYPES = ("text", "text", "text", "text", "integer", "text", "text", "text", "text")
_PG_INSERT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, profile_id, source, signature)"
    f" SELECT u.*, NULL::integer, 'fleet', NULL::text"
    f" FROM unnest({', '.join(f'?::{t}[]' for t in _PG_TYPES)}) AS u"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)


def insert_events(tx: Tx, rows: Sequence[tuple[object, ...]]) -> list[int]:
    """Store acceptors' events in one statement, each unless its idempotency key is
    stored; the new rows' ids, ascending.

    ``rows`` are tuples in :data:`EVENT_COLUMNS` order.  One statement for the
    lot: PostgreSQL counts its rollups once per statement, and one round trip
    replaces one per event.
    """
    if not rows:
        return []
    if tx.dialect == "postgresql":
        # One array per column: the same statement text whatever the batch size, so
        # psycopg converts it once and the server prepares it once (a VALUES list
        # of 25-500 rows was a new, long statement each time: parsed, planned, and
        # its placeholders found again).
        columns = [list(column) for column in zip(*rows, strict=True)]
        found = tx.fetchall(_PG_INSERT, columns)
    else:
        one = "(" + ", ".join(["?"] * len(EVENT_COLUMNS)) + ", NULL, 'fleet', NULL)"
        found = tx.fetchall(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, profile_id, source, signature)"
            f" VALUES {', '.join([one] * len(rows))}"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            tuple(value for row in rows for value in row),
        )
    return sorted(int(row["id"]) for row in found)


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
