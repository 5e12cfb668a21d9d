"""The store's connection layer: a small database interface, SQLite behind it, migrations.

Everything above this module writes plain SQL with ``?`` placeholders against
:class:`Database` / :class:`Tx`, and gets rows back as dicts.  The SQL used by
the repository is portable (no SQLite-only functions; ``INSERT ... RETURNING``
works on SQLite >= 3.35 and PostgreSQL), so a PostgreSQL implementation of
this interface needs only its own connection handling, a ``?`` -> ``%s``
placeholder translation and its own migration list (:data:`MIGRATIONS` is
keyed by dialect).

SQLite specifics live here only: WAL journal, a busy timeout so concurrent
writers queue instead of failing, ``BEGIN IMMEDIATE`` for write transactions
(no lock upgrades, so no deadlocks between two writers), foreign keys on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from calibration.errors import StoreBusyError

Row = dict[str, Any]
Params = Sequence[Any]


class Tx(Protocol):
    """One open transaction."""

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        ...


class Database(Protocol):
    """A store that hands out transactions."""

    dialect: str

    def transaction(self, *, write: bool = False, bulk: bool = False) -> Any:
        """A context manager yielding a :class:`Tx`; commits on success, rolls back on error."""
        ...

    def schema_version(self) -> int:
        """The newest migration applied."""
        ...


# -- migrations -------------------------------------------------------------------

_SQLITE_V1 = """
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    coins TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT,
    parent_id INTEGER REFERENCES profiles(id),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (head, version)
);
CREATE TRIGGER profiles_immutable BEFORE UPDATE ON profiles
BEGIN SELECT RAISE(ABORT, 'profile versions are immutable'); END;
CREATE TRIGGER profiles_undeletable BEFORE DELETE ON profiles
BEGIN SELECT RAISE(ABORT, 'profile versions are never deleted'); END;

