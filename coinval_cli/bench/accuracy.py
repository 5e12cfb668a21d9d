"""``coinval bench accuracy``: coinval beside baseline acceptors on the same coins.

The simulator supplies labelled coins, :mod:`coinval_eval.accuracy` teaches and
decides them with every method, :mod:`coinval_eval.k2` does the same on the
bench-k2 collection of a foreign head (``--k2``, default
``<checkout>/../shared/bench-k2``; skipped with a note on stderr when it is not
there), :mod:`coinval_eval.plots` draws the DET curves.

Writes into ``--out-dir``: ``accuracy-vs-baselines.md`` (tables), ``.json``
(every figure), and with matplotlib ``accuracy-det.png`` (simulator) and
``k2-launch-det.png``, ``k2-circulation-det.png`` (bench-k2).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from coinval_cli.errors import UsageError
from coinval_cli.evaluate import (
    TRIAL_FLAGS,
    add_trial_arguments,
    configured,
    settings_flags,
    show_progress,
    trial_settings,
)
from coinval_eval import accuracy, k2, plots
from coinval_eval.accuracy import AccuracyConfig
from coinval_eval.baselines import (
    BASELINES,
    DEFAULT_ALPHA,
    DEFAULT_MAHALANOBIS_FR,
    DEFAULT_MARGIN,
    OpenSetMethod,
    make_baselines,
)
from coinval_eval.provenance import machine, measured_line, utc_now

REPORT_MD = "accuracy-vs-baselines.md"
REPORT_JSON = "accuracy-vs-baselines.json"
DET_PNG = "accuracy-det.png"
PARTS = ("sim", "k2")
CHECKOUT = Path(__file__).resolve().parents[2]
DEFAULT_K2 = CHECKOUT.parent / "shared" / "bench-k2"
"""The lab collection beside the checkout, as the project's shared folder holds it."""
ACCURACY_FLAGS = {**TRIAL_FLAGS, "margin": "--minmax-margin", "alpha": "--gaussian-alpha"}
"""Settings of :class:`~coinval_eval.accuracy.AccuracyConfig` whose flag is named otherwise."""


def add_bench_accuracy_arguments(parser: argparse.ArgumentParser) -> None:
    """The trial's flags, the baselines' settings, the bench-k2 part and ``--out-dir``."""
    parser.description = (
        "Teach coinval and baseline acceptors (a Mahalanobis window with a temperature term "
        "and min/max windows per coin; with scikit-learn a Gaussian and an isolation forest) "
        "on the same genuine coins, decide the same test coins with each, on one simulated "
        "head and on the bench-k2 collection of a foreign head (two teach modes), and write "
        "Markdown, JSON and DET plots to --out-dir."
    )
    add_trial_arguments(parser)
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help=f"baselines to run beside coinval (default {','.join(BASELINES)}; "
        "the last two need scikit-learn and are skipped with a note without it)",
    )
    parser.add_argument(
        "--mahalanobis-fr",
        type=float,
        default=DEFAULT_MAHALANOBIS_FR,
        metavar="RATE",
        help="false-rejection rate the Mahalanobis window's chi-square cut is stated for "
        f"(default {DEFAULT_MAHALANOBIS_FR:g})",
    )
    parser.add_argument(
        "--k2",
        metavar="PATH",
        default=None,
        help="the bench-k2 collection (genuine/COIN.batchB.jsonl.gz, "
        "counterfeit/FAMILY.jsonl.gz; default <checkout>/../shared/bench-k2); when it is "
        "missing that part is skipped with a note",
    )
    parser.add_argument(
        "--k2-seed",
        type=int,
        default=0,
        help="seed of the circulation teach's draw from bench-k2 batches 1-3 (default 0)",
    )
    parser.add_argument(
        "--parts",
        default="sim,k2",
        help="what to run: sim (the simulated head), k2 (bench-k2), or both (default sim,k2)",
    )
    parser.add_argument(
        "--minmax-margin",
        type=float,
        default=DEFAULT_MARGIN,
        help="share of the taught range added to each side of a min/max window "
        f"(default {DEFAULT_MARGIN:g})",
    )
    parser.add_argument(
        "--gaussian-alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"genuine rejection rate of the Gaussian baseline's bound (default {DEFAULT_ALPHA:g})",
    )
    parser.add_argument(
        "--out-dir", default="reports", metavar="DIR", help="where to write (default reports/)"
    )


def _config(args: argparse.Namespace) -> AccuracyConfig:
    settings = trial_settings(args)
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    return configured(
        lambda: AccuracyConfig(
            **settings,
            baselines=baselines,
            margin=args.minmax_margin,
            alpha=args.gaussian_alpha,
            mahalanobis_fr=args.mahalanobis_fr,
        ),
        ACCURACY_FLAGS,
    )


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise UsageError(f"--parts {text!r}: use sim, k2 or sim,k2")
    return parts


def _run_sim(
    config: AccuracyConfig, out_dir: Path, show: bool
) -> tuple[accuracy.AccuracyRun, dict[str, Any], str | None]:
    """The simulated head's part: the run, its figures, the DET plot's file name if drawn."""
    with tqdm(
        total=accuracy.total_steps(config),
        desc="bench accuracy",
        unit="step",
        file=sys.stderr,
        disable=not show,
    ) as bar:
        result = configured(lambda: accuracy.run(config, bar), ACCURACY_FLAGS)
    facts = accuracy.summary(result)
    if not plots.matplotlib_available():
        return result, facts, None
    data = result.data
    plots.det_plot(
        {m["name"]: np.asarray(m["det"]) for m in facts["methods"]},
        n_genuine=int((data.truth_index >= 0).sum()),
        n_fake=int((data.truth_index < 0).sum()),
        path=out_dir / DET_PNG,
        title=f"DET, head {config.head}: bound factor "
        f"{accuracy.DET_FACTORS[0]:g}..{accuracy.DET_FACTORS[-1]:g}",
    )
    return result, facts, DET_PNG


