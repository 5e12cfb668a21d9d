"""``coinval evaluate``: teach on one simulated head and batch, measure on the rest.

Composition root for accuracy work: the simulator supplies labelled coins,
:mod:`coinval_eval.scoring` does the bookkeeping.  The default head is drawn
from a seed that was never used while developing the classifier.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from coinval_cli.argtypes import temperature_range
from coinval_cli.errors import UsageError

if TYPE_CHECKING:
    from coinval.batch import SignatureBatch
    from coinval_eval.scoring import Report

DEFAULT_HEAD = "seed:20261126"
GENUINE = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997", "gb-020-1982", "gb-010-2012")
# Decisions are made for a day when both pounds count as taught-and-legal coins,
# so the table measures recognition, not the legal-tender schedule.
EVAL_AT = dt.datetime(2017, 6, 1, 12, 0, tzinfo=dt.UTC)


def teach_sets(
    head: str,
    n: int,
    seed: int,
    wear: float,
    temperature_c: tuple[float, float],
    batches: tuple[int, ...] = (0,),
) -> dict[str, SignatureBatch]:
    """The teach coins of a trial: ``n`` of each genuine coin, shared out over ``batches``.

    One batch is a launch teach; several are coins from circulation (the first
    batches get the remainder of ``n``).  Shared by ``coinval evaluate`` and
    ``coinval bench accuracy`` so that both teach on the same coins.  Raises
    KeyError or ValueError for an unknown head.
    """
    from coinval.batch import SignatureBatch
    from sim.population import generate

    out: dict[str, SignatureBatch] = {}
    for coin in GENUINE:
        parts = []
        for k, b in enumerate(batches):
            count = n // len(batches) + (1 if k < n % len(batches) else 0)
            if count == 0:
                continue
            parts.append(
                generate(
                    coin,
                    count,
                    head=head,
                    seed=seed,
                    batch=b,
                    wear=wear,
                    dirt=wear,
                    temperature_c=temperature_c,
                )
            )
        out[coin] = (
            parts[0]
            if len(parts) == 1
            else SignatureBatch.from_signatures([s for p in parts for s in p.signatures()])
        )
    return out


def parse_batches(text: str, flag: str) -> tuple[int, ...]:
    """A comma-separated list of mint batches (numbers >= 0); UsageError otherwise."""
    try:
        batches = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        batches = ()
    if not batches or min(batches) < 0:
        raise UsageError(f"{flag} {text!r}: expected numbers >= 0 like 1,2,3")
    return batches


def add_trial_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that define an accuracy trial: head, teach set, test cells, level.

    Shared by ``coinval evaluate`` and ``coinval bench accuracy``, which run the
    same trial and differ in what they report.
    """
    parser.add_argument(
        "--head", default=DEFAULT_HEAD, help=f"simulated sensor head (default {DEFAULT_HEAD})"
    )
    parser.add_argument("--teach-n", type=int, default=60, help="teach coins per type (default 60)")
    parser.add_argument("--n", type=int, default=1000, help="test coins per cell (default 1000)")
    parser.add_argument(
        "--batches", default="1,2,3,4", help="other mint batches to test (default 1,2,3,4)"
    )
    parser.add_argument(
        "--teach-batches",
        default="0",
        metavar="B[,B...]",
        help="mint batches of the teach coins (default 0: one batch, a launch teach; several, "
        "e.g. 5,6,7,8, are coins from circulation)",
    )
    parser.add_argument("--seed", type=int, default=7, help="population seed (default 7)")
    parser.add_argument(
        "--teach-wear",
        type=float,
        default=0.5,
        help="largest wear and dirt severity of teach coins, 0..1 (default 0.5: a field "
        "teach uses coins from circulation)",
    )
    parser.add_argument(
        "--teach-temperature",
        type=temperature_range,
        default=(5.0, 35.0),
        metavar="LO,HI",
        help="temperatures of the teach coins, C (default 5,35: coins collected over the "
        "seasons; 12,14 is a one-day teach)",
    )
    parser.add_argument(
        "--wear", type=float, default=0.5, help="largest wear severity of test coins, 0..1"
    )
    parser.add_argument(
        "--dirt", type=float, default=0.5, help="largest dirt severity of test coins, 0..1"
    )
    parser.add_argument(
        "--security", default="standard", choices=("standard", "narrow", "very-narrow")
    )
    parser.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto", help="progress bar"
    )


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    add_trial_arguments(parser)
    parser.add_argument("--out", metavar="REPORT.md", help="also write the report here")


