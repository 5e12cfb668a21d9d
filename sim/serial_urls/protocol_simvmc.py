"""``simvmc://?poll_ms=P&enable=MASK``: a virtual vending machine controller on an MDB line.

The port opened is the coin changer's end; words travel as two bytes each
(``docs/mdb.md`` section 5.2).  Behind it a :class:`~sim.vmc.VirtualVmc`
resets the changer, reads SETUP and identification, enables the coin types
of ``enable`` (a bit mask, ``0x0b`` or ``11``; default every type SETUP
values), POLLs every ``poll_ms`` milliseconds (default 100) and logs the
credit it gives.
"""

from __future__ import annotations

from firmware_bridge.transport.fd_port import FdPort
from firmware_bridge.transport.mdb_serial import TwoByteWordPort
from sim.serial_urls.pty_serial import PtySimulationSerial, option, positive_float, split_sim_url
from sim.vmc import VirtualVmc

__all__ = ["SimulatedVmcSerial", "serial_class_for_url"]

_OPTIONS = frozenset({"poll_ms", "enable"})


def _mask(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= 0xFFFF:
        raise ValueError("a coin type mask is 0 to 0xffff")
    return value


class SimulatedVmcSerial(PtySimulationSerial):
    """The changer's end of an MDB line to a virtual VMC (:attr:`simulation`)."""

    scheme = "simvmc"
    what = "virtual vending machine controller"

    def make_simulation(self, url: str, master: FdPort) -> VirtualVmc:
        """The VMC ``url`` describes, on ``master``."""
        name, options = split_sim_url(url, self.scheme, _OPTIONS)
        if name:
            raise ValueError(f"simvmc:// takes no name, got {name!r} (options: enable, poll_ms)")
        poll_s = option(options, "poll_ms", positive_float, 100.0) / 1000
        enable: int | None = option(options, "enable", _mask, None)
        return VirtualVmc(TwoByteWordPort(master), poll_interval_s=poll_s, enable_mask=enable)


def serial_class_for_url(url: str) -> tuple[str, type[SimulatedVmcSerial]]:
    """pyserial's hook: the class that opens ``simvmc://`` URLs."""
    return url, SimulatedVmcSerial
