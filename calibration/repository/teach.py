"""Teach sessions and the signatures fed to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calibration.db import Row, Tx


@dataclass(frozen=True)
class PackedSample:
    """One teach sample as the store takes it: its signature's JSON text, the
    signature's own id, its packed features (:mod:`calibration.domain.sample_features`)."""

    text: str
    signature_id: str | None
    features: bytes


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
    samples: Sequence[PackedSample],
    *,
    source: str,
    at: str,
    key_id: str | None = None,
) -> None:
    """Append signatures (compact JSON text, with their features) to a session;
    ``key_id``: who sent them."""
    for sample in samples:
        tx.execute(
            "INSERT INTO teach_samples (session_id, signature, signature_id, features, source,"
            " added_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                sample.text,
                sample.signature_id,
                sample.features,
                source,
                at,
                key_id,
            ),
        )


def sample_features(tx: Tx, session_id: int) -> list[Row]:
    """A session's samples in the order they came: ``id``, ``signature_id``,
    ``features`` (packed, or NULL for a sample stored before features were kept)."""
    return tx.fetchall(
        "SELECT id, signature_id, features FROM teach_samples WHERE session_id = ? ORDER BY id",
        (session_id,),
    )


def signatures_by_id(tx: Tx, sample_ids: Sequence[int]) -> list[Row]:
    """``id`` and ``signature`` (JSON text) of some samples."""
    marks = ", ".join("?" * len(sample_ids))
    return tx.fetchall(
        f"SELECT id, signature FROM teach_samples WHERE id IN ({marks}) ORDER BY id",
        tuple(sample_ids),
    )


def set_features(tx: Tx, features: Sequence[tuple[int, str | None, bytes]]) -> None:
    """Fill in the features (and signature id) of samples stored without them."""
    for sample_id, signature_id, blob in features:
        tx.execute(
            "UPDATE teach_samples SET features = ?, signature_id = ? WHERE id = ?",
            (blob, signature_id, sample_id),
        )


def samples(tx: Tx, session_id: int) -> list[str]:
    """A session's signatures (JSON text), in the order they came."""
    rows = tx.fetchall(
        "SELECT signature FROM teach_samples WHERE session_id = ? ORDER BY id", (session_id,)
    )
    return [r["signature"] for r in rows]
