"""``coinval sim population``: write simulated signatures to a JSON Lines file.

The main CLI (``coinval_cli.main``) imports this module lazily and calls
:func:`add_population_arguments` on its ``population`` sub-parser and
:func:`run_population` with the parsed namespace.

Exit status: 0 on success, 2 for bad arguments (unknown kind or head, n <= 0,
bad ranges), 1 if the output file cannot be written.  Never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import BinaryIO

import orjson

from coinval_cli.argtypes import non_negative_int, positive_int, severity
from coinval_cli.errors import UsageError
from sim.conditions import TEACH_TEMPERATURE_C
from sim.heads import DEFAULT_HEAD, HEADS, get_head

WRITE_CHUNK = 1000  # coins serialised at once: bounds memory for big files


def parse_temperature_range(text: str) -> tuple[float, float]:
    """``"LO:HI"`` in degrees C, LO <= HI, within -40..85.

    Raises
    ------
    argparse.ArgumentTypeError
    """
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be LO:HI in degrees C (e.g. 5:35, or --temperature=-10:45), got {text!r}"
        ) from None
    if not lo <= hi:
        raise argparse.ArgumentTypeError(f"LO must not exceed HI, got {text!r}")
    if lo < -40 or hi > 85:
        raise argparse.ArgumentTypeError(f"must lie within -40:85, got {text!r}")
    return lo, hi


def add_population_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sim population`` options to a (sub-)parser."""
    lo, hi = TEACH_TEMPERATURE_C
    parser.add_argument(
        "--coin",
        metavar="KIND",
        help="genuine coin id, counterfeit family or look-alike (see --list)",
    )
    parser.add_argument("--n", type=positive_int, metavar="N", help="number of coins")
    parser.add_argument(
        "--head",
        default=DEFAULT_HEAD,
        metavar="H",
        help=f"sensor head: {', '.join(HEADS)} or seed:N for a random one, either as "
        f"phys2:HEAD for the second physics (default {DEFAULT_HEAD}); heads with a demodulator "
        "(D, about half of seed:N) also write eddy_lo_loss and eddy_hi_loss",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch", type=non_negative_int, default=0, help="mint batch (default 0)")
    parser.add_argument(
        "--temperature",
        type=parse_temperature_range,
        default=(lo, hi),
        metavar="LO:HI",
        help=f"board temperature range in C (default {lo:g}:{hi:g}; "
        "write --temperature=-10:45 for a negative LO)",
    )
    parser.add_argument(
        "--wear", type=severity, default=0.0, help="maximum wear severity 0..1 (default 0)"
    )
    parser.add_argument(
        "--dirt", type=severity, default=0.0, help="maximum dirt severity 0..1 (default 0)"
    )
    parser.add_argument("--out", metavar="FILE.jsonl", help="output file, '-' for stdout")
    parser.add_argument("--list", action="store_true", help="list the kinds and exit")


def _write(out: BinaryIO, args: argparse.Namespace) -> None:
    from sim.population import generate, to_json_dicts

    head = get_head(str(args.head))
    batch = generate(
        args.coin,
        args.n,
        head=head,
        seed=args.seed,
        batch=args.batch,
        temperature_c=tuple(args.temperature),
        wear=args.wear,
        dirt=args.dirt,
    )
    for start in range(0, len(batch), WRITE_CHUNK):
        part = batch.take(range(start, min(len(batch), start + WRITE_CHUNK)))
        out.write(b"".join(orjson.dumps(obj) + b"\n" for obj in to_json_dicts(part, head.name)))


def _check(args: argparse.Namespace) -> None:
    """Validate what argparse could not (or what a hand-made namespace carries)."""
    from sim.population import kinds

    if not args.coin:
        raise UsageError("--coin is required (see --list for the kinds)")
    if args.coin not in kinds():
        raise UsageError(f"unknown coin kind {args.coin!r}; see --list for the kinds")
    if args.n is None:
        raise UsageError("--n is required")
    if not isinstance(args.n, int) or args.n <= 0:
        raise UsageError(f"--n must be a positive integer, got {args.n!r}")
    if not args.out:
        raise UsageError("--out is required ('-' for stdout)")


def run_population(args: argparse.Namespace) -> int:
    """Run ``sim population`` with parsed arguments; returns the exit status."""
    from sim.population import kinds

    if getattr(args, "list", False):
        for name, description in kinds().items():
            print(f"{name}\t{description}")
        return 0
    try:
        _check(args)
        if args.out == "-":
            _write(sys.stdout.buffer, args)
            sys.stdout.flush()
            return 0
        # Write beside the target and rename, so a failed run leaves no half file.
        tmp = f"{args.out}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as fh:
                _write(fh, args)
            os.replace(tmp, args.out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (UsageError, ValueError) as exc:
        print(f"coinval sim population: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"coinval sim population: cannot write {args.out!r}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
