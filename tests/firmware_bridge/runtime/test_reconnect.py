"""A ccTalk line that goes away and comes back: the runtime reconnects and keeps its state.

The line is pyserial's ``socket://`` URL (the same code path as any port URL);
unplugging the cable is closing the TCP connection.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest

from coinval.decision import Decision
from coinval.signature import Signature
from firmware_bridge.runtime.loop import Runtime
from firmware_bridge.sources import ReplaySource, SourceError
from firmware_bridge.transport.cctalk_serial import CcTalkClient
from firmware_bridge.transport.fd_port import FdPort

pytestmark = pytest.mark.timeout(60)


class NeverCalled:
    def decide(self, signature: Signature, at: dt.datetime) -> Decision:
        raise AssertionError("no coin in this test")


def test_cctalk_port_reconnects_and_keeps_state(tmp_path, caplog) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    runtime = Runtime(
        coins=["gb-200-1997"],
        decider=NeverCalled(),
        source=ReplaySource(str(empty)),
        cctalk_url=f"socket://127.0.0.1:{port}",
    )
    stop = threading.Event()
    runtime.open()
    thread = threading.Thread(target=runtime.run, args=(stop,), daemon=True)
    thread.start()
    try:
        conn, _ = server.accept()
        with CcTalkClient(FdPort(conn.fileno(), timeout=0.01)) as client:
            assert client.poll_credits().device_reset
            client.set_inhibits(0b1)
            client.set_master_inhibit(False)
            first = client.poll_credits()
        conn.close()  # the cable is pulled
        time.sleep(0.3)
        conn, _ = server.accept()  # ... and plugged in again: the runtime came back
        with CcTalkClient(FdPort(conn.fileno(), timeout=0.01), retries=3) as client:
            assert client.get_master_inhibit() is False  # state kept across the outage
            assert client.get_inhibits() == 0b1
            assert client.read_credit_buffer().counter == first.counter  # not reset
        conn.close()
    finally:
        stop.set()
        thread.join(10)
        runtime.close()
        server.close()
    assert runtime.cctalk_line.reconnections >= 1
    assert "ccTalk port" in caplog.text and "reconnected" in caplog.text


def test_unopenable_ports_and_files_are_clear_errors(tmp_path) -> None:
    from firmware_bridge.transport.managed_line import PortOpenError

    runtime = Runtime(
        coins=["gb-200-1997"],
        decider=NeverCalled(),
        source=ReplaySource(str(tmp_path / "missing.jsonl")),
        cctalk_url=str(tmp_path / "no-such-tty"),
    )
    with pytest.raises(PortOpenError, match="cannot open the ccTalk port"):
        runtime.open()
    runtime = Runtime(
        coins=["gb-200-1997"],
        decider=NeverCalled(),
        source=ReplaySource(str(tmp_path / "missing.jsonl")),
        cctalk_url="loop://",
    )
    with pytest.raises(SourceError, match=r"missing\.jsonl"):
        runtime.open()
    assert not runtime.cctalk_line.connected  # nothing left open
