"""``coinval serve`` from the outside: a real subprocess on a pseudo-terminal, a host of our own.

The host here is written from the facts of ``reference/cctalk.md`` alone and
imports nothing from ``firmware_bridge``: frames ``[dest][len][src][header]
[data][checksum]`` summing to 0 mod 256, address 2, headers 254/184/231/228/229,
and the 229 counter arithmetic ``(counter - last) mod 255``, 0 meaning reset.
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
from pathlib import Path

import orjson
import pytest

from coinval.engine import Engine
from coinval.legal_tender import parse_moment
from coinval.profile import load
from coinval.signature import Signature, SignatureError, parse_signature
from coinval.teach import teach
from coinval_cli.main import main
from sim.population import generate, to_json_dicts

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(90),
]

TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997")  # positions 1-4
CCTALK_IDS = ["GB100B", "GB100A", "GB200A", "GB050B"]
AT = "2024-06-01T12:00:00"  # after 2017-10-15: the round pound is inhibited


# ----------------------------------------------------------------- a tiny host


def frame(header: int, data: bytes = b"", dest: int = 2, src: int = 1) -> bytes:
    """A ccTalk frame with the simple checksum: the whole frame sums to 0 mod 256."""
    body = bytes([dest, len(data), src, header]) + data
    return body + bytes([(-sum(body)) % 256])


class MiniHost:
    """Just enough of a ccTalk host, on the master end of a pty."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.last_counter: int | None = None

    def drain(self) -> None:
        while select.select([self.fd], [], [], 0.05)[0]:
            os.read(self.fd, 4096)
        self.buffer = b""

    def _frames(self) -> list[tuple[int, int, int, bytes]]:
        out = []
        while len(self.buffer) >= 5:
            size = 5 + self.buffer[1]
            if len(self.buffer) < size:
                break
            raw, self.buffer = self.buffer[:size], self.buffer[size:]
            if sum(raw) % 256 == 0:
                out.append((raw[0], raw[2], raw[3], raw[4:-1]))
        return out

    def request(self, header: int, data: bytes = b"", timeout: float = 0.5) -> bytes | None:
        """Send one request; the reply's data, or None if nothing came."""
        self.buffer = b""
        os.write(self.fd, frame(header, data))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.02)[0]:
                self.buffer += os.read(self.fd, 4096)
            for dest, src, reply_header, payload in self._frames():
                if dest == 1 and src == 2:  # to us, from the acceptor (an echo is to 2)
                    assert reply_header == 0, f"NAK/BUSY ({reply_header}) to header {header}"
                    return payload
        return None

    def must(self, header: int, data: bytes = b"") -> bytes:
        reply = self.request(header, data)
        assert reply is not None, f"no reply to header {header}"
        return reply

    def poll(self) -> list[tuple[int, int]]:
        """Read 229; return the new (A, B) results, oldest first."""
        reply = self.must(229)
        assert len(reply) == 11
        counter = reply[0]
        if counter == 0:
            self.last_counter = 0
            return []
        new = counter if not self.last_counter else (counter - self.last_counter) % 255
        assert new <= 5, "events were lost"
        self.last_counter = counter
        pairs = [(reply[1 + 2 * i], reply[2 + 2 * i]) for i in range(5)]  # newest first
        return list(reversed(pairs[:new]))


# ------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = {c: generate(c, 30, head="A", seed=1, batch=0).signatures() for c in TAUGHT}
    profile, _ = teach(samples, head="A")
    path = tmp_path_factory.mktemp("serve") / "profile.json"
    profile.save(path)
    return path


