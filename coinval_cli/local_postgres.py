"""A PostgreSQL cluster of the operator's own, in a folder: made once, started and stopped.

``coinval central`` keeps its store in a cluster under ``--dir`` so that one
command gives a PostgreSQL-backed central service on a machine that has only
the server binaries (Debian's ``postgresql`` package).  The cluster listens on
loopback only, on a port free when it starts, with its Unix sockets off (no
path length limit, no clash with a system cluster).  Its durability settings
are PostgreSQL's defaults: this is a store, not a test fixture.  ``initdb`` and
``pg_ctl`` refuse to run as root: as root they run as the ``postgres`` user,
who then owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalCluster", "LocalPostgresError", "as_server_user", "server_bindir"]

#: The database of the central service inside the cluster.
DATABASE = "coinval"


class LocalPostgresError(Exception):
    """The cluster cannot be made or started; the message says why and what to do."""


def server_bindir() -> Path:
    """The folder of the newest installed PostgreSQL server binaries."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise LocalPostgresError(
        "no PostgreSQL server binaries (initdb, pg_ctl): install them "
        "(Debian: apt-get install postgresql) or give --db postgresql://... of a server you run"
    )


def as_server_user(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when run as root (initdb and pg_ctl refuse root)."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise LocalPostgresError(
            "initdb and pg_ctl refuse to run as root, and there is no postgres user to "
            "run them as: run as another user"
        ) from None
    return ["runuser", "-u", "postgres", "--", *command]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """A cluster whose data lives in ``folder``/data."""

    folder: Path

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _run(self, *command: str, timeout: float = 120) -> None:
        done = subprocess.run(
            as_server_user(list(command)), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise LocalPostgresError(
                f"{os.path.basename(command[0])} failed: {' / '.join(tail)} (log: {self.log})"
            )

    def make(self) -> bool:
        """Make the cluster if the folder has none yet; True if it was made now."""
        if (self.data / "PG_VERSION").exists():
            return False
        bindir = server_bindir()
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        # trust on loopback only (listen_addresses below): the service's keys guard
        # the data; the database itself is reachable from this machine alone.
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
        )
        return True

    def start(self) -> str:
        """Start the cluster on a free loopback port; the central database's URL."""
        bindir = server_bindir()
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''"
            " -c max_connections=200"
        )
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")
        return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"

    def stop(self) -> None:
        """Stop the cluster (a fast shutdown: sessions closed, data flushed)."""
        bindir = server_bindir()
        self._run(str(bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
