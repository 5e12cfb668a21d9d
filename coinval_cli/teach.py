"""``coinval teach``: genuine coins in, a calibration profile out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from coinval.classifier import SECURITY_LEVELS, SecurityLevel
from coinval.jsonlines import read_lines
from coinval.signature import Signature, SignatureError, parse_signature
from coinval_cli.errors import UsageError

# A teach file with more broken lines than this is not trusted at all.
MAX_INVALID_SHARE = 0.2


def _pair(text: str, flag: str) -> tuple[str, str]:
    coin, sep, value = text.partition("=")
    if not sep or not coin or not value:
        raise UsageError(f"{flag} {text!r}: expected COIN_ID=VALUE")
    return coin.strip(), value.strip()


def read_teach_file(path: str, coin: str) -> list[Signature]:
    """Signatures of one teach file; broken lines are reported, and too many refuse."""
    try:
        stream = Path(path).open("rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UsageError(f"--coin {coin}={path}: cannot open: {exc.strerror or exc}") from None
    signatures: list[Signature] = []
    problems: list[str] = []
    with stream:
        for line in read_lines(stream):
            if line.error:
                problems.append(line.error)
                continue
            try:
                signatures.append(parse_signature(line.obj))
            except SignatureError as exc:
                problems.append(f"line {line.number}: {exc}")
    total = len(signatures) + len(problems)
    if total == 0:
        raise UsageError(f"--coin {coin}={path}: the file holds no signatures")
    if problems and len(problems) > MAX_INVALID_SHARE * total:
        raise UsageError(
            f"--coin {coin}={path}: {len(problems)} of {total} lines are not valid signatures, "
            f"first: {problems[0]}"
        )
    for p in problems:
        print(f"coinval teach: warning: {path}: skipped {p}", file=sys.stderr)
    return signatures


def add_teach_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval teach``: the profile to write, each coin's file, levels, launch."""
    parser.add_argument("--out", required=True, metavar="PROFILE.json", help="profile to write")
    parser.add_argument(
        "--coin",
        required=True,
        action="append",
        metavar="COIN_ID=SAMPLES.jsonl",
        help="a coin id and its genuine samples (repeat per coin; 25-60 coins each)",
    )
    parser.add_argument("--head", help="sensor head serial (default: from the samples)")
    parser.add_argument(
        "--security",
        action="append",
        default=[],
        metavar="COIN_ID=LEVEL",
        help="security level per coin: standard (default), narrow, very-narrow",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse to teach when a file holds outliers, instead of dropping them",
    )
    parser.add_argument(
        "--launch",
        nargs="?",
        const="*",
        default=None,
        metavar="COIN_ID[,COIN_ID...]",
        help=(
            "the teach coins all come from one mint batch (a coin's launch): widen their "
            "regions by a batch budget; without ids, every coin. Default: coins from "
            "circulation, whose spread holds several batches"
        ),
    )


def run_teach(args: argparse.Namespace) -> int:
    """Read each coin's file, teach, write the profile; warnings go to stderr."""
    from coinval.catalogue import coins
    from coinval.teach import TeachError, teach

    known = coins()
    files: dict[str, str] = {}
    for text in args.coin:
        coin, path = _pair(text, "--coin")
        if coin not in known:
            raise UsageError(f"--coin {coin}: unknown coin id; known: {', '.join(sorted(known))}")
        if coin in files:
            raise UsageError(f"--coin {coin} given twice")
        files[coin] = path
    security: dict[str, SecurityLevel] = {}
    for text in args.security:
        coin, level = _pair(text, "--security")
        level = level.replace("-", " ")
        if coin not in files:
            raise UsageError(f"--security {coin}: that coin is not being taught")
        if level not in SECURITY_LEVELS:
            raise UsageError(
                f"--security {coin}: level must be standard, narrow or very-narrow, not {level!r}"
            )
        security[coin] = cast(SecurityLevel, level)
    launch: set[str] = set()
    if args.launch == "*":
        launch = set(files)
    elif args.launch is not None:
        launch = {c.strip() for c in args.launch.split(",") if c.strip()}
        if not launch:
            raise UsageError("--launch: name coins being taught, or give no value for all")
        for coin in sorted(launch - set(files)):
            raise UsageError(f"--launch {coin}: that coin is not being taught")
    samples = {coin: read_teach_file(path, coin) for coin, path in files.items()}
    heads = {s.head for sigs in samples.values() for s in sigs if s.head}
    head = args.head or (heads.pop() if len(heads) == 1 else None)
    try:
        profile, report = teach(
            samples,
            head=head,
            security=security,
            drop_outliers=not args.strict,
            launch=sorted(launch),
        )
    except TeachError as exc:
        raise UsageError(f"teach refused: {exc}") from None
    for warning in report.warnings:
        print(f"coinval teach: warning: {warning}", file=sys.stderr)
    try:
        profile.save(args.out)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    taught = ", ".join(
        f"{c} ({profile.teach_notes[c]['n_samples']}, {profile.teach_notes[c]['teach']})"
        for c in profile.coins
    )
    print(f"coinval teach: wrote {args.out}: {taught}", file=sys.stderr)
    return 0