def run_evaluate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    report = run_trial(args)
    elapsed = time.perf_counter() - started
    text = _render(args, report, elapsed)
    sys.stdout.write(text)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--out {args.out}: {exc.strerror or exc}") from None
    return 0


def run_trial(args: argparse.Namespace) -> Report:
    """Teach on batch 0 of the trial's head, decide every test cell, tally them.

    ``args`` holds the flags of :func:`add_trial_arguments`.  Raises UsageError for
    flags out of range, an unknown head or a teach that fails.
    """
    from tqdm import tqdm

    from coinval.classifier import SecurityLevel
    from coinval.engine import Engine
    from coinval.teach import TeachError, teach
    from coinval_eval.scoring import LabelledBatch, Report
    from sim.population import generate, kinds

    if args.teach_n < 5 or args.n < 1:
        raise UsageError("--teach-n must be >= 5 and --n >= 1")
    if not all(0.0 <= v <= 1.0 for v in (args.wear, args.dirt, args.teach_wear)):
        raise UsageError("--wear and --dirt are severities from 0 to 1")
    batches = parse_batches(args.batches, "--batches")
    taught_from = parse_batches(args.teach_batches, "--teach-batches")
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be >= 0")
    fakes = [k for k in kinds() if k not in GENUINE and not k.startswith("gb-")]
    level: SecurityLevel = args.security.replace("-", " ")
    try:
        teach_batches = teach_sets(
            args.head,
            args.teach_n,
            args.seed,
            args.teach_wear,
            args.teach_temperature,
            taught_from,
        )
    except (KeyError, ValueError) as exc:
        raise UsageError(f"--head {args.head}: {exc}") from None
    try:
        profile, _ = teach(
            {c: b.signatures() for c, b in teach_batches.items()},
            head=args.head,
            security=dict.fromkeys(GENUINE, level),
            launch=len(taught_from) == 1,
        )
    except TeachError as exc:
        raise UsageError(f"teach failed: {exc}") from None
    engine = Engine(profile)

    def cells() -> Iterator[tuple[str, str, str | None, dict[str, object]]]:
        for coin in GENUINE:
            for b in batches:
                yield (
                    coin,
                    f"batch {b}, -10..45 C",
                    coin,
                    {"batch": b, "wear": args.wear, "dirt": args.dirt},
                )
        for fake in fakes:
            yield fake, "-10..45 C", None, {"batch": 0, "wear": args.wear, "dirt": args.dirt}

    plan = list(cells())
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    report = Report()
    for i, (kind, group, truth, extra) in enumerate(
        tqdm(plan, desc="evaluate", unit="cell", file=sys.stderr, disable=not show)
    ):
        batch = generate(
            kind,
            args.n,
            head=args.head,
            seed=args.seed * 1000 + 17 + i,
            temperature_c=(-10.0, 45.0),
            **extra,
        )
        report.add(LabelledBatch(kind, group, truth, batch), engine, EVAL_AT)
    return report


def _render(args: argparse.Namespace, report: Report, elapsed: float) -> str:
    genuine = report.by_kind(genuine=True)
    fakes = report.by_kind(genuine=False)
    worst = report.worst_genuine()
    worst_fa = max(fakes.items(), key=lambda kv: kv[1].false_acceptance)
    lo, hi = args.teach_temperature
    head = [
        f"# coinval accuracy: head {args.head}, taught on batch(es) {args.teach_batches} "
        f"with {args.teach_n} coins each",
        "",
        f"Teach coins at {lo:g}..{hi:g} C, wear and dirt up to {args.teach_wear}; test coins from "
        f"batches {args.batches} at -10..45 C, wear up to {args.wear}, dirt up to {args.dirt}.",
        "",
        f"Security level {args.security}; test coins {args.n} per cell; seed {args.seed}; "
        f"wear up to {args.wear}, dirt up to {args.dirt}; "
        f"{elapsed:.1f} s; generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- lowest genuine acceptance: {100 * worst[2]:.2f} % ({worst[0]}, {worst[1]})",
        f"- highest false acceptance: {100 * worst_fa[1].false_acceptance:.3f} % ({worst_fa[0]})",
        "",
        "| coin | n | accepted as itself |",
        "|---|---:|---:|",
        *[f"| {k} | {t.n} | {100 * t.acceptance:.2f} % |" for k, t in sorted(genuine.items())],
        "",
        "| counterfeit / look-alike | n | false acceptance |",
        "|---|---:|---:|",
        *[f"| {k} | {t.n} | {100 * t.false_acceptance:.3f} % |" for k, t in sorted(fakes.items())],
        "",
        "## Every cell",
        "",
    ]
    return "\n".join(head) + "\n" + report.markdown()
