"""Live reconfiguration of the money path: engine swaps between coins, positions, records.

What ``coinval serve --api`` relies on: a new engine staged from another
thread is used from the next coin on, never in the middle of one; the device's
coin ids (header 184) follow the new coin list; every decided coin is handed
to ``on_decided`` with its signature.
"""

from __future__ import annotations

import logging
import threading

import pytest

from coinval.decision import Decision
from coinval.signature import Signature
from firmware_bridge.cctalk.credit_buffer import CreditEvent, ErrorEvent
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.runtime.coin_positions import position_changes
from firmware_bridge.runtime.loop import Runtime
from firmware_bridge.runtime.money import MoneyPath
from tests.firmware_bridge.runtime.test_money import AT, COINS, Rig, ScriptedEngine


class Inhibiting(ScriptedEngine):
    """A scripted engine whose operator inhibited some coins: their accepts become inhibited."""

    def __init__(self, rig: Rig, inhibited: set[str]) -> None:
        super().__init__(rig.clock)
        self.inhibited = inhibited

    def decide(self, signature: Signature, at: object) -> Decision:
        d = super().decide(signature, AT)
        if d.accepted and d.coin in self.inhibited:
            return Decision(d.id, d.coin, False, "inhibited")
        return d


def started_rig(**money: object) -> Rig:
    rig = Rig()
    if money:
        rig.money = MoneyPath(
            rig.device,
            rig.lock,
            ScriptedEngine(rig.clock),
            COINS,
            gate=lambda seq, accept, path: rig.gates.append((seq, accept, path)),
            clock=rig.clock,
            at=lambda: AT,
            **money,  # type: ignore[arg-type]
        )
    rig.start()
    rig.enable(0xFFFF)
    return rig


def coin_id(rig: Rig, position: int) -> str:
    return rig.request(Header.REQUEST_COIN_ID, bytes([position])).decode("ascii")


def test_a_staged_engine_decides_from_the_next_coin_on() -> None:
    rig = started_rig()
    first = rig.coin("accept:gb-200-1997")
    rig.sensed(first)
    rig.money.stage(Inhibiting(rig, {"gb-200-1997"}), COINS)
    rig.coin("accept:gb-200-1997")  # the operator's inhibit: type-specific error, position 3
    assert rig.poll().events == (CreditEvent(3, 0), ErrorEvent(130))
    rig.money.stage(ScriptedEngine(rig.clock), COINS)  # inhibit lifted
    rig.sensed(rig.coin("accept:gb-200-1997"))
    assert rig.poll().events == (CreditEvent(3, 0),)


def test_a_coin_in_flight_keeps_its_position_and_value() -> None:
    rig = started_rig()
    seq = rig.coin("accept:gb-200-1997")  # accepted at position 3, not yet at the credit sensor
    rig.money.stage(ScriptedEngine(rig.clock), ["gb-200-1997", "gb-100-2017"])
    assert rig.money.apply_staged()
    rig.sensed(seq)
    assert rig.poll().events == (CreditEvent(3, 0),)
    assert rig.money.totals.value_pence == 200


def test_the_device_coin_ids_follow_the_new_list() -> None:
    rig = started_rig()
    assert [coin_id(rig, p) for p in (1, 2, 3, 4)] == ["GB100B", "GB100A", "GB200A", "......"]
    rig.money.stage(ScriptedEngine(rig.clock), [*COINS, "gb-020-1982"])
    assert coin_id(rig, 4) == "......"  # staged, not yet applied
    assert rig.money.apply_staged() and not rig.money.apply_staged()
    assert coin_id(rig, 4) == "GB020A"
    rig.sensed(rig.coin("accept:gb-020-1982"))
    assert rig.poll().events == (CreditEvent(4, 0),)
    # Back to the old list (a rollback): position 4 is empty again, its coin refused.
    rig.money.stage(ScriptedEngine(rig.clock), COINS)
    rig.coin("accept:gb-020-1982")
    assert coin_id(rig, 4) == "......"
    assert rig.poll().events == (ErrorEvent(1),)
    assert rig.money.coins == tuple(COINS)