def _run_k2(
    root: Path, seed: int, config: AccuracyConfig, out_dir: Path, show: bool
) -> tuple[str, dict[str, Any], list[str]]:
    """The bench-k2 part: report text, figures, files written (nothing when it is missing)."""
    if not root.is_dir():
        why = f"no bench-k2 collection at {root} (give one with --k2 PATH)"
        print(f"coinval bench accuracy: {why}: that part is skipped", file=sys.stderr)
        return f"# bench-k2\n\nNot run: {why}.\n", {"skipped": why}, []
    try:
        collection = k2.load(root)
        splits = [k2.split(collection, mode, seed) for mode in k2.MODES]
    except (k2.K2Error, OSError) as exc:
        raise UsageError(f"--k2 {root}: {exc}") from None

    def fresh() -> list[OpenSetMethod]:
        methods, _ = make_baselines(
            config.baselines,
            margin=config.margin,
            alpha=config.alpha,
            seed=config.seed,
            mahalanobis_fr=config.mahalanobis_fr,
        )
        return list(methods)

    all_facts: list[dict[str, Any]] = []
    pngs: dict[str, str | None] = {}
    written: list[str] = []
    with tqdm(
        total=len(splits) * (1 + len(fresh())),
        desc="bench-k2",
        unit="step",
        file=sys.stderr,
        disable=not show,
    ) as bar:
        for split in splits:
            facts = k2.summary(k2.run_mode(split, fresh, collection.head, bar))
            all_facts.append(facts)
            pngs[split.mode] = None
            if plots.matplotlib_available():
                name = k2.det_png_name(split.mode)
                k2.draw_det(facts, out_dir / name, collection.head)
                pngs[split.mode] = name
                written.append(name)
    text = k2.render(
        root, all_facts, pngs, plots.INSTALL_HINT, config.mahalanobis_fr, collection.problems
    )
    facts_k2 = {
        "folder": str(root),
        "head": collection.head,
        "seed": seed,
        "problems": collection.problems,
        "modes": all_facts,
    }
    return text, facts_k2, written


def command_line(args: argparse.Namespace, config: AccuracyConfig) -> str:
    """The command that ran, its settings left at their defaults out (as a report names it)."""
    words = ["coinval bench accuracy", settings_flags(config, ACCURACY_FLAGS)]
    if args.parts != "sim,k2":
        words.append(f"--parts {args.parts}")
    if args.k2 is not None:
        words.append(f"--k2 {shlex.quote(args.k2)}")
    if args.k2_seed != 0:
        words.append(f"--k2-seed {args.k2_seed}")
    return " ".join(w for w in words if w)


def run_bench_accuracy(args: argparse.Namespace) -> int:
    """Run the parts ``--parts`` names and write the report, its JSON and the DET plots."""
    config = _config(args)
    if args.k2_seed < 0:
        raise UsageError(f"--k2-seed: must be >= 0, got {args.k2_seed}")
    parts = _parts(args.parts)
    k2_root = Path(args.k2) if args.k2 is not None else DEFAULT_K2
    out_dir = Path(args.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out-dir {out_dir}: {exc.strerror or exc}") from None
    show = show_progress(args.progress)
    started = time.perf_counter()
    facts: dict[str, Any] = {}
    written = [REPORT_MD, REPORT_JSON]
    sim: tuple[accuracy.AccuracyRun, str | None] | None = None
    if "sim" in parts:
        result, facts, det_png = _run_sim(config, out_dir, show)
        sim = result, det_png
        written += [det_png] if det_png else []
    else:
        _, notes = make_baselines(config.baselines)
        facts["notes"] = notes
    k2_text = None
    if "k2" in parts:
        k2_text, facts["k2"], pngs = _run_k2(k2_root, args.k2_seed, config, out_dir, show)
        written += pngs
    # One line for the whole file, once every part has run.
    command = command_line(args, config)
    seconds = time.perf_counter() - started
    when = utc_now()
    where = machine()
    measured = measured_line(command, seconds, when=when, on=where)
    facts["measured"] = {
        "at": when.isoformat(),
        "machine": where,
        "seconds": seconds,
        "command": command,
    }
    if sim is not None:
        texts = [accuracy.render(sim[0], facts, sim[1], plots.INSTALL_HINT, measured)]
    else:
        texts = [
            "# coinval beside baseline acceptors\n\n"
            f"{measured}\n\n"
            "The simulated head's part was not run (--parts k2).\n"
        ]
    if k2_text is not None:
        texts.append(k2_text)
    if not plots.matplotlib_available():
        print(f"coinval bench accuracy: no DET plot: {plots.INSTALL_HINT}", file=sys.stderr)
    (out_dir / REPORT_MD).write_text("\n".join(texts), encoding="utf-8")
    (out_dir / REPORT_JSON).write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    for line in facts["notes"]:
        print(f"coinval bench accuracy: {line}", file=sys.stderr)
    print("wrote " + ", ".join(str(out_dir / name) for name in written))
    return 0
