"""``coinval run``: the whole system in one process, the simulated hardware on pseudo-terminals.

The engine is a ccTalk coin acceptor between a simulated sensor board
(``simhead://``) and a virtual parking machine (``simhost://``), both opened
by URL through the bridge's one port opener, each on a real pseudo-terminal
whose master end its simulation serves.  On stdout (``coinval_cli.run_display``):
a legend, then one line per coin (what it really was, what the engine
decided, what the parking machine credited, why), a running total every ten
coins, and at the end a summary and the money check: the coins that went into
the cash box, the credits the engine reported and the credits the parking
machine read must all agree.

With ``--mdb`` the machine is a vending machine instead: the engine is an MDB
coin changer and a virtual VMC (``simvmc://``) resets it, reads SETUP,
enables every coin type and POLLs; a coin returned is told nothing on MDB, so
its line is final at once, and the money check is cash box = credits the
changer reported = credits the VMC gave.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coinval_cli.acceptor_setup import (
    add_timing_arguments,
    decision_moment,
    load_profile,
    ready_engine,
    runtime_config,
)
from coinval_cli.argtypes import positive_float, positive_int
from coinval_cli.console import logs_to_stderr, stop_on_signals
from coinval_cli.errors import UsageError
from coinval_cli.live_calibration import (
    LiveCalibration,
    parse_api_address,
    start_calibration,
)
from coinval_cli.simulated_hardware import head_url, register_url_handlers
from sim.coins import TAUGHT_COINS
from sim.heads import DEFAULT_HEAD

if TYPE_CHECKING:
    import datetime as dt

    from coinval.profile import Profile
    from coinval_cli.run_display import RunDisplay, Truth
    from firmware_bridge.cctalk.credit_buffer import BufferedEvent
    from firmware_bridge.mdb.messages import PollItem
    from firmware_bridge.runtime.loop import CoinLoop, MdbRuntime
    from firmware_bridge.runtime.money import MoneyTotals
    from firmware_bridge.transport.mdb_serial import WordPort
    from firmware_bridge.transport.ports import SerialPort
    from sim.virtual_head import VirtualHead
    from sim.virtual_host import HostEvent, VirtualHost
    from sim.vmc import VirtualVmc

__all__ = ["DEFAULT_RUN_PROFILE", "RUN_TEACH_BATCHES", "add_run_arguments", "run_run"]

#: Mint batches the first run teaches from (circulation: several batches).
RUN_TEACH_BATCHES = (0, 6, 7, 8)
#: Where ``coinval run`` keeps the profile it teaches on first use.
DEFAULT_RUN_PROFILE = Path(".coinval/profile.json")
#: The operator API and its store that ``coinval run`` starts unless ``--no-api``.
DEFAULT_RUN_API = "127.0.0.1:8000"
DEFAULT_RUN_STORE = Path(".coinval/coinval.db")
#: The virtual parking machine (it polls 229 every 200 ms).
HOST_URL = "simhost://"
#: The virtual vending machine of ``--mdb`` (it POLLs every 100 ms).
VMC_URL = "simvmc://"


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
    parser.add_argument(
        "--mdb",
        action="store_true",
        help="a vending machine: the engine as an MDB coin changer polled by a virtual VMC "
        f"({VMC_URL}) instead of a ccTalk acceptor in a parking machine",
    )
    add_timing_arguments(parser)
    api = parser.add_mutually_exclusive_group()
    api.add_argument(
        "--api",
        metavar="[HOST:]PORT",
        default=DEFAULT_RUN_API,
        help=f"serve the calibration API on HOST (default 127.0.0.1: loopback only) and "
        f"PORT (default {DEFAULT_RUN_API}; 0 takes a free port)",
    )
    api.add_argument(
        "--no-api", action="store_true", help="run without the calibration API and its store"
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help=f"the calibration store (default $COINVAL_DB or {DEFAULT_RUN_STORE})",
    )


def _run_profile(args: argparse.Namespace) -> Profile:
    if args.profile:
        return load_profile(args.profile)
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


@dataclass
class _SimulatedHardware:
    """The simulations behind ``run``'s two URLs, taken as their ports open.

    A line that reconnects opens its URL again, and with it a new simulation:
    every one is kept, so the money check counts them all.
    """

    heads: list[VirtualHead] = field(default_factory=list)
    hosts: list[VirtualHost] = field(default_factory=list)
    vmcs: list[VirtualVmc] = field(default_factory=list)
    head_path: str = ""
    host_path: str = ""
    on_read: Callable[[HostEvent], None] | None = None
    vmc_total_pence: int = 0

    # Attaching the reader after opening loses nothing: the parking machine
    # reads no event before the acceptor answers, which starts once both lines
    # are open.

    def open_head(self, url: str) -> SerialPort:
        from firmware_bridge.transport.ports import SENSOR_LINK_LINE, open_port
        from sim.serial_urls.protocol_simhead import SimulatedHeadSerial

        port = open_port(url, SENSOR_LINK_LINE)
        assert isinstance(port, SimulatedHeadSerial)
        head: VirtualHead = port.simulation
        self.heads.append(head)
        self.head_path = port.name or ""
        return port

    def open_host(self, url: str) -> SerialPort:
        from firmware_bridge.transport.ports import CCTALK_LINE, open_port
        from sim.serial_urls.protocol_simhost import SimulatedHostSerial

        port = open_port(url, CCTALK_LINE)
        assert isinstance(port, SimulatedHostSerial)
        host: VirtualHost = port.simulation
        host.on_event = self.on_read
        self.hosts.append(host)
        self.host_path = port.name or ""
        return port

    def open_vmc(self, url: str) -> WordPort:
        from firmware_bridge.transport.mdb_serial import TwoByteWordPort, open_word_port
        from sim.serial_urls.protocol_simvmc import SimulatedVmcSerial

        port = open_word_port(url, nine_bit=False)
        assert isinstance(port, TwoByteWordPort) and isinstance(port.port, SimulatedVmcSerial)
        vmc: VirtualVmc = port.port.simulation
        vmc.on_item = lambda item: self._vmc_read(vmc, item)
        vmc.on_credit = lambda credit: None  # the run's own line says it
        self.vmcs.append(vmc)
        self.host_path = port.port.name or ""
        return port

    def _vmc_read(self, vmc: VirtualVmc, item: PollItem) -> None:
        """A POLL item the VMC accepted, as the display's reads (a deposit is a credit)."""
        from firmware_bridge.cctalk.credit_buffer import CreditEvent, ErrorEvent
        from firmware_bridge.cctalk.headers import AcceptorError
        from firmware_bridge.mdb.messages import ChangerStatus
        from sim.virtual_host import HostEvent

        if self.on_read is None:
            return
        events: list[HostEvent] = []
        if item.kind == "deposited" and item.coin_type is not None:
            setup = vmc.controller.setup
            value = setup.value_of(item.coin_type) if setup is not None else 0
            self.vmc_total_pence += value
            event = CreditEvent(item.coin_type + 1, 0)
            events.append(HostEvent(event, None, value, self.vmc_total_pence))
        elif item.kind == "slug":
            slug = ErrorEvent(AcceptorError.REJECT_COIN)
            events += [HostEvent(slug, None, 0, self.vmc_total_pence)] * (item.count or 1)
        elif item.kind == "status" and item.status != ChangerStatus.JUST_RESET:
            code = _STATUS_CODES.get(item.status or 0)
            if code is not None:
                events.append(HostEvent(ErrorEvent(code), None, 0, self.vmc_total_pence))
        for host_event in events:
            self.on_read(host_event)

    def truth(self, coin_seq: int) -> Truth | None:
        """What the coin of that sensor-link number really was (the newest head's).

        The head puts a coin in its ledger as it sends the signature, before
        the engine can have decided it; the search runs from the newest coin,
        where the one asked about is.
        """
        from coinval_cli.run_display import Truth

        if not self.heads:
            return None
        ledger = self.heads[-1].ledger
        for i in range(len(ledger) - 1, -1, -1):
            if ledger[i].coin_seq == coin_seq:
                return Truth.of(ledger[i].coin)
        return None

    def inserted(self) -> list[Truth]:
        """Every coin the heads inserted."""
        from coinval_cli.run_display import Truth

        return [Truth.of(record.coin) for head in self.heads for record in head.ledger]

    @property
    def finished(self) -> bool:
        """The board has inserted and settled every coin it was asked for."""
        return bool(self.heads) and self.heads[-1].finished

    @property
    def vmc_credits(self) -> int:
        """Coins the vending machines credited."""
        return sum(len(vmc.controller.credits) for vmc in self.vmcs)

    @property
    def coin_events_read(self) -> int:
        """Events about coins the parking machine read (power-up markers left out)."""
        return sum(len(host.coin_events) for host in self.hosts)


