"""MDB words over a serial port: the sans-I/O changer of :mod:`firmware_bridge.mdb` on a line.

Two line types, both opened by URL with pyserial's ``serial_for_url``:

:class:`UartWordPort` (a real 9-bit UART, Linux)
    9600 baud, 8 data bits, *stick* parity carrying the mode bit.  Received
    bytes are marked by the kernel (``INPCK | PARMRK`` on *space* parity,
    ``ISTRIP`` and ``IGNPAR`` clear, ``IGNBRK`` set) and decoded by
    :class:`~firmware_bridge.mdb.wire.ParmrkDecoder`; words are written in runs of one parity
    (:func:`~firmware_bridge.mdb.wire.parity_runs`), switching between *mark* and *space* with
    ``tcsetattr(TCSADRAIN)`` so a switch waits until the bytes before it left.
    pyserial's own reconfiguration clears ``PARMRK`` and ``INPCK``, so the
    flags are set here with :mod:`termios` on the port's descriptor.
    Limitation: while the one *mark* byte of a response is on the wire, input
    parity is mark too; the VMC answers only after that byte, and the switch
    back comes as soon as it has left.

:class:`TwoByteWordPort` (pseudo-terminals, ``loop://``, simulators)
    each word is two bytes (:func:`~firmware_bridge.mdb.wire.encode_two_byte`), 8N1.

It lives with the other lines in :mod:`firmware_bridge.transport`: the
:mod:`firmware_bridge.mdb` package stays sans-I/O.
"""

from __future__ import annotations

import termios
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

import serial

from firmware_bridge.mdb.timing import BAUD
from firmware_bridge.mdb.wire import ParmrkDecoder, TwoByteDecoder, encode_two_byte, parity_runs
from firmware_bridge.transport.managed_line import Backoff, ReconnectingLine

__all__ = [
    "CMSPAR",
    "ManagedWordLine",
    "TwoByteWordPort",
    "UartWordPort",
    "WordPort",
    "open_word_port",
    "uart_attrs",
]

#: Linux "stick parity" flag (not exported by Python's termios): with PARENB,
#: PARODD set = mark, clear = space.
CMSPAR = 0o10000000000
_READ_TIMEOUT_S = 0.002
_WRITE_TIMEOUT_S = 0.5


class WordPort(Protocol):
    """What an MDB service needs of a line: words in, words out."""

    def read_words(self, now: float) -> list[int]: ...

    def write_words(self, words: Iterable[int]) -> None: ...

    def close(self) -> None: ...


def uart_attrs(attrs: list[Any], *, mark: bool) -> list[Any]:
    """termios attributes for the MDB line: 8 bits, stick parity, parity errors marked.

    Parameters
    ----------
    attrs : list
        ``termios.tcgetattr`` output: ``[iflag, oflag, cflag, lflag, ispeed, ospeed, cc]``.
    mark : bool
        Mark parity (send the mode bit) or space (send without it, and receive).

    Returns
    -------
    list
        A new attribute list; ``attrs`` is not changed.
    """
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
    iflag |= termios.INPCK | termios.PARMRK | termios.IGNBRK
    iflag &= ~(termios.ISTRIP | termios.IGNPAR | termios.BRKINT | termios.IXON | termios.IXOFF)
    cflag &= ~termios.CSIZE
    cflag |= termios.CS8 | termios.PARENB | CMSPAR
    cflag = cflag | termios.PARODD if mark else cflag & ~termios.PARODD
    return [iflag, oflag, cflag, lflag, ispeed, ospeed, list(cc)]


class UartWordPort:
    """A real UART carrying the mode bit as stick parity (Linux only)."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._fd = port.fileno()
        self._decoder = ParmrkDecoder()
        self._space = uart_attrs(termios.tcgetattr(self._fd), mark=False)
        self._mark = uart_attrs(self._space, mark=True)
        termios.tcsetattr(self._fd, termios.TCSANOW, self._space)

    def read_words(self, now: float) -> list[int]:
        """Words received so far (waits up to the port's read timeout for the first byte)."""
        data = self._port.read(max(1, self._port.in_waiting))
        return self._decoder.feed(data)

    def write_words(self, words: Iterable[int]) -> None:
        """Write words, switching parity between runs; returns once they have left."""
        for mark, data in parity_runs(words):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._mark if mark else self._space)
            self._port.write(data)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._space)

    def close(self) -> None:
        """Close the port."""
        self._port.close()


class TwoByteWordPort:
    """Words as two bytes each on any 8N1 line (a pty, ``loop://``, a simulator)."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self._decoder = TwoByteDecoder()

    @property
    def port(self) -> Any:
        """The byte port under it (a simulator's URL port keeps its simulation there)."""
        return self._port

    def read_words(self, now: float) -> list[int]:
        """Words received so far (``now``: their arrival, for the half-word gap)."""
        data = self._port.read(max(1, self._port.in_waiting))
        return self._decoder.feed(data, now)

    def write_words(self, words: Iterable[int]) -> None:
        """Write words."""
        self._port.write(encode_two_byte(words))
        self._port.flush()

    def close(self) -> None:
        """Close the port."""
        self._port.close()


def open_word_port(url: str, *, nine_bit: bool) -> WordPort:
    """Open ``url`` as an MDB line.

    Parameters
    ----------
    url : str
        Device path or pyserial URL.
    nine_bit : bool
        A real UART with mark/space parity (:class:`UartWordPort`), or the
        two-byte encoding (:class:`TwoByteWordPort`).

    Raises
    ------
    serial.SerialException, OSError, ValueError
        The port cannot be opened.
    """
    port = serial.serial_for_url(
        url,
        baudrate=BAUD,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_SPACE if nine_bit else serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        xonxoff=False,
        rtscts=False,
        timeout=_READ_TIMEOUT_S,
        write_timeout=_WRITE_TIMEOUT_S,
    )
    if nine_bit:
        return UartWordPort(cast(serial.Serial, port))
    return TwoByteWordPort(port)


class ManagedWordLine(ReconnectingLine[WordPort]):
    """An MDB line that reconnects by itself, like :class:`~.managed_line.ManagedLine` for bytes.

    A failed read or write closes the port, logs it once, and opens it again
    with exponential back-off; the changer above it keeps its state (the VMC
    resets it anyway when it finds it again).  The reconnecting is
    :class:`~.managed_line.ReconnectingLine`'s; only the word I/O is here.

    Parameters
    ----------
    url : str
        What it is opened from (for logs).
    opener : callable
        Opens the line; raises on failure.
    backoff : Backoff, optional
    sleep : callable
        Used while waiting to reconnect.

    Notes
    -----
    Not thread-safe: the MDB service thread alone reads and writes it.
    """

    name = "MDB"
    _kept = "changer state"

    def __init__(
        self,
        url: str,
        opener: Callable[[], WordPort],
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(ManagedWordLine.name, url, opener, backoff=backoff, sleep=sleep)

    def read_words(self, now: float) -> list[int]:
        """Words received (waits up to the port's read timeout); none while reconnecting."""
        return self._guarded(lambda port: port.read_words(now), [], reconnect=True)

    def write_words(self, words: Iterable[int]) -> bool:
        """Write words; ``False`` if the line is down (the reply is lost: the VMC asks again)."""

        def write(port: WordPort) -> bool:
            port.write_words(words)
            return True

        return self._guarded(write, False, reconnect=False)
