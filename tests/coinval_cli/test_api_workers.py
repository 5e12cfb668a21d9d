"""`coinval api --workers N` refused where it cannot work: exit 2, one line, nothing made;
and one process stopping with a live stream open, as the workers do.

The workers themselves, on PostgreSQL, are tested in tests/calibration/test_workers.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.calibration.conftest import ADMIN_KEY, bearer, free_port, start_server


def _api(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    return subprocess.run(
        [sys.executable, "-m", "coinval_cli", "api", *argv],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "cvk_" not in done.stderr
    return lines[0]


def test_several_workers_on_a_sqlite_store_are_refused_before_the_store_is_made(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s.db"
    line = _one_line(_api("--db", str(store), "--port", str(free_port()), "--workers", "3"))
    assert line.startswith("coinval api: error: --workers 3 needs a PostgreSQL store"), line
    assert not store.exists() and list(tmp_path.iterdir()) == []


def test_the_workers_setting_from_the_environment_is_checked_the_same(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    done = _api("--db", str(store), "--port", str(free_port()), env={"COINVAL_WORKERS": "2"})
    assert "--workers 2 needs a PostgreSQL store" in _one_line(done)
    assert not store.exists()


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_a_workers_count_that_is_not_a_positive_integer(tmp_path: Path, workers: str) -> None:
    done = _api("--db", str(tmp_path / "s.db"), "--workers", workers)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    # argparse's usage, then its one line
    assert "argument --workers: must be a positive integer" in done.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_more_workers_than_the_setting_allows(tmp_path: Path) -> None:
    done = _api("--db", "postgresql://u@127.0.0.1:1/x", "--workers", "65")
    assert "bad setting" in _one_line(done)


def test_a_postgresql_store_out_of_reach_is_one_line_without_its_password() -> None:
    url = "postgresql://operator:s3cret@127.0.0.1:1/coinval"  # port 1: nothing listens
    line = _one_line(_api("--db", url, "--port", str(free_port()), "--workers", "3"))
    assert "s3cret" not in line
    assert "cannot open the store postgresql://operator:***@127.0.0.1:1/coinval" in line


def test_an_open_live_stream_does_not_keep_one_process_from_stopping(tmp_path: Path) -> None:
    port = free_port()
    proc = start_server(tmp_path / "s.db", port)
    try:
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c,
            c.stream("GET", "/api/v1/events/stream", headers=bearer(ADMIN_KEY)) as stream,
        ):
            assert stream.status_code == 200
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
            assert list(stream.iter_lines())[-1:] in ([], [""])  # it ended with the server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
