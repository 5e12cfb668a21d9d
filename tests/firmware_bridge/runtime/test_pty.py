"""The runtime end to end on real pseudo-terminals: virtual head -> engine -> ccTalk host.

Nothing is mocked: the engine decides with a profile taught from simulated
coins, the sensor link and the ccTalk bus are two pty pairs, the sensor board
is ``sim.virtual_head`` and the host a ``CcTalkClient``.  The oracle for each
coin is the board's own ledger (did the coin reach the cash box?) and the
engine's decision made independently beforehand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from coinval.decision import Decision
from coinval.engine import Engine
from coinval.profile import Profile
from coinval.teach import teach
from firmware_bridge.cctalk.credit_buffer import BufferedEvent, CreditEvent, ErrorEvent
from firmware_bridge.runtime.loop import Runtime, RuntimeConfig
from firmware_bridge.runtime.money import CoinOutcome, MoneyTotals
from firmware_bridge.sensorlink import CreditSensorEvent, Message, SignatureMessage, Status
from firmware_bridge.sources import SensorLinkSource
from firmware_bridge.transport.cctalk_serial import CcTalkClient
from firmware_bridge.transport.fd_port import FdPort
from sim.population import generate
from sim.scenario import Behaviour, ScriptedCoin, category_of
from sim.virtual_head import HeadRecord, HeadTimings, Tamper, VirtualHead

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(60),
]

TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997")
AT = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)  # the round pound is no longer legal tender
# Generous timings: a loaded CI machine must not turn the money path into timeouts.
CONFIG = RuntimeConfig(decision_deadline_s=0.8, credit_timeout_s=1.5)
TIMINGS = HeadTimings(gate_window_s=1.0, transit_s=(0.02, 0.05), credit_window_s=0.4)


@pytest.fixture(scope="module")
def profile() -> Profile:
    samples = {c: generate(c, 30, head="A", seed=1, batch=0).signatures() for c in TAUGHT}
    taught, _ = teach(samples, head="A")
    return taught


def scripted(kinds: list[tuple[str, Behaviour]], seed: int = 7) -> list[ScriptedCoin]:
    """Coins of the teach batch, unworn: the classifier's verdict is not what is tested here."""
    coins = []
    for i, (kind, behaviour) in enumerate(kinds):
        sig = generate(kind, 1, head="A", seed=seed * 1000 + i, batch=0).signatures()[0]
        coins.append(ScriptedCoin(i, kind, category_of(kind), behaviour, sig, "test"))
    return coins


def _pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


@dataclass
class System:
    """Engine, board and bus, running; the test is the host."""

    runtime: Runtime
    head: VirtualHead
    client: CcTalkClient
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[CoinOutcome] = field(default_factory=list)
    host_events: list[BufferedEvent] = field(default_factory=list)
    runtime_thread: threading.Thread | None = None

    def poll(self) -> tuple[BufferedEvent, ...]:
        result = self.client.poll_credits()
        assert result.lost == 0, "an event was pushed out before the host read it"
        self.host_events.extend(result.events)
        return result.events

    def enable(self) -> None:
        assert self.client.poll_credits().device_reset  # counter 0: fresh acceptor
        self.client.set_inhibits(0xFFFF)
        self.client.set_master_inhibit(False)
        marker = self.client.poll_credits().events
        assert marker == (ErrorEvent(2),)  # the power-up marker, not a coin

    def poll_until(
        self, done: Callable[[], bool], every_s: float = 0.2, limit_s: float = 30
    ) -> None:
        deadline = time.monotonic() + limit_s
        while not done():
            assert time.monotonic() < deadline, "the money path stalled"
            self.poll()
            time.sleep(every_s)

    def all_reported(self) -> bool:
        return self.head.finished and len(self.host_events) >= len(self.head.ledger)


