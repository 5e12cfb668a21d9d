"""``coinval api``: run the calibration service on its own, without the sensor head or host."""

from __future__ import annotations

import argparse
import gc
import os
import sys

from coinval_cli.errors import EXIT_OK, EXIT_USAGE

#: Allocations between two young-generation collections while serving (CPython's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Tune the garbage collector for serving, once the app is built.

    The app, its routes and schemas and the libraries behind them are some 90,000
    objects that live as long as the process; a full collection walked all of them,
    holding the interpreter for tens of milliseconds, and under load often enough
    to make the tail of the response times.  ``gc.freeze()`` moves them out of
    the collector's reach (reference counting still frees them), and a larger young
    generation lets a request's objects die before a collection promotes them,
    so full collections become rare as well as short.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval api`` (environment: ``COINVAL_DB``, ``COINVAL_HOST``, ...)."""
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite store (default $COINVAL_DB or coinval.db)"
    )
    parser.add_argument(
        "--host", help="bind address (default $COINVAL_HOST or 127.0.0.1: loopback only)"
    )
    parser.add_argument("--port", type=int, help="TCP port (default $COINVAL_PORT or 8000)")
    parser.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default info)",
    )


def run_api(args: argparse.Namespace) -> int:
    """Open the store, make the first admin key if needed, serve until interrupted."""
    import uvicorn
    from pydantic import ValidationError

    from calibration.app import create_app
    from calibration.server import server_options
    from calibration.settings import Settings

    overrides = {
        name: value
        for name, value in (("db", args.db), ("host", args.host), ("port", args.port))
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"coinval api: error: bad setting: {exc.errors()[0]['msg']}", file=sys.stderr)
        return EXIT_USAGE
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("coinval api: error: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return EXIT_USAGE
    try:
        app = create_app(settings)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"coinval api: error: cannot open the store {settings.db!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settle_heap()
    scheme = "https" if args.ssl_certfile else "http"
    print(
        f"coinval api: serving {scheme}://{settings.host}:{settings.port} "
        f"(docs at /docs), store {os.path.abspath(settings.db)}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        **server_options(),  # a request head over 32 kB: 431 before it is held
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )
    return EXIT_OK
