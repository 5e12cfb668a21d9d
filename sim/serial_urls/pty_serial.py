"""A pyserial port on a fresh pseudo-terminal whose other end a simulated device serves.

:class:`PtySimulationSerial` is what the ``simhead://`` and ``simhost://``
handlers return: opening it makes a pty pair, opens the slave end as an
ordinary pyserial port (the engine's end: termios settings, timeouts and all),
and starts the simulated device on the master end in a daemon thread; closing
it stops the device and closes both ends.  Subclasses build the device from
the URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import tty
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import serial

from firmware_bridge.transport.fd_port import FdPort

__all__ = [
    "PtySimulationSerial",
    "SimulatedDevice",
    "option",
    "positive_float",
    "positive_int",
    "split_sim_url",
]

log = logging.getLogger("sim.serial_urls")

#: Longest wait for a simulated device to notice it must stop (a parking
#: machine may be inside a ccTalk request: 0.5 s, and one retry).
_STOP_WAIT_S = 2.0

T = TypeVar("T")


class SimulatedDevice(Protocol):
    """A simulated device behind a URL: a loop that runs until ``stop`` is set."""

    def run(self, stop: threading.Event) -> None: ...


def split_sim_url(url: str, scheme: str, keys: frozenset[str]) -> tuple[str, dict[str, str]]:
    """Split ``scheme://NAME?key=value&...`` into ``NAME`` and its options.

    Raises
    ------
    ValueError
        Another scheme, an option given twice, or an option not in ``keys``.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != scheme:
        raise ValueError(f"expected a {scheme}:// URL, got {url!r}")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in keys:
            raise ValueError(
                f"{scheme}:// has no option {key!r} (options: {', '.join(sorted(keys))})"
            )
        if key in options:
            raise ValueError(f"{scheme}:// option {key!r} given twice")
        options[key] = value
    return unquote(parts.netloc + parts.path.rstrip("/")), options


def option(options: Mapping[str, str], key: str, parse: Callable[[str], T], default: T) -> T:
    """Option ``key`` read by ``parse``, or ``default`` when the URL does not give it."""
    text = options.get(key)
    if text is None:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"option {key}={text!r}: {exc}") from None


def positive_float(text: str) -> float:
    """A number > 0."""
    value = float(text)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def positive_int(text: str) -> int:
    """A whole number > 0."""
    value = int(text)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


class PtySimulationSerial(serial.Serial):
    """A pyserial port on the slave end of a pty whose master a simulated device serves.

    Attributes
    ----------
    url : str
        The URL it was opened from (``port`` and ``name`` become the slave's path).
    simulation : SimulatedDevice or None
        The device serving the master end (its ledger, its events...), once opened.
    """

    #: The URL scheme, for messages.
    scheme = ""
    #: What the device is, for the log.
    what = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.url = ""
        self.simulation: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master: FdPort | None = None
        super().__init__(*args, **kwargs)

    def make_simulation(self, url: str, master: FdPort) -> SimulatedDevice:
        """The device serving ``master``, as ``url`` describes it; ``ValueError`` if it cannot."""
        raise NotImplementedError

    def open(self) -> None:
        """Make the pty, open its slave end here, start the device on its master end."""
        if not self.url:
            self.url = str(self.portstr)  # the first opening: the URL given to serial_for_url
        master, slave = os.openpty()
        try:
            # Raw from the start: no echo, no line editing, 8-bit clean, before a byte flows.
            tty.setraw(slave)
            self.port = os.ttyname(slave)  # not open yet: this only names the path
            master_port = FdPort(master, owns_fd=True)
            simulation = self.make_simulation(self.url, master_port)
            # Opened before the device starts: pyserial discards pending input as it opens.
            super().open()
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # the port holds a descriptor of its own
        self._master = master_port
        self.simulation = simulation
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"{self.scheme} {self.port}", daemon=True
        )
        self._thread.start()
        log.info("%s on %s (a pseudo-terminal; it serves the master end)", self.what, self.port)

    def _serve(self) -> None:
        try:
            self.simulation.run(self._stop)
        except Exception as exc:  # a device that dies must say so, not go quiet
            log.error("%s on %s stopped: %s: %s", self.what, self.port, type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)

    def close(self) -> None:
        """Stop the device, then close both ends."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_STOP_WAIT_S)
            self._thread = None
        super().close()
        if self._master is not None:
            with contextlib.suppress(OSError):
                self._master.close()
            self._master = None
