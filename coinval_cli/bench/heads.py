"""``coinval bench heads``: the accuracy trial on many simulated heads, summed up in one table.

The trials and the table are :mod:`coinval_eval.heads`'; ``make heads`` writes
``reports/heads.md`` (coins from circulation) and ``reports/heads-launch.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from coinval_cli.bench.flags import add_out_argument, parse_heads, writable_report
from coinval_cli.evaluate import configured, parse_batches
from coinval_eval.heads import HeadsConfig, render, run_heads
from coinval_eval.trial import TrialConfig

DEFAULT_HEADS = "A,B,C,D,seed:1-15,seed:100-139"
"""The 59 heads the README's figures come from."""


def add_heads_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval bench heads``: heads, the trial's cells, jobs, the report."""
    parser.add_argument(
        "--heads",
        default=DEFAULT_HEADS,
        help=f"heads, comma-separated; seed:M-N for a range (default {DEFAULT_HEADS})",
    )
    parser.add_argument("--n", type=int, default=400, help="test coins a cell (default 400)")
    parser.add_argument(
        "--batches", default="1,2,3,4,5,6,7,8", help="other batches to test (default 1-8)"
    )
    parser.add_argument(
        "--teach-batches",
        default="0",
        help="batches of the teach coins (default 0: a launch teach; e.g. 0,9,10,11 for coins "
        "from circulation)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="population seed (default 7, as coinval evaluate): the coins' own draws "
        "(their roundness, wear, scatter) follow it and are the same on every head",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="heads run at once (default: cores)"
    )
    add_out_argument(parser, "reports/heads.md")


def run_bench_heads(args: argparse.Namespace) -> int:
    """Run the trial on every head, a few at once, and write the table."""
    heads = parse_heads(args.heads)
    batches = parse_batches(args.batches, "--batches")
    taught = parse_batches(args.teach_batches, "--teach-batches")
    trial = configured(
        lambda: TrialConfig(n=args.n, batches=batches, seed=args.seed, teach_batches=taught)
    )
    config = configured(lambda: HeadsConfig(heads=heads, trial=trial, jobs=args.jobs))
    out = writable_report(args.out)
    started = time.perf_counter()

    def done(i: int, head: str) -> None:
        print(f"[{i}/{len(heads)}] {head}", file=sys.stderr, flush=True)

    results = configured(lambda: run_heads(config, done))
    command = (
        f"coinval bench heads --heads {args.heads} --n {args.n} --batches {args.batches} "
        f"--seed {args.seed} --teach-batches {args.teach_batches}"
    )
    out.write_text(render(results, command, time.perf_counter() - started), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0
