"""Blocking ccTalk on a serial port: the sans-I/O protocol objects put on a real line.

Two thin adapters, on any port :func:`~firmware_bridge.transport.ports.open_port`
opens (a device path such as ``/dev/ttyUSB0`` or ``/dev/pts/7``, or a pyserial
URL such as ``loop://`` or ``socket://host:port``) or on a pty master
(:class:`~firmware_bridge.transport.fd_port.FdPort`):

* :class:`CcTalkClient`, a host (bus master) for integration tests, the
  simulator's virtual parking machine and bench tools;
* :class:`CcTalkDevicePort`, which serves a
  :class:`~firmware_bridge.cctalk.device.CoinAcceptorDevice` on a port, one
  :meth:`~CcTalkDevicePort.step` at a time (the runtime has its own service
  thread, :mod:`firmware_bridge.runtime.cctalk_service`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from firmware_bridge.cctalk.credit_buffer import CreditBufferSnapshot
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.frame import ChecksumMode
from firmware_bridge.cctalk.headers import Address, Header
from firmware_bridge.cctalk.host import (
    CcTalkHost,
    CreditPoller,
    CreditPollResult,
    NoReplyError,
    RawResponse,
    ReplyFormatError,
    Response,
)
from firmware_bridge.cctalk.messages import decode_inhibit_mask, decode_u24, encode_inhibit_mask
from firmware_bridge.transport.ports import CCTALK_LINE, SerialPort, open_port

__all__ = ["CcTalkClient", "CcTalkDevicePort"]

Clock = Callable[[], float]


def _require_read_timeout(port: SerialPort) -> None:
    # A blocking read would stall the loop forever and starve the inter-byte timer.
    if port.timeout is None:
        raise ValueError("the port needs a read timeout (open it with open_port())")


def _read_available(port: SerialPort) -> bytes:
    # Block for the first byte (up to the port timeout), then take what is queued.
    return bytes(port.read(max(1, port.in_waiting)))


class CcTalkClient:
    """Blocking ccTalk host on a serial port.

    Parameters
    ----------
    port : str or SerialPort
        URL/path to open, or an already open port (then its settings are the
        caller's, and :meth:`close` leaves it open).
    timeout : float
        Seconds to wait for each reply.
    device_address : int
        Default destination of requests (2 = coin acceptor).
    host_address : int
        Our own address (1).
    checksum : {"simple", "crc16"}
        Integrity mode.
    retries : int
        Extra attempts after a request got no reply (NAK is not retried).
    clock : callable
        Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        port: str | SerialPort,
        *,
        timeout: float = 0.5,
        device_address: int = Address.COIN_ACCEPTOR,
        host_address: int = Address.HOST,
        checksum: ChecksumMode = "simple",
        retries: int = 1,
        clock: Clock = time.monotonic,
    ) -> None:
        self._owns_port = isinstance(port, str)
        self.port = open_port(port, CCTALK_LINE) if isinstance(port, str) else port
        _require_read_timeout(self.port)
        self.timeout = timeout
        self.device_address = device_address
        self.retries = retries
        self._clock = clock
        self.host = CcTalkHost(host_address, checksum=checksum)
        self.poller = CreditPoller()

    def close(self) -> None:
        """Close the port if this client opened it."""
        if self._owns_port:
            self.port.close()

    def __enter__(self) -> CcTalkClient:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- exchange

    def exchange(self, header: int, data: bytes = b"", *, dest: int | None = None) -> Response:
        """Send one request and return the framed reply (ACK, NAK or BUSY).

        Raises
        ------
        NoReplyError
            No valid reply after ``1 + retries`` attempts.
        """
        target = self.device_address if dest is None else dest
        for _ in range(1 + self.retries):
            event = self._attempt(target, header, data, self.timeout)
            if isinstance(event, Response):
                return event
        raise NoReplyError(f"no reply to header {header} from address {target}")

    def request(self, header: int, data: bytes = b"", *, dest: int | None = None) -> bytes:
        """Send one request and return the ACK's payload.

        Raises
        ------
        NakError, BusyError
            The device refused.
        NoReplyError
            Nothing valid came back.
        """
        return self.exchange(header, data, dest=dest).payload()

    def _attempt(self, dest: int, header: int, data: bytes, window: float) -> Response | None:
        self.port.reset_input_buffer()  # a late reply to an earlier request is not ours
        self.port.write(self.host.send(dest, header, data, now=self._clock()))
        self.port.flush()
        deadline = self._clock() + window
        while self._clock() < deadline:
            chunk = _read_available(self.port)
            self.host.receive_data(chunk, self._clock())
            event = self.host.next_event()
            if isinstance(event, Response):
                return event
        self.host.timeout()
        return None

    def address_poll(self, window_s: float = 1.1) -> list[int]:
        """Broadcast 253 and collect every raw address byte within ``window_s``.

        The window covers the slowest reply, 4 ms x 255.
        """
        self.port.reset_input_buffer()
        self.port.write(self.host.send(Address.BROADCAST, Header.ADDRESS_POLL, now=self._clock()))
        self.port.flush()
        deadline = self._clock() + window_s
        while self._clock() < deadline:
            self.host.receive_data(_read_available(self.port), self._clock())
        self.host.timeout()
        addresses = []
        while (event := self.host.next_event()) is not None:
            if isinstance(event, RawResponse):
                addresses.append(event.address)
        return addresses

    # ------------------------------------------------------------ conveniences

    def simple_poll(self) -> None:
        """Header 254: raise unless the device ACKs."""
        self.request(Header.SIMPLE_POLL)

    def read_credit_buffer(self) -> CreditBufferSnapshot:
        """Header 229, decoded (does not update :attr:`poller`)."""
        return CreditBufferSnapshot.from_bytes(
            self._expect(Header.READ_BUFFERED_CREDIT_OR_ERROR_CODES, 11)
        )

    def poll_credits(self) -> CreditPollResult:
        """Header 229 through :attr:`poller`: new events oldest first, losses, resets."""
        return self.poller.update(self.read_credit_buffer())

    def set_inhibits(self, mask: int) -> None:
        """Header 231 with a two-byte mask (bit set = position enabled)."""
        self.request(Header.MODIFY_INHIBIT_STATUS, encode_inhibit_mask(mask))

    def get_inhibits(self) -> int:
        """Header 230."""
        return decode_inhibit_mask(self._expect(Header.REQUEST_INHIBIT_STATUS, 2))

    def set_master_inhibit(self, inhibit: bool) -> None:
        """Header 228: ``True`` refuses every coin, ``False`` is normal operation."""
        self.request(Header.MODIFY_MASTER_INHIBIT_STATUS, b"\x00" if inhibit else b"\x01")

    def get_master_inhibit(self) -> bool:
        """Header 227: ``True`` while every coin is refused."""
        return not self._expect(Header.REQUEST_MASTER_INHIBIT_STATUS, 1)[0] & 1

    def request_coin_id(self, position: int) -> str:
        """Header 184: the 6-character id of a position (``......`` if unused)."""
        return self._expect(Header.REQUEST_COIN_ID, 6, bytes((position,))).decode("latin-1")

    def request_counter(self, header: int) -> int:
        """Headers 226/225/194/193: a 3-byte LSB-first counter."""
        return decode_u24(self._expect(header, 3))

    def reset_device(self) -> None:
        """Header 1: the device ACKs, then returns to its power-up state."""
        self.request(Header.RESET_DEVICE)

    def _expect(self, header: int, length: int, data: bytes = b"") -> bytes:
        payload = self.request(header, data)
        if len(payload) != length:
            raise ReplyFormatError(f"header {header}: expected {length} bytes, got {payload!r}")
        return payload