def replay_file(path: Path) -> list[str]:
    """Genuine, counterfeit and demonetised coins, a bad line and an invalid one; their kinds."""
    kinds = [
        "gb-200-1997",
        "cast-round-pound",
        "gb-100-1983",
        "gb-100-2017",
        "mono-12-sided",
        "gb-050-1997",
        "gb-100-1983",
        "gb-200-1997",
    ]
    lines = []
    for i, kind in enumerate(kinds):
        one = generate(kind, 1, head="A", seed=500 + i, batch=0)
        lines.append(orjson.dumps(to_json_dicts(one, "A")[0]))
        if i == 2:
            lines.append(b"{this is not json")
        if i == 5:
            lines.append(b'{"eddy_lo": [1, 2, 3]}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    return kinds


def coinval_command() -> list[str]:
    script = Path(sys.executable).with_name("coinval")
    return [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli.main"]


# ---------------------------------------------------------------------- tests


def test_serve_replay_answers_each_coin_with_one_event(profile_path: Path, tmp_path: Path) -> None:
    coins = tmp_path / "coins.jsonl"
    kinds = replay_file(coins)
    # The oracle: what the engine decides for these coins (checked independently).
    signatures = [s for s in map(_signature, coins.read_bytes().splitlines()) if s is not None]
    decisions = Engine(load(profile_path)).decide_signatures(signatures, parse_moment(AT))
    assert [d.reason for d in decisions] == [
        "accepted",
        "counterfeit",
        "inhibited",
        "accepted",
        "counterfeit",
        "accepted",
        "inhibited",
        "accepted",
    ], "the classifier changed: pick other coins for this test"
    expected = []
    for kind, decision in zip(kinds, decisions, strict=True):
        position = TAUGHT.index(kind) + 1 if kind in TAUGHT else None
        if decision.accepted:
            expected.append((position, 0))  # credit: A = position, B = sorter path
        elif decision.reason == "inhibited":
            assert position is not None
            expected.append((0, 127 + position))  # inhibited coin, type n
        else:
            expected.append((0, 1))  # reject coin

    master, slave = os.openpty()
    tty.setraw(slave)
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profile_path),
        "--cctalk",
        os.ttyname(slave),
        "--sensor",
        f"replay:{coins}",
        "--coins-per-s",
        "20",
        "--at",
        AT,
        "--deadline-ms",
        "5000",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    host = MiniHost(master)
    try:
        deadline = time.monotonic() + 30
        while host.request(254, timeout=0.3) is None:  # wait for the acceptor to come up
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the acceptor never answered"
        time.sleep(0.2)
        host.drain()  # late answers to the polls sent while it was starting
        ids = [host.must(184, bytes([p])).decode("ascii") for p in range(1, 17)]
        assert ids == CCTALK_IDS + ["......"] * 12
        assert host.must(227) == b"\x00"  # master inhibit active at start
        assert host.must(230) == b"\x00\x00"  # every coin inhibited at start
        assert host.poll() == []  # counter 0: power-up
        host.must(231, b"\xff\xff")
        host.must(228, b"\x01")
        events: list[tuple[int, int]] = []
        deadline = time.monotonic() + 30
        while len(events) < len(expected) + 1:
            assert time.monotonic() < deadline, f"only {events} arrived"
            events.extend(host.poll())
            time.sleep(0.1)
        assert events[0] == (0, 2)  # the power-up marker event
        assert events[1:] == expected
        time.sleep(0.3)
        assert host.poll() == []  # nothing more, nothing twice
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        finally:
            os.close(master)
            os.close(slave)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    assert "bad line skipped" in log
    assert log.count(" -> credit position") == 4
    assert "SIGTERM received" in log


def _signature(line: bytes) -> Signature | None:
    """The line's signature, or None for the lines serve must skip."""
    try:
        return parse_signature(orjson.loads(line))
    except (orjson.JSONDecodeError, SignatureError):
        return None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sensor", "replay:/nonexistent/coins.jsonl"], "replay file"),
        (["--sensor", "replay:"], "needs a file"),
        (["--sensor", " "], "--sensor is empty"),
        (["--sensor", "/dev/nonexistent-sensor-port"], "cannot open the sensor link port"),
        (["--cctalk", "/dev/nonexistent-cctalk-port"], "cannot open the ccTalk port"),
        (["--at", "yesterday"], "not an ISO date-time"),
    ],
)
def test_serve_usage_errors_exit_2(
    profile_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "--profile", str(profile_path), "--cctalk", "loop://", "--sensor", "sim"]
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_serve_refuses_a_bad_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    args = ["serve", "--cctalk", "loop://", "--sensor", "sim", "--profile"]
    assert main([*args, str(bad)]) == 2
    assert "not a coinval profile" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "missing.json")]) == 2
    assert "cannot read profile" in capsys.readouterr().err


def test_serve_refuses_a_profile_of_the_allowance_engine(
    profile_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = orjson.loads(profile_path.read_bytes())
    doc["schema_version"] = 2
    old = tmp_path / "old.json"
    old.write_bytes(orjson.dumps(doc))
    args = ["serve", "--cctalk", "loop://", "--sensor", "replay:", "--profile"]
    assert main([*args, str(old)]) == 2
    assert "teach again" in capsys.readouterr().err


def test_serve_on_the_simulated_hardware_urls(profile_path: Path) -> None:
    """``--cctalk simhost://`` and ``--sensor sim``: serve makes both pseudo-terminals itself."""
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profile_path),
        "--cctalk",
        "simhost://?poll_ms=100",
        "--sensor",
        "sim",
        "--coins-per-s",
        "8",
        "--seed",
        "3",
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
    try:
        deadline = time.monotonic() + 60
        while sum(re.search(r"coin \d+.* -> (credit|error) ", x) is not None for x in lines) < 6:
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        pump.join(5)
    log = "".join(lines)
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    assert re.search(r"simulated sensor head SIM-A on /dev/\S+", log)
    assert re.search(r"virtual parking machine on /dev/\S+", log)
    assert "host is polling the credit buffer (229)" in log
    assert "stopped: " in log
