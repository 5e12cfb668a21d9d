"""A vending machine controller (VMC) for an MDB coin changer, written from the spec.

Independent of coinval: written from NAMA/EVA Multi-Drop Bus 4.2 (sections 2 and
5, the coin acceptor/changer) and the wire encoding of ``docs/mdb.md`` 5.2 only,
so that it can check coinval's changer rather than agree with it by
construction.  Nothing here imports coinval.

The bus, as the spec has it:

- a word is 9 bits; VMC to peripheral the mode bit marks the address byte
  (address in bits 3-7, command in bits 0-2; the changer is 08H, commands
  08H-0FH); peripheral to VMC it marks the last byte of a response (the CHK
  of a data block, or a lone ACK 00H / NAK FFH);
- CHK is the sum of the block's bytes modulo 256;
- the peripheral answers within t_response (5 ms); silence counts as a NAK and
  the VMC may repeat the command until the changer's non-response time (2 s)
  has passed, and only then fall back to RESET;
- the VMC answers a data block with ACK (00H) when its CHK is right, NAK
  (FFH) when it is not (the peripheral keeps the data and sends it again), or
  RET (AAH) to have it sent again at once.

On a pseudo-terminal each word travels as two bytes: ``01`` when the mode bit
is set, ``00`` when not, then the data byte (``docs/mdb.md`` 5.2).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# ----------------------------------------------------------------- the spec's numbers

CHANGER_ADDRESS = 0x08

RESET = 0x08
SETUP = 0x09
TUBE_STATUS = 0x0A
POLL = 0x0B
COIN_TYPE = 0x0C
DISPENSE = 0x0D
EXPANSION = 0x0F

# EXPANSION subcommands (level 3)
IDENTIFICATION = 0x00
FEATURE_ENABLE = 0x01
ALTERNATIVE_PAYOUT = 0x02
SEND_DIAGNOSTIC_STATUS = 0x05

ACK = 0x00
RET = 0xAA
NAK = 0xFF

T_RESPONSE_S = 0.005  # peripheral's answer, and the VMC's handshake after data
T_INTER_BYTE_S = 0.001
T_BREAK_S = 0.1
T_SETUP_S = 0.2
T_NON_RESPONSE_S = 2.0  # the coin changer's maximum non-response time
# The spec leaves the POLL rate to the VMC, within the non-response time;
# VMCs commonly poll every 25-200 ms.
POLL_INTERVAL_S = 0.1
MAX_BLOCK_BYTES = 36

# Optional features, EXPANSION IDENTIFICATION Z30-Z33 (bit 0 = lowest bit of Z33)
FEATURE_ALTERNATIVE_PAYOUT = 1 << 0
FEATURE_EXTENDED_DIAGNOSTIC = 1 << 1
FEATURE_CONTROLLED_MANUAL_FILL_PAYOUT = 1 << 2
FEATURE_FTL = 1 << 3
# what this VMC can use: it pays nothing out and transports no files
FEATURES_WANTED = FEATURE_EXTENDED_DIAGNOSTIC

STATUS_NAMES = {
    0x01: "escrow request",
    0x02: "changer payout busy",
    0x03: "no credit",
    0x04: "defective tube sensor",
    0x05: "double arrival",
    0x06: "acceptor unplugged",
    0x07: "tube jam",
    0x08: "ROM checksum error",
    0x09: "coin routing error",
    0x0A: "changer busy",
    0x0B: "changer was reset",
    0x0C: "coin jam",
    0x0D: "possible credited coin removal",
}
JUST_RESET = 0x0B

ROUTING_CASH_BOX = 0
ROUTING_TUBES = 1
ROUTING_NOT_USED = 2
ROUTING_REJECT = 3


class MdbError(ValueError):
    """A response the spec does not allow."""


class ChangerMissingError(RuntimeError):
    """No valid answer for the whole non-response time."""


# ----------------------------------------------------------------- words and blocks


@dataclass(frozen=True)
class Word:
    value: int
    mode: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFF:
            raise ValueError(f"not a byte: {self.value}")

    def __str__(self) -> str:
        return f"1{self.value:02X}" if self.mode else f"{self.value:02X}"


def checksum(data: Iterable[int]) -> int:
    return sum(data) & 0xFF


def command_block(command: int, data: bytes = b"", *, chk: int | None = None) -> list[Word]:
    """The VMC's block: address byte with the mode bit, data, CHK (``chk`` overrides it)."""
    if not CHANGER_ADDRESS <= command <= CHANGER_ADDRESS | 0x07:
        raise ValueError(f"not a changer command: {command:02X}")
    if len(data) + 2 > MAX_BLOCK_BYTES:
        raise ValueError("block longer than 36 bytes")
    body = bytes([command]) + data
    words = [Word(command, True), *(Word(b) for b in data)]
    words.append(Word(checksum(body) if chk is None else chk))
    return words


