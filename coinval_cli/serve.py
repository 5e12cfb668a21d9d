"""``coinval serve``, ``coinval run``, ``coinval sim head`` and ``coinval sim host``.

The composition root of the serial bridge: the only place where the engine
(``coinval.engine``), the bridge (``firmware_bridge``) and the simulator
(``sim``) meet.  ``--sensor sim`` and ``coinval run`` connect the simulated
hardware through real pseudo-terminals (``os.openpty``), so the bridge runs the
same code it runs on ``/dev/ttyUSB0``.

Logs go to stderr (one line per coin in ``serve``: decision, ccTalk event,
running credits); ``run`` and ``sim host``/``sim head`` print their live
stream on stdout.  Bad profile, port or ``--sensor`` value: exit 2.

``--api [HOST:]PORT`` (serve and run) also starts the calibration service on
its store (``--db``) inside the process: the engine serves the head's active
profile from the store (importing ``--profile`` when the head has none), every
coin is recorded, and operators' changes reach the engine before the next coin.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar

from coinval_cli.argtypes import positive_float, positive_int
from coinval_cli.errors import UsageError
from sim.coins import TAUGHT_COINS
from sim.heads import DEFAULT_HEAD

if TYPE_CHECKING:
    import datetime as dt

    from calibration.hooks import ActiveConfig
    from calibration.live import ConfigFollower, DecisionRecorder
    from calibration.service import ApiServer
    from coinval.engine import Engine
    from coinval.profile import Profile
    from firmware_bridge.runtime.loop import Runtime

#: Where ``coinval run`` keeps the profile it teaches on first use.
RUN_TEACH_BATCHES = (0, 6, 7, 8)
DEFAULT_RUN_PROFILE = Path(".coinval/profile.json")


# ------------------------------------------------------------------ arguments


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval serve`` (spec section 5, plus tuning)."""
    parser.add_argument("--profile", required=True, metavar="PROFILE.json")
    parser.add_argument(
        "--cctalk",
        required=True,
        metavar="PORT",
        help="ccTalk port: device path (/dev/ttyUSB0, /dev/pts/7) or pyserial URL",
    )
    parser.add_argument(
        "--sensor",
        required=True,
        metavar="SOURCE",
        help="sensor-link port (path or URL), 'sim', or replay:FILE.jsonl",
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
    _add_timing_arguments(parser)
    _add_calibration_arguments(parser)


def _add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        metavar="[HOST:]PORT",
        help="also run the calibration service (HTTP) in this process, on HOST "
        "(default 127.0.0.1: loopback only) and PORT",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="the calibration store, with --api (default $COINVAL_DB or coinval.db)",
    )


def _add_timing_arguments(parser: argparse.ArgumentParser) -> None:
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


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval run``."""
    parser.add_argument(
        "--profile",
        metavar="PROFILE.json",
        help=f"profile to serve (default {DEFAULT_RUN_PROFILE}, taught on first run)",
    )
    parser.add_argument("--coins", type=positive_int, help="stop after this many coins")
    parser.add_argument(
        "--coins-per-s", type=positive_float, default=2.0, metavar="R", help="default 2"
    )
    parser.add_argument("--at", metavar="ISO_DATETIME", help="decide coins for this moment")
    _add_timing_arguments(parser)
    _add_calibration_arguments(parser)


def add_sim_head_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval sim head``."""
    parser.add_argument("--port", required=True, metavar="URL", help="sensor-link port")
    parser.add_argument("--coins-per-s", type=positive_float, default=2.0, metavar="R")
    parser.add_argument("--coins", type=positive_int, help="stop after this many coins")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", default=DEFAULT_HEAD, help="simulated sensor head (default A)")


