"""MDB coin changer (level 3) commands and payloads: numbers and byte layouts, no state.

Command bytes are the changer's address (08H) plus the command in bits 0-2.
Every payload here is the data between the address byte and the CHK (VMC
side) or before the CHK (changer side); :mod:`.words` adds the CHK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from math import gcd

__all__ = [
    "CHANGER_ADDRESS",
    "COMMAND_DATA_LEN",
    "EXPANSION_DATA_LEN",
    "GBP_COUNTRY_CODE",
    "MAX_COIN_TYPES",
    "MAX_POLL_BYTES",
    "ChangerIdentity",
    "ChangerSetup",
    "ChangerStatus",
    "CoinTypeEnables",
    "Command",
    "DiagnosticStatus",
    "Expansion",
    "PollItem",
    "Route",
    "coin_scaling",
    "decode_poll",
    "encode_deposit",
    "encode_status",
]

#: The coin changer's bus address (and its RESET command byte).
CHANGER_ADDRESS = 0x08
#: Coin types a changer may have (0-15).
MAX_COIN_TYPES = 16
#: Longest POLL response, CHK not counted.
MAX_POLL_BYTES = 16
#: SETUP's country/currency code for pounds sterling: ISO 4217 numeric 826 with
#: the leading 1 that marks an ISO code (a leading 0 would be a telephone code).
GBP_COUNTRY_CODE = 0x1826


class Command(IntEnum):
    """Changer command bytes (address 08H + command)."""

    RESET = 0x08
    SETUP = 0x09
    TUBE_STATUS = 0x0A
    POLL = 0x0B
    COIN_TYPE = 0x0C
    DISPENSE = 0x0D
    EXPANSION = 0x0F


class Expansion(IntEnum):
    """Level 3 EXPANSION (0FH) subcommands this changer answers."""

    IDENTIFICATION = 0x00
    FEATURE_ENABLE = 0x01
    SEND_DIAGNOSTIC_STATUS = 0x05


#: Data bytes after the command byte, CHK not counted (EXPANSION: see below).
COMMAND_DATA_LEN: dict[int, int] = {
    Command.RESET: 0,
    Command.SETUP: 0,
    Command.TUBE_STATUS: 0,
    Command.POLL: 0,
    Command.COIN_TYPE: 4,
    Command.DISPENSE: 1,
}
#: EXPANSION data bytes *including* the subcommand byte, CHK not counted.
#: 02H-04H (alternative payout) are known lengths, so a block can be framed
#: and skipped even though this changer does not offer that feature.
EXPANSION_DATA_LEN: dict[int, int] = {
    Expansion.IDENTIFICATION: 1,
    Expansion.FEATURE_ENABLE: 5,
    0x02: 2,  # ALTERNATIVE PAYOUT Y1
    0x03: 1,  # PAYOUT STATUS
    0x04: 1,  # PAYOUT VALUE POLL
    Expansion.SEND_DIAGNOSTIC_STATUS: 1,
}


class ChangerStatus(IntEnum):
    """POLL status codes ``0000xxxx`` (one byte each)."""

    ESCROW_REQUEST = 0x01
    CHANGER_PAYOUT_BUSY = 0x02
    NO_CREDIT = 0x03
    DEFECTIVE_TUBE_SENSOR = 0x04
    DOUBLE_ARRIVAL = 0x05
    ACCEPTOR_UNPLUGGED = 0x06
    TUBE_JAM = 0x07
    ROM_CHECKSUM_ERROR = 0x08
    COIN_ROUTING_ERROR = 0x09
    CHANGER_BUSY = 0x0A
    JUST_RESET = 0x0B
    COIN_JAM = 0x0C
    POSSIBLE_CREDITED_COIN_REMOVAL = 0x0D


class Route(IntEnum):
    """Where a deposited coin went (bits 4-5 of the POLL deposit byte)."""

    CASH_BOX = 0
    TUBES = 1
    NOT_USED = 2
    REJECT = 3


class DiagnosticStatus(IntEnum):
    """EXPANSION 05H main codes (sub code 00 for those used here)."""

    POWERING_UP = 0x01
    POWERING_DOWN = 0x02
    OK = 0x03
    KEYPAD_SHIFTED = 0x04
    INHIBITED_BY_VMC = 0x06


@dataclass(frozen=True, slots=True)
class PollItem:
    """One activity of a POLL response, as the VMC reads it.

    Attributes
    ----------
    kind : {"deposited", "dispensed", "status", "slug"}
    coin_type : int or None
        Deposited or manually dispensed coin type 0-15.
    route : Route or None
        Deposited: where it went.
    tube_count : int or None
        Deposited or dispensed: coins now in that coin type's tube.
    count : int or None
        Dispensed: coins paid out manually; slug: slugs since the last report.
    status : int or None
        Status: the code (:class:`ChangerStatus`).
    """

    kind: str
    coin_type: int | None = None
    route: Route | None = None
    tube_count: int | None = None
    count: int | None = None
    status: int | None = None

    def to_bytes(self) -> bytes:
        """The item's POLL bytes."""
        if self.kind == "deposited":
            assert self.coin_type is not None and self.route is not None
            return encode_deposit(self.coin_type, self.route, self.tube_count or 0)
        if self.kind == "status":
            assert self.status is not None
            return encode_status(self.status)
        if self.kind == "dispensed":
            assert self.coin_type is not None and self.count is not None
            return bytes((0x80 | (self.count & 7) << 4 | self.coin_type, self.tube_count or 0))
        assert self.count is not None
        return bytes((0x20 | (self.count & 0x1F),))


