"""Sans-I/O ccTalk coin acceptor: the state machine the parking machine's host talks to.

The device is a protocol object in the spirit of h11: bytes in
(:meth:`CoinAcceptorDevice.receive`), replies out as values (:class:`Reply`, with
the delay the protocol asks for instead of a ``sleep``), and state changes the
runtime cares about as frozen-dataclass events (:meth:`~CoinAcceptorDevice.next_event`).
It owns no port, thread or clock: every call that depends on time takes ``now``
(seconds, monotonic clock of the caller's choice).

Requests are routed through a table, header -> handler, like h11's state table.

Design decisions:

* The header set is the generic specification's minimum coin acceptor
  (part 3, appendix 13) with its sorter, date and auditing additions, plus
  what hosts ask at start-up (212 coin position, 243 database version, 247
  variable set); ``docs/cctalk.md`` lists each reply.  Where the acceptor has
  no such thing (no data storage, no input or output lines, no sorter
  override, no remote programming) the reply is the specification's "none".
* Unknown headers get **silence** by default (``unknown_header="silence"``), the
  behaviour ``cctalk.md`` names first; ``"nak"`` is available.  Known headers
  with a malformed payload (wrong length, position out of range, a one-byte
  inhibit mask) get **NAK**, so a host bug is visible rather than looking like a
  lost frame that is retried forever.
* Broadcast (address 0) frames are answered only for 253 (address poll), whose
  reply is staggered by address; any other broadcast would make every device on
  the bus answer at once, so it is ignored.
* The 229 rules (counter, five-event window, power-up dummy event, what
  counts as read, a sixth unread event) are
  :class:`~firmware_bridge.cctalk.credit_buffer.CreditBuffer`'s.  The device
  serves its replies and says what it served: :class:`CreditBufferRead`
  carries the counter of each 229 reply, so nobody decodes a reply again.
* ``overflow="overwrite"`` (the protocol, the default): more than 5 events
  between two 229 reads push the oldest out, counted in
  ``overwritten_unread`` and reported as :class:`EventOverwritten`.
  ``overflow="hold"`` (the engine's runtime): they wait until the host has
  read, so nothing it has not read is ever dropped.
* "Host polling" for :meth:`~CoinAcceptorDevice.is_accepting` means *reading the
  credit buffer* (229) within ``host_timeout_s``: a host that only simple-polls
  is alive but cannot be reading credits, and credits it cannot read must not be
  taken.  Any valid request updates ``last_host_activity``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from firmware_bridge.cctalk.credit_buffer import (
    BufferedEvent,
    CreditBuffer,
    CreditEvent,
    ErrorEvent,
    Overflow,
)
from firmware_bridge.cctalk.device_types import (
    AddressChanged,
    CoinCounters,
    CoinIdChanged,
    CreditBufferRead,
    DeviceEvent,
    DeviceIdentity,
    EventOverwritten,
    InhibitsChanged,
    MasterInhibitChanged,
    Polled,
    Reply,
    ResetRequested,
    SorterPathChanged,
)
from firmware_bridge.cctalk.frame import ChecksumMode, Frame, FrameParser, encode_frame
from firmware_bridge.cctalk.headers import (
    FRAUD_ERRORS,
    NON_COIN_ERRORS,
    Address,
    Header,
)
from firmware_bridge.cctalk.messages import (
    EMPTY_COIN_ID,
    MAX_POSITIONS,
    encode_date_code,
    encode_inhibit_mask,
    encode_u24,
    is_valid_coin_id,
    normalise_coin_ids,
)

__all__ = [
    "AddressChanged",
    "CoinAcceptorDevice",
    "CoinCounters",
    "CoinIdChanged",
    "CreditBufferRead",
    "DeviceEvent",
    "DeviceIdentity",
    "EventOverwritten",
    "InhibitsChanged",
    "MasterInhibitChanged",
    "Polled",
    "Reply",
    "ResetRequested",
    "SorterPathChanged",
]

UnknownHeaderPolicy = Literal["silence", "nak"]

#: Seconds without a 229 read after which coins are returned, not credited.
DEFAULT_HOST_TIMEOUT_S = 1.0
#: Informational events kept for the runtime before the oldest are dropped.
_EVENT_QUEUE_DEPTH = 256
#: ccTalk staggers address-poll replies by 4 ms per address unit.
_ADDRESS_DELAY_S = 0.004
#: Reply headers: a device never answers them, whatever the unknown-header policy.
_REPLY_HEADERS = frozenset({Header.ACK, Header.NAK, Header.BUSY})
#: Header 169: the address is held in RAM (B1) and may be changed by serial
#: commands, volatile (B6): 251/250 move it until the process restarts.
_ADDRESS_MODE = 0b0100_0010
#: Header 216: memory type 0, no read service (0 bytes per block), no write service.
_NO_DATA_STORAGE = bytes(5)
#: Headers 221/222: one bit per sorter path, 1 = no override (normal sorting).
_NO_SORTER_OVERRIDE = 0xFF
#: Sorter paths a coin acceptor may name (210, 189); 0 = none.
_MAX_SORTER_PATH = 8


# Handler results (internal): ACK with data, NAK, a raw byte after a delay, or silence.
@dataclass(frozen=True, slots=True)
class _Ack:
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class _Nak:
    pass


@dataclass(frozen=True, slots=True)
class _Raw:
    data: bytes
    delay_s: float


_Answer = _Ack | _Nak | _Raw | None
_Handler = Callable[["CoinAcceptorDevice", Frame, float], _Answer]


@dataclass(frozen=True, slots=True)
class _Route:
    handler: _Handler
    data_len: int  # shortest request payload; anything outside data_len..max_len is NAKed
    max_len: int


# ------------------------------------------------------------------------- device


class CoinAcceptorDevice:
    """ccTalk coin acceptor state machine (sans-I/O).

    Parameters
    ----------
    coin_ids : sequence of str or None
        Position 1 first, up to 16 entries: the 6-character ccTalk coin id
        (``"GB100B"``) or ``None`` / ``"......"`` for an unused position.
    address : int
        Bus address, 2 for a coin acceptor (2-255 allowed).
    identity : DeviceIdentity, optional
        Identification strings and numbers.
    checksum : {"simple", "crc16"}
        Integrity mode of the bus.
    host_timeout_s : float
        Coins are accepted only if the host read the credit buffer (229) within
        this many seconds.
    unknown_header : {"silence", "nak"}
        Answer to headers not in the table.
    power_up_dummy_event : bool
        Push the dummy ``[0][2]`` event after the counter has been read at 0.
    overflow : {"overwrite", "hold"}
        A sixth event before the host's next 229 read: pushes the oldest unread
        out (the protocol), or waits until the host has read (nothing lost).
    sorter_paths : sequence of int, optional
        Default sorter path per position (0 = none), up to 16 entries.
    rng : random.Random, optional
        Randomness for 252 and 250 (seed it in tests).

    Attributes
    ----------
    counters : CoinCounters
        Insertion / accept / reject / fraud counters.
    status : int
        Header 248 answer (0 ok, 1 coin return open, 2 coin on string); the
        runtime sets it.
    opto_states : int
        Header 236 answer, bit set = opto blocked; the runtime sets it.
    fault_code, fault_extra : int, int or None
        Header 232 answer (0 = ok); the runtime sets them.
    last_host_activity : float or None
        ``now`` of the last valid request addressed to this device.
    last_credit_poll : float or None
        ``now`` of the last 229 read.
    echoes_ignored, foreign_frames, unknown_requests : int
        Valid frames ignored because they were our own echo, not for us, or had
        an unknown header.
    events_dropped : int
        Informational events dropped because the runtime did not drain the queue.
    """

    _routes: dict[int, _Route]

    def __init__(
        self,
        coin_ids: Sequence[str | None],
        *,
        address: int = Address.COIN_ACCEPTOR,
        identity: DeviceIdentity | None = None,
        checksum: ChecksumMode = "simple",
        host_timeout_s: float = DEFAULT_HOST_TIMEOUT_S,
        unknown_header: UnknownHeaderPolicy = "silence",
        power_up_dummy_event: bool = True,
        overflow: Overflow = "overwrite",
        sorter_paths: Sequence[int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 2 <= address <= 255:
            raise ValueError(f"device address must be 2-255, got {address}")
        if unknown_header not in ("silence", "nak"):
            raise ValueError(f"unknown_header must be 'silence' or 'nak', got {unknown_header!r}")
        self._address = int(address)
        self.identity = identity or DeviceIdentity()
        self.checksum: ChecksumMode = checksum
        self.host_timeout_s = host_timeout_s
        self.unknown_header: UnknownHeaderPolicy = unknown_header
        self._rng = rng or random.Random()
        self._coin_ids = normalise_coin_ids(coin_ids)
        paths = list(sorter_paths or [])
        if len(paths) > MAX_POSITIONS or not all(0 <= p <= 255 for p in paths):
            raise ValueError("sorter_paths: at most 16 values 0-255")
        self._sorter_paths = paths + [0] * (MAX_POSITIONS - len(paths))
        self._default_sorter_path = 0
        self._parser = FrameParser(checksum)
        self._buffer = CreditBuffer(overflow=overflow, power_up_dummy_event=power_up_dummy_event)
        self._events: deque[DeviceEvent] = deque()
        self.counters = CoinCounters()
        self.status = 0
        self.opto_states = 0
        self.fault_code = 0
        self.fault_extra: int | None = None
        self.echoes_ignored = 0
        self.foreign_frames = 0
        self.unknown_requests = 0
        self.events_dropped = 0
        self.last_host_activity: float | None = None
        self._inhibit_mask = 0
        self._master_inhibit = True
        self.last_credit_poll: float | None = None
        self._power_up()

    # ------------------------------------------------------------ read-only state

    @property
    def address(self) -> int:
        """Current bus address (headers 251/250 change it)."""
        return self._address

    @property
    def inhibit_mask(self) -> int:
        """16-bit inhibit mask, bit set = position enabled, bit 0 = position 1."""
        return self._inhibit_mask

    @property
    def master_inhibit(self) -> bool:
        """``True`` while the master inhibit is active (every coin refused)."""
        return self._master_inhibit

    @property
    def coin_ids(self) -> tuple[str | None, ...]:
        """Coin id per position (index 0 = position 1), ``None`` if unused."""
        return tuple(self._coin_ids)

    def set_coin_ids(self, coin_ids: Sequence[str | None]) -> None:
        """Load a new coin id per position, as a new calibration profile does.

        This is the acceptor's own configuration changing (the runtime calls it
        when the operator activates another profile), not a host's header 185;
        positions past ``coin_ids`` become unused.
        """
        self._coin_ids = normalise_coin_ids(coin_ids)

    @property
    def sorter_paths(self) -> tuple[int, ...]:
        """Sorter path per position (index 0 = position 1)."""
        return tuple(self._sorter_paths)

    @property
    def default_sorter_path(self) -> int:
        """Header 188/189's default sorter path (0 = none)."""
        return self._default_sorter_path

    @property
    def event_counter(self) -> int:
        """The 229 event counter."""
        return self._buffer.counter

    @property
    def overwritten_unread(self) -> int:
        """Events pushed out of the 229 buffer before the host read them (``"overwrite"``)."""
        return self._buffer.overwritten_unread

    @property
    def overflow(self) -> Overflow:
        """What a sixth unread event does: ``"overwrite"`` the oldest, or ``"hold"`` itself."""
        return self._buffer.overflow

    @property
    def held_events(self) -> int:
        """Events waiting for the host to read the ones before them (``"hold"``)."""
        return self._buffer.held

    @property
    def most_held_events(self) -> int:
        """Most events ever held at once (``"hold"``; 0: the host always had room)."""
        return self._buffer.most_held

    @property
    def host_has_every_event(self) -> bool:
        """Whether every event reported has been served to the host in a 229 reply."""
        return self._buffer.settled

    @property
    def comms_stats(self) -> tuple[int, int, int]:
        """Header 2's answer: (rx timeouts, bytes ignored, bad checksums), saturated at 255."""
        stats = self._parser.stats
        return (
            min(stats.rx_timeouts, 255),
            min(stats.bytes_ignored, 255),
            min(stats.bad_checksums, 255),
        )

    # ------------------------------------------------------------------- runtime

    def is_accepting(self, position: int, now: float) -> bool:
        """Whether a coin recognised as ``position`` may be accepted now.

        Parameters
        ----------
        position : int
            Coin position 1-16.
        now : float
            Current time in seconds.

        Returns
        -------
        bool
            ``True`` only if the position holds a coin, is enabled in the inhibit
            mask, the master inhibit is off, and the host read the credit buffer
            within ``host_timeout_s``.  Otherwise the coin must be returned.
        """
        if not 1 <= position <= MAX_POSITIONS or self._coin_ids[position - 1] is None:
            return False
        if self._master_inhibit or not self._inhibit_mask >> (position - 1) & 1:
            return False
        if self.last_credit_poll is None:
            return False
        # A poll stamped slightly after ``now`` (two clocks read in a different
        # order) still counts as recent.
        return now - self.last_credit_poll <= self.host_timeout_s

    def push_credit(self, position: int, sorter_path: int | None = None) -> None:
        """Report an accepted coin that passed the credit sensor.

        The runtime calls this once per credited coin.  It is never refused: the
        acceptance decision was taken earlier (with :meth:`is_accepting`), and a
        coin that has been taken must be credited even if the host inhibited it
        since.

        Parameters
        ----------
        position : int
            Coin position 1-16.
        sorter_path : int, optional
            Sorter path reported in B; default: the position's configured path.
        """
        if not 1 <= position <= MAX_POSITIONS:
            raise ValueError(f"coin position must be 1-{MAX_POSITIONS}, got {position}")
        path = self._sorter_paths[position - 1] if sorter_path is None else sorter_path
        self._push(CreditEvent(position, path))
        self.counters.insertion += 1
        self.counters.accept += 1

    def push_error(self, code: int, *, coin: bool | None = None) -> None:
        """Report an error event (a rejected coin, a fraud attempt, an alarm).

        Parameters
        ----------
        code : int
            Error code 0-255 (:class:`~firmware_bridge.cctalk.headers.AcceptorError`).
        coin : bool, optional
            Whether the event is about an inserted coin (counted as inserted and
            rejected).  Default: every code except the mechanism-state ones in
            :data:`~firmware_bridge.cctalk.headers.NON_COIN_ERRORS`.
        """
        self._push(ErrorEvent(code))
        if coin is None:
            coin = code not in NON_COIN_ERRORS
        if coin:
            self.counters.insertion += 1
            self.counters.reject += 1
        if code in FRAUD_ERRORS:
            self.counters.fraud += 1

    def next_event(self) -> DeviceEvent | None:
        """Pop the oldest pending event, or ``None``."""
        return self._events.popleft() if self._events else None

    def drain_events(self) -> list[DeviceEvent]:
        """Pop every pending event, oldest first."""
        events = list(self._events)
        self._events.clear()
        return events

    # ------------------------------------------------------------------ the wire

    def receive(self, data: bytes, now: float) -> list[Reply]:
        """Feed bytes read from the bus; return what to write back.

        Parameters
        ----------
        data : bytes
            Bytes read (any chunking; may be empty to let a partial frame expire).
        now : float
            Arrival time in seconds.

        Returns
        -------
        list of Reply
            One per answered request, in order.  Honour ``delay_s`` (counted from
            the request) before writing ``data``.
        """
        replies = []
        for frame in self._parser.feed(data, now):
            reply = self._handle(frame, now)
            if reply is not None:
                replies.append(reply)
        return replies

    def receive_data(self, data: bytes, now: float) -> bytes:
        """Like :meth:`receive`, but return the reply bytes concatenated.

        Delays are dropped: fine on a bus where this is the only device that
        answers an address poll; otherwise use :meth:`receive`.
        """
        return b"".join(reply.data for reply in self.receive(data, now))

    # -------------------------------------------------------------- internals

    def _power_up(self) -> None:
        self._inhibit_mask = 0
        self._master_inhibit = True
        self._buffer.clear()
        self._parser.stats.clear()
        self.last_credit_poll = None

    def _emit(self, event: DeviceEvent) -> None:
        if len(self._events) >= _EVENT_QUEUE_DEPTH:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(event)

    def _push(self, event: BufferedEvent) -> None:
        lost = self._buffer.push(event)
        if lost is not None:
            self._emit(EventOverwritten(lost=lost, total=self._buffer.overwritten_unread))

    def _handle(self, frame: Frame, now: float) -> Reply | None:
        # On a single wire we hear our own replies; in CRC mode src is implied
        # (host), but then dest is the host, caught by the dest test below.
        if frame.src == self._address and self.checksum == "simple":
            self.echoes_ignored += 1
            return None
        broadcast = frame.dest == Address.BROADCAST
        if frame.dest != self._address and not broadcast:
            self.foreign_frames += 1
            return None
        if broadcast and frame.header != Header.ADDRESS_POLL:
            return None  # every device would answer at once
        route = self._routes.get(frame.header)
        if route is None:
            self.unknown_requests += 1
            if self.unknown_header == "silence" or frame.header in _REPLY_HEADERS:
                return None  # answering a reply addressed to us could ping-pong
            return self._reply(frame, _Nak(), self._address)
        self.last_host_activity = now
        self._emit(Polled(now=now, header=frame.header))
        # The reply goes out from the address the request was sent to, even if
        # the handler changes it (251/250: "ACK from the old address").
        src = self._address
        if not route.data_len <= len(frame.data) <= route.max_len:
            return self._reply(frame, _Nak(), src)
        return self._reply(frame, route.handler(self, frame, now), src)

    def _reply(self, request: Frame, answer: _Answer, src: int) -> Reply | None:
        if answer is None:
            return None
        if isinstance(answer, _Raw):
            return Reply(data=answer.data, delay_s=answer.delay_s, request=request)
        header, data = (Header.NAK, b"") if isinstance(answer, _Nak) else (Header.ACK, answer.data)
        frame = Frame(dest=request.src, src=src, header=header, data=data)
        return Reply(data=encode_frame(frame, self.checksum), delay_s=0.0, request=request)

    @staticmethod
    def _position(value: int) -> int | None:
        return value if 1 <= value <= MAX_POSITIONS else None

    # ---------------------------------------------------------------- handlers
    # Each takes the (length-checked) request and returns an _Answer.

    def _simple_poll(self, frame: Frame, now: float) -> _Answer:
        return _Ack()

    def _address_poll(self, frame: Frame, now: float) -> _Answer:
        return _Raw(bytes((self._address,)), _ADDRESS_DELAY_S * self._address)

    def _address_clash(self, frame: Frame, now: float) -> _Answer:
        return _Raw(bytes((self._address,)), _ADDRESS_DELAY_S * self._rng.randint(0, 255))

    def _address_change(self, frame: Frame, now: float) -> _Answer:
        new = frame.data[0]
        if not 2 <= new <= 255:
            return _Nak()  # 0 is broadcast and 1 the host: never a device address
        self._set_address(new)
        return _Ack()

    def _address_random(self, frame: Frame, now: float) -> _Answer:
        self._set_address(self._rng.randint(2, 255))
        return _Ack()

    def _set_address(self, new: int) -> None:
        if new != self._address:
            self._emit(AddressChanged(old=self._address, new=new))
            self._address = new

    def _polling_priority(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes(self.identity.polling_priority))

    def _status(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((self.status & 0xFF,)))

    def _manufacturer_id(self, frame: Frame, now: float) -> _Answer:
        return _Ack(self.identity.manufacturer_id.encode("ascii"))

    def _equipment_category(self, frame: Frame, now: float) -> _Answer:
        return _Ack(self.identity.equipment_category.encode("ascii"))

    def _product_code(self, frame: Frame, now: float) -> _Answer:
        return _Ack(self.identity.product_code.encode("ascii"))

    def _serial_number(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_u24(self.identity.serial_number))

    def _software_revision(self, frame: Frame, now: float) -> _Answer:
        return _Ack(self.identity.software_revision.encode("ascii"))

    def _opto_states(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((self.opto_states & 0xFF,)))

    def _self_check(self, frame: Frame, now: float) -> _Answer:
        if self.fault_extra is None:
            return _Ack(bytes((self.fault_code & 0xFF,)))
        return _Ack(bytes((self.fault_code & 0xFF, self.fault_extra & 0xFF)))

    def _modify_inhibits(self, frame: Frame, now: float) -> _Answer:
        mask = int.from_bytes(frame.data, "little")
        if mask != self._inhibit_mask:
            self._inhibit_mask = mask
            self._emit(InhibitsChanged(mask))
        return _Ack()

    def _request_inhibits(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_inhibit_mask(self._inhibit_mask))

    def _read_credit_buffer(self, frame: Frame, now: float) -> _Answer:
        self.last_credit_poll = now
        served = self._buffer.read()
        self._emit(CreditBufferRead(now=now, counter=served.counter))
        return _Ack(served.to_bytes())

    def _modify_master_inhibit(self, frame: Frame, now: float) -> _Answer:
        inhibited = not frame.data[0] & 1  # bit 0: 0 = inhibit all, 1 = normal
        if inhibited != self._master_inhibit:
            self._master_inhibit = inhibited
            self._emit(MasterInhibitChanged(inhibited))
        return _Ack()

    def _request_master_inhibit(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((0 if self._master_inhibit else 1,)))

    def _insertion_counter(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_u24(self.counters.insertion))

    def _accept_counter(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_u24(self.counters.accept))

    def _reject_counter(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_u24(self.counters.reject))

    def _fraud_counter(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_u24(self.counters.fraud))

    def _option_flags(self, frame: Frame, now: float) -> _Answer:
        return _Ack(b"\x00")  # bit 0 clear: credit codes are positions, not values

    def _modify_sorter_path(self, frame: Frame, now: float) -> _Answer:
        position, path = self._position(frame.data[0]), frame.data[1]
        if position is None or path > _MAX_SORTER_PATH:
            return _Nak()  # 8 sorter paths at most; 0 = none
        if self._sorter_paths[position - 1] != path:
            self._sorter_paths[position - 1] = path
            self._emit(SorterPathChanged(position, path))
        return _Ack()

    def _request_sorter_path(self, frame: Frame, now: float) -> _Answer:
        position = self._position(frame.data[0])
        if position is None:
            return _Nak()
        return _Ack(bytes((self._sorter_paths[position - 1],)))

    def _modify_coin_id(self, frame: Frame, now: float) -> _Answer:
        position = self._position(frame.data[0])
        text = frame.data[1:].decode("latin-1")
        if position is None or not is_valid_coin_id(text):
            return _Nak()
        coin_id = None if text == EMPTY_COIN_ID else text
        if self._coin_ids[position - 1] != coin_id:
            self._coin_ids[position - 1] = coin_id
            self._emit(CoinIdChanged(position, coin_id))
        return _Ack()

    def _request_coin_id(self, frame: Frame, now: float) -> _Answer:
        position = self._position(frame.data[0])
        if position is None:
            return _Nak()
        return _Ack((self._coin_ids[position - 1] or EMPTY_COIN_ID).encode("ascii"))

    def _coin_position(self, frame: Frame, now: float) -> _Answer:
        # Credit codes are positions (213 bit 0 clear), so credit code n sits at
        # inhibit bit n - 1 whether or not the position holds a coin: a host
        # builds its 231 mask from these replies.
        position = self._position(frame.data[0])
        if position is None:
            return _Nak()
        return _Ack(encode_inhibit_mask(1 << (position - 1)))

    def _request_default_sorter_path(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((self._default_sorter_path,)))

    def _modify_default_sorter_path(self, frame: Frame, now: float) -> _Answer:
        path = frame.data[0]
        if path > _MAX_SORTER_PATH:
            return _Nak()
        self._default_sorter_path = path
        return _Ack()

    def _request_sorter_override(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((_NO_SORTER_OVERRIDE,)))

    def _modify_sorter_override(self, frame: Frame, now: float) -> _Answer:
        # There is no override to set: only "normal sorting on every path" is
        # true, and a host asking for an override must learn it did not happen.
        return _Ack() if frame.data[0] == _NO_SORTER_OVERRIDE else _Nak()

    def _data_storage(self, frame: Frame, now: float) -> _Answer:
        return _Ack(_NO_DATA_STORAGE)

    def _read_input_lines(self, frame: Frame, now: float) -> _Answer:
        return _Ack(b"\x00")  # one byte, no input line active: there is no input port

    def _test_output_lines(self, frame: Frame, now: float) -> _Answer:
        return _Ack()  # there are no output lines, so there is nothing to pulse

    def _database_version(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((self.identity.database_version,)))

    def _variable_set(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes(self.identity.variable_set))

    def _rom_checksum(self, frame: Frame, now: float) -> _Answer:
        return _Ack(self.identity.rom_checksum.to_bytes(4, "little"))

    def _creation_date(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_date_code(self.identity.creation_date, self.identity.base_year))

    def _modification_date(self, frame: Frame, now: float) -> _Answer:
        return _Ack(encode_date_code(self.identity.modification_date, self.identity.base_year))

    def _base_year(self, frame: Frame, now: float) -> _Answer:
        return _Ack(str(self.identity.base_year).encode("ascii"))

    def _address_mode(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes((_ADDRESS_MODE,)))

    def _build_code(self, frame: Frame, now: float) -> _Answer:
        return _Ack(self.identity.build_code.encode("ascii"))

    def _comms_revision(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes(self.identity.comms_revision))

    def _clear_comms_status(self, frame: Frame, now: float) -> _Answer:
        self._parser.stats.clear()
        return _Ack()

    def _request_comms_status(self, frame: Frame, now: float) -> _Answer:
        return _Ack(bytes(self.comms_stats))

    def _reset(self, frame: Frame, now: float) -> _Answer:
        # The ACK is built after this returns but from the unchanged address,
        # and the power-up state keeps address, coin ids, sorter paths and the
        # lifetime counters (non-volatile on a real acceptor).
        self._power_up()
        self._emit(ResetRequested(now))
        return _Ack()


