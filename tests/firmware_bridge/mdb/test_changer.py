"""The changer state machine, command by command, at the word level."""

from __future__ import annotations

import pytest

from firmware_bridge.mdb.changer import (
    CoinChanger,
    DispenseRequested,
    EnablesChanged,
    Reported,
    ResetDone,
)
from firmware_bridge.mdb.messages import (
    ChangerIdentity,
    ChangerSetup,
    ChangerStatus,
    CoinTypeEnables,
    Route,
    decode_poll,
)
from firmware_bridge.mdb.timing import T_NON_RESPONSE_S, T_RESPONSE_S
from firmware_bridge.mdb.words import ACK, NAK, RET, checksum_ok, parse_words, vmc_block

from .rig import VALUES

ACK_WORD = 0x100


def send(changer: CoinChanger, command: int, data: bytes = b"", now: float = 1.0) -> list[int]:
    replies = changer.receive_words(vmc_block(command, data), now)
    assert len(replies) <= 1
    return list(replies[0].words) if replies else []


def data_of(words: list[int]) -> bytes:
    assert checksum_ok(words) and words[-1] & 0x100 and not any(w & 0x100 for w in words[:-1])
    return bytes(w & 0xFF for w in words[:-1])


def started(now: float = 1.0) -> CoinChanger:
    """Reset, just-reset polled and ACKed, SETUP read, every coin enabled."""
    changer = CoinChanger(VALUES)
    assert send(changer, 0x08, now=now) == [ACK_WORD]
    assert data_of(send(changer, 0x0B, now=now)) == b"\x0b"
    changer.receive_words([ACK], now)
    send(changer, 0x09, now=now)
    changer.receive_words([ACK], now)
    assert send(changer, 0x0C, bytes.fromhex("003F0000"), now=now) == [ACK_WORD]
    return changer


def test_reset_is_acked_and_just_reset_comes_on_the_first_poll() -> None:
    changer = CoinChanger(VALUES)
    assert send(changer, 0x08) == [ACK_WORD]
    first = send(changer, 0x0B)
    assert parse_words("0B 10B") == tuple(first)
    changer.receive_words([ACK], 1.0)
    assert send(changer, 0x0B) == [ACK_WORD]  # nothing more to say


def test_setup_vector() -> None:
    changer = CoinChanger(VALUES)
    words = send(changer, 0x09)
    # level 3, GBP 1826, scaling 5, 2 decimals, no tube routing, credits 1 2 4 10 20 40.
    assert bytes(data_of(words)) == bytes.fromhex("03 1826 05 02 0000 01 02 04 0A 14 28")
    assert words[-1] == 0x100 | 0x95
    setup = ChangerSetup.from_bytes(data_of(words))
    assert [setup.value_of(t) for t in range(6)] == VALUES
    assert changer.setup_read


def test_setup_with_one_penny_and_two_pounds_scales_by_one() -> None:
    setup = ChangerSetup.for_values([1, 2, 200])
    assert setup.scaling == 1 and setup.credits == (1, 2, 200)


def test_setup_refuses_values_no_byte_can_hold() -> None:
    with pytest.raises(ValueError):
        ChangerSetup.for_values([1, 500])


def test_tube_status_reports_no_tubes() -> None:
    changer = CoinChanger(VALUES)
    assert data_of(send(changer, 0x0A)) == bytes(18)


def test_coin_type_sets_enables_and_is_reported_once() -> None:
    changer = CoinChanger(VALUES)
    assert send(changer, 0x0C, bytes.fromhex("0005 0003")) == [ACK_WORD]
    assert changer.enables == CoinTypeEnables(coins=0b101, dispense=0b11)
    send(changer, 0x0C, bytes.fromhex("0005 0003"))
    changes = [e for e in changer.drain_events() if isinstance(e, EnablesChanged)]
    assert changes == [EnablesChanged(0b101, 0b11)]


