"""The ``coinval`` command line: the one composition root of the project.

Subcommands import what they need lazily, so ``coinval classify`` never loads
the HTTP service or the simulator.  Exit status: 0 done, 2 bad usage or bad
input (profile, files, flags), 1 an unexpected internal error; no traceback
reaches the user unless ``COINVAL_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from coinval_cli.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"coinval: error: {message}\n")


def _cmd_teach(args: argparse.Namespace) -> int:
    from coinval_cli.teach import run_teach

    return run_teach(args)


def _cmd_classify(args: argparse.Namespace) -> int:
    from coinval_cli.classify import run_classify

    return run_classify(args)


def _cmd_sim_population(args: argparse.Namespace) -> int:
    from coinval_cli.population import run_population

    return run_population(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from coinval_cli.demo import run_demo

    return run_demo(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from coinval_cli.evaluate import run_evaluate

    return run_evaluate(args)


def _cmd_bench_accuracy(args: argparse.Namespace) -> int:
    from coinval_cli.bench import run_bench_accuracy

    return run_bench_accuracy(args)


def _cmd_plot(args: argparse.Namespace) -> int:
    from coinval_cli.plot import run_plot

    return run_plot(args)


def _cmd_api(args: argparse.Namespace) -> int:
    from coinval_cli.api import run_api

    return run_api(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    from coinval_cli.serve import run_serve

    return run_serve(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from coinval_cli.serve import run_run

    return run_run(args)


def _cmd_sim_head(args: argparse.Namespace) -> int:
    from coinval_cli.serve import run_sim_head

    return run_sim_head(args)


def _cmd_sim_host(args: argparse.Namespace) -> int:
    from coinval_cli.serve import run_sim_host

    return run_sim_host(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="coinval",
        description="Coin validation engine: teach a sensor head, classify coin signatures.",
    )
    from coinval import __version__

    parser.add_argument("--version", action="version", version=f"coinval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    teach = sub.add_parser(
        "teach",
        help="build a calibration profile from genuine coins",
        description="Build a calibration profile for one sensor head from genuine coins only.",
    )
    teach.add_argument("--out", required=True, metavar="PROFILE.json", help="profile to write")
    teach.add_argument(
        "--coin",
        required=True,
        action="append",
        metavar="COIN_ID=SAMPLES.jsonl",
        help="a coin id and its genuine samples (repeat per coin; 25-60 coins each)",
    )
    teach.add_argument("--head", help="sensor head serial (default: from the samples)")
    teach.add_argument(
        "--security",
        action="append",
        default=[],
        metavar="COIN_ID=LEVEL",
        help="security level per coin: standard (default), narrow, very-narrow",
    )
    teach.add_argument(
        "--strict",
        action="store_true",
        help="refuse to teach when a file holds outliers, instead of dropping them",
    )
    teach.add_argument(
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
    teach.set_defaults(func=_cmd_teach)

    classify = sub.add_parser(
        "classify",
        help="decide every signature of a JSON Lines file",
        description="Write one decision per input line, in order, as JSON Lines on stdout.",
    )
    classify.add_argument("--profile", required=True, metavar="PROFILE.json")
    classify.add_argument(
        "--at",
        metavar="ISO_DATETIME",
        help="moment the decisions are made for (legal-tender dates; default now, London time)",
    )
    classify.add_argument(
        "input", nargs="?", default="-", metavar="INPUT.jsonl", help="input file, or - for stdin"
    )
    classify.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes (default: all cores for inputs over 8 MB, else 1)",
    )
    classify.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    classify.set_defaults(func=_cmd_classify)

    sim = sub.add_parser("sim", help="the simulator: coin populations, virtual hardware")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)
    population = sim_sub.add_parser(
        "population", help="generate simulated signatures as JSON Lines"
    )
    from coinval_cli.population import add_population_arguments

    add_population_arguments(population)
    population.set_defaults(func=_cmd_sim_population)

    from coinval_cli import serve as cli_serve

    sim_head = sim_sub.add_parser(
        "head",
        help="a simulated sensor board on a sensor-link port",
        description="Insert simulated coins and fraud attempts over the sensor link on PORT.",
    )
    cli_serve.add_sim_head_arguments(sim_head)
    sim_head.set_defaults(func=_cmd_sim_head)
    sim_host = sim_sub.add_parser(
        "host",
        help="a virtual parking machine polling a ccTalk coin acceptor",
        description="Enable every coin (231, 228), poll 229 and print credits and errors.",
    )
    cli_serve.add_sim_host_arguments(sim_host)
    sim_host.set_defaults(func=_cmd_sim_host)

    serve = sub.add_parser(
        "serve",
        help="be a ccTalk coin acceptor on a serial port, fed by a sensor head",
        description="Serve the engine as a ccTalk coin acceptor (address 2) on --cctalk, "
        "deciding the coins of --sensor: a sensor-link port, 'sim', or replay:FILE.jsonl.",
    )
    cli_serve.add_serve_arguments(serve)
    serve.set_defaults(func=_cmd_serve)

    run = sub.add_parser(
        "run",
        help="everything on pseudo-terminals: engine, simulated head, virtual parking machine",
        description="Teach a simulated head on first use, then run the engine between a "
        "simulated sensor head and a virtual parking machine until Ctrl-C (or --coins N).",
    )
    cli_serve.add_run_arguments(run)
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser(
        "demo", help="end to end on the simulator: teach, then decide a live stream of coins"
    )
    demo.add_argument("--coins", type=int, default=400, help="coins to insert (default 400)")
    demo.add_argument("--rate", type=float, default=40.0, help="coins per second shown")
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(func=_cmd_demo)

    api = sub.add_parser(
        "api",
        help="the calibration service: teach, inspect, inhibit, roll back over HTTP",
        description="Serve the operator HTTP API (FastAPI + uvicorn) on a SQLite store.",
    )
    from coinval_cli.api import add_api_arguments

    add_api_arguments(api)
    api.set_defaults(func=_cmd_api)

    evaluate = sub.add_parser(
        "evaluate",
        help="accuracy: teach on one simulated head and batch, test on others",
    )
    from coinval_cli.evaluate import add_evaluate_arguments

    add_evaluate_arguments(evaluate)
    evaluate.set_defaults(func=_cmd_evaluate)

    bench = sub.add_parser("bench", help="benchmarks: coinval beside baseline acceptors")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, parser_class=_Parser)
    bench_accuracy = bench_sub.add_parser(
        "accuracy",
        help="accuracy and speed of coinval and baselines on the same simulated coins",
        description="Teach coinval and baseline acceptors (min/max windows; with scikit-learn "
        "a Gaussian and an isolation forest per coin) on one simulated head and batch, decide "
        "the same test coins with each, and write Markdown, JSON and a DET plot to --out-dir.",
    )
    from coinval_cli.bench import add_bench_accuracy_arguments

    add_bench_accuracy_arguments(bench_accuracy)
    bench_accuracy.set_defaults(func=_cmd_bench_accuracy)

    plot = sub.add_parser(
        "plot",
        help="draw taught acceptance boxes in two features with signatures over them",
        description="Draw each taught coin's acceptance box (at its mean teach temperature) in "
        "two features, scatter the signatures of --input over it coloured by decision, and "
        "write a PNG (needs matplotlib).",
    )
    from coinval_cli.plot import add_plot_arguments

    add_plot_arguments(plot)
    plot.set_defaults(func=_cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coinval`` console script."""
    # Before numpy loads: our matrices are 18 x 18, and classify and serve bring
    # their own workers; BLAS threads would only cost start-up and compete.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"coinval: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("coinval: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("COINVAL_DEBUG") == "1":
            raise
        print(
            f"coinval: internal error: {type(exc).__name__}: {exc} "
            "(set COINVAL_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
