"""The speed report: every pytest-benchmark figure of a ``make bench`` run in one table.

``coinval bench speed reports/benchmark.json reports/speed.md`` writes it from
the JSON file ``pytest --benchmark-json`` leaves; each benchmark's
``extra_info`` (coins decided, samples per trace, ...) goes into its row.  The
machine and date are the benchmark run's, as its JSON file records them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import benchmark_machine, format_when, line_of, parse_when


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


def benchmark_command(data: Mapping[str, Any]) -> tuple[str, float | None]:
    """The command a pytest-benchmark JSON file came from, and its run time in seconds.

    ``make bench``'s run records both (``benchmarks/conftest.py``); for another
    file the command is ``pytest`` on the files its benchmarks come from, the
    run time unknown (None).
    """
    recorded = data.get("coinval")
    if isinstance(recorded, Mapping) and isinstance(recorded.get("command"), str):
        seconds = recorded.get("seconds")
        return recorded["command"], float(seconds) if isinstance(seconds, int | float) else None
    files = sorted(
        {
            str(b.get("fullname", "")).split("::", 1)[0]
            for b in data.get("benchmarks", [])
            if isinstance(b, Mapping) and b.get("fullname")
        }
    )
    return " ".join(["pytest", *files] if files else ["pytest", "benchmarks"]), None


def benchmark_measured(data: Mapping[str, Any]) -> str:
    """The :func:`~coinval_eval.provenance.measured_line` of the benchmark run, not of now."""
    command, seconds = benchmark_command(data)
    stamp = format_when(parse_when(data.get("datetime")))  # "an unknown date" when not there
    return line_of(stamp, benchmark_machine(data), seconds, command)


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
    """The report: where and when the benchmarks ran, then one row per benchmark (times in ms)."""
    lines = [
        "# coinval speed report",
        "",
        benchmark_measured(data),
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
