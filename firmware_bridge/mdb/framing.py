"""MDB blocks from words: the changer's command parser and the VMC's response parser.

MDB blocks carry no length: the receiver knows each command's length from
its command byte (and, for EXPANSION, its subcommand).  The changer's
:class:`CommandParser` therefore frames only what it knows; a block it cannot
frame (another peripheral's, or an unknown command) is skipped up to the next
address byte, which the mode bit makes unmistakable.

Neither parser does I/O or reads a clock; the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from firmware_bridge.mdb.messages import (
    CHANGER_ADDRESS,
    COMMAND_DATA_LEN,
    EXPANSION_DATA_LEN,
    Command,
)
from firmware_bridge.mdb.words import ACK, ADDRESS_MASK, MODE_BIT, NAK, checksum_ok

__all__ = [
    "MAX_RESPONSE_WORDS",
    "PARTIAL_BLOCK_TIMEOUT_S",
    "BadResponse",
    "CommandBlock",
    "CommandParser",
    "DataResponse",
    "Handshake",
    "ParserStats",
    "PeripheralAck",
    "PeripheralNak",
    "ResponseParser",
    "expected_words",
]

#: A partial block older than this is dropped.  The spec's inter-byte limit is
#: 1 ms for the *sender*; a receiver reading through an OS sees bytes in
#: chunks, so it allows more before it calls a block dead.
PARTIAL_BLOCK_TIMEOUT_S = 0.020
#: Longest peripheral response a VMC waits for (IDENTIFICATION: 33 bytes + CHK).
MAX_RESPONSE_WORDS = 40


@dataclass(frozen=True, slots=True)
class CommandBlock:
    """A checksum-valid command for this changer.

    Attributes
    ----------
    command : int
        The address byte (08H-0FH).
    data : bytes
        The bytes between it and the CHK (for EXPANSION, the subcommand first).
    """

    command: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The one byte the VMC sent right after a command of ours: ACK, RET, NAK or junk."""

    byte: int


ReceivedByChanger = CommandBlock | Handshake


@dataclass(slots=True)
class ParserStats:
    """What a :class:`CommandParser` threw away.

    Attributes
    ----------
    blocks : int
        Valid commands delivered.
    bad_checksums : int
        Complete blocks for us whose CHK failed (no answer: the VMC retries).
    cut_short : int
        Blocks for us ended early by a new address byte or a silent gap.
    unknown : int
        Blocks for us with a command or subcommand we cannot frame.
    foreign : int
        Blocks for other peripherals.
    words_ignored : int
        Words outside any block we could use.
    """

    blocks: int = 0
    bad_checksums: int = 0
    cut_short: int = 0
    unknown: int = 0
    foreign: int = 0
    words_ignored: int = 0


def expected_words(command: int, sub: int | None) -> int | None:
    """Words in a changer command block, CHK included; ``None`` if unknown (or ``sub`` needed)."""
    if command == Command.EXPANSION:
        if sub is None:
            return None
        n = EXPANSION_DATA_LEN.get(sub)
        return None if n is None else 2 + n
    n = COMMAND_DATA_LEN.get(command)
    return None if n is None else 2 + n