@logs_to_stderr
def run_run(args: argparse.Namespace) -> int:
    """``coinval run``: engine, virtual head and virtual parking machine on pseudo-terminals."""
    logging.getLogger("firmware_bridge.runtime").setLevel(logging.WARNING)  # shown on stdout
    logging.getLogger("firmware_bridge.mdb").setLevel(logging.WARNING)  # each report: a line
    if args.no_api:
        if args.db is not None:
            raise UsageError("--db is the calibration API's store: it goes without --no-api")
        args.api = None
    else:
        parse_api_address(args.api)  # a bad --api is refused before a first teach
    if args.api is not None and args.db is None and "COINVAL_DB" not in os.environ:
        DEFAULT_RUN_STORE.parent.mkdir(parents=True, exist_ok=True)
        args.db = str(DEFAULT_RUN_STORE)
    profile = _run_profile(args)
    at = decision_moment(args)
    calibration = start_calibration(args, profile)
    try:
        return _run(args, calibration.profile if calibration else profile, at, calibration)
    finally:
        if calibration is not None:
            calibration.close()


def _run(
    args: argparse.Namespace,
    profile: Profile,
    at: Callable[[], dt.datetime] | None,
    calibration: LiveCalibration | None,
) -> int:
    """The whole system of ``coinval run`` on ``profile``."""
    from coinval_cli.run_display import RunDisplay
    from firmware_bridge.runtime.loop import MdbRuntime, Runtime
    from firmware_bridge.sources import SensorLinkSource
    from sim.virtual_host import pounds

    register_url_handlers()
    engine = ready_engine(profile)
    hardware = _SimulatedHardware()
    if args.mdb:
        display = RunDisplay(
            sys.stdout, hardware.truth, profile.coins, machine="vending machine", told=_mdb_told
        )
    else:
        display = RunDisplay(sys.stdout, hardware.truth, profile.coins)
    hardware.on_read = display.read
    sensor_url = head_url(args.seed, args.coins_per_s, args.coins)
    source = SensorLinkSource(sensor_url, opener=lambda: hardware.open_head(sensor_url))
    runtime: CoinLoop
    if args.mdb:
        runtime = MdbRuntime(
            coins=profile.coins,
            decider=engine,
            source=source,
            mdb_url=VMC_URL,
            mdb_opener=lambda: hardware.open_vmc(VMC_URL),
            at=at,
            config=runtime_config(args),
            on_outcome=lambda outcome, totals: display.decided(outcome),
            on_decided=calibration.recorder.submit if calibration else None,
        )
    else:
        runtime = Runtime(
            coins=profile.coins,
            decider=engine,
            source=source,
            cctalk_url=HOST_URL,
            cctalk_opener=lambda: hardware.open_host(HOST_URL),
            at=at,
            config=runtime_config(args),
            on_outcome=lambda outcome, totals: display.decided(outcome),
            on_decided=calibration.recorder.submit if calibration else None,
        )
    if calibration is not None:
        calibration.follow(
            runtime,
            announce=lambda text: display.note(f"      api: engine now uses {text}"),
        )
    stop = threading.Event()
    started = time.monotonic()
    limit_s = None if args.coins is None else 15.0 + 3.0 * args.coins / args.coins_per_s

    def done() -> bool:
        display.tick()  # a line whose read is overdue goes out without it
        if args.coins is None:
            return False
        if limit_s is not None and time.monotonic() - started > limit_s:
            display.note("      (time limit reached before every coin was settled)", "red")
            return True
        coins = runtime.money.totals.coins
        if args.mdb:  # a returned coin is told nothing on MDB: wait for the reads due
            return hardware.finished and coins >= args.coins and display.unread == 0
        return hardware.finished and hardware.coin_events_read >= coins >= args.coins

    runtime.open()
    try:
        if args.mdb:
            bus = (
                "the engine is an MDB coin changer on a pseudo-terminal",
                f"  MDB bus:     engine on {hardware.host_path}, "
                f"virtual vending machine ({VMC_URL}) on its master end",
                "--mdb /dev/ttyUSB0 --mdb-9bit",
            )
        else:
            bus = (
                "the engine is a ccTalk coin acceptor on a pseudo-terminal",
                f"  ccTalk bus:  engine on {hardware.host_path}, "
                f"virtual parking machine ({HOST_URL}) on its master end",
                "--cctalk /dev/ttyUSB0",
            )
        display.note(
            f"coinval run: {bus[0]}, fed by a simulated sensor head\n"
            f"{bus[1]}\n"
            f"  sensor link: engine on {hardware.head_path}, "
            f"virtual sensor head ({sensor_url}) on its master end\n"
            f"  taught coins: {', '.join(profile.coins)}\n"
            "  on a real machine: coinval serve --profile "
            f"{args.profile or DEFAULT_RUN_PROFILE} {bus[2]} --sensor sim\n"
            "  Ctrl-C stops.\n"
        )
        display.legend()
        with stop_on_signals(stop):
            totals = runtime.run(stop, until=done)
    finally:
        runtime.close()  # stops both simulations: the machine finishes its last read
    display.finish(hardware.inserted())
    ledger = [record for head in hardware.heads for record in head.ledger]
    taken = sum(1 for record in ledger if record.taken)
    if isinstance(runtime, MdbRuntime):
        return _mdb_money_check(display, hardware, runtime, len(ledger), taken, totals)
    host_credits = sum(len(host.credits) for host in hardware.hosts)
    host_pence = sum(host.total_pence for host in hardware.hosts)
    host_errors = sum(len(host.errors) for host in hardware.hosts)
    ok = taken == totals.credits == host_credits and host_pence == totals.value_pence
    display.summary(
        [
            (
                f"{len(ledger)} coins inserted; {taken} went into the cash box; "
                f"engine credited {totals.credits} ({totals.pounds()}); "
                f"parking machine read {host_credits} credits ({pounds(host_pence)}), "
                f"{host_errors} errors",
                ok,
            ),
            (f"money check: {'OK' if ok else 'MISMATCH'}", ok),
        ]
    )
    return 0 if ok else 1