def test_dispense_is_acked_and_reported_with_nothing_paid() -> None:
    changer = CoinChanger(VALUES)
    assert send(changer, 0x0D, bytes((0x32,))) == [ACK_WORD]
    assert DispenseRequested(coin_type=2, count=3) in changer.drain_events()


def test_expansion_identification_vector() -> None:
    changer = CoinChanger(VALUES)
    data = data_of(send(changer, 0x0F, b"\x00"))
    assert data[:3] == b"CVL" and len(data) == 33
    assert ChangerIdentity.from_bytes(data) == ChangerIdentity()
    assert data[-4:] == bytes.fromhex("00000002")  # extended diagnostic only


def test_feature_enable_keeps_only_offered_features() -> None:
    changer = CoinChanger(VALUES)
    assert send(changer, 0x0F, bytes.fromhex("01 0000000F")) == [ACK_WORD]
    assert changer.features == 0x02


def test_diagnostic_status_follows_enables_and_polling() -> None:
    changer = CoinChanger(VALUES)
    assert data_of(send(changer, 0x0F, b"\x05")) == bytes.fromhex("0600")
    changer = started()
    assert data_of(send(changer, 0x0F, b"\x05", now=1.5)) == bytes.fromhex("0300")


def test_unsupported_expansion_and_command_get_silence() -> None:
    changer = CoinChanger(VALUES)
    assert send(changer, 0x0F, b"\x02\x01") == []  # alternative payout: not offered
    assert changer.counters.unsupported == 1
    assert changer.receive_words(vmc_block(0x0E), 1.0) == []


def test_replies_carry_the_response_deadline() -> None:
    changer = CoinChanger(VALUES)
    (reply,) = changer.receive_words(vmc_block(0x0B), 3.0)
    assert reply.deadline == pytest.approx(3.0 + T_RESPONSE_S)
    assert not reply.late(3.004) and reply.late(3.006)


# ------------------------------------------------------------------ POLL data


def test_poll_deposit_vector_and_ack_retires_it() -> None:
    changer = started()
    changer.push_deposit(2)
    words = send(changer, 0x0B)
    assert tuple(words) == parse_words("42 00 142")
    assert decode_poll(data_of(words))[0].coin_type == 2
    changer.receive_words([ACK], 1.0)
    assert Reported(b"\x42\x00") in changer.drain_events()
    assert changer.counters.deposits_reported == 1
    assert send(changer, 0x0B) == [ACK_WORD]


def test_nak_keeps_the_data_for_the_next_poll() -> None:
    changer = started()
    changer.push_deposit(1)
    first = send(changer, 0x0B)
    changer.receive_words([NAK], 1.0)
    changer.push_deposit(3)  # arrives meanwhile: goes in the next block, not this one
    assert send(changer, 0x0B) == first
    changer.receive_words([ACK], 1.0)
    assert data_of(send(changer, 0x0B)) == b"\x43\x00"


def test_ret_retransmits_at_once() -> None:
    changer = started()
    changer.push_deposit(4)
    first = send(changer, 0x0B)
    (again,) = changer.receive_words([RET], 1.0)
    assert list(again.words) == first and again.command is None
    changer.receive_words([ACK], 1.0)
    assert changer.counters.deposits_reported == 1
    assert changer.unreported == 0


def test_no_handshake_then_poll_sends_the_same_data() -> None:
    changer = started()
    changer.push_deposit(0)
    first = send(changer, 0x0B)
    assert send(changer, 0x0B) == first  # the VMC never ACKed: it may not have it
    assert changer.counters.resends == 1


def test_ack_of_another_peripheral_is_not_ours() -> None:
    changer = started()
    changer.push_deposit(0)
    send(changer, 0x0B)
    # The VMC polls the bill validator (30H), which answers; the VMC ACKs *it*.
    changer.receive_words(vmc_block(0x33), 1.0)
    changer.receive_words([ACK], 1.0)
    assert changer.counters.deposits_reported == 0
    assert data_of(send(changer, 0x0B)) == b"\x40\x00"


