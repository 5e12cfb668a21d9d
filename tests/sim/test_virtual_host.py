"""The virtual parking machine against a coin-acceptor device on a real pseudo-terminal."""

from __future__ import annotations

import os
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator

import pytest

from coinval_cli.simulated_hardware import register_url_handlers
from firmware_bridge.cctalk.credit_buffer import CreditEvent, ErrorEvent
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.cctalk.host import CcTalkHost
from firmware_bridge.transport.cctalk_serial import CcTalkClient, CcTalkDevicePort
from firmware_bridge.transport.fd_port import FdPort
from firmware_bridge.transport.ports import CCTALK_LINE, open_port
from sim.serial_urls.protocol_simhost import SimulatedHostSerial
from sim.virtual_host import HostEvent, VirtualHost, pounds, value_of

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(60),
]


def wait_for(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def acceptor() -> Iterator[tuple[CoinAcceptorDevice, threading.Lock, str]]:
    """A device served on a pty master; the host gets the slave's path."""
    master, slave = os.openpty()
    tty.setraw(slave)
    device = CoinAcceptorDevice(["GB100B", None, "GB200A", "GB010B"])
    lock = threading.Lock()
    served = CcTalkDevicePort(FdPort(master), device)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with lock:
                served.step()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield device, lock, os.ttyname(slave)
    finally:
        stop.set()
        thread.join(2)
        os.close(master)
        os.close(slave)


def test_values_come_from_the_catalogue() -> None:
    assert value_of("GB200A") == 200 and value_of("GB010B") == 10 and value_of("XX999Z") == 0
    assert pounds(1230) == "£12.30" and pounds(5) == "£0.05"


def test_host_enables_polls_and_totals(
    acceptor: tuple[CoinAcceptorDevice, threading.Lock, str],
) -> None:
    device, lock, path = acceptor
    seen: list[HostEvent] = []
    with CcTalkClient(path) as client:
        host = VirtualHost(client, poll_interval_s=0.05, on_event=seen.append)
        stop = threading.Event()
        thread = threading.Thread(target=host.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: not device.master_inhibit)
            assert device.inhibit_mask == 0b1101  # every position holding a coin
            assert host.coin_ids == {1: "GB100B", 3: "GB200A", 4: "GB010B"}
            wait_for(lambda: len(seen) == 1)  # the power-up marker
            with lock:
                device.push_credit(3)
                device.push_error(1)
                device.push_credit(4, 2)
            wait_for(lambda: len(seen) == 4)
            with lock:  # a reset behind the host's back (as after a power cut)
                device.receive(CcTalkHost().send(2, Header.RESET_DEVICE), time.monotonic())
            wait_for(lambda: host.resets_seen == 1 and not device.master_inhibit)
            with lock:
                device.push_credit(1)
            wait_for(lambda: host.credits[-1:] == [CreditEvent(1)])
        finally:
            stop.set()
            thread.join(5)
    assert seen[0].marker and seen[0].describe().startswith("acceptor ready")
    assert [e.event for e in seen[1:4]] == [CreditEvent(3), ErrorEvent(1), CreditEvent(4, 2)]
    assert seen[1].coin_id == "GB200A" and seen[1].value_pence == 200
    assert "error   1 reject coin" in seen[2].describe()
    assert host.credits == [CreditEvent(3), CreditEvent(4, 2), CreditEvent(1)]
    assert host.total_pence == 200 + 10 + 100
    assert host.errors == [ErrorEvent(1)]  # power-up markers are not coins
    assert host.lost_events == 0


def test_sim_host_command(acceptor: tuple[CoinAcceptorDevice, threading.Lock, str]) -> None:
    """``coinval sim host`` as a user runs it: a process printing credits and the total."""
    import signal
    import subprocess
    from pathlib import Path

    device, lock, path = acceptor
    script = Path(sys.executable).with_name("coinval")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli.main"]
    proc = subprocess.Popen(
        [*command, "sim", "host", "--cctalk", path, "--poll-ms", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: not device.master_inhibit, limit_s=30)
        with lock:
            device.push_credit(3)
            device.push_error(20)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "credit  GB200A £2.00 (position 3, path 0)  total £2.00" in out
    assert "error  20 coin on string" in out
    assert "total credited £2.00" in out
    assert "Traceback" not in err


def test_sim_host_unopenable_port(capsys: pytest.CaptureFixture[str]) -> None:
    from coinval_cli.main import main

    assert main(["sim", "host", "--cctalk", "/dev/nonexistent-cctalk"]) == 2
    assert "cannot open the ccTalk port" in capsys.readouterr().err


# -- simhost://: the parking machine behind a pyserial URL --------------------------------


def test_simhost_url_is_a_parking_machine_on_a_real_pseudo_terminal() -> None:
    register_url_handlers()
    device = CoinAcceptorDevice(["GB100B", None, "GB200A"])
    port = open_port("simhost://?poll_ms=50", CCTALK_LINE)
    served = CcTalkDevicePort(port, device)

    def serve_until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            served.step()

    try:
        assert isinstance(port, SimulatedHostSerial)
        assert os.isatty(port.fileno()) and os.ttyname(port.fileno()) == port.name
        assert port.baudrate == 9600  # the ccTalk line's settings
        machine = port.simulation
        assert machine.poll_interval_s == pytest.approx(0.05)
        serve_until(lambda: not device.master_inhibit)
        assert device.inhibit_mask == 0b101  # the positions holding a coin
        device.push_credit(3)
        serve_until(lambda: machine.credits == [CreditEvent(3)])
    finally:
        port.close()
    assert machine.total_pence == 200
    assert not [t for t in threading.enumerate() if t.name.startswith("simhost ")]


@pytest.mark.parametrize(
    ("url", "message"),
    [("simhost://2", "takes no name"), ("simhost://?poll_ms=-1", "must be > 0")],
)
def test_a_bad_simhost_url_is_refused(url: str, message: str) -> None:
    register_url_handlers()
    with pytest.raises(ValueError, match=message):
        open_port(url, CCTALK_LINE)
