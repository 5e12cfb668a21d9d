"""``coinval bench ceiling``: what a head's signatures allow, by learners that have seen the fakes.

The learners and the measuring are :mod:`coinval_eval.ceiling`'s (scikit-learn,
the ``baselines`` extra); ``make bench`` writes ``reports/ceiling.md``.
"""

from __future__ import annotations

import argparse
import sys

from coinval_cli.bench.flags import add_out_argument, parse_heads, writable_report
from coinval_cli.errors import UsageError
from coinval_cli.evaluate import configured
from coinval_eval.baselines import sklearn_available
from coinval_eval.ceiling import DEFAULT_FAMILIES, CeilingConfig, ceiling_report
from coinval_eval.trial import EVALUATION_HEAD
from sim.heads import DEFAULT_HEAD

DEFAULT_HEADS = f"{DEFAULT_HEAD},{EVALUATION_HEAD}"
"""The default head beside the held-out one."""


def add_ceiling_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval bench ceiling``: heads, families, coins a batch, the report."""
    parser.add_argument(
        "--heads",
        default=DEFAULT_HEADS,
        help=f"simulated heads, comma-separated; seed:M-N for a range (default {DEFAULT_HEADS})",
    )
    parser.add_argument(
        "--families",
        default=",".join(DEFAULT_FAMILIES),
        help="counterfeit families, comma-separated (default %(default)s)",
    )
    parser.add_argument(
        "--n", type=int, default=400, help="genuine coins a batch (fakes: twice that)"
    )
    add_out_argument(parser, "reports/ceiling.md")


def run_ceiling(args: argparse.Namespace) -> int:
    """Estimate every (head, family)'s ceiling and write the table."""
    families = tuple(f for f in args.families.split(",") if f)
    heads = parse_heads(args.heads)
    config = configured(lambda: CeilingConfig(heads=heads, families=families, n=args.n))
    if not sklearn_available():
        raise UsageError("the ceiling's learners need scikit-learn: pip install -e '.[baselines]'")
    out = writable_report(args.out)
    command = f"coinval bench ceiling --heads {args.heads} --families {args.families} --n {args.n}"

    def started(head: str, family: str) -> None:
        print(f"{head} {family} ...", file=sys.stderr, flush=True)

    out.write_text(ceiling_report(config, command, started), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0
