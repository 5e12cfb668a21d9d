"""What ``coinval serve`` and ``coinval run`` share: profile, moment, engine, timing.

The engine is made ready before the first coin: one coin decided (the first
decision pays for lazy set-up), the heap frozen (a full garbage collection
walking every long-lived object held the interpreter for longer than the
gate's budget), and a short thread switch interval (ccTalk replies should
leave within a few milliseconds while a coin is being decided).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from coinval_cli.argtypes import positive_float
from coinval_cli.errors import UsageError

if TYPE_CHECKING:
    import datetime as dt

    from coinval.engine import Engine
    from coinval.profile import Profile
    from firmware_bridge.runtime.loop import RuntimeConfig

__all__ = [
    "add_timing_arguments",
    "decision_moment",
    "load_profile",
    "ready_engine",
    "runtime_config",
]


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--deadline-ms``, ``--credit-timeout-ms``, ``--seed`` and ``--verbose``."""
    parser.add_argument(
        "--deadline-ms",
        type=positive_float,
        default=150.0,
        help="a coin decided later than this is rejected, error 5 (default 150)",
    )
    parser.add_argument(
        "--credit-timeout-ms",
        type=positive_float,
        default=1500.0,
        help="longest wait for the credit sensor after an accept, then error 6 (default 1500)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulated coins' seed (default 0)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """The money path's timing from ``--deadline-ms`` and ``--credit-timeout-ms``."""
    from firmware_bridge.runtime.loop import RuntimeConfig

    return RuntimeConfig(
        decision_deadline_s=args.deadline_ms / 1000,
        credit_timeout_s=args.credit_timeout_ms / 1000,
    )


def load_profile(path: str) -> Profile:
    """The profile at ``path``; a bad one is a usage error."""
    from coinval.profile import ProfileError, load

    try:
        profile = load(path)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    return profile


def decision_moment(args: argparse.Namespace) -> Callable[[], dt.datetime] | None:
    """``--at``: the fixed moment every coin is decided for; None: each coin's own now."""
    from coinval.legal_tender import parse_moment

    if not args.at:
        return None
    try:
        fixed = parse_moment(args.at)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return lambda: fixed


def ready_engine(profile: Profile) -> Engine:
    """An engine on ``profile`` whose first real coin meets its deadline."""
    from coinval.engine import Engine
    from coinval_cli.serving import settle_heap, share_the_interpreter

    engine = Engine(profile)
    _decide_one_synthetic_coin(engine)
    settle_heap()
    share_the_interpreter()
    return engine


def _decide_one_synthetic_coin(engine: Engine) -> None:
    import numpy as np

    from coinval.legal_tender import now
    from coinval.signature import parse_signature

    x = np.linspace(-1.0, 1.0, 256)
    bump = 800.0 * np.exp(-((x / 0.3) ** 2))
    fake = parse_signature(
        {
            "eddy_lo": bump.tolist(),
            "eddy_hi": (0.7 * bump).tolist(),
            "eddy_rate_hz": 2000.0,
            "rim": (11.0 + 0.01 * np.sin(np.linspace(0, 40 * np.pi, 1024))).tolist(),
            "thickness_mm": 2.5,
            "speed_mm_s": 500.0,
            "temperature_c": 20.0,
        }
    )
    engine.decide(fake, now())
