"""``coinval serve``: the engine as a coin acceptor on a port, fed by a sensor source.

The machine's bus is ``--cctalk PORT`` (a parking machine: a ccTalk coin
acceptor) or ``--mdb PORT`` (a vending machine: an MDB level 3 coin changer),
exactly one of them.  Lines are opened by URL: a device path
(``/dev/ttyUSB0``), a pyserial URL (``socket://...``), or the simulated
hardware's ``simhead://``, ``simhost://`` and ``simvmc://``.  MDB words go two
bytes each (``docs/mdb.md`` 5.2: pseudo-terminals, USB adapters that cannot
send a ninth bit, simulators) unless ``--mdb-9bit`` asks for a real 9-bit UART
(mark/space parity, PARMRK).  ``--sensor sim`` is the
simulated sensor board ``simhead://A`` with ``--seed`` and ``--coins-per-s``,
on a real pseudo-terminal, so the bridge runs the code it runs on a real line.

Logs go to stderr, one line per coin: decision, ccTalk event, running
credits.  Bad profile, port or ``--sensor`` value: exit 2.  With ``--api``
the calibration service runs in the process (:mod:`coinval_cli.live_calibration`).
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from coinval_cli.acceptor_setup import (
    add_timing_arguments,
    decision_moment,
    load_profile,
    ready_engine,
    runtime_config,
)
from coinval_cli.argtypes import positive_float
from coinval_cli.central_link import CentralLink, add_central_arguments, start_central
from coinval_cli.console import logs_to_stderr, stop_on_signals
from coinval_cli.errors import UsageError
from coinval_cli.live_calibration import (
    LiveCalibration,
    add_calibration_arguments,
    start_calibration,
)
from coinval_cli.simulated_hardware import head_url, register_url_handlers

if TYPE_CHECKING:
    import datetime as dt

    from coinval.decision import Decision
    from coinval.profile import Profile
    from coinval.signature import Signature
    from firmware_bridge.runtime.loop import CoinLoop
    from firmware_bridge.sources import SensorSpec

__all__ = ["add_serve_arguments", "run_serve"]

log = logging.getLogger("firmware_bridge.runtime")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval serve``."""
    parser.add_argument("--profile", required=True, metavar="PROFILE.json")
    bus = parser.add_mutually_exclusive_group(required=True)
    bus.add_argument(
        "--cctalk",
        metavar="PORT",
        help="ccTalk port (a parking machine): device path (/dev/ttyUSB0, /dev/pts/7) or URL "
        "(socket://..., simhost:// for a virtual parking machine)",
    )
    bus.add_argument(
        "--mdb",
        metavar="PORT",
        help="MDB port (a vending machine; the engine is coin changer 08H): device path or "
        "URL (simvmc:// for a virtual vending machine); words as two bytes each unless "
        "--mdb-9bit",
    )
    parser.add_argument(
        "--cctalk-echo",
        action="store_true",
        help="write each byte received on --cctalk straight back, as a single-wire ccTalk "
        "bus does, for hosts that read their own request back on a two-wire line or pty",
    )
    parser.add_argument(
        "--mdb-9bit",
        action="store_true",
        help="--mdb is a real 9-bit UART: the mode bit as mark/space parity, received "
        "with PARMRK (Linux); default: two bytes per word, for ptys and simulators",
    )
    parser.add_argument(
        "--sensor",
        required=True,
        metavar="SOURCE",
        help="sensor-link port (path or URL, simhead://A?seed=N for a simulated board), "
        "'sim', or replay:FILE.jsonl",
    )
    parser.add_argument(
        "--coins-per-s",
        type=positive_float,
        default=2.0,
        metavar="R",
        help="coins per second for replay: and sim (default 2)",
    )
    parser.add_argument(
        "--at",
        metavar="ISO_DATETIME",
        help="moment every coin is decided for (legal-tender dates; default: now)",
    )
    add_timing_arguments(parser)
    add_calibration_arguments(parser)
    add_central_arguments(parser)


@logs_to_stderr
def run_serve(args: argparse.Namespace) -> int:
    """``coinval serve``: the coin acceptor on a ccTalk or MDB port, fed by a sensor source."""
    from firmware_bridge.sources import SourceError, parse_sensor_spec

    _check_bus_flags(args)
    profile = load_profile(args.profile)
    at = decision_moment(args)
    try:
        spec = parse_sensor_spec(args.sensor)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    if args.api is not None:
        _check_before_the_store(args, spec)
    calibration = start_calibration(args, profile)
    served = calibration.profile if calibration else profile
    try:
        central, served = start_central(args, served, follow_config=calibration is None)
        try:
            return _serve(args, served, at, spec, calibration, central)
        finally:
            if central is not None:
                central.close()
    finally:
        if calibration is not None:
            calibration.close()