def encode_words(words: Iterable[Word]) -> bytes:
    """The two-byte encoding of ``docs/mdb.md`` 5.2."""
    out = bytearray()
    for word in words:
        out += bytes([0x01 if word.mode else 0x00, word.value])
    return bytes(out)


class WordDecoder:
    """Bytes to words: a flag byte (00 or 01), then the data byte."""

    def __init__(self) -> None:
        self._flag: int | None = None
        self.dropped = 0

    def feed(self, data: bytes) -> list[Word]:
        words: list[Word] = []
        for byte in data:
            if self._flag is None:
                if byte in (0x00, 0x01):
                    self._flag = byte
                else:
                    self.dropped += 1  # not a flag: out of step, skip it
            else:
                words.append(Word(byte, self._flag == 0x01))
                self._flag = None
        return words

    def clear(self) -> None:
        self._flag = None


def decode_words(data: bytes) -> list[Word]:
    return WordDecoder().feed(data)


# ----------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One peripheral response: ``ack``, ``nak``, ``data`` (CHK right) or ``bad_chk``."""

    kind: str
    data: bytes = b""
    words: tuple[Word, ...] = ()


def interpret_reply(words: Sequence[Word]) -> Reply:
    """A complete response: words up to and including the one with the mode bit."""
    if not words or not words[-1].mode:
        raise MdbError("a response ends with the mode bit")
    if any(w.mode for w in words[:-1]):
        raise MdbError("mode bit before the end of a response")
    if len(words) == 1:
        if words[0].value == ACK:
            return Reply("ack", words=tuple(words))
        if words[0].value == NAK:
            return Reply("nak", words=tuple(words))
        raise MdbError(f"a one-word response that is neither ACK nor NAK: {words[0]}")
    data = bytes(w.value for w in words[:-1])
    kind = "data" if checksum(data) == words[-1].value else "bad_chk"
    return Reply(kind, data, tuple(words))


# ----------------------------------------------------------------- what the changer says


@dataclass(frozen=True)
class ChangerSetup:
    level: int
    country: str  # the four BCD digits: "1826" is ISO 4217 826 (GBP)
    scaling: int
    decimals: int
    routing: int  # bit n: coin type n can go to a tube
    credits: tuple[int, ...]  # coin type credits, in units of the scaling factor

    @classmethod
    def parse(cls, data: bytes) -> ChangerSetup:
        if len(data) < 7 or len(data) > 23:
            raise MdbError(f"SETUP answer of {len(data)} bytes (7-23)")
        country = f"{data[1]:02X}{data[2]:02X}"
        if not country.isdigit():
            raise MdbError(f"country/currency code {country} is not BCD")
        if data[3] == 0:
            raise MdbError("coin scaling factor 0")
        return cls(
            level=data[0],
            country=country,
            scaling=data[3],
            decimals=data[4],
            routing=(data[5] << 8) | data[6],
            credits=tuple(data[7:]),
        )

    def coin_value(self, coin_type: int) -> int:
        """The coin's value in the smallest unit (credit x scaling; unsent types: 0)."""
        if 0 <= coin_type < len(self.credits):
            return self.credits[coin_type] * self.scaling
        return 0

    @property
    def currency(self) -> str | None:
        """The ISO 4217 number when the code's first digit is 1, else None (a phone code)."""
        return self.country[1:] if self.country[0] == "1" else None


@dataclass(frozen=True)
class TubeStatus:
    full: int  # bit n: tube of coin type n is full
    counts: tuple[int, ...]

    @classmethod
    def parse(cls, data: bytes) -> TubeStatus:
        if not 2 <= len(data) <= 18:
            raise MdbError(f"TUBE STATUS answer of {len(data)} bytes (2-18)")
        return cls(full=(data[0] << 8) | data[1], counts=tuple(data[2:]))


