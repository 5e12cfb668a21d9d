"""``coinval bench accuracy``: coinval beside baseline acceptors on the same coins.

Composition root for the comparison: the simulator supplies labelled coins,
``benchmarks.accuracy`` teaches and decides them with every method,
``benchmarks.plots`` draws the DET curves.  The ``benchmarks`` package lives
in the source checkout, not in the installed distribution, so this command
runs from a checkout (where ``make bench`` runs it).

Writes into ``--out-dir``: ``accuracy-vs-baselines.md`` (tables), ``.json``
(every figure) and ``accuracy-det.png`` (when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from coinval.cli import UsageError

REPORT_MD = "accuracy-vs-baselines.md"
REPORT_JSON = "accuracy-vs-baselines.json"
DET_PNG = "accuracy-det.png"


def add_bench_accuracy_arguments(parser: argparse.ArgumentParser) -> None:
    from coinval.cli_evaluate import add_trial_arguments

    add_trial_arguments(parser)
    parser.add_argument(
        "--baselines",
        default="minmax,gaussian,iforest",
        help="baselines to run beside coinval (default minmax,gaussian,iforest; the last two "
        "need scikit-learn and are skipped with a note without it)",
    )
    parser.add_argument(
        "--minmax-margin",
        type=float,
        default=0.1,
        help="share of the taught range added to each side of a min/max window (default 0.1)",
    )
    parser.add_argument(
        "--gaussian-alpha",
        type=float,
        default=1e-5,
        help="genuine rejection rate of the Gaussian baseline's bound (default 1e-5)",
    )
    parser.add_argument(
        "--out-dir", default="reports", metavar="DIR", help="where to write (default reports/)"
    )


def import_benchmarks() -> tuple[ModuleType, ModuleType]:
    """``benchmarks.accuracy`` and ``benchmarks.plots`` from the source checkout."""
    import importlib

    try:
        return importlib.import_module("benchmarks.accuracy"), importlib.import_module(
            "benchmarks.plots"
        )
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", "benchmarks.accuracy", "benchmarks.plots"):
            raise
    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "accuracy.py").is_file():
        raise UsageError(
            "coinval bench needs the benchmarks/ directory of a coinval source checkout"
        )
    sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks.accuracy"), importlib.import_module(
        "benchmarks.plots"
    )


def _config(args: argparse.Namespace, accuracy: ModuleType) -> Any:
    if args.teach_n < 5 or args.n < 1:
        raise UsageError("--teach-n must be >= 5 and --n >= 1")
    if not all(0.0 <= v <= 1.0 for v in (args.wear, args.dirt, args.teach_wear)):
        raise UsageError("--wear, --dirt and --teach-wear are severities from 0 to 1")
    if args.minmax_margin < 0 or not 0 < args.gaussian_alpha < 1:
        raise UsageError("--minmax-margin must be >= 0 and --gaussian-alpha within (0, 1)")
    try:
        batches = tuple(int(b) for b in args.batches.split(",") if b.strip())
    except ValueError:
        raise UsageError(f"--batches {args.batches!r}: expected numbers like 1,2,3") from None
    if not batches or min(batches) < 0:
        raise UsageError("--batches: give one or more batch numbers >= 0")
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    known = accuracy.BASELINES
    unknown = [b for b in baselines if b not in known]
    if unknown:
        raise UsageError(f"--baselines: unknown {', '.join(unknown)}; use {', '.join(known)}")
    from sim.heads import get_head

    try:
        get_head(args.head)
    except ValueError as exc:
        raise UsageError(f"--head: {exc}") from None
    return accuracy.AccuracyConfig(
        head=args.head,
        teach_n=args.teach_n,
        n=args.n,
        batches=batches,
        seed=args.seed,
        teach_wear=args.teach_wear,
        teach_temperature_c=args.teach_temperature,
        wear=args.wear,
        dirt=args.dirt,
        security=args.security.replace("-", " "),
        baselines=baselines,
        margin=args.minmax_margin,
        alpha=args.gaussian_alpha,
    )


def run_bench_accuracy(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from coinval.teach import TeachError

    accuracy, plots = import_benchmarks()
    config = _config(args, accuracy)
    out_dir = Path(args.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out-dir {out_dir}: {exc.strerror or exc}") from None
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    with tqdm(
        total=accuracy.total_steps(config),
        desc="bench accuracy",
        unit="step",
        file=sys.stderr,
        disable=not show,
    ) as bar:
        try:
            result = accuracy.run(config, bar)
        except TeachError as exc:
            raise UsageError(f"teach failed: {exc}") from None
    facts = accuracy.summary(result)
    det_png: str | None = None
    note = plots.INSTALL_HINT
    if plots.matplotlib_available():
        data = result.data
        plots.det_plot(
            {m["name"]: np.asarray(m["det"]) for m in facts["methods"]},
            n_genuine=int((data.truth_index >= 0).sum()),
            n_fake=int((data.truth_index < 0).sum()),
            path=out_dir / DET_PNG,
            title=f"DET, head {config.head}: bound factor "
            f"{accuracy.DET_FACTORS[0]:g}..{accuracy.DET_FACTORS[-1]:g}",
        )
        det_png = DET_PNG
    else:
        print(f"coinval bench accuracy: no DET plot: {note}", file=sys.stderr)
    text = accuracy.render(result, facts, det_png, note)
    (out_dir / REPORT_MD).write_text(text, encoding="utf-8")
    (out_dir / REPORT_JSON).write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    for line in facts["notes"]:
        print(f"coinval bench accuracy: {line}", file=sys.stderr)
    written = [REPORT_MD, REPORT_JSON] + ([DET_PNG] if det_png else [])
    print("wrote " + ", ".join(str(out_dir / name) for name in written))
    return 0
