"""Loss traces (signature contract v1.1) through every sensor source, end to end.

``replay:FILE`` reads them from JSON Lines; a sensor board sends them over a
real pseudo-terminal (sensor link v1.1), and so does the simulated head
(``--sensor sim`` is a :class:`~firmware_bridge.sources.SensorLinkSource` on a
pty whose other end is ``sim.virtual_head``).  v1 signatures keep working
beside them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coinval.signature import Signature
from firmware_bridge.sensorlink import Hello, Role, SensorLink
from firmware_bridge.sensorlink.framing import encode_frame
from firmware_bridge.sources import (
    CoinInserted,
    CoinUnreadable,
    ReplaySource,
    SensorLinkSource,
    SourceEvent,
)
from firmware_bridge.transport.fd_port import FdPort
from tests.firmware_bridge.sensorlink.test_messages import loss_signature, small_signature

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(60),
]


def with_loss(signature: Signature, seed: int = 0) -> Signature:
    """``signature`` with loss traces made up from its eddy traces (float32-exact)."""
    rng = np.random.default_rng(seed)
    n = signature.eddy_lo.shape[0]
    lo = (0.3 * signature.eddy_lo + rng.normal(0, 1, n)).astype(np.float32).astype(np.float64)
    hi = (0.6 * signature.eddy_hi + rng.normal(0, 1, n)).astype(np.float32).astype(np.float64)
    return dataclasses.replace(signature, eddy_lo_loss=lo, eddy_hi_loss=hi)


def same_traces(a: Signature, b: Signature) -> None:
    assert a.has_loss == b.has_loss
    for name in ("eddy_lo", "eddy_hi", "rim", "eddy_lo_loss", "eddy_hi_loss"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


# -- replay:FILE ---------------------------------------------------------------------


def test_replay_passes_loss_traces_through_and_skips_half_pairs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    v1 = small_signature().to_signature()
    v11 = loss_signature().to_signature()
    half = v11.to_json_dict()
    del half["eddy_hi_loss"]
    longer = v11.to_json_dict() | {"eddy_lo_loss": [*v11.to_json_dict()["eddy_lo_loss"], 0.0]}
    lines: list[dict[str, Any]] = [v11.to_json_dict(), v1.to_json_dict(), half, longer]
    path = tmp_path / "coins.jsonl"
    path.write_text("".join(json.dumps(obj) + "\n" for obj in lines))

    source = ReplaySource(str(path), coins_per_s=1000.0)
    source.open()
    coins: list[CoinInserted] = []
    try:
        with caplog.at_level(logging.WARNING, logger="firmware_bridge.sources"):
            deadline = time.monotonic() + 10
            while not source.exhausted:
                assert time.monotonic() < deadline
                coins += [e for e in source.poll(0.01) if isinstance(e, CoinInserted)]
    finally:
        source.close()
    assert [c.coin_seq for c in coins] == [1, 2]
    same_traces(coins[0].signature, v11)
    same_traces(coins[1].signature, v1)
    assert source.skipped == 2
    assert "line 3: eddy_hi_loss: is required when eddy_lo_loss is given" in caplog.text
    assert "line 4: eddy_lo_loss: must have the same length as eddy_lo" in caplog.text


# -- a sensor board on a pseudo-terminal ------------------------------------------------


def _pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


def collect(source: SensorLinkSource, want: int, limit_s: float = 10.0) -> Iterator[SourceEvent]:
    """Poll until ``want`` coin events (inserted or unreadable) arrived."""
    got = 0
    deadline = time.monotonic() + limit_s
    while got < want:
        assert time.monotonic() < deadline, f"only {got} of {want} coins arrived"
        for event in source.poll(0.01):
            if isinstance(event, CoinInserted | CoinUnreadable):
                got += 1
            yield event


def test_a_v1_1_board_delivers_loss_traces_and_bad_ones_are_unreadable_coins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    master, slave, path = _pty()
    source = SensorLinkSource(path)
    board = SensorLink("board")
    port = FdPort(master)
    try:
        source.open()
        frames = [
            board.send(Hello(Role.BOARD, "SH-0077", "fw 2.0")),
            board.send(loss_signature()),  # coin 2
            board.send(small_signature()),  # coin 3: the demodulator dropped out
            board.send(loss_signature(eddy_hi_loss=[np.inf] + [0.0] * 31)),  # coin 4
            board.send(loss_signature()),  # coin 5: back again
        ]
        # Coin 6: built wrongly by the board (loss bit, traces one sample short),
        # but with a good CRC: the engine knows the coin, and rejects it.
        payload = loss_signature().encode_payload()
        frames.append(encode_frame(0x10, 6, payload[: 37 + 8 * 32 + 4 * 64 + 252]))
        with caplog.at_level(logging.INFO, logger="firmware_bridge.sources"):
            for frame in frames:
                port.write(frame)
            events = list(collect(source, 5))
    finally:
        source.close()
        os.close(master)
        os.close(slave)
    coins = {e.coin_seq: e for e in events if isinstance(e, CoinInserted | CoinUnreadable)}
    assert sorted(coins) == [2, 3, 4, 5, 6]
    inserted = {k: e for k, e in coins.items() if isinstance(e, CoinInserted)}
    assert sorted(inserted) == [2, 3, 5]
    same_traces(inserted[2].signature, loss_signature().to_signature())
    same_traces(inserted[3].signature, small_signature().to_signature())
    assert inserted[5].signature.has_loss
    bad = coins[4]
    assert isinstance(bad, CoinUnreadable)
    assert bad.detail.startswith("invalid_signature: eddy_hi_loss: every sample must be finite")
    cut = coins[6]
    assert isinstance(cut, CoinUnreadable)
    assert cut.detail.startswith("malformed: SignatureMessage truncated: eddy_hi_loss needs")
    assert "sensor link message set 2" in caplog.text
    assert caplog.text.count("signatures carry loss traces") == 2
    assert caplog.text.count("no longer carry loss traces") == 1


# -- the simulated head (--sensor sim) ----------------------------------------------------


def _run_virtual_head(
    signatures: list[Signature], until: Callable[[SensorLinkSource], list[SourceEvent]]
) -> list[SourceEvent]:
    from sim.scenario import Behaviour, ScriptedCoin
    from sim.virtual_head import HeadTimings, VirtualHead

    master, slave, path = _pty()
    coins = [
        ScriptedCoin(i, "gb-100-2017", "genuine", Behaviour.NORMAL, sig, "test")
        for i, sig in enumerate(signatures)
    ]
    head = VirtualHead(
        FdPort(master),
        iter(coins),
        coins_per_s=20.0,
        max_coins=len(coins),
        timings=HeadTimings(gate_window_s=2.0, transit_s=(0.01, 0.02), credit_window_s=0.2),
        head_id="SIM-L",
    )
    source = SensorLinkSource(path)
    stop = threading.Event()
    thread = threading.Thread(target=head.run, args=(stop,), daemon=True)
    try:
        source.open()
        thread.start()
        return until(source)
    finally:
        stop.set()
        thread.join(5)
        source.close()
        os.close(master)
        os.close(slave)


def test_the_simulated_head_sends_loss_traces_over_the_link() -> None:
    base = small_signature(head=None).to_signature()
    sent = [with_loss(base, seed=1), base, with_loss(base, seed=2)]

    def until(source: SensorLinkSource) -> list[SourceEvent]:
        events = []
        for event in collect(source, len(sent)):
            events.append(event)
            if isinstance(event, CoinInserted):
                source.gate(event.coin_seq, accept=False, sorter_path=0)
        return events

    events = _run_virtual_head(sent, until)
    inserted = [e for e in events if isinstance(e, CoinInserted)]
    assert len(inserted) == len(sent)
    for event, original in zip(inserted, sent, strict=True):
        assert event.signature.head == "SIM-L"  # the board stamps its serial
        same_traces(event.signature, original)
