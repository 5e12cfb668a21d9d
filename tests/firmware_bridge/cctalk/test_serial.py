"""Host and device over real pyserial objects: the ``loop://`` URL and a pseudo-terminal."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import serial

from firmware_bridge.cctalk.credit_buffer import CreditEvent, ErrorEvent
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.headers import AcceptorError, Header
from firmware_bridge.cctalk.host import CcTalkHost, CreditPoller, NakError, Response
from firmware_bridge.transport.cctalk_serial import CcTalkClient, CcTalkDevicePort
from firmware_bridge.transport.ports import (
    CCTALK_LINE,
    READ_TIMEOUT_S,
    SENSOR_LINK_LINE,
    WRITE_TIMEOUT_S,
    open_port,
)

COINS = ["GB100B", "GB200A", "GB050B"]

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


def test_open_port_uses_cctalk_line_settings() -> None:
    port = open_port("loop://", CCTALK_LINE)
    try:
        assert isinstance(port, serial.SerialBase)
        assert (port.baudrate, port.bytesize, port.parity, port.stopbits) == (9600, 8, "N", 1)
        assert not port.xonxoff and not port.rtscts
    finally:
        port.close()


def test_open_port_uses_sensor_link_line_settings() -> None:
    port = open_port("loop://", SENSOR_LINK_LINE)
    try:
        assert isinstance(port, serial.SerialBase)
        assert (port.baudrate, port.bytesize, port.parity, port.stopbits) == (921_600, 8, "N", 1)
        assert not port.xonxoff and not port.rtscts
        assert port.timeout == READ_TIMEOUT_S and port.write_timeout == WRITE_TIMEOUT_S
    finally:
        port.close()


def test_host_and_device_over_pyserial_loop_url() -> None:
    """``loop://`` is a single wire: every byte written is read back by both ends."""
    port = open_port("loop://", CCTALK_LINE, timeout=0.01)
    host = CcTalkHost()
    device = CoinAcceptorDevice(COINS)
    clock = iter(x * 0.01 for x in range(10_000))

    def exchange(header: int, data: bytes = b"") -> Response:
        port.write(host.send(2, header, data))
        line = port.read(4096)  # the request, as both ends hear it
        host.receive_data(line, next(clock))
        for reply in device.receive(line, next(clock)):
            port.write(reply.data)
        line = port.read(4096)  # the reply, echoed back to the device too
        device.receive(line, next(clock))
        host.receive_data(line, next(clock))
        event = host.next_event()
        assert isinstance(event, Response), f"no reply to {header}"
        return event

    try:
        assert exchange(Header.SIMPLE_POLL).ok
        assert exchange(Header.REQUEST_EQUIPMENT_CATEGORY_ID).payload() == b"Coin Acceptor"
        assert exchange(Header.REQUEST_COIN_ID, b"\x03").payload() == b"GB050B"
        exchange(Header.MODIFY_INHIBIT_STATUS, b"\x07\x00").payload()
        exchange(Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x01").payload()
        poller = CreditPoller()
        assert poller.update(
            exchange(Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES).payload()
        ).device_reset
        device.push_credit(1)
        device.push_error(AcceptorError.REJECT_COIN)
        result = poller.update(exchange(Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES).payload())
        assert result.events == (ErrorEvent(2), CreditEvent(1), ErrorEvent(1))
        with pytest.raises(NakError):
            exchange(Header.MODIFY_INHIBIT_STATUS, b"\x07").payload()  # one-byte mask
        assert host.echoes_skipped == 8
        assert device.echoes_ignored == 8
    finally:
        port.close()


def _serve_on_master(device: CoinAcceptorDevice, fd: int, stop: threading.Event) -> None:
    """The device loop: raw reads on the pty master, replies honouring their delay."""
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.01)
        chunk = os.read(fd, 4096) if ready else b""
        received = time.monotonic()
        for reply in device.receive(chunk, received):
            time.sleep(max(0.0, received + reply.delay_s - time.monotonic()))
            os.write(fd, reply.data)


@pytest.fixture
def pty_device() -> Iterator[tuple[CoinAcceptorDevice, str]]:
    master, slave = os.openpty()
    device = CoinAcceptorDevice(COINS)
    stop = threading.Event()
    thread = threading.Thread(target=_serve_on_master, args=(device, master, stop), daemon=True)
    thread.start()
    try:
        yield device, os.ttyname(slave)
    finally:
        stop.set()
        thread.join(timeout=2)
        os.close(master)
        os.close(slave)


@posix_only
def test_client_over_a_real_pty(pty_device: tuple[CoinAcceptorDevice, str]) -> None:
    device, path = pty_device
    with CcTalkClient(path, timeout=0.5) as client:
        client.simple_poll()
        assert client.request(Header.REQUEST_SERIAL_NUMBER) == b"\x01\x00\x00"
        assert client.request_coin_id(2) == "GB200A"
        assert client.request_coin_id(9) == "......"
        assert client.poll_credits().device_reset  # power-up: counter 0
        client.set_inhibits(0b011)
        client.set_master_inhibit(False)
        assert client.get_inhibits() == 0b011
        assert client.get_master_inhibit() is False
        assert client.poll_credits().events == (ErrorEvent(2),)  # the power-up dummy
        device.push_credit(2)
        assert client.poll_credits().events == (CreditEvent(2),)
        assert client.request_counter(Header.REQUEST_ACCEPT_COUNTER) == 1
        assert client.address_poll(window_s=0.2) == [2]
        client.reset_device()
        assert client.poll_credits().device_reset
        assert client.get_master_inhibit() is True


@posix_only
def test_device_port_serves_over_a_real_pty() -> None:
    """The runtime's side: CcTalkDevicePort on the pty slave, a raw host on the master."""
    master, slave = os.openpty()
    device = CoinAcceptorDevice(COINS)
    served = CcTalkDevicePort(os.ttyname(slave), device)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            served.step()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    host = CcTalkHost()
    try:
        os.write(master, host.send(2, Header.REQUEST_COIN_ID, b"\x01"))
        deadline = time.monotonic() + 2.0
        event = None
        while event is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                host.receive_data(os.read(master, 4096), time.monotonic())
            event = host.next_event()
        assert isinstance(event, Response) and event.payload() == b"GB100B"
    finally:
        stop.set()
        thread.join(timeout=2)
        served.close()
        os.close(master)
        os.close(slave)
