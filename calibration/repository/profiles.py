"""Profile versions: immutable documents, numbered per sensor head."""

from __future__ import annotations

from calibration.db import Row, Tx

_META = "id, head, version, sha256, coins, source, note, parent_id, created_at, created_by"


def insert_profile(
    tx: Tx,
    *,
    head: str,
    document: str,
    sha256: str,
    coins: str,
    source: str,
    note: str | None,
    parent_id: int | None,
    created_at: str,
    created_by: str,
) -> Row:
    """Store a new version of ``head``'s profile (the next version number); its metadata row."""
    last = tx.fetchone("SELECT MAX(version) AS v FROM profiles WHERE head = ?", (head,))
    version = int(last["v"] or 0) + 1 if last else 1
    row = tx.fetchone(
        "INSERT INTO profiles (head, version, document, sha256, coins, source, note, parent_id,"
        f" created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_META}",
        (head, version, document, sha256, coins, source, note, parent_id, created_at, created_by),
    )
    assert row is not None
    return row


def get_profile(tx: Tx, profile_id: int, *, document: bool = False) -> Row | None:
    """One version's metadata (and its document text when asked)."""
    columns = _META + (", document" if document else "")
    return tx.fetchone(f"SELECT {columns} FROM profiles WHERE id = ?", (profile_id,))


def get_by_version(tx: Tx, head: str, version: int) -> Row | None:
    """A head's version by number (metadata only)."""
    return tx.fetchone(
        f"SELECT {_META} FROM profiles WHERE head = ? AND version = ?", (head, version)
    )


def list_profiles(tx: Tx, *, head: str | None, limit: int, offset: int) -> list[Row]:
    """Versions, newest first (metadata only)."""
    if head is None:
        return tx.fetchall(
            f"SELECT {_META} FROM profiles ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
        )
    return tx.fetchall(
        f"SELECT {_META} FROM profiles WHERE head = ? ORDER BY version DESC LIMIT ? OFFSET ?",
        (head, limit, offset),
    )


def latest_with_sha256(tx: Tx, head: str, sha256: str) -> Row | None:
    """The head's newest version whose document has this digest (metadata), or None."""
    return tx.fetchone(
        f"SELECT {_META} FROM profiles WHERE head = ? AND sha256 = ? ORDER BY version DESC LIMIT 1",
        (head, sha256),
    )
