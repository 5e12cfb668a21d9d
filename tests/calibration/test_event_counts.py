"""The maintained decision counts: the same figures as counting the events themselves."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.db import _SQLITE_V1, Tx, _split_sql, format_time, open_database
from calibration.repository import events as events_repo
from calibration.repository.events import EventFilter
from tests.calibration.live_events import insert_live

T0 = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
COINS = ("gb-200-1997", "gb-050-1997", None)
REASONS = ("accepted", "counterfeit", "inhibited")


def _brute(tx: Tx, flt: EventFilter, bucket_chars: int | None, by_coin: bool) -> list[Any]:
    """What the counts must be: every event read and grouped."""
    where, params = flt.where()
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    bucket = f"SUBSTR(at, 1, {bucket_chars})" if bucket_chars else "''"
    coin = ", coin" if by_coin else ""
    rows = tx.fetchall(
        f"SELECT {bucket} AS bucket{coin}, reason, COUNT(*) AS n FROM events {clause}"
        f" GROUP BY {bucket}{coin}, reason",
        params,
    )
    return _sorted(rows, by_coin)


def _sorted(rows: list[Any], by_coin: bool) -> list[Any]:
    keys = ("bucket", "coin", "reason", "n") if by_coin else ("bucket", "reason", "n")
    return sorted((tuple(r[k] for k in keys) for r in rows), key=lambda t: [str(v) for v in t])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Events over a week on two heads, at odd minutes, some without a coin."""
    db = open_database(tmp_path_factory.mktemp("counts") / "s.db")
    with db.transaction(write=True) as tx:
        for i in range(600):
            at = T0 + dt.timedelta(minutes=17 * i, seconds=i % 60, microseconds=i)
            insert_live(tx, at, "AB"[i % 2], COINS[i % 3], REASONS[(i // 3) % 3])
    return db


moments = st.one_of(
    st.none(),
    st.integers(min_value=-120, max_value=11_000).map(
        lambda m: format_time(T0 + dt.timedelta(minutes=m))
    ),
    st.integers(min_value=-2, max_value=190).map(
        lambda h: format_time(T0 + dt.timedelta(hours=h))  # on the hour
    ),
    st.integers(min_value=-1, max_value=8).map(
        lambda d: format_time(dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(days=d))
    ),
    st.integers(min_value=0, max_value=10**10).map(
        lambda us: format_time(T0 + dt.timedelta(microseconds=us * 61))
    ),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    since=moments,
    until=moments,
    head=st.sampled_from([None, "A", "B", "C"]),
    coin=st.sampled_from([None, "gb-200-1997"]),
    reason=st.sampled_from([None, "counterfeit"]),
    bucket_chars=st.sampled_from([None, 10, 13]),
    by_coin=st.booleans(),
)
def test_counts_equal_counting_the_events(
    store: Any,
    since: str | None,
    until: str | None,
    head: str | None,
    coin: str | None,
    reason: str | None,
    bucket_chars: int | None,
    by_coin: bool,
) -> None:
    flt = EventFilter(head=head, coin=coin, reason=reason, since=since, until=until)
    with store.transaction() as tx:
        got = events_repo.counts(tx, flt, bucket_chars=bucket_chars, by_coin=by_coin)
        assert _sorted(got, by_coin) == _brute(tx, flt, bucket_chars, by_coin)


def test_counts_follow_updates_and_deletes(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db")
    with db.transaction(write=True) as tx:
        first = insert_live(tx, T0, "A", None, "counterfeit")
        insert_live(tx, T0, "A", "gb-200-1997", "accepted")
        tx.execute("UPDATE events SET reason = 'unknown', at = ? WHERE id = ?", ("2024-06", first))
        tx.execute("DELETE FROM events WHERE coin = 'gb-200-1997'")
        insert_live(tx, T0, "A", "gb-200-1997", "accepted")
    with db.transaction() as tx:
        assert events_repo.counts_by_head(tx) == [
            {"head": "A", "coin": None, "reason": "unknown", "n": 1},
            {"head": "A", "coin": "gb-200-1997", "reason": "accepted", "n": 1},
        ]
        assert [
            (r["bucket"], r["n"]) for r in events_repo.counts(tx, EventFilter(), bucket_chars=7)
        ] in (
            [("2024-06", 1), ("2024-05", 1)],
            [("2024-05", 1), ("2024-06", 1)],
        )


def test_the_migration_counts_events_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _split_sql(_SQLITE_V1):  # a store of the first schema, with events
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    for i in range(50):
        at = format_time(T0 + dt.timedelta(minutes=23 * i))
        conn.execute(
            "INSERT INTO events (at, head, coin, accepted, reason, source)"
            " VALUES (?, 'A', ?, 0, ?, 'live')",
            (at, COINS[i % 3], REASONS[i % 3]),
        )
    conn.close()
    db = open_database(path)
    with db.transaction() as tx:
        for bucket_chars in (None, 13):
            flt = EventFilter(since=format_time(T0 + dt.timedelta(minutes=30)))
            got = events_repo.counts(tx, flt, bucket_chars=bucket_chars)
            assert _sorted(got, True) == _brute(tx, flt, bucket_chars, True)
        assert sum(r["n"] for r in events_repo.counts_by_head(tx)) == 50


@pytest.mark.parametrize(
    "flt",
    [
        EventFilter(head="A", reason="counterfeit"),
        EventFilter(reason="counterfeit"),
        EventFilter(head="A", coin="gb-200-1997"),
        EventFilter(coin="gb-200-1997"),
        EventFilter(head="A"),
    ],
)
def test_filtered_pages_walk_an_index(tmp_path: Path, flt: EventFilter) -> None:
    """A rare reason must not mean reading every event of the head."""
    db = open_database(tmp_path / "s.db")
    where, params = flt.where()
    sql = f"SELECT id FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT 20"
    with db.transaction() as tx:
        plan = " ".join(str(r["detail"]) for r in tx.fetchall(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING" in plan and "INDEX" in plan and "TEMP B-TREE" not in plan, plan
