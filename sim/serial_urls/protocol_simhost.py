"""``simhost://?poll_ms=P``: a virtual parking machine at the other end of the ccTalk line.

The port opened is the coin acceptor's end of the bus; behind it a
:class:`~sim.virtual_host.VirtualHost` does what a parking machine's
controller does: enables every position that holds a coin (231, 228), polls
the credit buffer (229) every ``poll_ms`` milliseconds (default 200), and
keeps the credits and errors it read.
"""

from __future__ import annotations

from firmware_bridge.transport.cctalk_serial import CcTalkClient
from firmware_bridge.transport.fd_port import FdPort
from sim.serial_urls.pty_serial import PtySimulationSerial, option, positive_float, split_sim_url
from sim.virtual_host import VirtualHost

__all__ = ["SimulatedHostSerial", "serial_class_for_url"]

_OPTIONS = frozenset({"poll_ms"})


class SimulatedHostSerial(PtySimulationSerial):
    """The coin acceptor's end of a ccTalk bus to a virtual parking machine (:attr:`simulation`)."""

    scheme = "simhost"
    what = "virtual parking machine"

    def make_simulation(self, url: str, master: FdPort) -> VirtualHost:
        """The parking machine ``url`` describes, on ``master``."""
        name, options = split_sim_url(url, self.scheme, _OPTIONS)
        if name:
            raise ValueError(f"simhost:// takes no name, got {name!r} (options: poll_ms)")
        poll_s = option(options, "poll_ms", positive_float, 200.0) / 1000
        return VirtualHost(CcTalkClient(master), poll_interval_s=poll_s)


def serial_class_for_url(url: str) -> tuple[str, type[SimulatedHostSerial]]:
    """pyserial's hook: the class that opens ``simhost://`` URLs."""
    return url, SimulatedHostSerial