def _decided_hook(
    calibration: LiveCalibration | None, central: CentralLink | None
) -> Callable[[Signature, Decision], None] | None:
    """Each decided coin to the local recorder (``--api``) and the outbox (``--central``)."""
    hooks = [
        hook
        for hook in (
            calibration and calibration.recorder.submit,
            central and central.reporter.submit,
        )
        if hook
    ]
    if len(hooks) < 2:
        return hooks[0] if hooks else None

    def both(signature: Signature, decision: Decision) -> None:
        for hook in hooks:
            hook(signature, decision)

    return both


def _check_bus_flags(args: argparse.Namespace) -> None:
    """A bus's own flag without that bus is a mistake, said before anything is opened."""
    if args.cctalk_echo and args.cctalk is None:
        raise UsageError("--cctalk-echo goes with --cctalk (MDB has no echo)")
    if args.mdb_9bit and args.mdb is None:
        raise UsageError("--mdb-9bit goes with --mdb")


def _check_before_the_store(args: argparse.Namespace, spec: SensorSpec) -> None:
    """With ``--api``: what would fail after the store is made, checked before it is.

    The store's path, the API's port (a bind test), and the files and device
    paths named (a URL is only known good once opened): a mistake in one is
    exit 2 without a store file created or a first admin key printed for it.
    """
    import os

    from pydantic import ValidationError

    from calibration.settings import Settings
    from coinval_cli.api import bind_listener, check_store
    from coinval_cli.live_calibration import parse_api_address

    host, port = parse_api_address(args.api)
    named = [("--cctalk", args.cctalk) if args.cctalk is not None else ("--mdb", args.mdb)]
    if spec.kind in ("port", "replay"):
        named.append(("--sensor", spec.target))
    for flag, path in named:
        if "://" not in path and not os.path.exists(path):
            raise UsageError(f"{flag} {path}: no such file or device")
    try:
        db = Settings(**({"db": args.db} if args.db else {})).db
    except ValidationError:
        return  # start_calibration says what is wrong, before it opens anything
    check_store(db)  # a PostgreSQL URL is reached only when the store is opened
    # Closed at once: the service binds it itself (a port taken in between is still exit 2).
    bind_listener(host, port).close()


def _serve(
    args: argparse.Namespace,
    profile: Profile,
    at: Callable[[], dt.datetime] | None,
    spec: SensorSpec,
    calibration: LiveCalibration | None,
    central: CentralLink | None = None,
) -> int:
    """The coin loop of ``serve`` on ``profile`` (the calibration service already running)."""
    from firmware_bridge.runtime.loop import MdbRuntime, Runtime
    from firmware_bridge.sources import ReplaySource, SensorLinkSource, SensorSource, SourceError
    from firmware_bridge.transport.managed_line import PortOpenError

    register_url_handlers()
    engine = ready_engine(profile)
    on_decided = _decided_hook(calibration, central)
    runtime: CoinLoop | None = None
    source: SensorSource
    if spec.kind == "replay":
        source = ReplaySource(
            spec.target,
            args.coins_per_s,
            ready=lambda: runtime is not None and runtime.acceptor_enabled(),
        )
    elif spec.kind == "sim":
        source = SensorLinkSource(head_url(args.seed, args.coins_per_s))
    else:
        source = SensorLinkSource(spec.target)
    if args.mdb is not None:
        runtime = MdbRuntime(
            coins=profile.coins,
            decider=engine,
            source=source,
            mdb_url=args.mdb,
            nine_bit=args.mdb_9bit,
            at=at,
            config=runtime_config(args),
            on_decided=on_decided,
        )
    else:
        cctalk = Runtime(
            coins=profile.coins,
            decider=engine,
            source=source,
            cctalk_url=args.cctalk,
            at=at,
            config=runtime_config(args),
            on_decided=on_decided,
        )
        cctalk.cctalk.echo = args.cctalk_echo
        runtime = cctalk
    if calibration is not None:
        calibration.follow(runtime)
    if central is not None:
        from coinval.engine import Engine

        loop = runtime
        central.follow(lambda p, label: loop.use(Engine(p), p.coins, label))
    stop = threading.Event()
    # The handlers go in before the ports open: open() announces the acceptor, and a
    # SIGTERM sent on that line must stop it cleanly, not kill it.
    with stop_on_signals(stop):
        try:
            runtime.open()
        except (PortOpenError, SourceError) as exc:
            raise UsageError(str(exc)) from None
        try:
            totals = runtime.run(stop)
        finally:
            runtime.close()
    log.info("stopped: %s", totals.describe())
    return 0
