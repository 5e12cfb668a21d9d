"""ccTalk payload encodings shared by the device and the host (pymodbus' "PDU" layer).

Each helper turns one kind of request/reply payload into Python values and back,
so that the device and the host cannot disagree on byte order or mask layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

__all__ = [
    "COIN_ID_LEN",
    "EMPTY_COIN_ID",
    "MAX_POSITIONS",
    "decode_date_code",
    "decode_inhibit_mask",
    "decode_u24",
    "encode_date_code",
    "encode_inhibit_mask",
    "encode_u24",
    "is_valid_coin_id",
    "normalise_coin_ids",
]

#: A coin acceptor has up to 16 coin positions (two inhibit mask bytes).
MAX_POSITIONS = 16
COIN_ID_LEN = 6
#: Header 184's answer for a position that holds no coin.
EMPTY_COIN_ID = "......"


def encode_u24(value: int) -> bytes:
    """Three bytes, LSB first (serial number, counters 226/225/194/193).

    Values above 2**24 - 1 saturate rather than wrap: a lifetime counter that
    reads lower than before would look like a reset to the host.
    """
    if value < 0:
        raise ValueError(f"counter cannot be negative, got {value}")
    return min(value, 0xFFFFFF).to_bytes(3, "little")


def decode_u24(data: bytes) -> int:
    """Inverse of :func:`encode_u24`; ``data`` must be exactly 3 bytes."""
    if len(data) != 3:
        raise ValueError(f"expected 3 bytes, got {len(data)}")
    return int.from_bytes(data, "little")


def encode_inhibit_mask(mask: int) -> bytes:
    """Header 231/230 payload: ``[mask 1][mask 2]``.

    Bit set = coin enabled; bit 0 of mask 1 is position 1, bit 7 of mask 2 is
    position 16.  Always two bytes (a one-byte mask is a known mistake).
    """
    if not 0 <= mask <= 0xFFFF:
        raise ValueError(f"inhibit mask is 16 bits, got {mask:#x}")
    return mask.to_bytes(2, "little")


def decode_inhibit_mask(data: bytes) -> int:
    """Inverse of :func:`encode_inhibit_mask`; ``data`` must be exactly 2 bytes."""
    if len(data) != 2:
        raise ValueError(f"inhibit mask is 2 bytes, got {len(data)}")
    return int.from_bytes(data, "little")


def encode_date_code(date: dt.date | None, base_year: int) -> bytes:
    """Headers 196/195 payload: ``[date code LSB][date code MSB]``.

    The generic specification's RTBY format (relative to base year): bits 0-4
    day, 5-8 month, 9-13 years after ``base_year`` (header 170), 14-15 reserved.
    ``None`` (no date recorded) is code 0: day 0 and month 0 are no date, so a
    host cannot mistake it for one.
    """
    if date is None:
        return b"\x00\x00"
    years = date.year - base_year
    if not 0 <= years <= 31:
        raise ValueError(f"{date} is not within 31 years after the base year {base_year}")
    return (years << 9 | date.month << 5 | date.day).to_bytes(2, "little")


def decode_date_code(data: bytes, base_year: int) -> dt.date | None:
    """Inverse of :func:`encode_date_code`; ``None`` for code 0."""
    if len(data) != 2:
        raise ValueError(f"date code is 2 bytes, got {len(data)}")
    code = int.from_bytes(data, "little")
    if code == 0:
        return None
    return dt.date(base_year + (code >> 9 & 0x1F), code >> 5 & 0x0F, code & 0x1F)


def is_valid_coin_id(coin_id: str) -> bool:
    """Whether ``coin_id`` is six printable ASCII characters (``......`` included)."""
    return len(coin_id) == COIN_ID_LEN and all(" " <= ch <= "~" for ch in coin_id)


def normalise_coin_ids(coin_ids: Sequence[str | None]) -> list[str | None]:
    """Validate and pad a position -> coin id list to 16 entries.

    Parameters
    ----------
    coin_ids : sequence of str or None
        Index 0 is position 1.  ``None`` or ``"......"`` marks an unused position.

    Returns
    -------
    list of str or None
        Exactly 16 entries, ``None`` for unused positions.
    """
    if len(coin_ids) > MAX_POSITIONS:
        raise ValueError(f"at most {MAX_POSITIONS} coin positions, got {len(coin_ids)}")
    out: list[str | None] = []
    for index, coin_id in enumerate(coin_ids, start=1):
        if coin_id is None or coin_id == EMPTY_COIN_ID:
            out.append(None)
        elif is_valid_coin_id(coin_id):
            out.append(coin_id)
        else:
            raise ValueError(f"position {index}: coin id must be 6 ASCII chars, got {coin_id!r}")
    out.extend([None] * (MAX_POSITIONS - len(out)))
    return out