@dataclass(frozen=True)
class Identification:
    manufacturer: str
    serial: str
    model: str
    version: str  # packed BCD, as "0100"
    features: int

    @classmethod
    def parse(cls, data: bytes) -> Identification:
        if len(data) != 33:
            raise MdbError(f"IDENTIFICATION answer of {len(data)} bytes (33)")
        for name, part in (("manufacturer", data[0:3]), ("serial", data[3:15])):
            if not all(0x20 <= b < 0x7F for b in part):
                raise MdbError(f"{name} is not ASCII: {part.hex()}")
        version = f"{data[27]:02X}{data[28]:02X}"
        if not version.isdigit():
            raise MdbError(f"software version {version} is not BCD")
        return cls(
            manufacturer=data[0:3].decode("ascii"),
            serial=data[3:15].decode("ascii"),
            model=data[15:27].decode("ascii", "replace"),
            version=version,
            features=int.from_bytes(data[29:33], "big"),
        )


@dataclass(frozen=True)
class CoinDeposited:
    coin_type: int
    routing: int
    tube_count: int


@dataclass(frozen=True)
class CoinsDispensedManually:
    coin_type: int
    count: int
    tube_count: int


@dataclass(frozen=True)
class Status:
    code: int

    @property
    def name(self) -> str:
        return STATUS_NAMES.get(self.code, f"unknown status {self.code:02X}")


@dataclass(frozen=True)
class Slugs:
    count: int


PollItem = CoinDeposited | CoinsDispensedManually | Status | Slugs


def parse_poll(data: bytes) -> list[PollItem]:
    """POLL activity, oldest first (section 5, POLL 0BH)."""
    if len(data) > 16:
        raise MdbError(f"POLL answer of {len(data)} bytes (at most 16)")
    items: list[PollItem] = []
    i = 0
    while i < len(data):
        z = data[i]
        if z & 0x80:  # 1YYYZZZZ nn: coins dispensed manually
            if i + 1 >= len(data):
                raise MdbError("manual dispense without its tube count")
            items.append(CoinsDispensedManually(z & 0x0F, (z >> 4) & 0x07, data[i + 1]))
            i += 2
        elif z & 0x40:  # 01YYXXXX nn: coin deposited
            if i + 1 >= len(data):
                raise MdbError("coin deposited without its tube count")
            items.append(CoinDeposited(z & 0x0F, (z >> 4) & 0x03, data[i + 1]))
            i += 2
        elif z & 0x20:  # 001XXXXX: slugs
            items.append(Slugs(z & 0x1F))
            i += 1
        else:  # 0000XXXX: status (0001XXXX is undefined)
            if z & 0x10 or z == 0:
                raise MdbError(f"undefined POLL byte {z:02X}")
            items.append(Status(z))
            i += 1
    return items


def parse_diagnostic(data: bytes) -> list[tuple[int, int]]:
    if not data or len(data) % 2:
        raise MdbError(f"diagnostic status of {len(data)} bytes (pairs)")
    return [(data[i], data[i + 1]) for i in range(0, len(data), 2)]


# ----------------------------------------------------------------- the line


