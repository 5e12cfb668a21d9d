"""CcTalkHost (echo, replies, raw address bytes) and CreditPoller (229 arithmetic)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.cctalk.credit_buffer import (
    CreditBuffer,
    CreditBufferSnapshot,
    CreditEvent,
    ErrorEvent,
    new_event_count,
    next_event_counter,
)
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.frame import ChecksumMode, Frame, encode_frame
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.cctalk.host import (
    CcTalkHost,
    CreditPoller,
    NakError,
    RawResponse,
    Response,
)

ACK_FROM_2 = bytes.fromhex("01 00 02 00 FD")


def snapshot(counter: int, *pairs: tuple[int, int]) -> bytes:
    body = [b for pair in pairs for b in pair]
    return bytes([counter, *body, *[0] * (10 - len(body))])


# ------------------------------------------------------------ counter maths


@pytest.mark.parametrize(
    ("last", "counter", "new"),
    [
        (1, 1, 0),
        (1, 2, 1),
        (10, 15, 5),
        (10, 17, 7),
        (254, 2, 3),  # 255, 1, 2: abs() would say 252
        (255, 1, 1),  # abs() would say 254
        (250, 250, 0),
        (0, 1, 1),
        (0, 255, 255),  # from reset: 0 lies outside the 1..255 cycle
    ],
)
def test_new_event_count_is_mod_255_never_abs(last: int, counter: int, new: int) -> None:
    assert new_event_count(last, counter) == new


def test_next_event_counter_wraps_to_one() -> None:
    assert [next_event_counter(c) for c in (0, 1, 254, 255)] == [1, 2, 255, 1]


def test_poller_baseline_then_new_events_oldest_first() -> None:
    poller = CreditPoller()
    first = poller.update(snapshot(7, (1, 0), (2, 0)))
    assert first.baseline and first.events == () and not first.device_reset
    result = poller.update(snapshot(9, (3, 1), (0, 1), (1, 0)))
    assert result.events == (ErrorEvent(1), CreditEvent(3, 1))
    assert result.lost == 0 and not result.baseline


def test_poller_across_the_wrap() -> None:
    poller = CreditPoller(last_counter=254)
    result = poller.update(snapshot(2, (3, 0), (2, 0), (1, 0), (5, 0)))
    assert result.events == (CreditEvent(1), CreditEvent(2), CreditEvent(3))
    assert result.lost == 0


def test_poller_detects_loss_with_six_or_more_new() -> None:
    poller = CreditPoller(last_counter=10)
    pairs = [(p, 0) for p in (5, 4, 3, 2, 1)]
    result = poller.update(snapshot(16, *pairs))
    assert result.lost == 1
    assert result.events == tuple(CreditEvent(p) for p in (1, 2, 3, 4, 5))
    assert poller.total_lost == 1


def test_poller_detects_device_reset() -> None:
    poller = CreditPoller(last_counter=42)
    result = poller.update(snapshot(0))
    assert result.device_reset and result.events == ()
    assert poller.resets == 1
    # Steady zeros are the same reset, not new ones.
    assert not poller.update(snapshot(0)).device_reset
    after = poller.update(snapshot(1, (0, 2)))  # the dummy [0][2]
    assert after.events == (ErrorEvent(2),) and not after.device_reset


def test_poller_first_read_at_zero_asks_for_enabling() -> None:
    assert CreditPoller().update(snapshot(0)).device_reset


def test_snapshot_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        CreditBufferSnapshot.from_bytes(bytes(10))


@given(bursts=st.lists(st.integers(0, 9), max_size=80))
def test_poller_against_device_buffer(bursts: list[int]) -> None:
    """Whatever the bursts, the host gets every event it can, in order, and counts the rest."""
    buffer = CreditBuffer()
    poller = CreditPoller()
    poller.update(buffer.read())
    serial = 0
    for burst in bursts:
        pushed = []
        for _ in range(burst):
            serial += 1
            event = CreditEvent(serial % 16 + 1, serial % 9)
            buffer.push(event)
            pushed.append(event)
        result = poller.update(buffer.read())
        assert result.events == tuple(pushed[-5:])
        assert result.lost == max(0, burst - 5)
    assert poller.total_lost == buffer.overwritten_unread


# ------------------------------------------------------------------- host


def wire(host_bytes: bytes, reply: bytes) -> bytes:
    """What the host reads on a single wire: its own echo, then the reply."""
    return host_bytes + reply


@given(cut=st.integers(0, 10))
def test_host_skips_its_echo_however_split(cut: int) -> None:
    host = CcTalkHost()
    request = host.send(2, Header.SIMPLE_POLL)
    line = wire(request, ACK_FROM_2)
    host.receive_data(line[:cut], 0.0)
    host.receive_data(line[cut:], 0.001)
    event = host.next_event()
    assert isinstance(event, Response) and event.ok and event.src == 2
    assert host.echoes_skipped == 1
    assert host.pending is None


def test_host_without_echo() -> None:
    host = CcTalkHost()
    host.send(2, Header.SIMPLE_POLL)
    host.receive_data(ACK_FROM_2, 0.0)
    assert isinstance(host.next_event(), Response)
    assert host.echoes_skipped == 0


def test_host_verifies_reply_checksum() -> None:
    host = CcTalkHost()
    host.send(2, Header.SIMPLE_POLL)
    host.receive_data(bytes.fromhex("01 00 02 00 FE"), 0.0)
    assert host.next_event() is None
    assert host.pending is not None
    assert host.parser_stats[2] == 1


def test_host_ignores_other_traffic() -> None:
    host = CcTalkHost()
    host.send(2, Header.SIMPLE_POLL)
    other_device = encode_frame(Frame(1, 3, 0))  # a hopper answering someone
    for_device = encode_frame(Frame(3, 1, 254))
    host.receive_data(for_device + other_device, 0.0)
    assert host.next_event() is None
    assert host.stray_frames == 2
    host.receive_data(ACK_FROM_2, 0.01)
    assert isinstance(host.next_event(), Response)


def test_unsolicited_reply_is_stray() -> None:
    host = CcTalkHost()
    host.receive_data(ACK_FROM_2, 0.0)
    assert host.next_event() is None and host.stray_frames == 1


def test_nak_payload_raises() -> None:
    host = CcTalkHost()
    host.send(2, Header.MODIFY_INHIBIT_STATUS, b"\xff")
    host.receive_data(encode_frame(Frame(1, 2, Header.NAK)), 0.0)
    event = host.next_event()
    assert isinstance(event, Response) and not event.ok
    with pytest.raises(NakError):
        event.payload()


def test_address_poll_raw_bytes_after_echo() -> None:
    host = CcTalkHost()
    request = host.send(0, Header.ADDRESS_POLL)
    host.receive_data(request[:2], 0.0)
    host.receive_data(request[2:] + b"\x02\x03", 0.01)
    host.timeout()
    events = []
    while (event := host.next_event()) is not None:
        events.append(event)
    assert [e.address for e in events if isinstance(e, RawResponse)] == [2, 3]


def test_address_clash_raw_byte_without_echo_is_released_at_timeout() -> None:
    host = CcTalkHost()
    host.send(2, Header.ADDRESS_CLASH)  # request starts with 0x02, like the reply
    host.receive_data(b"\x02", 0.0)
    assert host.next_event() is None  # might still be the echo
    host.timeout()
    event = host.next_event()
    assert isinstance(event, RawResponse) and event.address == 2


@pytest.mark.parametrize("mode", ["simple", "crc16"])
def test_host_and_device_on_a_single_wire(mode: ChecksumMode) -> None:
    host = CcTalkHost(checksum=mode)
    device = CoinAcceptorDevice(["GB100B", "GB050B"], checksum=mode)

    def exchange(header: int, data: bytes = b"", now: float = 0.0) -> Response:
        line = host.send(2, header, data, now=now)
        reply = device.receive_data(line, now)
        line += reply  # both ends hear everything on the wire
        device.receive(reply, now + 0.001)
        host.receive_data(line, now + 0.001)
        event = host.next_event()
        assert isinstance(event, Response)
        return event

    assert exchange(Header.REQUEST_COIN_ID, b"\x02").payload() == b"GB050B"
    exchange(Header.MODIFY_INHIBIT_STATUS, b"\x03\x00")
    exchange(Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01")
    poller = CreditPoller()
    assert poller.update(
        exchange(Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES).payload()
    ).device_reset
    assert device.is_accepting(2, 0.5)
    device.push_credit(2)
    result = poller.update(exchange(Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, now=0.6).payload())
    # The dummy [0][2] from power-up, then the credit.
    assert result.events == (ErrorEvent(2), CreditEvent(2))
    assert device.echoes_ignored + device.foreign_frames == 5
