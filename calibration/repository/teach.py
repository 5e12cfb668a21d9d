"""Teach sessions and the signatures fed to them."""

from __future__ import annotations

from collections.abc import Sequence

from calibration.db import Row, Tx


def insert_session(
    tx: Tx,
    *,
    head: str,
    coin: str,
    security: str,
    live: bool,
    base_profile_id: int | None,
    note: str | None,
    at: str,
    by: str,
) -> Row:
    """Open a session; its row."""
    row = tx.fetchone(
        "INSERT INTO teach_sessions (head, coin, security, live, state, base_profile_id, note,"
        " created_at, created_by) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?) RETURNING *",
        (head, coin, security, int(live), base_profile_id, note, at, by),
    )
    assert row is not None
    return row


def get_session(tx: Tx, session_id: int) -> Row | None:
    """A session's row, with its sample count as ``count`` (kept by a trigger, not counted)."""
    return tx.fetchone(
        "SELECT s.*, s.sample_count AS count FROM teach_sessions s WHERE s.id = ?",
        (session_id,),
    )


def list_sessions(tx: Tx, *, head: str | None, state: str | None, limit: int) -> list[Row]:
    """Sessions, newest first, with sample counts."""
    where, params = [], []
    if head is not None:
        where.append("s.head = ?")
        params.append(head)
    if state is not None:
        where.append("s.state = ?")
        params.append(state)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return tx.fetchall(
        f"SELECT s.*, s.sample_count AS count FROM teach_sessions s {clause}"
        " ORDER BY s.id DESC LIMIT ?",
        (*params, limit),
    )


def open_live_sessions(tx: Tx, head: str) -> list[int]:
    """Ids of the head's open sessions that take live coins."""
    rows = tx.fetchall(
        "SELECT id FROM teach_sessions WHERE head = ? AND state = 'open' AND live = 1", (head,)
    )
    return [int(r["id"]) for r in rows]


def close_session(
    tx: Tx, session_id: int, *, state: str, result_profile_id: int | None, at: str, by: str
) -> bool:
    """Close an open session (committed or abandoned); False if it was not open."""
    changed = tx.execute(
        "UPDATE teach_sessions SET state = ?, result_profile_id = ?, closed_at = ?, closed_by = ?"
        " WHERE id = ? AND state = 'open'",
        (state, result_profile_id, at, by, session_id),
    )
    return changed == 1


def add_samples(
    tx: Tx,
    session_id: int,
    signatures: Sequence[str],
    *,
    source: str,
    at: str,
    key_id: str | None = None,
) -> None:
    """Append signatures (compact JSON text) to a session; ``key_id``: who sent them."""
    for text in signatures:
        tx.execute(
            "INSERT INTO teach_samples (session_id, signature, source, added_at, key_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (session_id, text, source, at, key_id),
        )


def samples(tx: Tx, session_id: int) -> list[str]:
    """A session's signatures (JSON text), in the order they came."""
    rows = tx.fetchall(
        "SELECT signature FROM teach_samples WHERE session_id = ? ORDER BY id", (session_id,)
    )
    return [r["signature"] for r in rows]
