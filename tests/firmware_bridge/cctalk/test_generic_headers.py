"""The generic specification's coin-acceptor headers that hosts ask at start-up.

Lengths are checked against the ccTalk generic specification v4.7, part 3,
table 8 ("ccTalk packet lengths"): a reply outside its RX range is what made a
third-party host stop at start-up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from firmware_bridge.cctalk.device import CoinAcceptorDevice, DeviceIdentity
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.cctalk.messages import decode_date_code, encode_date_code
from tests.firmware_bridge.cctalk.test_device import COINS, IDENTITY, ack, ask, is_nak, make_device

# header: (TX min, TX max, RX min, RX max), copied from table 8 for each header we answer
# (253/252 reply with a raw byte, not a frame, and are tested in test_device.py).
TABLE_8: dict[int, tuple[int, int, int, int]] = {
    254: (0, 0, 0, 0),
    251: (1, 1, 0, 0),
    250: (0, 0, 0, 0),
    249: (0, 0, 2, 2),
    248: (0, 0, 1, 1),
    247: (0, 0, 1, 255),
    246: (0, 0, 3, 32),
    245: (0, 0, 3, 16),
    244: (0, 0, 3, 16),
    243: (0, 0, 1, 1),
    242: (0, 0, 3, 4),
    241: (0, 0, 3, 32),
    238: (1, 2, 0, 0),
    237: (0, 0, 1, 255),
    236: (0, 0, 1, 255),
    232: (0, 0, 1, 2),
    231: (2, 2, 0, 0),  # the table allows 1-16; cctalk.md: two bytes for 16 positions
    230: (0, 0, 2, 2),
    229: (0, 0, 11, 11),
    228: (1, 1, 0, 0),
    227: (0, 0, 1, 1),
    226: (0, 0, 3, 3),
    225: (0, 0, 3, 3),
    222: (1, 1, 0, 0),
    221: (0, 0, 1, 1),
    216: (0, 0, 5, 5),
    213: (0, 0, 1, 1),
    212: (1, 1, 1, 16),
    210: (2, 2, 0, 0),  # format (a); (b) with four override paths is not offered
    209: (1, 1, 1, 4),
    197: (0, 0, 4, 4),
    196: (0, 0, 2, 2),
    195: (0, 0, 2, 2),
    194: (0, 0, 3, 3),
    193: (0, 0, 3, 3),
    192: (0, 0, 3, 32),
    189: (1, 1, 0, 0),
    188: (0, 0, 1, 1),
    185: (7, 7, 0, 0),
    184: (1, 1, 6, 6),
    170: (0, 0, 4, 4),
    169: (0, 0, 1, 1),
    4: (0, 0, 3, 3),
    3: (0, 0, 0, 0),
    2: (0, 0, 3, 3),
    1: (0, 0, 0, 0),
}

#: What python-cctalk's CCMessenger expects (its ``messages`` table): header -> body length.
PYCCTALK_LENGTHS = {195: 2, 196: 2, 197: 4, 212: 2, 243: 1, 213: 1, 4: 3, 209: None, 247: None}


def request_for(header: int, length: int) -> bytes:
    """A valid request payload of ``length`` bytes (positions and paths within range)."""
    if header == Header.ADDRESS_CHANGE:
        return b"\x07"
    if header == Header.MODIFY_SORTER_OVERRIDE_STATUS:
        return b"\xff"
    if header == Header.MODIFY_COIN_ID:
        return b"\x01GB100B"
    return bytes([1] * length)


@pytest.mark.parametrize("header", sorted(TABLE_8))
def test_every_answered_header_replies_within_table_8(header: int) -> None:
    tx_min, tx_max, rx_min, rx_max = TABLE_8[header]
    for length in {tx_min, tx_max}:
        reply = ask(make_device(), header, request_for(header, length))
        assert reply is not None and reply.header == Header.ACK, f"header {header}: {reply}"
        assert rx_min <= len(reply.data) <= rx_max, f"header {header}: {reply.data!r}"
    # One byte short or long is a host bug, and NAKed so that it shows.
    if tx_min > 0:
        assert is_nak(make_device(), header, bytes(tx_min - 1))
    assert is_nak(make_device(), header, bytes(tx_max + 1))


def test_the_table_covers_every_header_the_device_answers() -> None:
    answered = set(CoinAcceptorDevice._routes) - {Header.ADDRESS_POLL, Header.ADDRESS_CLASH}
    assert answered == set(TABLE_8)


@pytest.mark.parametrize(("header", "length"), sorted(PYCCTALK_LENGTHS.items()))
def test_the_lengths_a_third_party_host_checks(header: int, length: int | None) -> None:
    data = ack(make_device(), header, b"\x01" if header in (209, 212) else b"")
    assert length is None or len(data) == length


@pytest.mark.parametrize("position", range(1, 17))
def test_coin_position_is_the_inhibit_bit_of_the_credit_code(position: int) -> None:
    device = make_device()
    mask = int.from_bytes(ack(device, Header.REQUEST_COIN_POSITION, bytes([position])), "little")
    assert mask == 1 << (position - 1)
    # Sent back with 231, the mask enables exactly that credit code's position.
    ack(device, Header.MODIFY_INHIBIT_STATUS, mask.to_bytes(2, "little"))
    ack(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01")
    ack(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES)
    accepting = [p for p in range(1, 17) if device.is_accepting(p, 0.0)]
    assert accepting == ([position] if COINS[position - 1 : position] not in ([], [None]) else [])


@pytest.mark.parametrize("code", [0, 17, 255])
def test_coin_position_of_no_credit_code_is_nak(code: int) -> None:
    assert is_nak(make_device(), Header.REQUEST_COIN_POSITION, bytes([code]))


def test_product_facts_default_to_the_specifications_none() -> None:
    device = CoinAcceptorDevice(COINS)
    assert ack(device, Header.REQUEST_DATABASE_VERSION) == b"\x00"  # no remote programming
    assert ack(device, Header.REQUEST_VARIABLE_SET) == bytes([16, 1])  # positions, banks
    assert ack(device, Header.CALCULATE_ROM_CHECKSUM) == bytes(4)
    assert ack(device, Header.REQUEST_CREATION_DATE) == b"\x00\x00"  # no date recorded
    assert ack(device, Header.REQUEST_LAST_MODIFICATION_DATE) == b"\x00\x00"
    assert ack(device, Header.REQUEST_BASE_YEAR) == b"2000"
    assert ack(device, Header.REQUEST_DATA_STORAGE_AVAILABILITY) == bytes(5)  # no storage
    assert ack(device, Header.READ_INPUT_LINES) == b"\x00"
    assert ack(device, Header.REQUEST_SORTER_OVERRIDE_STATUS) == b"\xff"  # no override
    assert ack(device, Header.REQUEST_ADDRESS_MODE) == bytes([0b0100_0010])


def test_product_facts_come_from_the_identity() -> None:
    identity = DeviceIdentity(
        database_version=7,
        variable_set=(16, 2, 9),
        rom_checksum=0x12345678,
        base_year=2020,
        creation_date=dt.date(2024, 6, 1),
        modification_date=dt.date(2025, 12, 31),
    )
    device = make_device(identity=identity)
    assert ack(device, Header.REQUEST_DATABASE_VERSION) == b"\x07"
    assert ack(device, Header.REQUEST_VARIABLE_SET) == bytes([16, 2, 9])
    assert ack(device, Header.CALCULATE_ROM_CHECKSUM) == bytes.fromhex("78563412")
    assert ack(device, Header.REQUEST_BASE_YEAR) == b"2020"
    created = ack(device, Header.REQUEST_CREATION_DATE)
    # RTBY: 4 years after 2020 in bits 9-13, June in 5-8, the 1st in 0-4.
    assert int.from_bytes(created, "little") == 4 << 9 | 6 << 5 | 1
    assert decode_date_code(created, 2020) == dt.date(2024, 6, 1)
    modified = ack(device, Header.REQUEST_LAST_MODIFICATION_DATE)
    assert decode_date_code(modified, 2020) == dt.date(2025, 12, 31)


@pytest.mark.parametrize(
    "bad",
    [
        {"database_version": 256},
        {"variable_set": ()},
        {"variable_set": (300,)},
        {"rom_checksum": 1 << 32},
        {"base_year": 99},
        {"creation_date": dt.date(1999, 1, 1)},  # before the base year
        {"modification_date": dt.date(2032, 1, 1)},  # more than 31 years after
    ],
)
def test_identity_refuses_what_the_wire_cannot_carry(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DeviceIdentity(**bad)


def test_date_code_round_trip_and_none() -> None:
    assert encode_date_code(None, 2000) == b"\x00\x00"
    assert decode_date_code(b"\x00\x00", 2000) is None
    for day in (dt.date(2000, 1, 1), dt.date(2031, 12, 31), dt.date(2016, 2, 29)):
        assert decode_date_code(encode_date_code(day, 2000), 2000) == day


def test_default_sorter_path_is_kept_and_checked() -> None:
    device = make_device()
    assert ack(device, Header.REQUEST_DEFAULT_SORTER_PATH) == b"\x00"
    ack(device, Header.MODIFY_DEFAULT_SORTER_PATH, b"\x03")
    assert ack(device, Header.REQUEST_DEFAULT_SORTER_PATH) == b"\x03"
    assert device.default_sorter_path == 3
    assert is_nak(device, Header.MODIFY_DEFAULT_SORTER_PATH, b"\x09")  # 8 paths at most
    ack(device, Header.RESET_DEVICE)  # configuration, like the per-coin paths: kept
    assert ack(device, Header.REQUEST_DEFAULT_SORTER_PATH) == b"\x03"


def test_a_sorter_override_cannot_be_set() -> None:
    device = make_device()
    ack(device, Header.MODIFY_SORTER_OVERRIDE_STATUS, b"\xff")  # "normal sorting": true already
    assert is_nak(device, Header.MODIFY_SORTER_OVERRIDE_STATUS, b"\xfe")  # override path 1
    assert ack(device, Header.REQUEST_SORTER_OVERRIDE_STATUS) == b"\xff"


def test_power_management_is_not_a_coin_acceptor_header() -> None:
    """211 has no device class in the cross reference; it stays an unknown header."""
    device = make_device()
    assert ask(device, 211, b"\x00") is None
    assert device.unknown_requests == 1


def test_identity_in_the_shared_fixture_keeps_the_new_defaults() -> None:
    assert IDENTITY.database_version == 0 and IDENTITY.variable_set == (16, 1)