CREATE TABLE heads (
    head TEXT PRIMARY KEY,
    active_profile_id INTEGER REFERENCES profiles(id),
    master_inhibit INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE activations (
    id INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    profile_id INTEGER NOT NULL REFERENCES profiles(id),
    previous_profile_id INTEGER REFERENCES profiles(id),
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL
);
CREATE INDEX activations_head ON activations (head, id);

CREATE TABLE coin_settings (
    head TEXT NOT NULL,
    coin TEXT NOT NULL,
    inhibited INTEGER,
    legal_tender TEXT,
    PRIMARY KEY (head, coin)
);

CREATE TABLE teach_sessions (
    id INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    coin TEXT NOT NULL,
    security TEXT NOT NULL,
    live INTEGER NOT NULL,
    state TEXT NOT NULL,
    base_profile_id INTEGER REFERENCES profiles(id),
    result_profile_id INTEGER REFERENCES profiles(id),
    note TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT
);
CREATE INDEX teach_sessions_open ON teach_sessions (head, state);

CREATE TABLE teach_samples (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES teach_sessions(id),
    signature TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX teach_samples_session ON teach_samples (session_id, id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    head TEXT NOT NULL,
    signature_id TEXT,
    coin TEXT,
    accepted INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    profile_id INTEGER,
    source TEXT NOT NULL,
    signature TEXT
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_head ON events (head, id);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);
"""

_SQLITE_V2 = """
-- Decision counts per (head, UTC hour, coin, reason) and per (head, UTC day, coin,
-- reason), kept by triggers in the same transaction as the event, so /stats and /metrics
-- read a few rows per day or hour instead of every event.  ``coin`` is '' for a
-- decision without one (a key column cannot be NULL).  Events are never deleted and
-- only their signature is ever updated, but the triggers keep the counts right whatever
-- changes.  WITHOUT ROWID: rows live in the key's order, so a head's hours or days are
-- read as one range; the second index of each serves totals per coin and reason over a
-- window without sorting (and without the table).
CREATE TABLE event_counts (
    head TEXT NOT NULL,
    hour TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (head, hour, coin, reason)
) WITHOUT ROWID;
CREATE INDEX event_counts_coin ON event_counts (head, coin, reason, hour, n);
CREATE TABLE event_counts_daily (
    head TEXT NOT NULL,
    day TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (head, day, coin, reason)
) WITHOUT ROWID;
CREATE INDEX event_counts_daily_coin ON event_counts_daily (head, coin, reason, day, n);
INSERT INTO event_counts (head, hour, coin, reason, n)
SELECT head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason, COUNT(*)
FROM events GROUP BY head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason;
INSERT INTO event_counts_daily (head, day, coin, reason, n)
SELECT head, SUBSTR(hour, 1, 10), coin, reason, SUM(n)
FROM event_counts GROUP BY head, SUBSTR(hour, 1, 10), coin, reason;

CREATE TRIGGER events_count_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts (head, hour, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_counts_daily (head, day, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER events_count_delete AFTER DELETE ON events
BEGIN
    UPDATE event_counts SET n = n - 1
    WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_counts_daily SET n = n - 1
    WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
END;
CREATE TRIGGER events_count_update AFTER UPDATE OF head, at, coin, reason ON events
BEGIN
    UPDATE event_counts SET n = n - 1
    WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_counts_daily SET n = n - 1
    WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    INSERT INTO event_counts (head, hour, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_counts_daily (head, day, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = n + 1;
END;

-- Newest-first pages filtered by reason or coin (with or without a head) walk an
-- index instead of every event of the head: a rare reason (counterfeit) no longer
-- means reading the whole table.  A head's events in a time window (the partial hours
-- at the ends of a stats window) are a range of (head, at).
CREATE INDEX events_head_at ON events (head, at);
CREATE INDEX events_head_reason ON events (head, reason, id);
CREATE INDEX events_head_coin ON events (head, coin, id);
CREATE INDEX events_reason ON events (reason, id);
CREATE INDEX events_coin ON events (coin, id);
"""

_SQLITE_V3 = """
-- Every row that comes from a request names the key that sent it (issue 18):
-- decision events (NULL for rows written before this migration) and teach samples.
ALTER TABLE events ADD COLUMN key_id TEXT;
ALTER TABLE teach_samples ADD COLUMN key_id TEXT;
"""

_SQLITE_V4 = """
-- A teach session's progress summary (spread, outliers, ready), computed when
-- samples come in and kept with the sample count it was computed for: viewers
-- read it instead of re-reading every sample.
ALTER TABLE teach_sessions ADD COLUMN summary TEXT;
ALTER TABLE teach_sessions ADD COLUMN summary_count INTEGER;
"""

_SQLITE_V5 = """
-- A teach session's sample count is kept, not counted: a viewer's poll of a
-- 13,000-sample session read 13,000 index entries to count them. Triggers keep
-- it in the sample's own transaction, whoever inserts or deletes the sample.
ALTER TABLE teach_sessions ADD COLUMN sample_count INTEGER NOT NULL DEFAULT 0;
UPDATE teach_sessions SET sample_count =
    (SELECT COUNT(*) FROM teach_samples t WHERE t.session_id = teach_sessions.id);
CREATE TRIGGER teach_samples_counted AFTER INSERT ON teach_samples
BEGIN
    UPDATE teach_sessions SET sample_count = sample_count + 1 WHERE id = NEW.session_id;
END;
CREATE TRIGGER teach_samples_uncounted AFTER DELETE ON teach_samples
BEGIN
    UPDATE teach_sessions SET sample_count = sample_count - 1 WHERE id = OLD.session_id;
END;
"""

_SQLITE_V6 = """
-- Each teach sample keeps the features it gave when it came in, and its own id:
-- a session's summary is made from them, without reading every signature again
-- on each upload (at 20,000 samples that was seconds of parsing per upload).
-- Rows from before have NULL and are filled the first time a summary needs them.
ALTER TABLE teach_samples ADD COLUMN features BLOB;
ALTER TABLE teach_samples ADD COLUMN signature_id TEXT;
"""

MIGRATIONS: dict[str, list[str]] = {
    "sqlite": [_SQLITE_V1, _SQLITE_V2, _SQLITE_V3, _SQLITE_V4, _SQLITE_V5, _SQLITE_V6]
}
"""Per dialect, the migrations in order; migration ``i`` brings the schema to version ``i + 1``.

Append only: a released migration is never edited."""


def utcnow() -> str:
    """The present moment as the store writes it: ISO 8601 UTC, fixed width, sortable."""
    return format_time(dt.datetime.now(dt.UTC))


def format_time(moment: dt.datetime) -> str:
    """A timezone-aware moment in the store's fixed-width UTC text form."""
    if moment.tzinfo is None:
        raise ValueError("a stored moment must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row = self._conn.execute(sql, tuple(params)).fetchone()
        return dict(row) if row is not None else None

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return [dict(r) for r in self._conn.execute(sql, tuple(params)).fetchall()]


class SqliteDatabase:
    """The default store: one SQLite file in WAL mode.

    A connection is opened per transaction (cheap for SQLite, and safe from any
    thread or forked process); :meth:`migrate` must run once before use.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._migrate_lock = threading.Lock()
        self._local = threading.local()
        self._gate = threading.Condition()
        self._urgent = 0  # writers of this process waiting for (or holding) the write lock
        #: The longest this process held the store's write lock, in seconds
        #: (``BEGIN IMMEDIATE`` had to ``COMMIT`` or ``ROLLBACK`` done); /metrics shows it.
        self.longest_write_hold_s = 0.0

    def _pooled(self) -> sqlite3.Connection:
        """This thread's connection, opened once: opening one per request cost
        more than the queries.  A forked child opens its own."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._connect()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @contextmanager
    def transaction(self, *, write: bool = False, bulk: bool = False) -> Iterator[Tx]:
        """Run a block in one transaction: all of it is committed, or none of it.

        ``bulk`` marks one batch of a large upload: it waits, before taking the
        write lock, while any other writer of this process is waiting for it, so
        a stream of batches never keeps a safety control (an inhibit, a
        rollback) out. A lock not had within the busy timeout raises
        :class:`calibration.errors.StoreBusyError` (503), never a bare SQLite error.
        """
        urgent = write and not bulk
        if write:
            with self._gate:
                if urgent:
                    self._urgent += 1
                else:
                    self._gate.wait_for(
                        lambda: self._urgent == 0, timeout=self.busy_timeout_ms / 1000
                    )
        try:
            with _busy_is_503():
                yield from self._run(write)
        finally:
            if urgent:
                with self._gate:
                    self._urgent -= 1
                    self._gate.notify_all()

    def _run(self, write: bool) -> Iterator[Tx]:
        conn = self._pooled()
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        try:
            conn.execute(begin)
        except sqlite3.Error as exc:
            if _is_busy(exc):
                raise  # waiting was the busy timeout's job: do not wait twice
            # A pooled connection that went bad (file replaced, closed): start afresh.
            self._local.conn = None
            conn = self._pooled()
            conn.execute(begin)
        held = time.perf_counter()
        try:
            try:
                yield _SqliteTx(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._commit(conn)
        finally:
            if write:
                self.longest_write_hold_s = max(
                    self.longest_write_hold_s, time.perf_counter() - held
                )

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    def schema_version(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns that version.

        Each migration runs in its own transaction together with the version
        bump, so a crash leaves the schema at one version or the next.
        """
        steps = MIGRATIONS[self.dialect]
        with self._migrate_lock:
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version > len(steps):
                    raise RuntimeError(
                        f"the store {self.path!r} has schema version {version}, newer than this "
                        f"coinval supports ({len(steps)}); upgrade coinval"
                    )
                for number, script in enumerate(steps[version:], start=version + 1):
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
                        if current >= number:  # another process migrated meanwhile
                            conn.execute("ROLLBACK")
                            continue
                        for statement in _split_sql(script):
                            conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {number}")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                return int(conn.execute("PRAGMA user_version").fetchone()[0])
            finally:
                conn.close()


RETRY_AFTER_S = 1
"""What a 503 for a busy store tells the caller to wait before trying again."""


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


@contextmanager
def _busy_is_503() -> Iterator[None]:
    """SQLite's "database is locked" / "busy" as a :class:`StoreBusyError`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise StoreBusyError(
                "the store is busy (another write holds it): try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        raise


def _split_sql(script: str) -> list[str]:
    """Statements of a migration script (triggers hold ``;`` inside BEGIN ... END)."""
    statements: list[str] = []
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                statements.append(buf.strip())
            buf = ""
    return statements


def _private_file(path: str) -> None:
    """Create the store file readable by its owner only (0600); tighten an existing one.

    SQLite gives its -wal and -shm files the store file's permissions.
    """
    if path == ":memory:" or path.startswith("file:"):
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for name in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(name, 0o600)


def latest_schema_version(dialect: str = "sqlite") -> int:
    """The schema version this code expects."""
    return len(MIGRATIONS[dialect])


def open_database(target: str | Path, *, busy_timeout_ms: int = 30_000) -> SqliteDatabase:
    """Open (and migrate) the store at ``target``, a SQLite file path."""
    text = str(target)
    if text.startswith(("postgres://", "postgresql://")):
        raise ValueError("PostgreSQL is not wired in yet: give a SQLite file path")
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    _private_file(text)
    database = SqliteDatabase(text, busy_timeout_ms=busy_timeout_ms)
    database.migrate()
    return database