def test_stage_refuses_a_list_the_acceptor_cannot_hold() -> None:
    rig = started_rig()
    with pytest.raises(ValueError, match="1 to 16"):
        rig.money.stage(ScriptedEngine(rig.clock), [])
    with pytest.raises(ValueError, match="1 to 16"):
        rig.money.stage(ScriptedEngine(rig.clock), ["gb-200-1997"] * 17)


def test_on_decided_gets_every_decided_coin_with_its_signature() -> None:
    seen: list[tuple[str | None, str]] = []

    def on_decided(sig: Signature, decision: Decision) -> None:
        seen.append((sig.id, decision.reason))
        if decision.reason == "counterfeit":
            raise RuntimeError("store down")  # must not cost the coin

    rig = started_rig(on_decided=on_decided)
    rig.sensed(rig.coin("accept:gb-200-1997"))
    rig.coin("counterfeit")
    assert seen == [("accept:gb-200-1997", "accepted"), ("counterfeit", "counterfeit")]
    assert rig.poll().events == (CreditEvent(3, 0), ErrorEvent(1))


def test_staging_from_another_thread_never_splits_a_coin() -> None:
    rig = started_rig()
    engines = [ScriptedEngine(rig.clock), Inhibiting(rig, {"gb-200-1997"})]
    stop = threading.Event()

    def flip() -> None:
        i = 0
        while not stop.is_set():
            rig.money.stage(engines[i % 2], COINS)
            i += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(200):
            seq = rig.coin("accept:gb-200-1997")
            rig.sensed(seq)
            assert len(rig.poll().events) == 1
    finally:
        stop.set()
        flipper.join()
    assert rig.money.totals.coins == 200


def test_position_changes_name_what_moved() -> None:
    assert position_changes(COINS, COINS) == []
    assert position_changes(COINS, [*COINS, "gb-020-1982"]) == [
        "position 4 added: gb-020-1982 (GB020A)"
    ]
    assert position_changes(COINS, ["gb-100-2017", "gb-200-1997"]) == [
        "position 2 changed: gb-100-1983 -> gb-200-1997 (GB200A)",
        "position 3 now empty (was gb-200-1997)",
    ]


class NoSource:
    """A sensor source that is never opened (Runtime.use only)."""

    def gate(self, coin_seq: int, accept: bool, sorter_path: int) -> None:
        raise AssertionError("no coins here")


def test_runtime_use_logs_position_changes_and_refuses_17_coins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    runtime = Runtime(
        coins=COINS,
        decider=ScriptedEngine(rig.clock),
        source=NoSource(),  # type: ignore[arg-type]
        cctalk_url="loop://",
    )
    with caplog.at_level(logging.INFO, logger="firmware_bridge.runtime"):
        runtime.use(ScriptedEngine(rig.clock), COINS, "v2")
        runtime.use(ScriptedEngine(rig.clock), [*COINS, "gb-020-1982"], "v3")
        runtime.use(ScriptedEngine(rig.clock), ["gb-200-1997"], "v4")
        runtime.use(ScriptedEngine(rig.clock), ["gb-200-1997"] * 17, "v5")
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records[0] == (logging.INFO, "engine now uses v2 (ccTalk positions unchanged)")
    assert records[1] == (
        logging.INFO,
        "engine now uses v3; ccTalk positions: position 4 added: gb-020-1982 (GB020A)",
    )
    assert records[2][0] == logging.WARNING and "position 1 changed" in records[2][1]
    assert "check it" in records[2][1]
    assert records[3][0] == logging.ERROR and "v5 has 17 coins" in records[3][1]
    runtime.money.apply_staged()
    assert runtime.money.coins == ("gb-200-1997",)  # v5 was refused, v4 stands
    assert runtime.device.coin_ids[:2] == ("GB200A", None)
