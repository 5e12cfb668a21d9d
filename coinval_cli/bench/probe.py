"""``coinval bench probe``: counterfeits the simulator does not list, decided by a taught engine.

The designs and the measuring are :mod:`coinval_eval.probe`'s; ``make bench``
writes ``reports/probe.md``.
"""

from __future__ import annotations

import argparse
import sys
import time

from coinval_cli.bench.flags import add_out_argument, parse_heads, writable_report
from coinval_cli.evaluate import configured
from coinval_eval.probe import ProbeConfig, designs, probe, render
from coinval_eval.trial import EVALUATION_HEAD
from sim.heads import DEFAULT_HEAD

DEFAULT_HEADS = f"{DEFAULT_HEAD},{EVALUATION_HEAD}"
"""The default head beside the held-out one."""


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval bench probe``: heads, coins a design, which designs, the report."""
    parser.add_argument(
        "--heads",
        default=DEFAULT_HEADS,
        help=f"simulated heads, comma-separated; seed:M-N for a range (default {DEFAULT_HEADS})",
    )
    parser.add_argument(
        "--n", type=int, default=1000, help="coins a design and head (default 1000)"
    )
    parser.add_argument("--only", default="", help="probe names, comma-separated (default: all)")
    add_out_argument(parser, "reports/probe.md")


def run_probe(args: argparse.Namespace) -> int:
    """Decide every probe design on every head and write the table."""
    heads = parse_heads(args.heads)
    names = tuple(x for x in args.only.split(",") if x) or tuple(designs())
    config = configured(
        lambda: ProbeConfig(heads=heads, n=args.n, names=names), {"names": "--only"}
    )
    out = writable_report(args.out)
    started = time.perf_counter()
    results = {h: probe(h, config.n, config.names) for h in config.heads}
    command = f"coinval bench probe --heads {args.heads} --n {args.n}"
    if args.only:
        command += f" --only {args.only}"
    out.write_text(
        render(config, results, command, time.perf_counter() - started), encoding="utf-8"
    )
    print(f"wrote {out}", file=sys.stderr)
    return 0
