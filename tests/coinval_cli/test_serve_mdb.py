"""``coinval serve --mdb`` from outside: a real subprocess on a pty, a VMC of our own.

The VMC here is written from ``docs/mdb.md`` alone and imports nothing from
``firmware_bridge``: words as two bytes (``01`` + byte with the mode bit,
``00`` + byte without), the changer at 08H, CHK = sum of the block mod 256,
RESET 08H, SETUP 09H, POLL 0BH, COIN TYPE 0CH, EXPANSION 0FH 00H / 05H, the
POLL items ``01RRTTTT NN`` (deposited), ``001SSSSS`` (slugs), ``0000SSSS``
(status, 0B changer was reset).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
import tty
from pathlib import Path

import orjson
import pytest

from coinval.engine import Engine
from coinval.legal_tender import parse_moment
from coinval.profile import load
from coinval.signature import parse_signature
from coinval.teach import teach
from coinval_cli.main import main
from sim.population import generate, to_json_dicts

from .test_serve_cli import coinval_command

pytestmark = [pytest.mark.timeout(120)]

TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997")  # coin types 0-3
VALUES = (100, 100, 200, 50)
AT = "2024-06-01T12:00:00"  # after 2017-10-15: the round pound is inhibited
ENABLED = 0b0111  # the VMC leaves the 50p (type 3) disabled


# ------------------------------------------------------------------ a tiny VMC


class MiniVmc:
    """Just enough of a vending machine controller, on the master end of a pty."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.deposits: list[int] = []  # coin types, in the order reported
        self.slugs = 0
        self.statuses: list[int] = []
        self.no_answer = 0

    def _send(self, words: list[tuple[int, int]]) -> None:
        os.write(self.fd, b"".join(bytes((mode, byte)) for mode, byte in words))

    def drain(self) -> None:
        while select.select([self.fd], [], [], 0.05)[0]:
            os.read(self.fd, 4096)
        self.buffer = b""

    def _answer(self, timeout: float) -> list[int] | None:
        """The changer's block up to its mode-bit word (data, CHK checked), or None."""
        deadline = time.monotonic() + timeout
        words: list[int] = []
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.01)[0]:
                self.buffer += os.read(self.fd, 4096)
            while len(self.buffer) >= 2:
                mode, byte = self.buffer[0], self.buffer[1]
                self.buffer = self.buffer[2:]
                assert mode in (0, 1), f"not a two-byte word: {mode:02x}"
                if not mode:
                    words.append(byte)
                    continue
                if not words:
                    return [byte]  # a lone ACK (00) or NAK (FF)
                assert sum(words) % 256 == byte, "bad CHK from the changer"
                return words
        return None

    def command(self, command: int, data: bytes = b"", tries: int = 20) -> list[int]:
        """Send a command until it is answered; ACK a data answer.  The answer's bytes."""
        block = [(1, command)] + [(0, b) for b in data]
        block.append((0, (command + sum(data)) % 256))
        for _ in range(tries):
            self.buffer = b""
            self._send(block)
            answer = self._answer(0.2)
            if answer is None:
                self.no_answer += 1  # late replies are dropped by the changer: ask again
                continue
            if answer != [0x00]:
                self._send([(0, 0x00)])  # ACK
            return answer
        raise AssertionError(f"no answer to command {command:02X}H")

    def poll(self) -> list[int]:
        answer = self.command(0x0B)
        if answer == [0x00]:
            return []
        items = answer
        i = 0
        while i < len(items):
            b = items[i]
            if b & 0xC0 == 0x40:
                assert b & 0x30 == 0, "routed elsewhere than the cash box"
                self.deposits.append(b & 0x0F)
                i += 2
            elif b & 0xE0 == 0x20:
                self.slugs += b & 0x1F
                i += 1
            elif b & 0xF0 == 0:
                self.statuses.append(b)
                i += 1
            else:
                raise AssertionError(f"unexpected POLL byte {b:02x} in {items}")
        return items

    def start(self) -> list[int]:
        """RESET, POLL until 'changer was reset', SETUP, identification, COIN TYPE."""
        assert self.command(0x08) == [0x00]
        deadline = time.monotonic() + 5
        while 0x0B not in self.statuses:
            assert time.monotonic() < deadline, "no 'changer was reset'"
            self.poll()
        setup = self.command(0x09)
        ident = self.command(0x0F, b"\x00")
        assert bytes(ident[:3]) == b"CVL"
        assert self.command(0x0C, bytes((ENABLED >> 8, ENABLED & 0xFF, 0, 0))) == [0x00]
        return setup


