"""A throwaway PostgreSQL server for the tests, and a fresh database per test.

``COINVAL_TEST_PG_URL`` names a server to use instead (its user may create
databases); without it a cluster is made in a temporary folder with the
machine's PostgreSQL binaries (``initdb``, ``pg_ctl``), listening on a free
loopback port, and removed at the end of the run.  initdb and pg_ctl refuse to
run as root: as root they run as the ``postgres`` user.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from coinval_cli.local_postgres import LocalPostgresError, as_server_user, server_bindir

TEMPLATE = "coinval_template"


class PostgresUnavailableError(Exception):
    """No PostgreSQL server could be had; the message says why."""


def _bindir() -> str:
    """The folder of the newest installed server binaries."""
    try:
        return str(server_bindir())
    except LocalPostgresError as exc:
        raise PostgresUnavailableError(
            f"{exc} (make test installs them), or set COINVAL_TEST_PG_URL"
        ) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    try:
        return as_server_user(command)
    except LocalPostgresError as exc:
        raise PostgresUnavailableError(str(exc)) from None


@contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[str]:
    """A PostgreSQL cluster of its own for this run; yields its superuser URL.

    ``durable``: the server's own flushing left on (fsync, synchronous commit,
    full pages), as a production server runs, for benchmarks whose figures
    would otherwise leave out the flushes.
    """
    bindir = _bindir()
    base = tempfile.mkdtemp(prefix="coinval-pg-")
    data, sockets, log = (os.path.join(base, name) for name in ("data", "sock", "server.log"))
    os.mkdir(sockets)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()

    def run(*command: str) -> None:
        done = subprocess.run(
            _as_server_user(list(command)), capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailableError(
                f"{os.path.basename(command[0])} failed: {' / '.join(tail)}"
            )

    started = False
    try:
        run(
            f"{bindir}/initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        # Durability settings off: a test cluster that is thrown away after the
        # run needs no fsync, and the tests' crash checks kill our processes,
        # never the server.
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c max_connections=400"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        run(f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                _as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """``url`` pointing at another database of the same server."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@dataclass
class Server:
    """A reachable server with a migrated template database; hands out fresh copies."""

    url: str
    _names: Iterator[int] = field(default_factory=itertools.count)

    def prepare(self) -> None:
        """Make the template: an empty store at the newest schema."""
        import psycopg

        from calibration.db import open_database

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        db = open_database(with_database(self.url, TEMPLATE))
        db.close()

    def create(self) -> str:
        """A fresh database copied from the template; its URL."""
        import psycopg

        name = f"coinval_t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return with_database(self.url, name)

    def drop(self, url: str) -> None:
        """Remove a database made by :meth:`create`, closing whatever still uses it."""
        import psycopg

        name = urllib.parse.urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