def _status_codes() -> dict[int, int]:
    """MDB status -> the first ccTalk error code the changer maps onto it."""
    from firmware_bridge.mdb.acceptor import ERROR_STATUS

    codes: dict[int, int] = {}
    for code, status in ERROR_STATUS.items():
        codes.setdefault(int(status), int(code))
    return codes


_STATUS_CODES = _status_codes()


def _mdb_told(event: BufferedEvent) -> BufferedEvent | None:
    """What the VMC reads for an outcome's event, in the display's terms; None: nothing."""
    from firmware_bridge.cctalk.credit_buffer import CreditEvent, ErrorEvent
    from firmware_bridge.cctalk.headers import AcceptorError
    from firmware_bridge.mdb.acceptor import ERROR_STATUS

    if isinstance(event, CreditEvent):
        return CreditEvent(event.position, 0)  # a deposit: coin type, cash box
    if event.code == AcceptorError.REJECT_COIN:
        return ErrorEvent(AcceptorError.REJECT_COIN)  # a slug
    status = ERROR_STATUS.get(event.code)
    return None if status is None else ErrorEvent(_STATUS_CODES[int(status)])


def _mdb_money_check(
    display: RunDisplay,
    hardware: _SimulatedHardware,
    runtime: MdbRuntime,
    inserted: int,
    taken: int,
    totals: MoneyTotals,
) -> int:
    """Cash box = credits the changer reported (the VMC acknowledged) = credits the VMC gave."""
    from sim.virtual_host import pounds

    with runtime.lock:
        reported = runtime.changer.counters.deposits_reported
    vmc_credits = hardware.vmc_credits
    vmc_pence = sum(vmc.controller.total for vmc in hardware.vmcs)
    ok = taken == totals.credits == reported == vmc_credits and vmc_pence == totals.value_pence
    display.summary(
        [
            (
                f"{inserted} coins inserted; {taken} went into the cash box; "
                f"engine credited {totals.credits} ({totals.pounds()}); changer reported "
                f"{reported} deposits; vending machine credited {vmc_credits} "
                f"({pounds(vmc_pence)})",
                ok,
            ),
            (f"money check: {'OK' if ok else 'MISMATCH'}", ok),
        ]
    )
    return 0 if ok else 1
