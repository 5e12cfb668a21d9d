"""The 229 rules of credit_buffer: what the device says it served, and "hold" losing nothing."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.cctalk.credit_buffer import (
    BufferedEvent,
    CreditBuffer,
    CreditBufferSnapshot,
    CreditEvent,
    ErrorEvent,
)
from firmware_bridge.cctalk.device import CoinAcceptorDevice, CreditBufferRead, Polled
from firmware_bridge.cctalk.frame import Frame, decode_frame, encode_frame
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.cctalk.host import CreditPoller
from firmware_bridge.runtime.money import MoneyPath

MARKER = ErrorEvent(2)  # the power-up dummy event


def read_229(device: CoinAcceptorDevice, now: float = 0.0) -> CreditBufferSnapshot:
    request = encode_frame(Frame(2, 1, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES), "simple")
    (reply,) = device.receive(request, now)
    return CreditBufferSnapshot.from_bytes(decode_frame(reply.data, "simple").data)


def test_the_device_says_which_counter_each_229_reply_served() -> None:
    device = CoinAcceptorDevice(["GB100B", "GB200A"])
    served = [read_229(device, now=1.0).counter]  # 0, then the dummy moves it to 1
    device.push_credit(2)
    device.push_error(1)
    served.append(read_229(device, now=2.0).counter)
    assert served == [0, 3]
    reads = [e for e in device.drain_events() if isinstance(e, CreditBufferRead)]
    assert reads == [CreditBufferRead(now=1.0, counter=0), CreditBufferRead(now=2.0, counter=3)]


def test_only_229_is_a_credit_buffer_read() -> None:
    device = CoinAcceptorDevice(["GB100B"])
    device.receive(encode_frame(Frame(2, 1, Header.SIMPLE_POLL), "simple"), 1.0)
    assert device.drain_events() == [Polled(1.0, Header.SIMPLE_POLL)]


def test_hold_waits_for_the_host_to_read_zero_after_power_up() -> None:
    device = CoinAcceptorDevice(["GB100B", "GB200A"], overflow="hold")
    device.push_credit(2)
    assert device.event_counter == 0 and device.held_events == 1  # the reset stays visible
    assert read_229(device).counter == 0
    after = read_229(device)
    assert after.counter == 2 and after.newest(2) == (MARKER, CreditEvent(2))
    assert device.held_events == 0


def test_hold_never_overwrites_and_releases_in_order() -> None:
    device = CoinAcceptorDevice(["GB100B", "GB200A"], overflow="hold")
    poller = CreditPoller()
    poller.update(read_229(device))
    events: list[BufferedEvent] = []
    pushed = [CreditEvent(1 + i % 2) for i in range(13)]
    for event in pushed:
        device.push_credit(event.position)
    assert device.overwritten_unread == 0 and device.held_events == 13 - 4  # marker + 4 fit
    assert not device.host_has_every_event
    while not device.host_has_every_event:
        result = poller.update(read_229(device))
        assert result.lost == 0
        events.extend(result.events)
    assert events == [MARKER, *pushed]
    assert device.most_held_events == 9


def test_hold_keeps_unread_events_across_a_reset() -> None:
    device = CoinAcceptorDevice(["GB100B", "GB200A"], overflow="hold")
    read_229(device)
    read_229(device)  # the host has read the marker
    device.push_credit(1)
    device.push_error(17)
    device.receive(encode_frame(Frame(2, 1, Header.RESET_DEVICE), "simple"), 1.0)
    assert device.event_counter == 0 and device.held_events == 2
    assert read_229(device).counter == 0
    after = read_229(device)
    assert after.counter == 3
    assert after.newest(3) == (MARKER, CreditEvent(1), ErrorEvent(17))


def test_an_unread_marker_is_not_carried_across_a_reset() -> None:
    buffer = CreditBuffer(overflow="hold", power_up_dummy_event=True)
    buffer.read()  # counter 0 read: the marker goes in, unread
    buffer.push(CreditEvent(1))
    buffer.clear()
    assert buffer.held == 1
    buffer.read()
    assert buffer.snapshot().newest(2) == (MARKER, CreditEvent(1))


@given(bursts=st.lists(st.integers(0, 12), max_size=60), resets=st.sets(st.integers(0, 59)))
def test_hold_delivers_every_event_once_in_order(bursts: list[int], resets: set[int]) -> None:
    """Whatever the bursts and resets, the host reads every event, in order, and loses none."""
    buffer = CreditBuffer(overflow="hold", power_up_dummy_event=True)
    poller = CreditPoller()
    pushed: list[BufferedEvent] = []
    received: list[BufferedEvent] = []
    serial = 0
    for i, burst in enumerate(bursts):
        for _ in range(burst):
            serial += 1
            event = CreditEvent(serial % 16 + 1, serial % 9)
            buffer.push(event)
            pushed.append(event)
        if i in resets:
            buffer.clear()
        result = poller.update(buffer.read())
        assert result.lost == 0
        received.extend(e for e in result.events if e != MARKER)
    while not buffer.settled:
        result = poller.update(buffer.read())
        assert result.lost == 0
        received.extend(e for e in result.events if e != MARKER)
    assert received == pushed


def test_the_money_path_refuses_a_device_that_may_overwrite() -> None:
    with pytest.raises(ValueError, match="overflow='hold'"):
        MoneyPath(
            CoinAcceptorDevice(["GB200A"]),
            threading.Lock(),
            decider=None,  # type: ignore[arg-type]
            coins=["gb-200-1997"],
            gate=lambda seq, accept, path: None,
            clock=lambda: 0.0,
            at=lambda: None,  # type: ignore[arg-type,return-value]
        )
