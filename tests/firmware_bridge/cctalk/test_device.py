"""CoinAcceptorDevice: every header of reference/cctalk.md, the 229 buffer, the money rules."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.cctalk.credit_buffer import CreditBufferSnapshot, CreditEvent, ErrorEvent
from firmware_bridge.cctalk.device import (
    AddressChanged,
    CoinAcceptorDevice,
    CoinIdChanged,
    DeviceIdentity,
    EventOverwritten,
    InhibitsChanged,
    MasterInhibitChanged,
    Polled,
    ResetRequested,
    SorterPathChanged,
)
from firmware_bridge.cctalk.frame import ChecksumMode, Frame, decode_frame, encode_frame
from firmware_bridge.cctalk.headers import AcceptorError, Header
from firmware_bridge.cctalk.host import CreditPoller

COINS = ["GB100B", "GB200A", "GB050B", None, "GB020A"]
IDENTITY = DeviceIdentity(
    manufacturer_id="ACM",
    product_code="CV-TEST",
    serial_number=0x123456,
    software_revision="9.8.7",
    build_code="B42",
)


def make_device(**kwargs: Any) -> CoinAcceptorDevice:
    params: dict[str, Any] = {"identity": IDENTITY, "rng": random.Random(7)}
    params.update(kwargs)
    return CoinAcceptorDevice(COINS, **params)


def ask(
    device: CoinAcceptorDevice,
    header: int,
    data: bytes = b"",
    *,
    dest: int | None = None,
    now: float = 0.0,
    checksum: ChecksumMode = "simple",
) -> Frame | None:
    """Send one request as host 1; return the decoded reply frame, or None for silence."""
    target = device.address if dest is None else dest
    replies = device.receive(encode_frame(Frame(target, 1, header, data), checksum), now)
    if not replies:
        return None
    assert len(replies) == 1
    assert replies[0].delay_s == 0.0
    return decode_frame(replies[0].data, checksum, implied_src=device.address)


def ack(device: CoinAcceptorDevice, header: int, data: bytes = b"", **kw: Any) -> bytes:
    reply = ask(device, header, data, **kw)
    assert reply is not None, f"no reply to {header}"
    assert reply.header == Header.ACK, f"header {header} answered {reply.header}"
    assert (reply.dest, reply.src) == (1, device.address)
    return reply.data


def is_nak(device: CoinAcceptorDevice, header: int, data: bytes = b"") -> bool:
    reply = ask(device, header, data)
    return reply is not None and reply.header == Header.NAK and reply.data == b""


def enable_all(device: CoinAcceptorDevice, now: float = 0.0) -> None:
    ack(device, Header.MODIFY_INHIBIT_STATUS, b"\xff\xff", now=now)
    ack(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01", now=now)
    ack(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, now=now)


# ------------------------------------------------------------- the header set


def test_every_table_header_has_a_handler() -> None:
    replies = {Header.ACK, Header.NAK, Header.BUSY}
    assert set(CoinAcceptorDevice._routes) == set(Header) - replies


@pytest.mark.parametrize(
    ("header", "data", "expected"),
    [
        (Header.SIMPLE_POLL, b"", b""),
        (Header.REQUEST_POLLING_PRIORITY, b"", bytes((1, 200))),
        (Header.REQUEST_STATUS, b"", b"\x00"),
        (Header.REQUEST_MANUFACTURER_ID, b"", b"ACM"),
        (Header.REQUEST_EQUIPMENT_CATEGORY_ID, b"", b"Coin Acceptor"),
        (Header.REQUEST_PRODUCT_CODE, b"", b"CV-TEST"),
        (Header.REQUEST_SERIAL_NUMBER, b"", b"\x56\x34\x12"),  # LSB first
        (Header.REQUEST_SOFTWARE_REVISION, b"", b"9.8.7"),
        (Header.READ_OPTO_STATES, b"", b"\x00"),
        (Header.PERFORM_SELF_CHECK, b"", b"\x00"),
        (Header.REQUEST_INHIBIT_STATUS, b"", b"\x00\x00"),  # power-up: all inhibited
        (Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, b"", bytes(11)),
        (Header.REQUEST_MASTER_INHIBIT_STATUS, b"", b"\x00"),  # power-up: inhibit all
        (Header.REQUEST_INSERTION_COUNTER, b"", b"\x00\x00\x00"),
        (Header.REQUEST_ACCEPT_COUNTER, b"", b"\x00\x00\x00"),
        (Header.REQUEST_REJECT_COUNTER, b"", b"\x00\x00\x00"),
        (Header.REQUEST_FRAUD_COUNTER, b"", b"\x00\x00\x00"),
        (Header.REQUEST_OPTION_FLAGS, b"", b"\x00"),
        (Header.REQUEST_SORTER_PATHS, b"\x01", b"\x00"),
        (Header.REQUEST_COIN_ID, b"\x01", b"GB100B"),
        (Header.REQUEST_COIN_ID, b"\x04", b"......"),
        (Header.REQUEST_COIN_ID, b"\x10", b"......"),
        (Header.REQUEST_BUILD_CODE, b"", b"B42"),
        (Header.REQUEST_COMMS_REVISION, b"", b"\x01\x04\x07"),
        (Header.REQUEST_COMMS_STATUS, b"", b"\x00\x00\x00"),
        (Header.CLEAR_COMMS_STATUS, b"", b""),
        (Header.RESET_DEVICE, b"", b""),
    ],
)
def test_request_headers_at_power_up(header: Header, data: bytes, expected: bytes) -> None:
    assert ack(make_device(), header, data) == expected


def test_ack_is_the_reference_bytes() -> None:
    replies = make_device().receive(bytes.fromhex("02 00 01 FE FF"), 0.0)
    assert [r.data for r in replies] == [bytes.fromhex("01 00 02 00 FD")]


def test_status_opto_and_self_check_follow_runtime_state() -> None:
    device = make_device()
    device.status, device.opto_states, device.fault_code = 1, 0b101, 3
    assert ack(device, Header.REQUEST_STATUS) == b"\x01"
    assert ack(device, Header.READ_OPTO_STATES) == b"\x05"
    assert ack(device, Header.PERFORM_SELF_CHECK) == b"\x03"
    device.fault_extra = 9
    assert ack(device, Header.PERFORM_SELF_CHECK) == b"\x03\x09"


def test_address_poll_replies_raw_byte_after_4ms_per_address() -> None:
    device = make_device(address=5)
    for dest in (0, 5):  # broadcast, as intended, or addressed
        replies = device.receive(encode_frame(Frame(dest, 1, Header.ADDRESS_POLL)), 0.0)
        assert [(r.data, r.delay_s) for r in replies] == [(b"\x05", pytest.approx(0.020))]


def test_address_clash_replies_raw_byte_after_random_delay() -> None:
    device = make_device()
    delays = set()
    for _ in range(20):
        (reply,) = device.receive(encode_frame(Frame(2, 1, Header.ADDRESS_CLASH)), 0.0)
        assert reply.data == b"\x02"
        steps = reply.delay_s / 0.004
        assert 0 <= steps <= 255 and abs(steps - round(steps)) < 1e-9
        delays.add(reply.delay_s)
    assert len(delays) > 1


def test_address_change_acks_from_old_address_then_moves() -> None:
    device = make_device()
    reply = ask(device, Header.ADDRESS_CHANGE, b"\x07")
    assert reply == Frame(1, 2, 0)
    assert device.address == 7
    assert ask(device, Header.SIMPLE_POLL, dest=2) is None  # old address is deaf
    assert ask(device, Header.SIMPLE_POLL, dest=7) == Frame(1, 7, 0)
    assert AddressChanged(2, 7) in device.drain_events()


@pytest.mark.parametrize("bad", [b"\x00", b"\x01", b"", b"\x05\x06"])
def test_address_change_refuses_broadcast_host_and_malformed(bad: bytes) -> None:
    device = make_device()
    assert is_nak(device, Header.ADDRESS_CHANGE, bad)
    assert device.address == 2


def test_address_random_acks_then_takes_a_device_address() -> None:
    device = make_device()
    assert ask(device, Header.ADDRESS_RANDOM) == Frame(1, 2, 0)
    assert 2 <= device.address <= 255
    if device.address != 2:
        assert AddressChanged(2, device.address) in device.drain_events()


# ------------------------------------------------------------------ inhibits


def test_inhibit_mask_is_two_bytes_bit0_of_mask1_is_position1() -> None:
    device = make_device()
    ack(device, Header.MODIFY_INHIBIT_STATUS, b"\x01\x80")
    assert device.inhibit_mask == 0x8001  # positions 1 and 16
    assert ack(device, Header.REQUEST_INHIBIT_STATUS) == b"\x01\x80"
    assert InhibitsChanged(0x8001) in device.drain_events()


@pytest.mark.parametrize("bad", [b"\xff", b"", b"\xff\xff\xff"])
def test_inhibit_mask_of_wrong_length_is_nak_and_ignored(bad: bytes) -> None:
    device = make_device()
    assert is_nak(device, Header.MODIFY_INHIBIT_STATUS, bad)
    assert device.inhibit_mask == 0


def test_master_inhibit_bit0() -> None:
    device = make_device()
    assert device.master_inhibit
    ack(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01")
    assert not device.master_inhibit
    assert ack(device, Header.REQUEST_MASTER_INHIBIT_STATUS) == b"\x01"
    ack(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\xfe")  # only bit 0 counts
    assert device.master_inhibit
    assert ack(device, Header.REQUEST_MASTER_INHIBIT_STATUS) == b"\x00"
    events = device.drain_events()
    assert [e for e in events if isinstance(e, MasterInhibitChanged)] == [
        MasterInhibitChanged(False),
        MasterInhibitChanged(True),
    ]


def test_is_accepting_needs_enabled_position_master_off_and_recent_credit_poll() -> None:
    device = make_device()
    assert not device.is_accepting(1, 0.0)  # power-up: everything inhibited
    ack(device, Header.MODIFY_INHIBIT_STATUS, b"\x03\x00", now=10.0)  # positions 1, 2
    ack(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01", now=10.0)
    assert not device.is_accepting(1, 10.0)  # never read the credit buffer
    ack(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, now=10.0)
    assert device.is_accepting(1, 10.5)
    assert device.is_accepting(2, 11.0)
    assert not device.is_accepting(3, 10.5)  # inhibited
    assert not device.is_accepting(1, 11.01)  # host silent for over 1 s
    ack(device, Header.SIMPLE_POLL, now=11.5)  # alive, but not reading credits
    assert not device.is_accepting(1, 11.5)
    assert device.last_host_activity == 11.5
    ack(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, now=11.6)
    assert device.is_accepting(1, 11.6)
    ack(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x00", now=11.7)
    assert not device.is_accepting(1, 11.7)


def test_is_accepting_refuses_unused_and_out_of_range_positions() -> None:
    device = make_device()
    enable_all(device)
    assert device.is_accepting(5, 0.5)
    assert not device.is_accepting(4, 0.5)  # coin id None
    assert not device.is_accepting(0, 0.5)
    assert not device.is_accepting(17, 0.5)


# -------------------------------------------------------------- 229 buffer


def read_229(device: CoinAcceptorDevice, now: float = 0.0) -> CreditBufferSnapshot:
    return CreditBufferSnapshot.from_bytes(
        ack(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, now=now)
    )


def test_power_up_counter_zero_then_dummy_event() -> None:
    device = make_device()
    first = read_229(device)
    assert first.counter == 0 and first.results == (ErrorEvent(0),) * 5
    # Polled at 0 once: the device moves to counter 1 with a dummy [0][2].
    second = read_229(device)
    assert second.counter == 1
    assert second.results[0] == ErrorEvent(AcceptorError.INHIBITED_COIN)
    assert read_229(device).counter == 1  # and stays there
    assert device.counters.insertion == 0  # the dummy is not a coin


def test_power_up_dummy_can_be_disabled() -> None:
    device = make_device(power_up_dummy_event=False)
    assert read_229(device).counter == 0
    assert read_229(device).counter == 0
    device.push_credit(1)
    assert read_229(device).counter == 1


def test_credit_and_error_results_newest_first() -> None:
    device = make_device(power_up_dummy_event=False)
    device.push_credit(1)
    device.push_credit(2, sorter_path=3)
    device.push_error(AcceptorError.REJECT_COIN)
    payload = ack(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES)
    assert payload == bytes((3, 0, 1, 2, 3, 1, 0, 0, 0, 0, 0))


def test_counter_counts_to_255_then_wraps_to_1_never_0() -> None:
    device = make_device(power_up_dummy_event=False)
    seen = []
    for _ in range(600):
        device.push_error(AcceptorError.REJECT_COIN)
        seen.append(device.event_counter)
    assert 0 not in seen
    assert seen[:3] == [1, 2, 3]
    assert seen[253:257] == [254, 255, 1, 2]
    assert all(b == a % 255 + 1 for a, b in itertools.pairwise(seen))


def test_host_poller_follows_device_across_the_wrap() -> None:
    device = make_device(power_up_dummy_event=False)
    poller = CreditPoller()
    rng = random.Random(3)
    pushed: list[CreditEvent] = []
    received: list[CreditEvent | ErrorEvent] = []
    poller.update(read_229(device))
    for _ in range(400):  # ~ 1000 events: the counter wraps several times
        for _ in range(rng.randint(0, 5)):
            position = rng.choice([1, 2, 3, 5])
            device.push_credit(position)
            pushed.append(CreditEvent(position, 0))
        result = poller.update(read_229(device))
        assert result.lost == 0 and not result.device_reset
        received.extend(result.events)
    assert received == pushed


def test_more_than_five_unread_events_overwrite_and_are_counted() -> None:
    device = make_device(power_up_dummy_event=False)
    poller = CreditPoller()
    poller.update(read_229(device))
    for position in (1, 2, 3, 5, 1, 2, 3):
        device.push_credit(position)
    assert device.overwritten_unread == 2
    lost = [e for e in device.drain_events() if isinstance(e, EventOverwritten)]
    assert lost == [EventOverwritten(CreditEvent(1, 0), 1), EventOverwritten(CreditEvent(2, 0), 2)]
    result = poller.update(read_229(device))
    assert result.lost == 2
    assert result.events == tuple(CreditEvent(p, 0) for p in (3, 5, 1, 2, 3))
    # Once read, those results may be pushed out without counting as lost.
    for _ in range(5):
        device.push_error(AcceptorError.REJECT_COIN)
    assert device.overwritten_unread == 2


def test_counters_for_credits_rejects_and_fraud() -> None:
    device = make_device()
    device.push_credit(1)
    device.push_credit(2)
    device.push_error(AcceptorError.REJECT_COIN)
    device.push_error(AcceptorError.COIN_ON_STRING)  # fraud and a rejected coin
    device.push_error(AcceptorError.SLUG)
    device.push_error(AcceptorError.COIN_RETURN_MECHANISM_ACTIVATED)  # not a coin
    device.push_error(AcceptorError.INHIBITED_COIN, coin=False)  # caller knows better
    c = device.counters
    assert (c.insertion, c.accept, c.reject, c.fraud) == (5, 2, 3, 2)
    assert ack(device, Header.REQUEST_INSERTION_COUNTER) == b"\x05\x00\x00"
    assert ack(device, Header.REQUEST_ACCEPT_COUNTER) == b"\x02\x00\x00"
    assert ack(device, Header.REQUEST_REJECT_COUNTER) == b"\x03\x00\x00"
    assert ack(device, Header.REQUEST_FRAUD_COUNTER) == b"\x02\x00\x00"
    device.counters.insertion = 0x0A0B0C
    assert ack(device, Header.REQUEST_INSERTION_COUNTER) == b"\x0c\x0b\x0a"  # LSB first


def test_push_validates_arguments() -> None:
    device = make_device()
    with pytest.raises(ValueError):
        device.push_credit(0)
    with pytest.raises(ValueError):
        device.push_credit(17)
    with pytest.raises(ValueError):
        device.push_error(256)
    assert device.event_counter == 0


# ------------------------------------------------------ sorter paths, coin ids


def test_sorter_paths_modify_request_and_default_credit_path() -> None:
    device = make_device(power_up_dummy_event=False)
    ack(device, Header.MODIFY_SORTER_PATHS, b"\x02\x03")
    assert ack(device, Header.REQUEST_SORTER_PATHS, b"\x02") == b"\x03"
    assert SorterPathChanged(2, 3) in device.drain_events()
    device.push_credit(2)
    assert read_229(device).results[0] == CreditEvent(2, 3)
    assert is_nak(device, Header.MODIFY_SORTER_PATHS, b"\x11\x01")  # position 17
    assert is_nak(device, Header.MODIFY_SORTER_PATHS, b"\x01\x09")  # path 9
    assert is_nak(device, Header.REQUEST_SORTER_PATHS, b"\x00")


def test_coin_id_modify_and_request() -> None:
    device = make_device()
    ack(device, Header.MODIFY_COIN_ID, b"\x04GB010B")
    assert ack(device, Header.REQUEST_COIN_ID, b"\x04") == b"GB010B"
    ack(device, Header.MODIFY_COIN_ID, b"\x01......")
    assert ack(device, Header.REQUEST_COIN_ID, b"\x01") == b"......"
    assert device.coin_ids[:4] == (None, "GB200A", "GB050B", "GB010B")
    events = device.drain_events()
    assert CoinIdChanged(4, "GB010B") in events and CoinIdChanged(1, None) in events
    assert is_nak(device, Header.MODIFY_COIN_ID, b"\x01GB\x00\x01\x02A")
    assert is_nak(device, Header.MODIFY_COIN_ID, b"\x00GB100A")
    assert is_nak(device, Header.REQUEST_COIN_ID, b"\x11")


def test_constructor_validates_coin_ids_and_address() -> None:
    with pytest.raises(ValueError):
        CoinAcceptorDevice(["GB100B"] * 17)
    with pytest.raises(ValueError):
        CoinAcceptorDevice(["GB100"])
    with pytest.raises(ValueError):
        CoinAcceptorDevice(["GB100B"], address=1)
    assert CoinAcceptorDevice(["......", "GB100B"]).coin_ids[:2] == (None, "GB100B")


# ------------------------------------------------------------------- reset


def test_reset_acks_then_returns_to_power_up_state() -> None:
    device = make_device(power_up_dummy_event=False)
    enable_all(device, now=1.0)
    ack(device, Header.MODIFY_SORTER_PATHS, b"\x01\x02")
    device.push_credit(1)
    device.push_error(AcceptorError.REJECT_COIN)
    poller = CreditPoller()
    poller.update(read_229(device, now=1.0))
    device.drain_events()

    assert ask(device, Header.RESET_DEVICE, now=2.0) == Frame(1, 2, 0)

    assert device.inhibit_mask == 0
    assert device.master_inhibit
    assert device.event_counter == 0
    assert not device.is_accepting(1, 2.0)
    assert device.last_credit_poll is None
    assert device.drain_events() == [Polled(2.0, Header.RESET_DEVICE), ResetRequested(2.0)]
    assert read_229(device, now=2.1) == CreditBufferSnapshot(0, (ErrorEvent(0),) * 5)
    assert poller.update(read_229(device, now=2.2)).device_reset
    # Address, configuration and lifetime counters survive (non-volatile).
    assert device.address == 2
    assert device.sorter_paths[0] == 2
    assert device.counters.insertion == 2


# --------------------------------------------------------------- the wire


def test_bad_checksum_request_is_ignored_and_counted() -> None:
    device = make_device()
    assert device.receive(bytes.fromhex("02 00 01 F2 0C"), 0.0) == []
    device.receive(b"", 1.0)  # the gap ends the junk
    assert ack(device, Header.REQUEST_COMMS_STATUS, now=1.0) == b"\x00\x05\x01"
    ack(device, Header.CLEAR_COMMS_STATUS, now=1.1)
    assert ack(device, Header.REQUEST_COMMS_STATUS, now=1.2) == b"\x00\x00\x00"


def test_rx_timeout_is_counted_in_comms_status() -> None:
    device = make_device()
    request = encode_frame(Frame(2, 1, Header.SIMPLE_POLL))
    assert device.receive(request[:3], 0.0) == []
    assert device.receive(request[3:], 0.06) == []  # 60 ms gap: head discarded
    # The orphaned tail times out in turn; the host's retry is answered.
    assert ack(device, Header.SIMPLE_POLL, now=0.2) == b""
    assert ack(device, Header.REQUEST_COMMS_STATUS, now=0.3)[:2] == b"\x02\x05"


def test_split_request_within_50ms_is_answered() -> None:
    device = make_device()
    request = encode_frame(Frame(2, 1, Header.SIMPLE_POLL))
    replies = []
    for i, byte in enumerate(request):
        replies += device.receive(bytes((byte,)), i * 0.01)
    assert [r.data for r in replies] == [bytes.fromhex("01 00 02 00 FD")]


def test_frames_for_other_addresses_are_ignored() -> None:
    device = make_device()
    for dest in (3, 40, 1):
        assert ask(device, Header.SIMPLE_POLL, dest=dest) is None
    assert device.foreign_frames == 3
    assert device.last_host_activity is None


def test_broadcast_other_than_address_poll_is_ignored() -> None:
    device = make_device()
    assert ask(device, Header.RESET_DEVICE, dest=0) is None
    assert ask(device, Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01", dest=0) is None
    assert device.master_inhibit


def test_own_echo_on_the_single_wire_is_ignored() -> None:
    device = make_device()
    request = encode_frame(Frame(2, 1, Header.SIMPLE_POLL))
    (reply,) = device.receive(request, 0.0)
    # The wire carries our reply back to us, then the next request follows.
    replies = device.receive(reply.data + request, 0.01)
    assert [r.data for r in replies] == [reply.data]
    assert device.echoes_ignored == 1


def test_unknown_header_silence_by_default_nak_on_request() -> None:
    device = make_device()
    assert ask(device, 99) is None
    assert device.unknown_requests == 1
    nak_device = make_device(unknown_header="nak")
    assert is_nak(nak_device, 99)
    # A reply header addressed to a device is never answered (no ping-pong).
    assert ask(nak_device, Header.ACK) is None
    assert ask(nak_device, Header.NAK) is None


def test_malformed_known_request_is_nak() -> None:
    device = make_device()
    assert is_nak(device, Header.SIMPLE_POLL, b"\x00")
    assert is_nak(device, Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, b"\x00")
    assert device.event_counter == 0


def test_crc16_bus() -> None:
    device = make_device(checksum="crc16")
    reply = ask(device, Header.REQUEST_SERIAL_NUMBER, checksum="crc16")
    assert reply is not None and reply.data == b"\x56\x34\x12"
    # A simple-checksum request is noise on a CRC bus.
    assert device.receive(bytes.fromhex("02 00 01 F2 0B"), 1.0) == []


def test_polled_event_for_each_request_and_queue_is_bounded() -> None:
    device = make_device()
    for i in range(300):
        ack(device, Header.SIMPLE_POLL, now=float(i))
    events = device.drain_events()
    assert len(events) == 256 and device.events_dropped == 44
    assert events[-1] == Polled(299.0, Header.SIMPLE_POLL)
    assert device.next_event() is None


def test_receive_data_concatenates_replies() -> None:
    device = make_device()
    wire = encode_frame(Frame(2, 1, Header.SIMPLE_POLL)) * 2
    assert device.receive_data(wire, 0.0) == bytes.fromhex("01 00 02 00 FD") * 2


@given(
    requests=st.lists(
        st.tuples(
            st.sampled_from([0, 2, 2, 2, 3]),
            st.one_of(st.sampled_from(sorted(CoinAcceptorDevice._routes)), st.integers(0, 255)),
            st.binary(max_size=12),
        ),
        max_size=40,
    ),
    mode=st.sampled_from(["simple", "crc16"]),
)
def test_hostile_requests_never_raise(
    requests: list[tuple[int, int, bytes]], mode: ChecksumMode
) -> None:
    device = make_device(checksum=mode, unknown_header="nak")
    for i, (dest, header, data) in enumerate(requests):
        wire = encode_frame(Frame(dest, 1, header, data), mode)
        for reply in device.receive(wire, i * 0.1):
            if len(reply.data) == 1:  # raw address byte (253/252)
                assert reply.request.header in (Header.ADDRESS_POLL, Header.ADDRESS_CLASH)
            else:
                frame = decode_frame(reply.data, mode, implied_src=reply.data[2])
                assert frame.dest == 1 and frame.header in (Header.ACK, Header.NAK)
    assert 0 <= device.inhibit_mask <= 0xFFFF
    assert 2 <= device.address <= 255


def test_a_new_profile_loads_new_coin_ids_that_184_reports() -> None:
    device = make_device()
    assert ack(device, Header.REQUEST_COIN_ID, bytes([4])) == b"......"
    device.set_coin_ids(["GB100B", "GB100A", "GB200A", "GB010B"])
    assert ack(device, Header.REQUEST_COIN_ID, bytes([4])) == b"GB010B"
    assert ack(device, Header.REQUEST_COIN_ID, bytes([5])) == b"......"
    with pytest.raises(ValueError):
        device.set_coin_ids(["GB100B"] * 17)
