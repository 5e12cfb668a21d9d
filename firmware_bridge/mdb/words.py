"""MDB words: the 9-bit unit of the bus, its mode bit, checksums and handshake bytes.

MDB (NAMA/EVA Multi-Drop Bus 4.2) runs at 9600 baud, 1 start bit, 8 data bits,
a ninth *mode* bit and 1 stop bit.  Here a word is an ``int`` 0-511: the data
byte in bits 0-7, the mode bit in bit 8 (:data:`MODE_BIT`).  What the mode bit
means depends on who sends:

VMC -> peripheral
    set on the **address byte** that starts a command block, clear on every
    other byte (data, CHK, and the VMC's ACK / RET / NAK);
peripheral -> VMC
    set on the **last byte** of a response: the CHK of a data block, or the
    single ACK (00H) / NAK (FFH) byte.

The address byte holds the peripheral's address in bits 3-7 and the command in
bits 0-2: the coin changer is 08H, so its commands are 08H-0FH.

A block's CHK is the sum of every byte before it (address included, mode bits
not), modulo 256.  Single-byte handshakes carry no CHK.

This is the bottom layer (the "words" of the framer); it does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "ACK",
    "ADDRESS_MASK",
    "COMMAND_MASK",
    "MODE_BIT",
    "NAK",
    "RET",
    "WORD_MAX",
    "block_checksum",
    "checksum_ok",
    "data_of",
    "format_words",
    "is_mode",
    "parse_words",
    "peripheral_block",
    "vmc_block",
    "word",
]

#: Bit 8 of a word: the ninth (mode) bit.
MODE_BIT = 0x100
#: Largest word value.
WORD_MAX = 0x1FF
#: Bits of an address byte that name the peripheral.
ADDRESS_MASK = 0xF8
#: Bits of an address byte that name the command.
COMMAND_MASK = 0x07

#: Acknowledgement (both directions; with the mode bit from a peripheral).
ACK = 0x00
#: Retransmit the last data (VMC to peripheral only).
RET = 0xAA
#: Negative acknowledgement (both directions; with the mode bit from a peripheral).
NAK = 0xFF


def word(data: int, mode: bool = False) -> int:
    """A word from its data byte and mode bit."""
    if not 0 <= data <= 0xFF:
        raise ValueError(f"an MDB data byte is 0-255, got {data}")
    return data | (MODE_BIT if mode else 0)


def is_mode(w: int) -> bool:
    """Whether the word's mode bit is set."""
    return bool(w & MODE_BIT)


def data_of(w: int) -> int:
    """The word's data byte."""
    return w & 0xFF


def block_checksum(data: Iterable[int]) -> int:
    """CHK of a block: the sum of its bytes (mode bits ignored) modulo 256.

    Parameters
    ----------
    data : iterable of int
        Bytes or words before the CHK, address byte included.

    Returns
    -------
    int
        ``sum(b & 0xFF for b in data) & 0xFF``; e.g. POLL to the changer
        (``0B``) has CHK ``0B``, COIN TYPE ``0C 00 3F 00 00`` has ``4B``.
    """
    return sum(b & 0xFF for b in data) & 0xFF


def checksum_ok(block: Sequence[int]) -> bool:
    """Whether the last word of ``block`` (at least two words) is the CHK of the others."""
    return len(block) >= 2 and block_checksum(block[:-1]) == block[-1] & 0xFF


def vmc_block(address_byte: int, data: bytes = b"") -> tuple[int, ...]:
    """Words of a VMC command: address byte with the mode bit, data, CHK.

    Parameters
    ----------
    address_byte : int
        Peripheral address and command (``0x0B``: POLL the changer).
    data : bytes
        The command's data bytes (subcommand included for EXPANSION).

    Returns
    -------
    tuple of int
        ``2 + len(data)`` words.
    """
    body = bytes((address_byte,)) + bytes(data)
    return (word(address_byte, True), *body[1:], block_checksum(body))


def peripheral_block(data: bytes) -> tuple[int, ...]:
    """Words of a peripheral's data response: the bytes, then CHK with the mode bit."""
    if not data:
        raise ValueError("a data response holds at least one byte (else it is an ACK)")
    return (*data, word(block_checksum(data), True))


def format_words(words: Iterable[int]) -> str:
    """Words as hex, a mode-bit word with a leading ``1``: ``"10B 0B"``.

    The notation of ``docs/mdb.md``: ``10B`` is 0BH with the mode bit set.
    """
    return " ".join(f"1{w & 0xFF:02X}" if w & MODE_BIT else f"{w:02X}" for w in words)


def parse_words(text: str) -> tuple[int, ...]:
    """Inverse of :func:`format_words` (three hex digits: mode bit set; two: clear)."""
    out = []
    for token in text.split():
        value = int(token, 16)
        if len(token) == 3 and token[0] == "1":
            out.append(word(value & 0xFF, True))
        elif len(token) <= 2:
            out.append(word(value))
        else:
            raise ValueError(f"not a word: {token!r} (two hex digits, or 1 and two)")
    return tuple(out)
