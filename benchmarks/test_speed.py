"""Speed of the classification core (pytest-benchmark; run with `make bench`).

Figures that pytest-benchmark does not compute itself (p99 latency, coins per
second, lines per second, peak memory) go into ``extra_info`` and so into the
JSON report; nothing here asserts a time.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from coinval.batch import SignatureBatch
from coinval.engine import Engine
from coinval.features import extract
from coinval.signature import parse_signature

from .conftest import mixed


def _mean_s(benchmark: Any) -> float:
    """Mean seconds per round, or NaN when benchmarks are disabled (a plain test run)."""
    stats = getattr(benchmark, "stats", None)
    return float(stats.stats.mean) if stats is not None else float("nan")


AT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_one_signature_to_one_decision(benchmark, engine: Engine) -> None:
    """Gate latency: one coin, already parsed, to its decision."""
    one = mixed(1)
    engine.decide_batch(one, AT)
    samples = []
    for _ in range(2000):
        t0 = time.perf_counter()
        engine.decide_batch(one, AT)
        samples.append(time.perf_counter() - t0)
    benchmark.extra_info["p50_ms"] = 1e3 * float(np.percentile(samples, 50))
    benchmark.extra_info["p99_ms"] = 1e3 * float(np.percentile(samples, 99))
    benchmark(engine.decide_batch, one, AT)


@pytest.mark.parametrize("n", [1, 100, 10_000])
def test_feature_extraction(benchmark, n: int) -> None:
    batch = mixed(n)
    benchmark.extra_info["coins"] = n
    benchmark(extract, batch)
    benchmark.extra_info["coins_per_s"] = n / _mean_s(benchmark)


@pytest.mark.parametrize("n", [100, 10_000])
def test_validation(benchmark, n: int) -> None:
    objs = [s.to_json_dict() for s in mixed(n).signatures()]
    benchmark(lambda: [parse_signature(o) for o in objs])
    benchmark.extra_info["coins_per_s"] = n / _mean_s(benchmark)


@pytest.mark.parametrize("n", [1_000, 20_000])
def test_in_memory_batch(benchmark, engine: Engine, n: int) -> None:
    """Decisions for a batch already in arrays, on all cores."""
    batch: SignatureBatch = mixed(n)
    benchmark.extra_info["coins"] = n
    benchmark.pedantic(engine.decide_codes, args=(batch, AT), rounds=3, iterations=1)
    benchmark.extra_info["coins_per_s"] = n / _mean_s(benchmark)


def test_json_parse_only(benchmark, jsonl_file: Path) -> None:
    """The physical limit of classify: reading and parsing the same file."""

    def parse() -> int:
        with jsonl_file.open("rb") as f:
            return sum(1 for line in f if orjson.loads(line))

    lines = benchmark.pedantic(parse, rounds=3, iterations=1)
    benchmark.extra_info["lines_per_s"] = lines / _mean_s(benchmark)


# Runs classify as the only child of a fresh interpreter, so the peak RSS it
# reports (largest of classify and its worker processes) is classify's alone,
# not that of servers other benchmarks started in this process.
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True)\n"
    "e = time.perf_counter() - t\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(e, p.stdout.count(b'\\n'), r.ru_maxrss, r.ru_utime + r.ru_stime)\n"
)


def _classify(path: Path, profile_path: Path) -> tuple[float, int, int, float]:
    exe = Path(sys.executable).with_name("coinval")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(exe),
            "classify",
            "--profile",
            str(profile_path),
            str(path),
        ],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2]), float(out[3])


def test_classify_end_to_end(benchmark, profile, jsonl_file: Path, tmp_path: Path) -> None:
    """`coinval classify` on a file: parse, validate, decide, write."""
    profile_path = tmp_path / "profile.json"
    profile.save(profile_path)
    result = benchmark.pedantic(_classify, args=(jsonl_file, profile_path), rounds=2, iterations=1)
    _elapsed, lines, peak_kb, cpu_s = result
    benchmark.extra_info["lines"] = lines
    benchmark.extra_info["bytes"] = jsonl_file.stat().st_size
    benchmark.extra_info["lines_per_s"] = lines / _mean_s(benchmark)
    benchmark.extra_info["peak_rss_mb"] = peak_kb / 1024
    # CPU time of classify and its workers (last round): steadier than wall
    # time on a machine other jobs share.
    benchmark.extra_info["cpu_us_per_line"] = 1e6 * cpu_s / lines


@pytest.mark.skipif(
    os.environ.get("COINVAL_BENCH_BIG") != "1",
    reason="set COINVAL_BENCH_BIG=1 for the 1 GB memory run (make bench does)",
)
def test_classify_one_gigabyte_memory(benchmark, profile, jsonl_file: Path, tmp_path: Path) -> None:
    """Peak memory of classify on a 1 GB input: it streams, so it stays flat."""
    big = tmp_path / "big.jsonl"
    chunk = jsonl_file.read_bytes()
    with big.open("wb") as out:
        while out.tell() < 1 << 30:
            out.write(chunk)
    profile_path = tmp_path / "profile.json"
    profile.save(profile_path)
    elapsed, lines, peak_kb, cpu_s = benchmark.pedantic(
        _classify, args=(big, profile_path), rounds=1, iterations=1
    )
    benchmark.extra_info["bytes"] = big.stat().st_size
    benchmark.extra_info["lines"] = lines
    benchmark.extra_info["peak_rss_mb"] = peak_kb / 1024
    benchmark.extra_info["lines_per_s"] = lines / elapsed
    benchmark.extra_info["cpu_us_per_line"] = 1e6 * cpu_s / lines
    big.unlink()
