"""The MDB coin changer's reply time over a pseudo-terminal while it decides coins (``make bench``).

`coinval serve --mdb` runs as a subprocess with its MDB port and its
sensor-link port on pseudo-terminals (words two bytes each, ``docs/mdb.md``
5.2); this process plays the vending machine's controller (POLL every 10 ms,
ACK each data reply) and the sensor board (the sensor-link codec, 20 coins/s
from the mixed population).  Measured from the VMC's side: the time from the
last byte of a command written to the last byte of the changer's reply read
(its mode-bit word).  MDB gives a peripheral 5 ms; the goal is a p99 within
it.  Figures go to ``extra_info`` and are printed; nothing asserts a time.
"""

from __future__ import annotations

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
from firmware_bridge.sensorlink.messages import SignatureMessage

from .conftest import mixed
from .test_bridge_speed import Board

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")

RESET, SETUP, POLL, COIN_TYPE = 0x08, 0x09, 0x0B, 0x0C
ACK_WORD = b"\x00\x00"


class Vmc:
    """A vending machine controller on the master end of the MDB pty (two-byte words)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.latencies: list[float] = []
        self.unanswered = 0

    def command(self, command: int, data: bytes = b"", timeout: float = 0.2) -> bytes | None:
        """Send a command; the reply's data bytes (ACKed), or None.  Records the reply time."""
        while select.select([self.fd], [], [], 0)[0]:
            os.read(self.fd, 4096)
        words = bytes((1, command)) + b"".join(bytes((0, b)) for b in data)
        words += bytes((0, (command + sum(data)) % 256))
        os.write(self.fd, words)
        sent = time.perf_counter()
        buf = b""
        deadline = sent + timeout
        while time.perf_counter() < deadline:
            if not select.select([self.fd], [], [], 0.002)[0]:
                continue
            buf += os.read(self.fd, 4096)
            # The reply ends at its mode-bit word: 01 xx on an even offset.
            for i in range(0, len(buf) - 1, 2):
                if buf[i] == 1:
                    self.latencies.append(time.perf_counter() - sent)
                    reply = bytes(buf[j + 1] for j in range(0, i, 2))
                    if reply:
                        os.write(self.fd, ACK_WORD)
                    return reply
        self.unanswered += 1
        return None


@pytest.fixture()
def serve_mdb(profile: Profile, tmp_path: Path) -> Iterator[tuple[Vmc, int]]:
    profile_path = tmp_path / "profile.json"
    profile.save(profile_path)
    mdb_master, mdb_slave = os.openpty()
    link_master, link_slave = os.openpty()
    for fd in (mdb_master, mdb_slave, link_slave, link_master):
        tty.setraw(fd)
    exe = Path(sys.executable).with_name("coinval")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--profile",
            str(profile_path),
            "--mdb",
            os.ttyname(mdb_slave),
            "--sensor",
            os.ttyname(link_slave),
            "--at",
            "2024-06-01T12:00",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    vmc = Vmc(mdb_master)
    deadline = time.monotonic() + 20
    try:
        while vmc.command(RESET) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the changer never answered")
        while vmc.command(POLL) in (None, b""):  # "changer was reset" first
            pass
        while vmc.command(SETUP) is None:
            pass
        while vmc.command(COIN_TYPE, b"\xff\xff\x00\x00") is None:
            pass
        vmc.latencies.clear()
        vmc.unanswered = 0
        yield vmc, link_master
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for fd in (mdb_master, mdb_slave, link_master, link_slave):
            os.close(fd)


def test_mdb_reply_time_while_deciding_coins(benchmark, serve_mdb: tuple[Vmc, int]) -> None:
    vmc, link_fd = serve_mdb
    board = Board(link_fd)
    coins = [SignatureMessage.from_signature(s) for s in mixed(200, seed=22).signatures()]
    stop = threading.Event()
    deposits = 0

    def keep_polling() -> None:
        nonlocal deposits
        while not stop.is_set():
            reply = vmc.command(POLL)
            deposits += sum(1 for b in reply or b"" if b & 0xC0 == 0x40)
            stop.wait(0.01)

    poller = threading.Thread(target=keep_polling, daemon=True)
    board.insert(coins[0])
    poller.start()
    started = time.perf_counter()
    for i, message in enumerate(coins[1:], start=1):
        board.insert(message)
        # 20 coins/s: the rate a fast coin rail reaches.
        time.sleep(max(0.0, started + i / 20 - time.perf_counter()))
    stop.set()
    poller.join(2)
    samples = np.array(vmc.latencies)
    info = benchmark.extra_info
    info["mdb_reply_p50_ms"] = 1e3 * float(np.percentile(samples, 50))
    info["mdb_reply_p99_ms"] = 1e3 * float(np.percentile(samples, 99))
    info["mdb_reply_max_ms"] = 1e3 * float(samples.max())
    info["mdb_commands"] = len(samples)
    info["mdb_unanswered"] = vmc.unanswered
    info["coins"] = len(coins)
    print(
        f"\nMDB reply time while deciding {len(coins)} coins at 20/s: "
        f"p50 {info['mdb_reply_p50_ms']:.2f} ms, p99 {info['mdb_reply_p99_ms']:.2f} ms, "
        f"max {info['mdb_reply_max_ms']:.2f} ms over {len(samples)} commands, "
        f"{vmc.unanswered} unanswered (goal: p99 <= 5 ms)"
    )
    benchmark.pedantic(vmc.command, args=(POLL,), rounds=50, iterations=1)
