"""Paired A/B of gate latency and batch throughput between two revisions.

``python -m benchmarks.ab REV_A [REV_B] [--rounds N]`` checks each revision out
in a scratch worktree (``REV_B`` defaults to the working tree itself) and
alternates A, B, A, B, ... in fresh processes on the same machine in one run,
so drift of the machine's speed (other load, thermal state) falls on both
sides alike.  Each round measures:

- gate latency: one parsed signature to one decision, as the runtime decides
  the coin at the gate (``Engine.decide`` where the revision has it, else a
  batch of one), p50 and p99 over 2,000 coins after a warm-up;
- batch throughput: ``Engine.decide_codes`` on 20,000 coins in memory.

Only public names that every revision since the Mahalanobis classifier has
are used, so the probe runs unchanged on both sides.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]

PROBE = r"""
import datetime as dt, json, time
import numpy as np
from coinval.engine import Engine
from coinval.teach import teach
from sim.population import generate

COINS = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997", "gb-020-1982", "gb-010-2012")
AT = dt.datetime(2017, 6, 1, 12, tzinfo=dt.UTC)
samples = {
    c: generate(c, 40, head="A", seed=1, batch=0, wear=0.5, dirt=0.5).signatures() for c in COINS
}
engine = Engine(teach(samples, head="A")[0])

def population(n, seed):
    return [generate(c, n // len(COINS), head="A", seed=seed + i, batch=1 + i % 4,
                     temperature_c=(-10.0, 45.0), wear=0.5, dirt=0.5)
            for i, c in enumerate(COINS)]

coins = [s for b in population(2000, 7) for s in b.signatures()]
one = getattr(engine, "decide", None)
def gate(sig):
    return one(sig, AT) if one is not None else engine.decide_signatures([sig], AT)[0]
for sig in coins[:300]:
    gate(sig)
times = []
for sig in coins:
    t0 = time.perf_counter()
    gate(sig)
    times.append(time.perf_counter() - t0)
batches = population(20000, 11)
engine.decide_codes(batches[0], AT)
t0 = time.perf_counter()
n = 0
for b in batches:
    engine.decide_codes(b, AT)
    n += len(b)
rate = n / (time.perf_counter() - t0)
print(json.dumps({
    "p50_us": float(np.percentile(times, 50)) * 1e6,
    "p99_us": float(np.percentile(times, 99)) * 1e6,
    "coins_per_s": rate,
}))
"""


def _worktree(rev: str, where: Path) -> Path:
    path = where / rev.replace("/", "_")
    done = subprocess.run(
        ["git", "-C", str(CHECKOUT), "worktree", "add", "--detach", "--force", str(path), rev],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"python -m benchmarks.ab: cannot check out {rev!r}: {done.stderr.strip()}"
        )
    return path


def _measure(tree: Path) -> dict[str, float]:
    env = {"PYTHONPATH": str(tree), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _table(rev_a: str, rev_b: str, a: list[dict[str, float]], b: list[dict[str, float]]) -> str:
    rows = [
        f"| round | {rev_a} p50 µs | {rev_b} p50 µs | {rev_a} p99 µs | {rev_b} p99 µs "
        f"| {rev_a} coins/s | {rev_b} coins/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, (x, y) in enumerate(zip(a, b, strict=True), 1):
        rows.append(
            f"| {i} | {x['p50_us']:.0f} | {y['p50_us']:.0f} | {x['p99_us']:.0f} "
            f"| {y['p99_us']:.0f} | {x['coins_per_s']:,.0f} | {y['coins_per_s']:,.0f} |"
        )

    def ratio(key: str) -> float:
        return statistics.median(y[key] / x[key] for x, y in zip(a, b, strict=True))

    rows.append(
        f"\nMedian of the paired ratios {rev_b}/{rev_a}: p50 {ratio('p50_us'):.2f}, "
        f"p99 {ratio('p99_us'):.2f}, throughput {ratio('coins_per_s'):.2f}."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    parser.add_argument("rev_a", help="the revision to compare against (e.g. a commit)")
    parser.add_argument("rev_b", nargs="?", help="the other revision (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=5, help="A/B pairs (default 5)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    with tempfile.TemporaryDirectory(prefix="coinval-ab-") as scratch:
        tree_a = _worktree(args.rev_a, Path(scratch))
        tree_b = _worktree(args.rev_b, Path(scratch)) if args.rev_b else CHECKOUT
        a: list[dict[str, float]] = []
        b: list[dict[str, float]] = []
        for i in range(args.rounds):
            a.append(_measure(tree_a))
            b.append(_measure(tree_b))
            print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
    # The scratch worktrees are gone with the directory; forget them in git too.
    subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "prune"], check=False)
    print(_table(args.rev_a, args.rev_b or "working tree", a, b))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
