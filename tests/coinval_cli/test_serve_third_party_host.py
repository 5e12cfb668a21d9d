"""A host nobody here wrote drives a real ``coinval serve``: python-cctalk's ``CoinDevice``.

The host reproduced is python-cctalk as kept in RomanValov/pycctalk (GPLv3,
"(C) 2011-2019 David Schryer and others"), read at commit 66bb648 ("add:
callback to manage coin device inhibit status"):

* ``cctalk/devices.py``, ``CoinDevice.__init__``: for positions 1-16, header 184
  (``coin_id``, 6 bytes expected) and, for every truthy label (with no
  ``worths`` map every label is truthy, ``......`` included), header 212
  (``coin_position``, 2 bytes expected); then header 1 (``reset_device``) and
  header 231 with the per-byte sums of the 212 replies, *reversed* ("probably
  due to emp-specific order issue");
* ``CoinDevice.__iter__``: ``while simple_poll()`` (254), ``sleep(timeout)``
  (0.1 s), header 228 with ``int(not gate_status())`` (1: accept), header 229,
  then its own counter arithmetic, yielding ``(index, value, worth, error)``;
* ``cctalk/tools.py``, ``make_msg`` / ``_write_message`` / ``_read_message``:
  frames ``[2][len][1][header][data][256 - sum % 256]``, the request's echo
  read back and compared (``Unexpected echo output.``), then a 4-byte head
  (``Reply head is too short: 0.`` when nothing comes), the body and one
  checksum byte, addresses checked, checksum not checked; each read on a port
  with ``timeout = 1`` and ``inter_byte_timeout = 0.1``;
* ``cctalk/messenger.py``, ``conv_reply``: the body length each header must
  have and a non-zero reply header as ``Device error``.

Its code is not copied here: :class:`PyCcTalkCoinDevice` redoes those steps with
the same bytes on the wire, in the same order, over the master end of a
pseudo-terminal (the library opens a pyserial port; :class:`PySerialRead` reads
as pyserial's POSIX ``read`` does with those two timeouts).  The library expects
a single-wire bus's echo, so ``serve`` runs with ``--cctalk-echo``.  The coins
come from the simulated sensor board (``simhead://``) on a pseudo-terminal of
its own; the engine's log says which coins it credited.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar, NamedTuple

import pytest

from coinval.teach import teach
from sim.coins import TAUGHT_COINS
from sim.heads import DEFAULT_HEAD
from sim.population import generate

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(120),
]

# Between the new pound's launch and the round pound's end: every taught coin is money.
AT = "2017-06-01T12:00:00"
COINS = 30
CREDIT = re.compile(r"^.*coin \d+(?: \[[^\]]*\])?: accepted (\S+) -> credit position (\d+) ")
OUTCOME = re.compile(r"coin \d+.*: .* -> (credit|error) ")


class HostError(Exception):
    """What python-cctalk raises as IOError / ValueError: the host gives up."""


class CoinStruct(NamedTuple):
    """``cctalk.devices.CoinStruct``: what ``CoinDevice`` yields for each event."""

    index: int
    value: int
    worth: str
    error: int


class PySerialRead:
    """pyserial's POSIX ``read(size)`` with ``timeout=1``, ``inter_byte_timeout=0.1``."""

    def __init__(self, fd: int, timeout: float = 1.0, inter_byte_timeout: float = 0.1) -> None:
        self.fd = fd
        self.timeout = timeout
        self.inter_byte_timeout = inter_byte_timeout

    def read(self, size: int) -> bytes:
        data = b""
        deadline = time.monotonic() + self.timeout
        while len(data) < size:
            wait = deadline - time.monotonic()
            if data:
                wait = min(wait, self.inter_byte_timeout)
            if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                break  # total timeout, or the inter-byte gap after the first byte
            data += os.read(self.fd, size - len(data))
        return data

    def write(self, data: bytes) -> int:
        return os.write(self.fd, data)

    def reset_input_buffer(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            os.read(self.fd, 4096)


class PyCcTalkCoinDevice:
    """python-cctalk's ``CoinDevice`` (address 2, host 1, no worths, no gate callback)."""

    # header: body length conv_reply insists on (-1: any), from CCMessenger.messages.
    EXPECT: ClassVar[dict[int, int]] = {184: 6, 212: 2, 1: 0, 231: 0, 254: 0, 228: 0, 229: 11}

    def __init__(self, port: PySerialRead) -> None:
        self.port = port
        self.transcript: list[tuple[bytes, bytes | None]] = []  # (request, reply frame)
        self.values: dict[int, str] = {}
        pmasks = []
        for position in range(1, 17):
            label = bytes(self.request(184, [position])).decode()
            worth = label  # worths is None: the label is the worth
            if worth:
                pmasks.append(self.request(212, [position]))
                self.values[position] = worth
        pmask = list(reversed([sum(column) for column in zip(*pmasks, strict=True)]))
        self.request(1)
        self.request(231, pmask)

    def request(self, code: int, data: list[int] | None = None) -> list[int]:
        """``send_message_and_get_reply`` followed by ``conv_reply``."""
        data = data or []
        seq = [2, len(data), 1, code, *data] if data else [2, 0, 1, code]
        end_byte = 256 - sum(seq) % 256
        assert end_byte < 256, "make_msg would write 256 here: pick other data"
        message = bytes([*seq, end_byte])
        self.port.reset_input_buffer()
        sent = self.port.write(message)
        echo = self.port.read(sent)
        if echo != message:
            self.transcript.append((message, None))
            raise HostError(f"Unexpected echo output: {echo.hex(' ')} for {message.hex(' ')}")
        head = self.port.read(4)
        length = head[1] if len(head) > 1 else 0
        body = self.port.read(length)
        csum = self.port.read(1)
        self.transcript.append((message, head + body + csum if head else None))
        if len(head) < 4:
            raise HostError(f"Reply head is too short: {len(head)}. (header {code})")
        if head[0] != 1 or head[2] != 2:
            raise HostError("Unexpected addresses.")
        if len(body) < length:
            raise HostError(f"Reply body is too short: {len(body)}.")
        expect = self.EXPECT.get(code, -1)
        if expect != -1 and len(body) != expect:
            raise HostError(f"Received {len(body)} bytes but expected {expect} bytes")
        if head[3] and code not in (1, 231, 254, 228):  # bool replies report a NAK as False
            raise HostError(f"Device error: {head[3]}.")
        return list(body) if head[3] == 0 else []

    def simple_poll(self) -> bool:
        self.request(254)
        return not self.transcript[-1][1][3]  # type: ignore[index]

    def events(self, running: Callable[[], bool], timeout: float = 0.1) -> Iterator[CoinStruct]:
        """``CoinDevice.__iter__``; ``running`` lets the test end the loop between polls."""
        last_event: int | None = None
        capa_index = 5
        while running() and self.simple_poll():
            time.sleep(timeout)
            self.request(228, [int(not False)])  # master_inhibit(gate_status() == False)
            buff_event = self.request(229)
            coin_event = buff_event.pop(0)
            if not coin_event or last_event is None:
                last_event = coin_event
                continue
            if last_event > coin_event:
                last_event -= 255
            last_index = min(coin_event - last_event, capa_index)
            if not last_index:
                continue
            for i in range(last_index, 0, -1):
                coin_value = buff_event[2 * i - 2]
                coin_error = buff_event[2 * i - 1]
                worth = self.values[coin_value] if coin_value else ""
                yield CoinStruct(coin_event - i + 1, coin_value, worth, coin_error)
            last_event = coin_event


def pence(coin_id_or_kind: str) -> int:
    """200 for ``GB200A`` (a ccTalk coin id) and for ``gb-200-1997`` (an engine coin)."""
    digits = re.search(r"\d{3}", coin_id_or_kind)
    assert digits is not None, coin_id_or_kind
    return int(digits.group())


def coinval_command() -> list[str]:
    script = Path(sys.executable).with_name("coinval")
    return [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli.main"]


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # As ``coinval run`` teaches: coins from circulation, several batches, some wear.
    samples = {
        c: [
            sig
            for b in (0, 2, 4)
            for sig in generate(
                c, 14, head=DEFAULT_HEAD, seed=1 + b, batch=b, wear=0.5, dirt=0.5
            ).signatures()
        ]
        for c in TAUGHT_COINS
    }
    profile, _ = teach(samples, head=f"SIM-{DEFAULT_HEAD}")
    path = tmp_path_factory.mktemp("third-party") / "profile.json"
    profile.save(path)
    return path


def test_python_cctalk_coin_device_starts_and_reads_only_credited_coins(
    profile_path: Path,
) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profile_path),
        "--cctalk",
        os.ttyname(slave),
        "--cctalk-echo",
        "--sensor",
        f"simhead://{DEFAULT_HEAD}?seed=5&rate=5&coins={COINS}",
        "--at",
        AT,
        "--deadline-ms",
        "5000",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    pump = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    pump.start()
    read: list[CoinStruct] = []
    host: PyCcTalkCoinDevice | None = None
    try:
        deadline = time.monotonic() + 60
        while not any("coin acceptor on" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)

        host = PyCcTalkCoinDevice(PySerialRead(master))  # the start-up: raises if anything fails
        settled_at: list[float] = []

        def running() -> bool:
            # Every coin has its outcome, then one more second of polls to read the last.
            if not settled_at and sum(OUTCOME.search(x) is not None for x in lines) >= COINS:
                settled_at.append(time.monotonic())
            assert time.monotonic() < deadline + 60, "".join(lines)
            return not settled_at or time.monotonic() - settled_at[0] < 1.0

        read.extend(host.events(running))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        pump.join(5)
        os.close(master)
        os.close(slave)
    log = "".join(lines)
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    assert host is not None

    # The start-up: 16 x 184, 16 x 212 (no worths: every label counts), 1, 231; each answered.
    startup = [request[3] for request, _ in host.transcript[:34]]
    assert startup == [184, 212] * 16 + [1, 231]
    replies = [reply for _, reply in host.transcript]
    assert all(reply is not None and reply[3] == 0 for reply in replies)  # each one an ACK
    (announced,) = [line for line in lines if "coin acceptor on" in line]
    positions = dict(re.findall(r"(\d+)=(\S{6})", announced))
    assert len(positions) == len(TAUGHT_COINS)
    assert host.values == {
        p: positions.get(str(p), "......") for p in range(1, 17)
    }  # what 184 told the host is what serve announced
    # 212 replies summed per byte and reversed: symmetric here, so every position enabled.
    assert host.transcript[33][0] == bytes([2, 2, 1, 231, 255, 255, 0x16])

    credited = [(m.group(1), int(m.group(2))) for m in map(CREDIT.match, lines) if m is not None]
    host_credits = [coin for coin in read if coin.value]
    assert len(credited) >= 5, "too few credits for the test to mean anything: " + log
    assert len(host_credits) == len(credited)
    assert [c.value for c in host_credits] == [position for _, position in credited]
    assert [pence(c.worth) for c in host_credits] == [pence(coin) for coin, _ in credited]
    # The host's own event numbering has no gap and no repeat.
    indices = [c.index for c in read]
    assert indices == list(range(indices[0], indices[0] + len(indices)))