@contextlib.contextmanager
def running(
    profile: Profile,
    coins: list[ScriptedCoin],
    *,
    rate: float = 8.0,
    tamper: Tamper | None = None,
    start_when: threading.Event | None = None,
) -> Iterator[System]:
    bus_master, bus_slave, bus_path = _pty()
    link_master, link_slave, link_path = _pty()
    engine = Engine(profile)
    system: System | None = None

    def record(outcome: CoinOutcome, totals: MoneyTotals) -> None:
        assert system is not None
        system.outcomes.append(outcome)

    runtime = Runtime(
        coins=profile.coins,
        decider=engine,
        source=SensorLinkSource(link_path),
        cctalk_url=bus_path,
        at=lambda: AT,
        config=CONFIG,
        on_outcome=record,
    )
    head = VirtualHead(
        FdPort(link_master),
        iter(coins),
        coins_per_s=rate,
        max_coins=len(coins),
        timings=TIMINGS,
        tamper=tamper,
    )
    client = CcTalkClient(FdPort(bus_master), timeout=0.5)
    system = System(runtime, head, client)
    stop_runtime, stop_head = system.stop, threading.Event()
    runtime.open()
    runtime_thread = threading.Thread(target=runtime.run, args=(stop_runtime,), daemon=True)
    system.runtime_thread = runtime_thread
    runtime_thread.start()

    def head_run() -> None:
        if start_when is not None:
            start_when.wait(10)
        head.run(stop_head)

    head_thread = threading.Thread(target=head_run, daemon=True)
    head_thread.start()
    try:
        yield system
    finally:
        stop_head.set()
        if start_when is not None:
            start_when.set()
        head_thread.join(5)
        stop_runtime.set()
        runtime_thread.join(10)
        runtime.close()
        for fd in (bus_master, bus_slave, link_master, link_slave):
            os.close(fd)
    assert not runtime_thread.is_alive()


def position(profile: Profile, kind: str) -> int:
    return profile.coins.index(kind) + 1


def expected_event(profile: Profile, record: HeadRecord, decision: Decision) -> BufferedEvent:
    """What the host must read for one coin, from the board's ledger and the decision."""
    if record.gate == "accept":
        # Annotated: mypy joins CreditEvent and ErrorEvent to object otherwise.
        after_accept: dict[Behaviour, BufferedEvent] = {
            Behaviour.NORMAL: CreditEvent(position(profile, record.coin.kind), 0),
            Behaviour.BACKWARDS: ErrorEvent(17),
            Behaviour.ON_STRING: ErrorEvent(20),
            Behaviour.STUCK: ErrorEvent(6),
        }
        return after_accept[record.coin.behaviour]
    if decision.reason == "inhibited":
        return ErrorEvent(127 + position(profile, record.coin.kind))
    if decision.accepted:
        return ErrorEvent(2)  # acceptor-wide refusal (host silent, master inhibit)
    return ErrorEvent(1)


def decide_beforehand(profile: Profile, coins: list[ScriptedCoin]) -> list[Decision]:
    return Engine(profile).decide_signatures([c.signature for c in coins], AT)


def check_one_event_per_coin(system: System) -> dict[int, CoinOutcome]:
    """The host read exactly the engine's events, in order; one per coin on the board."""
    assert system.host_events == [o.event for o in system.outcomes]
    by_seq = {o.coin_seq: o for o in system.outcomes}
    assert len(by_seq) == len(system.outcomes), "a coin got two events"
    assert sorted(by_seq) == sorted(r.coin_seq for r in system.head.ledger)
    credits = [e for e in system.host_events if isinstance(e, CreditEvent)]
    assert len(credits) <= sum(r.taken for r in system.head.ledger)  # never invented
    return by_seq


