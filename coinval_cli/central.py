"""``coinval central``: a fleet's central calibration service on a local PostgreSQL, one command.

Makes a PostgreSQL cluster under ``--dir`` on first use
(:mod:`coinval_cli.local_postgres`), starts it, and serves ``coinval api`` on
it with ``--workers`` processes until Ctrl-C; then stops the cluster.  The
data stays in the folder for the next start.  With ``--db postgresql://...``
it serves a PostgreSQL the operator already runs instead, and makes nothing.
Acceptors report to it with ``coinval serve ... --central URL``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from coinval_cli.argtypes import positive_int
from coinval_cli.errors import EXIT_OK, EXIT_USAGE

__all__ = ["add_central_arguments", "run_central"]


def add_central_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval central``."""
    parser.add_argument(
        "--dir",
        default=".coinval/central",
        metavar="DIR",
        help="the folder of the PostgreSQL cluster (made on first use; default .coinval/central)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="serve this PostgreSQL database instead of a cluster under --dir",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        metavar="N",
        help="API worker processes (default 2: one per core of a small server)",
    )


def _say(message: str) -> None:
    print(f"coinval central: {message}", file=sys.stderr, flush=True)


def run_central(args: argparse.Namespace) -> int:
    """Start the cluster (made if needed), serve the API on it until Ctrl-C, stop the cluster."""
    from calibration.db import is_postgres_url, without_password
    from coinval_cli.local_postgres import LocalCluster, LocalPostgresError

    if args.db is not None and not is_postgres_url(args.db):
        _say(f"error: --db must be a postgresql:// URL, got {args.db!r}")
        return EXIT_USAGE
    if not 0 < args.port < 65536:
        _say(f"error: --port must be 1-65535, got {args.port}")
        return EXIT_USAGE
    cluster = None
    url = args.db
    if url is None:
        cluster = LocalCluster(Path(args.dir).resolve())
        try:
            if cluster.make():
                _say(f"made a PostgreSQL cluster in {cluster.data}")
            url = cluster.start()
        except LocalPostgresError as exc:
            _say(f"error: {exc}")
            return EXIT_USAGE
        _say(f"PostgreSQL started ({without_password(url)}; log {cluster.log})")
    try:
        return _serve_api(args, url)
    finally:
        if cluster is not None:
            try:
                cluster.stop()
                _say("PostgreSQL stopped")
            except LocalPostgresError as exc:
                _say(f"error: {exc}")


def _serve_api(args: argparse.Namespace, url: str) -> int:
    """``coinval api`` on ``url`` as a child process, Ctrl-C and SIGTERM passed on."""
    command = [
        sys.executable,
        "-m",
        "coinval_cli",
        "api",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
    ]
    # The URL goes by the environment: a password in it stays out of the process list.
    env = {**os.environ, "COINVAL_DB": url}
    _say(
        f"central service on http://{args.host}:{args.port} ({args.workers} worker(s)); "
        f"acceptors: coinval serve ... --central http://{args.host}:{args.port} "
        "--central-key KEY (an operator key)"
    )
    child = subprocess.Popen(command, env=env)

    def pass_on(signum: int, frame: object) -> None:
        del frame
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    # Stopped by a signal we passed on: a clean stop, as coinval api's own Ctrl-C.
    return EXIT_OK if status in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143) else status