class CommandParser:
    """The changer's side: VMC words in, commands for address ``address`` out.

    Never raises on received words.  State: idle, collecting a block of ours,
    skipping a block we cannot use, or *after one of ours* (then each lone word
    up to the next address byte is the VMC's handshake: ACK, RET or NAK for
    our reply).

    Parameters
    ----------
    address : int
        The peripheral's address (08H for the changer).
    partial_timeout_s : float
        Silence that ends a partial block.
    """

    def __init__(
        self,
        address: int = CHANGER_ADDRESS,
        *,
        partial_timeout_s: float = PARTIAL_BLOCK_TIMEOUT_S,
    ) -> None:
        self.address = address
        self.partial_timeout_s = partial_timeout_s
        self.stats = ParserStats()
        self._block: list[int] = []
        self._after_ours = False
        self._last_rx: float | None = None

    def reset(self) -> None:
        """Forget any partial block (stats are kept)."""
        self._block.clear()
        self._after_ours = False

    def feed(self, words: Iterable[int], now: float) -> list[ReceivedByChanger]:
        """Add received words (arrived at ``now``); return what they complete."""
        out: list[ReceivedByChanger] = []
        if (
            self._block
            and self._last_rx is not None
            and now - self._last_rx > self.partial_timeout_s
        ):
            self.stats.cut_short += 1
            self._block.clear()
        for w in words:
            self._last_rx = now
            if w & MODE_BIT:
                self._start(w & 0xFF)
                self._maybe_complete(out)
            elif self._block:
                self._block.append(w & 0xFF)
                self._maybe_complete(out)
            elif self._after_ours:
                # Until the next address byte the VMC talks to us alone: after
                # a RET and our retransmission, its next word is ours too.
                out.append(Handshake(w & 0xFF))
            else:
                self.stats.words_ignored += 1
        return out

    def _start(self, address_byte: int) -> None:
        if self._block:
            self.stats.cut_short += 1  # the VMC gave up on it and moved on
        self._block.clear()
        self._after_ours = False
        if address_byte & ADDRESS_MASK != self.address:
            self.stats.foreign += 1
            return
        self._block.append(address_byte)

    def _maybe_complete(self, out: list[ReceivedByChanger]) -> None:
        block = self._block
        if not block:
            return  # another peripheral's block: skipped up to the next address byte
        sub = block[1] if len(block) >= 2 else None
        need = expected_words(block[0], sub)
        if need is None:
            if block[0] != Command.EXPANSION or len(block) >= 2:
                self.stats.unknown += 1
                block.clear()  # skip the rest: only the next address byte resyncs
            return
        if len(block) < need:
            return
        raw = list(block)
        block.clear()
        if checksum_ok(raw):
            self.stats.blocks += 1
            self._after_ours = True
            out.append(CommandBlock(raw[0], bytes(raw[1:-1])))
        else:
            self.stats.bad_checksums += 1


# --------------------------------------------------------------------- VMC side


@dataclass(frozen=True, slots=True)
class PeripheralAck:
    """A peripheral's ACK (00H with the mode bit): done, or nothing to report."""


@dataclass(frozen=True, slots=True)
class PeripheralNak:
    """A peripheral's NAK (FFH with the mode bit)."""


@dataclass(frozen=True, slots=True)
class DataResponse:
    """A checksum-valid data response (CHK removed)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BadResponse:
    """A response that failed its CHK, or a lone mode-bit word that is neither ACK nor NAK."""

    words: tuple[int, ...]


PeripheralResponse = PeripheralAck | PeripheralNak | DataResponse | BadResponse


class ResponseParser:
    """The VMC's side: a peripheral's words in, its response out.

    A response ends at the first word with the mode bit.  The VMC knows when it
    sends a command, so it calls :meth:`reset` first: leftovers of an earlier,
    timed-out response never join the next one.  Never raises on received words.
    """

    def __init__(self) -> None:
        self._words: list[int] = []
        self.words_ignored = 0

    def reset(self) -> None:
        """Forget a partial response."""
        self.words_ignored += len(self._words)
        self._words.clear()

    @property
    def pending(self) -> int:
        """Words of a response still open."""
        return len(self._words)

    def feed(self, words: Iterable[int]) -> list[PeripheralResponse]:
        """Add received words; return the responses they complete."""
        out: list[PeripheralResponse] = []
        for w in words:
            self._words.append(w)
            if not w & MODE_BIT:
                if len(self._words) > MAX_RESPONSE_WORDS:
                    self.reset()
                continue
            block, self._words = self._words, []
            if len(block) == 1:
                b = block[0] & 0xFF
                if b == ACK:
                    out.append(PeripheralAck())
                elif b == NAK:
                    out.append(PeripheralNak())
                else:
                    out.append(BadResponse(tuple(block)))
            elif checksum_ok(block):
                out.append(DataResponse(bytes(x & 0xFF for x in block[:-1])))
            else:
                out.append(BadResponse(tuple(block)))
        return out