def test_money_path_end_to_end(profile: Profile) -> None:
    plan = [
        ("gb-200-1997", Behaviour.NORMAL),
        ("cast-round-pound", Behaviour.NORMAL),
        ("gb-100-2017", Behaviour.NORMAL),
        ("gb-100-1983", Behaviour.NORMAL),  # demonetised: inhibited, type 2 -> 129
        ("gb-050-1997", Behaviour.BACKWARDS),
        ("gb-200-1997", Behaviour.ON_STRING),
        ("steel-washer", Behaviour.NORMAL),
        ("gb-100-2017", Behaviour.STUCK),
        ("gb-050-1997", Behaviour.NORMAL),
    ]
    coins = scripted(plan)
    decisions = decide_beforehand(profile, coins)
    assert [d.reason for d in decisions] == [
        "accepted",
        "counterfeit",
        "accepted",
        "inhibited",
        "accepted",
        "accepted",
        "unknown",
        "accepted",
        "accepted",
    ], "the classifier changed: pick other coins for this test"
    go = threading.Event()
    with running(profile, coins, start_when=go) as system:
        system.enable()
        go.set()
        system.poll_until(system.all_reported)
    by_seq = check_one_event_per_coin(system)
    expected = [
        expected_event(profile, r, d) for r, d in zip(system.head.ledger, decisions, strict=True)
    ]
    assert system.host_events == expected  # in insertion order
    assert [by_seq[r.coin_seq].event for r in system.head.ledger] == expected
    taken = [r for r in system.head.ledger if r.taken]
    assert [CreditEvent(position(profile, r.coin.kind)) for r in taken] == [
        e for e in system.host_events if isinstance(e, CreditEvent)
    ]
    assert system.runtime.money.totals.value_pence == 200 + 100 + 50


def test_missed_polls_lose_and_duplicate_nothing(profile: Profile) -> None:
    coins = scripted(
        [("gb-200-1997", Behaviour.NORMAL), ("cast-round-pound", Behaviour.NORMAL)] * 7
    )
    go = threading.Event()
    with running(profile, coins, rate=20.0, start_when=go) as system:
        system.enable()
        go.set()
        # Well under the 1 s host timeout, but ~10 coins between two reads: the
        # 229 buffer holds 5, the rest must wait for the host, not overwrite.
        system.poll_until(system.all_reported, every_s=0.5)
        system.poll()
    by_seq = check_one_event_per_coin(system)
    assert system.runtime.device.overwritten_unread == 0
    assert system.runtime.device.most_held_events > 0  # the host really was behind
    for record in system.head.ledger:
        event = by_seq[record.coin_seq].event
        assert isinstance(event, CreditEvent) == record.taken


def test_host_silence_returns_coins_until_polling_resumes(profile: Profile) -> None:
    coins = scripted([("gb-200-1997", Behaviour.NORMAL)] * 16)
    go = threading.Event()
    with running(profile, coins, rate=6.0, start_when=go) as system:
        system.enable()
        go.set()
        for _ in range(4):
            system.poll()
            time.sleep(0.2)
        time.sleep(1.8)  # the host is silent for well over a second
        system.poll_until(system.all_reported)
    by_seq = check_one_event_per_coin(system)
    events = [by_seq[r.coin_seq].event for r in system.head.ledger]
    returned = [e for e in events if e == ErrorEvent(2)]
    assert len(returned) >= 3, events  # coins inserted while the host was silent
    first_return = events.index(ErrorEvent(2))
    assert isinstance(events[0], CreditEvent)
    assert any(isinstance(e, CreditEvent) for e in events[first_return:])  # resumed
    for record in system.head.ledger:
        assert record.taken == isinstance(by_seq[record.coin_seq].event, CreditEvent)
        if by_seq[record.coin_seq].event == ErrorEvent(2):
            assert record.gate == "reject"


