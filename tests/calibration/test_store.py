"""The store: migrations, WAL, append-only audit log, immutable profile versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from calibration.db import latest_schema_version, open_database
from calibration.repository import audit


def test_migrations_are_idempotent_and_use_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = open_database(path)
    assert db.schema_version() == latest_schema_version()
    assert open_database(path).migrate() == latest_schema_version()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_database(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {latest_schema_version() + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        open_database(path)


def test_postgres_urls_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        open_database("postgresql://localhost/coinval")


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db")
    with db.transaction(write=True) as tx:
        audit.append(tx, at="2024-01-01T00:00:00.000000Z", key_id="k", action="a", target="t")
    for statement in ("UPDATE audit SET action = 'b'", "DELETE FROM audit"):
        with (
            pytest.raises(sqlite3.IntegrityError, match="append-only"),
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


def test_profile_versions_are_immutable(tmp_path: Path) -> None:
    from calibration.repository import profiles

    db = open_database(tmp_path / "s.db")
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
            pytest.raises(sqlite3.IntegrityError, match="profile versions"),
            db.transaction(write=True) as tx,
        ):
            tx.execute(statement)


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db")
    with pytest.raises(ZeroDivisionError), db.transaction(write=True) as tx:
        audit.append(tx, at="t", key_id="k", action="a", target="t")
        _ = 1 / 0
    with db.transaction() as tx:
        assert tx.fetchone("SELECT COUNT(*) AS n FROM audit") == {"n": 0}


def test_a_schema_4_store_gets_its_sessions_sample_counts(tmp_path: Path) -> None:
    """Migration 5 counts the samples a store already holds, and its triggers keep counting."""
    from calibration.db import MIGRATIONS, _split_sql

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS["sqlite"][:4], start=1):
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
