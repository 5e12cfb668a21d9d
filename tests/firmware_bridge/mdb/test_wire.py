"""Words, CHK, the two byte encodings and the command/response parsers; property tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.mdb.framing import (
    BadResponse,
    CommandBlock,
    CommandParser,
    DataResponse,
    Handshake,
    PeripheralAck,
    PeripheralNak,
    ResponseParser,
)
from firmware_bridge.mdb.wire import (
    ParmrkDecoder,
    TwoByteDecoder,
    encode_two_byte,
    parity_runs,
    parmrk_stream,
)
from firmware_bridge.mdb.words import (
    block_checksum,
    format_words,
    parse_words,
    peripheral_block,
    vmc_block,
)

words_st = st.lists(st.integers(0, 0x1FF), max_size=60)
FAST = settings(max_examples=150, deadline=None)


# ------------------------------------------------------------------ vectors


def test_vectors_in_two_byte_form() -> None:
    assert encode_two_byte(vmc_block(0x08)).hex(" ") == "01 08 00 08"  # RESET
    assert encode_two_byte(vmc_block(0x0B)).hex(" ") == "01 0b 00 0b"  # POLL
    coin_type = vmc_block(0x0C, bytes.fromhex("003F0000"))
    assert format_words(coin_type) == "10C 00 3F 00 00 4B"
    assert encode_two_byte(peripheral_block(b"\x42\x00")).hex(" ") == "00 42 00 00 01 42"
    assert block_checksum(bytes.fromhex("0F00")) == 0x0F


def test_word_notation_round_trips() -> None:
    assert parse_words("10F 00 0F") == (0x10F, 0x00, 0x0F)
    assert format_words(parse_words("10F 00 0F")) == "10F 00 0F"


def test_parity_runs_split_at_the_mode_bit() -> None:
    assert parity_runs(peripheral_block(b"\x42\x00")) == [(False, b"\x42\x00"), (True, b"\x42")]
    assert parity_runs(vmc_block(0x0B)) == [(True, b"\x0b"), (False, b"\x0b")]


# ------------------------------------------------------------------ PARMRK


def test_parmrk_decoder_on_kernel_streams() -> None:
    # POLL from the VMC: the address byte fails space parity and is marked.
    assert ParmrkDecoder().feed(bytes.fromhex("FF 00 0B 0B")) == [0x10B, 0x0B]
    # A data byte FF arrives doubled; a mode-bit FF is marked.
    assert ParmrkDecoder().feed(bytes.fromhex("FF FF FF 00 FF")) == [0xFF, 0x1FF]
    # ACK from the VMC (no mode bit) is one plain 00.
    assert ParmrkDecoder().feed(b"\x00") == [0x00]


def test_parmrk_decoder_across_chunks() -> None:
    decoder = ParmrkDecoder()
    out = []
    for b in bytes.fromhex("FF 00 0C 00 3F 00 00 4B"):
        out += decoder.feed(bytes((b,)))
    assert out == list(parse_words("10C 00 3F 00 00 4B"))


def test_parmrk_decoder_skips_a_lone_ff() -> None:
    decoder = ParmrkDecoder()
    assert decoder.feed(bytes.fromhex("FF 41 0B")) == [0x41, 0x0B]
    assert decoder.bytes_ignored == 1


@FAST
@given(words_st)
def test_parmrk_round_trip(words: list[int]) -> None:
    assert ParmrkDecoder().feed(parmrk_stream(words)) == words


@FAST
@given(st.binary(max_size=200))
def test_parmrk_decoder_never_raises(data: bytes) -> None:
    assert all(0 <= w <= 0x1FF for w in ParmrkDecoder().feed(data))


# ------------------------------------------------------------------ two-byte


@FAST
@given(words_st, st.integers(1, 7))
def test_two_byte_round_trip_in_any_chunks(words: list[int], chunk: int) -> None:
    wire = encode_two_byte(words)
    decoder = TwoByteDecoder()
    out = []
    for i in range(0, len(wire), chunk):
        out += decoder.feed(wire[i : i + chunk], 0.0)
    assert out == words


def test_two_byte_decoder_drops_bad_flags_and_stale_halves() -> None:
    decoder = TwoByteDecoder()
    assert decoder.feed(bytes.fromhex("07 01 0B 00 0B")) == [0x10B, 0x0B]
    assert decoder.bytes_ignored == 1
    assert decoder.feed(b"\x01", 1.0) == []
    assert decoder.feed(bytes.fromhex("01 0B 00 0B"), 1.5) == [0x10B, 0x0B]  # gap: half dropped


@FAST
@given(st.binary(max_size=200))
def test_two_byte_decoder_never_raises(data: bytes) -> None:
    assert all(0 <= w <= 0x1FF for w in TwoByteDecoder().feed(data, 0.0))


# ---------------------------------------------------------- command parser


def test_command_parser_frames_each_command() -> None:
    parser = CommandParser()
    stream = (
        vmc_block(0x08)
        + vmc_block(0x0C, bytes.fromhex("003F0000"))
        + vmc_block(0x0D, b"\x21")
        + vmc_block(0x0F, bytes.fromhex("01 00000002"))
        + vmc_block(0x0F, b"\x00")
    )
    out = parser.feed(stream, 0.0)
    assert [b.command for b in out if isinstance(b, CommandBlock)] == [8, 12, 13, 15, 15]


def test_partial_block_cut_by_the_next_address_byte() -> None:
    parser = CommandParser()
    assert parser.feed((0x10C, 0x00, 0x3F), 0.0) == []
    assert parser.feed(vmc_block(0x0B), 0.001) == [CommandBlock(0x0B)]
    assert parser.stats.cut_short == 1


def test_partial_block_expires_after_silence() -> None:
    parser = CommandParser()
    parser.feed((0x10C, 0x00), 0.0)
    assert parser.feed((0x3F, 0x00, 0x00, 0x4B), 1.0) == []
    assert parser.stats.cut_short == 1


def test_foreign_blocks_and_unknown_commands_are_skipped() -> None:
    parser = CommandParser()
    out = parser.feed((*vmc_block(0x33), 0x00, *vmc_block(0x0E), *vmc_block(0x0B)), 0.0)
    assert out == [CommandBlock(0x0B)]
    assert parser.stats.foreign == 1 and parser.stats.unknown == 1


def test_handshakes_only_after_our_block() -> None:
    parser = CommandParser()
    assert parser.feed((0x00,), 0.0) == []
    assert parser.feed((*vmc_block(0x0B), 0xAA, 0x00), 0.0) == [
        CommandBlock(0x0B),
        Handshake(0xAA),
        Handshake(0x00),
    ]


@FAST
@given(words_st)
def test_command_parser_never_raises(words: list[int]) -> None:
    parser = CommandParser()
    for item in parser.feed(words, 0.0):
        assert isinstance(item, CommandBlock | Handshake)


@FAST
@given(st.sampled_from([0x08, 0x09, 0x0A, 0x0B]), st.lists(st.integers(0, 0x1FF), max_size=8))
def test_commands_survive_garbage_before_them(command: int, junk: list[int]) -> None:
    out = CommandParser().feed([*junk, *vmc_block(command)], 0.0)
    assert isinstance(out[-1], CommandBlock) and out[-1].command == command


# --------------------------------------------------------- response parser


def test_response_parser() -> None:
    parser = ResponseParser()
    assert parser.feed((0x100,)) == [PeripheralAck()]
    assert parser.feed((0x1FF,)) == [PeripheralNak()]
    assert parser.feed(peripheral_block(b"\x42\x00")) == [DataResponse(b"\x42\x00")]
    assert parser.feed((0x42, 0x00, 0x143)) == [BadResponse((0x42, 0x00, 0x143))]
    assert parser.feed((0x133,)) == [BadResponse((0x133,))]


@FAST
@given(st.binary(min_size=1, max_size=36))
def test_response_round_trip(data: bytes) -> None:
    assert ResponseParser().feed(peripheral_block(data)) == [DataResponse(data)]


@FAST
@given(words_st)
def test_response_parser_never_raises(words: list[int]) -> None:
    ResponseParser().feed(words)
