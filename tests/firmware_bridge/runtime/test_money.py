"""The money path, sans-I/O: a real device and host protocol objects, a scripted engine.

Each coin must end as exactly one ccTalk event, in arrival order; a credit
exists only for an accepted coin the credit sensor confirmed in time; nothing
the host has not read is ever pushed out of the 229 buffer.
"""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest

from coinval.decision import Decision
from coinval.signature import Signature, parse_signature
from firmware_bridge.cctalk.credit_buffer import BufferedEvent, CreditEvent, ErrorEvent
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.cctalk.host import CcTalkHost, CreditPoller, CreditPollResult, Response
from firmware_bridge.runtime.cctalk_service import CcTalkService
from firmware_bridge.runtime.coin_positions import cctalk_ids
from firmware_bridge.runtime.money import MoneyPath
from firmware_bridge.sensorlink import FaultCode
from firmware_bridge.sources import BoardFault, BoardRestarted, CoinUnreadable, CreditSensed
from firmware_bridge.transport.managed_line import ManagedLine

COINS = ["gb-100-2017", "gb-100-1983", "gb-200-1997"]  # positions 1, 2, 3
AT = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)


class Clock:
    """Manual monotonic clock."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def signature(tag: str) -> Signature:
    """A valid signature whose id tells the scripted engine what to decide."""
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


class ScriptedEngine:
    """Decides from the signature id: ``accept:COIN``, ``inhibited:COIN``, ``counterfeit``...

    ``slow:`` in front advances the clock by a second (a late decision).
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def decide(self, signature: Signature, at: dt.datetime) -> Decision:
        tag = signature.id or ""
        if tag.startswith("slow:"):
            self.clock.advance(1.0)
            tag = tag[5:]
        reason, _, coin = tag.partition(":")
        if reason == "accept":
            return Decision(signature.id, coin, True, "accepted")
        if reason == "inhibited":
            return Decision(signature.id, coin, False, "inhibited")
        return Decision(signature.id, None, False, reason)  # type: ignore[arg-type]


