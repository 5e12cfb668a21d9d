"""Speed of the calibration service over real HTTP (pytest-benchmark; run with `make bench`).

A real uvicorn server on a free loopback port, over a populated store (a
profile with versions, a few thousand events, audit entries, a teach session):

* read routes driven open-loop at 200 requests/s for a few seconds from a
  thread pool (httpx): latency p50/p99 measured from each request's *planned*
  send time, so a server falling behind shows as queueing, not as fewer requests;
* the live event stream (SSE) while the serve loop records 20 coins/s through
  ``record_decision``: lag from the committed write to the event arriving at a
  client, p50/p99.

Figures go into ``extra_info`` (and the JSON report); nothing asserts a time.
"""

from __future__ import annotations

import concurrent.futures
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from pydantic import SecretStr

from calibration.domain import coins as coins_domain
from calibration.domain import keys as keys_domain
from calibration.domain import teach as teach_domain
from calibration.domain.keys import Role
from calibration.service import ApiServer, CalibrationService
from calibration.settings import Settings
from coinval.decision import Decision
from coinval.engine import Engine
from coinval.legal_tender import now
from coinval.profile import Profile
from coinval.signature import Signature

from .conftest import HEAD, mixed

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
RATE_PER_S = 200.0
DURATION_S = 4.0
COIN_RATE_PER_S = 20.0
STREAM_COINS = 100
STORED_EVENTS = 3000

#: The read routes driven, in turn (a viewer's dashboard and an operator's checks).
READS = (
    "/healthz",
    "/api/v1/coins",
    "/api/v1/heads",
    f"/api/v1/heads/{HEAD}/coins",
    f"/api/v1/heads/{HEAD}/active",
    f"/api/v1/profiles?head={HEAD}",
    f"/api/v1/heads/{HEAD}/history",
    "/api/v1/events?limit=50",
    f"/api/v1/events?head={HEAD}&reason=counterfeit&limit=20",
    f"/api/v1/stats?head={HEAD}",
    f"/api/v1/stats?head={HEAD}&bucket=hour",
    "/api/v1/audit?limit=50",
    "/api/v1/teach/sessions",
    "/api/v1/whoami",
)


@dataclass
class Running:
    """The server under test."""

    service: CalibrationService
    api: ApiServer
    url: str
    viewer: dict[str, str]
    signatures: list[Signature]
    decisions: list[Decision]
    # `coinval api` as its own process on the same store: the load generator's
    # threads do not share its interpreter (and its GIL), as on a real machine.
    external_url: str


