"""``coinval run``: the whole system on pseudo-terminals, as ``make run`` starts it."""

from __future__ import annotations

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
    command += ["--deadline-ms", "2000"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=80)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert (tmp_path / ".coinval" / "profile.json").exists()  # taught on first run
    assert "first run: teaching" in out
    assert "ccTalk bus:  engine on /dev/pts/" in out and "--cctalk /dev/ttyUSB0" in out
    assert out.count("  in  #") == 8  # every coin going in ...
    assert " out  " in out  # ... and what came out at the parking machine
    assert "money check: OK" in out
    assert "Traceback" not in done.stderr
