"""Speed of the serial bridge over real pseudo-terminals (run with `make bench`).

`coinval serve` runs as a subprocess with its ccTalk port and its sensor-link
port on pseudo-terminals; this process plays the parking machine (raw ccTalk
frames on the other end) and the sensor board (the sensor-link codec).
Measured: a ccTalk reply's latency after the request's last byte, a gate
command's latency after a signature frame's last byte, and whether 20 coins/s
are sustained. Figures go to ``extra_info``; nothing asserts a time.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from coinval.profile import Profile
from firmware_bridge.sensorlink.messages import (
    CreditSensorEvent,
    GateAction,
    GateCommand,
    Hello,
    Role,
    SignatureMessage,
)
from firmware_bridge.sensorlink.protocol import SensorLink

from .conftest import mixed

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")


def frame(header: int, data: bytes = b"") -> bytes:
    body = bytes([2, len(data), 1, header]) + data
    return body + bytes([(-sum(body)) % 256])


class Host:
    """A parking machine on the master end of the ccTalk pty: enables coins, polls 229."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.latencies: list[float] = []

    def request(self, header: int, data: bytes = b"", timeout: float = 0.5) -> tuple[bytes, float]:
        """The reply frame and the seconds from our last byte written to its last byte."""
        with self.lock:
            while select.select([self.fd], [], [], 0)[0]:
                os.read(self.fd, 4096)
            os.write(self.fd, frame(header, data))
            sent = time.perf_counter()
            buf = b""
            deadline = sent + timeout
            while time.perf_counter() < deadline:
                if select.select([self.fd], [], [], 0.005)[0]:
                    buf += os.read(self.fd, 4096)
                    if len(buf) >= 5 and len(buf) >= 5 + buf[1]:
                        latency = time.perf_counter() - sent
                        self.latencies.append(latency)
                        return buf[: 5 + buf[1]], latency
            raise TimeoutError(f"no reply to header {header}")


@pytest.fixture()
def serve(profile: Profile, tmp_path: Path) -> Iterator[tuple[Host, int]]:
    profile_path = tmp_path / "profile.json"
    profile.save(profile_path)
    cc_master, cc_slave = os.openpty()
    link_master, link_slave = os.openpty()
    for fd in (cc_slave, link_slave, link_master):
        tty.setraw(fd)
    exe = Path(sys.executable).with_name("coinval")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--profile",
            str(profile_path),
            "--cctalk",
            os.ttyname(cc_slave),
            "--sensor",
            os.ttyname(link_slave),
            "--at",
            "2024-06-01T12:00",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = Host(cc_master)
    deadline = time.monotonic() + 20
    while True:
        try:
            host.request(254)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
    host.request(231, bytes([0xFF, 0xFF]))
    host.request(228, bytes([1]))
    stop = threading.Event()

    def keep_polling() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                host.request(229)
            stop.wait(0.05)

    poller = threading.Thread(target=keep_polling, daemon=True)
    poller.start()
    try:
        yield host, link_master
    finally:
        stop.set()
        poller.join(2)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for fd in (cc_master, cc_slave, link_master, link_slave):
            os.close(fd)


def test_cctalk_reply_latency_over_a_pty(benchmark, serve: tuple[Host, int]) -> None:
    host, _ = serve
    samples = [host.request(254)[1] for _ in range(500)]
    benchmark.extra_info["p50_ms"] = 1e3 * float(np.percentile(samples, 50))
    benchmark.extra_info["p99_ms"] = 1e3 * float(np.percentile(samples, 99))
    benchmark(host.request, 254)


class Board:
    """The sensor board's side of the link, on the master end of the sensor pty."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.link = SensorLink("board")
        os.write(fd, SensorLink.preamble() + self.link.send(Hello(Role.BOARD, "BENCH", "1")))

    def gate(self, timeout: float = 2.0) -> tuple[GateCommand, float]:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            while (event := self.link.next_event()) is not None:
                if isinstance(event, GateCommand):
                    return event, time.perf_counter()
            if select.select([self.fd], [], [], 0.002)[0]:
                self.link.receive_data(os.read(self.fd, 65536))
        raise TimeoutError("no gate command")

    def insert(self, message: SignatureMessage) -> tuple[GateCommand, float]:
        os.write(self.fd, self.link.send(message))
        sent = time.perf_counter()
        command, at = self.gate()
        if command.action == GateAction.ACCEPT:
            os.write(
                self.fd,
                self.link.send(
                    CreditSensorEvent(
                        command.coin_seq, passed=True, forward=True, transit_us=40_000
                    )
                ),
            )
        return command, at - sent


def test_gate_decision_latency_and_sustained_rate(benchmark, serve: tuple[Host, int]) -> None:
    host, link_fd = serve
    board = Board(link_fd)
    coins = [SignatureMessage.from_signature(s) for s in mixed(400, seed=21).signatures()]
    board.insert(coins[0])
    latencies = []
    started = time.perf_counter()
    for i, message in enumerate(coins[1:], start=1):
        _, latency = board.insert(message)
        latencies.append(latency)
        # Insert at 20 coins/s: the rate a fast coin rail reaches.
        time.sleep(max(0.0, started + i / 20 - time.perf_counter()))
    elapsed = time.perf_counter() - started
    during = host.latencies[-int(elapsed / 0.05) :]
    benchmark.extra_info["cctalk_reply_p99_ms_while_deciding"] = 1e3 * float(
        np.percentile(during, 99)
    )
    benchmark.extra_info["gate_p50_ms"] = 1e3 * float(np.percentile(latencies, 50))
    benchmark.extra_info["gate_p99_ms"] = 1e3 * float(np.percentile(latencies, 99))
    benchmark.extra_info["coins"] = len(latencies)
    benchmark.extra_info["coins_per_s_sustained"] = len(latencies) / elapsed
    benchmark.pedantic(board.insert, args=(coins[0],), rounds=1, iterations=1)