class Rig:
    """Device + money path + the ccTalk service's answering half + a host."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.lock = threading.Lock()
        from firmware_bridge.cctalk.device import CoinAcceptorDevice

        self.device = CoinAcceptorDevice(cctalk_ids(COINS), overflow="hold")
        self.gates: list[tuple[int, bool, int]] = []
        self.money = MoneyPath(
            self.device,
            self.lock,
            ScriptedEngine(self.clock),
            COINS,
            gate=lambda seq, accept, path: self.gates.append((seq, accept, path)),
            clock=self.clock,
            at=lambda: AT,
            decision_deadline_s=0.15,
            credit_timeout_s=1.5,
        )
        never_opened = ManagedLine("ccTalk", "none", lambda: None)  # type: ignore[arg-type,return-value]
        self.service = CcTalkService(never_opened, self.device, self.lock)
        self.host = CcTalkHost()
        self.poller = CreditPoller()
        self.seq = 0

    def request(self, header: int, data: bytes = b"") -> bytes:
        wire = self.host.send(2, header, data)
        replies = self.service.answer(wire, self.clock())
        assert len(replies) == 1
        self.host.receive_data(replies[0].data, self.clock())
        event = self.host.next_event()
        assert isinstance(event, Response)
        return event.payload()

    def enable(self, mask: int = 0b111) -> None:
        self.request(Header.MODIFY_INHIBIT_STATUS, mask.to_bytes(2, "little"))
        self.request(Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01")

    def poll(self) -> CreditPollResult:
        return self.poller.update(self.request(Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES))

    def start(self) -> None:
        """Host start-up: read 0, enable, read the power-up marker."""
        assert self.poll().device_reset
        self.enable()
        assert self.poll().events == (ErrorEvent(2),)

    def coin(self, tag: str) -> int:
        self.seq += 1
        self.money.on_coin(self.seq, signature(tag), self.clock())
        return self.seq

    def sensed(self, seq: int, passed: bool = True, forward: bool = True) -> None:
        self.money.handle(CreditSensed(seq, passed, forward, 40_000))


@pytest.fixture
def rig() -> Rig:
    r = Rig()
    r.start()
    return r


def test_power_up_state_refuses_everything() -> None:
    r = Rig()
    assert r.device.master_inhibit and r.device.inhibit_mask == 0
    seq = r.coin("accept:gb-200-1997")
    assert r.gates == [(seq, False, 0)]
    # Held back until the host has read the counter at 0, so the reset stays visible.
    assert r.device.event_counter == 0 and r.device.held_events == 1
    assert r.poll().device_reset
    r.enable()
    assert r.poll().events == (ErrorEvent(2), ErrorEvent(2))  # marker, then the coin


def test_credit_only_after_the_credit_sensor_confirms(rig: Rig) -> None:
    seq = rig.coin("accept:gb-200-1997")
    assert rig.gates == [(seq, True, 0)]
    assert rig.poll().events == ()  # accepted, not yet seen at the credit sensor
    rig.sensed(seq)
    assert rig.poll().events == (CreditEvent(3, 0),)
    rig.sensed(seq)  # a repeated report is not a second credit
    assert rig.poll().events == ()
    assert rig.money.totals.credits == 1 and rig.money.totals.value_pence == 200


def test_rejections_and_their_codes(rig: Rig) -> None:
    rig.coin("counterfeit")
    rig.coin("unknown")
    rig.coin("inhibited:gb-100-1983")  # e.g. a round pound after 2017-10-15
    rig.money.handle(CoinUnreadable(rig.seq + 1, "rim: too short", rig.clock()))
    assert all(not accept for _, accept, _ in rig.gates) and len(rig.gates) == 4
    assert rig.poll().events == (ErrorEvent(1), ErrorEvent(1), ErrorEvent(129), ErrorEvent(1))


def test_host_inhibits_are_honoured_at_decision_time(rig: Rig) -> None:
    rig.enable(mask=0b011)  # position 3 (two pounds) inhibited by the host
    rig.coin("accept:gb-200-1997")
    rig.request(Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x00")
    rig.coin("accept:gb-100-2017")
    assert [accept for _, accept, _ in rig.gates] == [False, False]
    assert rig.poll().events == (ErrorEvent(130), ErrorEvent(2))


def test_host_silence_returns_coins_and_polling_resumes_acceptance(rig: Rig) -> None:
    rig.clock.advance(1.2)  # no 229 for more than a second
    rig.coin("accept:gb-200-1997")
    assert rig.gates[-1][1] is False
    rig.poll()
    seq = rig.coin("accept:gb-200-1997")
    assert rig.gates[-1] == (seq, True, 0)
    rig.sensed(seq)
    assert rig.poll().events == (CreditEvent(3),)


def test_credit_sensor_failures_are_errors_never_credits(rig: Rig) -> None:
    a = rig.coin("accept:gb-100-2017")
    b = rig.coin("accept:gb-100-2017")
    c = rig.coin("accept:gb-100-2017")
    d = rig.coin("accept:gb-100-2017")
    rig.sensed(a, passed=True, forward=False)  # going backwards
    rig.sensed(b, passed=False)  # the board gave up watching
    rig.money.handle(BoardFault(c, FaultCode.COIN_ON_STRING, "pulled back"))
    rig.sensed(c, passed=False, forward=False)  # the board's report after the fault: ignored
    rig.clock.advance(1.6)
    rig.money.tick(rig.clock())  # d: no report at all
    rig.sensed(d)  # too late: already reported as a timeout
    result = rig.poll()
    assert result.events == (ErrorEvent(17), ErrorEvent(6), ErrorEvent(20), ErrorEvent(6))
    assert rig.money.totals.credits == 0


def test_a_late_decision_rejects_the_coin(rig: Rig) -> None:
    seq = rig.coin("slow:accept:gb-200-1997")
    assert rig.gates == [(seq, False, 0)]
    rig.poll()  # the slow decision made the host look silent: read again
    assert rig.poller.last_counter is not None
    assert rig.money.totals.errors == {5: 1}


def test_events_keep_arrival_order(rig: Rig) -> None:
    first = rig.coin("accept:gb-200-1997")
    rig.coin("counterfeit")  # decided at once, but reported after the first coin
    assert rig.poll().events == ()
    rig.sensed(first)
    assert rig.poll().events == (CreditEvent(3), ErrorEvent(1))


def test_a_coin_lost_on_the_link_still_gets_its_event(rig: Rig) -> None:
    seq = rig.coin("counterfeit")
    # The board's gate-timeout fault for a coin whose signature never arrived.
    rig.money.handle(BoardFault(seq + 2, FaultCode.GATE_COMMAND_TIMEOUT, "no gate command"))
    # A fault for a coin already settled adds nothing.
    rig.money.handle(BoardFault(seq, FaultCode.GATE_COMMAND_TIMEOUT, "late"))
    assert rig.poll().events == (ErrorEvent(1), ErrorEvent(5))


def test_a_silent_host_loses_nothing_from_the_buffer(rig: Rig) -> None:
    seq = rig.coin("accept:gb-200-1997")
    rig.sensed(seq)  # a credit the host has not read yet
    rig.clock.advance(2.0)
    for _ in range(8):
        rig.coin("accept:gb-100-2017")  # returned: the host is silent
    assert rig.device.overwritten_unread == 0
    events: list[BufferedEvent] = []
    for _ in range(3):
        result = rig.poll()
        assert result.lost == 0
        events.extend(result.events)
    assert events == [CreditEvent(3)] + [ErrorEvent(2)] * 8


def test_reset_returns_to_power_up_and_a_coin_in_flight_is_still_credited(rig: Rig) -> None:
    seq = rig.coin("accept:gb-200-1997")
    rig.request(Header.RESET_DEVICE)
    assert rig.device.master_inhibit and rig.device.inhibit_mask == 0
    rig.sensed(seq)  # the coin was taken before the reset: it must be credited
    assert rig.device.event_counter == 0  # held until the host has seen the reset
    assert rig.poll().device_reset
    rig.enable()
    assert rig.poll().events == (ErrorEvent(2), CreditEvent(3))
    rig.coin("accept:gb-200-1997")  # enabled again by the host: accepted
    assert rig.gates[-1][1] is True


def test_board_restart_ends_coins_in_flight(rig: Rig) -> None:
    seq = rig.coin("accept:gb-200-1997")
    rig.money.handle(BoardRestarted("SH-1", "fw", seq=1))  # numbering started again
    assert rig.poll().events == (ErrorEvent(6),)
    rig.seq = 0
    again = rig.coin("counterfeit")  # number 1 again: a new coin, not a repeat
    assert again == seq == 1 and rig.poll().events == (ErrorEvent(1),)
