"""What every ``coinval`` command that serves HTTP does once its app is built."""

from __future__ import annotations

import argparse
import gc
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calibration.settings import Settings

__all__ = [
    "GC_YOUNG_THRESHOLD",
    "SWITCH_INTERVAL_S",
    "announce_serving",
    "settle_heap",
    "share_the_interpreter",
]

#: Allocations between two young-generation collections while serving (CPython's default: 700).
GC_YOUNG_THRESHOLD = 20_000
#: The interpreter's thread switch interval while serving (CPython's default: 5 ms).
SWITCH_INTERVAL_S = 0.001


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


def share_the_interpreter() -> None:
    """Let a thread that waits for the interpreter have it within a millisecond.

    A request's thread gives the interpreter up at every socket or database wait
    and must then win it back from whichever thread is busy (a batch's rows, the
    event loop parsing a body); CPython makes a busy thread yield only every
    switch interval, 5 ms by default, so a request with a few waits queued for
    tens of milliseconds behind others' work.  A shorter interval costs a few
    more switches and keeps the queueing to about a millisecond a wait.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def announce_serving(
    args: argparse.Namespace, settings: Settings, store: str, listener: socket.socket
) -> None:
    """The ``serving`` line on stderr (it names the port ``--port 0`` took)."""
    scheme = "https" if args.ssl_certfile else "http"
    host, port = settings.host, listener.getsockname()[1]
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    print(
        f"coinval api: serving {scheme}://{f'[{host}]' if ':' in host else host}:{port} "
        f"(docs at /docs), store {store}{workers}",
        file=sys.stderr,
        flush=True,
    )
