"""The virtual sensor board on a real pseudo-terminal, with the test as the engine."""

from __future__ import annotations

import os
import sys
import threading
import time
import tty
from collections import Counter

import pytest

from coinval_cli.simulated_hardware import register_url_handlers
from firmware_bridge.sensorlink import (
    CreditSensorEvent,
    Fault,
    FaultCode,
    GateAction,
    GateCommand,
    Hello,
    Role,
    SensorLink,
    SignatureMessage,
    Status,
)
from firmware_bridge.transport.fd_port import FdPort
from firmware_bridge.transport.ports import SENSOR_LINK_LINE, open_port
from sim.population import generate
from sim.scenario import Behaviour, ScriptedCoin, category_of, street_mix
from sim.serial_urls.protocol_simhead import SimulatedHeadSerial
from sim.virtual_head import HeadTimings, VirtualHead

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(60),
]


def coin(i: int, kind: str, behaviour: Behaviour = Behaviour.NORMAL) -> ScriptedCoin:
    sig = generate(kind, 1, head="A", seed=i).signatures()[0]
    return ScriptedCoin(i, kind, category_of(kind), behaviour, sig, "test")


def test_street_mix_is_a_reproducible_mix() -> None:
    first = [c.kind for _, c in zip(range(60), street_mix(seed=4), strict=False)]
    again = [c.kind for _, c in zip(range(60), street_mix(seed=4), strict=False)]
    assert first == again
    coins = [c for _, c in zip(range(150), street_mix(seed=4), strict=False)]
    categories = Counter(c.category for c in coins)
    assert categories["genuine"] > categories["counterfeit"] > 0 and categories["lookalike"] > 0
    assert len({c.kind for c in coins if c.category == "genuine"}) >= 5
    assert any(c.behaviour is not Behaviour.NORMAL for c in coins)  # fraud and mishaps
    assert all(c.behaviour is Behaviour.NORMAL for c in coins if c.category != "genuine")


def test_head_obeys_gate_commands_and_reports_the_credit_sensor() -> None:
    plan = {
        1: GateAction.ACCEPT,  # normal: passes the credit sensor
        2: GateAction.REJECT,  # returned, nothing more said
        3: GateAction.ACCEPT,  # going backwards
        4: GateAction.ACCEPT,  # on a string
        5: GateAction.ACCEPT,  # stuck before the credit sensor
        6: None,  # no gate command at all: the board gives up and returns it
    }
    coins = [
        coin(1, "gb-200-1997"),
        coin(2, "cast-round-pound"),
        coin(3, "gb-050-1997", Behaviour.BACKWARDS),
        coin(4, "gb-100-2017", Behaviour.ON_STRING),
        coin(5, "gb-020-1982", Behaviour.STUCK),
        coin(6, "gb-200-1997"),
    ]
    master, slave = os.openpty()
    tty.setraw(slave)
    port = open_port(os.ttyname(slave), SENSOR_LINK_LINE)
    head = VirtualHead(
        FdPort(master),
        iter(coins),
        coins_per_s=20.0,
        max_coins=len(coins),
        timings=HeadTimings(gate_window_s=0.3, transit_s=(0.01, 0.02), credit_window_s=0.2),
        head_id="SH-T",
    )
    stop = threading.Event()
    thread = threading.Thread(target=head.run, args=(stop,), daemon=True)
    engine = SensorLink("engine")
    received: list[object] = []
    try:
        port.write(engine.send(Hello(Role.ENGINE, "test", "t")))
        thread.start()
        deadline = time.monotonic() + 10
        signatures = 0
        while thread.is_alive() and time.monotonic() < deadline:
            engine.receive_data(port.read(max(1, port.in_waiting)))
            while (event := engine.next_event()) is not None:
                received.append(event)
                if isinstance(event, SignatureMessage):
                    signatures += 1
                    assert event.head == "SH-T" and event.to_signature().head == "SH-T"
                    action = plan[signatures]
                    if action is not None:
                        path = 2 if action is GateAction.ACCEPT else 0
                        port.write(engine.send(GateCommand(event.coin_seq, action, path)))
        assert not thread.is_alive(), "the head did not settle its coins"
    finally:
        stop.set()
        thread.join(2)
        port.close()
        os.close(master)
        os.close(slave)
    assert isinstance(received[0], Hello) and received[0].head_id == "SH-T"
    assert any(isinstance(e, Status) for e in received)
    by_seq = {r.coin_seq: r for r in head.ledger}
    assert [r.outcome for r in head.ledger] == [
        "taken",
        "returned",
        "backwards",
        "on string",
        "stuck",
        "returned",
    ]
    assert [r.gate for r in head.ledger] == [
        "accept",
        "reject",
        "accept",
        "accept",
        "accept",
        "timeout",
    ]
    assert head.ledger[0].sorter_path == 2
    reports = [e for e in received if isinstance(e, CreditSensorEvent | Fault)]
    summary = [
        (
            by_seq[e.coin_seq].coin.index,
            type(e).__name__,
            getattr(e, "passed", None),
            getattr(e, "forward", None),
            getattr(e, "code", None),
        )
        for e in reports
    ]
    assert summary == [
        (1, "CreditSensorEvent", True, True, None),
        (3, "CreditSensorEvent", True, False, None),
        (4, "Fault", None, None, FaultCode.COIN_ON_STRING),  # the fault comes first
        (4, "CreditSensorEvent", False, False, None),
        (5, "CreditSensorEvent", False, True, None),
        (6, "Fault", None, None, FaultCode.GATE_COMMAND_TIMEOUT),
    ]
    assert head.link_errors == 0


