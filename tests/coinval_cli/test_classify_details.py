"""`coinval classify`: every decision that is not an acceptance says why, inhibited ones too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _coinval(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "coinval_cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("details") / "b7.json"
    coins = [f"--coin={f.stem}={f}" for f in sorted(samples_dir.glob("*.jsonl"))]
    done = _coinval("teach", "--out", str(out), *coins)
    assert done.returncode == 0, done.stderr
    return out


def test_inhibited_and_refused_decisions_carry_a_detail(
    profile: Path, samples_dir: Path, tmp_path: Path
) -> None:
    # The round pound is out of legal tender today; 120 lines: decided in batches
    # past the gate's size, the path that fills in details after the fact.
    lines = (samples_dir / "gb-100-1983.jsonl").read_text().splitlines() * 10
    stray = json.loads((samples_dir / "gb-200-1997.jsonl").read_text().splitlines()[0])
    stray["thickness_mm"] = 4.9  # a £2 far too thick: refused, not recognised
    lines.append(json.dumps(stray))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    done = _coinval("classify", "--profile", str(profile), str(source))
    assert done.returncode == 0, done.stderr
    decisions = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(decisions) == len(lines)
    assert {d["reason"] for d in decisions[:-1]} == {"inhibited"}
    assert all(
        d["detail"] == "gb-100-1983 is not legal tender since 2017-10-15" for d in decisions[:-1]
    )
    assert decisions[-1]["reason"] in ("counterfeit", "unknown")
    assert decisions[-1]["detail"].startswith("nearest ")
