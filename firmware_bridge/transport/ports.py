"""The one way the bridge opens a serial line: by URL, with the settings of the link it carries.

Every port of the project (the ccTalk bus, the sensor link, the simulated
hardware's ends) is opened here, through ``serial.serial_for_url``: a device
path (``/dev/ttyUSB0``, ``/dev/pts/7``) or any pyserial URL (``loop://``,
``socket://host:port``, and whatever handlers the composition root registers in
``serial.protocol_handler_packages``, such as the simulator's ``simhead://``).

Both links are 8N1 with **no** flow control: XON/XOFF would eat the bytes 0x11
and 0x13, which occur in ccTalk frames and in the binary sensor link, and
neither link wires RTS/CTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import serial

__all__ = [
    "CCTALK_LINE",
    "READ_TIMEOUT_S",
    "SENSOR_LINK_LINE",
    "WRITE_TIMEOUT_S",
    "LineSettings",
    "SerialPort",
    "open_port",
]

#: Read granularity of the bridge's loops: short, so replies, inter-byte gaps
#: (ccTalk ends a frame after 50 ms of silence) and timeouts stay prompt.
READ_TIMEOUT_S = 0.01
#: A write that cannot complete in this time is given up: the peer is not
#: reading, and the thread that writes must go on answering or reconnect.
WRITE_TIMEOUT_S = 1.0


class SerialPort(Protocol):
    """The part of a pyserial port the bridge uses (also what test fakes provide)."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def flush(self) -> None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LineSettings:
    """What a link needs of its serial line.

    Attributes
    ----------
    name : str
        The link, for messages (``"ccTalk"``, ``"sensor link"``).
    baudrate : int
        Bits per second (nominal on USB-CDC, real on a UART).
    """

    name: str
    baudrate: int


#: The ccTalk bus: 9600 baud (``reference/cctalk.md``).
CCTALK_LINE = LineSettings("ccTalk", 9600)
#: The sensor link: 921600 baud (``docs/sensor-link.md`` section 1).
SENSOR_LINK_LINE = LineSettings("sensor link", 921_600)


def open_port(url: str, line: LineSettings, *, timeout: float = READ_TIMEOUT_S) -> SerialPort:
    """Open ``url`` as a line of the given link: its baud rate, 8N1, no flow control.

    Parameters
    ----------
    url : str
        Device path or pyserial URL.
    line : LineSettings
        :data:`CCTALK_LINE` or :data:`SENSOR_LINK_LINE`.
    timeout : float
        Read timeout in seconds (how long one ``read`` may block).

    Returns
    -------
    SerialPort
        The open port.

    Raises
    ------
    serial.SerialException, OSError, ValueError
        The port cannot be opened (missing device, unknown URL scheme, a bad
        URL option).
    """
    port = serial.serial_for_url(
        url,
        baudrate=line.baudrate,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        xonxoff=False,
        rtscts=False,
        timeout=timeout,
        write_timeout=WRITE_TIMEOUT_S,
    )
    return cast(SerialPort, port)
