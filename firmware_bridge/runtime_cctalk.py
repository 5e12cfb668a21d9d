"""The ccTalk side of the runtime: serve the coin-acceptor device on its port, promptly.

One thread does nothing but this: read what the host sent, let the device
answer under the device lock (a fraction of a millisecond), write the reply.
Classification happens in another thread and never holds the lock while it
decides, so replies go out within a few milliseconds of a request whatever the
coins are doing.

The thread also tells the outbox what the host read (the counter value in each
229 reply) and when it reset the device, and logs what the host changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.device_types import (
    CoinIdChanged,
    EventOverwritten,
    InhibitsChanged,
    MasterInhibitChanged,
    Reply,
    ResetRequested,
    SorterPathChanged,
)
from firmware_bridge.cctalk.frame import decode_frame
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.runtime_money import EventOutbox
from firmware_bridge.runtime_ports import ManagedLine

__all__ = ["CcTalkService"]

log = logging.getLogger("firmware_bridge.cctalk")


def _read_counter(reply: Reply, device: CoinAcceptorDevice) -> int | None:
    """The event counter a 229 ACK carries, or None if ``reply`` is not one."""
    if reply.request.header != Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES:
        return None
    try:
        frame = decode_frame(reply.data, device.checksum)
    except ValueError:
        return None
    if frame.header != Header.ACK or not frame.data:
        return None
    return frame.data[0]


class CcTalkService:
    """Serves a device on a ccTalk line in a thread of its own.

    Parameters
    ----------
    line : ManagedLine
        The ccTalk port (opened, reconnecting).
    device : CoinAcceptorDevice
    lock : threading.Lock
        The device lock, shared with the money path.
    outbox : EventOutbox
    clock, sleep : callable
    """

    def __init__(
        self,
        line: ManagedLine,
        device: CoinAcceptorDevice,
        lock: threading.Lock,
        outbox: EventOutbox,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.line = line
        self.device = device
        self.lock = lock
        self.outbox = outbox
        self._clock = clock
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.requests_answered = 0
        self.resets = 0

    def start(self) -> None:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="cctalk", daemon=True)
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
            except Exception as exc:  # keep the acceptor on the bus whatever one request did
                # One line for the operator; the traceback only at debug level.
                log.error("ccTalk service: unexpected %s: %s; going on", type(exc).__name__, exc)
                log.debug("traceback", exc_info=True)
                self._sleep(0.01)

    def step(self) -> int:
        """Read once (at most the port's read timeout), answer, write; replies written."""
        chunk = self.line.read()
        received = self._clock()
        replies = self.answer(chunk, received)
        for reply in replies:
            wait = received + reply.delay_s - self._clock()
            if wait > 0:
                self._sleep(wait)  # 253/252 only: staggered address replies
            self.line.write(reply.data)
        self.requests_answered += len(replies)
        return len(replies)

    def answer(self, chunk: bytes, now: float) -> list[Reply]:
        """Feed bytes from the bus to the device (under the lock); return its replies.

        Also tells the outbox what each 229 reply showed the host, and acts on
        what the host changed.  No I/O: :meth:`step` does that.
        """
        with self.lock:
            replies = self.device.receive(chunk, now)
            for reply in replies:
                counter = _read_counter(reply, self.device)
                if counter is not None:
                    self.outbox.host_read(counter)
            self._note_events()
        return replies

    def _note_events(self) -> None:
        """Act on and log what the host changed (device lock held)."""
        for event in self.device.drain_events():
            if isinstance(event, ResetRequested):
                self.resets += 1
                self.outbox.device_reset()
                log.warning(
                    "host reset the acceptor (header 1): every coin inhibited, master inhibit on"
                )
            elif isinstance(event, InhibitsChanged):
                enabled = [p for p in range(1, 17) if event.mask >> (p - 1) & 1]
                log.info(
                    "host inhibit mask 0x%04x: positions enabled %s",
                    event.mask,
                    ", ".join(map(str, enabled)) or "none",
                )
            elif isinstance(event, MasterInhibitChanged):
                log.info(
                    "host master inhibit %s",
                    "on: every coin returned" if event.inhibited else "off: accepting",
                )
            elif isinstance(event, EventOverwritten):
                log.error(
                    "229 buffer overflow: an unread event was pushed out (%d so far)", event.total
                )
            elif isinstance(event, CoinIdChanged | SorterPathChanged):
                log.info("host changed %s", event)
