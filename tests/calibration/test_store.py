"""The store, SQLite and PostgreSQL: migrations, append-only audit log, immutable
profile versions, one writer at a time, busy errors as 503."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from calibration.db import (
    MIGRATIONS,
    latest_schema_version,
    open_database,
    without_password,
)
from calibration.errors import StoreBusyError
from calibration.repository import audit, profiles
from tests.calibration.conftest import free_port

#: What a refused change raises, per store.
INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


def test_migrations_are_idempotent(store_target: str, store_kind: str) -> None:
    db = open_database(store_target)
    assert db.schema_version() == latest_schema_version(db.dialect) == 11
    assert open_database(store_target).migrate() == latest_schema_version(db.dialect)
    with db.transaction() as tx:
        if store_kind == "sqlite":
            assert tx.fetchone("PRAGMA journal_mode") == {"journal_mode": "wal"}
        else:
            assert tx.fetchall("SELECT version FROM coinval_schema") == [{"version": 11}]


def test_every_dialect_reaches_the_same_versions() -> None:
    newest = {dialect: max(scripts) for dialect, scripts in MIGRATIONS.items()}
    assert set(newest) == {"sqlite", "postgresql"}
    assert len(set(newest.values())) == 1
    # after its first version, each dialect has a script for every version
    for scripts in MIGRATIONS.values():
        assert sorted(scripts) == list(range(min(scripts), max(scripts) + 1))


def _columns(db: Any) -> dict[str, set[str]]:
    with db.transaction() as tx:
        if db.dialect == "sqlite":
            tables = [
                r["name"]
                for r in tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return {t: {r["name"] for r in tx.fetchall(f"PRAGMA table_info({t})")} for t in tables}
        out: dict[str, set[str]] = {}
        for r in tx.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name <> 'coinval_schema'"
        ):
            out.setdefault(r["table_name"], set()).add(r["column_name"])
        return out


def test_postgres_starts_at_the_same_schema_as_sqlite(
    tmp_path: Path, new_store: Callable[[str], str], store_kind: str
) -> None:
    if store_kind != "postgres":
        pytest.skip("compares the PostgreSQL schema with SQLite's")
    sqlite_db = open_database(tmp_path / "same.db")
    pg_db = open_database(new_store("same"))
    try:
        assert _columns(pg_db) == _columns(sqlite_db)
    finally:
        pg_db.close()


def test_a_newer_store_is_refused(store_target: str, store_kind: str) -> None:
    db = open_database(store_target)
    newer = latest_schema_version(db.dialect) + 1
    db.close()
    if store_kind == "sqlite":
        conn = sqlite3.connect(store_target)
        conn.execute(f"PRAGMA user_version = {newer}")
        conn.close()
    else:
        with psycopg.connect(store_target, autocommit=True) as pg:
            pg.execute("UPDATE coinval_schema SET version = %s", (newer,))
    with pytest.raises(RuntimeError, match="newer"):
        open_database(store_target)


def test_a_postgres_server_out_of_reach_is_one_line_at_once() -> None:
    url = f"postgresql://coinval:secret-pass@127.0.0.1:{free_port()}/coinval"
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="connection") as caught:
        open_database(url)
    assert time.monotonic() - started < 5
    assert "\n" not in str(caught.value) and "secret-pass" not in str(caught.value)


def test_a_url_in_messages_hides_its_password() -> None:
    assert without_password("postgresql://u:pw@db.example:5433/c") == (
        "postgresql://u:***@db.example:5433/c"
    )
    assert without_password("postgresql://u@h/c") == "postgresql://u@h/c"


def test_audit_log_is_append_only(store_target: str) -> None:
    db = open_database(store_target)
    with db.transaction(write=True) as tx:
        audit.append(tx, at="2024-01-01T00:00:00.000000Z", key_id="k", action="a", target="t")
    for statement in ("UPDATE audit SET action = 'b'", "DELETE FROM audit"):
        with (
            pytest.raises(INTEGRITY, match="append-only"),
            db.transaction(write=True) as tx,
        ):
            tx.execute(statement)
    with db.transaction() as tx:
        rows = audit.query(
            tx,
            action=None,
            key_id=None,
            target=None,
            since=None,
            until=None,
            before_id=None,
            limit=10,
        )
    assert [r["action"] for r in rows] == ["a"]


def test_profile_versions_are_immutable(store_target: str) -> None:
    db = open_database(store_target)
    with db.transaction(write=True) as tx:
        row = profiles.insert_profile(
            tx,
            head="A",
            document="{}",
            sha256="x",
            coins="[]",
            source="import",
            note=None,
            parent_id=None,
            created_at="t",
            created_by="k",
        )
    assert row["version"] == 1
    for statement in ("UPDATE profiles SET document = 'y'", "DELETE FROM profiles"):
        with (
            pytest.raises(INTEGRITY, match="profile versions"),
            db.transaction(write=True) as tx,
        ):
            tx.execute(statement)


def test_a_failed_transaction_leaves_nothing(store_target: str) -> None:
    db = open_database(store_target)
    with pytest.raises(ZeroDivisionError), db.transaction(write=True) as tx:
        audit.append(tx, at="t", key_id="k", action="a", target="t")
        _ = 1 / 0
    with db.transaction() as tx:
        assert tx.fetchone("SELECT COUNT(*) AS n FROM audit") == {"n": 0}


def test_a_schema_4_store_gets_its_sessions_sample_counts(tmp_path: Path) -> None:
    """Migration 5 counts the samples a store already holds, and its triggers keep counting
    (SQLite only: PostgreSQL stores start at version 6)."""
    from calibration.db import _split_sql

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number in range(1, 5):
        script = MIGRATIONS["sqlite"][number]
        for statement in _split_sql(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    session = (
        "INSERT INTO teach_sessions (head, coin, security, live, state, created_at, created_by)"
        " VALUES ('A', 'gb-100-2017', 'standard', 0, 'open', '2024-01-01', 'k')"
    )
    sample = (
        "INSERT INTO teach_samples (session_id, signature, source, added_at)"
        " VALUES (?, '{}', 'upload', '2024-01-01')"
    )
    for _ in range(3):
        conn.execute(session)
    for sid, n in ((1, 5), (2, 0), (3, 2)):
        for _ in range(n):
            conn.execute(sample, (sid,))
    conn.close()

    db = open_database(path)
    assert db.schema_version() == latest_schema_version()
    with db.transaction(write=True) as tx:
        counts = {r["id"]: r["sample_count"] for r in tx.fetchall("SELECT * FROM teach_sessions")}
        assert counts == {1: 5, 2: 0, 3: 2}
        tx.execute(sample, (2,))
        tx.execute("DELETE FROM teach_samples WHERE id = (SELECT MIN(id) FROM teach_samples)")
    with db.transaction() as tx:
        counts = {r["id"]: r["sample_count"] for r in tx.fetchall("SELECT * FROM teach_sessions")}
    assert counts == {1: 4, 2: 1, 3: 2}


def test_stores_left_behind_keep_no_files_open(tmp_path: Path) -> None:
    """A process that opens many stores (a test run, a tool) does not run out of
    descriptors: a store nothing refers to any more keeps none of its files open."""
    import gc
    import os

    stores = []
    for i in range(30):
        db = open_database(tmp_path / f"s{i}.db")
        with db.transaction(write=True) as tx:
            tx.execute("INSERT INTO audit (at, key_id, action, target) VALUES ('t', 'k', 'a', 'x')")
        stores.append(db)
    del stores, db, tx
    gc.collect()

    def open_here() -> list[str]:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                continue
        return [n for n in names if n.startswith(str(tmp_path))]

    assert open_here() == []


def _profile(tx: Any, head: str = "A") -> int:
    row = profiles.insert_profile(
        tx,
        head=head,
        document="{}",
        sha256="x",
        coins="[]",
        source="import",
        note=None,
        parent_id=None,
        created_at="t",
        created_by="k",
    )
    return int(row["version"])


def test_concurrent_writers_run_one_at_a_time(store_target: str) -> None:
    """The next profile version is read, then written: right only with one writer at a
    time (SQLite's write lock; PostgreSQL's advisory lock).  Writers from several
    connections at once all succeed, with versions 1..n."""
    db = open_database(store_target)
    versions: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer() -> None:
        start.wait()
        try:
            for _ in range(5):
                with db.transaction(write=True) as tx:
                    version = _profile(tx)
                    time.sleep(0.001)  # widen the window between reading and committing
                versions.append(version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close()
    assert errors == []
    assert sorted(versions) == list(range(1, 41))


def test_a_write_lock_held_too_long_is_a_503(store_target: str) -> None:
    """A writer that cannot have the write lock within the busy timeout gets
    StoreBusyError (503, Retry-After), not the database's own error; once the lock
    is free it writes."""
    holder = open_database(store_target)
    waiter = open_database(store_target, busy_timeout_ms=200)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction(write=True) as tx:
            _profile(tx, "H")
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as caught, waiter.transaction(write=True) as tx:
            _profile(tx, "W")
        assert 0.15 < time.monotonic() - started < 5
        assert caught.value.status == 503
        assert caught.value.headers == {"Retry-After": "1"}
        with waiter.transaction() as tx:  # reads do not wait for the write lock
            assert tx.fetchone("SELECT COUNT(*) AS n FROM profiles") == {"n": 0}
    finally:
        release.set()
        thread.join()
    with waiter.transaction(write=True) as tx:
        assert _profile(tx, "W") == 1
    with waiter.transaction() as tx:
        heads = tx.fetchall("SELECT head FROM profiles ORDER BY head")
    assert heads == [{"head": "H"}, {"head": "W"}]
    holder.close()
    waiter.close()


def test_the_portable_sql_runs_on_both(store_target: str) -> None:
    """Placeholders beside a literal %, bytes in and out, NULLs, RETURNING, upserts."""
    db = open_database(store_target)
    blob = bytes(range(256))
    with db.transaction(write=True) as tx:
        tx.execute(
            "INSERT INTO teach_sessions (head, coin, security, live, state, created_at,"
            " created_by) VALUES (?, ?, 'standard', ?, 'open', ?, ?)",
            ("A", "c", 1, "t", "k"),
        )
        row = tx.fetchone(
            "INSERT INTO teach_samples (session_id, signature, source, added_at, features)"
            " VALUES (?, '{}', 'upload', 't', ?) RETURNING id, features",
            (1, blob),
        )
        assert row == {"id": 1, "features": blob}
        assert tx.fetchone("SELECT '100%' AS p, ? AS q", ("x%?",)) == {"p": "100%", "q": "x%?"}
    with db.transaction() as tx:
        got = tx.fetchone(
            "SELECT features, key_id, sample_count FROM teach_samples s"
            " JOIN teach_sessions t ON t.id = s.session_id"
        )
    assert got == {"features": blob, "key_id": None, "sample_count": 1}
    db.close()


def test_a_postgres_read_transaction_cannot_write(store_target: str, store_kind: str) -> None:
    """Reads run READ ONLY on PostgreSQL: a write there would skip the write lock."""
    if store_kind != "postgres":
        pytest.skip("SQLite upgrades a read transaction to a write under its own lock")
    db = open_database(store_target)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), db.transaction() as tx:
        tx.execute("INSERT INTO audit (at, key_id, action, target) VALUES ('t', 'k', 'a', 'x')")
    db.close()
