"""Sans-I/O MDB coin changer (level 3): the state machine a vending machine's VMC polls.

Like the ccTalk device, it is a protocol object: words in
(:meth:`CoinChanger.receive_words`, with ``now``), replies out as values
(:class:`Reply`, with the deadline by which they must be on the wire), and
what the runtime cares about as frozen-dataclass events
(:meth:`CoinChanger.next_event`).  It owns no port, thread or clock.

Commands are routed through a table, command byte -> handler.

Design decisions:

* **The money rule.**  A coin is reported as deposited only through
  :meth:`CoinChanger.push_deposit`, which the money path calls once per coin
  that the engine accepted, :meth:`CoinChanger.is_accepting` allowed at
  decision time (the VMC enabled its coin type, read SETUP since the last
  reset, and POLLed within :data:`~.timing.T_NON_RESPONSE_S`) and the credit
  sensor confirmed.  Every other coin is returned and produces no deposit.
* **Exactly once.**  POLL data stays *unacknowledged* until the VMC's ACK: a
  NAK, a missing handshake (the VMC moved on) or a reply never written keep
  it, and the next POLL sends the very same bytes again; RET sends them again
  at once.  Only an ACK retires it (:class:`Reported` events), so a report is
  never dropped.  An ACK is honoured even if it comes after the 5 ms
  response time, as long as it is the first word after our block: it can only
  acknowledge our reply, and ignoring it would make the VMC credit the same
  coin twice.  The one case MDB cannot cover is an ACK lost on the wire: the
  changer then sends the data again (the spec prefers a second report to a
  lost one); ``docs/mdb.md`` says more.
* **Reset.**  RESET (or power-up) disables every coin type, forgets the
  VMC's polling and SETUP read, and puts "changer was reset" first in line
  for the next POLL.  Deposits the VMC has not acknowledged are *kept*
  behind it: a coin taken is reported, reset or not.
* **Silence.**  A command with a bad CHK gets no answer (the VMC retries after
  its response time); a command this changer does not offer (0EH, EXPANSION
  02H-04H and unknown subcommands) gets no answer either.
* **No tubes.**  This is an acceptor that speaks the changer protocol: coin
  type routing is 0 (nothing goes to a tube), deposits go to the cash box,
  TUBE STATUS reports empty tubes, and DISPENSE is acknowledged and reported
  as :class:`DispenseRequested` with nothing paid.
* A profile change (:meth:`CoinChanger.set_coin_values`) that alters any
  coin type's value acts as a reset: the VMC's copy of SETUP is stale, and
  VMCs answer "changer was reset" by reading SETUP and enabling coins again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from firmware_bridge.mdb.framing import CommandBlock, CommandParser, Handshake
from firmware_bridge.mdb.messages import (
    CHANGER_ADDRESS,
    GBP_COUNTRY_CODE,
    MAX_COIN_TYPES,
    MAX_POLL_BYTES,
    ChangerIdentity,
    ChangerSetup,
    ChangerStatus,
    CoinTypeEnables,
    Command,
    DiagnosticStatus,
    Expansion,
    Route,
    decode_poll,
    encode_deposit,
    encode_status,
)
from firmware_bridge.mdb.timing import T_NON_RESPONSE_S, T_RESPONSE_S
from firmware_bridge.mdb.words import ACK, MODE_BIT, NAK, RET, peripheral_block

__all__ = [
    "ChangerEvent",
    "CoinChanger",
    "CommandReceived",
    "DispenseRequested",
    "EnablesChanged",
    "Reply",
    "Reported",
    "ResetDone",
]

#: Status and slug items waiting for a POLL before new ones are dropped; deposits are never dropped.
_MAX_NOTICES = 32
_EVENT_QUEUE_DEPTH = 256
_ACK_WORD = MODE_BIT | ACK
_NAK_WORD = MODE_BIT | NAK


@dataclass(frozen=True, slots=True)
class Reply:
    """Words the changer must write in answer to a command or a RET.

    Attributes
    ----------
    words : tuple of int
        9-bit words (the last one carries the mode bit).
    deadline : float
        Latest ``now`` at which writing may start (the command's arrival plus
        :data:`~.timing.T_RESPONSE_S`).  A transport that is later drops the
        reply: the VMC has given up and may be talking already, and nothing is
        lost (unacknowledged POLL data is sent again on the next POLL).
    command : int or None
        The command byte answered; ``None`` for a retransmission after RET.
    """

    words: tuple[int, ...]
    deadline: float
    command: int | None

    def late(self, now: float) -> bool:
        """Whether ``now`` is past the deadline."""
        return now > self.deadline


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A valid command for the changer (for logs and tests)."""

    now: float
    command: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ResetDone:
    """The changer reset: by the VMC's RESET, or itself (profile change)."""

    now: float | None
    by_vmc: bool


