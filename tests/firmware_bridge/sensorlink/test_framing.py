"""Framing: CRC, resync after garbage, arbitrary chunking, bounded buffering."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.sensorlink import LinkError, LinkErrorKind, cobs
from firmware_bridge.sensorlink.faults import flip_bit, random_chunks, split_at
from firmware_bridge.sensorlink.framing import (
    MAX_FRAME_SIZE,
    Frame,
    FrameDecoder,
    FrameTooLargeError,
    encode_frame,
)

payloads = st.binary(max_size=300)
types_ = st.integers(0, 255)
seqs = st.integers(1, 2**32 - 1)


def drain(decoder: FrameDecoder) -> list[Frame | LinkError]:
    out: list[Frame | LinkError] = []
    while (item := decoder.next_frame()) is not None:
        out.append(item)
    return out


def frames_in(items: list[Frame | LinkError]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def test_crc_is_zlib_crc32_iso_hdlc() -> None:
    # The check value quoted in docs/sensor-link.md.
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_layout_of_one_frame() -> None:
    wire = encode_frame(0x11, 0x01020304, b"\xaa")
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    decoded = cobs.decode(wire[:-1])
    body = b"\x01\x11\x04\x03\x02\x01\xaa"
    assert decoded == body + struct.pack("<I", zlib.crc32(body))


@given(types_, seqs, payloads, st.data())
def test_frame_round_trip_in_any_chunks(
    msg_type: int, seq: int, payload: bytes, data: st.DataObject
) -> None:
    wire = encode_frame(msg_type, seq, payload)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    decoder = FrameDecoder()
    for chunk in split_at(wire, cuts):
        decoder.feed(chunk)
    assert drain(decoder) == [Frame(msg_type, seq, payload)]


@given(st.binary(max_size=2000), st.integers(1, 64), st.randoms(use_true_random=False))
def test_garbage_never_raises(garbage: bytes, max_chunk: int, rng: random.Random) -> None:
    decoder = FrameDecoder(max_frame=512)
    for chunk in random_chunks(garbage, rng, max_chunk):
        decoder.feed(chunk)
        for item in drain(decoder):
            assert isinstance(item, (Frame, LinkError))
    assert decoder.buffered <= cobs.max_encoded_len(512)


@given(
    st.binary(max_size=300),
    types_,
    seqs,
    payloads,
    st.binary(max_size=300),
    st.integers(1, 40),
    st.randoms(use_true_random=False),
)
def test_frame_surrounded_by_garbage_is_recovered(
    before: bytes,
    msg_type: int,
    seq: int,
    payload: bytes,
    after: bytes,
    max_chunk: int,
    rng: random.Random,
) -> None:
    # Garbage ends at a delimiter before the frame (else it would run into the
    # frame, which is then lost, not altered: see the fault-injection tests).
    stream = before + b"\x00" + encode_frame(msg_type, seq, payload) + after
    decoder = FrameDecoder()
    items: list[Frame | LinkError] = []
    for chunk in random_chunks(stream, rng, max_chunk):
        decoder.feed(chunk)
        items += drain(decoder)
    assert frames_in(items) == [Frame(msg_type, seq, payload)]


@given(types_, seqs, payloads, st.data())
def test_a_flipped_bit_in_the_frame_is_a_crc_error(
    msg_type: int, seq: int, payload: bytes, data: st.DataObject
) -> None:
    decoded = cobs.decode(encode_frame(msg_type, seq, payload)[:-1])
    bit = data.draw(st.integers(0, len(decoded) * 8 - 1))
    decoder = FrameDecoder()
    decoder.feed(cobs.encode(flip_bit(decoded, bit)) + b"\x00")
    [item] = drain(decoder)
    assert isinstance(item, LinkError)
    assert item.kind is LinkErrorKind.CRC


@given(types_, seqs, payloads, st.data())
def test_a_flipped_bit_on_the_wire_never_delivers_a_frame(
    msg_type: int, seq: int, payload: bytes, data: st.DataObject
) -> None:
    wire = encode_frame(msg_type, seq, payload)
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    decoder = FrameDecoder()
    decoder.feed(flip_bit(wire, bit))
    assert frames_in(drain(decoder)) == []


@given(st.integers(1, 5000), st.integers(1, 700), st.randoms(use_true_random=False))
def test_oversize_runs_are_bounded_and_reported_once(
    extra: int, max_chunk: int, rng: random.Random
) -> None:
    max_frame = 256
    limit = cobs.max_encoded_len(max_frame)
    good = encode_frame(1, 1, b"ok")
    stream = b"\x55" * (limit + extra) + b"\x00" + good
    decoder = FrameDecoder(max_frame=max_frame)
    items: list[Frame | LinkError] = []
    for chunk in random_chunks(stream, rng, max_chunk):
        decoder.feed(chunk)
        assert decoder.buffered <= limit
        items += drain(decoder)
    errors = [i for i in items if isinstance(i, LinkError)]
    assert [e.kind for e in errors] == [LinkErrorKind.OVERSIZE]
    assert frames_in(items) == [Frame(1, 1, b"ok")]
    assert decoder.bytes_discarded == limit + extra


def test_a_megabyte_without_delimiter_is_not_buffered() -> None:
    decoder = FrameDecoder()
    for _ in range(64):
        decoder.feed(b"\xff" * 16384)
        assert decoder.buffered <= cobs.max_encoded_len(MAX_FRAME_SIZE)
    assert [i.kind for i in drain(decoder) if isinstance(i, LinkError)] == [LinkErrorKind.OVERSIZE]


def test_decoded_size_limit_is_exact() -> None:
    # One byte of payload short of the limit and at it: accepted; one over: refused.
    fits = MAX_FRAME_SIZE - 10
    decoder = FrameDecoder()
    decoder.feed(encode_frame(1, 1, bytes(fits)))
    assert frames_in(drain(decoder)) == [Frame(1, 1, bytes(fits))]
    with pytest.raises(FrameTooLargeError):
        encode_frame(1, 1, bytes(fits + 1))
    # A peer that ignores the limit: its frame is refused, never delivered.
    body = b"\x01\x01\x01\x00\x00\x00" + b"\x11" * (fits + 1)
    decoder.feed(cobs.encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00")
    assert [i.kind for i in drain(decoder) if isinstance(i, LinkError)] == [LinkErrorKind.OVERSIZE]


def test_idle_fill_is_silent_and_header_errors_are_named() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00\x00")
    assert drain(decoder) == []

    def raw(body: bytes) -> bytes:
        return cobs.encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"

    decoder.feed(raw(b"\x01\x01"))  # shorter than header + CRC
    decoder.feed(raw(b"\x02\x10\x05\x00\x00\x00"))  # version 2
    decoder.feed(raw(b"\x01\x10\x00\x00\x00\x00"))  # seq 0
    decoder.feed(b"\x05\x01\x00")  # bad COBS
    items = drain(decoder)
    assert all(isinstance(i, LinkError) for i in items)
    kinds = [i.kind for i in items if isinstance(i, LinkError)]
    assert kinds == [
        LinkErrorKind.SHORT_FRAME,
        LinkErrorKind.VERSION,
        LinkErrorKind.MALFORMED,
        LinkErrorKind.COBS,
    ]
    version_error = items[1]
    assert isinstance(version_error, LinkError)
    assert (version_error.seq, version_error.message_type) == (5, 0x10)


@pytest.mark.parametrize("bad", [(-1, 1), (256, 1), (1, 0), (1, 2**32)])
def test_encode_refuses_bad_header(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        encode_frame(bad[0], bad[1], b"")
