"""A serial line that survives an unplugged cable, for the runtime's long-running loops.

:class:`ManagedLine` owns one line: a failed read or write closes the port,
logs it once, and reopens it with exponential back-off, while the protocol
state above it (the ccTalk device, the sensor link, coins in flight) is kept.
That reconnecting core is :class:`ReconnectingLine`, generic in the port it
manages, so the MDB word line reuses it rather than repeating it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import serial

from firmware_bridge.transport.ports import SerialPort

__all__ = ["Backoff", "ManagedLine", "PortOpenError", "ReconnectingLine"]

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


class _Closable(Protocol):
    def close(self) -> None: ...


PortT = TypeVar("PortT", bound=_Closable)
_T = TypeVar("_T")


class ReconnectingLine(Generic[PortT]):
    """The reconnect-on-loss core shared by every managed line, whatever it carries.

    A failed operation closes the port, logs it once, and reopens it with
    exponential back-off; subclasses add only their reads and writes (bytes
    in :class:`ManagedLine`, MDB words in
    :class:`~firmware_bridge.transport.mdb_serial.ManagedWordLine`), each run
    through :meth:`_guarded` so the loss handling is written once.

    Parameters
    ----------
    name : str
        What the line is, for logs (``"ccTalk"``, ``"sensor link"``, ``"MDB"``).
    url : str
        What it is opened from (for logs).
    opener : callable
        Opens the port; raises on failure.
    on_connect : callable, optional
        Called with the open port after every (re)connection.
    backoff : Backoff, optional
    sleep : callable
        Used while waiting to reconnect.

    Notes
    -----
    Not thread-safe: one thread reads and writes a line.
    """

    #: What the "lost" log line says is kept while the port is away.
    _kept = "state"

    def __init__(
        self,
        name: str,
        url: str,
        opener: Callable[[], PortT],
        *,
        on_connect: Callable[[PortT], None] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.url = url
        self._opener = opener
        self._on_connect = on_connect
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._port: PortT | None = None
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

    def _attach(self, port: PortT) -> None:
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
            "%s port %s lost (%s); %s kept, reconnecting (next try in %.1f s)",
            self.name,
            self.url,
            exc or "closed",
            self._kept,
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

    def _guarded(self, op: Callable[[PortT], _T], fallback: _T, *, reconnect: bool) -> _T:
        """``op(port)``, or ``fallback`` while the line is down or when ``op`` loses it.

        Reads pass ``reconnect=True``: the reading thread is the one that
        waits for the port to come back; a write on a down line just fails.
        """
        port = self._port
        if port is None:
            if reconnect and not self._closed:
                self._reconnect()
            return fallback
        try:
            return op(port)
        except _PORT_ERRORS as exc:
            self._lost(exc)
            return fallback

    def close(self) -> None:
        """Close for good (no more reconnection)."""
        self._closed = True
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*_PORT_ERRORS):
                port.close()


class ManagedLine(ReconnectingLine[SerialPort]):
    """One serial line of bytes that reconnects by itself.

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

    def read(self) -> bytes:
        """What has arrived (waits up to the port's read timeout); ``b""`` while reconnecting."""
        return self._guarded(_read_available, b"", reconnect=True)

    def write(self, data: bytes) -> bool:
        """Write ``data``; ``False`` if the line is down (the bytes are lost)."""

        def write_flushed(port: SerialPort) -> bool:
            port.write(data)
            port.flush()
            return True

        return self._guarded(write_flushed, False, reconnect=False)


def _read_available(port: SerialPort) -> bytes:
    return bytes(port.read(max(1, port.in_waiting)))
