"""``coinval evaluate``: the accuracy trial of :mod:`coinval_eval.trial` from the command line.

Its flags build a :class:`~coinval_eval.trial.TrialConfig` (``coinval bench
accuracy`` takes the same ones); the trial's own errors come back as usage
errors naming the flag at fault.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from coinval_cli.argtypes import temperature_range
from coinval_cli.errors import UsageError
from coinval_eval.errors import EvaluationError
from coinval_eval.trial import EVALUATION_HEAD, TrialConfig, plan, render, run_trial

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Config = TypeVar("Config")

TRIAL_FLAGS = {"teach_temperature_c": "--teach-temperature"}
"""Trial settings whose flag is not ``--`` and the setting's name with dashes."""


def flag_of(setting: str, renamed: Mapping[str, str] = TRIAL_FLAGS) -> str:
    """The flag that sets a configuration field: ``teach_n`` -> ``--teach-n``."""
    return renamed.get(setting, "--" + setting.replace("_", "-"))


def configured(make: Callable[[], Config], renamed: Mapping[str, str] = TRIAL_FLAGS) -> Config:
    """``make()``, with an :class:`EvaluationError` turned into a usage error naming its flag."""
    try:
        return make()
    except EvaluationError as exc:
        if exc.setting is None:
            raise UsageError(str(exc)) from None
        raise UsageError(f"{flag_of(exc.setting, renamed)}: {exc.reason}") from None


def _flag_value(value: object) -> str:
    """A setting as its flag takes it: ``(5, 6)`` -> ``5,6``, ``35.0`` -> ``35``."""
    if isinstance(value, tuple):
        return ",".join(_flag_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_flags(config: DataclassInstance, renamed: Mapping[str, str] = TRIAL_FLAGS) -> str:
    """The flags that make ``config`` (a dataclass of settings), those left at their default out.

    ``coinval evaluate --teach-batches 5,6,7,8`` is the command a report names, so
    that a reader can run it again; a default is what the flag would give anyway.
    """
    flags = []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = dataclasses.MISSING
        if value != default:
            text = _flag_value(value)
            if item.name == "security":  # the flag spells the level with dashes
                text = text.replace(" ", "-")
            # A value that starts with a dash is joined with "=" not to pass for a flag.
            joiner = "=" if text.startswith("-") else " "
            flags.append(f"{flag_of(item.name, renamed)}{joiner}{shlex.quote(text)}")
    return " ".join(flags)


def parse_batches(text: str, flag: str) -> tuple[int, ...]:
    """A comma-separated list of mint batches (numbers >= 0); UsageError otherwise."""
    try:
        batches = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        batches = ()
    if not batches or min(batches) < 0:
        raise UsageError(f"{flag} {text!r}: expected numbers >= 0 like 1,2,3")
    return batches


def show_progress(choice: str) -> bool:
    """Whether ``--progress auto|always|never`` draws a bar (auto: on a terminal)."""
    return choice == "always" or (choice == "auto" and sys.stderr.isatty())


def add_trial_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that define an accuracy trial: head, teach set, test cells, level.

    Shared by ``coinval evaluate`` and ``coinval bench accuracy``, which run the
    same trial and differ in what they report.  Defaults are those of
    :class:`~coinval_eval.trial.TrialConfig`.
    """
    parser.add_argument(
        "--head",
        default=EVALUATION_HEAD,
        help=f"simulated sensor head (default {EVALUATION_HEAD}, held out while developing)",
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


def trial_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The fields of a :class:`~coinval_eval.trial.TrialConfig` the trial flags give."""
    return {
        "head": args.head,
        "teach_n": args.teach_n,
        "n": args.n,
        "batches": parse_batches(args.batches, "--batches"),
        "seed": args.seed,
        "teach_wear": args.teach_wear,
        "teach_temperature_c": args.teach_temperature,
        "teach_batches": parse_batches(args.teach_batches, "--teach-batches"),
        "wear": args.wear,
        "dirt": args.dirt,
        "security": args.security.replace("-", " "),
    }


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The trial's flags and ``--out``."""
    add_trial_arguments(parser)
    parser.add_argument("--out", metavar="REPORT.md", help="also write the report here")


def run_evaluate(args: argparse.Namespace) -> int:
    """Run one trial, print its report and write it to ``--out`` when given."""
    from tqdm import tqdm

    settings = trial_settings(args)
    config = configured(lambda: TrialConfig(**settings))
    started = time.perf_counter()
    with tqdm(
        total=len(plan(config)),
        desc="evaluate",
        unit="cell",
        file=sys.stderr,
        disable=not show_progress(args.progress),
    ) as bar:
        report = configured(lambda: run_trial(config, bar))
    command = " ".join(filter(None, ["coinval evaluate", settings_flags(config)]))
    text = render(config, report, time.perf_counter() - started, command)
    sys.stdout.write(text)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--out {args.out}: {exc.strerror or exc}") from None
    return 0
