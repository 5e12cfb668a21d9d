from __future__ import annotations

import json
from pathlib import Path

import pytest

from coinval.signature import Signature, parse_signature

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def shared_samples_dir() -> Path:
    for candidate in (SAMPLES, Path("../shared/samples").resolve()):
        if candidate.is_dir():
            return candidate
    pytest.skip("../shared/samples is not beside the project")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return shared_samples_dir()


@pytest.fixture(scope="session")
def shared_samples(samples_dir: Path) -> dict[str, list[Signature]]:
    out: dict[str, list[Signature]] = {}
    for path in sorted(samples_dir.glob("*.jsonl")):
        out[path.stem] = [parse_signature(json.loads(line)) for line in path.open()]
    return out
