"""``coinval api``: run the calibration service on its own, without the sensor head or host."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys
import tempfile
from typing import TYPE_CHECKING

from coinval_cli.argtypes import positive_int
from coinval_cli.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError
from coinval_cli.serving import announce_serving, settle_heap, share_the_interpreter

if TYPE_CHECKING:
    from types import FrameType

    import uvicorn

    from calibration.bell import EventBell
    from calibration.settings import Settings

#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def check_store(target: str) -> str:
    """The store as messages name it: a PostgreSQL URL (its password hidden; the
    server is reached only when the store is opened), or a checked SQLite path
    (:func:`check_store_path`)."""
    from calibration.db import is_postgres_url, without_password

    if is_postgres_url(target):
        return without_password(target)
    return check_store_path(target)


def check_store_path(path: str) -> str:
    """The store's absolute path, once it is sure the store can be opened or made there.

    Checked before anything is created or a first admin key is printed: the
    directory exists and takes new files (SQLite adds ``-wal`` and ``-shm``
    files beside the store), and an existing file is a readable, writable
    SQLite store (an empty file is one SQLite fills).  A store refused later,
    once opened, would leave a fresh file behind or a key printed for nothing.

    Raises
    ------
    UsageError
        What is wrong with the path, in one line.
    """
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    if not os.path.exists(folder):
        raise UsageError(f"store {full}: the directory {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"store {full}: {folder} is not a directory")
    if os.path.isdir(full):
        raise UsageError(f"store {full}: is a directory, not a store file")
    if os.path.exists(full):
        if not os.path.isfile(full):
            raise UsageError(f"store {full}: is not a regular file")
        try:
            with open(full, "rb") as f:
                header = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise UsageError(f"store {full}: cannot be read: {exc.strerror}") from None
        if header and header != SQLITE_HEADER:
            raise UsageError(f"store {full}: is not a SQLite store; give another --db path")
        if not os.access(full, os.R_OK | os.W_OK):
            raise UsageError(f"store {full}: is not writable by this user")
    try:
        # A real file made and dropped at once: os.access cannot see read-only
        # mounts, and says yes to root whatever the mode.
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise UsageError(f"store {full}: cannot create files in {folder}: {exc.strerror}") from None
    return full


def bind_listener(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not yet listening), or UsageError saying why not.

    Bound before the store is opened, so that a port in use is said before
    anything is created or a key printed.  ``SO_REUSEADDR`` as uvicorn and
    asyncio set it: a port left in TIME_WAIT by a stopped server is free.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot serve on {where}: unknown host ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = "in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise UsageError(f"cannot serve on {where}: {why}") from None
    return sock


def check_tls(certfile: str, keyfile: str) -> None:
    """UsageError unless the certificate and its key load (before the store is touched)."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise UsageError(f"--ssl-certfile/--ssl-keyfile: cannot load them: {reason}") from None


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval api`` (environment: ``COINVAL_DB``, ``COINVAL_HOST``, ...)."""
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the store: a SQLite file, or a postgresql://user@host/db URL "
        "(default $COINVAL_DB or coinval.db)",
    )
    parser.add_argument(
        "--host", help="bind address (default $COINVAL_HOST or 127.0.0.1: loopback only)"
    )
    parser.add_argument("--port", type=int, help="TCP port (default $COINVAL_PORT or 8000)")
    parser.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="worker processes sharing the port (default $COINVAL_WORKERS or 1); "
        "more than one needs a PostgreSQL --db",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default info)",
    )


def run_api(args: argparse.Namespace) -> int:
    """Check the store path and port, open the store (first admin key if needed), serve.

    Nothing is created and no key printed until the store's path, the port and
    the TLS files (if any) are known good: a bad one is exit 2 and one line.
    """
    from pydantic import ValidationError

    from calibration.settings import Settings

    flags = (("db", args.db), ("host", args.host), ("port", args.port), ("workers", args.workers))
    overrides = {name: value for name, value in flags if value is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        return _usage(f"bad setting: {exc.errors()[0]['msg']}")
    refused = check_workers(settings)
    if refused is not None:
        return _usage(refused)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        return _usage("--ssl-certfile and --ssl-keyfile go together")
    try:
        if args.ssl_certfile:
            check_tls(args.ssl_certfile, args.ssl_keyfile)
        store = check_store(settings.db)
        listener = bind_listener(settings.host, settings.port)
    except UsageError as exc:
        return _usage(str(exc))
    try:
        return _serve(args, settings, store, listener)
    finally:
        listener.close()


def check_workers(settings: Settings) -> str | None:
    """Why ``settings.workers`` cannot be served (one line), or None.

    Several workers are several processes writing one store: SQLite's file
    lock would make them queue, and its WAL is for one machine; PostgreSQL
    is the store for that (and carries what the workers tell each other).
    """
    from calibration.db import is_postgres_url

    if settings.workers > 1 and not is_postgres_url(settings.db):
        return (
            f"--workers {settings.workers} needs a PostgreSQL store (--db postgresql://...); "
            "a SQLite store is served by one process"
        )
    return None


def _usage(message: str) -> int:
    print(f"coinval api: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _serve(
    args: argparse.Namespace, settings: Settings, store: str, listener: socket.socket
) -> int:
    """Open the store and serve on the bound ``listener`` until interrupted."""
    import sqlite3

    import uvicorn

    from calibration.app import create_app
    from calibration.errors import CalibrationError
    from calibration.server import server_options

    if settings.workers > 1:
        from coinval_cli.api_workers import serve_workers

        return serve_workers(args, settings, store, listener)
    try:
        app = create_app(settings)
    except (OSError, RuntimeError, ValueError, sqlite3.Error, CalibrationError) as exc:
        return _usage(f"cannot open the store {store}: {exc}")
    settle_heap()
    share_the_interpreter()
    announce_serving(args, settings, store, listener)
    config = uvicorn.Config(
        app,
        **server_options(),  # a request head over 32 kB: 431 before it is held
        host=settings.host,
        port=listener.getsockname()[1],
        log_level=args.log_level,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )
    server = stopping_server(config, app.state.peers.bell)
    # uvicorn hands Ctrl-C back once it has shut down.  The socket was bound
    # before the store was opened: no other process took the port in between.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    if not server.started:
        print("coinval api: error: the server did not start (see the log above)", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_OK


def stopping_server(config: uvicorn.Config, bell: EventBell) -> uvicorn.Server:
    """uvicorn's server, that also ends the live-event streams when asked to stop.

    A stream waits for events as long as its client stays, and uvicorn's
    graceful shutdown waits for every open response: without this one open
    stream would keep the server from stopping on Ctrl-C or SIGTERM.
    """
    import uvicorn

    class StoppingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            bell.close()
            super().handle_exit(sig, frame)

    return StoppingServer(config)