def add_sim_host_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval sim host``."""
    parser.add_argument("--cctalk", required=True, metavar="PORT", help="ccTalk port")
    parser.add_argument(
        "--poll-ms", type=positive_float, default=200.0, help="229 poll period (default 200)"
    )


# -------------------------------------------------------------------- helpers


class _ShortNames(logging.Filter):
    _LABELS: ClassVar[dict[str, str]] = {
        "firmware_bridge.runtime": "engine",
        "firmware_bridge.cctalk": "cctalk",
        "firmware_bridge.sources": "sensor",
        "firmware_bridge.ports": "ports",
        "sim.virtual_head": "head",
        "sim.virtual_host": "host",
        "calibration.live": "calib",
        "coinval_cli.serve": "calib",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        record.short = self._LABELS.get(record.name, record.name)
        return True


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Log to stderr for the duration of one command, then put things back."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ShortNames())
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d %(short)-6s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


Command = Callable[[argparse.Namespace], int]


def _logs_to_stderr(command: Command) -> Command:
    @functools.wraps(command)
    def wrapper(args: argparse.Namespace) -> int:
        with _logging(bool(getattr(args, "verbose", False))):
            return command(args)

    return wrapper


def _load_profile(path: str) -> Profile:
    from coinval.profile import ProfileError, load

    try:
        profile = load(path)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    return profile


def _moment(args: argparse.Namespace) -> Callable[[], dt.datetime] | None:
    from coinval.legal_tender import parse_moment

    if not args.at:
        return None
    try:
        fixed = parse_moment(args.at)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return lambda: fixed


def _warm_up(engine: Engine) -> None:
    """Decide one synthetic coin so the first real one meets its deadline."""
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


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (the coin in flight finishes); restored afterwards."""

    def handler(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("firmware_bridge.runtime").info(
            "%s received: finishing the coin in flight", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class _Pty:
    """A pseudo-terminal pair in raw mode: ``path`` for the bridge, ``master`` for the sim."""

    master: int
    slave: int
    path: str

    @classmethod
    def open(cls) -> _Pty:
        master, slave = os.openpty()
        # Raw from the start: no echo, no line editing, 8-bit clean, before any byte flows.
        tty.setraw(slave)
        return cls(master, slave, os.ttyname(slave))

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    def guarded() -> None:
        try:
            target()
        except Exception as exc:
            logger = logging.getLogger(name)
            logger.error("%s stopped: %s: %s", name, type(exc).__name__, exc)
            logger.debug("traceback", exc_info=True)

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    return thread


# -------------------------------------------------------- calibration service

_calib_log = logging.getLogger("coinval_cli.serve")


def parse_api_address(text: str) -> tuple[str, int]:
    """``--api``: ``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; loopback by default.

    Port 0 takes a free port (the log says which).
    """
    host, sep, port_text = text.strip().rpartition(":")
    host = (host if sep else "").strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--api: expected [HOST:]PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--api: port must be 0-65535, got {port}")
    return host, port


def describe_config(config: ActiveConfig) -> str:
    """``head A profile version 2 (id 5); inhibited: gb-200-1997``: for the log."""
    profile = config.profile
    parts = [f"head {config.head} profile version {config.version} (id {config.profile_id})"]
    if config.master_inhibit:
        parts.append("master inhibit on")
    elif profile.inhibited:
        parts.append("inhibited: " + ", ".join(sorted(profile.inhibited)))
    if profile.legal_tender_override:
        overrides = sorted(profile.legal_tender_override.items())
        parts.append(
            "legal tender: "
            + ", ".join(f"{coin} {'always' if on else 'never'}" for coin, on in overrides)
        )
    return "; ".join(parts)


@dataclass
class _Calibration:
    """The calibration service inside ``serve``/``run``: store, HTTP API, recorder, follower."""

    service: Any  # calibration.service.CalibrationService
    config: ActiveConfig
    api: ApiServer
    recorder: DecisionRecorder
    follower: ConfigFollower | None = None

    @property
    def profile(self) -> Profile:
        """The profile to serve at start (the store's, settings applied)."""
        return self.config.profile

    def follow(self, runtime: Runtime, announce: Callable[[str], None] | None = None) -> None:
        """From now on, each new config of the head swaps the runtime's engine.

        ``announce`` also gets each new config's description (``run`` prints it).
        """
        from calibration.live import ConfigFollower
        from coinval.engine import Engine

        def on_config(config: ActiveConfig) -> None:
            label = describe_config(config)
            runtime.use(Engine(config.profile), config.profile.coins, label)
            if announce is not None:
                announce(label)

        self.follower = ConfigFollower(
            self.service, self.config.head, on_config, revision=self.config.revision
        )

    def close(self) -> None:
        """Stop following, record what is queued, stop the API."""
        if self.follower is not None:
            self.follower.close()
        self.recorder.close()
        self.api.stop()
        counts = self.recorder.counts
        _calib_log.info(
            "calibration: %d decision(s) recorded, %d fed to live teach sessions%s",
            counts.recorded,
            counts.fed_live,
            f", {counts.dropped + counts.failed} NOT recorded"
            if counts.dropped + counts.failed
            else "",
        )


def _start_calibration(args: argparse.Namespace, profile: Profile) -> _Calibration | None:
    """``--api``: open the store, settle the head's profile, serve HTTP; None without it."""
    if args.api is None:
        if args.db is not None:
            raise UsageError("--db goes with --api (the calibration service's store)")
        return None
    host, port = parse_api_address(args.api)
    from pydantic import ValidationError

    from calibration.errors import CalibrationError
    from calibration.live import DecisionRecorder
    from calibration.service import CalibrationService
    from calibration.settings import Settings

    try:
        settings = Settings(**({"db": args.db} if args.db else {}))
    except ValidationError as exc:
        raise UsageError(f"bad calibration setting: {exc.errors()[0]['msg']}") from None
    try:
        service = CalibrationService.open(settings)
    except (OSError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot open the calibration store {settings.db!r}: {exc}") from None
    try:
        config, imported = service.adopt(profile, note="imported by coinval serve at start")
    except CalibrationError as exc:
        raise UsageError(f"calibration store {settings.db!r}: {exc.message}") from None
    where = f"store {os.path.abspath(settings.db)}"
    if imported:
        _calib_log.info(
            "%s: head %s had no active profile: imported the --profile file as version %d "
            "and activated it",
            where,
            config.head,
            config.version,
        )
    else:
        _calib_log.info(
            "%s: head %s has an active profile: serving it (version %d, id %d), "
            "not the --profile file",
            where,
            config.head,
            config.version,
            config.profile_id,
        )
    _calib_log.info("serving %s", describe_config(config))
    if not 1 <= len(config.profile.coins) <= 16:
        raise UsageError(f"the active profile has {len(config.profile.coins)} coins: 1 to 16 fit")
    try:
        api = service.start_api(host, port)
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"cannot serve the calibration API on {host}:{port}: {exc}") from None
    _calib_log.info(
        "calibration API on http://%s:%d (docs at /docs); every coin is recorded",
        f"[{host}]" if ":" in host else host,
        api.port,
    )
    return _Calibration(service, config, api, DecisionRecorder(service, config.head))


# ---------------------------------------------------------------------- serve


@dataclass
class _SimHead:
    """The simulated head of ``--sensor sim``: a VirtualHead on a pty master."""

    pty: _Pty
    head: Any
    stop: threading.Event
    thread: threading.Thread | None = None

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=2.0)
        self.pty.close()


def _start_sim_head(
    rate: float,
    seed: int,
    *,
    max_coins: int | None = None,
    on_record: Callable[[Any], None] | None = None,
) -> _SimHead:
    from firmware_bridge.transport.fd_port import FdPort
    from sim.scenario import street_mix
    from sim.virtual_head import VirtualHead

    pty = _Pty.open()
    head = VirtualHead(
        FdPort(pty.master),
        street_mix(seed=seed, head=DEFAULT_HEAD),
        coins_per_s=rate,
        max_coins=max_coins,
        head_id=f"SIM-{DEFAULT_HEAD}",
        wait_for_engine=True,  # the bridge opens its end after this, and says Hello
        on_record=on_record,
        seed=seed,
    )
    sim = _SimHead(pty, head, threading.Event())
    sim.thread = _thread(lambda: head.run(sim.stop), "sim.virtual_head")
    return sim


@_logs_to_stderr
def run_serve(args: argparse.Namespace) -> int:
    """``coinval serve``: the coin acceptor on a ccTalk port, fed by a sensor source."""
    from firmware_bridge.sources import SourceError, parse_sensor_spec

    profile = _load_profile(args.profile)
    at = _moment(args)
    try:
        spec = parse_sensor_spec(args.sensor)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    calibration = _start_calibration(args, profile)
    try:
        return _serve(args, calibration.profile if calibration else profile, at, spec, calibration)
    finally:
        if calibration is not None:
            calibration.close()


def _serve(
    args: argparse.Namespace,
    profile: Profile,
    at: Callable[[], dt.datetime] | None,
    spec: Any,
    calibration: _Calibration | None,
) -> int:
    """The coin loop of ``serve`` on ``profile`` (the calibration service already running)."""
    from coinval.engine import Engine
    from coinval_cli.api import settle_heap
    from firmware_bridge.runtime.loop import Runtime, RuntimeConfig
    from firmware_bridge.sources import (
        ReplaySource,
        SensorLinkSource,
        SensorSource,
        SourceError,
    )
    from firmware_bridge.transport.managed_line import PortOpenError

    engine = Engine(profile)
    _warm_up(engine)
    # A full garbage collection walking every long-lived object (numpy, scipy,
    # and with --api the whole web app) held the interpreter for 50 ms and more:
    # longer than the gate's budget.  Freeze them now that all is loaded.
    settle_heap()
    # Hand the interpreter to the ccTalk thread sooner while a coin is being
    # decided (default 5 ms): replies should leave within a few milliseconds.
    sys.setswitchinterval(0.001)
    config = RuntimeConfig(
        decision_deadline_s=args.deadline_ms / 1000, credit_timeout_s=args.credit_timeout_ms / 1000
    )
    sim: _SimHead | None = None
    runtime: Runtime | None = None
    source: SensorSource
    if spec.kind == "replay":
        source = ReplaySource(
            spec.target,
            args.coins_per_s,
            ready=lambda: runtime is not None and runtime.acceptor_enabled(),
        )
    elif spec.kind == "sim":
        sim = _start_sim_head(args.coins_per_s, args.seed)
        source = SensorLinkSource(sim.pty.path)
        logging.getLogger("firmware_bridge.sources").info(
            "simulated sensor head on %s (pseudo-terminal)", sim.pty.path
        )
    else:
        source = SensorLinkSource(spec.target)
    runtime = Runtime(
        coins=profile.coins,
        decider=engine,
        source=source,
        cctalk_url=args.cctalk,
        at=at,
        config=config,
        on_decided=calibration.recorder.submit if calibration else None,
    )
    if calibration is not None:
        calibration.follow(runtime)
    stop = threading.Event()
    try:
        try:
            runtime.open()
        except (PortOpenError, SourceError) as exc:
            raise UsageError(str(exc)) from None
        with _stop_on_signals(stop):
            totals = runtime.run(stop)
        runtime.close()
        logging.getLogger("firmware_bridge.runtime").info("stopped: %s", totals.describe())
    finally:
        if sim is not None:
            sim.close()
    return 0


# ---------------------------------------------------------------------- sim


@_logs_to_stderr
def run_sim_head(args: argparse.Namespace) -> int:
    """``coinval sim head``: a simulated sensor board on a sensor-link port."""
    from firmware_bridge.transport.ports import SENSOR_LINK_LINE, open_port
    from sim.scenario import street_mix
    from sim.virtual_head import HeadRecord, VirtualHead

    try:
        port = open_port(args.port, SENSOR_LINK_LINE)
    except Exception as exc:
        raise UsageError(f"cannot open the sensor-link port {args.port!r}: {exc}") from None

    def show(record: HeadRecord) -> None:
        print(_head_line(record), flush=True)

    try:
        head = VirtualHead(
            port,
            street_mix(seed=args.seed, head=args.head),
            coins_per_s=args.coins_per_s,
            max_coins=args.coins,
            head_id=f"SIM-{args.head}",
            on_record=show,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    stop = threading.Event()
    print(f"virtual sensor head {head.head_id} on {args.port}; Ctrl-C stops", flush=True)
    try:
        with _stop_on_signals(stop):
            head.run(stop)
    finally:
        port.close()
    return 0


def _head_line(record: Any) -> str:
    coin = record.coin
    extra = "" if coin.behaviour.value == "normal" else f", {coin.behaviour.value}"
    return (
        f"  in  #{coin.index + 1:<4} {coin.kind:<26} ({coin.note}{extra}) "
        f"coin {record.coin_seq}: gate {record.gate} -> {record.outcome}"
    )


@_logs_to_stderr
def run_sim_host(args: argparse.Namespace) -> int:
    """``coinval sim host``: a virtual parking machine polling a coin acceptor."""
    from firmware_bridge.transport.cctalk_serial import CcTalkClient
    from firmware_bridge.transport.ports import CCTALK_LINE, open_port
    from sim.virtual_host import HostEvent, VirtualHost, pounds

    try:
        port = open_port(args.cctalk, CCTALK_LINE)
    except Exception as exc:
        raise UsageError(f"cannot open the ccTalk port {args.cctalk!r}: {exc}") from None

    def show(event: HostEvent) -> None:
        print(f" out  {event.describe()}", flush=True)

    client = CcTalkClient(port)
    host = VirtualHost(client, poll_interval_s=args.poll_ms / 1000, on_event=show)
    stop = threading.Event()
    print(f"virtual parking machine on {args.cctalk}; Ctrl-C stops", flush=True)
    try:
        with _stop_on_signals(stop):
            host.run(stop)
    finally:
        port.close()
    print(f"total credited {pounds(host.total_pence)}", flush=True)
    return 0


# ------------------------------------------------------------------------ run


def _run_profile(args: argparse.Namespace) -> Profile:
    if args.profile:
        return _load_profile(args.profile)
    if DEFAULT_RUN_PROFILE.exists():
        from coinval.profile import ProfileError, load

        try:
            return load(DEFAULT_RUN_PROFILE)
        except ProfileError as exc:
            # Our own file, from an earlier coinval: teach it again rather than stop.
            print(f"{exc}; teaching the simulated head again", flush=True)
    from coinval.teach import teach
    from sim.population import generate

    print(
        f"first run: teaching simulated head {DEFAULT_HEAD} on 40 circulated genuine coins "
        f"of each type from batches {', '.join(map(str, RUN_TEACH_BATCHES))} "
        f"-> {DEFAULT_RUN_PROFILE}",
        flush=True,
    )
    # Coins from circulation (several batches, some wear and dirt), as an operator
    # teaches in the field; the simulated head then inserts coins of other batches.
    share = 40 // len(RUN_TEACH_BATCHES)
    samples = {
        c: [
            sig
            for b in RUN_TEACH_BATCHES
            for sig in generate(
                c, share, head=DEFAULT_HEAD, seed=1 + b, batch=b, wear=0.5, dirt=0.5
            ).signatures()
        ]
        for c in TAUGHT_COINS
    }
    profile, _ = teach(samples, head=f"SIM-{DEFAULT_HEAD}")
    DEFAULT_RUN_PROFILE.parent.mkdir(parents=True, exist_ok=True)
    profile.save(DEFAULT_RUN_PROFILE)
    return profile


@_logs_to_stderr
def run_run(args: argparse.Namespace) -> int:
    """``coinval run``: engine, virtual head and virtual parking machine on pseudo-terminals."""
    logging.getLogger("firmware_bridge.runtime").setLevel(logging.WARNING)  # shown on stdout
    profile = _run_profile(args)
    at = _moment(args)
    calibration = _start_calibration(args, profile)
    try:
        return _run(args, calibration.profile if calibration else profile, at, calibration)
    finally:
        if calibration is not None:
            calibration.close()


def _run(
    args: argparse.Namespace,
    profile: Profile,
    at: Callable[[], dt.datetime] | None,
    calibration: _Calibration | None,
) -> int:
    """The whole system of ``coinval run`` on ``profile``."""
    from coinval.engine import Engine
    from coinval_cli.api import settle_heap
    from firmware_bridge.runtime.loop import Runtime, RuntimeConfig
    from firmware_bridge.runtime.money import CoinOutcome, MoneyTotals, describe_outcome
    from firmware_bridge.sources import SensorLinkSource
    from firmware_bridge.transport.cctalk_serial import CcTalkClient
    from firmware_bridge.transport.fd_port import FdPort
    from sim.virtual_host import VirtualHost, pounds

    engine = Engine(profile)
    _warm_up(engine)
    # A full garbage collection walking every long-lived object (numpy, scipy,
    # and with --api the whole web app) held the interpreter for 50 ms and more:
    # longer than the gate's budget.  Freeze them now that all is loaded.
    settle_heap()
    sys.setswitchinterval(0.001)  # as in serve: prompt ccTalk replies
    say_lock = threading.Lock()

    def say(line: str) -> None:
        with say_lock:
            print(line, flush=True)

    bus = _Pty.open()
    sim = _start_sim_head(
        args.coins_per_s,
        args.seed,
        max_coins=args.coins,
        on_record=lambda record: say(_head_line(record)),
    )

    def outcome(o: CoinOutcome, totals: MoneyTotals) -> None:
        say(f"      {describe_outcome(o, totals)}")

    runtime = Runtime(
        coins=profile.coins,
        decider=engine,
        source=SensorLinkSource(sim.pty.path),
        cctalk_url=bus.path,
        at=at,
        config=RuntimeConfig(
            decision_deadline_s=args.deadline_ms / 1000,
            credit_timeout_s=args.credit_timeout_ms / 1000,
        ),
        on_outcome=outcome,
        on_decided=calibration.recorder.submit if calibration else None,
    )
    if calibration is not None:
        calibration.follow(runtime, announce=lambda text: say(f"  api  engine now uses {text}"))
    host = VirtualHost(
        CcTalkClient(FdPort(bus.master)),
        on_event=lambda e: say(f" out  {e.describe()}"),
    )
    host_stop = threading.Event()
    say(
        "coinval run: the engine is a ccTalk coin acceptor on a pseudo-terminal, fed by a "
        "simulated sensor head\n"
        f"  ccTalk bus:  engine on {bus.path}, virtual parking machine on its master end\n"
        f"  sensor link: engine on {sim.pty.path}, virtual sensor head on its master end\n"
        f"  taught coins: {', '.join(profile.coins)}\n"
        "  on a real machine: coinval serve --profile "
        f"{args.profile or DEFAULT_RUN_PROFILE} --cctalk /dev/ttyUSB0 --sensor sim\n"
        "  Ctrl-C stops.\n"
    )
    stop = threading.Event()
    host_thread: threading.Thread | None = None
    started = time.monotonic()
    limit_s = None if args.coins is None else 15.0 + 3.0 * args.coins / args.coins_per_s

    def done() -> bool:
        if args.coins is None:
            return False
        if limit_s is not None and time.monotonic() - started > limit_s:
            say("      (time limit reached before every coin was settled)")
            return True
        return sim.head.finished and len(host.coin_events) >= runtime.money.totals.coins >= (
            args.coins
        )

    try:
        runtime.open()
        host_thread = _thread(lambda: host.run(host_stop), "sim.virtual_host")
        with _stop_on_signals(stop):
            totals = runtime.run(stop, until=done)
    finally:
        host_stop.set()
        if host_thread is not None:
            host_thread.join(timeout=2.0)
        runtime.close()
        sim.close()
        bus.close()
    taken = sum(1 for record in sim.head.ledger if record.taken)
    host_credits = len(host.credits)
    ok = taken == totals.credits == host_credits and host.total_pence == totals.value_pence
    say(
        f"\n{sim.head.inserted} coins inserted; {taken} went into the cash box; "
        f"engine credited {totals.credits} ({totals.pounds()}); "
        f"parking machine read {host_credits} credits ({pounds(host.total_pence)}), "
        f"{len(host.errors)} errors"
    )
    say(f"money check: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1
