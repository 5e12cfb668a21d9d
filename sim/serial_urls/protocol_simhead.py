"""``simhead://HEAD?seed=N&rate=R&coins=N``: a simulated sensor board at the other end of the line.

The port opened is the engine's end of the sensor link; behind it a
:class:`~sim.virtual_head.VirtualHead` inserts a reproducible street mix of
coins (:func:`sim.scenario.street_mix`) measured by simulated head ``HEAD``
(default ``A``; ``B``, ``seed:N``, ``phys2:A``... as ``sim.heads.get_head``
knows them), and obeys the gate commands.

Options: ``seed`` (the coins, default 0), ``rate`` (coins per second, default
2), ``coins`` (stop inserting after this many; default: never stop).  The
board says Hello as it starts and inserts its first coin only after the
engine's Hello, so no coin is lost while the engine opens its end.
"""

from __future__ import annotations

from firmware_bridge.transport.fd_port import FdPort
from sim.heads import DEFAULT_HEAD, get_head
from sim.scenario import street_mix
from sim.serial_urls.pty_serial import (
    PtySimulationSerial,
    option,
    positive_float,
    positive_int,
    split_sim_url,
)
from sim.virtual_head import VirtualHead

__all__ = ["SimulatedHeadSerial", "serial_class_for_url"]

_OPTIONS = frozenset({"seed", "rate", "coins"})


class SimulatedHeadSerial(PtySimulationSerial):
    """The engine's end of a sensor link to a simulated board; :attr:`simulation` is the board."""

    scheme = "simhead"
    what = "simulated sensor head"

    def make_simulation(self, url: str, master: FdPort) -> VirtualHead:
        """The board ``url`` describes, on ``master``."""
        name, options = split_sim_url(url, self.scheme, _OPTIONS)
        head = get_head(name or DEFAULT_HEAD).name
        seed = option(options, "seed", int, 0)
        board = VirtualHead(
            master,
            street_mix(seed=seed, head=head),
            coins_per_s=option(options, "rate", positive_float, 2.0),
            max_coins=option(options, "coins", positive_int, None),
            head_id=f"SIM-{head}",
            wait_for_engine=True,
            seed=seed,
        )
        self.what = f"simulated sensor head {board.head_id}"
        return board


def serial_class_for_url(url: str) -> tuple[str, type[SimulatedHeadSerial]]:
    """pyserial's hook: the class that opens ``simhead://`` URLs."""
    return url, SimulatedHeadSerial
