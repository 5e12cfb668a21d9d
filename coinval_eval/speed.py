"""The speed report: every pytest-benchmark figure of a ``make bench`` run in one table.

``coinval bench speed reports/benchmark.json reports/speed.md`` writes it from
the JSON file ``pytest --benchmark-json`` leaves; each benchmark's
``extra_info`` (coins decided, samples per trace, ...) goes into its row.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from coinval_eval.errors import EvaluationError


def load_benchmarks(path: Path) -> dict[str, Any]:
    """The pytest-benchmark JSON file at ``path``.

    Raises
    ------
    EvaluationError
        When it is not a JSON object.
    OSError
        When it cannot be read.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EvaluationError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EvaluationError(f"{path}: not a pytest-benchmark JSON file")
    return data


def _figure(key: str, value: object) -> str:
    if isinstance(value, float):
        return f"{key} {value:,.2f}"
    if isinstance(value, int):
        return f"{key} {value:,}"
    return f"{key} {value}"


def _row(bench: dict[str, Any]) -> str:
    stats = bench["stats"]
    extra = bench.get("extra_info", {})
    figures = ", ".join(_figure(key, value) for key, value in sorted(extra.items()))
    return (
        f"| {bench['name']} | {1e3 * stats['median']:.3f} | {1e3 * stats['mean']:.3f} "
        f"| {stats['rounds']} | {figures} |"
    )


def speed_markdown(data: dict[str, Any]) -> str:
    """The report: where it was measured, then one row per benchmark (times in ms)."""
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {})
    lines = [
        "# coinval speed report",
        "",
        f"Measured {data.get('datetime', '?')} on {machine.get('node', '?')}: "
        f"{cpu.get('brand_raw', platform.processor() or '?')}, "
        f"{cpu.get('count', '?')} logical cores, Python {machine.get('python_version', '?')}, "
        f"{machine.get('system', '?')} {machine.get('release', '?')}.",
        "",
        "| benchmark | median ms | mean ms | rounds | figures |",
        "|---|---:|---:|---:|---|",
        *[_row(b) for b in data.get("benchmarks", [])],
        "",
        "Produced by `make bench` (pytest-benchmark JSON beside this file).",
    ]
    return "\n".join(lines) + "\n"


def speed_report(benchmark_json: Path, out: Path) -> None:
    """Write the speed report of ``benchmark_json`` to ``out``.

    Raises
    ------
    EvaluationError
        When the input is not a pytest-benchmark JSON file.
    OSError
        When a file cannot be read or written.
    """
    out.write_text(speed_markdown(load_benchmarks(benchmark_json)), encoding="utf-8")
