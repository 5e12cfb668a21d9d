"""``coinval run``: the whole system on pseudo-terminals, as ``make run`` starts it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(90),
]


def coinval_command() -> list[str]:
    script = Path(sys.executable).with_name("coinval")
    return [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli.main"]


def test_run_teaches_on_first_use_and_balances_the_money(tmp_path: Path) -> None:
    command = [*coinval_command(), "run", "--coins", "8", "--coins-per-s", "6", "--seed", "3"]
    # Generous deadline: a loaded machine must not turn coins into validation timeouts.
    # A free port for the operator API (make run's 8000 may be taken on a test machine).
    command += ["--deadline-ms", "2000", "--api", "0"]
    env = {k: v for k, v in os.environ.items() if k not in ("COINVAL_DB", "COINVAL_ADMIN_KEY")}
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=80, env=env
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert (tmp_path / ".coinval" / "profile.json").exists()  # taught on first run
    # The operator API ran over the embedded store, and said how to get in.
    assert (tmp_path / ".coinval" / "coinval.db").exists()
    assert "calibration API on http://127.0.0.1:" in done.stderr
    assert "the admin key is" in done.stderr
    assert "first run: teaching" in out
    assert "ccTalk bus:  engine on /dev/pts/" in out and "--cctalk /dev/ttyUSB0" in out
    # One line per coin, numbered as they went in, each with what the parking
    # machine credited (the line format itself: test_run_display.py).
    numbers = re.findall(r"^ *(\d+)  (?:genuine|fake|look-alike) ", out, flags=re.MULTILINE)
    assert numbers == [str(n) for n in range(1, 9)]
    assert "8 coins: " in out  # ... and the summary of them
    assert "money check: OK" in out
    assert "Traceback" not in done.stderr


def test_run_without_the_api_opens_no_store(tmp_path: Path) -> None:
    command = [*coinval_command(), "run", "--coins", "2", "--coins-per-s", "6", "--no-api"]
    command += ["--deadline-ms", "2000"]
    env = {k: v for k, v in os.environ.items() if k != "COINVAL_DB"}
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=80, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "money check: OK" in done.stdout
    assert not (tmp_path / ".coinval" / "coinval.db").exists()
    assert "calibration API" not in done.stderr


def test_a_store_without_the_api_is_a_usage_error(tmp_path: Path) -> None:
    command = [*coinval_command(), "run", "--no-api", "--db", str(tmp_path / "s.db")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--db" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".coinval").exists()  # refused before anything was taught


@pytest.mark.parametrize(
    ("api", "message"), [("eight-thousand", "expected [HOST:]PORT"), ("70000", "0-65535")]
)
def test_a_bad_api_address_is_refused_before_anything_is_taught(
    tmp_path: Path, api: str, message: str
) -> None:
    command = [*coinval_command(), "run", "--api", api]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".coinval").exists()


def test_an_api_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [*coinval_command(), "run", "--coins", "1", "--api", str(port)]
        env = {k: v for k, v in os.environ.items() if k != "COINVAL_DB"}
        done = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=80, env=env
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot serve the calibration API on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
