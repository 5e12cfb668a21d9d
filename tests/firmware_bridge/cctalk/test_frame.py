"""Framer tests: known vectors from reference/cctalk.md, codec, incremental parser."""

from __future__ import annotations

import itertools
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from firmware_bridge.cctalk.frame import (
    MIN_FRAME_LEN,
    ChecksumMode,
    Frame,
    FrameError,
    FrameParser,
    checksum_ok,
    crc16_xmodem,
    decode_frame,
    encode_frame,
)

MODES: tuple[ChecksumMode, ...] = ("simple", "crc16")

# ------------------------------------------------------------------ vectors


def test_serial_number_request_vector() -> None:
    # cctalk.md: host (1) asks device 2 for its serial number (242).
    assert encode_frame(Frame(dest=2, src=1, header=242)) == bytes.fromhex("02 00 01 F2 0B")
    assert decode_frame(bytes.fromhex("02 00 01 F2 0B")) == Frame(2, 1, 242)


def test_bare_ack_vector() -> None:
    assert encode_frame(Frame(dest=1, src=2, header=0)) == bytes.fromhex("01 00 02 00 FD")
    assert decode_frame(bytes.fromhex("01 00 02 00 FD")) == Frame(1, 2, 0)


def test_crc16_check_value() -> None:
    assert crc16_xmodem(bytes.fromhex("28 00 01")) == 0x3F46
    # The classic XMODEM check string, to pin poly/init/reflection together.
    assert crc16_xmodem(b"123456789") == 0x31C3


def test_crc16_frame_layout() -> None:
    # CRC over dest, len, header: low byte in the src slot, high byte last.
    wire = encode_frame(Frame(dest=0x28, src=1, header=1), "crc16")
    assert wire == bytes.fromhex("28 00 46 01 3F")
    assert decode_frame(wire, "crc16") == Frame(0x28, 1, 1)


def test_crc16_with_data_round_trip() -> None:
    frame = Frame(dest=2, src=1, header=231, data=b"\xff\x00")
    wire = encode_frame(frame, "crc16")
    crc = crc16_xmodem(bytes((2, 2, 231)) + b"\xff\x00")
    assert wire[2] == crc & 0xFF and wire[-1] == crc >> 8
    assert decode_frame(wire, "crc16") == frame


# --------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x02\x00\x01", bytes.fromhex("02 01 01 F2 0B"), bytes.fromhex("02 00 01 F2 0C")],
    ids=["empty", "short", "length-mismatch", "bad-checksum"],
)
def test_decode_rejects_bad_frames(raw: bytes) -> None:
    with pytest.raises(FrameError):
        decode_frame(raw)


