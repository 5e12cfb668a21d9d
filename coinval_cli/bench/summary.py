"""``coinval bench summary``: the goals, their targets and what ``make bench`` measured.

Reads ``benchmark.json`` and ``accuracy-vs-baselines.json`` in REPORTS_DIR
(whichever are there) and writes ``summary.md`` beside them; the table is
:mod:`coinval_eval.summary`'s.  ``make bench`` runs it last.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from coinval_cli.errors import UsageError
from coinval_eval.errors import EvaluationError
from coinval_eval.summary import summary_report


def add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    """The folder of the reports, where ``summary.md`` is written too."""
    parser.add_argument(
        "reports_dir",
        metavar="REPORTS_DIR",
        help="folder of benchmark.json and accuracy-vs-baselines.json (make bench: reports)",
    )


def run_summary(args: argparse.Namespace) -> int:
    """Write REPORTS_DIR/summary.md."""
    folder = Path(args.reports_dir)
    if not folder.is_dir():
        raise UsageError(f"REPORTS_DIR {folder}: no such folder")
    command = f"coinval bench summary {shlex.quote(args.reports_dir)}"
    try:
        out = summary_report(folder, command)
    except EvaluationError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{exc.filename or folder}: {exc.strerror or exc}") from None
    print(f"wrote {out}")
    return 0