def _coins(profile: Profile, n: int) -> tuple[list[Signature], list[Decision]]:
    batch = mixed(n, seed=31)
    signatures = list(batch.signatures())
    return signatures, Engine(profile).decide_signatures(signatures, now())


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, profile: Profile) -> Iterator[Running]:
    folder: Path = tmp_path_factory.mktemp("api-bench")
    settings = Settings(db=str(folder / "store.db"), admin_key=SecretStr(ADMIN_KEY))
    service = CalibrationService.open(settings)
    ctx = service.context
    config, _ = service.adopt(profile)
    for coin in profile.coins[:3]:  # operator history: settings and audit entries
        coins_domain.set_inhibit(ctx, "bench", HEAD, coin, True)
        coins_domain.set_inhibit(ctx, "bench", HEAD, coin, False)
    teach_domain.start(ctx, "bench", head=HEAD, coin="gb-050-1997", live=True)
    signatures, decisions = _coins(config.profile, 600)
    for i in range(STORED_EVENTS):  # signatures kept on the newest ones only, as in service
        k = i % len(signatures)
        keep = i >= STORED_EVENTS - 300
        service.record_decision(HEAD, decisions[k], signature=signatures[k] if keep else None)
    viewer = keys_domain.create_key(ctx, "bench", name="viewer", role=Role.viewer)["key"]
    api = service.start_api("127.0.0.1", 0)
    port = _free_port()
    exe = Path(sys.executable).with_name("coinval")
    server = subprocess.Popen(
        [str(exe), "api", "--db", settings.db, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    external = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{external}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield Running(
            service,
            api,
            f"http://127.0.0.1:{api.port}",
            {"Authorization": f"Bearer {viewer}"},
            signatures,
            decisions,
            external,
        )
    finally:
        server.terminate()
        server.wait(10)
        api.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = 1e3 * np.asarray(samples_s)
    return (
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        float(ms.max()),
    )


def _drive(running: Running) -> dict[str, Any]:
    """Send READS in turn at RATE_PER_S for DURATION_S, open loop; the figures."""
    total = int(RATE_PER_S * DURATION_S)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    latencies: list[float] = [0.0] * total
    statuses: list[int] = [0] * total
    by_route: dict[str, list[float]] = {route: [] for route in READS}
    with (
        httpx.Client(
            base_url=running.external_url, headers=running.viewer, limits=limits, timeout=30
        ) as client,
        concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool,
    ):
        for route in READS:  # warm: connections, caches, first-call imports
            client.get(route).raise_for_status()
        start = time.perf_counter() + 0.05

        def one(i: int) -> None:
            planned = start + i / RATE_PER_S
            route = READS[i % len(READS)]
            try:
                statuses[i] = client.get(route).status_code
            except httpx.HTTPError:
                statuses[i] = -1
            latencies[i] = time.perf_counter() - planned
            by_route[route].append(latencies[i])

        futures = []
        for i in range(total):
            wait = start + i / RATE_PER_S - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            futures.append(pool.submit(one, i))
        concurrent.futures.wait(futures)
        elapsed = time.perf_counter() - start
    p50, p99, worst = _percentiles(latencies)
    slowest = max(READS, key=lambda r: float(np.percentile(by_route[r], 99)))
    return {
        "requests": total,
        "target_per_s": RATE_PER_S,
        "achieved_per_s": total / elapsed,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": worst,
        "errors": sum(1 for s in statuses if s != 200),
        "routes": len(READS),
        "slowest_route_p99": (
            f"{slowest} {1e3 * float(np.percentile(by_route[slowest], 99)):.1f} ms"
        ),
    }


def test_read_routes_at_200_requests_per_s(benchmark, running: Running) -> None:
    """Latency of the read routes under a steady 200 requests/s (p50/p99 from planned time)."""
    figures: dict[str, Any] = {}

    def load() -> None:
        figures.update(_drive(running))

    benchmark.pedantic(load, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    assert figures["errors"] == 0, figures


class _Stream:
    """An SSE client in a thread: the arrival time of each ``decision`` event by id."""

    def __init__(self, running: Running, expect: int) -> None:
        self.arrived: dict[int, float] = {}
        self.ready = threading.Event()
        self._url = (
            f"{running.url}/api/v1/events/stream?head={HEAD}&max_events={expect}&duration_s=120"
        )
        self._headers = running.viewer
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=130)) as client,
            client.stream("GET", self._url, headers=self._headers) as response,
        ):
            response.raise_for_status()
            self.ready.set()
            event_id: int | None = None
            for line in response.iter_lines():
                if line.startswith("id:"):
                    event_id = int(line[3:].strip())
                elif line.startswith("data:") and event_id is not None:
                    self.arrived[event_id] = time.perf_counter()
                    orjson.loads(line[5:])  # a client decodes each event
                    event_id = None


def test_event_stream_keeps_up_with_20_coins_per_s(benchmark, running: Running) -> None:
    """Lag from record_decision's commit to the event at an SSE client, at 20 coins/s."""
    service, settings = running.service, running.service.context.settings
    committed: dict[int, float] = {}
    writes: list[float] = []

    def feed() -> None:
        stream = _Stream(running, STREAM_COINS)
        assert stream.ready.wait(10), "the stream never opened"
        time.sleep(2 * settings.sse_poll_s)  # the stream has taken its starting point
        start = time.perf_counter()
        for i in range(STREAM_COINS):
            wait = start + i / COIN_RATE_PER_S - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            k = i % len(running.signatures)
            t0 = time.perf_counter()
            event_id = service.record_decision(
                HEAD, running.decisions[k], signature=running.signatures[k]
            )
            done = time.perf_counter()
            committed[event_id] = done
            writes.append(done - t0)
        stream.thread.join(timeout=30)
        lags = [stream.arrived[i] - t for i, t in committed.items() if i in stream.arrived]
        lag50, lag99, lag_max = _percentiles(lags or [float("nan")])
        w50, w99, _ = _percentiles(writes)
        benchmark.extra_info.update(
            {
                "coins": STREAM_COINS,
                "coins_per_s": COIN_RATE_PER_S,
                "delivered": len(lags),
                "lag_p50_ms": lag50,
                "lag_p99_ms": lag99,
                "lag_max_ms": lag_max,
                "sse_poll_ms": 1e3 * settings.sse_poll_s,
                "record_p50_ms": w50,
                "record_p99_ms": w99,
            }
        )

    benchmark.pedantic(feed, rounds=1, iterations=1)
    assert benchmark.extra_info["delivered"] == STREAM_COINS, benchmark.extra_info