def encode_deposit(coin_type: int, route: Route, tube_count: int = 0) -> bytes:
    """Coins deposited: ``01RRTTTT`` then the tube count."""
    if not 0 <= coin_type < MAX_COIN_TYPES or not 0 <= tube_count <= 255:
        raise ValueError(f"coin type 0-15 and tube count 0-255, got {coin_type}, {tube_count}")
    return bytes((0x40 | int(route) << 4 | coin_type, tube_count))


def encode_status(code: int) -> bytes:
    """A status byte ``0000SSSS``."""
    if not 1 <= code <= 0x0F:
        raise ValueError(f"a changer status code is 01H-0FH, got {code}")
    return bytes((code,))


def decode_poll(data: bytes) -> list[PollItem]:
    """A POLL response's bytes (CHK removed) as items, oldest first.

    Raises
    ------
    ValueError
        A two-byte item cut short, or a byte no changer sends (``0001xxxx``,
        status 00H): a VMC must not guess at money it cannot read.
    """
    items: list[PollItem] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b & 0x80 or b & 0xC0 == 0x40:
            if i + 1 >= len(data):
                raise ValueError(f"POLL item {b:02X} lacks its tube count byte")
            tube = data[i + 1]
            if b & 0x80:
                items.append(PollItem("dispensed", b & 0x0F, None, tube, (b >> 4) & 7))
            else:
                items.append(PollItem("deposited", b & 0x0F, Route((b >> 4) & 3), tube))
            i += 2
            continue
        if b & 0xE0 == 0x20:
            items.append(PollItem("slug", count=b & 0x1F))
        elif 1 <= b <= 0x0F:
            items.append(PollItem("status", status=b))
        else:
            raise ValueError(f"POLL byte {b:02X} is no changer activity")
        i += 1
    return items


def coin_scaling(values: Sequence[int | None]) -> int:
    """SETUP's coin scaling factor: the largest that divides every coin value.

    Parameters
    ----------
    values : sequence of int or None
        Coin value in the smallest currency unit per coin type (None: unused).

    Returns
    -------
    int
        1-255, so each credit byte is ``value / scaling`` (at most 254: FFH is a token).

    Raises
    ------
    ValueError
        No common factor makes every value fit in a byte.
    """
    used = [v for v in values if v]
    if not used:
        return 1
    factor = 0
    for v in used:
        factor = gcd(factor, v)
    while factor > 255:  # a factor must fit in a byte; any divisor of it still divides all
        factor = next(d for d in range(255, 0, -1) if factor % d == 0)
    if max(used) // factor > 254:
        raise ValueError(
            f"coin values {used} cannot share one scaling factor with every credit under 255"
        )
    return factor


