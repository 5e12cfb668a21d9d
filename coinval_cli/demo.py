"""``coinval demo``: the core end to end on the simulator, shown live.

Teaches a simulated head on one mint batch, then inserts a stream of coins
from other batches, worn and dirty, at any temperature, mixed with
counterfeits and look-alikes, printing each decision and running totals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter

import numpy as np

from coinval_cli.errors import UsageError
from sim.coins import TAUGHT_COINS
from sim.heads import DEFAULT_HEAD


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval demo``: how many coins, how fast, which seed."""
    parser.add_argument("--coins", type=int, default=400, help="coins to insert (default 400)")
    parser.add_argument("--rate", type=float, default=40.0, help="coins per second shown")
    parser.add_argument("--seed", type=int, default=1)


def run_demo(args: argparse.Namespace) -> int:
    """Teach the default simulated head, then decide and print a live stream of coins."""
    from coinval.batch import SignatureBatch
    from coinval.engine import Engine
    from coinval.legal_tender import now
    from coinval.teach import teach
    from sim.population import generate, kinds

    if args.coins < 1 or args.rate <= 0:
        raise UsageError("--coins must be >= 1 and --rate > 0")
    say = sys.stdout.write
    say(
        f"coinval demo: teaching head {DEFAULT_HEAD} on 40 coins of each type "
        "from batches 0, 6, 7, 8 "
        "(coins from circulation) ...\n"
    )
    samples = {
        c: [
            sig
            for b in (0, 6, 7, 8)
            for sig in generate(c, 10, head=DEFAULT_HEAD, seed=args.seed + b, batch=b).signatures()
        ]
        for c in TAUGHT_COINS
    }
    profile, report = teach(samples, head=DEFAULT_HEAD)
    for w in report.warnings:
        say(f"  warning: {w}\n")
    engine = Engine(profile)
    at = now()
    say(f"taught {', '.join(profile.coins)}; deciding for {at:%Y-%m-%d} (London)\n\n")

    rng = np.random.default_rng(args.seed)
    fakes = [k for k in kinds() if k not in TAUGHT_COINS and not k.startswith("gb-")]
    # About one fake in two coins: a demo, not a street.
    mix = [*TAUGHT_COINS, *TAUGHT_COINS, *fakes]
    totals: Counter[str] = Counter()
    wrong = 0
    say(f"{'#':>5}  {'inserted':<26} {'decision':<12} {'coin':<13} {'T °C':>6} {'ms':>6}\n")
    period = 1.0 / args.rate
    for i in range(args.coins):
        kind = mix[int(rng.integers(len(mix)))]
        genuine = kind in TAUGHT_COINS
        one: SignatureBatch = generate(
            kind,
            1,
            head=DEFAULT_HEAD,
            seed=args.seed * 100_000 + i,
            batch=int(rng.integers(1, 6)) if genuine else 0,
            temperature_c=(-10.0, 45.0),
            wear=0.8,
            dirt=0.8,
        )
        t0 = time.perf_counter()
        decision = engine.decide_batch(one, at)[0]
        ms = 1000 * (time.perf_counter() - t0)
        totals[decision.reason] += 1
        right = decision.coin == kind if genuine else not decision.accepted
        wrong += not right
        mark = "" if right else "  <-- wrong"
        say(
            f"{i + 1:>5}  {kind:<26} {decision.reason:<12} {decision.coin or '-':<13} "
            f"{one.temperature_c[0]:>6.1f} {ms:>6.2f}{mark}\n"
        )
        if (i + 1) % 25 == 0 or i + 1 == args.coins:
            line = "  ".join(f"{r} {n}" for r, n in sorted(totals.items()))
            say(f"      -- totals after {i + 1} coins: {line}; wrong {wrong}\n")
        sys.stdout.flush()
        time.sleep(max(0.0, period - (time.perf_counter() - t0)))
    say(f"\ndone {dt.datetime.now():%H:%M:%S}: {args.coins} coins, {wrong} decided wrongly\n")
    return 0
