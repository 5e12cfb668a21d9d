"""The virtual VMC behind ``simvmc://``, against the changer on a real pseudo-terminal."""

from __future__ import annotations

import time

import serial

from firmware_bridge.mdb.changer import CoinChanger
from firmware_bridge.transport.mdb_serial import TwoByteWordPort

from .rig import VALUES


def test_simvmc_starts_the_changer_and_credits_a_coin() -> None:
    if "sim.serial_urls" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("sim.serial_urls")
    port = serial.serial_for_url("simvmc://?poll_ms=20", timeout=0.005)
    line = TwoByteWordPort(port)
    changer = CoinChanger(VALUES)
    vmc = port.simulation.controller
    try:
        deadline = time.monotonic() + 20
        deposited = False
        while time.monotonic() < deadline and not vmc.credits:
            now = time.monotonic()
            for reply in changer.receive_words(line.read_words(now), now):
                line.write_words(reply.words)  # deadline not enforced: a pty and two threads
            if not deposited and changer.is_accepting(3, time.monotonic()):
                changer.push_deposit(3)
                deposited = True
        assert [(c.coin_type, c.value) for c in vmc.credits] == [(3, 50)]
        assert vmc.identity is not None and vmc.identity.manufacturer == "CVL"
    finally:
        port.close()
