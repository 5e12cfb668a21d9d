"""A virtual vending machine controller: the MDB master that polls our coin changer.

:class:`VirtualVmc` runs :class:`~firmware_bridge.mdb.vmc.VendingController`
(written from the spec's side: RESET, POLL until "changer was reset", SETUP,
EXPANSION IDENTIFICATION and FEATURE ENABLE, TUBE STATUS, COIN TYPE, then
POLL) over a line carrying two-byte words, and logs the credit it would give
for each deposited coin.  It survives a changer that stops answering: after
the non-response time it starts again with RESET.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from firmware_bridge.mdb.changer import poll_items
from firmware_bridge.mdb.framing import DataResponse, PeripheralResponse, ResponseParser
from firmware_bridge.mdb.messages import PollItem
from firmware_bridge.mdb.vmc import Credit, VendingController
from firmware_bridge.mdb.words import RET
from firmware_bridge.transport.mdb_serial import WordPort

__all__ = ["VirtualVmc"]

log = logging.getLogger("sim.vmc")

#: How long the virtual VMC waits for an answer.  The spec's 5 ms is for a
#: real bus; a pseudo-terminal and two threads need more.
_ANSWER_WAIT_S = 0.05


def _pounds(pence: int) -> str:
    return f"£{pence // 100}.{pence % 100:02d}"


class VirtualVmc:
    """A VMC on ``port``, one command every ``poll_interval_s``.

    Parameters
    ----------
    port : WordPort
    poll_interval_s : float
        Time between two commands.
    enable_mask : int or None
        Coin types it enables (bit n = type n); None: every type SETUP values.
    on_credit : callable, optional
        Called with each coin credited (default: logged); an attribute too,
        for whoever opened the VMC behind a URL.
    on_item : callable, optional
        Called with every POLL item accepted (deposits, statuses, slugs), in order.
    clock : callable

    Attributes
    ----------
    controller : VendingController
        Its state: setup, identity, credits, items.
    """

    def __init__(
        self,
        port: WordPort,
        *,
        poll_interval_s: float = 0.1,
        enable_mask: int | None = None,
        on_credit: Callable[[Credit], None] | None = None,
        on_item: Callable[[PollItem], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.controller = VendingController(enable_mask=enable_mask)
        self.on_credit = on_credit
        self.on_item = on_item
        self._parser = ResponseParser()
        self._credits_logged = 0
        self._items_seen = 0

    def _answer(self) -> PeripheralResponse | None:
        deadline = self.clock() + _ANSWER_WAIT_S
        while self.clock() < deadline:
            answers = self._parser.feed(self.port.read_words(self.clock()))
            if answers:
                return answers[0]
        return None

    def step(self) -> None:
        """One command, its answer, the handshake (and RET rounds)."""
        controller = self.controller
        self._parser.reset()
        self.port.write_words(controller.request(self.clock()))
        for _ in range(3):
            answer = self._answer()
            if isinstance(answer, DataResponse) and controller.phase == "poll":
                log.debug("POLL: %s", ", ".join(poll_items(answer.data)) or "-")
            handshake = controller.response(answer, self.clock())
            if not handshake:
                break
            self._parser.reset()
            self.port.write_words(handshake)
            if handshake != (RET,):
                break
        self._log_credits()

    def _log_credits(self) -> None:
        items = self.controller.items
        if self.on_item is not None:
            for item in items[self._items_seen :]:
                self.on_item(item)
        self._items_seen = len(items)
        for credit in self.controller.credits[self._credits_logged :]:
            if self.on_credit is not None:
                self.on_credit(credit)
            else:
                log.info(
                    "VMC credit: coin type %d, %s (total %s)",
                    credit.coin_type,
                    _pounds(credit.value),
                    _pounds(credit.total),
                )
        self._credits_logged = len(self.controller.credits)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            self.step()
            stop.wait(self.poll_interval_s)
