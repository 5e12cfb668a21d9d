"""The audit log: append and read, nothing else (the schema refuses updates and deletes)."""

from __future__ import annotations

import json
from typing import Any

from calibration.db import Row, Tx
from calibration.errors import KeyRevokedError


def append(
    tx: Tx,
    *,
    at: str,
    key_id: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """Record one state change; ``before``/``after`` are JSON-ready values.

    A change asked for by a key that has been revoked meanwhile (checked here,
    in the change's own transaction) is refused: two admins revoking each other
    cannot both succeed.
    """
    key = tx.fetchone("SELECT revoked_at FROM api_keys WHERE id = ?", (key_id,))
    if key is not None and key["revoked_at"] is not None:
        raise KeyRevokedError(f"key {key_id} was revoked before this change could be made")
    tx.execute(
        "INSERT INTO audit (at, key_id, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
        (
            at,
            key_id,
            action,
            target,
            None if before is None else json.dumps(before, sort_keys=True),
            None if after is None else json.dumps(after, sort_keys=True),
        ),
    )


def query(
    tx: Tx,
    *,
    action: str | None,
    key_id: str | None,
    target: str | None,
    since: str | None,
    until: str | None,
    before_id: int | None,
    limit: int,
) -> list[Row]:
    """Entries, newest first, filtered; ``before``/``after`` decoded."""
    where: list[str] = []
    params: list[Any] = []
    for column, value, op in (
        ("action", action, "="),
        ("key_id", key_id, "="),
        ("target", target, "="),
        ("at", since, ">="),
        ("at", until, "<"),
        ("id", before_id, "<"),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = tx.fetchall(f"SELECT * FROM audit {clause} ORDER BY id DESC LIMIT ?", (*params, limit))
    for row in rows:
        for key in ("before", "after"):
            row[key] = None if row[key] is None else json.loads(row[key])
    return rows
