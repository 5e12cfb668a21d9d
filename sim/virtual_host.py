"""A virtual parking machine: the ccTalk host that talks to our coin acceptor.

:class:`VirtualHost` does what a parking machine's controller does with a coin
acceptor at address 2:

1. waits for the acceptor to answer a simple poll (254);
2. reads each position's coin id (184) and enables every position that holds
   a coin (231, two-byte mask) and normal operation (228);
3. polls the credit buffer (229) every ~200 ms, with the counter arithmetic
   of :class:`~firmware_bridge.cctalk.host.CreditPoller` (mod 255, wraps to 1,
   0 means the acceptor reset and must be enabled again, 6 or more new events
   means some were lost);
4. reports each credit (coin id, value from the catalogue) or error code (with
   its meaning) and keeps a running total in pounds.

It survives an acceptor that stops answering (it keeps trying, and enables it
again when it comes back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from coinval.catalogue import coins as catalogue_coins
from firmware_bridge.cctalk.credit_buffer import BufferedEvent, CreditEvent, ErrorEvent
from firmware_bridge.cctalk.headers import describe_error
from firmware_bridge.cctalk.host import CcTalkError
from firmware_bridge.cctalk.messages import MAX_POSITIONS
from firmware_bridge.transport.cctalk_serial import CcTalkClient

__all__ = ["HostEvent", "VirtualHost", "value_of"]

log = logging.getLogger("sim.virtual_host")

EMPTY = "......"


def value_of(cctalk_id: str) -> int:
    """Value in pence of a ccTalk coin id (``GB200A`` -> 200), 0 if unknown."""
    for spec in catalogue_coins().values():
        if spec.cctalk_id == cctalk_id:
            return spec.value_pence or 0
    return 0


def pounds(pence: int) -> str:
    """``1230`` -> ``"£12.30"``."""
    return f"£{pence // 100}.{pence % 100:02d}"


@dataclass(frozen=True, slots=True)
class HostEvent:
    """One event the host read from the credit buffer.

    Attributes
    ----------
    event : BufferedEvent
        The credit or error.
    coin_id : str or None
        For a credit, the position's ccTalk coin id.
    value_pence : int
        For a credit, its value.
    total_pence : int
        Running total after it.
    marker : bool
        The acceptor's power-up marker (the ``[0][2]`` event that moves the
        counter off 0 after a reset), not a coin.
    """

    event: BufferedEvent
    coin_id: str | None
    value_pence: int
    total_pence: int
    marker: bool = False

    def describe(self) -> str:
        """A display line."""
        e = self.event
        if isinstance(e, CreditEvent):
            return (
                f"credit  {self.coin_id} {pounds(self.value_pence)} "
                f"(position {e.position}, path {e.sorter_path})  total {pounds(self.total_pence)}"
            )
        if self.marker:
            return "acceptor ready (power-up marker event)"
        name = describe_error(e.code).lower().replace("_", " ")
        return f"error {e.code:>3} {name}  total {pounds(self.total_pence)}"


class VirtualHost:
    """A parking machine's controller on a ccTalk line.

    Parameters
    ----------
    client : CcTalkClient
        The bus (an open port).
    poll_interval_s : float
        Time between 229 polls.
    on_event : callable, optional
        Called with each new event (default: logged); an attribute too:
        whoever opened the machine behind a URL sets it.
    clock, sleep : callable
    """

    def __init__(
        self,
        client: CcTalkClient,
        *,
        poll_interval_s: float = 0.2,
        on_event: Callable[[HostEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.poll_interval_s = poll_interval_s
        self.on_event = on_event
        self._clock = clock
        self._sleep = sleep
        self.coin_ids: dict[int, str] = {}
        self.events: list[HostEvent] = []
        self.total_pence = 0
        self.lost_events = 0
        self.resets_seen = 0
        self._enabled = False
        self._silent = False
        self._after_reset = False

    # ------------------------------------------------------------- set-up

    def enable(self) -> None:
        """Read the coin ids and enable every position that holds a coin, then master on.

        Raises
        ------
        CcTalkError
            The acceptor did not answer (or refused).
        """
        self.client.simple_poll()
        self.coin_ids = {}
        for position in range(1, MAX_POSITIONS + 1):
            coin_id = self.client.request_coin_id(position)
            if coin_id != EMPTY:
                self.coin_ids[position] = coin_id
        mask = 0
        for position in self.coin_ids:
            mask |= 1 << (position - 1)
        self.client.set_inhibits(mask)
        self.client.set_master_inhibit(False)
        self._enabled = True
        log.info(
            "acceptor enabled: %s",
            ", ".join(f"{p}={c}" for p, c in sorted(self.coin_ids.items())) or "no coins",
        )

    # ------------------------------------------------------------- polling

    def poll_once(self) -> list[HostEvent]:
        """One 229 read; enables the acceptor first if needed (or after a reset).

        Returns
        -------
        list of HostEvent
            New events, oldest first.
        """
        result = self.client.poll_credits()
        if result.device_reset:
            if self.client.poller.resets:
                self.resets_seen += 1
                log.warning("acceptor reset (event counter 0): enabling it again")
            self._after_reset = True
            self.enable()
            return []
        if not self._enabled:
            self.enable()  # we (re)started while the acceptor kept running
        if result.lost:
            self.lost_events += result.lost
            log.error("%d event(s) lost: the host polled too slowly", result.lost)
        new = [self._account(event) for event in result.events]
        if new and self._after_reset and new[0].event == ErrorEvent(2):
            new[0] = HostEvent(new[0].event, None, 0, self.total_pence, marker=True)
        self._after_reset = self._after_reset and not new
        for item in new:
            self.events.append(item)
            if self.on_event is not None:
                self.on_event(item)
            else:
                log.info("%s", item.describe())
        return new

    def _account(self, event: BufferedEvent) -> HostEvent:
        if isinstance(event, CreditEvent):
            coin_id = self.coin_ids.get(event.position, "?")
            value = value_of(coin_id)
            self.total_pence += value
            return HostEvent(event, coin_id, value, self.total_pence)
        return HostEvent(event, None, 0, self.total_pence)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; an acceptor that goes quiet is retried."""
        next_poll = self._clock()
        while not stop.is_set():
            try:
                self.poll_once()
                if self._silent:
                    self._silent = False
                    log.warning("acceptor answering again")
            except CcTalkError as exc:
                if not self._silent:
                    self._silent = True
                    log.warning("acceptor not answering (%s); retrying", exc)
                self._enabled = False  # it may have restarted: enable again
            next_poll += self.poll_interval_s
            wait = next_poll - self._clock()
            if wait > 0:
                stop.wait(wait)
            else:
                next_poll = self._clock()

    # ------------------------------------------------------------- results

    @property
    def credits(self) -> list[CreditEvent]:
        """Every credit read, in order."""
        return [e.event for e in self.events if isinstance(e.event, CreditEvent)]

    @property
    def errors(self) -> list[ErrorEvent]:
        """Every error event read, in order (power-up markers left out)."""
        return [e.event for e in self.events if isinstance(e.event, ErrorEvent) and not e.marker]

    @property
    def coin_events(self) -> list[BufferedEvent]:
        """One event per coin, in order: credits and errors, power-up markers left out."""
        return [e.event for e in self.events if not e.marker]
