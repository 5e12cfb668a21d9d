"""The simulated hardware: its URLs, ``coinval sim head`` and ``coinval sim host``.

:func:`register_url_handlers` lets every port of the process open
``simhead://`` (a simulated sensor board) and ``simhost://`` (a virtual
parking machine), each on a real pseudo-terminal (``sim.serial_urls``); that
is how ``serve`` and ``run`` reach them, through the bridge's one port opener
like any port.  ``sim head`` and ``sim host`` instead put a simulated device
on a port someone else serves (a real line, or a pty another process opened),
and print what it does.
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
    "head_line",
    "head_url",
    "register_url_handlers",
    "run_sim_head",
    "run_sim_host",
]


def register_url_handlers() -> None:
    """Make ``simhead://`` and ``simhost://`` openable by ``serial.serial_for_url`` (once)."""
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
