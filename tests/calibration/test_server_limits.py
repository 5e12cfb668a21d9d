"""The server's own bound on a request's head (issue 18): a 50 MB header is refused
(431, or the connection closed) after at most the bound, never held whole."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from calibration.server import MAX_REQUEST_HEAD_BYTES, server_options
from tests.calibration.conftest import RealServer, real_server

MB = 1 << 20


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, base_profile_text: str
) -> Iterator[RealServer]:
    store = Path(tmp_path_factory.mktemp("heads")) / "store.db"
    with real_server(store, base_profile_text) as srv:
        yield srv


def _port(srv: RealServer) -> int:
    return int(srv.url.rsplit(":", 1)[1])


HEAD_START = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "


def _send_head(srv: RealServer, header_bytes: int, *, end: bool = True) -> tuple[int, bytes]:
    """Send a GET whose one header is ``header_bytes`` long; bytes sent, and the reply read.

    ``end=False`` leaves the head unfinished (no blank line).
    """
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", _port(srv)), timeout=30) as sock:
        try:
            sock.sendall(HEAD_START)
            while sent < header_bytes:
                n = min(64 * 1024, header_bytes - sent)
                sock.sendall(b"a" * n)
                sent += n
            if end:
                sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while we were still sending: what we want
        try:
            while piece := sock.recv(65536):
                reply += piece
        except (ConnectionResetError, TimeoutError):
            pass
    return sent, reply


def test_the_options_bound_both_parsers() -> None:
    options = server_options()
    assert options["h11_max_incomplete_event_size"] == MAX_REQUEST_HEAD_BYTES
    assert options["http"].__name__ == "BoundedHeadProtocol"


def test_a_fifty_mb_header_is_refused_before_it_is_held(server: RealServer) -> None:
    server.reset_peak()
    before = server.rss()
    sent, reply = _send_head(server, 50 * MB)
    grew = server.peak() - before
    print(f"\n50 MB header: {sent} bytes sent before the close, peak RSS +{grew / MB:.1f} MB")
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert sent < 50 * MB  # the server stopped reading: the socket buffers filled, then reset
    assert grew < 16 * MB, grew
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200


def test_a_head_just_over_the_bound_gets_the_servers_431(server: RealServer) -> None:
    # one byte past the bound, and nothing after it: the server has read all there is
    # when it refuses, so the reply is never lost to a reset
    _, reply = _send_head(server, MAX_REQUEST_HEAD_BYTES + 1 - len(HEAD_START), end=False)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert str(MAX_REQUEST_HEAD_BYTES).encode() in reply


def test_headers_under_the_servers_bound_get_the_apps_431(server: RealServer) -> None:
    r = httpx.get(f"{server.url}/healthz", headers={"X-Big": "a" * (20 * 1024)}, timeout=30)
    assert r.status_code == 431
    assert "16384" in r.json()["detail"]


def test_a_head_at_the_bound_is_not_refused_by_the_server(server: RealServer) -> None:
    _, reply = _send_head(server, MAX_REQUEST_HEAD_BYTES - len(HEAD_START) - 4)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"16384" in reply  # the app's refusal: the server let the head through


def test_ordinary_requests_on_one_connection_still_pass(server: RealServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for size in (0, 1000, 8000, 15000):
            r = c.get("/healthz", headers={"X-Pad": "p" * size})
            assert r.status_code == 200, (size, r.text)
        r = c.post(
            "/api/v1/heads/A/classify?record=false",
            content=b"{}\n" * 50_000,
            headers={**server.operator, "Content-Type": "application/x-ndjson"},
        )
        assert r.status_code == 200
        assert c.get("/api/v1/whoami", headers=server.viewer).status_code == 200
