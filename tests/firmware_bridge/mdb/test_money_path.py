"""The runtime's money path, unchanged, driving the changer through ChangerAcceptor.

Coins go through :class:`~firmware_bridge.runtime.money.MoneyPath` exactly as
on ccTalk (decide, check the VMC allows it now, gate, credit on the credit
sensor); what reaches the VMC is one deposit per credited coin and nothing
for a returned one.
"""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np

from coinval.decision import Decision
from coinval.signature import Signature, parse_signature
from firmware_bridge.cctalk.headers import AcceptorError
from firmware_bridge.mdb.acceptor import ChangerAcceptor, coin_values
from firmware_bridge.mdb.changer import CoinChanger
from firmware_bridge.mdb.messages import ChangerStatus
from firmware_bridge.runtime.coin_positions import cctalk_ids
from firmware_bridge.runtime.money import MoneyPath
from firmware_bridge.sources import CreditSensed

from .rig import Bus

COINS = ["gb-100-2017", "gb-200-1997", "gb-050-1997"]  # coin types 0, 1, 2
AT = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)


def signature(tag: str) -> Signature:
    x = np.linspace(-1, 1, 64)
    return parse_signature(
        {
            "id": tag,
            "eddy_lo": (100 * np.exp(-(x**2) / 0.1)).tolist(),
            "eddy_hi": (80 * np.exp(-(x**2) / 0.1)).tolist(),
            "eddy_rate_hz": 1000.0,
            "rim": [11.0] * 64,
            "thickness_mm": 2.5,
            "speed_mm_s": 500.0,
            "temperature_c": 20.0,
        }
    )


class Engine:
    """``accept:COIN`` accepts COIN; anything else is refused as counterfeit."""

    def decide(self, signature: Signature, at: dt.datetime) -> Decision:
        reason, _, coin = (signature.id or "").partition(":")
        if reason == "accept":
            return Decision(signature.id, coin, True, "accepted")
        return Decision(signature.id, None, False, "counterfeit")


class Rig:
    def __init__(self, enable_mask: int | None = None) -> None:
        self.changer = CoinChanger(coin_values(cctalk_ids(COINS)))
        from firmware_bridge.mdb.vmc import VendingController

        self.bus = Bus(self.changer, VendingController(enable_mask=enable_mask))
        self.gates: list[tuple[int, bool, int]] = []
        self.money = MoneyPath(
            ChangerAcceptor(self.changer),
            threading.Lock(),
            Engine(),
            COINS,
            gate=lambda seq, accept, path: self.gates.append((seq, accept, path)),
            clock=lambda: self.bus.now,
            at=lambda: AT,
        )
        self.seq = 0

    def coin(self, tag: str) -> int:
        self.seq += 1
        self.money.on_coin(self.seq, signature(tag), self.bus.now)
        return self.seq

    def sensed(self, seq: int, passed: bool = True, forward: bool = True) -> None:
        self.money.handle(CreditSensed(seq, passed, forward, 40_000))


def test_setup_values_come_from_the_profile_coins() -> None:
    assert coin_values(cctalk_ids(COINS)) == [100, 200, 50]


def test_credited_coin_reaches_the_vmc_once() -> None:
    rig = Rig()
    rig.bus.start()
    seq = rig.coin("accept:gb-200-1997")
    assert rig.gates[-1] == (seq, True, 0)
    rig.sensed(seq)
    rig.bus.run(4)
    assert [(c.coin_type, c.value) for c in rig.bus.vmc.credits] == [(1, 200)]
    assert rig.money.totals.credits == 1


def test_refused_unconfirmed_and_disabled_coins_give_no_credit() -> None:
    rig = Rig(enable_mask=0b011)  # the VMC does not take 50p
    rig.bus.start()
    rig.coin("counterfeit")
    rig.coin("accept:gb-050-1997")  # disabled by COIN TYPE: returned
    lost = rig.coin("accept:gb-100-2017")
    rig.sensed(lost, passed=False)  # never reached the credit sensor
    pulled = rig.coin("accept:gb-100-2017")
    rig.sensed(pulled, passed=True, forward=False)
    rig.bus.run(6)
    assert rig.bus.vmc.credits == []
    assert [g[1] for g in rig.gates] == [False, False, True, True]
    statuses = [i.status for i in rig.bus.vmc.items if i.kind == "status"]
    assert ChangerStatus.NO_CREDIT in statuses
    assert ChangerStatus.POSSIBLE_CREDITED_COIN_REMOVAL in statuses
    assert [i.kind for i in rig.bus.vmc.items].count("slug") == 1
    assert rig.money.totals.errors[AcceptorError.INHIBITED_COIN_TYPE_1 + 2] == 1


def test_silent_vmc_coins_are_returned_not_credited() -> None:
    rig = Rig()
    rig.bus.start()
    rig.bus.now += 3.0  # no POLL for longer than the non-response time
    seq = rig.coin("accept:gb-100-2017")
    assert rig.gates[-1] == (seq, False, 0)
    rig.bus.run(4)
    assert rig.bus.vmc.credits == []
    assert rig.money.totals.errors == {AcceptorError.INHIBITED_COIN: 1}


def test_coin_in_flight_across_a_reset_is_credited_once() -> None:
    rig = Rig()
    rig.bus.start()
    seq = rig.coin("accept:gb-100-2017")
    rig.bus.vmc.phase = "reset"
    rig.bus.run(1)
    refused = rig.coin("accept:gb-100-2017")  # after the reset, before the enables
    rig.sensed(seq)
    rig.bus.start()
    rig.bus.run(3)
    assert [c.value for c in rig.bus.vmc.credits] == [100]
    assert rig.gates[-1] == (refused, False, 0)