@dataclass(frozen=True, slots=True)
class ChangerSetup:
    """The SETUP (09H) response: Z1-Z23.

    Attributes
    ----------
    feature_level : int
        3 here.
    country_code : int
        ``0x1826`` for GBP.
    scaling : int
        Coin scaling factor: credits are multiples of it.
    decimal_places : int
        2 for pounds and pence.
    routing : int
        Bit per coin type that can go to a tube (none here: no tubes).
    credits : tuple of int
        Per coin type, value / scaling (0: unused type).
    """

    feature_level: int
    country_code: int
    scaling: int
    decimal_places: int
    routing: int
    credits: tuple[int, ...]

    @classmethod
    def for_values(
        cls,
        values: Sequence[int | None],
        *,
        country_code: int = GBP_COUNTRY_CODE,
        decimal_places: int = 2,
        routing: int = 0,
    ) -> ChangerSetup:
        """The setup of a changer whose coin type n is worth ``values[n]`` (None: unused)."""
        if len(values) > MAX_COIN_TYPES:
            raise ValueError(f"at most {MAX_COIN_TYPES} coin types, got {len(values)}")
        scaling = coin_scaling(values)
        credits = tuple((v or 0) // scaling for v in values)
        return cls(3, country_code, scaling, decimal_places, routing, credits)

    def to_bytes(self) -> bytes:
        """Z1-Z7 and one credit byte per coin type."""
        return (
            bytes((self.feature_level,))
            + self.country_code.to_bytes(2, "big")
            + bytes((self.scaling, self.decimal_places))
            + self.routing.to_bytes(2, "big")
            + bytes(self.credits)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ChangerSetup:
        """Decode Z1-Z23 (7 bytes, then 0-16 credits)."""
        if not 7 <= len(data) <= 7 + MAX_COIN_TYPES:
            raise ValueError(f"SETUP response is 7-23 bytes, got {len(data)}")
        return cls(
            feature_level=data[0],
            country_code=int.from_bytes(data[1:3], "big"),
            scaling=data[3],
            decimal_places=data[4],
            routing=int.from_bytes(data[5:7], "big"),
            credits=tuple(data[7:]),
        )

    def value_of(self, coin_type: int) -> int:
        """A coin type's value in the smallest unit (0 if unused or unknown)."""
        if not 0 <= coin_type < len(self.credits) or self.credits[coin_type] == 0xFF:
            return 0  # FFH is a vend token, worth no money
        return self.credits[coin_type] * self.scaling


@dataclass(frozen=True, slots=True)
class CoinTypeEnables:
    """The COIN TYPE (0CH) command's Y1-Y4: coin enables and manual dispense enables.

    Bit n is coin type n; on the wire Y1 is the high byte (types 15-8).
    """

    coins: int = 0
    dispense: int = 0

    def to_bytes(self) -> bytes:
        """Y1-Y4."""
        return self.coins.to_bytes(2, "big") + self.dispense.to_bytes(2, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> CoinTypeEnables:
        """Decode Y1-Y4."""
        if len(data) != 4:
            raise ValueError(f"COIN TYPE data is 4 bytes, got {len(data)}")
        return cls(int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big"))

    def enabled(self, coin_type: int) -> bool:
        """Whether the VMC lets coin type ``coin_type`` be accepted."""
        return 0 <= coin_type < MAX_COIN_TYPES and bool(self.coins >> coin_type & 1)


def _ascii(text: str, size: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > size:
        raise ValueError(f"{text!r} is longer than {size} characters")
    return raw.ljust(size, b" ")


@dataclass(frozen=True, slots=True)
class ChangerIdentity:
    """EXPANSION IDENTIFICATION (0F 00) response: Z1-Z33.

    Attributes
    ----------
    manufacturer : str
        3 ASCII characters.
    serial : str
        Up to 12 ASCII characters (space padded).
    model : str
        Up to 12 ASCII characters.
    software_version : int
        Two bytes, packed BCD by convention (``0x0100``: 1.00).
    features : int
        Optional features, 32 bits: b0 alternative payout, b1 extended
        diagnostic, b2 controlled manual fill and payout, b3 file transport.
        This changer offers extended diagnostic only.
    """

    manufacturer: str = "CVL"
    serial: str = "000000000001"
    model: str = "COINVAL-MDB"
    software_version: int = 0x0100
    features: int = 0x00000002

    def to_bytes(self) -> bytes:
        """The 33 bytes."""
        return (
            _ascii(self.manufacturer, 3)
            + _ascii(self.serial, 12)
            + _ascii(self.model, 12)
            + self.software_version.to_bytes(2, "big")
            + self.features.to_bytes(4, "big")
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ChangerIdentity:
        """Decode the 33 bytes."""
        if len(data) != 33:
            raise ValueError(f"IDENTIFICATION response is 33 bytes, got {len(data)}")
        text = data[:27].decode("ascii", errors="replace")
        return cls(
            manufacturer=text[0:3],
            serial=text[3:15].rstrip(),
            model=text[15:27].rstrip(),
            software_version=int.from_bytes(data[27:29], "big"),
            features=int.from_bytes(data[29:33], "big"),
        )