def test_reset_returns_to_power_up_state(profile: Profile) -> None:
    coins = scripted([("gb-100-2017", Behaviour.NORMAL)] * 12)
    go = threading.Event()
    with running(profile, coins, rate=6.0, start_when=go) as system:
        system.enable()
        go.set()
        system.poll_until(lambda: any(isinstance(e, CreditEvent) for e in system.host_events))
        system.client.reset_device()
        assert system.client.get_master_inhibit() is True
        assert system.client.get_inhibits() == 0
        assert system.client.poll_credits().device_reset  # counter back at 0
        time.sleep(0.6)  # coins arrive while everything is inhibited
        system.client.set_inhibits(0xFFFF)
        system.client.set_master_inhibit(False)
        system.poll_until(system.all_reported)
    events = system.host_events
    assert ErrorEvent(2) in events  # returned while inhibited (and the power-up marker)
    assert isinstance(events[-1], CreditEvent)  # accepting again once re-enabled
    coin_events = [o.event for o in system.outcomes]
    credits = [e for e in coin_events if isinstance(e, CreditEvent)]
    assert len(credits) == sum(r.taken for r in system.head.ledger)
    assert len(coin_events) == len(system.head.ledger)


def test_faults_on_the_sensor_link_lose_and_invent_nothing(profile: Profile) -> None:
    coins = scripted(
        [("gb-200-1997", Behaviour.NORMAL)] * 10 + [("gb-050-1997", Behaviour.BACKWARDS)]
    )
    signatures = credit_reports = 0
    garbled_seq: list[int] = []
    dropped_seq: list[int] = []

    def tamper(message: Message, data: bytes) -> bytes:
        nonlocal signatures, credit_reports
        if isinstance(message, SignatureMessage):
            signatures += 1
            if signatures == 3:  # a bit flips in the middle: CRC error, coin lost on the link
                garbled_seq.append(message.seq)
                middle = len(data) // 2
                return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]
            if signatures == 6:  # line noise, then a delimiter, before the frame
                return b"\x55\xaa\x13\x00" + data
        if isinstance(message, CreditSensorEvent):
            credit_reports += 1
            if credit_reports == 2:  # the credit-sensor report never arrives
                dropped_seq.append(message.coin_seq)
                return b""
        if isinstance(message, Status):
            return data[:3] + b"\x00"  # a truncated heartbeat: one bad frame, reported
        return data

    go = threading.Event()
    with running(profile, coins, rate=8.0, tamper=tamper, start_when=go) as system:
        system.enable()
        go.set()
        system.poll_until(system.all_reported)
        system.poll()
    by_seq = check_one_event_per_coin(system)
    assert by_seq[garbled_seq[0]].event == ErrorEvent(5)  # board: gate command timeout
    assert by_seq[dropped_seq[0]].event == ErrorEvent(6)  # engine: credit sensor timeout
    ledger = {r.coin_seq: r for r in system.head.ledger}
    assert ledger[dropped_seq[0]].taken  # the machine kept it; fail-safe: not credited
    assert by_seq[system.head.ledger[-1].coin_seq].event == ErrorEvent(17)
    for seq, outcome in by_seq.items():
        if isinstance(outcome.event, CreditEvent):
            assert ledger[seq].taken
    assert sum(isinstance(o.event, CreditEvent) for o in by_seq.values()) == 8


def test_stopping_finishes_the_coin_in_flight(profile: Profile) -> None:
    coins = scripted([("gb-200-1997", Behaviour.NORMAL)] * 4)
    go = threading.Event()
    with running(profile, coins, rate=4.0, start_when=go) as system:
        system.enable()
        go.set()
        deadline = time.monotonic() + 10
        while not (in_flight := system.runtime.money.coins_in_flight):
            assert time.monotonic() < deadline  # wait for an accepted coin on its way
            time.sleep(0.001)
        system.stop.set()  # what SIGTERM does
        assert system.runtime_thread is not None
        while system.runtime_thread.is_alive():
            assert time.monotonic() < deadline
            system.poll()
            time.sleep(0.1)
    by_seq = {o.coin_seq: o.event for o in system.outcomes}
    assert by_seq[in_flight[0]] == CreditEvent(3)  # finished, credited, and read
    assert system.host_events == [o.event for o in system.outcomes]
    for record in system.head.ledger:
        if record.coin_seq in by_seq:
            assert record.taken == isinstance(by_seq[record.coin_seq], CreditEvent)
