"""The ``coinval`` command line: the one composition root of the project.

Each subcommand names its flags and its handler as ``"module:function"``;
both are imported only when that subcommand runs, so ``coinval classify``
never loads the HTTP service or the simulator.  Exit status: 0 done, 2 bad
usage or bad input (profile, files, flags), 1 an unexpected internal error;
no traceback reaches the user unless ``COINVAL_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, cast

from coinval_cli.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError

Handler = Callable[[argparse.Namespace], int]


def resolve(target: str) -> Any:
    """``"package.module:name"``: that module's ``name``, the module imported now."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class _Parser(argparse.ArgumentParser):
    """A parser that exits 2 on bad usage and adds a subcommand's flags when it is parsed.

    ``flags`` names the function (``"module:function"``) that adds the
    subcommand's arguments; it runs the first time this parser parses or shows
    its help, so building the whole command tree imports no subcommand.
    """

    def __init__(self, *args: Any, flags: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flags = flags

    def add_flags(self) -> None:
        """Add the subcommand's arguments now, once."""
        if self.flags is not None:
            add, self.flags = self.flags, None
            resolve(add)(self)

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """Add the subcommand's flags, then parse as argparse does."""
        self.add_flags()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        """The help text, the subcommand's flags included."""
        self.add_flags()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        """Usage and the message on stderr, exit status 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"coinval: error: {message}\n")


def _command(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    run: str,
    flags: str,
    help: str,
    description: str | None = None,
) -> _Parser:
    """Subcommand ``name``: ``run`` handles it, ``flags`` adds its arguments ("module:function")."""
    parser = sub.add_parser(name, flags=flags, help=help, description=description)
    parser.set_defaults(handler=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; each subcommand's flags are added when it is parsed."""
    from coinval import __version__

    parser = _Parser(
        prog="coinval",
        description="Coin validation engine: teach a sensor head, classify coin signatures.",
    )
    parser.add_argument("--version", action="version", version=f"coinval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _command(
        sub,
        "teach",
        "coinval_cli.teach:run_teach",
        "coinval_cli.teach:add_teach_arguments",
        help="build a calibration profile from genuine coins",
        description="Build a calibration profile for one sensor head from genuine coins only.",
    )
    _command(
        sub,
        "classify",
        "coinval_cli.classify:run_classify",
        "coinval_cli.classify:add_classify_arguments",
        help="decide every signature of a JSON Lines file",
        description="Write one decision per input line, in order, as JSON Lines on stdout.",
    )

    sim = sub.add_parser("sim", help="the simulator: coin populations, virtual hardware")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)
    _command(
        sim_sub,
        "population",
        "coinval_cli.population:run_population",
        "coinval_cli.population:add_population_arguments",
        help="generate simulated signatures as JSON Lines",
    )
    _command(
        sim_sub,
        "head",
        "coinval_cli.simulated_hardware:run_sim_head",
        "coinval_cli.simulated_hardware:add_sim_head_arguments",
        help="a simulated sensor board on a sensor-link port",
        description="Insert simulated coins and fraud attempts over the sensor link on PORT.",
    )
    _command(
        sim_sub,
        "host",
        "coinval_cli.simulated_hardware:run_sim_host",
        "coinval_cli.simulated_hardware:add_sim_host_arguments",
        help="a virtual parking machine polling a ccTalk coin acceptor",
        description="Enable every coin (231, 228), poll 229 and print credits and errors.",
    )
    _command(
        sim_sub,
        "vmc",
        "coinval_cli.simulated_hardware:run_sim_vmc",
        "coinval_cli.simulated_hardware:add_sim_vmc_arguments",
        help="a virtual vending machine controller polling an MDB coin changer",
        description="Reset the changer, read SETUP and its identification, enable coin types, "
        "POLL and print the credit it would give for each coin.",
    )
    _command(
        sim_sub,
        "fleet",
        "coinval_cli.sim_fleet:run_sim_fleet",
        "coinval_cli.sim_fleet:add_sim_fleet_arguments",
        help="many simulated acceptors reporting to a central calibration service",
        description="Simulated acceptors (heads fleet-NNNN), each with its own outbox file, "
        "report decided coins to --central, as coinval serve --central does. The decisions "
        "are drawn from a pool the real engine decided once: this measures the central "
        "service, not the engine.",
    )

    _command(
        sub,
        "serve",
        "coinval_cli.serve:run_serve",
        "coinval_cli.serve:add_serve_arguments",
        help="be a ccTalk coin acceptor or an MDB coin changer on a serial port",
        description="Serve the engine as a ccTalk coin acceptor (address 2) on --cctalk, or as "
        "an MDB level 3 coin changer (08H) on --mdb, deciding the coins of --sensor: a "
        "sensor-link port, 'sim', or replay:FILE.jsonl.",
    )
    _command(
        sub,
        "run",
        "coinval_cli.run:run_run",
        "coinval_cli.run:add_run_arguments",
        help="everything on pseudo-terminals: engine, simulated head, virtual parking machine",
        description="Teach a simulated head on first use, then run the engine between a "
        "simulated sensor head and a virtual parking machine until Ctrl-C (or --coins N).",
    )
    _command(
        sub,
        "demo",
        "coinval_cli.demo:run_demo",
        "coinval_cli.demo:add_demo_arguments",
        help="end to end on the simulator: teach, then decide a live stream of coins",
    )
    _command(
        sub,
        "api",
        "coinval_cli.api:run_api",
        "coinval_cli.api:add_api_arguments",
        help="the calibration service: teach, inspect, inhibit, roll back over HTTP",
        description="Serve the operator HTTP API (FastAPI + uvicorn) on a SQLite store.",
    )
    _command(
        sub,
        "central",
        "coinval_cli.central:run_central",
        "coinval_cli.central:add_central_arguments",
        help="a fleet's central calibration service on a local PostgreSQL, in one command",
        description="Make (first use) and start a PostgreSQL cluster under --dir, serve the "
        "calibration API on it with --workers processes until Ctrl-C, then stop the cluster. "
        "Acceptors report to it with coinval serve --central URL.",
    )
    _command(
        sub,
        "evaluate",
        "coinval_cli.evaluate:run_evaluate",
        "coinval_cli.evaluate:add_evaluate_arguments",
        help="accuracy: teach on one simulated head and batch, test on others",
    )

    bench = sub.add_parser("bench", help="benchmarks: accuracy, speed and the reports")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, parser_class=_Parser)
    _command(
        bench_sub,
        "accuracy",
        "coinval_cli.bench.accuracy:run_bench_accuracy",
        "coinval_cli.bench.accuracy:add_bench_accuracy_arguments",
        help="accuracy and speed of coinval and baselines on the same simulated coins",
    )
    _command(
        bench_sub,
        "probe",
        "coinval_cli.bench.probe:run_probe",
        "coinval_cli.bench.probe:add_probe_arguments",
        help="counterfeits the simulator does not list, decided by a taught engine",
    )
    _command(
        bench_sub,
        "ceiling",
        "coinval_cli.bench.ceiling:run_ceiling",
        "coinval_cli.bench.ceiling:add_ceiling_arguments",
        help="what the signatures allow: learners that have seen the fakes (scikit-learn)",
    )
    _command(
        bench_sub,
        "heads",
        "coinval_cli.bench.heads:run_bench_heads",
        "coinval_cli.bench.heads:add_heads_arguments",
        help="the accuracy trial on many simulated heads, in one table",
    )
    _command(
        bench_sub,
        "speed",
        "coinval_cli.bench.reports:run_speed",
        "coinval_cli.bench.reports:add_speed_arguments",
        help="every benchmark of a pytest-benchmark JSON file as a Markdown table",
    )
    _command(
        bench_sub,
        "scaling",
        "coinval_cli.bench.reports:run_scaling",
        "coinval_cli.bench.reports:add_scaling_arguments",
        help="decision cost against batch size and trace length: scaling.md and scaling.png",
    )
    _command(
        bench_sub,
        "summary",
        "coinval_cli.bench.summary:run_summary",
        "coinval_cli.bench.summary:add_summary_arguments",
        help="each goal, its target and what make bench measured: summary.md",
    )

    _command(
        sub,
        "plot",
        "coinval_cli.plot:run_plot",
        "coinval_cli.plot:add_plot_arguments",
        help="draw taught acceptance boxes in two features with signatures over them",
        description="Draw each taught coin's acceptance box (at its mean teach temperature) in "
        "two features, scatter the signatures of --input over it coloured by decision, and "
        "write a PNG (needs matplotlib).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coinval`` console script."""
    # Before numpy loads: our matrices are 18 x 18, and classify and serve bring
    # their own workers; BLAS threads would only cost start-up and compete.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = cast(Handler, resolve(args.handler))
        return handler(args)
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
