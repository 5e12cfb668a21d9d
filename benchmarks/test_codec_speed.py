"""Sans-I/O codec speed and the 100k-coin batches (run with `make bench`).

The ccTalk framer and coin-acceptor device, and the sensor link, are measured
without any port: bytes in, frames or replies out, in frames per second.  The
100k-coin validation and feature runs go through in 10k-coin chunks, as
`coinval classify` does, so memory stays that of one chunk.
"""

from __future__ import annotations

from typing import Any

import pytest

from coinval.features import extract
from coinval.signature import parse_signature
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.cctalk.frame import Frame, FrameParser, encode_frame
from firmware_bridge.sensorlink.messages import SignatureMessage
from firmware_bridge.sensorlink.protocol import SensorLink

from .conftest import mixed

POLLS = 10_000


def _rate(benchmark: Any, count: int) -> float:
    stats = getattr(benchmark, "stats", None)
    return count / float(stats.stats.mean) if stats is not None else float("nan")


def test_cctalk_frame_parser_frames_per_s(benchmark) -> None:
    stream = encode_frame(Frame(dest=2, src=1, header=229, data=b"")) * POLLS

    def parse() -> int:
        return len(FrameParser().feed(stream, 0.0))

    assert benchmark(parse) == POLLS
    benchmark.extra_info["frames_per_s"] = _rate(benchmark, POLLS)


def test_cctalk_device_requests_per_s(benchmark) -> None:
    """Request bytes in, reply bytes out: the acceptor's whole sans-I/O path."""
    request = encode_frame(Frame(dest=2, src=1, header=229, data=b""))

    def serve() -> int:
        device = CoinAcceptorDevice(["GB100B", "GB100A"])
        replies = 0
        for i in range(POLLS):
            replies += bool(device.receive_data(request, i * 0.01))
        return replies

    assert benchmark(serve) == POLLS
    benchmark.extra_info["requests_per_s"] = _rate(benchmark, POLLS)


def test_sensor_link_signature_frames_per_s(benchmark) -> None:
    board = SensorLink("board")
    messages = [SignatureMessage.from_signature(s) for s in mixed(500, seed=5).signatures()]
    wire = b"".join(board.send(m) for m in messages)

    def decode() -> int:
        engine = SensorLink("engine")
        engine.receive_data(wire)
        count = 0
        while engine.next_event() is not None:
            count += 1
        return count

    assert benchmark(decode) == len(messages)
    benchmark.extra_info["frames_per_s"] = _rate(benchmark, len(messages))
    benchmark.extra_info["bytes_per_frame"] = len(wire) // len(messages)


@pytest.mark.parametrize("what", ["validation", "features"])
def test_one_hundred_thousand_coins_in_chunks(benchmark, what: str) -> None:
    chunk = mixed(10_000, seed=9)
    objects = [s.to_json_dict() for s in chunk.signatures()] if what == "validation" else []

    def run() -> None:
        for _ in range(10):
            if what == "validation":
                for obj in objects:
                    parse_signature(obj)
            else:
                extract(chunk)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["coins"] = 100_000
    benchmark.extra_info["coins_per_s"] = _rate(benchmark, 100_000)
