"""Long-running commands in a terminal: their log on stderr, Ctrl-C and SIGTERM as a clean stop.

Used by ``serve``, ``run``, ``sim head`` and ``sim host``: a log line per
event on stderr (short source labels, millisecond times), and the two stop
signals turned into an event the command's loop watches, so the coin in
flight finishes before the process ends.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import ClassVar

__all__ = ["logs_to_stderr", "stop_on_signals"]

Command = Callable[[argparse.Namespace], int]


class _ShortNames(logging.Filter):
    _LABELS: ClassVar[dict[str, str]] = {
        "firmware_bridge.runtime": "engine",
        "firmware_bridge.cctalk": "cctalk",
        "firmware_bridge.sources": "sensor",
        "firmware_bridge.ports": "ports",
        "sim.virtual_head": "head",
        "sim.virtual_host": "host",
        "sim.serial_urls": "sim",
        "calibration.live": "calib",
        "coinval_cli.live_calibration": "calib",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        record.short = self._LABELS.get(record.name, record.name)
        return True


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Log to stderr for the duration of one command, then put things back."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ShortNames())
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d %(short)-6s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def logs_to_stderr(command: Command) -> Command:
    """Decorate a command so its log goes to stderr while it runs (debug with ``--verbose``)."""

    @functools.wraps(command)
    def wrapper(args: argparse.Namespace) -> int:
        with _logging(bool(getattr(args, "verbose", False))):
            return command(args)

    return wrapper


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (the coin in flight finishes); restored afterwards."""

    def handler(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("firmware_bridge.runtime").info(
            "%s received: finishing the coin in flight", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