def _route(handler: _Handler, data_len: int = 0, max_len: int | None = None) -> _Route:
    return _Route(
        handler=handler, data_len=data_len, max_len=data_len if max_len is None else max_len
    )


_D = CoinAcceptorDevice
CoinAcceptorDevice._routes = {
    Header.SIMPLE_POLL: _route(_D._simple_poll),
    Header.ADDRESS_POLL: _route(_D._address_poll),
    Header.ADDRESS_CLASH: _route(_D._address_clash),
    Header.ADDRESS_CHANGE: _route(_D._address_change, 1),
    Header.ADDRESS_RANDOM: _route(_D._address_random),
    Header.REQUEST_POLLING_PRIORITY: _route(_D._polling_priority),
    Header.REQUEST_STATUS: _route(_D._status),
    Header.REQUEST_MANUFACTURER_ID: _route(_D._manufacturer_id),
    Header.REQUEST_EQUIPMENT_CATEGORY_ID: _route(_D._equipment_category),
    Header.REQUEST_PRODUCT_CODE: _route(_D._product_code),
    Header.REQUEST_SERIAL_NUMBER: _route(_D._serial_number),
    Header.REQUEST_SOFTWARE_REVISION: _route(_D._software_revision),
    Header.READ_OPTO_STATES: _route(_D._opto_states),
    Header.PERFORM_SELF_CHECK: _route(_D._self_check),
    Header.MODIFY_INHIBIT_STATUS: _route(_D._modify_inhibits, 2),
    Header.REQUEST_INHIBIT_STATUS: _route(_D._request_inhibits),
    Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES: _route(_D._read_credit_buffer),
    Header.MODIFY_MASTER_INHIBIT_STATUS: _route(_D._modify_master_inhibit, 1),
    Header.REQUEST_MASTER_INHIBIT_STATUS: _route(_D._request_master_inhibit),
    Header.REQUEST_INSERTION_COUNTER: _route(_D._insertion_counter),
    Header.REQUEST_ACCEPT_COUNTER: _route(_D._accept_counter),
    Header.REQUEST_REJECT_COUNTER: _route(_D._reject_counter),
    Header.REQUEST_FRAUD_COUNTER: _route(_D._fraud_counter),
    Header.REQUEST_OPTION_FLAGS: _route(_D._option_flags),
    Header.MODIFY_SORTER_PATHS: _route(_D._modify_sorter_path, 2),
    Header.REQUEST_SORTER_PATHS: _route(_D._request_sorter_path, 1),
    Header.MODIFY_COIN_ID: _route(_D._modify_coin_id, 7),
    Header.REQUEST_COIN_ID: _route(_D._request_coin_id, 1),
    Header.REQUEST_BUILD_CODE: _route(_D._build_code),
    Header.REQUEST_COMMS_REVISION: _route(_D._comms_revision),
    Header.CLEAR_COMMS_STATUS: _route(_D._clear_comms_status),
    Header.REQUEST_COMMS_STATUS: _route(_D._request_comms_status),
    Header.RESET_DEVICE: _route(_D._reset),
    Header.REQUEST_COIN_POSITION: _route(_D._coin_position, 1),
    Header.REQUEST_DEFAULT_SORTER_PATH: _route(_D._request_default_sorter_path),
    Header.MODIFY_DEFAULT_SORTER_PATH: _route(_D._modify_default_sorter_path, 1),
    Header.REQUEST_SORTER_OVERRIDE_STATUS: _route(_D._request_sorter_override),
    Header.MODIFY_SORTER_OVERRIDE_STATUS: _route(_D._modify_sorter_override, 1),
    Header.REQUEST_DATA_STORAGE_AVAILABILITY: _route(_D._data_storage),
    Header.READ_INPUT_LINES: _route(_D._read_input_lines),
    # One or more mask bytes (the spec's table: 1 to 2).
    Header.TEST_OUTPUT_LINES: _route(_D._test_output_lines, 1, 2),
    Header.REQUEST_DATABASE_VERSION: _route(_D._database_version),
    Header.REQUEST_VARIABLE_SET: _route(_D._variable_set),
    Header.CALCULATE_ROM_CHECKSUM: _route(_D._rom_checksum),
    Header.REQUEST_CREATION_DATE: _route(_D._creation_date),
    Header.REQUEST_LAST_MODIFICATION_DATE: _route(_D._modification_date),
    Header.REQUEST_BASE_YEAR: _route(_D._base_year),
    Header.REQUEST_ADDRESS_MODE: _route(_D._address_mode),
}
del _D
