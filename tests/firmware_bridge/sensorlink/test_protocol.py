"""SensorLink: roles, sequence numbers, error events, and fault injection end to end."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.sensorlink import (
    CreditSensorEvent,
    Event,
    Fault,
    FaultCode,
    GateAction,
    GateCommand,
    Hello,
    LinkError,
    LinkErrorKind,
    LocalProtocolError,
    Message,
    Role,
    SensorLink,
    SignatureMessage,
    Status,
    StatusFlags,
    encode_message,
)
from firmware_bridge.sensorlink.faults import LineManipulator, NullModem, random_chunks
from firmware_bridge.sensorlink.framing import SEQ_MAX, encode_frame
from tests.firmware_bridge.sensorlink.test_messages import (
    any_message,
    loss_signature,
    same,
    small_signature,
)


def drain(link: SensorLink) -> list[Event]:
    out: list[Event] = []
    while (event := link.next_event()) is not None:
        out.append(event)
    return out


def messages(events: list[Event]) -> list[Message]:
    return [e for e in events if not isinstance(e, LinkError)]


def kinds(events: list[Event]) -> list[LinkErrorKind]:
    return [e.kind for e in events if isinstance(e, LinkError)]


def deliver(link: SensorLink, *frames: bytes) -> list[Event]:
    for frame in frames:
        link.receive_data(frame)
    return drain(link)


# -- a conversation -------------------------------------------------------------


def test_one_coin_from_hello_to_credit() -> None:
    engine, board = SensorLink("engine"), SensorLink(Role.BOARD)
    hello_e = engine.send(Hello(Role.ENGINE, "engine-1", "0.1.0"))
    assert deliver(board, hello_e) == [Hello(Role.ENGINE, "engine-1", "0.1.0", seq=1)]
    board_frames = [
        board.send(Hello(Role.BOARD, "SH-1", "fw 1")),
        board.send(Status(StatusFlags.READY, 20.0)),
        board.send(small_signature()),
    ]
    coin = board.last_sent_seq
    assert coin == 3
    events = deliver(engine, *board_frames)
    assert [type(e) for e in events] == [Hello, Status, SignatureMessage]
    assert engine.peer_hello == Hello(Role.BOARD, "SH-1", "fw 1", seq=1)
    signature = events[2]
    assert isinstance(signature, SignatureMessage)
    assert signature.coin_seq == coin
    assert signature.to_signature().id == "coin-1"

    gate = engine.send(GateCommand(signature.coin_seq, GateAction.ACCEPT, 2))
    assert deliver(board, gate) == [GateCommand(coin, GateAction.ACCEPT, 2, seq=2)]
    credit = board.send(CreditSensorEvent(coin, passed=True, forward=True, transit_us=9000))
    assert deliver(engine, credit) == [CreditSensorEvent(coin, True, True, 9000, seq=4)]

    stats = engine.stats
    assert (stats.messages_received, stats.messages_sent, dict(stats.errors)) == (4, 2, {})
    assert board.stats.messages_sent == 4


def test_roles_are_enforced_locally() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    with pytest.raises(LocalProtocolError):
        engine.send(small_signature())
    with pytest.raises(LocalProtocolError):
        board.send(GateCommand(1, GateAction.ACCEPT))
    with pytest.raises(LocalProtocolError):
        board.send(Hello(Role.ENGINE, "impostor", ""))
    with pytest.raises(LocalProtocolError):
        board.send(small_signature(rim=[0.0] * 40000, eddy_lo=[0.0] * 10000, eddy_hi=[0.0] * 10000))
    assert board.last_sent_seq == 0  # nothing was numbered by a refused send


def test_roles_are_enforced_remotely() -> None:
    engine = SensorLink("engine")
    events = deliver(
        engine,
        encode_message(GateCommand(1, GateAction.ACCEPT), seq=1),  # engines don't receive these
        encode_message(Hello(Role.ENGINE, "me", ""), seq=1),  # our own echo
    )
    assert kinds(events) == [LinkErrorKind.UNEXPECTED, LinkErrorKind.UNEXPECTED]
    assert engine.peer_hello is None


# -- sequence numbers ---------------------------------------------------------------


def test_numbering_explicit_and_wrapping() -> None:
    board = SensorLink("board")
    board.send(Status(StatusFlags.READY, 1.0))
    assert board.last_sent_seq == 1
    board.send(Status(StatusFlags.READY, 1.0, seq=SEQ_MAX - 1))  # "behind" 1 on the ring
    assert board.last_sent_seq == 1
    board.send(Status(StatusFlags.READY, 1.0, seq=2**31))  # ahead: moves the counter on
    board.send(Status(StatusFlags.READY, 1.0, seq=SEQ_MAX - 1))
    board.send(Status(StatusFlags.READY, 1.0))
    assert board.last_sent_seq == SEQ_MAX
    board.send(Status(StatusFlags.READY, 1.0))
    assert board.last_sent_seq == 1  # 0 is skipped
    board.send(Status(StatusFlags.READY, 1.0, seq=1))  # a deliberate repeat moves nothing
    assert board.last_sent_seq == 1


def test_duplicate_and_stale_signatures_are_dropped() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    first = board.send(small_signature())
    second = board.send(small_signature())
    events = deliver(engine, first, first, second, first)
    assert [m.seq for m in messages(events)] == [1, 2]
    assert kinds(events) == [LinkErrorKind.DUPLICATE, LinkErrorKind.OUT_OF_ORDER]
    dup = events[1]
    assert isinstance(dup, LinkError) and dup.seq == 1 and dup.message_type == 0x10
    assert engine.stats.errors[LinkErrorKind.DUPLICATE] == 1


def test_gap_is_reported_and_the_frame_delivered() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    frames = [board.send(small_signature()) for _ in range(4)]
    events = deliver(engine, frames[0], frames[3])
    assert kinds(events) == [LinkErrorKind.SEQUENCE_GAP]
    assert [m.seq for m in messages(events)] == [1, 4]
    gap = events[1]
    assert isinstance(gap, LinkError) and "2 frame(s) missing" in gap.detail


def test_wrap_is_not_a_step_back_and_hello_resets() -> None:
    engine = SensorLink("engine")
    sig = small_signature()
    events = deliver(
        engine,
        encode_message(sig, seq=SEQ_MAX),
        encode_message(sig, seq=1),  # after the wrap
        encode_message(Hello(Role.BOARD, "SH-1", "fw"), seq=1),  # the board restarted
        encode_message(sig, seq=2),
    )
    assert kinds(events) == []
    assert [m.seq for m in messages(events)] == [SEQ_MAX, 1, 1, 2]


@given(st.lists(st.integers(1, 40), max_size=60))
def test_no_sequence_number_is_ever_delivered_twice(order: list[int]) -> None:
    engine = SensorLink("engine")
    events = deliver(
        engine, *(encode_message(Status(StatusFlags.READY, 0.0), seq=s) for s in order)
    )
    delivered = [m.seq for m in messages(events)]
    assert delivered == sorted(set(delivered))
    assert len(events) == len(order) + kinds(events).count(LinkErrorKind.SEQUENCE_GAP)


# -- remote errors are events -----------------------------------------------------


def test_invalid_signature_is_an_event_with_the_coin_seq() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    bad = board.send(small_signature(thickness_mm=12.0))
    good = board.send(small_signature())
    events = deliver(engine, bad, good)
    error = events[0]
    assert isinstance(error, LinkError)
    assert error.kind is LinkErrorKind.INVALID_SIGNATURE
    assert error.seq == 1 and "thickness_mm" in error.detail
    assert [m.seq for m in messages(events)] == [2]


@given(st.binary(max_size=3000), st.sampled_from(["engine", "board"]))
def test_garbage_never_raises(garbage: bytes, role: str) -> None:
    link = SensorLink(role)  # type: ignore[arg-type]
    link.receive_data(garbage)
    for event in drain(link):
        assert isinstance(event, LinkError)
    assert link.stats.bytes_received == len(garbage)


# -- fault injection: nothing is invented ----------------------------------------------


def board_to_engine(message: Message) -> bool:
    return not isinstance(message, GateCommand) and not (
        isinstance(message, Hello) and message.role is Role.ENGINE
    )


@given(
    st.lists(any_message.filter(board_to_engine), min_size=1, max_size=25),
    st.randoms(use_true_random=False),
    st.sampled_from([0.0, 0.002, 0.02]),
    st.sampled_from([0.0, 0.002, 0.02]),
    st.sampled_from([0.0, 0.002, 0.02]),
)
def test_a_damaged_line_never_invents_or_alters_a_message(
    sent: list[Message],
    rng: random.Random,
    flip: float,
    drop: float,
    insert: float,
) -> None:
    board_msgs = [m for m in sent if not isinstance(m, Hello)]  # Hello would reset the sequence
    wire = LineManipulator(rng, flip_rate=flip, drop_rate=drop, insert_rate=insert, max_chunk=50)
    board, engine = SensorLink("board"), SensorLink("engine")
    by_seq: dict[int, Message] = {}
    damaged_frames: list[bytes] = []
    intact: list[bool] = []
    for message in board_msgs:
        frame = board.send(_unnumbered(message))
        by_seq[board.last_sent_seq] = message
        before = len(wire.log)
        damaged_frames.append(wire.damage(frame))
        intact.append(len(wire.log) == before)
    stream = b"".join(damaged_frames)
    events: list[Event] = []
    for chunk in random_chunks(stream, rng, 50):
        engine.receive_data(chunk)
        events += drain(engine)

    delivered = messages(events)
    for message in delivered:
        original = by_seq[message.seq]
        assert same(message, _renumbered(original, message.seq))
    # Every intact frame that a delimiter separates from the damage before it arrives.
    expected = {
        seq
        for i, seq in enumerate(by_seq)
        if intact[i]
        and (i == 0 or damaged_frames[i - 1].endswith(b"\x00"))
        and _deliverable(by_seq[seq])
    }
    assert expected <= {m.seq for m in delivered}


def _unnumbered(message: Message) -> Message:
    return _renumbered(message, 0)


def _renumbered(message: Message, seq: int) -> Message:
    return dataclasses.replace(message, seq=seq)


def _deliverable(message: Message) -> bool:
    # Random signatures are mostly spec-invalid: reported, rightly never delivered.
    if isinstance(message, SignatureMessage):
        try:
            message.to_signature()
        except ValueError:
            return False
    return True


def test_null_modem_round_trip_with_a_noisy_line() -> None:
    rng = random.Random(7)
    modem = NullModem(
        a_to_b=LineManipulator(rng, flip_rate=0.0005, max_chunk=32),
        b_to_a=LineManipulator(rng, max_chunk=7),
    )
    board, engine = SensorLink("board"), SensorLink("engine")
    sent_coins = []
    for _ in range(200):
        modem.write_a(board.send(small_signature()))
        sent_coins.append(board.last_sent_seq)
    answered = []
    while (chunk := modem.read_b()) is not None:
        engine.receive_data(chunk)
        for event in drain(engine):
            if isinstance(event, SignatureMessage):
                answered.append(event.coin_seq)
                modem.write_b(engine.send(GateCommand(event.coin_seq, GateAction.REJECT)))
    assert answered == sorted(answered) and set(answered) <= set(sent_coins)
    assert len(answered) >= 100  # about a quarter of the ~600-byte frames get a bit flipped
    assert sum(engine.stats.errors.values()) > 0
    gates = []
    while (chunk := modem.read_a()) is not None:
        board.receive_data(chunk)
        gates += drain(board)
    assert [g.coin_seq for g in gates if isinstance(g, GateCommand)] == answered


def test_faults_are_delivered_with_their_coin() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    events = deliver(
        engine,
        board.send(Fault(0, FaultCode.JAM, "rail blocked")),
        board.send(Fault(7, FaultCode.COIN_ON_STRING)),
    )
    assert events == [
        Fault(0, FaultCode.JAM, "rail blocked", seq=1),
        Fault(7, FaultCode.COIN_ON_STRING, seq=2),
    ]


def test_preamble_ends_a_half_frame_the_receiver_holds() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    frame = board.send(Status(StatusFlags.READY, 20.0))
    events = deliver(engine, frame[:7], board.preamble(), frame)  # a board reset mid-frame
    assert [type(e) for e in events] == [LinkError, Status]


def test_role_names() -> None:
    assert SensorLink("board").role is Role.BOARD
    with pytest.raises(ValueError):
        SensorLink("host")  # type: ignore[arg-type]


# -- v1.1: signatures with loss traces ---------------------------------------------------


def test_v1_and_v1_1_signatures_from_one_board_arrive_as_sent() -> None:
    # A demodulator that drops out for a coin: each signature stands alone.
    engine, board = SensorLink("engine"), SensorLink("board")
    sent = [loss_signature(), small_signature(), loss_signature(id="coin-3")]
    events = deliver(engine, *(board.send(m) for m in sent))
    assert kinds(events) == []
    got = messages(events)
    assert [isinstance(m, SignatureMessage) and m.has_loss for m in got] == [True, False, True]
    for message, original in zip(got, sent, strict=True):
        assert same(message, dataclasses.replace(original, seq=message.seq))
    first = got[0]
    assert isinstance(first, SignatureMessage) and first.to_signature().has_loss


def test_a_non_finite_loss_sample_is_an_invalid_signature_with_the_coin_seq() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    lo_loss = [0.0] * 31 + [float("nan")]
    bad = board.send(loss_signature(eddy_lo_loss=lo_loss))
    events = deliver(engine, bad, board.send(loss_signature()))
    error = events[0]
    assert isinstance(error, LinkError)
    assert error.kind is LinkErrorKind.INVALID_SIGNATURE
    assert (error.seq, error.message_type) == (1, 0x10)
    assert error.detail.startswith("eddy_lo_loss: every sample must be finite")
    assert [m.seq for m in messages(events)] == [2]


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p[:-1], "eddy_hi_loss needs"),  # a sample short
        (lambda p: p[: 37 + 8 * 32 + 4 * 64 + 5], "eddy_lo_loss needs"),  # cut in the first
        (lambda p: p + b"\x00", "unexpected bytes"),  # a byte over
        (lambda p: p[:36] + bytes([p[36] | 0x08]) + p[37:], "reserved option bits"),
    ],
)
def test_a_badly_laid_out_v1_1_signature_is_malformed_with_the_coin_seq(
    damage: object, words: str
) -> None:
    # The CRC is right (the board built the frame wrongly): the engine learns
    # which coin it was, so it can reject it, and why.
    payload = loss_signature(id=None, head=None).encode_payload()
    frame = encode_frame(0x10, 7, damage(payload))  # type: ignore[operator]
    engine = SensorLink("engine")
    events = deliver(engine, frame, encode_message(loss_signature(), seq=8))
    error = events[0]
    assert isinstance(error, LinkError)
    assert error.kind is LinkErrorKind.MALFORMED
    assert (error.seq, error.message_type) == (7, 0x10)
    assert words in error.detail
    assert [m.seq for m in messages(events)] == [8]  # the next coin is not lost with it


def test_a_v1_1_frame_cut_on_the_wire_loses_only_itself() -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    first = board.send(loss_signature())
    second = board.send(loss_signature())
    cut = len(first) - 300  # inside the loss traces; the delimiter never came
    events = deliver(engine, first[:cut], b"\x00", second)
    # Reported once (here its last COBS block runs past the cut), then in step
    # again; the second frame is the receiver's first, so no gap is reported.
    assert kinds(events) == [LinkErrorKind.COBS]
    delivered = messages(events)
    assert [m.seq for m in delivered] == [2]
    assert isinstance(delivered[0], SignatureMessage) and delivered[0].has_loss


@given(st.binary(min_size=1, max_size=64), st.integers(0, 900))
def test_garbage_inside_a_v1_1_frame_never_raises_nor_alters_it(garbage: bytes, where: int) -> None:
    engine, board = SensorLink("engine"), SensorLink("board")
    original = loss_signature()
    frame = board.send(original)
    pos = min(where, len(frame) - 1)
    engine.receive_data(frame[:pos] + garbage + frame[pos:])
    for event in drain(engine):
        if not isinstance(event, LinkError):
            assert same(event, dataclasses.replace(original, seq=1))


def test_null_modem_with_loss_traces_on_a_noisy_line() -> None:
    rng = random.Random(11)
    modem = NullModem(a_to_b=LineManipulator(rng, flip_rate=0.0003, max_chunk=64))
    board, engine = SensorLink("board"), SensorLink("engine")
    sent: dict[int, SignatureMessage] = {}
    for i in range(120):
        coin = loss_signature() if i % 3 else small_signature()
        modem.write_a(board.send(coin))
        sent[board.last_sent_seq] = coin
    delivered: list[Message] = []
    while (chunk := modem.read_b()) is not None:
        engine.receive_data(chunk)
        delivered += messages(drain(engine))
    assert len(delivered) >= 60
    for message in delivered:
        assert same(message, dataclasses.replace(sent[message.seq], seq=message.seq))
    assert any(isinstance(m, SignatureMessage) and m.has_loss for m in delivered)
