"""``coinval bench speed`` and ``coinval bench scaling``: the benchmarks' JSON as reports.

``make bench`` runs ``pytest benchmarks --benchmark-json=reports/benchmark.json``
first; these write ``reports/speed.md`` (every benchmark) and
``reports/scaling.md`` with ``scaling.png`` (decision cost against batch size
and trace length).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coinval_cli.errors import UsageError
from coinval_eval import plots
from coinval_eval.errors import EvaluationError
from coinval_eval.speed import speed_report


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark JSON to read and the Markdown file to write."""
    parser.add_argument("benchmark_json", metavar="BENCHMARK.json")
    parser.add_argument("out", metavar="OUT.md")


def run_speed(args: argparse.Namespace) -> int:
    """Write the speed report."""
    try:
        speed_report(Path(args.benchmark_json), Path(args.out))
    except (EvaluationError, OSError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def add_scaling_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark JSON to read and the folder to write into."""
    parser.add_argument("benchmark_json", metavar="BENCHMARK.json")
    parser.add_argument("out_dir", metavar="OUT_DIR")


def run_scaling(args: argparse.Namespace) -> int:
    """Write scaling.md and, with matplotlib, scaling.png."""
    try:
        written = plots.scaling_report(Path(args.benchmark_json), Path(args.out_dir))
    except (EvaluationError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if not plots.matplotlib_available():
        print(f"coinval bench scaling: no scaling.png: {plots.INSTALL_HINT}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
