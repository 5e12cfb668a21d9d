"""``coinval sim fleet`` against a real central service: every decided coin stored once.

A real ``coinval api`` (SQLite) is the central service, reached through a
relay that can hold back its replies (:class:`HoldProxy`), so that a kill -9
of the simulator lands while batches are stored and not yet acknowledged.
What the fleet decided is read from its outbox files afterwards
(:mod:`tests.sim.fleet_check`); what was stored, from the central's store.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.calibration.conftest import ADMIN_KEY, bearer, free_port, start_server
from tests.coinval_cli.test_serve_cli import coinval_command
from tests.sim.fleet_check import compare, outbox_truths, sqlite_store_rows
from tests.sim.hold_proxy import HoldProxy

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="kill -9 and PR_SET_PDEATHSIG: Linux"),
    pytest.mark.timeout(180),
]

WORKER = re.compile(r"worker (\d+) \(pid (\d+)\)")
PROGRESS = re.compile(r"fleet [\d,]+ s: decided ([\d,]+)")


class Central:
    """A real central service on a fixed port, restartable on the same store."""

    def __init__(self, store: Path) -> None:
        self.store, self.port = store, free_port()
        self.proc = start_server(store, self.port)
        r = httpx.post(
            f"http://127.0.0.1:{self.port}/api/v1/keys",
            json={"name": "fleet", "role": "operator"},
            headers=bearer(ADMIN_KEY),
        )
        assert r.status_code == 201, r.text
        self.key = str(r.json()["key"])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def start(self) -> None:
        self.proc = start_server(self.store, self.port)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    srv = Central(tmp_path / "central.db")
    yield srv
    srv.kill()


class Fleet:
    """``coinval sim fleet`` as its own process, its log pumped."""

    def __init__(self, url: str, key: str, outbox_dir: Path, *extra: str) -> None:
        command = [
            *coinval_command(),
            "sim",
            "fleet",
            "--central",
            url,
            "--outbox-dir",
            str(outbox_dir),
            "--processes",
            "2",
            "--progress-every",
            "0.5",
            *extra,
        ]
        env = {**os.environ, "COINVAL_CENTRAL_KEY": key}
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

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> list[re.Match[str]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for line in list(self.lines) if (m := re.search(pattern, line))]
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, self.log
            assert time.monotonic() < deadline, self.log
            time.sleep(0.05)

    def decided(self) -> int:
        counts = [int(m.group(1).replace(",", "")) for m in map(PROGRESS.search, self.lines) if m]
        return counts[-1] if counts else 0

    def wait_decided(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.decided() < n:
            assert self.proc.poll() is None, self.log
            assert time.monotonic() < deadline, self.log
            time.sleep(0.05)

    def workers(self) -> dict[int, int]:
        """Worker number -> its latest pid."""
        return {int(m.group(1)): int(m.group(2)) for m in map(WORKER.search, self.lines) if m}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self._pump.join(5)
        assert self.proc.returncode == 0, self.log
        assert "Traceback" not in self.log, self.log

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._pump.join(5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie no one reaped yet counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.05)


def test_kills_of_central_and_sim_lose_nothing_and_store_nothing_twice(
    central: Central, tmp_path: Path
) -> None:
    outboxes = tmp_path / "outboxes"
    proxy = HoldProxy(central.port)
    try:
        rate = ["--acceptors", "20", "--coins-per-s", "200", "--send-every", "0.3"]
        fleet = Fleet(proxy.url, central.key, outboxes, *rate, "--drain", "30")
        fleet.wait_for(WORKER.pattern, 2)
        fleet.wait_decided(200)

        # The central service killed -9, started again on its store: outboxes grow, then send.
        central.kill()
        fleet.wait_for(r"central errors [1-9]")
        fleet.wait_decided(fleet.decided() + 200)
        central.start()
        fleet.wait_for(r"delivered [\d,]+, waiting \d{1,2}, ", timeout=60)

        # One worker killed -9 while its batches are stored and not acknowledged: started again.
        proxy.hold.set()
        held = proxy.held_replies
        deadline = time.monotonic() + 30
        while proxy.held_replies < held + 3:
            assert time.monotonic() < deadline, "no batch reached the central service"
            time.sleep(0.05)
        number, pid = min(fleet.workers().items())
        os.kill(pid, signal.SIGKILL)
        fleet.wait_for(rf"worker {number} \(pid (?!{pid}\))\d+\)", timeout=60)
        proxy.hold.clear()
        fleet.wait_decided(fleet.decided() + 200)

        # The whole simulator killed -9: no worker lives on; a new run on the same outboxes.
        proxy.hold.set()
        held = proxy.held_replies
        while proxy.held_replies < held + 3:
            assert time.monotonic() < deadline + 30, "no batch reached the central service"
            time.sleep(0.05)
        pids = list(fleet.workers().values())
        fleet.kill()
        for worker in pids:
            _wait_gone(worker)
        proxy.hold.clear()
        again = Fleet(proxy.url, central.key, outboxes, *rate, "--drain", "30")
        again.wait_decided(200)
        again.stop()
    finally:
        proxy.close()

    truths = outbox_truths(outboxes)
    assert [t.head for t in truths] == [f"fleet-{i:04d}" for i in range(20)]
    check = compare(truths, *sqlite_store_rows(central.store))
    assert check.exact, check.problems[:10]
    assert check.decided == check.stored_events > 800
    # The kills landed mid-send: batches the central service had were sent again, and ignored.
    assert "duplicates ignored" in fleet.log + again.log, fleet.log + again.log
    assert "died (killed by signal 9): starting it again" in fleet.log
    assert re.search(r"stopped: .* waiting 0, ", again.log), again.log
    assert central.key not in fleet.log + again.log  # the key is never printed


@pytest.mark.parametrize(
    ("flags", "env", "words"),
    [
        (["--acceptors", "0"], {}, "--acceptors must be at least 1"),
        (["--coins-per-s", "-5"], {}, "--coins-per-s must be a number >= 0"),
        (["--central", None], {}, "--central URL is needed"),
        (["--central", "ftp://x"], {}, "http:// or https://"),
        (["--central-key", None], {}, "--central needs a key"),
        (["--send-every", "0"], {}, "--send-every must be a number of seconds > 0"),
        (["--processes", "0"], {}, "--processes must be at least 1"),
        (["--model", "a b"], {}, "--model: 1-64 letters"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    tmp_path: Path, flags: list[str | None], env: dict[str, str], words: str
) -> None:
    given = {
        "--acceptors": "5",
        "--coins-per-s": "10",
        "--central": "http://127.0.0.1:1",
        "--central-key": "k" * 20,
    }
    flag, value = flags
    assert flag is not None
    if value is None:
        del given[flag]
    else:
        given[flag] = value
    argv = [*coinval_command(), "sim", "fleet", "--outbox-dir", str(tmp_path / "o")]
    argv += [word for pair in given.items() for word in pair]
    base = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    done = subprocess.run(argv, capture_output=True, text=True, env={**base, **env}, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert "k" * 20 not in done.stderr  # a key is never echoed


def test_a_central_out_of_reach_at_start_is_not_an_error_the_outboxes_keep_the_coins(
    tmp_path: Path,
) -> None:
    outboxes = tmp_path / "o"
    argv = [*coinval_command(), "sim", "fleet", "--acceptors", "3", "--coins-per-s", "100"]
    argv += ["--central", f"http://127.0.0.1:{free_port()}", "--central-key", "k" * 20]
    argv += ["--outbox-dir", str(outboxes), "--duration", "1.5", "--drain", "0.5"]
    argv += ["--send-every", "0.2", "--processes", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "not reachable" in done.stderr and "Traceback" not in done.stderr
    truths = outbox_truths(outboxes)
    assert len(truths) == 3
    assert sum(t.waiting for t in truths) == sum(t.last_seq for t in truths) > 50
