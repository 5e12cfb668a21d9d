"""API keys: stored as sha256 hashes, never in clear."""

from __future__ import annotations

from calibration.db import Row, Tx

_PUBLIC = "id, name, role, created_at, created_by, revoked_at, revoked_by"


def insert_key(
    tx: Tx, *, key_id: str, name: str, role: str, hash_hex: str, at: str, by: str
) -> Row:
    """Store a new key's hash; its public row."""
    row = tx.fetchone(
        "INSERT INTO api_keys (id, name, role, hash, created_at, created_by)"
        f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_PUBLIC}",
        (key_id, name, role, hash_hex, at, by),
    )
    assert row is not None
    return row


def find_by_hash(tx: Tx, hash_hex: str) -> Row | None:
    """The key row (hash included) with this hash, revoked or not."""
    return tx.fetchone("SELECT * FROM api_keys WHERE hash = ?", (hash_hex,))


def get_key(tx: Tx, key_id: str) -> Row | None:
    """A key's public row."""
    return tx.fetchone(f"SELECT {_PUBLIC} FROM api_keys WHERE id = ?", (key_id,))


def list_keys(tx: Tx) -> list[Row]:
    """Every key's public row, oldest first."""
    return tx.fetchall(f"SELECT {_PUBLIC} FROM api_keys ORDER BY created_at, id")


def count_keys(tx: Tx) -> int:
    """How many keys were ever made."""
    row = tx.fetchone("SELECT COUNT(*) AS n FROM api_keys")
    return int(row["n"]) if row else 0


def count_active_admins(tx: Tx) -> int:
    """Admin keys not revoked."""
    row = tx.fetchone(
        "SELECT COUNT(*) AS n FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL"
    )
    return int(row["n"]) if row else 0


def revoke(tx: Tx, key_id: str, *, at: str, by: str) -> bool:
    """Revoke a key; False if it was already revoked."""
    return (
        tx.execute(
            "UPDATE api_keys SET revoked_at = ?, revoked_by = ?"
            " WHERE id = ? AND revoked_at IS NULL",
            (at, by, key_id),
        )
        == 1
    )