# ------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = {c: generate(c, 30, head="A", seed=1, batch=0).signatures() for c in TAUGHT}
    profile, _ = teach(samples, head="A")
    path = tmp_path_factory.mktemp("serve-mdb") / "profile.json"
    profile.save(path)
    return path


KINDS = [
    "gb-200-1997",  # credited: type 2
    "cast-round-pound",  # counterfeit: a slug
    "gb-100-1983",  # inhibited (no longer legal tender): returned, nothing said
    "gb-100-2017",  # credited: type 0
    "gb-050-1997",  # accepted by the engine, but the VMC disabled type 3: returned
    "mono-12-sided",  # counterfeit: a slug
    "gb-200-1997",  # credited: type 2
    "gb-100-2017",  # credited: type 0
]


def _serve(profile_path: Path, slave: int, sensor: str, *extra: str) -> subprocess.Popen[bytes]:
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profile_path),
        "--mdb",
        os.ttyname(slave),
        "--sensor",
        sensor,
        "--at",
        AT,
        "--deadline-ms",
        "5000",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stop(proc: subprocess.Popen[bytes], *fds: int) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    finally:
        for fd in fds:
            os.close(fd)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    return log


def _wait_for_changer(vmc: MiniVmc, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            vmc.command(0x0B, tries=1)
            break
        except AssertionError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the changer never answered"
    time.sleep(0.2)
    vmc.drain()


# ---------------------------------------------------------------------- tests


def test_a_vmc_gets_one_deposit_per_genuine_enabled_coin(
    profile_path: Path, tmp_path: Path
) -> None:
    coins = tmp_path / "coins.jsonl"
    lines = [
        orjson.dumps(to_json_dicts(generate(kind, 1, head="A", seed=500 + i, batch=0), "A")[0])
        for i, kind in enumerate(KINDS)
    ]
    coins.write_bytes(b"\n".join(lines) + b"\n")
    # The oracle: what the engine decides for these coins (checked independently).
    signatures = [parse_signature(orjson.loads(line)) for line in lines]
    decisions = Engine(load(profile_path)).decide_signatures(signatures, parse_moment(AT))
    reasons = [d.reason for d in decisions]
    assert reasons == [
        "accepted",
        "counterfeit",
        "inhibited",
        "accepted",
        "accepted",
        "counterfeit",
        "accepted",
        "accepted",
    ], "the classifier changed: pick other coins for this test"
    expected = [
        TAUGHT.index(kind)
        for kind, d in zip(KINDS, decisions, strict=True)
        if d.accepted and ENABLED >> TAUGHT.index(kind) & 1
    ]
    assert expected == [2, 0, 2, 0]

    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    proc = _serve(profile_path, slave, f"replay:{coins}", "--coins-per-s", "10")
    vmc = MiniVmc(master)
    try:
        _wait_for_changer(vmc, proc)
        setup = vmc.start()
        # Level 3, GBP (1826), scaling 50 (the GCD of 100, 100, 200, 50), 2 decimals, no tubes.
        assert setup[:7] == [3, 0x18, 0x26, 50, 2, 0, 0]
        assert setup[7:11] == [2, 2, 4, 1]
        # The changer says it is working while the VMC polls with coins enabled.
        assert vmc.command(0x0F, b"\x05") == [0x03, 0x00]
        deadline = time.monotonic() + 30
        while len(vmc.deposits) < len(expected) or vmc.slugs < 2:
            assert time.monotonic() < deadline, f"only {vmc.deposits}, {vmc.slugs} slugs"
            vmc.poll()
            time.sleep(0.05)
        for _ in range(10):  # nothing more, nothing twice
            vmc.poll()
            time.sleep(0.05)
        assert vmc.deposits == expected
        assert vmc.slugs == 2
        assert vmc.statuses == [0x0B]  # only the reset: no status invented
        credit = sum(VALUES[t] for t in vmc.deposits)
        assert credit == 600  # £2 + £1 + £2 + £1

        # Silence: past the 2 s non-response time the changer says the VMC inhibits it.
        time.sleep(2.5)
        assert vmc.command(0x0F, b"\x05") == [0x06, 0x00]
        vmc.poll()
        assert vmc.command(0x0F, b"\x05") == [0x03, 0x00]
    finally:
        log = _stop(proc, master, slave)
    assert log.count(" -> deposited coin type") == len(expected)
    assert " -> credit position" not in log  # ccTalk words in an MDB log: a mix-up
    assert "coin type 3 disabled by the VMC (COIN TYPE)" in log
    assert "VMC reset the changer (RESET)" in log
    assert "VMC coin enables 0x0007 (COIN TYPE): coin types enabled 0, 1, 2" in log
    assert "VMC has not polled for over 2.0 s" in log


CREDIT = re.compile(
    r"coin \d+ \[([a-z0-9-]+?)-A-b\d+-s\d+-\d+\]: accepted (\S+) -> deposited coin type"
)


def test_coins_while_the_vmc_is_silent_are_returned_and_never_reported(
    profile_path: Path,
) -> None:
    """The simulated head keeps inserting; the VMC stops polling for 3 s, then comes back."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    proc = _serve(profile_path, slave, "sim", "--coins-per-s", "6", "--seed", "5")
    vmc = MiniVmc(master)
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        _wait_for_changer(vmc, proc)
        vmc.start()
        end = time.monotonic() + 3
        while time.monotonic() < end:
            vmc.poll()
            time.sleep(0.05)
        time.sleep(3.0)  # silent: coins now are returned
        end = time.monotonic() + 3
        while time.monotonic() < end:
            vmc.poll()
            time.sleep(0.05)
    finally:
        pump = threading.Thread(target=lambda: lines.extend([_stop(proc, master, slave)]))
        pump.start()
        pump.join(30)
    log = "".join(lines)
    credits = CREDIT.findall(log)
    assert credits, "no coin was credited while the VMC polled"
    # Every deposit the VMC saw is a credit the engine gave, in order; none lost, none made up.
    assert [TAUGHT.index(coin) for _, coin in credits] == vmc.deposits
    for kind, coin in credits:
        assert kind == coin, f"a {kind} credited as {coin}"
        assert ENABLED >> TAUGHT.index(coin) & 1
    assert "VMC not polling (POLL): coin returned" in log, "no coin came while it was silent"
    assert vmc.statuses.count(0x0B) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cctalk", "loop://", "--mdb", "loop://"], "not allowed with argument"),
        ([], "one of the arguments --cctalk --mdb is required"),
        (["--mdb", "loop://", "--cctalk-echo"], "--cctalk-echo goes with --cctalk"),
        (["--cctalk", "loop://", "--mdb-9bit"], "--mdb-9bit goes with --mdb"),
        (["--mdb", "/dev/nonexistent-mdb-port"], "cannot open the MDB port"),
    ],
)
def test_serve_bus_usage_errors_exit_2(
    profile_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--profile", str(profile_path), "--sensor", "sim", *args]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = int(exc.code or 0)
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_sim_vmc_drives_a_changer_and_prints_its_credit(tmp_path: Path) -> None:
    """``coinval sim vmc --mdb PTY`` against a changer served here on the master end."""
    from firmware_bridge.mdb.changer import CoinChanger
    from firmware_bridge.transport.fd_port import FdPort
    from firmware_bridge.transport.mdb_serial import TwoByteWordPort

    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    changer = CoinChanger(list(VALUES))
    port = TwoByteWordPort(FdPort(master, owns_fd=False))
    command = [*coinval_command(), "sim", "vmc", "--mdb", os.ttyname(slave), "--poll-ms", "20"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deposited = False
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and changer.counters.deposits_reported < 2:
            now = time.monotonic()
            for reply in changer.receive_words(port.read_words(now), now):
                port.write_words(reply.words)
            if not deposited and changer.is_accepting(2, now) and changer.is_accepting(3, now):
                changer.push_deposit(2)  # £2
                changer.push_deposit(3)  # 50p
                deposited = True
    finally:
        # The changer keeps answering while the VMC stops, as a real one would:
        # the VMC's last commands are answered, not left to time out.
        answering = threading.Event()

        def answer() -> None:
            while not answering.is_set():
                now = time.monotonic()
                for reply in changer.receive_words(port.read_words(now), now):
                    port.write_words(reply.words)

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=15)
        finally:
            answering.set()
            server.join(5)
            os.close(master)
            os.close(slave)
    assert changer.counters.deposits_reported == 2, err
    assert proc.returncode == 0, err
    assert "credit  coin type 2 £2.00  total £2.00" in out
    assert "credit  coin type 3 £0.50  total £2.50" in out
    assert "changer: level 3, scaling 50, credits per coin type [2, 2, 4, 1]" in out
    assert "CVL COINVAL-MDB" in out
    assert "total credited £2.50 (2 coins)" in out
