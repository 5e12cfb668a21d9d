"""Fleet heads: each head's model, reporting acceptor, running version and last sighting."""

from __future__ import annotations

from collections.abc import Sequence

from calibration.db import Row, Tx, one_of

_COLUMNS = (
    "head, model, model_source, reported_model, acceptor_id, running_version, last_seen, updated_at"
)


def seen(
    tx: Tx,
    heads: Sequence[str],
    *,
    acceptor_id: str,
    model: str | None,
    running_version: int | None,
    now: str,
) -> None:
    """Record that ``acceptor_id`` reported ``heads`` at ``now`` (the service's clock).

    ``model`` and ``running_version`` None mean "not said": the stored ones stay.
    An operator's model is never replaced by an acceptor's; the acceptor's is
    kept in ``reported_model`` all the same.
    """
    source = None if model is None else "acceptor"
    for head in heads:
        tx.execute(
            f"INSERT INTO fleet_heads ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (head) DO UPDATE SET"
            " acceptor_id = excluded.acceptor_id,"
            " last_seen = excluded.last_seen,"
            " updated_at = excluded.updated_at,"
            " running_version = COALESCE(excluded.running_version, fleet_heads.running_version),"
            " reported_model = COALESCE(excluded.reported_model, fleet_heads.reported_model),"
            " model = CASE WHEN fleet_heads.model_source = 'operator' THEN fleet_heads.model"
            "   ELSE COALESCE(excluded.model, fleet_heads.model) END,"
            " model_source = CASE WHEN fleet_heads.model_source = 'operator' THEN 'operator'"
            "   ELSE COALESCE(excluded.model_source, fleet_heads.model_source) END",
            (head, model, source, model, acceptor_id, running_version, now, now),
        )


def set_model(tx: Tx, head: str, model: str | None, now: str) -> None:
    """An operator's model for ``head``; None drops it (the acceptor's, if any, comes back)."""
    if model is None:
        tx.execute(
            "UPDATE fleet_heads SET model = reported_model,"
            " model_source = CASE WHEN reported_model IS NULL THEN NULL ELSE 'acceptor' END,"
            " updated_at = ? WHERE head = ?",
            (now, head),
        )
        return
    tx.execute(
        f"INSERT INTO fleet_heads ({_COLUMNS}) VALUES (?, ?, 'operator', NULL, NULL, NULL, NULL, ?)"
        " ON CONFLICT (head) DO UPDATE SET model = excluded.model, model_source = 'operator',"
        " updated_at = excluded.updated_at",
        (head, model, now),
    )


def get(tx: Tx, head: str) -> Row | None:
    """A head's fleet row, or None."""
    return tx.fetchone(f"SELECT {_COLUMNS} FROM fleet_heads WHERE head = ?", (head,))


def of_heads(tx: Tx, heads: Sequence[str]) -> dict[str, Row]:
    """The fleet rows of ``heads`` (those that have one), by head."""
    if not heads:
        return {}
    among, params = one_of(tx, "head", heads)
    rows = tx.fetchall(f"SELECT {_COLUMNS} FROM fleet_heads WHERE {among}", params)
    return {str(row["head"]): row for row in rows}


def heads_of_model(tx: Tx, model: str, *, after: str = "", limit: int | None = None) -> list[str]:
    """Heads of ``model`` after ``after`` in name order (``limit`` of them, or all)."""
    sql = "SELECT head FROM fleet_heads WHERE model = ? AND head > ? ORDER BY head"
    params: list[object] = [model, after]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [str(row["head"]) for row in tx.fetchall(sql, params)]


def model_exists(tx: Tx, model: str) -> bool:
    """Whether any head has ``model``."""
    return (
        tx.fetchone("SELECT 1 AS found FROM fleet_heads WHERE model = ? LIMIT 1", (model,))
        is not None
    )


def models(tx: Tx, limit: int) -> list[str]:
    """Some models heads have, by name (for messages naming the known ones)."""
    rows = tx.fetchall(
        "SELECT DISTINCT model FROM fleet_heads WHERE model IS NOT NULL ORDER BY model LIMIT ?",
        (limit,),
    )
    return [str(row["model"]) for row in rows]


def heads_after(tx: Tx, after: str, limit: int) -> list[str]:
    """Heads with a fleet row after ``after``, by name."""
    rows = tx.fetchall(
        "SELECT head FROM fleet_heads WHERE head > ? ORDER BY head LIMIT ?", (after, limit)
    )
    return [str(row["head"]) for row in rows]


def store_heads_after(tx: Tx, after: str, limit: int) -> list[str]:
    """Heads of the store's ``heads`` table (those with profiles) after ``after``, by name."""
    rows = tx.fetchall(
        "SELECT head FROM heads WHERE head > ? ORDER BY head LIMIT ?", (after, limit)
    )
    return [str(row["head"]) for row in rows]


def active_versions(tx: Tx, heads: Sequence[str]) -> dict[str, Row]:
    """Each of ``heads``' active profile (``active_profile_id``, ``version``), by head."""
    if not heads:
        return {}
    among, params = one_of(tx, "h.head", heads)
    rows = tx.fetchall(
        "SELECT h.head, h.active_profile_id, p.version FROM heads h"
        f" LEFT JOIN profiles p ON p.id = h.active_profile_id WHERE {among}",
        params,
    )
    return {str(row["head"]): row for row in rows}
