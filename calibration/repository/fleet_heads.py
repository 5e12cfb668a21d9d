"""Fleet heads: each head's model, reporting acceptor, running version and last sighting."""

from __future__ import annotations

from collections.abc import Sequence

from calibration.db import Row, Tx

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


_PAGE_COLUMNS = (
    "p.head, f.model, f.model_source, f.acceptor_id, f.running_version, f.last_seen,"
    " h.active_profile_id, pr.version"
)
_PAGE_JOINS = (
    " LEFT JOIN fleet_heads f ON f.head = p.head LEFT JOIN heads h ON h.head = p.head"
    " LEFT JOIN profiles pr ON pr.id = h.active_profile_id ORDER BY p.head"
)


def page(tx: Tx, *, model: str | None, after: str, limit: int) -> list[Row]:
    """``limit`` heads after ``after`` by name, each with its fleet row's columns (None
    where it has none), ``active_profile_id`` and that profile's ``version``.

    With ``model``, that model's heads; else every head the store knows of: with
    a profile, reported by an acceptor, or with decisions (a loose index scan of
    the daily rollup: one probe per head).  One statement: under load each round
    trip to the store cost a request more than its query.
    """
    if model is not None:
        return tx.fetchall(
            f"WITH p AS (SELECT head FROM fleet_heads WHERE model = ? AND head > ?"
            f" ORDER BY head LIMIT ?) SELECT {_PAGE_COLUMNS} FROM p{_PAGE_JOINS}",
            (model, after, limit),
        )
    # each source's first ``limit`` after the cursor: their union's first ``limit``
    # are the page, whichever source each head comes from
    return tx.fetchall(
        "WITH RECURSIVE d(head, k) AS ("
        " SELECT (SELECT MIN(head) FROM event_counts_daily WHERE head > ?), 1"
        " UNION ALL"
        " SELECT (SELECT MIN(head) FROM event_counts_daily WHERE head > d.head), k + 1"
        " FROM d WHERE d.head IS NOT NULL AND k < ?),"
        " p AS (SELECT head FROM ("
        "  SELECT head FROM (SELECT head FROM heads WHERE head > ? ORDER BY head LIMIT ?) AS s"
        "  UNION SELECT head FROM"
        "   (SELECT head FROM fleet_heads WHERE head > ? ORDER BY head LIMIT ?) AS r"
        "  UNION SELECT head FROM d WHERE head IS NOT NULL"
        " ) AS u ORDER BY head LIMIT ?)"
        f" SELECT {_PAGE_COLUMNS} FROM p{_PAGE_JOINS}",
        (after, limit, after, limit, after, limit, limit),
    )
