"""A pseudo-terminal's master end as a :class:`~firmware_bridge.transport.ports.SerialPort`.

The master end of a pty has no path pyserial could open: whoever serves it (a
simulated board or parking machine, a test playing the host) wraps its file
descriptor here, while the engine opens the slave end by path like any port.
"""

from __future__ import annotations

import fcntl
import os
import select
import termios
import time

import serial

from firmware_bridge.transport.ports import READ_TIMEOUT_S, WRITE_TIMEOUT_S

__all__ = ["FdPort"]


class FdPort:
    """The :class:`SerialPort` interface on a raw file descriptor (a pty master).

    Parameters
    ----------
    fd : int
        An open descriptor; it is made non-blocking.
    timeout : float
        Longest a :meth:`read` waits for the first byte.
    owns_fd : bool
        Whether :meth:`close` closes ``fd``.
    """

    def __init__(self, fd: int, *, timeout: float = READ_TIMEOUT_S, owns_fd: bool = False) -> None:
        self.fd = fd
        self.timeout: float | None = timeout
        self._owns_fd = owns_fd
        self._closed = False
        os.set_blocking(fd, False)

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read now."""
        buf = fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(buf, "little")

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes; waits at most :attr:`timeout` for the first one."""
        ready, _, _ = select.select([self.fd], [], [], self.timeout or 0.0)
        if not ready:
            return b""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            # EIO on a pty master: no slave end is open (the peer went away).
            raise serial.SerialException(f"fd {self.fd}: {exc.strerror}") from exc

    def write(self, data: bytes, /) -> int:
        """Write everything, waiting for room; raises if the peer stops reading."""
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while view:
            try:
                sent = os.write(self.fd, view)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise serial.SerialException(f"fd {self.fd}: {exc.strerror}") from exc
            view = view[sent:]
            if view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise serial.SerialTimeoutException(f"fd {self.fd}: write timed out")
                select.select([], [self.fd], [], remaining)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: :meth:`write` returns once the kernel has the bytes."""

    def reset_input_buffer(self) -> None:
        """Discard what has arrived and not been read."""
        try:
            while os.read(self.fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Close the descriptor if this object owns it."""
        if self._owns_fd and not self._closed:
            self._closed = True
            os.close(self.fd)
