"""A VMC and the changer on a simulated bus: start-up, credits, silence, faults on the wire.

The money rule under test: the VMC's credits are exactly the coins the
engine accepted, the VMC had enabled and the credit sensor confirmed, each
once, in order, whatever the wire does to commands and responses.
"""

from __future__ import annotations

import random

import pytest

from firmware_bridge.mdb.changer import CoinChanger
from firmware_bridge.mdb.messages import ChangerStatus
from firmware_bridge.mdb.vmc import VendingController

from .rig import VALUES, Bus, random_faults


def test_start_up_reads_setup_identity_and_enables_every_coin() -> None:
    bus = Bus(CoinChanger(VALUES))
    bus.start()
    vmc = bus.vmc
    assert vmc.resets_seen == 1
    assert vmc.setup is not None and vmc.setup.country_code == 0x1826
    assert vmc.identity is not None and vmc.identity.manufacturer == "CVL"
    assert bus.changer.enables.coins == 0b111111
    assert bus.changer.features == 0x02


def test_a_deposit_is_credited_once_at_its_setup_value() -> None:
    bus = Bus(CoinChanger(VALUES))
    bus.start()
    bus.changer.push_deposit(5)
    bus.run(5)
    assert [(c.coin_type, c.value) for c in bus.vmc.credits] == [(5, 200)]
    assert bus.changer.unreported == 0


def test_vmc_going_silent_returns_coins() -> None:
    bus = Bus(CoinChanger(VALUES))
    bus.start()
    assert bus.changer.is_accepting(0, bus.now)
    bus.now += 2.5  # no POLL for longer than the non-response time
    assert not bus.changer.is_accepting(0, bus.now)
    bus.run(1)  # polling again
    assert bus.changer.is_accepting(0, bus.now)


def test_coin_accepted_before_silence_is_reported_when_the_vmc_returns() -> None:
    bus = Bus(CoinChanger(VALUES))
    bus.start()
    assert bus.changer.is_accepting(3, bus.now)  # decided while the VMC polled
    bus.now += 10.0
    bus.changer.push_deposit(3)  # the credit sensor confirms it later
    bus.run(5)
    assert [c.value for c in bus.vmc.credits] == [50]


def test_reset_mid_coin_the_coin_is_credited_after_just_reset() -> None:
    bus = Bus(CoinChanger(VALUES))
    bus.start()
    assert bus.changer.is_accepting(4, bus.now)  # gate opened for a £1
    bus.vmc.phase = "reset"  # the VMC resets the changer meanwhile
    bus.run(1)
    assert not bus.changer.is_accepting(4, bus.now)  # new coins wait for the enables
    bus.changer.push_deposit(4)  # the £1 reaches the credit sensor
    bus.start()
    bus.run(3)
    assert [c.value for c in bus.vmc.credits] == [100]
    kinds = [(i.kind, i.status) for i in bus.vmc.items]
    assert kinds.count(("status", ChangerStatus.JUST_RESET)) == 2


def test_disabled_coin_type_is_not_accepted() -> None:
    bus = Bus(CoinChanger(VALUES), VendingController(enable_mask=0b000011))
    bus.start()
    assert bus.changer.is_accepting(1, bus.now)
    assert not bus.changer.is_accepting(2, bus.now)


def test_a_lost_ack_makes_the_changer_send_again_mdbs_blind_spot() -> None:
    # The VMC credited the coin and ACKed; the ACK is destroyed on the wire.
    # The changer cannot know, keeps the data and sends it on the next POLL.
    # This is what the spec asks (a report is never dropped), and the one way
    # MDB itself makes a VMC credit twice.  docs/mdb.md says so.
    lost = {"n": 0}

    def kill_first_ack(data: bytes) -> bytes:
        if data == b"\x00\x00" and lost["n"] == 0:
            lost["n"] = 1
            return b"\x00\x55"
        return data

    bus = Bus(CoinChanger(VALUES))
    bus.start()
    bus.handshake = kill_first_ack
    bus.changer.push_deposit(0)
    bus.run(4)
    assert len(bus.vmc.credits) == 2
    assert bus.changer.counters.deposits_reported == 1


@pytest.mark.parametrize("seed", range(12))
def test_faults_on_the_wire_never_add_or_lose_a_credit(seed: int) -> None:
    rng = random.Random(seed)
    changer = CoinChanger(VALUES)
    bus = Bus(
        changer,
        VendingController(enable_mask=0b011111),  # £2 left disabled by the VMC
        to_changer=random_faults(random.Random(seed + 1000), 0.3),
        to_vmc=random_faults(random.Random(seed + 2000), 0.3),
    )
    bus.start()
    expected: list[int] = []
    for _ in range(120):
        bus.cycle()
        if rng.random() < 0.4:
            coin_type = rng.randrange(7)  # 6: a type the changer does not have
            engine_accepts = rng.random() < 0.8
            confirmed = rng.random() < 0.9
            if engine_accepts and changer.is_accepting(coin_type, bus.now):
                if confirmed:
                    changer.push_deposit(coin_type)
                    expected.append(coin_type)
                else:
                    changer.push_status(ChangerStatus.NO_CREDIT)
        if rng.random() < 0.02:
            bus.vmc.phase = "reset"  # the VMC resets the changer now and then
    faults_seen = bus.vmc.bad_responses + bus.vmc.timeouts + changer.counters.resends
    bus.to_changer = bus.to_vmc = lambda data: data
    bus.run(60)
    assert expected and faults_seen > 10  # the test did exercise the faults
    assert [c.coin_type for c in bus.vmc.credits] == expected
    assert 5 not in expected and 6 not in expected
    assert changer.unreported_deposits == 0
    assert changer.counters.deposits_reported == len(expected)