def test_sim_head_command() -> None:
    """``coinval sim head`` as a user runs it, with the test as the engine."""
    import subprocess
    from pathlib import Path

    master, slave = os.openpty()
    tty.setraw(slave)
    script = Path(sys.executable).with_name("coinval")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli.main"]
    args = ["sim", "head", "--port", os.ttyname(slave), "--coins", "3", "--coins-per-s", "10"]
    proc = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = FdPort(master)
    engine = SensorLink("engine")
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the head never finished"
            engine.receive_data(port.read(4096))
            while (event := engine.next_event()) is not None:
                if isinstance(event, SignatureMessage):
                    port.write(engine.send(GateCommand(event.coin_seq, GateAction.REJECT)))
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert out.count("gate reject -> returned") == 3
    assert "Traceback" not in err


# -- simhead://: the board behind a pyserial URL ----------------------------------------


@pytest.fixture(scope="module", autouse=True)
def sim_urls() -> None:
    register_url_handlers()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


counts_descriptors = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts open descriptors in /proc"
)


@counts_descriptors
def test_simhead_url_is_a_board_on_a_real_pseudo_terminal() -> None:
    before = open_descriptors()
    port = open_port("simhead://A?seed=5&rate=20&coins=3", SENSOR_LINK_LINE)
    try:
        assert isinstance(port, SimulatedHeadSerial)
        assert os.isatty(port.fileno()) and os.ttyname(port.fileno()) == port.name
        assert port.baudrate == 921_600 and port.timeout is not None  # the link's settings
        board = port.simulation
        assert board.head_id == "SIM-A" and board.max_coins == 3
        assert board.period_s == pytest.approx(1 / 20)
        engine = SensorLink("engine")
        port.write(engine.send(Hello(Role.ENGINE, "test", "t")))
        received: list[object] = []
        deadline = time.monotonic() + 20
        while not board.finished:
            assert time.monotonic() < deadline, "the board never settled its coins"
            engine.receive_data(port.read(max(1, port.in_waiting)))
            while (event := engine.next_event()) is not None:
                received.append(event)
                if isinstance(event, SignatureMessage):
                    assert event.head == "SIM-A"
                    port.write(engine.send(GateCommand(event.coin_seq, GateAction.REJECT)))
        assert isinstance(received[0], Hello) and received[0].head_id == "SIM-A"
        assert [r.outcome for r in board.ledger] == ["returned"] * 3
    finally:
        port.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("simhead ")]
    assert open_descriptors() == before  # both ends of the pty closed with the port


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("simhead://Z", "unknown sensor head"),
        ("simhead://A?rate=0", r"rate='0': must be > 0"),
        ("simhead://A?coins=two", "coins='two'"),
        ("simhead://A?colour=red", "no option 'colour'"),
        ("simhead://A?seed=1&seed=2", "given twice"),
    ],
)
@counts_descriptors
def test_a_bad_simhead_url_is_refused_and_leaves_nothing_open(url: str, message: str) -> None:
    before = open_descriptors()
    with pytest.raises(ValueError, match=message):
        open_port(url, SENSOR_LINK_LINE)
    assert open_descriptors() == before
