"""``coinval api --workers N``: N uvicorn worker processes on one socket, one PostgreSQL store.

The parent does, once, what must happen once: the start checks of
:mod:`coinval_cli.api` (settings, TLS, the store's URL, the port, bound here),
the store's migrations and the first admin key (printed once), and the rate
counters' table.  It then runs uvicorn's supervisor (``Multiprocess``), which
starts N workers (``spawn``: fresh interpreters) on the socket it bound; each
worker builds the app with :func:`worker_app`.  Settings reach the workers
through the environment (``COINVAL_DB``, ``COINVAL_WORKERS`` and whatever
``COINVAL_*`` the parent was given), never through their command line, where
any user of the machine could read a password in the store's URL; the first
admin key is not passed on at all (the store holds it by then).

The supervisor stops every worker on Ctrl-C or SIGTERM (the workers end their
live streams and finish their requests), and starts a new worker in place of
one that dies, or does not answer its health check for
:data:`HEALTHCHECK_S`; each replacement is reported on stderr.  A worker that
cannot start (the store gone, say) stops them all: exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from coinval_cli.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from fastapi import FastAPI

    from calibration.bell import EventBell
    from calibration.settings import Settings

#: What uvicorn's workers import and call to build their app.
WORKER_APP = "coinval_cli.api_workers:worker_app"
#: A worker that does not answer the supervisor's ping this long is killed and replaced.
#: uvicorn's default is 5 s; a busy worker on a loaded machine (two shared cores)
#: can be slower than that to answer without being hung.
HEALTHCHECK_S = 10
#: Settings the workers must not inherit: the store has the first admin key's hash by then.
NOT_FOR_WORKERS = ("COINVAL_ADMIN_KEY",)


def serve_workers(
    args: argparse.Namespace, settings: Settings, store: str, listener: socket.socket
) -> int:
    """Prepare the store once, then serve with ``settings.workers`` processes until stopped."""
    import uvicorn

    from calibration.server import server_options
    from coinval_cli.serving import announce_serving

    refused = prepare_store(settings)
    if refused is not None:
        print(f"coinval api: error: cannot open the store {store}: {refused}", file=sys.stderr)
        return EXIT_USAGE
    announce_serving(args, settings, store, listener)
    config = uvicorn.Config(
        WORKER_APP,
        factory=True,
        workers=settings.workers,
        **server_options(),  # a request head over 32 kB: 431 before it is held
        host=settings.host,
        port=listener.getsockname()[1],
        log_level=args.log_level,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        timeout_worker_healthcheck=HEALTHCHECK_S,
    )
    with worker_environment(settings):
        supervisor = make_supervisor(config, listener)
        supervisor.run()
    if supervisor.failed:
        print(
            "coinval api: error: a worker could not start (see the log above); stopped",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK


def prepare_store(settings: Settings) -> str | None:
    """Migrate the store, make the first admin key (printed here, once) and the rate
    counters' table; None, or why not in one line."""
    import psycopg

    from calibration.app import open_context
    from calibration.errors import CalibrationError
    from calibration.pg_side import SideConnections
    from calibration.rate_limits import PostgresCounter

    try:
        ctx = open_context(settings)
    except (OSError, RuntimeError, ValueError, CalibrationError) as exc:
        return str(exc)
    except psycopg.Error as exc:  # a URL psycopg cannot even read
        return str(exc).strip().splitlines()[0]
    side = SideConnections(settings.db)
    try:
        PostgresCounter(side).prepare()
    except psycopg.Error as exc:
        return f"cannot make the rate counters' table: {str(exc).strip().splitlines()[0]}"
    finally:
        side.close()
        ctx.db.close()  # the workers open their own; nothing is held across the fork
    return None


@contextlib.contextmanager
def worker_environment(settings: Settings) -> Iterator[None]:
    """The environment the workers start with, for as long as the supervisor runs
    (it starts replacements later): the parent's settings, flags included."""
    wanted: dict[str, str | None] = {
        "COINVAL_DB": settings.db,
        "COINVAL_WORKERS": str(settings.workers),
        **{name: None for name in NOT_FOR_WORKERS},
    }
    saved = {name: os.environ.get(name) for name in wanted}
    try:
        for name, value in wanted.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def make_supervisor(config: Any, listener: socket.socket) -> Any:
    """uvicorn's worker supervisor, saying on stderr when it replaces a worker."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):
        failed = False

        def keep_subprocess_alive(self) -> None:
            before = list(self.processes)
            super().keep_subprocess_alive()
            for old, now in zip(before, self.processes, strict=True):
                if old.exitcode == STARTUP_FAILURE:
                    self.failed = True
                elif now is not old:
                    print(
                        f"coinval api: worker {old.pid} {_how_it_ended(old.exitcode)}; "
                        f"worker {now.pid} takes its place",
                        file=sys.stderr,
                        flush=True,
                    )

    return Supervisor(config, sockets=[listener])


# -- in each worker ------------------------------------------------------------------


def worker_app() -> FastAPI:
    """The app of one worker: the store the parent migrated, the settings it passed on.

    A worker does not migrate or make keys (the parent did, once).  A store it
    cannot open, or one at another schema than this code's, is one line on
    stderr and uvicorn's start-failure exit, which stops the parent rather
    than have it start the same failing worker again and again.
    """
    from uvicorn.config import STARTUP_FAILURE

    from calibration.app import create_app
    from calibration.context import Context
    from calibration.db import PostgresDatabase, latest_schema_version
    from calibration.settings import Settings
    from coinval_cli.serving import settle_heap, share_the_interpreter

    settings = Settings()
    try:
        db = PostgresDatabase(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    except Exception as exc:
        _worker_error(f"cannot open the store: {exc}")
        sys.exit(STARTUP_FAILURE)
    try:
        version = db.schema_version()
    except Exception as exc:
        db.close()
        _worker_error(f"cannot read the store's schema: {type(exc).__name__}: {exc}")
        sys.exit(STARTUP_FAILURE)
    expected = latest_schema_version(db.dialect)
    if version != expected:
        db.close()
        _worker_error(f"the store is at schema {version}, this code expects {expected}")
        sys.exit(STARTUP_FAILURE)
    app = create_app(context=Context(db=db, settings=settings))
    end_streams_on_exit_signals(app.state.peers.bell)
    settle_heap()
    share_the_interpreter()
    return app


def _worker_error(message: str) -> None:
    print(f"coinval api: error: worker {os.getpid()}: {message}", file=sys.stderr, flush=True)


def end_streams_on_exit_signals(bell: EventBell) -> None:
    """On SIGINT or SIGTERM, end the live streams, then do what the handler did before.

    Called while uvicorn's server builds the app: its own handlers (a graceful
    stop) are in place then, and it puts back the ones it found when it ends.
    See :func:`coinval_cli.api.stopping_server` for why.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            bell.close()
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)
