"""Write reports/README.md from a pytest-benchmark JSON file: every figure measured.

Usage: python -m benchmarks.report reports/benchmark.json reports/README.md
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any


def _row(bench: dict[str, Any]) -> str:
    stats = bench["stats"]
    extra = bench.get("extra_info", {})
    figures = ", ".join(
        f"{key} {value:,.2f}"
        if isinstance(value, float)
        else f"{key} {value:,}"
        if isinstance(value, int)
        else f"{key} {value}"
        for key, value in sorted(extra.items())
    )
    return (
        f"| {bench['name']} | {1e3 * stats['median']:.3f} | {1e3 * stats['mean']:.3f} "
        f"| {stats['rounds']} | {figures} |"
    )


def render(data: dict[str, Any]) -> str:
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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmarks.report BENCHMARK.json OUT.md", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
