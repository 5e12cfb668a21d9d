"""The store's connection layer: a small database interface, SQLite or PostgreSQL behind it.

Everything above this module writes plain SQL with ``?`` placeholders against
:class:`Database` / :class:`Tx`, and gets rows back as dicts.  The SQL used by
the repository is the subset both stores run: no SQLite-only functions,
``INSERT ... RETURNING`` and ``ON CONFLICT`` (SQLite >= 3.35), booleans stored
as 0/1 integers, times as fixed-width UTC text, JSON as text, BLOBs as bytes.
The PostgreSQL transaction turns ``?`` into psycopg's ``%s``.

SQLite specifics: WAL journal, a busy timeout so concurrent writers queue
instead of failing, ``BEGIN IMMEDIATE`` for write transactions (no lock
upgrades, so no deadlocks between two writers), foreign keys on.

PostgreSQL specifics: a psycopg connection pool; every write transaction first
takes one transaction-scoped advisory lock, so writers run one at a time as
they do on SQLite (see :class:`PostgresDatabase` for why); reads run as
REPEATABLE READ READ ONLY snapshots, as a SQLite read transaction does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import orjson

from calibration.errors import StoreBusyError

Row = dict[str, Any]
Params = Sequence[Any]


class Tx(Protocol):
    """One open transaction."""

    #: The store's SQL dialect (``sqlite`` or ``postgresql``), for the rare statement
    #: that is best written differently in each.
    dialect: str

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

    def describe(self) -> str:
        """Where the store is, for messages (no password)."""
        ...

    def close(self) -> None:
        """Release the store's connections (a pool's); the store is not used after."""
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

_POSTGRES_V6 = """
-- The whole schema at version 6, for a new PostgreSQL store: PostgreSQL stores
-- started at this version, so the SQLite steps before it have no PostgreSQL text.
-- Same tables, columns and meanings as SQLite's version 6; the differences are
-- types (identity ids, BYTEA) and triggers written as PL/pgSQL functions.
CREATE FUNCTION coinval_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TABLE profiles (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    head TEXT NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    coins TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT,
    parent_id BIGINT REFERENCES profiles(id),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (head, version)
);
CREATE TRIGGER profiles_immutable BEFORE UPDATE ON profiles
FOR EACH ROW EXECUTE FUNCTION coinval_refuse('profile versions are immutable');
CREATE TRIGGER profiles_undeletable BEFORE DELETE ON profiles
FOR EACH ROW EXECUTE FUNCTION coinval_refuse('profile versions are never deleted');
CREATE TRIGGER profiles_untruncatable BEFORE TRUNCATE ON profiles
FOR EACH STATEMENT EXECUTE FUNCTION coinval_refuse('profile versions are never deleted');

CREATE TABLE heads (
    head TEXT PRIMARY KEY,
    active_profile_id BIGINT REFERENCES profiles(id),
    master_inhibit INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE activations (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    head TEXT NOT NULL,
    profile_id BIGINT NOT NULL REFERENCES profiles(id),
    previous_profile_id BIGINT REFERENCES profiles(id),
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
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    head TEXT NOT NULL,
    coin TEXT NOT NULL,
    security TEXT NOT NULL,
    live INTEGER NOT NULL,
    state TEXT NOT NULL,
    base_profile_id BIGINT REFERENCES profiles(id),
    result_profile_id BIGINT REFERENCES profiles(id),
    note TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT,
    summary TEXT,
    summary_count INTEGER,
    sample_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX teach_sessions_open ON teach_sessions (head, state);

CREATE TABLE teach_samples (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES teach_sessions(id),
    signature TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL,
    key_id TEXT,
    features BYTEA,
    signature_id TEXT
);
CREATE INDEX teach_samples_session ON teach_samples (session_id, id);
CREATE FUNCTION teach_samples_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE teach_sessions SET sample_count = sample_count + 1 WHERE id = NEW.session_id;
    ELSE
        UPDATE teach_sessions SET sample_count = sample_count - 1 WHERE id = OLD.session_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER teach_samples_counted AFTER INSERT OR DELETE ON teach_samples
FOR EACH ROW EXECUTE FUNCTION teach_samples_count();

CREATE TABLE events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    head TEXT NOT NULL,
    signature_id TEXT,
    coin TEXT,
    accepted INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    profile_id BIGINT,
    source TEXT NOT NULL,
    signature TEXT,
    key_id TEXT
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_head ON events (head, id);
CREATE INDEX events_head_at ON events (head, at);
CREATE INDEX events_head_reason ON events (head, reason, id);
CREATE INDEX events_head_coin ON events (head, coin, id);
CREATE INDEX events_reason ON events (reason, id);
CREATE INDEX events_coin ON events (coin, id);

CREATE TABLE event_counts (
    head TEXT NOT NULL,
    hour TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (head, hour, coin, reason)
);
CREATE INDEX event_counts_coin ON event_counts (head, coin, reason, hour, n);
CREATE TABLE event_counts_daily (
    head TEXT NOT NULL,
    day TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (head, day, coin, reason)
);
CREATE INDEX event_counts_daily_coin ON event_counts_daily (head, coin, reason, day, n);
CREATE FUNCTION events_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE event_counts SET n = n - 1
        WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13)
          AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
        UPDATE event_counts_daily SET n = n - 1
        WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10)
          AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO event_counts AS c (head, hour, coin, reason, n)
        VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = c.n + 1;
        INSERT INTO event_counts_daily AS c (head, day, coin, reason, n)
        VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_count_insert AFTER INSERT OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_count();