def test_a_late_ack_still_counts() -> None:
    changer = started()
    changer.push_deposit(5)
    send(changer, 0x0B, now=2.0)
    changer.receive_words([ACK], 2.5)  # long after 5 ms, but nothing else came between
    assert changer.counters.deposits_reported == 1


def test_poll_response_holds_at_most_16_bytes() -> None:
    changer = started()
    for coin_type in range(5):
        changer.push_deposit(coin_type)
    changer.push_status(ChangerStatus.NO_CREDIT)
    changer.push_slug()
    for _ in range(4):
        changer.push_deposit(1)
    blocks = []
    while (words := send(changer, 0x0B)) != [ACK_WORD]:
        data = data_of(words)
        assert len(data) <= 16
        blocks.append(data)
        changer.receive_words([ACK], 1.0)
    items = [i for block in blocks for i in decode_poll(block)]
    assert [i.kind for i in items] == ["deposited"] * 5 + ["status", "slug"] + ["deposited"] * 4
    assert changer.counters.deposits_reported == 9


# ------------------------------------------------------------- acceptance rules


def test_accepting_needs_enable_setup_and_a_recent_poll() -> None:
    changer = CoinChanger(VALUES)
    assert not changer.is_accepting(0, 1.0)
    changer = started(now=10.0)
    assert changer.is_accepting(0, 10.0)
    assert not changer.is_accepting(6, 10.0)  # no such coin type
    send(changer, 0x0C, bytes.fromhex("003E0000"), now=10.0)
    assert not changer.is_accepting(0, 10.0)  # disabled by the VMC
    assert changer.is_accepting(1, 10.0 + T_NON_RESPONSE_S)
    assert not changer.is_accepting(1, 10.0 + T_NON_RESPONSE_S + 0.01)  # the VMC went silent
    assert "not polling" in (changer.refusal(1, 20.0) or "")


def test_setup_must_be_read_after_a_reset() -> None:
    changer = CoinChanger(VALUES)
    send(changer, 0x0C, bytes.fromhex("003F0000"))
    send(changer, 0x0B)
    assert changer.refusal(0, 1.0) == "VMC has not read SETUP since the reset"


def test_reset_mid_report_keeps_unacknowledged_deposits() -> None:
    changer = started()
    changer.push_deposit(2)
    send(changer, 0x0B)  # sent, not ACKed
    changer.push_deposit(3)  # waiting
    assert send(changer, 0x08) == [ACK_WORD]
    assert changer.enables.coins == 0 and not changer.is_accepting(2, 1.0)
    items = decode_poll(data_of(send(changer, 0x0B)))
    assert [(i.kind, i.status or i.coin_type) for i in items] == [
        ("status", ChangerStatus.JUST_RESET),
        ("deposited", 2),
        ("deposited", 3),
    ]
    assert any(isinstance(e, ResetDone) and e.by_vmc for e in changer.drain_events())


def test_two_resets_report_just_reset_once() -> None:
    changer = CoinChanger(VALUES)
    send(changer, 0x08)
    send(changer, 0x08)
    assert data_of(send(changer, 0x0B)) == b"\x0b"


def test_a_new_profile_resets_the_changer() -> None:
    changer = started()
    assert not changer.set_coin_values(VALUES)
    assert changer.set_coin_values([*VALUES, 2])
    assert changer.enables.coins == 0
    assert data_of(send(changer, 0x0B)) == b"\x0b"
    assert ChangerSetup.from_bytes(data_of(send(changer, 0x09))).credits[-1] == 2


def test_bad_checksum_gets_no_answer() -> None:
    changer = CoinChanger(VALUES)
    assert changer.receive_words((0x10B, 0x0C), 1.0) == []
    assert changer.parser_stats.bad_checksums == 1  # type: ignore[attr-defined]


def test_route_reject_is_not_credited_by_decoders() -> None:
    assert decode_poll(bytes((0x72, 0)))[0].route is Route.REJECT
