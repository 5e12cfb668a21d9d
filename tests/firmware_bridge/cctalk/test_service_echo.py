"""The ccTalk service's single-wire echo: the host's bytes back first, then the reply."""

from __future__ import annotations

import threading

from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.frame import Frame, encode_frame
from firmware_bridge.cctalk.headers import Header
from firmware_bridge.runtime.cctalk_service import CcTalkService


class ScriptedLine:  # the two methods of ManagedLine the service uses
    """A line that delivers the given chunks one read at a time and records writes."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.written: list[bytes] = []

    def read(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def write(self, data: bytes) -> bool:
        self.written.append(data)
        return True


POLL = encode_frame(Frame(2, 1, Header.SIMPLE_POLL))
ACK = bytes.fromhex("01 00 02 00 FD")


def serve(line: ScriptedLine, *, echo: bool) -> None:
    device = CoinAcceptorDevice(["GB100B"])
    service = CcTalkService(line, device, threading.Lock(), clock=lambda: 0.0, echo=echo)  # type: ignore[arg-type]
    for _ in range(len(line.chunks)):
        service.step()


def test_echo_writes_each_chunk_back_before_the_reply() -> None:
    # A request split over two reads, then noise the device ignores.
    line = ScriptedLine(POLL[:2], POLL[2:], b"\x55")
    serve(line, echo=True)
    assert line.written == [POLL[:2], POLL[2:], ACK, b"\x55"]
    assert b"".join(line.written) == POLL + ACK + b"\x55"


def test_without_echo_only_replies_are_written() -> None:
    line = ScriptedLine(POLL, b"")
    serve(line, echo=False)
    assert line.written == [ACK]


def test_echo_is_off_unless_asked() -> None:
    line = ScriptedLine(POLL)
    service = CcTalkService(line, CoinAcceptorDevice([]), threading.Lock())  # type: ignore[arg-type]
    assert service.echo is False
    service.step()
    assert line.written == [ACK]
