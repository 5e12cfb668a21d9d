"""A serial line that survives an unplugged cable, for the runtime's long-running loops.

:class:`ManagedLine` owns one line: a failed read or write closes the port,
logs it once, and reopens it with exponential back-off, while the protocol
state above it (the ccTalk device, the sensor link, coins in flight) is kept.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from firmware_bridge.transport.ports import SerialPort

__all__ = ["Backoff", "ManagedLine", "PortOpenError"]

log = logging.getLogger("firmware_bridge.ports")


class PortOpenError(OSError):
    """A line could not be opened; the message names the port and the reason."""


@dataclass
class Backoff:
    """Exponential back-off between reconnection attempts.

    Attributes
    ----------
    initial_s, maximum_s : float
        First and longest wait.
    factor : float
        Growth per failed attempt.
    """

    initial_s: float = 0.1
    maximum_s: float = 2.0
    factor: float = 2.0
    _current: float = 0.0

    def next_delay(self) -> float:
        """The wait before the next attempt (grows until :attr:`maximum_s`)."""
        self._current = (
            self.initial_s
            if self._current == 0
            else min(self.maximum_s, self._current * self.factor)
        )
        return self._current

    def reset(self) -> None:
        """A connection worked: start again from :attr:`initial_s`."""
        self._current = 0.0


_PORT_ERRORS = (serial.SerialException, OSError, ValueError)


class ManagedLine:
    """One serial line that reconnects by itself.

    Parameters
    ----------
    name : str
        What the line is, for logs (``"ccTalk"``, ``"sensor link"``).
    url : str
        What it is opened from (for logs).
    opener : callable
        Opens the port; raises on failure.
    on_connect : callable, optional
        Called with the open port after every (re)connection, e.g. to send a
        sensor-link preamble and Hello.
    backoff : Backoff, optional
    sleep : callable
        Used while waiting to reconnect.

    Notes
    -----
    Not thread-safe: one thread reads and writes a line (the ccTalk service
    thread, or the coin loop for the sensor link).
    """

    def __init__(
        self,
        name: str,
        url: str,
        opener: Callable[[], SerialPort],
        *,
        on_connect: Callable[[SerialPort], None] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.url = url
        self._opener = opener
        self._on_connect = on_connect
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._port: SerialPort | None = None
        self._retry_at = 0.0
        self._closed = False
        self.reconnections = 0

    @property
    def connected(self) -> bool:
        """Whether the port is open now."""
        return self._port is not None

    def open(self) -> None:
        """First opening; raises :class:`PortOpenError` naming the port if it fails."""
        try:
            port = self._opener()
        except _PORT_ERRORS as exc:
            raise PortOpenError(f"cannot open the {self.name} port {self.url!r}: {exc}") from None
        self._attach(port)

    def _attach(self, port: SerialPort) -> None:
        self._port = port
        self._backoff.reset()
        if self._on_connect is not None:
            try:
                self._on_connect(port)
            except _PORT_ERRORS as exc:
                self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*_PORT_ERRORS):
                port.close()
        delay = self._backoff.next_delay()
        self._retry_at = time.monotonic() + delay
        log.warning(
            "%s port %s lost (%s); state kept, reconnecting (next try in %.1f s)",
            self.name,
            self.url,
            exc or "closed",
            delay,
        )

    def _reconnect(self) -> None:
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            self._sleep(min(wait, 0.05))
            return
        try:
            port = self._opener()
        except _PORT_ERRORS as exc:
            delay = self._backoff.next_delay()
            self._retry_at = time.monotonic() + delay
            log.debug("%s port %s still unavailable (%s)", self.name, self.url, exc)
            return
        self.reconnections += 1
        log.warning("%s port %s reconnected", self.name, self.url)
        self._attach(port)

    def read(self) -> bytes:
        """What has arrived (waits up to the port's read timeout); ``b""`` while reconnecting."""
        if self._closed:
            return b""
        if self._port is None:
            self._reconnect()
            return b""
        try:
            return bytes(self._port.read(max(1, self._port.in_waiting)))
        except _PORT_ERRORS as exc:
            self._lost(exc)
            return b""

    def write(self, data: bytes) -> bool:
        """Write ``data``; ``False`` if the line is down (the bytes are lost)."""
        if self._port is None:
            return False
        try:
            self._port.write(data)
            self._port.flush()
        except _PORT_ERRORS as exc:
            self._lost(exc)
            return False
        return True

    def close(self) -> None:
        """Close for good (no more reconnection)."""
        self._closed = True
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*_PORT_ERRORS):
                port.close()
