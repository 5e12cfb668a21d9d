"""Hostile bodies against a real server process: bounded memory, bounded replies (issue 18).

Memory is the server's own peak resident size (``VmHWM`` of its process,
reset before each request), bounded as the issue asks: a keyed request at
most 16 x its body + 128 MB, an anonymous one at most 2 x its body + 64 MB.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.calibration.conftest import HEAD, RealServer, open_teach_session, real_server

API = "/api/v1"
MB = 1 << 20
ERROR_REPLY_MAX = 1 * MB
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, base_profile_text: str
) -> Iterator[RealServer]:
    store = Path(tmp_path_factory.mktemp("hostile")) / "store.db"
    with real_server(store, base_profile_text) as srv:
        yield srv


def _send(
    srv: RealServer, path: str, body: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, int]:
    """POST ``body``; the reply and the server's peak RSS growth over it."""
    srv.reset_peak()
    before = srv.rss()
    r = httpx.post(f"{srv.url}{path}", content=body, headers=headers, timeout=120)
    return r, srv.peak() - before


def _keyed_bound(body: bytes) -> int:
    return 16 * len(body) + 128 * MB


def test_four_mb_of_tiny_json_lines_is_refused_with_a_small_reply(server: RealServer) -> None:
    sid = open_teach_session(server)
    body = b"1\n" * 2_097_152
    r, grew = _send(
        server, f"{API}/teach/sessions/{sid}/signatures", body, {**server.operator, **NDJSON}
    )
    assert r.status_code == 413, r.text[:500]
    assert "200000" in r.json()["detail"]
    assert len(r.content) < ERROR_REPLY_MAX
    assert grew <= _keyed_bound(body), grew


def test_thirty_one_mb_array_of_floats_is_refused_in_bounded_memory(server: RealServer) -> None:
    sid = open_teach_session(server)
    body = orjson.dumps([0.5] * 7_900_000)  # about 31 MB
    assert 30_000_000 < len(body) < 32 * MB
    r, grew = _send(
        server,
        f"{API}/teach/sessions/{sid}/signatures",
        body,
        {**server.operator, "Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text[:500]
    assert len(r.content) < ERROR_REPLY_MAX
    assert grew <= _keyed_bound(body), grew


def test_an_array_of_empty_objects_under_the_cap_is_summarised(server: RealServer) -> None:
    sid = open_teach_session(server)
    body = orjson.dumps([{}] * 150_000)
    r, grew = _send(
        server,
        f"{API}/teach/sessions/{sid}/signatures",
        body,
        {**server.operator, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text[:500]
    out = r.json()
    assert len(r.content) < ERROR_REPLY_MAX
    assert out["rejected_total"] == 150_000
    assert len(out["errors"]) == out["rejected_listed"] == 20
    assert out["errors"][0]["index"] == 0
    assert grew <= _keyed_bound(body), grew


def test_classify_of_more_lines_than_the_cap_is_refused(server: RealServer) -> None:
    body = b"{}\n" * 1_300_000
    r, grew = _send(
        server, f"{API}/heads/{HEAD}/classify?record=false", body, {**server.operator, **NDJSON}
    )
    assert r.status_code == 413, r.text[:500]
    assert len(r.content) < ERROR_REPLY_MAX
    assert grew <= _keyed_bound(body), grew


def test_classify_of_many_bad_lines_under_the_cap_stays_in_bounds(server: RealServer) -> None:
    body = b"{}\n" * 100_000
    r, grew = _send(
        server, f"{API}/heads/{HEAD}/classify?record=false", body, {**server.operator, **NDJSON}
    )
    assert r.status_code == 200, r.text[:500]
    decisions = r.json()["decisions"]
    assert len(decisions) == 100_000
    assert {d["reason"] for d in decisions} == {"invalid"}
    assert grew <= _keyed_bound(body), grew


def test_anonymous_bodies_are_refused_before_they_are_read(server: RealServer) -> None:
    body = orjson.dumps([0.5] * 7_900_000)
    r, grew = _send(server, f"{API}/keys", body, {"Content-Type": "application/json"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert grew <= 2 * len(body) + 64 * MB, grew

    # four at once
    server.reset_peak()
    before = server.rss()
    statuses: list[int] = []

    def one() -> None:
        try:
            resp = httpx.post(
                f"{server.url}{API}/keys",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            statuses.append(resp.status_code)
        except httpx.TransportError:
            statuses.append(401)  # refused and closed before the body was all sent

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [401] * 4
    assert server.peak() - before <= 2 * len(body) + 64 * MB


def test_a_viewer_gets_403_before_its_body_is_looked_at(server: RealServer) -> None:
    r = httpx.put(
        f"{server.url}{API}/heads/{HEAD}/master-inhibit",
        content=b"{not json",
        headers={**server.viewer, "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 403, r.text