CREATE TRIGGER events_count_update AFTER UPDATE OF head, at, coin, reason ON events
FOR EACH ROW EXECUTE FUNCTION events_count();

CREATE TABLE audit (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
FOR EACH ROW EXECUTE FUNCTION coinval_refuse('the audit log is append-only');
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION coinval_refuse('the audit log is append-only');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION coinval_refuse('the audit log is append-only');

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

_SQLITE_V7 = """
-- Fleet: events sent by acceptors to a central service carry their idempotency
-- key ("<acceptor-id>:<sequence>"), unique, so a batch sent again after a crash
-- or a lost reply stores nothing twice (INSERT ... ON CONFLICT DO NOTHING).
-- Local events have NULL, which a unique index allows any number of times.
-- Summaries stand for events an acceptor's full outbox folded into counts.
ALTER TABLE events ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key);
CREATE TABLE fleet_summaries (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    head TEXT NOT NULL,
    coin TEXT,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    key_id TEXT
);
CREATE INDEX fleet_summaries_head ON fleet_summaries (head, reason);
"""

_POSTGRES_V7 = """
-- As SQLite's version 7: the fleet's idempotency keys and summaries.
ALTER TABLE events ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key);
CREATE TABLE fleet_summaries (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    head TEXT NOT NULL,
    coin TEXT,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    key_id TEXT
);
CREATE INDEX fleet_summaries_head ON fleet_summaries (head, reason);
"""

_FLEET_HEADS_V8 = """
-- Fleet views (issue 20): what the central service knows of each head besides its
-- profiles.  ``model`` is the one the fleet views and group actions go by: an
-- operator's (model_source 'operator', which an acceptor's report never
-- overrides), else the acceptor's own word (model_source 'acceptor', also kept in
-- reported_model so clearing the operator's brings it back).  ``acceptor_id``,
-- ``running_version`` (the profile version the acceptor says it runs) and
-- ``last_seen`` (the service's clock) come from the last batch naming its acceptor.
CREATE TABLE fleet_heads (
    head TEXT PRIMARY KEY,
    model TEXT,
    model_source TEXT,
    reported_model TEXT,
    acceptor_id TEXT,
    running_version INTEGER,
    last_seen TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX fleet_heads_model ON fleet_heads (model, head);
"""

_TOTALS_INDEXES_V8 = """
-- Fleet-wide windows (drift over every head) read time first: one range of hours
-- or days, covering.  Refusals are a few percent of the rollup rows: their own
-- (partial) index lets the per-coin lines skip the accepted ones.
CREATE INDEX event_totals_hour ON event_totals (hour, head, n, refused);
CREATE INDEX event_totals_daily_day ON event_totals_daily (day, head, n, refused);
CREATE INDEX event_counts_refused ON event_counts (hour, head, coin, reason, n)
    WHERE reason <> 'accepted';
CREATE INDEX event_counts_daily_refused ON event_counts_daily (day, head, coin, reason, n)
    WHERE reason <> 'accepted';
INSERT INTO event_totals (head, hour, n, refused)
SELECT head, hour, SUM(n), SUM(CASE WHEN reason = 'accepted' THEN 0 ELSE n END)
FROM event_counts GROUP BY head, hour;
INSERT INTO event_totals_daily (head, day, n, refused)
SELECT head, day, SUM(n), SUM(CASE WHEN reason = 'accepted' THEN 0 ELSE n END)
FROM event_counts_daily GROUP BY head, day;
"""

_SQLITE_V8 = (
    _FLEET_HEADS_V8
    + """
-- Decisions and refusals per (head, UTC hour) and per (head, UTC day), whatever the
-- coin and reason: a fleet's drift over every head reads one row per head and
-- hour instead of one per coin and reason.  Kept by the rollup triggers, which are
-- made again here with the totals added (same counts as before for the others).
CREATE TABLE event_totals (
    head TEXT NOT NULL,
    hour TEXT NOT NULL,
    n INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    PRIMARY KEY (head, hour)
) WITHOUT ROWID;
CREATE TABLE event_totals_daily (
    head TEXT NOT NULL,
    day TEXT NOT NULL,
    n INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    PRIMARY KEY (head, day)
) WITHOUT ROWID;
"""
    + _TOTALS_INDEXES_V8
    + """
DROP TRIGGER events_count_insert;
DROP TRIGGER events_count_delete;
DROP TRIGGER events_count_update;
CREATE TRIGGER events_count_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts (head, hour, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_counts_daily (head, day, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_totals (head, hour, n, refused)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), 1, NEW.reason <> 'accepted')
    ON CONFLICT (head, hour) DO UPDATE SET n = n + 1, refused = refused + excluded.refused;
    INSERT INTO event_totals_daily (head, day, n, refused)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), 1, NEW.reason <> 'accepted')
    ON CONFLICT (head, day) DO UPDATE SET n = n + 1, refused = refused + excluded.refused;
END;
CREATE TRIGGER events_count_delete AFTER DELETE ON events
BEGIN
    UPDATE event_counts SET n = n - 1
    WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_counts_daily SET n = n - 1
    WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_totals SET n = n - 1, refused = refused - (OLD.reason <> 'accepted')
    WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13);
    UPDATE event_totals_daily SET n = n - 1, refused = refused - (OLD.reason <> 'accepted')
    WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10);
END;
CREATE TRIGGER events_count_update AFTER UPDATE OF head, at, coin, reason ON events
BEGIN
    UPDATE event_counts SET n = n - 1
    WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_counts_daily SET n = n - 1
    WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10)
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_totals SET n = n - 1, refused = refused - (OLD.reason <> 'accepted')
    WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13);
    UPDATE event_totals_daily SET n = n - 1, refused = refused - (OLD.reason <> 'accepted')
    WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10);
    INSERT INTO event_counts (head, hour, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_counts_daily (head, day, coin, reason, n)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_totals (head, hour, n, refused)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), 1, NEW.reason <> 'accepted')
    ON CONFLICT (head, hour) DO UPDATE SET n = n + 1, refused = refused + excluded.refused;
    INSERT INTO event_totals_daily (head, day, n, refused)
    VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), 1, NEW.reason <> 'accepted')
    ON CONFLICT (head, day) DO UPDATE SET n = n + 1, refused = refused + excluded.refused;
END;
"""
)

_POSTGRES_V8 = (
    _FLEET_HEADS_V8
    + """
-- As SQLite's version 8: per (head, hour) and (head, day) totals, kept by the
-- rollup trigger function (replaced with the totals added).  PostgreSQL only: the
-- rollups' primary keys carry ``n`` (INCLUDE), so a page of heads' windows is
-- read from the key alone; without it the planner took the per-coin index and
-- read every hour of each head.
CREATE TABLE event_totals (
    head TEXT NOT NULL,
    hour TEXT NOT NULL,
    n INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    PRIMARY KEY (head, hour) INCLUDE (n, refused)
);
CREATE TABLE event_totals_daily (
    head TEXT NOT NULL,
    day TEXT NOT NULL,
    n INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    PRIMARY KEY (head, day) INCLUDE (n, refused)
);
CREATE UNIQUE INDEX event_counts_key ON event_counts (head, hour, coin, reason) INCLUDE (n);
ALTER TABLE event_counts DROP CONSTRAINT event_counts_pkey,
    ADD CONSTRAINT event_counts_pkey PRIMARY KEY USING INDEX event_counts_key;
CREATE UNIQUE INDEX event_counts_daily_key ON event_counts_daily (head, day, coin, reason)
    INCLUDE (n);
ALTER TABLE event_counts_daily DROP CONSTRAINT event_counts_daily_pkey,
    ADD CONSTRAINT event_counts_daily_pkey PRIMARY KEY USING INDEX event_counts_daily_key;
"""
    + _TOTALS_INDEXES_V8
    + """
CREATE OR REPLACE FUNCTION events_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE event_counts SET n = n - 1
        WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13)
          AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
        UPDATE event_counts_daily SET n = n - 1
        WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10)
          AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
        UPDATE event_totals
        SET n = n - 1, refused = refused - (CASE WHEN OLD.reason = 'accepted' THEN 0 ELSE 1 END)
        WHERE head = OLD.head AND hour = SUBSTR(OLD.at, 1, 13);
        UPDATE event_totals_daily
        SET n = n - 1, refused = refused - (CASE WHEN OLD.reason = 'accepted' THEN 0 ELSE 1 END)
        WHERE head = OLD.head AND day = SUBSTR(OLD.at, 1, 10);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO event_counts AS c (head, hour, coin, reason, n)
        VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = c.n + 1;
        INSERT INTO event_counts_daily AS c (head, day, coin, reason, n)
        VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = c.n + 1;
        INSERT INTO event_totals AS t (head, hour, n, refused)
        VALUES (NEW.head, SUBSTR(NEW.at, 1, 13), 1,
                CASE WHEN NEW.reason = 'accepted' THEN 0 ELSE 1 END)
        ON CONFLICT (head, hour) DO UPDATE SET n = t.n + 1, refused = t.refused + EXCLUDED.refused;
        INSERT INTO event_totals_daily AS t (head, day, n, refused)
        VALUES (NEW.head, SUBSTR(NEW.at, 1, 10), 1,
                CASE WHEN NEW.reason = 'accepted' THEN 0 ELSE 1 END)
        ON CONFLICT (head, day) DO UPDATE SET n = t.n + 1, refused = t.refused + EXCLUDED.refused;
    END IF;
    RETURN NULL;
END $$;
"""
)

_SQLITE_V9 = """
-- Version 9 changes PostgreSQL's rollup triggers only (SQLite has no statement-
-- level triggers; its row triggers stay).  The version is recorded all the same:
-- one numbering for every dialect.
SELECT 1;
"""

_POSTGRES_V9 = """
-- Inserted events are counted into the rollups once per statement, from the
-- statement's transition table: a fleet batch of 500 events, inserted in one
-- statement, makes four set-wise upserts instead of 2,000 row-wise ones (a batch
-- took 0.45 s of the server's time, nearly all of it these upserts).  Deletes
-- and updates keep the row trigger.
DROP TRIGGER events_count_insert ON events;
CREATE TRIGGER events_count_delete AFTER DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_count();
CREATE FUNCTION events_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts AS c (head, hour, coin, reason, n)
    SELECT head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason, COUNT(*) FROM inserted
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (head, hour, coin, reason) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO event_counts_daily AS c (head, day, coin, reason, n)
    SELECT head, SUBSTR(at, 1, 10), COALESCE(coin, ''), reason, COUNT(*) FROM inserted
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (head, day, coin, reason) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO event_totals AS t (head, hour, n, refused)
    SELECT head, SUBSTR(at, 1, 13), COUNT(*),
           SUM(CASE WHEN reason = 'accepted' THEN 0 ELSE 1 END) FROM inserted
    GROUP BY 1, 2
    ON CONFLICT (head, hour) DO UPDATE SET n = t.n + EXCLUDED.n,
                                           refused = t.refused + EXCLUDED.refused;
    INSERT INTO event_totals_daily AS t (head, day, n, refused)
    SELECT head, SUBSTR(at, 1, 10), COUNT(*),
           SUM(CASE WHEN reason = 'accepted' THEN 0 ELSE 1 END) FROM inserted
    GROUP BY 1, 2
    ON CONFLICT (head, day) DO UPDATE SET n = t.n + EXCLUDED.n,
                                          refused = t.refused + EXCLUDED.refused;
    RETURN NULL;
END $$;
CREATE TRIGGER events_count_inserted AFTER INSERT ON events
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION events_count_inserted();
"""

_FLEET_COUNTS_V10 = """
-- Decisions per (UTC hour or day, coin, reason) over every head: the fleet's
-- statistics (no head asked) read a few rows an hour here, where the per-head
-- rollups hold one per head (a day of a thousand heads' hours was 190,000 rows,
-- read in 0.6 s).  Kept by triggers of their own beside the per-head ones.
CREATE TABLE fleet_counts (
    hour TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (hour, coin, reason){include}
){without_rowid};
CREATE TABLE fleet_counts_daily (
    day TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, coin, reason){include}
){without_rowid};
INSERT INTO fleet_counts (hour, coin, reason, n)
SELECT hour, coin, reason, SUM(n) FROM event_counts GROUP BY hour, coin, reason;
INSERT INTO fleet_counts_daily (day, coin, reason, n)
SELECT day, coin, reason, SUM(n) FROM event_counts_daily GROUP BY day, coin, reason;
"""

_SQLITE_V10 = (
    _FLEET_COUNTS_V10.format(include="", without_rowid=" WITHOUT ROWID")
    + """
CREATE TRIGGER events_fleet_count_insert AFTER INSERT ON events
BEGIN
    INSERT INTO fleet_counts (hour, coin, reason, n)
    VALUES (SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (hour, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO fleet_counts_daily (day, coin, reason, n)
    VALUES (SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (day, coin, reason) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER events_fleet_count_delete AFTER DELETE ON events
BEGIN
    UPDATE fleet_counts SET n = n - 1
    WHERE hour = SUBSTR(OLD.at, 1, 13) AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE fleet_counts_daily SET n = n - 1
    WHERE day = SUBSTR(OLD.at, 1, 10) AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
END;
CREATE TRIGGER events_fleet_count_update AFTER UPDATE OF at, coin, reason ON events
BEGIN
    UPDATE fleet_counts SET n = n - 1
    WHERE hour = SUBSTR(OLD.at, 1, 13) AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE fleet_counts_daily SET n = n - 1
    WHERE day = SUBSTR(OLD.at, 1, 10) AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    INSERT INTO fleet_counts (hour, coin, reason, n)
    VALUES (SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (hour, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO fleet_counts_daily (day, coin, reason, n)
    VALUES (SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (day, coin, reason) DO UPDATE SET n = n + 1;
END;
"""
)

_POSTGRES_V10 = (
    _FLEET_COUNTS_V10.format(include=" INCLUDE (n)", without_rowid="")
    + """
CREATE FUNCTION events_fleet_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fleet_counts AS c (hour, coin, reason, n)
    SELECT SUBSTR(at, 1, 13), COALESCE(coin, ''), reason, COUNT(*) FROM inserted
    GROUP BY 1, 2, 3
    ON CONFLICT (hour, coin, reason) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO fleet_counts_daily AS c (day, coin, reason, n)
    SELECT SUBSTR(at, 1, 10), COALESCE(coin, ''), reason, COUNT(*) FROM inserted
    GROUP BY 1, 2, 3
    ON CONFLICT (day, coin, reason) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER events_fleet_count_inserted AFTER INSERT ON events
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION events_fleet_count_inserted();
CREATE FUNCTION events_fleet_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE fleet_counts SET n = n - 1
        WHERE hour = SUBSTR(OLD.at, 1, 13) AND coin = COALESCE(OLD.coin, '')
          AND reason = OLD.reason;
        UPDATE fleet_counts_daily SET n = n - 1
        WHERE day = SUBSTR(OLD.at, 1, 10) AND coin = COALESCE(OLD.coin, '')
          AND reason = OLD.reason;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO fleet_counts AS c (hour, coin, reason, n)
        VALUES (SUBSTR(NEW.at, 1, 13), COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (hour, coin, reason) DO UPDATE SET n = c.n + 1;
        INSERT INTO fleet_counts_daily AS c (day, coin, reason, n)
        VALUES (SUBSTR(NEW.at, 1, 10), COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (day, coin, reason) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_fleet_count_delete AFTER DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_fleet_count();
CREATE TRIGGER events_fleet_count_update AFTER UPDATE OF at, coin, reason ON events
FOR EACH ROW EXECUTE FUNCTION events_fleet_count();
"""
)

_BLOCK_SQLITE = "SUBSTR({t}, 1, 11) || printf('%02d', CAST(SUBSTR({t}, 12, 2) AS INTEGER) / 4 * 4)"
_BLOCK_POSTGRES = (
    "SUBSTR({t}, 1, 11) || LPAD((CAST(SUBSTR({t}, 12, 2) AS INTEGER) / 4 * 4)::text, 2, '0')"
)


def block_sql(dialect: str, column: str) -> str:
    """SQL for the 4-hour block key (``2024-05-01T12``) of a time text or hour key column."""
    return (_BLOCK_POSTGRES if dialect == "postgresql" else _BLOCK_SQLITE).format(t=column)


_BLOCKS_V11 = """
-- Decisions per (head, 4-hour UTC block, coin, reason), and decisions and refusals
-- per (head, block): a fleet window of whole hours is read as its whole days, the
-- whole blocks around them, and at most three hours at each end, where it read
-- every hour outside the days (a day's window over a thousand heads was 24,000
-- hourly rows a coin and reason, now about 9,000).  A block is named by its first
-- hour (2024-05-01T12 for 12:00-16:00).  Kept by triggers of their own.
CREATE TABLE event_counts_block (
    head TEXT NOT NULL,
    block TEXT NOT NULL,
    coin TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (head, block, coin, reason){include_n}
){without_rowid};
CREATE INDEX event_counts_block_refused ON event_counts_block (block, head, coin, reason, n)
    WHERE reason <> 'accepted';
CREATE TABLE event_totals_block (
    head TEXT NOT NULL,
    block TEXT NOT NULL,
    n INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    PRIMARY KEY (head, block){include_totals}
){without_rowid};
CREATE INDEX event_totals_block_block ON event_totals_block (block, head, n, refused);
INSERT INTO event_counts_block (head, block, coin, reason, n)
SELECT head, {hour_block}, coin, reason, SUM(n) FROM event_counts
GROUP BY head, {hour_block}, coin, reason;
INSERT INTO event_totals_block (head, block, n, refused)
SELECT head, {hour_block}, SUM(n), SUM(refused) FROM event_totals GROUP BY head, {hour_block};
"""

_SQLITE_V11 = (
    _BLOCKS_V11.format(
        include_n="",
        include_totals="",
        without_rowid=" WITHOUT ROWID",
        hour_block=_BLOCK_SQLITE.format(t="hour"),
    )
    + """
CREATE TRIGGER events_block_count_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts_block (head, block, coin, reason, n)
    VALUES (NEW.head, {new_block}, COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, block, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_totals_block (head, block, n, refused)
    VALUES (NEW.head, {new_block}, 1, NEW.reason <> 'accepted')
    ON CONFLICT (head, block) DO UPDATE SET n = n + 1, refused = refused + excluded.refused;
END;
CREATE TRIGGER events_block_count_delete AFTER DELETE ON events
BEGIN
    UPDATE event_counts_block SET n = n - 1
    WHERE head = OLD.head AND block = {old_block}
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_totals_block SET n = n - 1, refused = refused - (OLD.reason <> 'accepted')
    WHERE head = OLD.head AND block = {old_block};
END;
CREATE TRIGGER events_block_count_update AFTER UPDATE OF head, at, coin, reason ON events
BEGIN
    UPDATE event_counts_block SET n = n - 1
    WHERE head = OLD.head AND block = {old_block}
      AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
    UPDATE event_totals_block SET n = n - 1, refused = refused - (OLD.reason <> 'accepted')
    WHERE head = OLD.head AND block = {old_block};
    INSERT INTO event_counts_block (head, block, coin, reason, n)
    VALUES (NEW.head, {new_block}, COALESCE(NEW.coin, ''), NEW.reason, 1)
    ON CONFLICT (head, block, coin, reason) DO UPDATE SET n = n + 1;
    INSERT INTO event_totals_block (head, block, n, refused)
    VALUES (NEW.head, {new_block}, 1, NEW.reason <> 'accepted')
    ON CONFLICT (head, block) DO UPDATE SET n = n + 1, refused = refused + excluded.refused;
END;
""".replace("{new_block}", _BLOCK_SQLITE.format(t="NEW.at")).replace(
        "{old_block}", _BLOCK_SQLITE.format(t="OLD.at")
    )
)

_POSTGRES_V11 = (
    _BLOCKS_V11.format(
        include_n=" INCLUDE (n)",
        include_totals=" INCLUDE (n, refused)",
        without_rowid="",
        hour_block=_BLOCK_POSTGRES.format(t="hour"),
    )
    + """
CREATE FUNCTION events_block_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts_block AS c (head, block, coin, reason, n)
    SELECT head, {at_block}, COALESCE(coin, ''), reason, COUNT(*) FROM inserted
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (head, block, coin, reason) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO event_totals_block AS t (head, block, n, refused)
    SELECT head, {at_block}, COUNT(*),
           SUM(CASE WHEN reason = 'accepted' THEN 0 ELSE 1 END) FROM inserted
    GROUP BY 1, 2
    ON CONFLICT (head, block) DO UPDATE SET n = t.n + EXCLUDED.n,
                                            refused = t.refused + EXCLUDED.refused;
    RETURN NULL;
END $$;
CREATE TRIGGER events_block_count_inserted AFTER INSERT ON events
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION events_block_count_inserted();
CREATE FUNCTION events_block_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE event_counts_block SET n = n - 1
        WHERE head = OLD.head AND block = {old_block}
          AND coin = COALESCE(OLD.coin, '') AND reason = OLD.reason;
        UPDATE event_totals_block
        SET n = n - 1, refused = refused - (CASE WHEN OLD.reason = 'accepted' THEN 0 ELSE 1 END)
        WHERE head = OLD.head AND block = {old_block};
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO event_counts_block AS c (head, block, coin, reason, n)
        VALUES (NEW.head, {new_block}, COALESCE(NEW.coin, ''), NEW.reason, 1)
        ON CONFLICT (head, block, coin, reason) DO UPDATE SET n = c.n + 1;
        INSERT INTO event_totals_block AS t (head, block, n, refused)
        VALUES (NEW.head, {new_block}, 1, CASE WHEN NEW.reason = 'accepted' THEN 0 ELSE 1 END)
        ON CONFLICT (head, block) DO UPDATE SET n = t.n + 1, refused = t.refused + EXCLUDED.refused;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_block_count_delete AFTER DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_block_count();
CREATE TRIGGER events_block_count_update AFTER UPDATE OF head, at, coin, reason ON events
FOR EACH ROW EXECUTE FUNCTION events_block_count();
""".replace("{at_block}", _BLOCK_POSTGRES.format(t="at"))
    .replace("{new_block}", _BLOCK_POSTGRES.format(t="NEW.at"))
    .replace("{old_block}", _BLOCK_POSTGRES.format(t="OLD.at"))
)

MIGRATIONS: dict[str, dict[int, str]] = {
    "sqlite": {
        1: _SQLITE_V1,
        2: _SQLITE_V2,
        3: _SQLITE_V3,
        4: _SQLITE_V4,
        5: _SQLITE_V5,
        6: _SQLITE_V6,
        7: _SQLITE_V7,
        8: _SQLITE_V8,
        9: _SQLITE_V9,
        10: _SQLITE_V10,
        11: _SQLITE_V11,
    },
    "postgresql": {
        6: _POSTGRES_V6,
        7: _POSTGRES_V7,
        8: _POSTGRES_V8,
        9: _POSTGRES_V9,
        10: _POSTGRES_V10,
        11: _POSTGRES_V11,
    },
}
"""The schema versions, one numbering for every dialect: per dialect, the script
that brings the schema to each version.

A new store runs its dialect's first script and every later one; an existing
store, the ones after its version.  A dialect may start at a later version with
the whole schema of that version (PostgreSQL starts at 6); from then on every
new version has a script in each dialect.  Append only: a released script is
never edited."""


def utcnow() -> str:
    """The present moment as the store writes it: ISO 8601 UTC, fixed width, sortable."""
    return format_time(dt.datetime.now(dt.UTC))


def format_time(moment: dt.datetime) -> str:
    """A timezone-aware moment in the store's fixed-width UTC text form."""
    if moment.tzinfo is None:
        raise ValueError("a stored moment must be timezone-aware")
    # isoformat, not strftime: a few times faster (a fleet batch formats every
    # event's moment), and its year always has four digits
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def one_of(tx: Tx, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    """The condition "``column`` is one of ``values``" and its parameters.

    SQLite gets ``IN (?, ?, ...)``.  PostgreSQL gets the values as one JSON
    parameter: psycopg re-parses (never caches) a statement of more than 50
    parameters, so a page of a hundred heads cost a millisecond a query in
    Python before it was sent; one parameter keeps the statement text the same
    for every page, converted and prepared once.
    """
    if tx.dialect == "postgresql":
        text = orjson.dumps(list(values)).decode()
        return f"{column} = ANY(ARRAY(SELECT json_array_elements_text(?::json)))", [text]
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


class _SqliteTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row = self._conn.execute(sql, tuple(params)).fetchone()
        return dict(row) if row is not None else None

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return [dict(r) for r in self._conn.execute(sql, tuple(params)).fetchall()]


class _WriterGate:
    """This process's writers, so that bulk batches give way to everyone else's writes.

    ``bulk`` marks one batch of a large upload: it waits, before taking the
    write lock, while any other writer of this process is waiting for it, so
    a stream of batches never keeps a safety control (an inhibit, a rollback)
    out.  Both stores share it: the store's own lock is first come, first served.
    """

    busy_timeout_ms: int

    def __init__(self) -> None:
        self._gate = threading.Condition()
        self._urgent = 0  # writers of this process waiting for (or holding) the write lock
        #: The longest this process held the store's write lock, in seconds
        #: (from having it to ``COMMIT`` or ``ROLLBACK`` done); /metrics shows it.
        self.longest_write_hold_s = 0.0

    @contextmanager
    def _gated(self, write: bool, bulk: bool) -> Iterator[None]:
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
            yield
        finally:
            if urgent:
                with self._gate:
                    self._urgent -= 1
                    self._gate.notify_all()

    def _held(self, since: float) -> None:
        self.longest_write_hold_s = max(self.longest_write_hold_s, time.perf_counter() - since)


class SqliteDatabase(_WriterGate):
    """The default store: one SQLite file in WAL mode.

    A connection is opened per transaction (cheap for SQLite, and safe from any
    thread or forked process); :meth:`migrate` must run once before use.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        super().__init__()
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._migrate_lock = threading.Lock()
        self._local = threading.local()

    def describe(self) -> str:
        """Where the store is, for messages."""
        return self.path

    def close(self) -> None:
        """Nothing to release: each thread's connection closes with the thread."""

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

        ``bulk``: see :class:`_WriterGate`. A lock not had within the busy
        timeout raises :class:`calibration.errors.StoreBusyError` (503), never a
        bare SQLite error.
        """
        with self._gated(write, bulk), _busy_is_503():
            yield from self._run(write)

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
                self._held(held)

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
        with self._migrate_lock:
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                for number, script in _steps(self.dialect, version, self.path):
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


def _steps(dialect: str, version: int, where: str) -> list[tuple[int, str]]:
    """The (version, script) pairs that bring a store of ``dialect`` from ``version``
    to the newest; a store newer than this code is refused."""
    scripts = MIGRATIONS[dialect]
    newest = max(scripts)
    if version > newest:
        raise RuntimeError(
            f"the store {where!r} has schema version {version}, newer than this "
            f"coinval supports ({newest}); upgrade coinval"
        )
    first = min(scripts) if version == 0 else version + 1
    if version and version < min(scripts):
        raise RuntimeError(
            f"the store {where!r} has schema version {version}, older than any this "
            f"coinval can upgrade in {dialect}"
        )
    return [(number, scripts[number]) for number in range(first, newest + 1)]


RETRY_AFTER_S = 1
"""What a 503 for a busy store tells the caller to wait before trying again."""


def _busy_error(message: str) -> StoreBusyError:
    return StoreBusyError(message, headers={"Retry-After": str(RETRY_AFTER_S)})


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
            raise _busy_error(
                "the store is busy (another write holds it): try again shortly"
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


# -- PostgreSQL ----------------------------------------------------------------------

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

#: The advisory lock every write transaction takes (transaction-scoped): one
#: writer at a time in the whole store, whichever process or host it runs in.
WRITE_LOCK_KEY = 0x636F696E76616C  # "coinval"
#: The advisory lock of migrations: two processes starting at once migrate once.
MIGRATE_LOCK_KEY = WRITE_LOCK_KEY + 1


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """The repository's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled).

    The repository never puts ``?`` or ``%`` inside SQL string literals, so a
    plain replacement is exact."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresTx:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        cur = self._conn.execute(_pg_sql(sql), tuple(params))
        return int(cur.rowcount)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._conn.execute(_pg_sql(sql), tuple(params)).fetchone()
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = self._conn.execute(_pg_sql(sql), tuple(params)).fetchall()
        return rows


class PostgresDatabase(_WriterGate):
    """A PostgreSQL store: a ``postgresql://`` URL, a pool of psycopg connections.

    Writes are serialised: every write transaction begins with
    ``pg_advisory_xact_lock`` on one key, held until its COMMIT or ROLLBACK.
    The repository was written for SQLite's single writer and relies on it:
    read-then-write steps (the next profile version is MAX + 1, a head made
    when missing, a coin setting replaced, the last admin key kept, a sample
    cap, the revoked-key check of every audited change) are right only if no
    other write runs between the read and the write; and the live event stream
    reads ``id > last seen``, right only if ids become visible in id order,
    which holds when id-taking writers commit one at a time.  SERIALIZABLE
    would catch the first kind by aborting one side, but every write path
    would then need a retry loop (and replays are not free: uploads, key
    hashing), and it would not give the second.  One lock gives both, costs a
    round trip, and writes are short (uploads go in batches).  Waiting for it
    is bounded by ``lock_timeout`` (the busy timeout); past it the caller gets
    a 503 with Retry-After, as on SQLite.

    Reads take a REPEATABLE READ READ ONLY snapshot, like a SQLite read
    transaction: a page of counts or events is read from one moment, and a
    write slipped into a read transaction fails instead of skipping the lock.
    """

    dialect = "postgresql"

    def __init__(
        self, url: str, *, busy_timeout_ms: int = 30_000, max_connections: int = 16
    ) -> None:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        super().__init__()
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self._psycopg = psycopg
        self._dict_row = dict_row
        # No connection is opened until one is needed (min_size 0): a store
        # that is opened and dropped costs nothing; at most max_connections
        # transactions run at once per process, the others wait their turn for
        # the busy timeout (then 503).
        self._pool: Any = ConnectionPool(
            url,
            min_size=0,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=max(busy_timeout_ms, 1) / 1000,
            num_workers=1,
            open=True,
            name="coinval-store",
        )
        # Writers queue for the one write lock here, not on pooled connections:
        # the fleet benchmark found 31 of 32 connections waiting for the lock
        # under ingest, and every read (a GET) waiting seconds for a connection.
        # A few writers in the store at once keep the lock busy; the rest of the
        # pool stays free for reads.
        self._writers = threading.BoundedSemaphore(max(1, max_connections // 4))

    def describe(self) -> str:
        """Where the store is, for messages: the URL without its password."""
        return without_password(self.url)

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()

    @contextmanager
    def transaction(self, *, write: bool = False, bulk: bool = False) -> Iterator[Tx]:
        """Run a block in one transaction: all of it is committed, or none of it.

        ``bulk``: see :class:`_WriterGate`.  The write lock not had within the
        busy timeout, no pooled connection free within it, or the server out of
        reach raise :class:`calibration.errors.StoreBusyError` (503).
        """
        with self._gated(write, bulk), self._errors_are_503():
            if not write:
                yield from self._run(write)
                return
            if not self._writers.acquire(timeout=max(self.busy_timeout_ms, 1) / 1000):
                raise _busy_error("the store is busy (other writes wait for it): try again shortly")
            try:
                yield from self._run(write)
            finally:
                self._writers.release()

    def _begin(self, write: bool) -> str:
        if not write:
            return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        if self.busy_timeout_ms <= 0:
            # no waiting at all, as SQLite's busy timeout 0: take it now or fail
            return (
                f"BEGIN; SET LOCAL lock_timeout = 1; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
            )
        # One round trip: begin, bound the wait, take the lock.
        return (
            f"BEGIN; SET LOCAL lock_timeout = {int(self.busy_timeout_ms)};"
            f" SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
        )

    def _run(self, write: bool) -> Iterator[Tx]:
        psycopg = self._psycopg
        begin = self._begin(write)
        for attempt in (1, 2):
            with self._pool.connection() as conn:
                try:
                    conn.execute(begin)
                except psycopg.errors.LockNotAvailable:
                    conn.execute("ROLLBACK")
                    raise
                except psycopg.OperationalError:
                    # A pooled connection the server dropped (restart, idle
                    # kill): the pool discards it; one more try on a fresh one.
                    if attempt == 2 or not conn.closed:
                        raise
                    continue
                held = time.perf_counter()
                try:
                    try:
                        yield _PostgresTx(conn)
                    except BaseException:
                        if not conn.closed:
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                finally:
                    if write:
                        self._held(held)
                return

    @contextmanager
    def _errors_are_503(self) -> Iterator[None]:
        """Waits that ran out and a server out of reach as :class:`StoreBusyError`."""
        from psycopg_pool import PoolTimeout

        psycopg = self._psycopg
        try:
            yield
        except psycopg.errors.LockNotAvailable:
            raise _busy_error(
                "the store is busy (another write holds it): try again shortly"
            ) from None
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
            raise _busy_error("the store is busy (a conflicting write): try again") from None
        except PoolTimeout:
            raise _busy_error(
                "the store is busy (every connection to it is in use): try again shortly"
            ) from None
        except psycopg.OperationalError as exc:
            if isinstance(exc, psycopg.errors.QueryCanceled | psycopg.errors.InsufficientResources):
                raise
            raise _busy_error("the store cannot be reached now: try again shortly") from None

    def schema_version(self) -> int:
        # A short wait: readiness probes ask this, and must not hang on a lost server.
        with self._pool.connection(timeout=5) as conn:
            row = conn.execute(
                "SELECT to_regclass('coinval_schema') IS NOT NULL AS present"
            ).fetchone()
            if not row["present"]:
                return 0
            row = conn.execute("SELECT version FROM coinval_schema").fetchone()
            return int(row["version"]) if row else 0

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns that version.

        The version lives in the one-row table ``coinval_schema``.  Each step
        runs in one transaction with the version bump (PostgreSQL's DDL is
        transactional), under an advisory lock so two processes starting at
        once migrate once.
        """
        # Its own connection, not the pool's: a server out of reach fails at
        # once here (the pool would retry for the busy timeout).
        conn: Any
        with self._psycopg.connect(
            self.url, autocommit=True, connect_timeout=10, row_factory=self._dict_row
        ) as conn:
            conn.execute("BEGIN")
            try:
                conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK_KEY})")
                conn.execute("CREATE TABLE IF NOT EXISTS coinval_schema (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM coinval_schema").fetchone()
                if row is None:
                    conn.execute("INSERT INTO coinval_schema (version) VALUES (0)")
                version = int(row["version"]) if row else 0
                for number, script in _steps(self.dialect, version, self.describe()):
                    conn.execute(script)  # no parameters: run as one multi-statement script
                    conn.execute("UPDATE coinval_schema SET version = %s", (number,))
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            row = conn.execute("SELECT version FROM coinval_schema").fetchone()
            return int(row["version"])


def without_password(url: str) -> str:
    """A connection URL fit for a log line: its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = parts.username or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def is_postgres_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL store (else it is a SQLite file)."""
    return str(target).startswith(POSTGRES_SCHEMES)


def latest_schema_version(dialect: str = "sqlite") -> int:
    """The schema version this code expects."""
    return max(MIGRATIONS[dialect])


def open_database(
    target: str | Path, *, busy_timeout_ms: int = 30_000
) -> SqliteDatabase | PostgresDatabase:
    """Open (and migrate) the store at ``target``: a ``postgresql://`` URL, or a
    SQLite file path (``sqlite:///path`` too)."""
    text = str(target)
    if is_postgres_url(text):
        import psycopg

        database = PostgresDatabase(text, busy_timeout_ms=busy_timeout_ms)
        try:
            database.migrate()
        except psycopg.Error as exc:
            database.close()
            # one line, for `coinval api`'s exit-2 message (never the password)
            raise RuntimeError(str(exc).strip().splitlines()[0]) from exc
        except BaseException:
            database.close()
            raise
        return database
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    _private_file(text)
    sqlite_db = SqliteDatabase(text, busy_timeout_ms=busy_timeout_ms)
    sqlite_db.migrate()
    return sqlite_db
