"""``coinval run --mdb``: the whole system with a virtual vending machine, to its money check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_serve_cli import coinval_command

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(240),
]


def test_run_mdb_ends_with_the_money_check_ok(tmp_path: Path) -> None:
    command = [*coinval_command(), "run", "--mdb", "--coins", "16", "--coins-per-s", "5"]
    done = subprocess.run(
        [*command, "--no-api", "--seed", "2"],
        cwd=tmp_path,  # the profile it teaches goes under .coinval/ here
        capture_output=True,
        text=True,
        timeout=220,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "the engine is an MDB coin changer" in out
    assert "virtual vending machine (simvmc://)" in out
    lines = [ln for ln in out.splitlines() if re.match(r"^\s+\d+  ", ln)]
    assert len(lines) == 16, out
    # One line per coin (fixed columns); a credit only for a genuine coin the engine accepted.
    credited = [ln for ln in lines if ln[61:69].strip().startswith("£")]
    assert credited, out
    for line in credited:
        assert line[6:36].startswith("genuine") and line[38:59].startswith("accepted"), line
    summary = re.search(
        r"(\d+) went into the cash box; engine credited (\d+) \((£[\d.]+)\); changer reported "
        r"(\d+) deposits; vending machine credited (\d+) \((£[\d.]+)\)",
        out,
    )
    assert summary is not None, out
    taken, credited, pounds, reported, vmc, vmc_pounds = summary.groups()
    assert taken == credited == reported == vmc and int(vmc) > 0
    assert pounds == vmc_pounds
    assert "money check: OK" in out
    assert "Traceback" not in done.stderr
