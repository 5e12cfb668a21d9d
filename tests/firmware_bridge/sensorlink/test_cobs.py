"""COBS: the published examples, round trips, and hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.sensorlink import cobs

# The examples of the COBS paper / the Wikipedia article, including every block-length edge.
PUBLISHED = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize(("raw", "encoded"), PUBLISHED)
def test_published_examples(raw: bytes, encoded: bytes) -> None:
    assert cobs.encode(raw) == encoded
    assert cobs.decode(encoded) == raw


@given(st.binary(max_size=2000))
def test_round_trip_and_no_zero(data: bytes) -> None:
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert len(encoded) <= cobs.max_encoded_len(len(data))
    assert cobs.decode(encoded) == data


@given(st.integers(0, 1200), st.sampled_from([0, 1, 0x55]))
def test_runs_around_block_boundaries(n: int, fill: int) -> None:
    data = bytes([fill]) * n
    assert cobs.decode(cobs.encode(data)) == data


@given(st.binary(max_size=600))
def test_arbitrary_input_decodes_or_raises_decode_error(data: bytes) -> None:
    with contextlib.suppress(cobs.CobsDecodeError):
        cobs.decode(data)


def test_rejects_zero_and_overrun() -> None:
    with pytest.raises(cobs.CobsDecodeError):
        cobs.decode(b"\x03\x11\x00")
    with pytest.raises(cobs.CobsDecodeError):
        cobs.decode(b"\x05\x11\x22")