class CcTalkDevicePort:
    """Serve a :class:`CoinAcceptorDevice` on a serial port, one step at a time.

    Parameters
    ----------
    port : str or SerialPort
        URL/path to open, or an open port.
    device : CoinAcceptorDevice
        The protocol object to feed.
    clock : callable
        Monotonic clock in seconds, the ``now`` given to the device.
    sleep : callable
        Used to honour reply delays (253/252); injectable for tests.
    """

    def __init__(
        self,
        port: str | SerialPort,
        device: CoinAcceptorDevice,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owns_port = isinstance(port, str)
        self.port = open_port(port, CCTALK_LINE) if isinstance(port, str) else port
        _require_read_timeout(self.port)
        self.device = device
        self._clock = clock
        self._sleep = sleep

    def step(self) -> int:
        """Read what arrived (blocking at most the port timeout), answer it.

        Returns
        -------
        int
            Number of replies written.
        """
        chunk = _read_available(self.port)
        received = self._clock()
        replies = self.device.receive(chunk, received)
        for reply in replies:
            wait = received + reply.delay_s - self._clock()
            if wait > 0:
                self._sleep(wait)
            self.port.write(reply.data)
        if replies:
            self.port.flush()
        return len(replies)

    def close(self) -> None:
        """Close the port if this object opened it."""
        if self._owns_port:
            self.port.close()