@dataclass(frozen=True, slots=True)
class EnablesChanged:
    """COIN TYPE changed the enables (bit n = coin type n)."""

    coins: int
    dispense: int


@dataclass(frozen=True, slots=True)
class DispenseRequested:
    """DISPENSE asked for coins this changer cannot pay (it has no tubes)."""

    coin_type: int
    count: int


@dataclass(frozen=True, slots=True)
class Reported:
    """The VMC acknowledged a POLL item: its bytes, now retired."""

    item: bytes


ChangerEvent = CommandReceived | ResetDone | EnablesChanged | DispenseRequested | Reported


@dataclass(slots=True)
class ChangerCounters:
    """What the changer has done, for logs and tests."""

    deposits_queued: int = 0
    deposits_reported: int = 0
    notices_dropped: int = 0
    resends: int = 0
    retransmissions: int = 0
    naks: int = 0
    junk_handshakes: int = 0
    unsupported: int = 0
    resets: int = 0


@dataclass(frozen=True, slots=True)
class _Route:
    handler: Callable[[CoinChanger, CommandBlock, float], tuple[int, ...] | None]
    data: bool = field(default=False)  # a data reply (the VMC will ACK / RET / NAK it)


class CoinChanger:
    """MDB level 3 coin changer state machine (sans-I/O).

    Parameters
    ----------
    coin_values : sequence of int or None
        Value of coin type 0, 1, ... in the smallest currency unit (pence),
        ``None`` for an unused type; up to 16.
    identity : ChangerIdentity, optional
        EXPANSION IDENTIFICATION answer.
    country_code : int
        SETUP Z2-Z3 (``0x1826``: GBP).
    decimal_places : int
        SETUP Z5.
    vmc_timeout_s : float
        Coins are accepted only while the VMC POLLed within this time.
    address : int
        Bus address (08H).

    Attributes
    ----------
    counters : ChangerCounters
    last_poll : float or None
        ``now`` of the last valid POLL.
    last_command : float or None
        ``now`` of the last valid command of any kind.
    """

    _routes: dict[int, _Route]

    def __init__(
        self,
        coin_values: Sequence[int | None],
        *,
        identity: ChangerIdentity | None = None,
        country_code: int = GBP_COUNTRY_CODE,
        decimal_places: int = 2,
        vmc_timeout_s: float = T_NON_RESPONSE_S,
        address: int = CHANGER_ADDRESS,
    ) -> None:
        self.identity = identity or ChangerIdentity()
        self.country_code = country_code
        self.decimal_places = decimal_places
        self.vmc_timeout_s = vmc_timeout_s
        self._values = self._check_values(coin_values)
        self._setup = self._make_setup()
        self._parser = CommandParser(address)
        self._events: deque[ChangerEvent] = deque()
        self.events_dropped = 0
        self.counters = ChangerCounters()
        self._queue: deque[bytes] = deque()
        self._unacked: tuple[bytes, ...] | None = None
        self._last_data: tuple[int, ...] | None = None
        self._awaiting_poll_ack = False
        self._enables = CoinTypeEnables()
        self._features = 0
        self._setup_read = False
        self.last_poll: float | None = None
        self.last_command: float | None = None
        self._reset(None, by_vmc=False)

    # ------------------------------------------------------------ read-only state

    @property
    def address(self) -> int:
        """Bus address."""
        return self._parser.address

    @property
    def coin_values(self) -> tuple[int | None, ...]:
        """Value per coin type (index = coin type)."""
        return tuple(self._values)

    @property
    def setup(self) -> ChangerSetup:
        """What SETUP answers now."""
        return self._setup

    @property
    def enables(self) -> CoinTypeEnables:
        """The VMC's last COIN TYPE (all zero after a reset)."""
        return self._enables

    @property
    def features(self) -> int:
        """Optional features the VMC enabled (EXPANSION 01H), within those offered."""
        return self._features

    @property
    def setup_read(self) -> bool:
        """Whether the VMC read SETUP since the last reset."""
        return self._setup_read

    @property
    def unreported(self) -> int:
        """POLL items not yet acknowledged by the VMC (sent or waiting)."""
        return len(self._queue) + len(self._unacked or ())

    @property
    def unreported_deposits(self) -> int:
        """Deposits not yet acknowledged by the VMC."""
        items = list(self._queue) + list(self._unacked or ())
        return sum(1 for item in items if item[0] & 0xC0 == 0x40)

    @property
    def parser_stats(self) -> object:
        """The command parser's counters (bad CHKs, blocks cut short, foreign blocks...)."""
        return self._parser.stats

    def vmc_alive(self, now: float) -> bool:
        """Whether the VMC POLLed within ``vmc_timeout_s``."""
        # A poll stamped slightly after ``now`` (two clocks read in another
        # order) still counts as recent.
        return self.last_poll is not None and now - self.last_poll <= self.vmc_timeout_s

    # ------------------------------------------------------------------- runtime

    def refusal(self, coin_type: int, now: float) -> str | None:
        """Why a coin recognised as ``coin_type`` must be returned now, or ``None`` to accept it."""
        if not 0 <= coin_type < len(self._values) or not self._values[coin_type]:
            return f"coin type {coin_type} is not in this changer's setup"
        if not self.vmc_alive(now):
            return "VMC not polling: coin returned"
        if not self._setup_read:
            return "VMC has not read SETUP since the reset"
        if not self._enables.enabled(coin_type):
            return f"coin type {coin_type} disabled by the VMC (COIN TYPE)"
        return None

    def is_accepting(self, coin_type: int, now: float) -> bool:
        """Whether a coin recognised as ``coin_type`` (0-15) may be accepted now.

        ``True`` only if the type has a value, the VMC enabled it, read SETUP
        since the last reset, and POLLed within ``vmc_timeout_s``.
        """
        return self.refusal(coin_type, now) is None

    def push_deposit(self, coin_type: int, route: Route = Route.CASH_BOX) -> None:
        """Report a coin that was accepted and passed the credit sensor.

        Never refused: the decision was taken with :meth:`is_accepting`, and a
        coin taken must be reported even if the VMC disabled it since.
        """
        if not 0 <= coin_type < MAX_COIN_TYPES:
            raise ValueError(f"coin type must be 0-15, got {coin_type}")
        self._queue.append(encode_deposit(coin_type, route, 0))
        self.counters.deposits_queued += 1

    def push_status(self, code: int) -> None:
        """Report a status (``ChangerStatus``): no credit, coin jam, double arrival..."""
        self._notice(encode_status(code))

    def push_slug(self) -> None:
        """Report one slug (a coin refused as not genuine)."""
        self._notice(bytes((0x21,)))

    def set_coin_values(self, coin_values: Sequence[int | None]) -> bool:
        """Load new coin values (a new profile); whether they changed (then the changer resets)."""
        values = self._check_values(coin_values)
        if values == self._values:
            return False
        self._values = values
        self._setup = self._make_setup()
        self._reset(None, by_vmc=False)
        return True

    def next_event(self) -> ChangerEvent | None:
        """Pop the oldest pending event, or ``None``."""
        return self._events.popleft() if self._events else None

    def drain_events(self) -> list[ChangerEvent]:
        """Pop every pending event, oldest first."""
        events = list(self._events)
        self._events.clear()
        return events

    # ------------------------------------------------------------------ the wire

    def receive_words(self, words: Iterable[int], now: float) -> list[Reply]:
        """Feed words read from the bus; return what to write back.

        Parameters
        ----------
        words : iterable of int
            9-bit words (any chunking; may be empty to let a partial block expire).
        now : float
            Their arrival time in seconds.

        Returns
        -------
        list of Reply
            One per command answered (or RET honoured), in order.
        """
        replies: list[Reply] = []
        for received in self._parser.feed(words, now):
            reply = (
                self._handshake(received.byte, now)
                if isinstance(received, Handshake)
                else self._command(received, now)
            )
            if reply is not None:
                replies.append(reply)
        return replies

    # -------------------------------------------------------------- internals

    @staticmethod
    def _check_values(coin_values: Sequence[int | None]) -> list[int | None]:
        values = list(coin_values)
        if len(values) > MAX_COIN_TYPES:
            raise ValueError(f"at most {MAX_COIN_TYPES} coin types, got {len(values)}")
        if any(v is not None and v <= 0 for v in values):
            raise ValueError("coin values are > 0 (None for an unused type)")
        return values

    def _make_setup(self) -> ChangerSetup:
        return ChangerSetup.for_values(
            self._values, country_code=self.country_code, decimal_places=self.decimal_places
        )

    def _emit(self, event: ChangerEvent) -> None:
        if len(self._events) >= _EVENT_QUEUE_DEPTH:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(event)

    def _notice(self, item: bytes) -> None:
        notices = sum(1 for queued in self._queue if queued[0] & 0xC0 != 0x40)
        if notices >= _MAX_NOTICES:
            self.counters.notices_dropped += 1  # a silent VMC must not grow the queue forever
            return
        self._queue.append(item)

    def _reset(self, now: float | None, *, by_vmc: bool) -> None:
        # Unacknowledged data goes back in line: the VMC may never have seen it.
        if self._unacked is not None:
            self._queue.extendleft(reversed(self._unacked))
            self._unacked = None
        just_reset = encode_status(ChangerStatus.JUST_RESET)
        self._queue = deque(item for item in self._queue if item != just_reset)
        self._queue.appendleft(just_reset)
        self._last_data = None
        self._awaiting_poll_ack = False
        self._enables = CoinTypeEnables()
        self._features = 0
        self._setup_read = False
        self.last_poll = None
        self.counters.resets += 1
        self._emit(ResetDone(now, by_vmc))

    def _command(self, block: CommandBlock, now: float) -> Reply | None:
        # A new command means the VMC is done with our last reply: a RET can
        # no longer ask for it, and POLL data not ACKed stays unacknowledged.
        self._last_data = None
        self._awaiting_poll_ack = False
        route = self._routes.get(block.command)
        if route is None:  # pragma: no cover - the parser frames only routed commands
            return None
        self.last_command = now
        self._emit(CommandReceived(now, block.command, block.data))
        words = route.handler(self, block, now)
        if words is None:
            return None
        if len(words) > 1:
            self._last_data = words
        return Reply(words, now + T_RESPONSE_S, block.command)

    def _handshake(self, byte: int, now: float) -> Reply | None:
        if byte == ACK:
            if self._awaiting_poll_ack and self._unacked is not None:
                for item in self._unacked:
                    if item[0] & 0xC0 == 0x40:
                        self.counters.deposits_reported += 1
                    self._emit(Reported(item))
                self._unacked = None
            self._awaiting_poll_ack = False
            self._last_data = None
            return None
        if byte == RET and self._last_data is not None:
            self.counters.retransmissions += 1
            return Reply(self._last_data, now + T_RESPONSE_S, None)
        if byte == NAK:
            self.counters.naks += 1
        else:
            self.counters.junk_handshakes += 1
        # Not acknowledged: POLL data stays for the next POLL.
        self._awaiting_poll_ack = False
        self._last_data = None
        return None

    # ---------------------------------------------------------------- handlers

    def _reset_cmd(self, block: CommandBlock, now: float) -> tuple[int, ...]:
        self._reset(now, by_vmc=True)
        return (_ACK_WORD,)

    def _setup_cmd(self, block: CommandBlock, now: float) -> tuple[int, ...]:
        self._setup_read = True
        return peripheral_block(self._setup.to_bytes())

    def _tube_status(self, block: CommandBlock, now: float) -> tuple[int, ...]:
        # No tubes: none full, every count 0.
        return peripheral_block(bytes(2 + MAX_COIN_TYPES))

    def _poll(self, block: CommandBlock, now: float) -> tuple[int, ...]:
        self.last_poll = now
        if self._unacked is None:
            items: list[bytes] = []
            size = 0
            while self._queue and size + len(self._queue[0]) <= MAX_POLL_BYTES:
                item = self._queue.popleft()
                items.append(item)
                size += len(item)
            if not items:
                return (_ACK_WORD,)
            self._unacked = tuple(items)
        else:
            self.counters.resends += 1  # the same bytes again until the VMC ACKs them
        self._awaiting_poll_ack = True
        return peripheral_block(b"".join(self._unacked))

    def _coin_type(self, block: CommandBlock, now: float) -> tuple[int, ...]:
        enables = CoinTypeEnables.from_bytes(block.data)
        if enables != self._enables:
            self._enables = enables
            self._emit(EnablesChanged(enables.coins, enables.dispense))
        return (_ACK_WORD,)

    def _dispense(self, block: CommandBlock, now: float) -> tuple[int, ...]:
        y1 = block.data[0]
        self._emit(DispenseRequested(coin_type=y1 & 0x0F, count=y1 >> 4))
        return (_ACK_WORD,)

    def _expansion(self, block: CommandBlock, now: float) -> tuple[int, ...] | None:
        sub = block.data[0]
        if sub == Expansion.IDENTIFICATION:
            return peripheral_block(self.identity.to_bytes())
        if sub == Expansion.FEATURE_ENABLE:
            self._features = int.from_bytes(block.data[1:5], "big") & self.identity.features
            return (_ACK_WORD,)
        if sub == Expansion.SEND_DIAGNOSTIC_STATUS:
            ok = self.vmc_alive(now) and self._enables.coins != 0
            code = DiagnosticStatus.OK if ok else DiagnosticStatus.INHIBITED_BY_VMC
            return peripheral_block(bytes((code, 0x00)))
        self.counters.unsupported += 1  # alternative payout: not offered in the features
        return None


def poll_items(data: bytes) -> list[str]:
    """POLL data in words, for logs: ``["deposited type 2 to cash box", ...]``."""
    out = []
    for item in decode_poll(data):
        if item.kind == "deposited":
            assert item.route is not None
            out.append(f"deposited type {item.coin_type} to {item.route.name.lower()}")
        elif item.kind == "status":
            assert item.status is not None
            out.append(ChangerStatus(item.status).name.lower().replace("_", " "))
        else:
            out.append(item.kind)
    return out


_C = CoinChanger
CoinChanger._routes = {
    Command.RESET: _Route(_C._reset_cmd),
    Command.SETUP: _Route(_C._setup_cmd, data=True),
    Command.TUBE_STATUS: _Route(_C._tube_status, data=True),
    Command.POLL: _Route(_C._poll, data=True),
    Command.COIN_TYPE: _Route(_C._coin_type),
    Command.DISPENSE: _Route(_C._dispense),
    Command.EXPANSION: _Route(_C._expansion, data=True),
}
del _C
