"""``coinval sim fleet``: many simulated acceptors reporting to one central service.

Each acceptor is head ``fleet-NNNN`` with its own real outbox file in
``--outbox-dir`` (kept across runs: a fleet started again sends what a killed
one had kept), deciding coins at ``--coins-per-s`` across the whole fleet
(Poisson arrivals) and sending its outbox every ``--send-every`` seconds, as
``coinval serve --central`` does.  The decisions are the real engine's, made
once at start: a pool of simulated coins (genuine of several batches, worn
and dirty, counterfeits, look-alikes) decided with a profile taught from the
simulator; each acceptor draws from that pool.  So the fleet simulator loads
and measures the central service, not the engine.

A central service out of reach at start is not an error (the outboxes keep
the coins); a key it refuses is.  Ctrl-C (or SIGTERM) stops the coins and
drains for at most ``--drain`` seconds; a second one stops at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from coinval_cli.console import logs_to_stderr
from coinval_cli.errors import UsageError

if TYPE_CHECKING:
    from coinval.decision import Decision

__all__ = ["add_sim_fleet_arguments", "decision_pool", "run_sim_fleet"]

log = logging.getLogger("sim.fleet")

#: Coins in the pool the acceptors draw from; decided once, in about a second.
POOL_COINS = 2000
#: The pool's shares, as a street's coin slot sees them (sim.scenario.Weights).
GENUINE, COUNTERFEIT, LOOKALIKE = 0.75, 0.15, 0.10
#: Mint batches the pool's profile is taught from (a teach from circulation).
TEACH_BATCHES = (5, 6, 7, 8)


def add_sim_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval sim fleet``."""
    parser.add_argument(
        "--acceptors", type=int, metavar="N", help="simulated acceptors (heads fleet-0000 ...)"
    )
    parser.add_argument(
        "--coins-per-s",
        type=float,
        metavar="R",
        help="coins decided per second across the whole fleet, Poisson arrivals "
        "(0: decide none, only send what the outboxes hold)",
    )
    parser.add_argument(
        "--central", metavar="URL", help="the central calibration service's base URL"
    )
    parser.add_argument(
        "--central-key",
        metavar="KEY",
        help="an operator key of the central service (default $COINVAL_CENTRAL_KEY)",
    )
    parser.add_argument(
        "--outbox-dir",
        default=os.path.join(".coinval", "fleet"),
        metavar="DIR",
        help="one outbox file per acceptor, kept across runs (default .coinval/fleet)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=min(2, os.cpu_count() or 1),
        metavar="P",
        help="worker processes the acceptors are shared among (default min(2, cores))",
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)"
    )
    parser.add_argument(
        "--send-every",
        type=float,
        default=5.0,
        metavar="S",
        help="each acceptor sends its outbox this often, in batches (default 5)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=5.0,
        metavar="S",
        help="on stopping, send what the outboxes hold for at most S seconds (default 5)",
    )
    parser.add_argument(
        "--model",
        default="coinval-sim",
        metavar="NAME",
        help="the acceptors' model, sent with every batch (default coinval-sim)",
    )
    parser.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="S",
        help="a progress line this often (default 5)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="arrivals, draws and the pool's coins (default 0)"
    )


