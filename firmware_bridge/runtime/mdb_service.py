"""The MDB side of the runtime: answer the vending machine's controller, promptly.

The counterpart of :mod:`.cctalk_service` for a vending machine: one thread
reads the VMC's words, lets the :class:`~firmware_bridge.mdb.changer.CoinChanger`
answer under the device lock (a fraction of a millisecond), and writes each
reply unless it is already past its deadline (:meth:`Reply.late`, the 5 ms
response time after the command's last word): by then the VMC has given up
and may be talking to another peripheral, and nothing is lost, since POLL
data the VMC did not acknowledge is sent again on the next POLL.

The coin loop never holds the lock while the engine decides, so a reply
waits at most for the loop's short critical sections.  The thread also logs
what the VMC did (reset, coin enables, dispense requests, acknowledged
reports): every rule is the changer's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from firmware_bridge.mdb.changer import (
    CoinChanger,
    CommandReceived,
    DispenseRequested,
    EnablesChanged,
    Reply,
    Reported,
    ResetDone,
    poll_items,
)
from firmware_bridge.mdb.messages import Command, Expansion
from firmware_bridge.runtime.bus_service import BusService
from firmware_bridge.transport.mdb_serial import ManagedWordLine

__all__ = ["MdbService"]

log = logging.getLogger("firmware_bridge.mdb")


class MdbService(BusService):
    """Serves a coin changer on an MDB line in a thread of its own (:class:`.BusService`).

    Parameters
    ----------
    line : ManagedWordLine
        The MDB line (opened, reconnecting).
    changer : CoinChanger
    lock : threading.Lock
        The device lock, shared with the money path.
    clock : callable
        Monotonic seconds (the changer's ``now``).

    Attributes
    ----------
    replies, late : int
        Replies written, and replies dropped because they were past their deadline.
    resets : int
        RESETs from the VMC.
    """

    def __init__(
        self,
        line: ManagedWordLine,
        changer: CoinChanger,
        lock: threading.Lock,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            lock, clock=clock, sleep=sleep, thread_name="mdb", label="MDB service", log=log
        )
        self.line = line
        self.changer = changer
        self.replies = 0
        self.late = 0

    def step(self) -> int:
        """Read once (at most the port's read timeout), answer, write; replies written."""
        words = self.line.read_words(self._clock())
        # Fed even when empty: a block cut short expires only as time passes.
        replies = self.answer(words, self._clock())
        written = 0
        for reply in replies:
            if reply.late(self._clock()):
                # The VMC has moved on; writing now could collide with its next
                # command.  Unacknowledged POLL data goes out on the next POLL.
                self.late += 1
                log.debug("MDB reply to %s dropped: past its deadline", _command_name(reply))
                continue
            if self.line.write_words(reply.words):
                written += 1
        self.replies += written
        return written

    def answer(self, words: list[int], now: float) -> list[Reply]:
        """Feed words to the changer (under the lock); return its replies.  No I/O."""
        with self.lock:
            replies = self.changer.receive_words(words, now)
            self._note_events()
        return replies

    def _note_events(self) -> None:
        """Log what the VMC did (device lock held)."""
        for event in self.changer.drain_events():
            if isinstance(event, ResetDone):
                if event.by_vmc:
                    self.resets += 1
                    log.warning(
                        "VMC reset the changer (RESET): every coin type disabled until it "
                        "reads SETUP and enables them (COIN TYPE)"
                    )
                else:
                    log.warning(
                        "coin values changed: the changer reset itself, so the VMC reads "
                        "SETUP and enables coins again"
                    )
            elif isinstance(event, EnablesChanged):
                enabled = [t for t in range(16) if event.coins >> t & 1]
                log.info(
                    "VMC coin enables 0x%04x (COIN TYPE): coin types enabled %s",
                    event.coins,
                    ", ".join(map(str, enabled)) or "none",
                )
            elif isinstance(event, DispenseRequested):
                log.warning(
                    "VMC asked to dispense %d coin(s) of type %d (DISPENSE): this changer "
                    "has no tubes, nothing paid",
                    event.count,
                    event.coin_type,
                )
            elif isinstance(event, Reported):
                log.info("VMC acknowledged: %s", ", ".join(poll_items(event.item)) or "-")
            elif isinstance(event, CommandReceived):
                self._note_command(event)

    def _note_command(self, event: CommandReceived) -> None:
        if event.command == Command.SETUP:
            log.info("VMC read SETUP")
        elif event.command == Command.EXPANSION and event.data[:1] == bytes(
            (Expansion.IDENTIFICATION,)
        ):
            log.info("VMC read the changer's identification (EXPANSION 00H)")


def _command_name(reply: Reply) -> str:
    if reply.command is None:
        return "a RET"
    try:
        return Command(reply.command).name
    except ValueError:
        return f"command {reply.command:02X}H"
