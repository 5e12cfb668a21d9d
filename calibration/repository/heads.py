"""Sensor heads: the active profile pointer, master inhibit, per-coin operator settings."""

from __future__ import annotations

from calibration.db import Row, Tx


def get_head(tx: Tx, head: str) -> Row | None:
    """A head's row: active_profile_id, master_inhibit, revision, updated_at."""
    return tx.fetchone("SELECT * FROM heads WHERE head = ?", (head,))


def ensure_head(tx: Tx, head: str, now: str) -> Row:
    """The head's row, created (nothing active, no inhibit) if it is new."""
    row = get_head(tx, head)
    if row is None:
        tx.execute(
            "INSERT INTO heads (head, active_profile_id, master_inhibit, revision, updated_at)"
            " VALUES (?, NULL, 0, 0, ?)",
            (head, now),
        )
        row = get_head(tx, head)
    assert row is not None
    return row


def list_heads(tx: Tx) -> list[Row]:
    """Every known head, by name."""
    return tx.fetchall("SELECT * FROM heads ORDER BY head")


def set_active(tx: Tx, head: str, profile_id: int, now: str) -> None:
    """Point the head at another profile version (one statement: atomic)."""
    tx.execute(
        "UPDATE heads SET active_profile_id = ?, revision = revision + 1, updated_at = ?"
        " WHERE head = ?",
        (profile_id, now, head),
    )


def set_master_inhibit(tx: Tx, head: str, value: bool, now: str) -> None:
    """Set or clear the head's master inhibit."""
    tx.execute(
        "UPDATE heads SET master_inhibit = ?, revision = revision + 1, updated_at = ?"
        " WHERE head = ?",
        (int(value), now, head),
    )


def bump_revision(tx: Tx, head: str, now: str) -> None:
    """Mark the head changed (so caches and other processes reload it)."""
    tx.execute(
        "UPDATE heads SET revision = revision + 1, updated_at = ? WHERE head = ?", (now, head)
    )


def insert_activation(
    tx: Tx, *, head: str, profile_id: int, previous: int | None, kind: str, at: str, key_id: str
) -> None:
    """Record one activation (or rollback) in the head's history."""
    tx.execute(
        "INSERT INTO activations (head, profile_id, previous_profile_id, kind, at, key_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (head, profile_id, previous, kind, at, key_id),
    )


def activation_history(tx: Tx, head: str, limit: int) -> list[Row]:
    """The head's activations, newest first."""
    return tx.fetchall(
        "SELECT a.id, a.profile_id, p.version, a.previous_profile_id, a.kind, a.at, a.key_id"
        " FROM activations a JOIN profiles p ON p.id = a.profile_id"
        " WHERE a.head = ? ORDER BY a.id DESC LIMIT ?",
        (head, limit),
    )


def coin_settings(tx: Tx, head: str) -> dict[str, Row]:
    """Explicit operator settings per coin: inhibited (0/1/NULL), legal_tender (text/NULL)."""
    rows = tx.fetchall(
        "SELECT coin, inhibited, legal_tender FROM coin_settings WHERE head = ?", (head,)
    )
    return {r["coin"]: r for r in rows}


def put_coin_setting(
    tx: Tx, head: str, coin: str, *, inhibited: int | None, legal_tender: str | None
) -> None:
    """Replace one coin's explicit settings on a head."""
    tx.execute("DELETE FROM coin_settings WHERE head = ? AND coin = ?", (head, coin))
    tx.execute(
        "INSERT INTO coin_settings (head, coin, inhibited, legal_tender) VALUES (?, ?, ?, ?)",
        (head, coin, inhibited, legal_tender),
    )