def _checked(args: argparse.Namespace) -> tuple[str, str]:
    """The central URL and key, once every flag is known good; UsageError (one line) if not."""
    if args.acceptors is None:
        raise UsageError("--acceptors N is needed: how many simulated acceptors")
    if args.acceptors < 1:
        raise UsageError(f"--acceptors must be at least 1, got {args.acceptors}")
    if args.coins_per_s is None:
        raise UsageError("--coins-per-s R is needed: coins a second across the fleet (0: none)")
    if not 0 <= args.coins_per_s < float("inf"):
        raise UsageError(f"--coins-per-s must be a number >= 0, got {args.coins_per_s:g}")
    for flag, value in (
        ("--send-every", args.send_every),
        ("--progress-every", args.progress_every),
        ("--duration", args.duration),
    ):
        if value is not None and not 0 < value < float("inf"):
            raise UsageError(f"{flag} must be a number of seconds > 0, got {value:g}")
    if not 0 <= args.drain < float("inf"):
        raise UsageError(f"--drain must be a number of seconds >= 0, got {args.drain:g}")
    if args.processes < 1:
        raise UsageError(f"--processes must be at least 1, got {args.processes}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    from calibration.outbox import check_model

    try:
        check_model(args.model)
    except ValueError:
        raise UsageError(
            f"--model: 1-64 letters, digits, '.', '_' or '-', got {args.model!r}"
        ) from None
    central = args.central
    if central is None:
        raise UsageError("--central URL is needed: the central calibration service")
    if not central.startswith(("http://", "https://")):
        raise UsageError(f"--central: expected an http:// or https:// URL, got {central!r}")
    key = args.central_key or os.environ.get("COINVAL_CENTRAL_KEY")
    if not key:
        raise UsageError("--central needs a key: --central-key KEY or $COINVAL_CENTRAL_KEY")
    _check_outbox_dir(Path(args.outbox_dir))
    return central.rstrip("/"), key


def _check_outbox_dir(folder: Path) -> None:
    """Make ``folder`` if need be; UsageError unless files can be made in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise UsageError(f"--outbox-dir {folder}: {exc.strerror or exc}") from None


def _check_central(central: str, key: str) -> None:
    """Out of reach: said, not an error (the outboxes keep the coins); a refused key: UsageError."""
    import httpx

    try:
        reply = httpx.get(
            f"{central}/api/v1/whoami", headers={"Authorization": f"Bearer {key}"}, timeout=5.0
        )
    except httpx.HTTPError as exc:
        log.warning(
            "central service %s not reachable (%s): the acceptors keep their coins in their "
            "outboxes and send them once it answers",
            central,
            type(exc).__name__,
        )
        return
    if reply.status_code in (401, 403):
        raise UsageError(
            f"the central service {central} refuses --central-key (HTTP {reply.status_code})"
        )
    if reply.is_success:
        role = str(reply.json().get("role", ""))
        if role not in ("operator", "admin"):
            raise UsageError(
                f"--central-key is a {role or 'unknown'} key: sending events takes an operator key"
            )
        return
    log.warning(
        "central service %s answers HTTP %d to /api/v1/whoami: sending anyway",
        central,
        reply.status_code,
    )


def decision_pool(n: int = POOL_COINS, *, seed: int = 0) -> list[Decision]:
    """``n`` simulated coins decided by the real engine, in a random order.

    The profile is taught on head A from circulation (the simulator's taught
    coins from mint batches 5-8, worn and dirty); the pool holds genuine coins
    of every genuine kind (taught or not) from batches 0-4 at outdoor
    temperatures, counterfeits of every family and look-alikes, in a street's
    shares.
    """
    import datetime as dt

    import numpy as np

    from coinval.engine import Engine
    from coinval.teach import teach
    from sim.coins import TAUGHT_COINS
    from sim.heads import DEFAULT_HEAD
    from sim.population import EVALUATION_TEMPERATURE_C, generate, kinds
    from sim.scenario import category_of

    samples = {
        coin: [
            sig
            for batch in TEACH_BATCHES
            for sig in generate(
                coin, 12, head=DEFAULT_HEAD, seed=seed + 1, batch=batch, wear=0.5, dirt=0.5
            ).signatures()
        ]
        for coin in TAUGHT_COINS
    }
    engine = Engine(teach(samples, head=DEFAULT_HEAD)[0])
    by_category: dict[str, list[str]] = {}
    for kind in kinds():
        by_category.setdefault(category_of(kind), []).append(kind)
    now = dt.datetime.now(dt.UTC)
    pool: list[Decision] = []
    for category, share in (
        ("genuine", GENUINE),
        ("counterfeit", COUNTERFEIT),
        ("lookalike", LOOKALIKE),
    ):
        names = by_category.get(category, [])
        for i, kind in enumerate(names):
            count = max(1, round(n * share / len(names)))
            genuine = category == "genuine"
            batch = generate(
                kind,
                count,
                head=DEFAULT_HEAD,
                seed=seed + 2 + i,
                batch=i % 5 if genuine else 0,
                temperature_c=EVALUATION_TEMPERATURE_C,
                wear=0.6 if genuine else 0.0,
                dirt=0.6 if genuine else 0.0,
            )
            pool += engine.decide_batch(batch, now)
    order = np.random.default_rng([seed, 0xF1EE7]).permutation(len(pool))
    return [pool[i] for i in order.tolist()]


@contextmanager
def _stop_signals(stop: threading.Event, halt: threading.Event) -> Iterator[None]:
    """The first SIGINT/SIGTERM stops (after a drain), the second stops at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            halt.set()
        else:
            log.info("%s: stopping (again to stop at once)", signal.Signals(signum).name)
            stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@logs_to_stderr
def run_sim_fleet(args: argparse.Namespace) -> int:
    """``coinval sim fleet``: run the fleet until Ctrl-C or ``--duration``."""
    from collections import Counter

    from sim.fleet import FleetConfig, FleetError, describe, run_fleet

    central, key = _checked(args)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    _check_central(central, key)
    pool = decision_pool(seed=args.seed)
    reasons = Counter(d.reason for d in pool)
    log.info(
        "a pool of %d coins decided by the engine (%s); each acceptor draws from it: "
        "this measures the central service, not the engine",
        len(pool),
        ", ".join(f"{n} {reason}" for reason, n in reasons.most_common()),
    )
    config = FleetConfig(
        acceptors=args.acceptors,
        coins_per_s=args.coins_per_s,
        central=central,
        key=key,
        outbox_dir=Path(args.outbox_dir),
        processes=args.processes,
        send_every_s=args.send_every,
        drain_s=args.drain,
        duration_s=args.duration,
        model=args.model,
        seed=args.seed,
        progress_every_s=args.progress_every,
    )
    log.info(
        "%d acceptor(s) reporting to %s, %g coins/s in all, each sending every %g s; "
        "outboxes in %s",
        config.acceptors,
        central,
        config.coins_per_s,
        config.send_every_s,
        os.path.abspath(config.outbox_dir),
    )
    stop, halt = threading.Event(), threading.Event()
    with _stop_signals(stop, halt):
        try:
            result = run_fleet(config, pool, stop=stop, halt=halt, progress=log.info)
        except FleetError as exc:
            print(f"coinval: error: {exc}", file=sys.stderr)
            return 1
    stats = result.stats
    log.info("stopped: %s", describe(stats, result.seconds))
    log.info(
        "the outboxes have kept %d coin(s) in all (this run and before); %d wait in %s%s",
        stats.ever,
        stats.waiting,
        os.path.abspath(config.outbox_dir),
        f"; workers started again {result.restarts} time(s)" if result.restarts else "",
    )
    return 0