def test_decode_rejects_bad_crc() -> None:
    wire = bytearray(encode_frame(Frame(2, 1, 254), "crc16"))
    wire[-1] ^= 0x01
    with pytest.raises(FrameError):
        decode_frame(bytes(wire), "crc16")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dest": 256, "src": 1, "header": 0},
        {"dest": 2, "src": -1, "header": 0},
        {"dest": 2, "src": 1, "header": 300},
        {"dest": 2, "src": 1, "header": 0, "data": bytes(256)},
    ],
)
def test_frame_validates_fields(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Frame(**kwargs)


def test_unknown_checksum_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_frame(Frame(2, 1, 254), cast(ChecksumMode, "xor"))
    with pytest.raises(ValueError):
        FrameParser(cast(ChecksumMode, "xor"))


# -------------------------------------------------------------------- parser

POLL = bytes.fromhex("02 00 01 FE FF")
SERIAL = bytes.fromhex("02 00 01 F2 0B")


def test_parser_whole_frames_and_byte_by_byte() -> None:
    parser = FrameParser()
    assert parser.feed(POLL + SERIAL, 0.0) == [Frame(2, 1, 254), Frame(2, 1, 242)]
    frames = []
    for i, byte in enumerate(SERIAL):
        frames += parser.feed(bytes((byte,)), 1.0 + i * 0.001)
    assert frames == [Frame(2, 1, 242)]
    assert parser.pending == 0
    assert parser.stats.frames == 3


def test_parser_gap_over_50ms_discards_partial_frame() -> None:
    parser = FrameParser()
    assert parser.feed(SERIAL[:3], 0.0) == []
    # 60 ms later the rest arrives: too late, the partial frame is gone.
    assert parser.feed(SERIAL[3:], 0.060) == []
    assert parser.stats.rx_timeouts == 1
    # After another gap a whole frame is read normally (resynchronised).
    assert parser.feed(SERIAL, 0.200) == [Frame(2, 1, 242)]


def test_parser_gap_under_50ms_keeps_partial_frame() -> None:
    parser = FrameParser()
    assert parser.feed(SERIAL[:3], 0.0) == []
    assert parser.feed(SERIAL[3:], 0.049) == [Frame(2, 1, 242)]
    assert parser.stats.rx_timeouts == 0


def test_parser_expire_without_new_data() -> None:
    parser = FrameParser()
    parser.feed(SERIAL[:4], 0.0)
    assert parser.feed(b"", 0.01) == []
    assert parser.pending == 4
    assert parser.feed(b"", 0.1) == []
    assert parser.pending == 0
    assert parser.stats.rx_timeouts == 1


def test_parser_slides_one_byte_after_bad_checksum() -> None:
    # Junk whose candidates are complete but bad: 00 00 00 01 02 (sum 3) is
    # rejected, the parser slides one byte at a time and lands on SERIAL.
    parser = FrameParser()
    frames = parser.feed(bytes.fromhex("00 00 00 01") + SERIAL + POLL, 0.0)
    assert frames == [Frame(2, 1, 242), Frame(2, 1, 254)]
    assert parser.stats.bad_checksums == 1
    assert parser.stats.bytes_ignored == 4


def test_parser_salvages_frame_behind_stray_byte_at_gap() -> None:
    # One stray byte makes the request read as a 7-byte frame that never ends.
    parser = FrameParser()
    assert parser.feed(b"\xaa" + SERIAL, 0.0) == []
    assert parser.feed(b"", 0.051) == [Frame(2, 1, 242)]
    assert parser.stats.bytes_ignored == 1
    assert parser.stats.rx_timeouts == 0


def test_parser_counts_one_bad_checksum_per_corrupted_request() -> None:
    parser = FrameParser()
    corrupted = bytes.fromhex("02 00 01 F2 0C")
    assert parser.feed(corrupted, 0.0) == []
    assert parser.feed(b"", 0.2) == []
    assert parser.stats.bad_checksums == 1
    assert parser.stats.bytes_ignored == len(corrupted)
    assert parser.feed(SERIAL, 0.3) == [Frame(2, 1, 242)]


def test_parser_backwards_clock_is_not_a_gap() -> None:
    parser = FrameParser()
    parser.feed(SERIAL[:2], 10.0)
    assert parser.feed(SERIAL[2:], 5.0) == [Frame(2, 1, 242)]


def test_parser_crc_mode_reports_implied_source() -> None:
    parser = FrameParser("crc16", implied_src=7)
    wire = encode_frame(Frame(2, 1, 229), "crc16")
    assert parser.feed(wire, 0.0) == [Frame(2, 7, 229)]
    # A simple-checksum frame is noise on a CRC bus.
    assert parser.feed(SERIAL, 1.0) == []


# ---------------------------------------------------------------- properties

frames_st = st.builds(
    Frame,
    dest=st.integers(0, 255),
    src=st.integers(0, 255),
    header=st.integers(0, 255),
    data=st.binary(max_size=255),
)
modes_st: st.SearchStrategy[ChecksumMode] = st.sampled_from(MODES)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(frame=frames_st, mode=modes_st)
def test_encode_decode_round_trip(frame: Frame, mode: ChecksumMode) -> None:
    wire = encode_frame(frame, mode)
    assert len(wire) == MIN_FRAME_LEN + len(frame.data)
    decoded = decode_frame(wire, mode, implied_src=frame.src)
    assert decoded == frame


@given(
    chunks=st.lists(st.tuples(st.binary(max_size=300), st.floats(0, 0.2)), max_size=30),
    mode=modes_st,
)
def test_garbage_never_raises_and_every_byte_is_accounted(
    chunks: list[tuple[bytes, float]], mode: ChecksumMode
) -> None:
    parser = FrameParser(mode)
    now, fed, delivered = 0.0, 0, 0
    for data, dt in chunks:
        now += dt
        for frame in parser.feed(data, now):
            wire = encode_frame(frame, mode)
            assert checksum_ok(wire, mode)
            delivered += len(wire)
        fed += len(data)
        assert parser.pending < 260  # bounded, whatever arrives
    assert fed == delivered + parser.stats.bytes_ignored + parser.pending


@given(
    frames=st.lists(frames_st, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
    gaps=st.lists(st.floats(0, 0.049), min_size=1),
    mode=modes_st,
)
def test_frames_split_at_arbitrary_points_are_found(
    frames: list[Frame], cuts: list[int], gaps: list[float], mode: ChecksumMode
) -> None:
    stream = b"".join(encode_frame(f, mode) for f in frames)
    parser = FrameParser(mode, implied_src=0)
    out, now = [], 0.0
    for i, chunk in enumerate(_split(stream, cuts)):
        now += gaps[i % len(gaps)]
        out += parser.feed(chunk, now)
    expected = [f if mode == "simple" else Frame(f.dest, 0, f.header, f.data) for f in frames]
    assert out == expected


@given(
    before=st.binary(max_size=80),
    after=st.binary(max_size=80),
    frame=frames_st,
    cuts=st.lists(st.integers(0, 300), max_size=6),
    mode=modes_st,
)
def test_frame_after_garbage_and_a_gap_is_found(
    before: bytes, after: bytes, frame: Frame, cuts: list[int], mode: ChecksumMode
) -> None:
    parser = FrameParser(mode, implied_src=frame.src)
    parser.feed(before, 0.0)
    found = []
    now = 0.1  # the gap ends whatever junk came before
    for chunk in _split(encode_frame(frame, mode), cuts):
        found += parser.feed(chunk, now)
        now += 0.01
    parser.feed(after, now)
    assert found[-1:] == [frame]


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(
    before=st.binary(min_size=1, max_size=40),
    frame=frames_st,
    cuts=st.lists(st.integers(0, 700), max_size=8),
    mode=modes_st,
)
def test_frame_embedded_in_garbage_without_gap_is_found(
    before: bytes, frame: Frame, cuts: list[int], mode: ChecksumMode
) -> None:
    wire = encode_frame(frame, mode)
    stream = before + wire + b"\x55" * 260  # a long tail completes every candidate
    # The one thing no parser can do is tell a real frame from junk that happens
    # to be valid: require that no frame-sized window starting in the junk is
    # valid, then the real frame must be the first one delivered.
    for start in range(len(before)):
        end = start + stream[start + 1] + MIN_FRAME_LEN
        assume(not checksum_ok(stream[start:end], mode))
    parser = FrameParser(mode, implied_src=frame.src)
    found: list[Frame] = []
    for i, chunk in enumerate(_split(stream, cuts)):
        found += parser.feed(chunk, i * 0.001)
    assert found[:1] == [frame]
