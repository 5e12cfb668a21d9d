"""The thread that serves a peripheral on its bus: what the ccTalk and MDB services share.

Both serve a sans-I/O device in a thread of their own, read, answer under the
device lock, write, and must stay on the bus whatever one request did.  That
lifecycle (start, stop, the loop that logs an unexpected exception in one line
and goes on) lives here once; each service gives only its :meth:`~BusService.step`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

__all__ = ["BusService"]


class BusService(ABC):
    """A bus service thread; subclasses implement :meth:`step`.

    Parameters
    ----------
    lock : threading.Lock
        The device lock, shared with the money path.
    clock, sleep : callable
        Monotonic seconds, and the wait used between attempts.
    thread_name : str
        The thread's name (``"cctalk"``, ``"mdb"``).
    label : str
        What the service is called in its log lines (``"ccTalk service"``).
    log : logging.Logger
        Where the service logs (its protocol's logger).

    Attributes
    ----------
    resets : int
        Resets from the host or VMC, counted by the subclass.
    """

    def __init__(
        self,
        lock: threading.Lock,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        thread_name: str,
        label: str,
        log: logging.Logger,
    ) -> None:
        self.lock = lock
        self._clock = clock
        self._sleep = sleep
        self._thread_name = thread_name
        self._label = label
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.resets = 0

    def start(self) -> None:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread (the port stays open; close the line)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # keep the peripheral on the bus whatever one request did
                # One line for the operator; the traceback only at debug level.
                self._log.error(
                    "%s: unexpected %s: %s; going on", self._label, type(exc).__name__, exc
                )
                self._log.debug("traceback", exc_info=True)
                self._sleep(0.01)

    @abstractmethod
    def step(self) -> int:
        """Read once (at most the port's read timeout), answer, write; replies written."""
