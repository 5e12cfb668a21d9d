"""Fleet events: decisions and summaries sent by acceptors, stored once per idempotency key."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

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
_PG_INSERT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, profile_id, source, signature)"
    " SELECT e->>0, e->>1, e->>2, e->>3, (e->>4)::integer, e->>5, e->>6, e->>7, e->>8,"
    " NULL::integer, 'fleet', NULL::text FROM json_array_elements(?::json) AS e"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key"
)


def insert_events(tx: Tx, rows: Sequence[tuple[object, ...]]) -> list[tuple[int, str]]:
    """Store acceptors' events in one statement, each unless its idempotency key is
    stored (or comes earlier in ``rows``); the new rows' (id, key), by id.

    ``rows`` are tuples in :data:`EVENT_COLUMNS` order.  One statement for the
    lot: PostgreSQL counts its rollups once per statement, and one round trip
    replaces one per event.
    """
    if not rows:
        return []
    if tx.dialect == "postgresql":
        # The rows as one JSON parameter: the same statement text whatever the batch
        # size, so psycopg converts it once and the server prepares it once (a
        # VALUES list of 25-500 rows was a new, long statement each time, its
        # placeholders found again), and one string to send where arrays of
        # parameters were each adapted in Python.  Text has no NUL (checked).
        found = tx.fetchall(_PG_INSERT, (orjson.dumps(rows).decode(),))
    else:
        one = "(" + ", ".join(["?"] * len(EVENT_COLUMNS)) + ", NULL, 'fleet', NULL)"
        found = tx.fetchall(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, profile_id, source, signature)"
            f" VALUES {', '.join([one] * len(rows))}"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
            tuple(value for row in rows for value in row),
        )
    return sorted((int(row["id"]), str(row["idempotency_key"])) for row in found)


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