class Line(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """What has arrived, waiting up to ``timeout_s`` for something; b"" if nothing."""
        ...


class PtyLine:
    """The VMC's end of a pseudo-terminal (the master, set raw by the caller)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def read(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.0))
        if not ready:
            return b""
        try:
            return os.read(self.fd, 4096)
        except OSError:  # the other end closed
            return b""


# ----------------------------------------------------------------- the VMC


@dataclass(frozen=True)
class Exchange:
    """One command block and what came back (``none``: silence until the VMC gave up)."""

    command: int
    sub: int | None
    latency_s: float | None  # from the block written to the response's last word
    reply: str
    data: bytes = b""


@dataclass(frozen=True)
class Credit:
    coin_type: int
    value: int  # smallest currency unit (credit x scaling factor)
    routing: int
    tube_count: int
    enabled: bool  # the coin type was enabled by the VMC's last COIN TYPE
    at: float


@dataclass
class VmcRecord:
    exchanges: list[Exchange] = field(default_factory=list)
    credits: list[Credit] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    slugs: int = 0
    rejected_routes: list[CoinDeposited] = field(default_factory=list)
    manual_dispenses: list[CoinsDispensedManually] = field(default_factory=list)
    just_resets: int = 0
    after_reset: list[list[PollItem]] = field(default_factory=list)  # first report after RESET
    naks_sent: int = 0
    bad_checksums: int = 0
    rets_sent: int = 0
    ret_mismatches: int = 0
    changer_naks: int = 0
    unanswered: int = 0
    missing: int = 0
    protocol_errors: list[str] = field(default_factory=list)


class Vmc:
    """The VMC's side of the changer's conversation (one peripheral, address 08H).

    ``reply_wait_s`` is how long the VMC waits for a response before treating the
    silence as a NAK; the spec's t_response is 5 ms, a VMC on a loaded host may
    give more and measure (``record.exchanges``).  ``nak_next`` and ``ret_next``
    make the VMC answer the next data blocks with NAK (as if their CHK had been
    wrong) or RET, to test that the changer sends them again.
    """

    def __init__(
        self,
        line: Line,
        *,
        enable: int = 0xFFFF,
        reply_wait_s: float = T_RESPONSE_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.line = line
        self.enable_wanted = enable & 0xFFFF
        self.reply_wait_s = reply_wait_s
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.sleep = sleep
        self.decoder = WordDecoder()
        self.record = VmcRecord()
        self.setup: ChangerSetup | None = None
        self.tubes: TubeStatus | None = None
        self.identification: Identification | None = None
        self.features_enabled = 0
        self.enabled = 0  # coin types of the last COIN TYPE (a reset disables them all)
        self.diagnostic: list[tuple[int, int]] = []
        self.needs_setup = True
        self.nak_next = 0
        self.ret_next = 0
        self._first_report_after_reset = False

    # ------------------------------------------------------------- the bus

    def _drain(self) -> None:
        while self.line.read(0.0):
            pass
        self.decoder.clear()

    def _send(self, words: Sequence[Word]) -> None:
        self.line.write(encode_words(words))

    def _read_response(self, wait_s: float) -> list[Word] | None:
        """Words up to one with the mode bit, or None when ``wait_s`` passes first."""
        deadline = self.clock() + wait_s
        words: list[Word] = []
        while True:
            left = deadline - self.clock()
            if left <= 0:
                return None
            for word in self.decoder.feed(self.line.read(left)):
                words.append(word)
                if word.mode:
                    return words

    def _handshake(self, value: int) -> None:
        self._send([Word(value)])

    def send_raw(self, words: Sequence[Word], wait_s: float | None = None) -> Reply | None:
        """One block, once, no retry and no handshake: for probing the changer."""
        self._drain()
        self._send(words)
        got = self._read_response(self.reply_wait_s if wait_s is None else wait_s)
        return None if got is None else interpret_reply(got)

    def transact(self, command: int, data: bytes = b"") -> Reply | None:
        """Send a command until a valid answer (ACK or data) or the non-response time.

        Data is handshaken here: ACK when its CHK is right, NAK (and the command
        again) when not.  Returns None after T_NON_RESPONSE_S without a valid answer.
        """
        sub = data[0] if command == EXPANSION and data else None
        give_up = self.clock() + T_NON_RESPONSE_S
        block = command_block(command, data)
        while True:
            self._drain()
            self._send(block)
            start = self.clock()
            words = self._read_response(self.reply_wait_s)
            if words is None:
                self.record.unanswered += 1
                self.record.exchanges.append(Exchange(command, sub, None, "none"))
                if self.clock() >= give_up:
                    return None
                continue
            latency = self.clock() - start
            try:
                reply = interpret_reply(words)
            except MdbError as e:
                self.record.protocol_errors.append(f"{command:02X}: {e}")
                self.record.exchanges.append(Exchange(command, sub, latency, "invalid"))
                if self.clock() >= give_up:
                    return None
                continue
            self.record.exchanges.append(Exchange(command, sub, latency, reply.kind, reply.data))
            if reply.kind == "nak":
                self.record.changer_naks += 1
            elif reply.kind == "ack":
                return reply
            elif reply.kind == "bad_chk" or self.nak_next > 0:
                if reply.kind == "bad_chk":
                    self.record.bad_checksums += 1
                else:
                    self.nak_next -= 1
                self._handshake(NAK)
                self.record.naks_sent += 1
            elif self.ret_next > 0:
                self.ret_next -= 1
                self._handshake(RET)
                self.record.rets_sent += 1
                again = self._read_response(self.reply_wait_s)
                if again is None or tuple(again) != reply.words:
                    self.record.ret_mismatches += 1
                    continue  # no handshake: the changer keeps the data for the next try
                self._handshake(ACK)
                return reply
            else:
                self._handshake(ACK)
                return reply
            if self.clock() >= give_up:
                return None

    def _expect(self, command: int, data: bytes, kind: str) -> Reply:
        reply = self.transact(command, data)
        if reply is None:
            raise ChangerMissingError(f"no answer to {command:02X} {data.hex()}")
        if reply.kind != kind:
            raise MdbError(f"{command:02X} {data.hex()}: {reply.kind}, expected {kind}")
        return reply

    # ------------------------------------------------------------- the sequence

    def start(self) -> None:
        """RESET, POLL until "changer was reset", then SETUP and the rest."""
        self.reset()
        self.configure()

    def reset(self) -> None:
        self._expect(RESET, b"", "ack")
        self.needs_setup = True
        self._first_report_after_reset = True
        seen = self.record.just_resets
        give_up = self.clock() + T_SETUP_S + T_NON_RESPONSE_S
        while self.record.just_resets == seen:
            if self.clock() >= give_up:
                raise MdbError('no "changer was reset" after RESET')
            self.poll()
            if self.record.just_resets == seen:
                self.sleep(self.poll_interval_s)

    def configure(self) -> None:
        """SETUP, TUBE STATUS, identification and features (level 3), COIN TYPE."""
        self.setup = ChangerSetup.parse(self._expect(SETUP, b"", "data").data)
        self.tubes = TubeStatus.parse(self._expect(TUBE_STATUS, b"", "data").data)
        if self.setup.level >= 3:
            ident = self._expect(EXPANSION, bytes([IDENTIFICATION]), "data").data
            self.identification = Identification.parse(ident)
            self.features_enabled = self.identification.features & FEATURES_WANTED
            self._expect(
                EXPANSION,
                bytes([FEATURE_ENABLE]) + self.features_enabled.to_bytes(4, "big"),
                "ack",
            )
        self.coin_type(self.enable_wanted)
        self.needs_setup = False

    def coin_type(self, enable: int, manual_dispense: int = 0) -> None:
        """COIN TYPE: Y1-Y2 coin enables, Y3-Y4 manual dispense enables (bit n: type n)."""
        usable = enable
        if self.setup is not None:  # types whose credit is 0 cannot be accepted
            usable &= sum(1 << t for t, c in enumerate(self.setup.credits) if c)
        self._expect(
            COIN_TYPE, usable.to_bytes(2, "big") + manual_dispense.to_bytes(2, "big"), "ack"
        )
        self.enabled = usable

    def diagnostic_status(self) -> list[tuple[int, int]]:
        if not self.features_enabled & FEATURE_EXTENDED_DIAGNOSTIC:
            raise MdbError("extended diagnostic not enabled")
        self.diagnostic = parse_diagnostic(
            self._expect(EXPANSION, bytes([SEND_DIAGNOSTIC_STATUS]), "data").data
        )
        return self.diagnostic

    # ------------------------------------------------------------- polling

    def poll(self) -> list[PollItem]:
        """One POLL: its activity, handled.  A changer silent for the whole
        non-response time is reset (the spec's recovery)."""
        reply = self.transact(POLL)
        if reply is None:
            self.record.missing += 1
            self.reset()
            self.configure()
            return []
        if reply.kind == "ack":
            return []
        try:
            items = parse_poll(reply.data)
        except MdbError as e:  # acknowledged already: the data is lost; say so
            self.record.protocol_errors.append(f"POLL {reply.data.hex()}: {e}")
            return []
        if self._first_report_after_reset:
            self._first_report_after_reset = False
            self.record.after_reset.append(items)
        for item in items:
            self._handle(item)
        return items

    def _handle(self, item: PollItem) -> None:
        now = self.clock()
        if isinstance(item, CoinDeposited):
            if item.routing in (ROUTING_CASH_BOX, ROUTING_TUBES):
                value = self.setup.coin_value(item.coin_type) if self.setup else 0
                if value == 0:
                    self.record.protocol_errors.append(
                        f"coin type {item.coin_type} deposited without a credit in SETUP"
                    )
                enabled = bool(self.enabled >> item.coin_type & 1)
                self.record.credits.append(
                    Credit(item.coin_type, value, item.routing, item.tube_count, enabled, now)
                )
            else:  # reject (or the unused route): no money for the machine
                self.record.rejected_routes.append(item)
        elif isinstance(item, CoinsDispensedManually):
            self.record.manual_dispenses.append(item)
        elif isinstance(item, Slugs):
            self.record.slugs += item.count
        else:
            self.record.statuses.append(item)
            if item.code == JUST_RESET:
                self.record.just_resets += 1
                self.needs_setup = True  # a reset changer accepts nothing until COIN TYPE

    def run(self, duration_s: float) -> None:
        """POLL every ``poll_interval_s`` for ``duration_s``; set up again after a reset."""
        end = self.clock() + duration_s
        while self.clock() < end:
            started = self.clock()
            self.poll()
            if self.needs_setup:
                self.configure()
            self.sleep(max(0.0, self.poll_interval_s - (self.clock() - started)))

    def silent(self, duration_s: float) -> None:
        """Say nothing at all for ``duration_s`` (a VMC that has stopped)."""
        self.sleep(duration_s)

    @property
    def credit_total(self) -> int:
        return sum(c.value for c in self.record.credits)
