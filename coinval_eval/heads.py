"""``coinval evaluate`` over many simulated heads at once, summed up in one table.

One head says little about heads not yet built: each simulated head has its own
frequencies, coil, gains, noise and rim gauge.  This runs the same trial on
each (teach 60 coins a type from batch 0, decide other batches and every
counterfeit family) and reports, per head, the lowest genuine cell and the
families that got through; then totals over all heads.

    python -m coinval_eval.heads [--heads A,B,C,D,seed:1-15,seed:100-139]
        [--n 400] [--batches 1,2,3,4,5,6,7,8] [--jobs 2] [--out reports/heads.md]

The default is the 59 heads the README's figures come from (about 4 minutes
on 2 cores).  ``seed:M-N`` stands for every ``seed:`` head from M to N.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from coinval_cli.errors import UsageError
from coinval_cli.evaluate import add_trial_arguments, run_trial
from coinval_eval.flags import heads_flag, writable_report

DEFAULT_HEADS = "A,B,C,D,seed:1-15,seed:100-139"
TARGET_ACCEPTANCE = 0.995
TARGET_FALSE_ACCEPTANCE = 0.001


@dataclass(frozen=True, slots=True)
class HeadResult:
    """One head's trial: every genuine cell's acceptance, every family's false acceptance."""

    head: str
    cells: dict[tuple[str, str], tuple[int, int]]  # (coin, group) -> (n, accepted as itself)
    families: dict[str, tuple[int, int]]  # family -> (n, accepted as some coin)

    @property
    def refused(self) -> int:
        return sum(n - ok for n, ok in self.cells.values())

    def lowest(self) -> tuple[str, str, float]:
        (coin, group), (n, ok) = min(self.cells.items(), key=lambda kv: kv[1][1] / kv[1][0])
        return coin, group, ok / n


def _trial_flags(
    head: str, n: int, batches: str, seed: int, teach_batches: str
) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_trial_arguments(parser)
    flags = ["--head", head, "--n", str(n), "--batches", batches, "--seed", str(seed)]
    return parser.parse_args([*flags, "--teach-batches", teach_batches, "--progress", "never"])


def run_head(
    head: str, n: int, batches: str, seed: int = 7, teach_batches: str = "0"
) -> HeadResult:
    """The trial of ``coinval evaluate --head HEAD --n N --batches B --seed S
    --teach-batches T`` on one head."""
    report = run_trial(_trial_flags(head, n, batches, seed, teach_batches))
    return HeadResult(
        head,
        {key: (t.n, t.accepted_as_self) for key, t in report.genuine.items()},
        {kind: (t.n, t.accepted_as_other) for kind, t in report.by_kind(genuine=False).items()},
    )


def render(results: Sequence[HeadResult], command: str, seconds: float) -> str:
    """The per-head table and the totals, as Markdown."""
    families = sorted({f for r in results for f in r.families})
    passing = [r for r in results if r.lowest()[2] >= TARGET_ACCEPTANCE]
    cells = sum(len(r.cells) for r in results)
    coins = sum(n for r in results for n, _ in r.cells.values())
    lines = [
        "# coinval over many simulated heads",
        "",
        f"Measured {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {platform.node()}, "
        f"Python {platform.python_version()}, in {seconds:.0f} s: `{command}`. Each head taught "
        "as `coinval evaluate` teaches (60 coins a type from the teach batches, 5..35 C: one "
        "batch is a launch teach, several are coins from circulation), then decides the other "
        "batches and every counterfeit family at -10..45 C, wear and dirt up to 0.5.",
        "",
        f"- heads with every genuine cell >= {100 * TARGET_ACCEPTANCE:.1f} %: "
        f"{len(passing)} of {len(results)}",
        f"- genuine coins refused: {sum(r.refused for r in results)} of {coins} ({cells} cells)",
        "",
        "| family | heads <= 0.1 % | mean | highest (head) |",
        "|---|---:|---:|---:|",
    ]
    for family in families:
        shares = [(r.families[family][1] / r.families[family][0], r.head) for r in results]
        low = sum(s <= TARGET_FALSE_ACCEPTANCE for s, _ in shares)
        top, where = max(shares)
        mean = sum(s for s, _ in shares) / len(shares)
        highest = f"{100 * top:.2f} % ({where})" if top > 0 else "0 %"
        lines.append(f"| {family} | {low} of {len(shares)} | {100 * mean:.3f} % | {highest} |")
    lines += [
        "",
        "| head | lowest genuine cell | refused | families above 0.1 % |",
        "|---|---|---:|---|",
    ]
    for r in results:
        coin, group, share = r.lowest()
        above = ", ".join(
            f"{f} {100 * ok / n:.2f} %"
            for f, (n, ok) in sorted(r.families.items())
            if ok / n > TARGET_FALSE_ACCEPTANCE
        )
        lines.append(
            f"| {r.head} | {100 * share:.2f} % ({coin}, {group}) | {r.refused} | {above} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coinval_eval.heads", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--heads", default=DEFAULT_HEADS, help="heads; seed:M-N for a range")
    parser.add_argument("--n", type=int, default=400, help="test coins a cell (default 400)")
    parser.add_argument("--batches", default="1,2,3,4,5,6,7,8", help="other batches to test")
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
    parser.add_argument("--out", default="reports/heads.md", help="markdown report to write")
    args = parser.parse_args(argv)
    heads = heads_flag(parser, args.heads)
    batches = [b.strip() for b in args.batches.split(",") if b.strip()]
    taught = [b.strip() for b in args.teach_batches.split(",") if b.strip()]
    if not taught or not all(b.isdigit() for b in taught):
        parser.error(f"--teach-batches {args.teach_batches!r}: expected batches like 0 or 0,9,10")
    if not batches or not all(b.isdigit() and b not in taught for b in batches):
        # The trial is about batches the teach never saw.
        parser.error(f"--batches {args.batches!r}: expected batches not taught, like 1,2,3")
    if args.n < 1 or args.jobs < 1 or args.seed < 0:
        parser.error("--n and --jobs must be >= 1, --seed >= 0")
    out = writable_report(parser, args.out)
    started = time.perf_counter()
    results: list[HeadResult] = []
    pool = ProcessPoolExecutor(max_workers=min(args.jobs, len(heads)))
    try:
        futures = [
            pool.submit(run_head, h, args.n, args.batches, args.seed, args.teach_batches)
            for h in heads
        ]
        for i, future in enumerate(futures, 1):
            results.append(future.result())
            print(f"[{i}/{len(heads)}] {heads[i - 1]}", file=sys.stderr, flush=True)
    except UsageError as exc:
        # Say so now, not once every other head has run.
        pool.shutdown(wait=False, cancel_futures=True)
        parser.error(str(exc))
    finally:
        pool.shutdown()
    command = (
        f"python -m coinval_eval.heads --heads {args.heads} --n {args.n} --batches {args.batches} "
        f"--seed {args.seed} --teach-batches {args.teach_batches}"
    )
    text = render(results, command, time.perf_counter() - started)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
