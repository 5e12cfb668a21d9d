"""Values that cross the device's boundary: events out, replies out, identity in.

Kept apart from :mod:`firmware_bridge.cctalk.device` so the runtime can import
the event types without the state machine, and so the state machine module is
about behaviour only.  Every event is a frozen dataclass (h11 style).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from firmware_bridge.cctalk.credit_buffer import BufferedEvent
from firmware_bridge.cctalk.frame import Frame
from firmware_bridge.cctalk.messages import MAX_POSITIONS, encode_date_code

__all__ = [
    "AddressChanged",
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


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Polled:
    """The host sent a valid request addressed to this device."""

    now: float
    header: int


@dataclass(frozen=True, slots=True)
class InhibitsChanged:
    """Header 231 changed the inhibit mask (bit set = position enabled)."""

    mask: int


@dataclass(frozen=True, slots=True)
class MasterInhibitChanged:
    """Header 228 changed the master inhibit (``True`` = every coin refused)."""

    inhibited: bool


@dataclass(frozen=True, slots=True)
class ResetRequested:
    """Header 1: the device was put back into its power-up state."""

    now: float


@dataclass(frozen=True, slots=True)
class AddressChanged:
    """Header 251 or 250 moved the device to a new bus address."""

    old: int
    new: int


@dataclass(frozen=True, slots=True)
class SorterPathChanged:
    """Header 210 set a position's sorter path."""

    position: int
    path: int


@dataclass(frozen=True, slots=True)
class CoinIdChanged:
    """Header 185 renamed a position (``None`` = position now unused)."""

    position: int
    coin_id: str | None


@dataclass(frozen=True, slots=True)
class CreditBufferRead:
    """Header 229 was answered: the host was served the buffer at ``counter``.

    Every result the reply carried now counts as read by the host (see
    :class:`~firmware_bridge.cctalk.credit_buffer.CreditBuffer`); a ``counter``
    of 0 is the host reading the power-up state.
    """

    now: float
    counter: int


@dataclass(frozen=True, slots=True)
class EventOverwritten:
    """An event the host had not read was pushed out of the 229 buffer."""

    lost: BufferedEvent
    total: int


DeviceEvent = (
    Polled
    | InhibitsChanged
    | MasterInhibitChanged
    | ResetRequested
    | AddressChanged
    | SorterPathChanged
    | CoinIdChanged
    | CreditBufferRead
    | EventOverwritten
)


# ------------------------------------------------------------------ values in/out


@dataclass(frozen=True, slots=True)
class Reply:
    """Bytes the device must write in answer to one request.

    Attributes
    ----------
    data : bytes
        Wire bytes: an encoded reply frame, or one raw address byte (253/252).
    delay_s : float
        Seconds to wait after the request before writing (address poll and
        address clash); 0 for everything else.
    request : Frame
        The request answered.
    """

    data: bytes
    delay_s: float
    request: Frame


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What the device says about itself.

    Headers 246, 245, 244, 242, 241, 192 and 4, and the product facts of
    243, 247, 197, 196, 195 and 170.  Where a coin acceptor has no such value,
    the default is the one the generic specification gives for "none".

    Attributes
    ----------
    manufacturer_id, equipment_category, product_code, software_revision, build_code : str
        ASCII strings, at most 255 characters.
    serial_number : int
        0 to 2**24 - 1, sent as 3 bytes LSB first.
    comms_revision : tuple of int
        ``(release, major, minor)`` of the ccTalk spec implemented.
    polling_priority : tuple of int
        ``(units, value)`` for header 249.  Units follow the generic spec's table
        (1 = ms, 2 = x10 ms, 3 = s, ...); the default asks for 200 ms, well inside
        the 1 s after which the device stops accepting.
    database_version : int
        Header 243: calibration database number 1-255 for remote coin
        programming; 0 (the default) says remote programming is not possible
        (coins are taught through the calibration service, not over ccTalk).
    variable_set : tuple of int
        Header 247: 1 to 255 product-defined bytes.  The default follows the two
        variables the specification defines for bill validators, which hosts
        read the same way here: coin positions supported (16) and banks (1).
    rom_checksum : int
        Header 197: 32-bit firmware checksum, sent LSB first; how it is computed
        is the product's choice (0 until a build records one).
    base_year : int
        Header 170 (sent as 4 ASCII digits): the year the date codes count from.
    creation_date, modification_date : datetime.date or None
        Headers 196 and 195, RTBY date codes; ``None`` (no date recorded) is code 0.
    """

    manufacturer_id: str = "Coinval"
    equipment_category: str = "Coin Acceptor"
    product_code: str = "CV-1"
    serial_number: int = 1
    software_revision: str = "0.1.0"
    build_code: str = "STD"
    comms_revision: tuple[int, int, int] = (1, 4, 7)
    polling_priority: tuple[int, int] = (1, 200)
    database_version: int = 0
    variable_set: tuple[int, ...] = (MAX_POSITIONS, 1)
    rom_checksum: int = 0
    base_year: int = 2000
    creation_date: dt.date | None = None
    modification_date: dt.date | None = None

    def __post_init__(self) -> None:
        for name in (
            "manufacturer_id",
            "equipment_category",
            "product_code",
            "software_revision",
            "build_code",
        ):
            text = getattr(self, name)
            if not text.isascii() or len(text) > 255:
                raise ValueError(f"{name} must be ASCII of at most 255 chars, got {text!r}")
        if not 0 <= self.serial_number <= 0xFFFFFF:
            raise ValueError(f"serial number is 3 bytes, got {self.serial_number}")
        if not all(0 <= b <= 255 for b in (*self.comms_revision, *self.polling_priority)):
            raise ValueError("comms revision and polling priority are bytes")
        if not 0 <= self.database_version <= 255:
            raise ValueError(f"database version is a byte, got {self.database_version}")
        if not 1 <= len(self.variable_set) <= 255 or not all(
            0 <= b <= 255 for b in self.variable_set
        ):
            raise ValueError("variable set is 1 to 255 bytes")
        if not 0 <= self.rom_checksum <= 0xFFFFFFFF:
            raise ValueError(f"ROM checksum is 4 bytes, got {self.rom_checksum}")
        if not 1000 <= self.base_year <= 9999:
            raise ValueError(f"base year is 4 digits, got {self.base_year}")
        for date in (self.creation_date, self.modification_date):
            encode_date_code(date, self.base_year)  # raises for a date it cannot code


@dataclass(slots=True)
class CoinCounters:
    """Lifetime counters for headers 226, 225, 194 and 193.

    ``insertion == accept + reject`` always holds; ``fraud`` additionally counts
    fraud codes (17, 20, 24, 25, 40) whether or not they were coins.
    """

    insertion: int = 0
    accept: int = 0
    reject: int = 0
    fraud: int = 0
