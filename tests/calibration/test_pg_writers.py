"""PostgreSQL: writers waiting for the write lock leave pooled connections to reads.

The fleet benchmark found nearly every pooled connection waiting for the one
write lock under ingest, and reads (GETs) waiting seconds for a connection.
Writers now queue for the lock in the process, a few at a time in the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from calibration.db import WRITE_LOCK_KEY, PostgresDatabase, open_database
from calibration.errors import StoreBusyError
from tests.calibration.postgres import Server


@pytest.fixture
def pg_url(pg_server: Server) -> Iterator[str]:
    url = pg_server.create()
    open_database(url).close()  # migrated
    yield url
    pg_server.drop(url)


def test_reads_get_a_connection_while_every_writer_waits(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, busy_timeout_ms=20_000, max_connections=8)
    holder = psycopg.connect(pg_url, autocommit=True)
    holder.execute("BEGIN")
    holder.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")  # the write lock, held
    writers_done: list[BaseException | None] = []

    def write() -> None:
        try:
            with db.transaction(write=True) as tx:
                tx.execute("UPDATE coinval_schema SET version = version")
            writers_done.append(None)
        except BaseException as exc:
            writers_done.append(exc)

    writers = [threading.Thread(target=write) for _ in range(12)]
    try:
        for w in writers:
            w.start()
        time.sleep(0.5)  # every writer is waiting: in the store, or for its turn
        # More writers wait than the pool has connections, yet a read gets one.
        with db.transaction() as tx:
            assert tx.fetchone("SELECT 1 AS one") == {"one": 1}
        assert not writers_done  # none had the lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        for w in writers:
            w.join(timeout=30)
        db.close()
    assert writers_done == [None] * 12  # every write went through once the lock was free


def test_a_writer_waiting_past_the_busy_timeout_is_503(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, busy_timeout_ms=300, max_connections=4)  # one writer at a time
    holder = psycopg.connect(pg_url, autocommit=True)
    holder.execute("BEGIN")
    holder.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with db.transaction(write=True) as tx:
                tx.execute("UPDATE coinval_schema SET version = version")
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=write) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.close()
    assert len(errors) == 2 and all(isinstance(e, StoreBusyError) for e in errors), errors
