"""The sans-I/O link over real serial ports: pyserial's loop:// and a pseudo-terminal pair."""

from __future__ import annotations

import os
import select
import sys
import time

import numpy as np
import pytest
import serial

from firmware_bridge.sensorlink import (
    Event,
    GateAction,
    GateCommand,
    Hello,
    Role,
    SensorLink,
    SignatureMessage,
)
from tests.firmware_bridge.sensorlink.test_messages import small_signature

TIMEOUT_S = 5.0
# A stuck port must fail the test quickly, not hold the suite for the global 300 s.
pytestmark = pytest.mark.timeout(30)


def read_until_event(link: SensorLink, read: object) -> Event:
    """Feed ``link`` from ``read()`` (returns bytes, maybe empty) until it yields an event."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        event = link.next_event()
        if event is not None:
            return event
        link.receive_data(read())  # type: ignore[operator]
    raise AssertionError("no event before the timeout")


def test_loop_url_carries_a_signature_and_a_gate_command() -> None:
    port = serial.serial_for_url("loop://", baudrate=921600, timeout=0.05)
    try:
        board, engine = SensorLink("board"), SensorLink("engine")

        def read() -> bytes:
            return bytes(port.read(port.in_waiting or 1))

        port.write(board.send(Hello(Role.BOARD, "SH-LOOP", "fw")))
        port.write(board.send(small_signature()))
        assert isinstance(read_until_event(engine, read), Hello)
        signature = read_until_event(engine, read)
        assert isinstance(signature, SignatureMessage) and signature.coin_seq == 2

        port.write(engine.send(GateCommand(signature.coin_seq, GateAction.ACCEPT, 1)))
        gate = read_until_event(board, read)
        assert gate == GateCommand(2, GateAction.ACCEPT, 1, seq=1)
    finally:
        port.close()


def test_loop_url_carries_the_largest_spec_signature() -> None:
    rng = np.random.default_rng(1)
    big = small_signature(
        eddy_lo=rng.normal(size=4096),
        eddy_hi=rng.normal(size=4096),
        rim=11 + rng.normal(scale=0.01, size=8192),
        id="x" * 64,
    )
    port = serial.serial_for_url("loop://", timeout=0.05)
    try:
        board, engine = SensorLink("board"), SensorLink("engine")
        frame = board.send(big)
        assert len(frame) > 65536
        # loop:// holds only 4 KiB: write and read in turns, as a UART would pace it.
        for start in range(0, len(frame), 1024):
            port.write(frame[start : start + 1024])
            engine.receive_data(port.read(port.in_waiting))
        event = read_until_event(engine, lambda: bytes(port.read(port.in_waiting or 1)))
        assert event == SignatureMessage.from_signature(big.to_signature(), seq=1)
    finally:
        port.close()


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="pseudo-terminals as on the target"
)
def test_pty_pair_carries_a_signature_and_a_gate_command() -> None:
    # The board end writes the master side raw; the engine opens the slave as
    # a serial port, exactly as `coinval serve --sensor /dev/pts/N` would.
    master, slave = os.openpty()
    port = serial.Serial(os.ttyname(slave), baudrate=921600, timeout=0.05)
    try:
        board, engine = SensorLink("board"), SensorLink("engine")

        def read_master() -> bytes:
            ready, _, _ = select.select([master], [], [], 0.05)
            return os.read(master, 4096) if ready else b""

        frame = board.send(small_signature())
        written = 0
        while written < len(frame):
            written += os.write(master, frame[written:])
        signature = read_until_event(engine, lambda: bytes(port.read(port.in_waiting or 1)))
        assert isinstance(signature, SignatureMessage)
        assert signature.to_signature().head == "SH-1"

        port.write(engine.send(GateCommand(signature.coin_seq, GateAction.REJECT)))
        port.flush()
        gate = read_until_event(board, read_master)
        assert gate == GateCommand(1, GateAction.REJECT, seq=1)
    finally:
        port.close()
        os.close(master)
        os.close(slave)
