"""Shared fixtures for the speed benchmarks: a taught profile and simulated coins.

The run's JSON file (``--benchmark-json``) also records where and how it ran:
``machine_info["coinval"]`` is :func:`coinval_eval.provenance.machine` and
``coinval`` holds the command and its run time, which the speed and scaling
reports state as every other report does.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from coinval.batch import SignatureBatch
from coinval.engine import Engine
from coinval.profile import Profile
from coinval.teach import teach
from coinval_eval.provenance import machine
from sim.coins import TAUGHT_COINS
from sim.heads import DEFAULT_HEAD
from sim.population import generate, to_json_dicts

_STARTED = pytest.StashKey[float]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note when the run began, for the run time its JSON file records."""
    session.config.stash[_STARTED] = time.perf_counter()


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Name the machine as every report does: CPU, cores, Python, OS, library versions."""
    machine_info["coinval"] = machine()


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list, output_json: dict[str, Any]
) -> None:
    """Record the command that ran the benchmarks and how long it took."""
    words = ["python", "-m", "pytest", *config.invocation_params.args]
    # The 1 GB memory run is switched on from the environment.
    big = ["COINVAL_BENCH_BIG=1"] if os.environ.get("COINVAL_BENCH_BIG") == "1" else []
    started = config.stash.get(_STARTED, None)
    output_json["coinval"] = {
        "command": " ".join([*big, shlex.join(words)]),
        "seconds": None if started is None else time.perf_counter() - started,
    }


@pytest.fixture(scope="session")
def profile() -> Profile:
    samples = {
        c: generate(c, 40, head=DEFAULT_HEAD, seed=1, batch=0, wear=0.5, dirt=0.5).signatures()
        for c in TAUGHT_COINS
    }
    return teach(samples, head=DEFAULT_HEAD)[0]


@pytest.fixture(scope="session")
def engine(profile: Profile) -> Engine:
    return Engine(profile)


def mixed(n: int, seed: int = 2) -> SignatureBatch:
    """n coins of the taught types from other batches, worn and dirty, -10..45 C."""
    parts = [
        generate(
            c,
            n // len(TAUGHT_COINS) + 1,
            head=DEFAULT_HEAD,
            seed=seed + i,
            batch=1 + i % 4,
            temperature_c=(-10.0, 45.0),
            wear=0.5,
            dirt=0.5,
        )
        for i, c in enumerate(TAUGHT_COINS)
    ]
    import numpy as np

    rows = np.arange(n)
    stacked = SignatureBatch(
        eddy_lo=np.concatenate([p.eddy_lo for p in parts])[rows],
        eddy_hi=np.concatenate([p.eddy_hi for p in parts])[rows],
        eddy_rate_hz=np.concatenate([p.eddy_rate_hz for p in parts])[rows],
        rim=np.concatenate([p.rim for p in parts])[rows],
        thickness_mm=np.concatenate([p.thickness_mm for p in parts])[rows],
        speed_mm_s=np.concatenate([p.speed_mm_s for p in parts])[rows],
        temperature_c=np.concatenate([p.temperature_c for p in parts])[rows],
        ids=[i for p in parts for i in p.ids][:n],
    )
    return stacked


@pytest.fixture(scope="session")
def jsonl_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 6000 spec-format lines of ~10-20 kB each, as a customer's file would hold."""
    path = tmp_path_factory.mktemp("bench") / "coins.jsonl"
    batch = mixed(6000, seed=11)
    with path.open("wb") as out:
        for obj in to_json_dicts(batch, DEFAULT_HEAD):
            out.write(orjson.dumps(obj) + b"\n")
    return path
