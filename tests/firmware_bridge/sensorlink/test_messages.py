"""Messages: round trips, strict decoding, and the bridge to coinval's Signature.

The hypothesis strategies defined here are imported by the other sensor-link tests.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coinval.signature import Signature, SignatureError, parse_signature
from firmware_bridge.sensorlink import (
    MESSAGE_CLASSES,
    CreditSensorEvent,
    Fault,
    FaultCode,
    GateAction,
    GateCommand,
    Hello,
    LinkErrorKind,
    Message,
    MessageDecodeError,
    MessageType,
    Role,
    SignatureMessage,
    Status,
    StatusFlags,
    cobs,
    decode_message,
    encode_message,
)
from firmware_bridge.sensorlink.framing import SEQ_MAX, Frame, parse_frame

# -- strategies (shared with the other sensor-link tests) -------------------

seqs = st.integers(1, SEQ_MAX)
coin_seqs = st.integers(1, SEQ_MAX)
texts = st.text(max_size=24)
any_f64 = st.floats(allow_nan=True, allow_infinity=True)


def f32_traces(min_size: int, max_size: int, *, finite: bool = False) -> st.SearchStrategy:
    """1-D float32 arrays (any bit pattern hypothesis likes, unless finite)."""
    elements = st.floats(width=32, allow_nan=not finite, allow_infinity=not finite)
    return hnp.arrays(np.float32, st.integers(min_size, max_size), elements=elements)


hellos = st.builds(
    Hello,
    st.sampled_from(Role),
    texts,
    texts,
    st.integers(0, 255),
    seq=seqs,
)
statuses = st.builds(Status, st.integers(0, 0xFFFF).map(StatusFlags), any_f64, seq=seqs)
gate_commands = st.one_of(
    st.builds(GateCommand, coin_seqs, st.just(GateAction.ACCEPT), st.integers(0, 8), seq=seqs),
    st.builds(GateCommand, coin_seqs, st.just(GateAction.REJECT), st.just(0), seq=seqs),
)
credit_events = st.builds(
    CreditSensorEvent, coin_seqs, st.booleans(), st.booleans(), st.integers(0, 2**32 - 1), seq=seqs
)
faults = st.builds(Fault, st.integers(0, SEQ_MAX), st.sampled_from(FaultCode), texts, seq=seqs)


@st.composite
def signature_messages(
    draw: st.DrawFn, *, max_eddy: int = 48, max_rim: int = 96
) -> SignatureMessage:
    """Any wire-valid signature message (not necessarily spec-valid), v1 or v1.1."""
    n = draw(st.integers(0, max_eddy))
    lo = draw(hnp.arrays(np.float32, n, elements=st.floats(width=32)))
    hi = draw(hnp.arrays(np.float32, n, elements=st.floats(width=32)))
    rim = draw(f32_traces(0, max_rim))
    lo_loss = hi_loss = None
    if draw(st.booleans()):
        lo_loss = draw(hnp.arrays(np.float32, n, elements=st.floats(width=32)))
        hi_loss = draw(hnp.arrays(np.float32, n, elements=st.floats(width=32)))
    return SignatureMessage(
        lo,
        hi,
        draw(any_f64),
        rim,
        draw(any_f64),
        draw(any_f64),
        draw(any_f64),
        draw(st.none() | texts),
        draw(st.none() | texts),
        lo_loss,
        hi_loss,
        seq=draw(seqs),
    )


@st.composite
def valid_signatures(draw: st.DrawFn) -> Signature:
    """Spec-valid signatures whose samples are float32-exact (so they survive the wire).

    About half carry the v1.1 loss traces.
    """
    n = draw(st.integers(32, 64))
    finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
    lo = draw(hnp.arrays(np.float32, n, elements=finite32)).astype(np.float64)
    hi = draw(hnp.arrays(np.float32, n, elements=finite32)).astype(np.float64)
    rim = draw(hnp.arrays(np.float32, st.integers(64, 128), elements=finite32)).astype(np.float64)
    loss: dict[str, Any] = {}
    if draw(st.booleans()):
        loss = {
            name: draw(hnp.arrays(np.float32, n, elements=finite32)).astype(np.float64)
            for name in ("eddy_lo_loss", "eddy_hi_loss")
        }
    return parse_signature(
        loss
        | {
            "eddy_lo": lo,
            "eddy_hi": hi,
            "eddy_rate_hz": draw(st.floats(1e-3, 1e7)),
            "rim": rim,
            "thickness_mm": draw(st.floats(0.01, 9.99)),
            "speed_mm_s": draw(st.floats(0.01, 4999.0)),
            "temperature_c": draw(st.floats(-40.0, 85.0)),
            "id": draw(st.none() | st.text(max_size=64)),
            "head": draw(st.none() | texts),
        }
    )


any_message = st.one_of(
    hellos, statuses, signature_messages(), gate_commands, credit_events, faults
)


def same(a: Message, b: Message) -> bool:
    """Bit-exact identity of two messages (NaN-safe, unlike ==)."""
    return type(a) is type(b) and a.seq == b.seq and a.encode_payload() == b.encode_payload()


def frame_of(message: Message) -> Frame:
    """The checked frame a receiver sees for ``message``."""
    parsed = parse_frame(cobs.decode(encode_message(message)[:-1]))
    assert isinstance(parsed, Frame)
    return parsed


def small_signature(*, seq: int = 0, **changes: object) -> SignatureMessage:
    """A spec-valid signature message: 32 eddy samples, 64 rim samples."""
    fields: dict[str, object] = {
        "eddy_lo": np.linspace(0, 800, 32),
        "eddy_hi": np.linspace(0, 300, 32),
        "eddy_rate_hz": 20000.0,
        "rim": np.full(64, 11.25),
        "thickness_mm": 2.5,
        "speed_mm_s": 750.0,
        "temperature_c": 18.25,
        "id": "coin-1",
        "head": "SH-1",
    }
    fields.update(changes)
    return SignatureMessage(**fields, seq=seq)  # type: ignore[arg-type]


def loss_signature(*, seq: int = 0, **changes: object) -> SignatureMessage:
    """:func:`small_signature` with the v1.1 loss traces."""
    loss: dict[str, object] = {
        "eddy_lo_loss": np.linspace(0, 200, 32),
        "eddy_hi_loss": np.linspace(0, 350, 32),
    }
    return small_signature(seq=seq, **(loss | changes))


# -- round trips -------------------------------------------------------------

EXAMPLES: list[Message] = [
    Hello(Role.BOARD, "SH-0042", "fw 1.3.0", seq=1),
    Hello(Role.ENGINE, "engine-1", "coinval 0.1.0", seq=7),
    Status(StatusFlags.READY | StatusFlags.JAM, -12.5, seq=2),
    small_signature(seq=3),
    small_signature(seq=4, id=None, head=None),
    loss_signature(seq=5),
    loss_signature(seq=6, id=None, head=None),
    GateCommand(3, GateAction.ACCEPT, 8, seq=1),
    GateCommand(3, GateAction.REJECT, seq=2),
    CreditSensorEvent(3, passed=True, forward=True, transit_us=12500, seq=5),
    CreditSensorEvent(3, passed=False, forward=False, transit_us=0, seq=6),
    Fault(0, FaultCode.JAM, seq=9),
    Fault(3, FaultCode.COIN_GOING_BACKWARDS, "reverse at credit sensor", seq=10),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    decoded = decode_message(frame_of(message))
    assert decoded == message
    assert type(decoded) is type(message)


def test_decode_table_covers_every_type() -> None:
    assert set(MESSAGE_CLASSES) == set(MessageType)
    for code, cls in MESSAGE_CLASSES.items():
        assert code == cls.TYPE


@given(any_message)
def test_round_trip_over_arbitrary_fields(message: Message) -> None:
    assert same(decode_message(frame_of(message)), message)


@given(st.one_of(hellos, gate_commands, credit_events, faults))
def test_round_trip_equality_without_floats(message: Message) -> None:
    assert decode_message(frame_of(message)) == message


# -- strict decoding ----------------------------------------------------------


@given(any_message, st.data())
def test_every_truncation_is_malformed(message: Message, data: st.DataObject) -> None:
    payload = message.encode_payload()
    cut = data.draw(st.integers(0, len(payload) - 1)) if payload else 0
    if not payload:
        return
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(message.TYPE, message.seq, payload[:cut]))
    assert info.value.kind is LinkErrorKind.MALFORMED


@given(any_message, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_malformed(message: Message, extra: bytes) -> None:
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(message.TYPE, message.seq, message.encode_payload() + extra))
    assert info.value.kind is LinkErrorKind.MALFORMED


@given(st.sampled_from(MessageType), st.binary(max_size=200))
def test_arbitrary_payload_decodes_or_raises_decode_error(
    msg_type: MessageType, payload: bytes
) -> None:
    try:
        message = decode_message(Frame(msg_type, 1, payload))
    except MessageDecodeError:
        return
    # Whatever decodes must be exactly what the payload says.
    assert message.encode_payload() == payload


def test_unknown_type() -> None:
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(0x7E, 1, b""))
    assert info.value.kind is LinkErrorKind.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("msg_type", "payload"),
    [
        (MessageType.HELLO, b"\x01\x02\x00\x00\x00\x00"),  # role 2
        (MessageType.HELLO, b"\x01\x01\x02\x00\xff\xfe\x00\x00"),  # head_id not UTF-8
        (MessageType.GATE_COMMAND, struct.pack("<IBB", 3, 2, 0)),  # action 2
        (MessageType.GATE_COMMAND, struct.pack("<IBB", 3, 1, 9)),  # sorter path 9
        (MessageType.GATE_COMMAND, struct.pack("<IBB", 3, 0, 1)),  # reject with a path
        (MessageType.GATE_COMMAND, struct.pack("<IBB", 0, 1, 1)),  # coin 0
        (MessageType.CREDIT_SENSOR, struct.pack("<IBI", 3, 0x07, 10)),  # reserved flag bit
        (MessageType.CREDIT_SENSOR, struct.pack("<IBI", 0, 0x03, 10)),  # coin 0
        (MessageType.FAULT, struct.pack("<IBH", 3, 99, 0)),  # unknown fault code
        (MessageType.SIGNATURE, struct.pack("<ddddHHB", 1, 1, 1, 1, 0, 0, 0x08)),  # option bit
        (MessageType.SIGNATURE, struct.pack("<ddddHHB", 1, 1, 1, 1, 2, 0, 0)),  # arrays missing
        # v1.1: the loss bit set, but the loss traces are missing, or one of them.
        (MessageType.SIGNATURE, struct.pack("<ddddHHB16s", 1, 1, 1, 1, 2, 0, 0x04, b"")),
        (MessageType.SIGNATURE, struct.pack("<ddddHHB24s", 1, 1, 1, 1, 2, 0, 0x04, b"")),
    ],
)
def test_invalid_fields_are_malformed(msg_type: MessageType, payload: bytes) -> None:
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(msg_type, 1, payload))
    assert info.value.kind is LinkErrorKind.MALFORMED


def test_unknown_status_bits_are_kept() -> None:
    status = decode_message(Frame(MessageType.STATUS, 1, struct.pack("<Hd", 0x8001, 20.0)))
    assert isinstance(status, Status)
    assert StatusFlags.READY in status.flags
    assert int(status.flags) == 0x8001


# -- local validation ----------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: GateCommand(0, GateAction.ACCEPT),
        lambda: GateCommand(1, GateAction.ACCEPT, 9),
        lambda: GateCommand(1, GateAction.REJECT, 1),
        lambda: GateCommand(1, GateAction.ACCEPT, seq=-1),
        lambda: GateCommand(2**32, GateAction.ACCEPT),
        lambda: CreditSensorEvent(1, True, True, 2**32),
        lambda: Fault(1, 42),  # type: ignore[arg-type]
        lambda: Hello(Role.BOARD, "x" * 70000, ""),
        lambda: small_signature(eddy_hi=np.zeros(31)),
        lambda: small_signature(rim=np.zeros((8, 8))),
        lambda: small_signature(rim=np.zeros(70000)),
        lambda: small_signature(rim=np.full(64, 1e39)),
        lambda: small_signature(thickness_mm="2.5"),
        # v1.1 loss traces: both or neither, each as long as eddy_lo, float32-sized.
        lambda: small_signature(eddy_lo_loss=np.zeros(32)),
        lambda: small_signature(eddy_hi_loss=np.zeros(32)),
        lambda: loss_signature(eddy_lo_loss=np.zeros(31)),
        lambda: loss_signature(eddy_hi_loss=np.zeros(33)),
        lambda: loss_signature(eddy_lo_loss=np.zeros((4, 8))),
        lambda: loss_signature(eddy_hi_loss=np.full(32, 1e39)),
        lambda: loss_signature(eddy_lo_loss=["x"] * 32),
    ],
)
def test_constructors_refuse_what_the_wire_cannot_say(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_signature_arrays_are_read_only_copies() -> None:
    source = np.linspace(0, 1, 32)
    message = small_signature(eddy_lo=source)
    source[0] = 99.0
    assert message.eddy_lo[0] == 0.0
    with pytest.raises(ValueError):
        message.eddy_lo[0] = 1.0


# -- the bridge to coinval.Signature ---------------------------------------------


@given(valid_signatures())
def test_signature_survives_the_wire(signature: Signature) -> None:
    message = SignatureMessage.from_signature(signature, seq=5)
    back = decode_message(frame_of(message))
    assert isinstance(back, SignatureMessage)
    assert back.coin_seq == 5
    restored = back.to_signature()
    assert restored.to_json_dict() == signature.to_json_dict()


def test_from_signature_rounds_to_float32() -> None:
    signature = parse_signature(
        small_signature().to_signature().to_json_dict() | {"rim": [0.1] * 64}
    )
    message = SignatureMessage.from_signature(signature)
    assert message.rim.dtype == np.float32
    assert message.to_signature().rim[0] == float(np.float32(0.1))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"eddy_lo": np.zeros(16), "eddy_hi": np.zeros(16)}, "eddy_lo"),
        ({"rim": np.zeros(63)}, "rim"),
        ({"thickness_mm": 10.0}, "thickness_mm"),
        ({"speed_mm_s": 0.0}, "speed_mm_s"),
        ({"temperature_c": 90.0}, "temperature_c"),
        ({"eddy_rate_hz": float("nan")}, "eddy_rate_hz"),
        ({"rim": np.r_[np.full(63, 11.0), np.inf]}, "rim"),
        ({"id": "x" * 65}, "id"),
        (
            {"eddy_lo_loss": np.r_[np.zeros(31), np.nan], "eddy_hi_loss": np.zeros(32)},
            "eddy_lo_loss",
        ),
        (
            {"eddy_lo_loss": np.zeros(32), "eddy_hi_loss": np.r_[np.inf, np.zeros(31)]},
            "eddy_hi_loss",
        ),
    ],
)
def test_to_signature_applies_the_spec(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SignatureError) as info:
        small_signature(**changes).to_signature()
    assert info.value.field == field


# -- v1.1: loss traces ------------------------------------------------------------


def test_a_v1_payload_decodes_exactly_as_before() -> None:
    # Built by hand in the v1 layout, not by the encoder under test.
    v1 = small_signature(seq=3)
    payload = (
        struct.pack("<ddddHHB", 20000.0, 750.0, 2.5, 18.25, 32, 64, 0x03)
        + np.linspace(0, 800, 32).astype("<f4").tobytes()
        + np.linspace(0, 300, 32).astype("<f4").tobytes()
        + np.full(64, 11.25).astype("<f4").tobytes()
        + b"\x06\x00coin-1\x04\x00SH-1"
    )
    decoded = decode_message(Frame(MessageType.SIGNATURE, 3, payload))
    assert isinstance(decoded, SignatureMessage)
    assert decoded == v1 and not decoded.has_loss
    assert decoded.eddy_lo_loss is None and decoded.eddy_hi_loss is None
    assert v1.encode_payload() == payload


def test_loss_traces_follow_the_rim_and_share_n_eddy() -> None:
    message = loss_signature(id=None)
    payload = message.encode_payload()
    assert payload[36] == 0x06
    rim_end = 37 + 8 * 32 + 4 * 64
    lo_loss = np.frombuffer(payload, "<f4", 32, rim_end)
    hi_loss = np.frombuffer(payload, "<f4", 32, rim_end + 128)
    np.testing.assert_array_equal(lo_loss, np.linspace(0, 200, 32).astype(np.float32))
    np.testing.assert_array_equal(hi_loss, np.linspace(0, 350, 32).astype(np.float32))
    assert payload[rim_end + 256 :] == b"\x04\x00SH-1"


@pytest.mark.parametrize(
    ("cut", "field"),
    [(0, "eddy_lo_loss"), (127, "eddy_lo_loss"), (128, "eddy_hi_loss"), (255, "eddy_hi_loss")],
)
def test_truncated_loss_traces_name_the_trace(cut: int, field: str) -> None:
    payload = loss_signature(id=None, head=None).encode_payload()
    rim_end = 37 + 8 * 32 + 4 * 64
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(MessageType.SIGNATURE, 1, payload[: rim_end + cut]))
    assert info.value.kind is LinkErrorKind.MALFORMED
    assert f"{field} needs" in info.value.detail


def test_a_v1_payload_with_the_loss_bit_set_is_malformed_not_misread() -> None:
    # A board that sets the bit but forgets the traces: the id and head bytes
    # must not be taken for samples, nor the samples for strings.
    payload = bytearray(small_signature().encode_payload())
    payload[36] |= 0x04
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(MessageType.SIGNATURE, 1, bytes(payload)))
    assert info.value.kind is LinkErrorKind.MALFORMED


def test_loss_traces_without_the_bit_are_trailing_bytes() -> None:
    payload = bytearray(loss_signature(id=None, head=None).encode_payload())
    payload[36] &= ~0x04
    with pytest.raises(MessageDecodeError) as info:
        decode_message(Frame(MessageType.SIGNATURE, 1, bytes(payload)))
    assert info.value.kind is LinkErrorKind.MALFORMED
    assert "unexpected bytes" in info.value.detail


def test_loss_traces_make_a_different_message() -> None:
    # Equality is the payload: v1 and v1.1 of the same coin are not the same frame.
    assert loss_signature(seq=1) != small_signature(seq=1)
    assert loss_signature(seq=1) == loss_signature(seq=1)


def test_loss_traces_survive_to_the_signature_and_back() -> None:
    message = loss_signature(seq=9)
    signature = message.to_signature()
    assert signature.has_loss
    assert signature.eddy_lo_loss is not None and signature.eddy_hi_loss is not None
    np.testing.assert_array_equal(signature.eddy_lo_loss, message.eddy_lo_loss)
    np.testing.assert_array_equal(signature.eddy_hi_loss, message.eddy_hi_loss)
    assert SignatureMessage.from_signature(signature, seq=9) == message
    assert not SignatureMessage.from_signature(small_signature().to_signature()).has_loss


def test_from_signature_refuses_half_a_pair() -> None:
    # A hand-made Signature (parse_signature would refuse it) is not sent as v1.
    signature = loss_signature().to_signature()
    half = dataclasses.replace(signature, eddy_hi_loss=None)
    with pytest.raises(ValueError, match="both or neither"):
        SignatureMessage.from_signature(half)
