"""``coinval central``: a PostgreSQL-backed central service from one command.

A real cluster is made in a folder, the API served on it with two workers,
Ctrl-C stops both; the next start finds the cluster and its data.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coinval_cli.local_postgres import LocalPostgresError, server_bindir
from tests.calibration.conftest import free_port

try:
    server_bindir()
except LocalPostgresError as exc:
    pytest.skip(str(exc), allow_module_level=True)

pytestmark = pytest.mark.timeout(180)

KEY = re.compile(r"(cvk_[A-Za-z0-9_-]{20,})")


@pytest.fixture
def folder() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root the cluster runs as the postgres user,
    # who must be able to reach the folder (pytest's are private to root).
    base = Path(tempfile.mkdtemp(prefix="coinval-central-"))
    base.chmod(0o755)
    yield base / "central"
    shutil.rmtree(base, ignore_errors=True)


class Central:
    def __init__(self, folder: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
        command = [sys.executable, "-m", "coinval_cli", "central", "--dir", str(folder)]
        self.proc = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)


def test_one_command_central_on_its_own_postgres(folder: Path) -> None:
    port = free_port()
    first = Central(folder, port)
    assert "made a PostgreSQL cluster" in first.output
    found = KEY.search(first.output)
    assert found is not None, first.output
    admin = {"Authorization": f"Bearer {found.group(1)}"}
    r = httpx.post(
        f"{first.url}/api/v1/keys", json={"name": "acceptors", "role": "operator"}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert first.stop() == 0, first.output
    assert "PostgreSQL stopped" in first.output
    assert not (folder / "data" / "postmaster.pid").exists()  # the cluster is down

    second = Central(folder, port)  # the same folder: the same store
    assert "made a PostgreSQL cluster" not in second.output
    names = [k["name"] for k in httpx.get(f"{second.url}/api/v1/keys", headers=admin).json()]
    assert "acceptors" in names
    assert second.stop() == 0, second.output


def test_bad_flags(tmp_path: Path) -> None:
    for extra, words in (
        (["--db", str(tmp_path / "x.db")], "--db must be a postgresql:// URL"),
        (["--port", "0"], "--port must be 1-65535"),
        (["--workers", "0"], "--workers"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "coinval_cli", "central", "--dir", str(tmp_path), *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing made
