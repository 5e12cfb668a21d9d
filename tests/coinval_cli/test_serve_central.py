"""``coinval serve --central``: every decided coin reaches a real central service once.

A real ``coinval api`` (SQLite) is the central service; a real ``coinval serve``
with simulated hardware reports to it through its outbox.  Decided coins are
counted from serve's own log (one line per coin); stored ones from the central
store's file, by idempotency key.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coinval.teach import teach
from sim.population import generate
from tests.calibration.conftest import ADMIN_KEY, bearer, free_port, start_server
from tests.coinval_cli.test_serve_cli import coinval_command

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(120),
]

DECIDED = re.compile(r"coin \d+.* -> (credit|error) ")


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    coins = ("gb-100-2017", "gb-200-1997", "gb-050-1997")
    samples = {c: generate(c, 24, head="A", seed=1, batch=0).signatures() for c in coins}
    path = tmp_path_factory.mktemp("central") / "profile.json"
    teach(samples, head="A")[0].save(path)
    return path


class Central:
    """A real central service on a fixed port, restartable on the same store."""

    def __init__(self, store: Path) -> None:
        self.store, self.port = store, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = start_server(store, self.port)
        r = httpx.post(
            f"{self.url}/api/v1/keys",
            json={"name": "acceptors", "role": "operator"},
            headers=bearer(ADMIN_KEY),
        )
        assert r.status_code == 201, r.text
        self.key = r.json()["key"]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def start(self) -> None:
        self.proc = start_server(self.store, self.port)

    def keys(self) -> list[str]:
        with sqlite3.connect(self.store) as db:
            rows = db.execute(
                "SELECT idempotency_key FROM events WHERE idempotency_key IS NOT NULL"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def summarised(self) -> int:
        with sqlite3.connect(self.store) as db:
            return int(db.execute("SELECT COALESCE(SUM(n), 0) FROM fleet_summaries").fetchone()[0])


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    srv = Central(tmp_path / "central.db")
    yield srv
    srv.kill()


class Acceptor:
    """``coinval serve --central`` on simulated hardware, its log pumped."""

    def __init__(self, profile: Path, central: Central, outbox: Path, coins: int, *extra: str):
        command = [
            *coinval_command(),
            "serve",
            "--profile",
            str(profile),
            "--cctalk",
            "simhost://?poll_ms=100",
            "--sensor",
            f"simhead://A?seed={coins}&rate=20&coins={coins}",
            "--deadline-ms",
            "5000",
            "--central",
            central.url,
            "--outbox",
            str(outbox),
            *extra,
        ]
        env = {**os.environ, "COINVAL_CENTRAL_KEY": central.key}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: list[str] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def decided(self) -> int:
        return sum(DECIDED.search(x) is not None for x in self.lines)

    def wait_decided(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.decided() < n:
            assert self.proc.poll() is None, self.log
            assert time.monotonic() < deadline, self.log
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._pump.join(5)
        assert self.proc.returncode == 0, self.log
        assert "Traceback" not in self.log

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._pump.join(5)


def wait_stored(central: Central, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(central.keys()) + central.summarised() < n and time.monotonic() < deadline:
        time.sleep(0.1)


def test_every_decided_coin_stored_once(profile: Path, central: Central, tmp_path: Path) -> None:
    acc = Acceptor(profile, central, tmp_path / "outbox.db", 60)
    acc.wait_decided(60)
    wait_stored(central, 60)
    acc.stop()
    keys = central.keys()
    assert acc.decided() == 60 and len(keys) == 60 and len(set(keys)) == 60
    assert sorted(int(k.split(":")[1]) for k in keys) == list(range(1, 61))
    assert central.key not in acc.log  # the key is never printed
    assert "60 event(s) delivered" in acc.log


def test_central_killed_and_restarted(profile: Path, central: Central, tmp_path: Path) -> None:
    acc = Acceptor(profile, central, tmp_path / "outbox.db", 60)
    acc.wait_decided(15)
    central.kill()
    acc.wait_decided(45)
    central.start()
    acc.wait_decided(60)
    wait_stored(central, 60)
    acc.stop()
    keys = central.keys()
    assert acc.decided() == 60 and len(keys) == 60 and len(set(keys)) == 60
    assert "not taking events" in acc.log and "reachable again" in acc.log


def test_acceptor_killed_mid_send_and_restarted(
    profile: Path, central: Central, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.db"
    first = Acceptor(profile, central, outbox, 40)
    first.wait_decided(25)
    first.kill()  # mid-run: some events sent, some maybe sent and not yet acknowledged
    second = Acceptor(profile, central, outbox, 30)
    second.wait_decided(30)
    with sqlite3.connect(outbox) as db:
        last = int(
            db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()[0]
        )
    wait_stored(central, last)
    second.stop()
    keys = central.keys()
    # every event the outbox ever kept, once, and nothing else
    assert len(keys) == len(set(keys)) == last
    assert sorted(int(k.split(":")[1]) for k in keys) == list(range(1, last + 1))
    assert {k.split(":")[0] for k in keys} == {k.split(":")[0] for k in keys[:1]}
    # every coin the first run decided before the kill (it said so in its log after
    # keeping it in the outbox), and every coin of the second run
    assert second.decided() == 30 and last >= first.decided() + 30


def test_bound_summarises_while_central_is_down(
    profile: Path, central: Central, tmp_path: Path
) -> None:
    central.kill()
    acc = Acceptor(profile, central, tmp_path / "outbox.db", 40, "--outbox-bound", "10")
    acc.wait_decided(40)
    time.sleep(0.5)
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        summarised = int(
            db.execute("SELECT value FROM meta WHERE name = 'summarised'").fetchone()[0]
        )
        waiting = int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    assert waiting <= 10 + 1 and summarised == 40 - waiting
    assert "oldest event(s) summarised" in acc.log
    central.start()
    wait_stored(central, 40)
    acc.stop()
    assert len(central.keys()) + central.summarised() == 40  # nothing lost from the totals
    assert central.summarised() == summarised
