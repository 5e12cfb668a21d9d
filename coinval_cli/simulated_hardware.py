"""The simulated hardware: its URLs, ``coinval sim head``, ``sim host`` and ``sim vmc``.

:func:`register_url_handlers` lets every port of the process open
``simhead://`` (a simulated sensor board), ``simhost://`` (a virtual parking
machine) and ``simvmc://`` (a virtual vending machine's controller), each on a
real pseudo-terminal (``sim.serial_urls``); that is how ``serve`` and ``run``
reach them, through the bridge's port openers like any port.  ``sim head``,
``sim host`` and ``sim vmc`` instead put a simulated device on a port someone
else serves (a real line, or a pty another process opened), and print what it
does.
"""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from coinval_cli.argtypes import positive_float, positive_int
from coinval_cli.console import logs_to_stderr, stop_on_signals
from coinval_cli.errors import UsageError
from sim.heads import DEFAULT_HEAD

if TYPE_CHECKING:
    from sim.virtual_head import HeadRecord

__all__ = [
    "add_sim_head_arguments",
    "add_sim_host_arguments",
    "add_sim_vmc_arguments",
    "head_line",
    "head_url",
    "register_url_handlers",
    "run_sim_head",
    "run_sim_host",
    "run_sim_vmc",
]


def register_url_handlers() -> None:
    """Make ``simhead://``, ``simhost://`` and ``simvmc://`` openable by pyserial (once)."""
    import serial

    import sim.serial_urls

    if sim.serial_urls.__name__ not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(sim.serial_urls.__name__)


def head_url(seed: int, coins_per_s: float, coins: int | None = None) -> str:
    """The simulated sensor board of ``serve --sensor sim`` and ``run``: head A's street mix."""
    options: dict[str, object] = {"seed": seed, "rate": coins_per_s}
    if coins is not None:
        options["coins"] = coins
    return f"simhead://{DEFAULT_HEAD}?{urlencode(options)}"


def head_line(record: HeadRecord) -> str:
    """One coin as the board saw it, for ``run`` and ``sim head``: kind, gate, fate."""
    coin = record.coin
    extra = "" if coin.behaviour.value == "normal" else f", {coin.behaviour.value}"
    return (
        f"  in  #{coin.index + 1:<4} {coin.kind:<26} ({coin.note}{extra}) "
        f"coin {record.coin_seq}: gate {record.gate} -> {record.outcome}"
    )


# ------------------------------------------------------------------- sim head


def add_sim_head_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval sim head``."""
    parser.add_argument("--port", required=True, metavar="URL", help="sensor-link port")
    parser.add_argument("--coins-per-s", type=positive_float, default=2.0, metavar="R")
    parser.add_argument("--coins", type=positive_int, help="stop after this many coins")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", default=DEFAULT_HEAD, help="simulated sensor head (default A)")


@logs_to_stderr
def run_sim_head(args: argparse.Namespace) -> int:
    """``coinval sim head``: a simulated sensor board on a sensor-link port."""
    from firmware_bridge.transport.ports import SENSOR_LINK_LINE, open_port
    from sim.scenario import street_mix
    from sim.virtual_head import VirtualHead

    try:
        port = open_port(args.port, SENSOR_LINK_LINE)
    except Exception as exc:
        raise UsageError(f"cannot open the sensor-link port {args.port!r}: {exc}") from None

    def show(record: HeadRecord) -> None:
        print(head_line(record), flush=True)

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
        port.close()
        raise UsageError(str(exc)) from None
    stop = threading.Event()
    print(f"virtual sensor head {head.head_id} on {args.port}; Ctrl-C stops", flush=True)
    try:
        with stop_on_signals(stop):
            head.run(stop)
    finally:
        port.close()
    return 0


# ------------------------------------------------------------------- sim host


def add_sim_host_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval sim host``."""
    parser.add_argument("--cctalk", required=True, metavar="PORT", help="ccTalk port")
    parser.add_argument(
        "--poll-ms", type=positive_float, default=200.0, help="229 poll period (default 200)"
    )


@logs_to_stderr
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

    host = VirtualHost(CcTalkClient(port), poll_interval_s=args.poll_ms / 1000, on_event=show)
    stop = threading.Event()
    print(f"virtual parking machine on {args.cctalk}; Ctrl-C stops", flush=True)
    try:
        with stop_on_signals(stop):
            host.run(stop)
    finally:
        port.close()
    print(f"total credited {pounds(host.total_pence)}", flush=True)
    return 0


# -------------------------------------------------------------------- sim vmc


def add_sim_vmc_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``coinval sim vmc``."""
    parser.add_argument("--mdb", required=True, metavar="PORT", help="MDB port (path or URL)")
    parser.add_argument(
        "--mdb-9bit",
        action="store_true",
        help="a real 9-bit UART (mark/space parity); default: two bytes per word (ptys)",
    )
    parser.add_argument(
        "--poll-ms", type=positive_float, default=100.0, help="POLL period (default 100)"
    )
    parser.add_argument(
        "--enable",
        type=_coin_type_mask,
        metavar="MASK",
        help="coin types to enable, a bit mask (0x0b: types 0, 1, 3; default: every type "
        "SETUP gives a value)",
    )


def _coin_type_mask(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError("a coin type mask is 0 to 0xffff")
    return value


@logs_to_stderr
def run_sim_vmc(args: argparse.Namespace) -> int:
    """``coinval sim vmc``: a virtual vending machine polling an MDB coin changer."""
    from firmware_bridge.mdb.changer import poll_items
    from firmware_bridge.mdb.messages import PollItem
    from firmware_bridge.mdb.vmc import Credit
    from firmware_bridge.transport.mdb_serial import open_word_port
    from sim.virtual_host import pounds
    from sim.vmc import VirtualVmc

    try:
        port = open_word_port(args.mdb, nine_bit=args.mdb_9bit)
    except Exception as exc:
        raise UsageError(f"cannot open the MDB port {args.mdb!r}: {exc}") from None

    def show_credit(credit: Credit) -> None:
        print(
            f" out  credit  coin type {credit.coin_type} {pounds(credit.value)}  "
            f"total {pounds(credit.total)}",
            flush=True,
        )

    def show_item(item: PollItem) -> None:
        if item.kind != "deposited":  # a deposit's credit line says it
            print(f" out  {', '.join(poll_items(item.to_bytes()))}", flush=True)

    vmc = VirtualVmc(
        port,
        poll_interval_s=args.poll_ms / 1000,
        enable_mask=args.enable,
        on_credit=show_credit,
        on_item=show_item,
    )
    stop = threading.Event()
    print(f"virtual vending machine controller on {args.mdb}; Ctrl-C stops", flush=True)
    try:
        with stop_on_signals(stop):
            vmc.run(stop)
    finally:
        port.close()
    controller = vmc.controller
    if controller.setup is not None:
        setup, identity = controller.setup, controller.identity
        print(
            f"changer: level {setup.feature_level}, scaling {setup.scaling}, credits per "
            f"coin type {list(setup.credits)}; identification "
            + (f"{identity.manufacturer} {identity.model.strip()}" if identity else "not read"),
            flush=True,
        )
    print(
        f"total credited {pounds(controller.total)} ({len(controller.credits)} coins)", flush=True
    )
    return 0
