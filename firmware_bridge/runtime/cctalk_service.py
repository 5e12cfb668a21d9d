"""The ccTalk side of the runtime: serve the coin-acceptor device on its port, promptly.

One thread does nothing but this: read what the host sent, let the device
answer under the device lock (a fraction of a millisecond), write the reply.
Classification happens in another thread and never holds the lock while it
decides, so replies go out within a few milliseconds of a request whatever the
coins are doing.

With ``echo`` on, every byte read is written straight back before any reply:
what the shared wire of a single-wire ccTalk bus does by itself, for a host
that reads its own request back (python-cctalk does, and stops when the echo
is missing) on a point-to-point line such as a pseudo-terminal or an RS-232
adapter with separate RX and TX.  On a real single wire leave it off: the
bus already echoes, and a second copy would corrupt the host's read.

The thread also reacts to what the device reports (the host reading the
buffer at counter 0, resetting the device, changing inhibits) by logging it:
every rule about the credit buffer is the device's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.device_types import (
    CoinIdChanged,
    CreditBufferRead,
    EventOverwritten,
    InhibitsChanged,
    MasterInhibitChanged,
    Reply,
    ResetRequested,
    SorterPathChanged,
)
from firmware_bridge.runtime.bus_service import BusService
from firmware_bridge.transport.managed_line import ManagedLine

__all__ = ["CcTalkService"]

log = logging.getLogger("firmware_bridge.cctalk")


class CcTalkService(BusService):
    """Serves a device on a ccTalk line in a thread of its own (:class:`.BusService`).

    Parameters
    ----------
    line : ManagedLine
        The ccTalk port (opened, reconnecting).
    device : CoinAcceptorDevice
    lock : threading.Lock
        The device lock, shared with the money path.
    clock, sleep : callable
    echo : bool
        Write every byte read back to the line first (single-wire emulation);
        may be set before :meth:`start`.
    """

    def __init__(
        self,
        line: ManagedLine,
        device: CoinAcceptorDevice,
        lock: threading.Lock,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        echo: bool = False,
    ) -> None:
        super().__init__(
            lock, clock=clock, sleep=sleep, thread_name="cctalk", label="ccTalk service", log=log
        )
        self.line = line
        self.device = device
        self.echo = echo

    def step(self) -> int:
        """Read once (at most the port's read timeout), answer, write; replies written."""
        chunk = self.line.read()
        received = self._clock()
        if self.echo and chunk:
            # Every byte, as the wire would, even noise and other devices'
            # frames: the echo comes before the reply because on the wire the
            # request's own bytes pass first.
            self.line.write(chunk)
        replies = self.answer(chunk, received)
        for reply in replies:
            wait = received + reply.delay_s - self._clock()
            if wait > 0:
                self._sleep(wait)  # 253/252 only: staggered address replies
            self.line.write(reply.data)
        return len(replies)

    def answer(self, chunk: bytes, now: float) -> list[Reply]:
        """Feed bytes from the bus to the device (under the lock); return its replies.

        Also logs what the host did.  No I/O: :meth:`step` does that.
        """
        with self.lock:
            replies = self.device.receive(chunk, now)
            self._note_events()
        return replies

    def _note_events(self) -> None:
        """Log what the host did (device lock held)."""
        for event in self.device.drain_events():
            if isinstance(event, CreditBufferRead) and event.counter == 0:
                held = self.device.held_events
                log.info(
                    "host read the event counter at 0 (power-up state)%s",
                    f"; {held} event(s) wait for its next reads" if held else "",
                )
            elif isinstance(event, ResetRequested):
                self.resets += 1
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
