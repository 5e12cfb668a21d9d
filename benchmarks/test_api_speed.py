"""Speed of the calibration service over real HTTP (pytest-benchmark; run with `make bench`).

A real ``coinval api`` server (uvicorn, its own process) on a free loopback
port, over a populated SQLite store: a profile with versions, operator
history in the audit log, a teach session, and 50,000 decisions spread over
60 days (about 830 coins a day, a busy machine), the newest 300 with their
signatures as the serve loop keeps them:

* read routes (a dashboard's and an operator's: the stats are all-time totals,
  the last 24 hours by hour and all days by day) driven open-loop at 200
  requests/s for 15 s from a thread pool (httpx): latency p50/p95/p99 per
  route and overall, measured from each request's *planned* send time, so a
  server falling behind shows as queueing (coordinated omission is not
  hidden), not as fewer requests;
* the heaviest read, every hour of the 60 days (1440 buckets, ~250 kB), one
  request at a time: it is not in the 200/s mix, its figure is reported apart;
* the live event stream (SSE) while the serve loop records 20 coins/s through
  ``record_decision``: lag from the committed write to the event arriving at a
  client, p50/p99.

Figures go into ``extra_info`` (and the JSON report); nothing asserts a time.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import gc
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

from calibration.context import Context
from calibration.db import format_time
from calibration.domain import coins as coins_domain
from calibration.domain import keys as keys_domain
from calibration.domain import teach as teach_domain
from calibration.domain.keys import Role
from calibration.repository import events as events_repo
from calibration.service import ApiServer, CalibrationService
from calibration.settings import Settings
from coinval.decision import Decision
from coinval.engine import Engine
from coinval.legal_tender import now
from coinval.profile import Profile
from coinval.signature import Signature
from sim.heads import DEFAULT_HEAD

from .conftest import mixed

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
RATE_PER_S = 200.0
DURATION_S = 15.0
COIN_RATE_PER_S = 20.0
STREAM_COINS = 100
STORED_EVENTS = 50_000
HISTORY_DAYS = 60
SIGNED_EVENTS = 300

#: The start of the last 24 hours, for a dashboard's hourly chart.
DAY_AGO = format_time(dt.datetime.now(dt.UTC) - dt.timedelta(hours=24))[:19] + "Z"

#: The read routes driven, in turn (a viewer's dashboard and an operator's checks).
READS = (
    "/healthz",
    "/api/v1/coins",
    "/api/v1/heads",
    f"/api/v1/heads/{DEFAULT_HEAD}/coins",
    f"/api/v1/heads/{DEFAULT_HEAD}/active",
    f"/api/v1/profiles?head={DEFAULT_HEAD}",
    f"/api/v1/heads/{DEFAULT_HEAD}/history",
    "/api/v1/events?limit=50",
    f"/api/v1/events?head={DEFAULT_HEAD}&reason=counterfeit&limit=20",
    f"/api/v1/stats?head={DEFAULT_HEAD}",
    f"/api/v1/stats?head={DEFAULT_HEAD}&bucket=hour&since={DAY_AGO}",
    f"/api/v1/stats?head={DEFAULT_HEAD}&bucket=day",
    "/api/v1/audit?limit=50",
    "/api/v1/teach/sessions",
    "/api/v1/whoami",
)

#: Every hour of the whole history (1440 buckets, about 240 kB): measured on its own.
ALL_HOURS = f"/api/v1/stats?head={DEFAULT_HEAD}&bucket=hour"


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
        coins_domain.set_inhibit(ctx, "bench", DEFAULT_HEAD, coin, True)
        coins_domain.set_inhibit(ctx, "bench", DEFAULT_HEAD, coin, False)
    teach_domain.start(ctx, "bench", head=DEFAULT_HEAD, coin="gb-050-1997", live=True)
    signatures, decisions = _coins(config.profile, 600)
    _history(ctx, config.profile_id, decisions)
    for i in range(SIGNED_EVENTS):  # the newest, through the serve loop's path, with signatures
        k = i % len(signatures)
        service.record_decision(DEFAULT_HEAD, decisions[k], signature=signatures[k])
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


def _history(ctx: Context, profile_id: int, decisions: list[Decision]) -> None:
    """STORED_EVENTS - SIGNED_EVENTS older decisions, evenly over HISTORY_DAYS up to now,
    written in one transaction (as record_decision writes them, without signatures)."""
    old = STORED_EVENTS - SIGNED_EVENTS
    start = ctx.clock() - dt.timedelta(days=HISTORY_DAYS)
    step = dt.timedelta(days=HISTORY_DAYS) / old
    picks = np.random.default_rng(7).integers(len(decisions), size=old)  # coins come mixed
    with ctx.db.transaction(write=True) as tx:
        for i, k in enumerate(picks):
            events_repo.insert_decision(
                tx,
                decisions[int(k)],
                at=format_time(start + i * step),
                head=DEFAULT_HEAD,
                profile_id=profile_id,
                source="live",
                signature=None,
            )


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


def _quantiles(samples_s: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies in seconds, in ms."""
    ms = 1e3 * np.asarray(samples_s)
    p50, p95, p99 = (float(v) for v in np.percentile(ms, [50, 95, 99]))
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": float(ms.max())}


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
        # The instrument must not pause: this process holds pytest, numpy, the simulator and
        # the fixtures, and a full collection of them would stall every request in flight
        # and be charged to the server. Freeze them (the load's own objects still collected).
        gc.collect()
        gc.freeze()
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
        gc.unfreeze()
    overall = _quantiles(latencies)
    routes = {route: _quantiles(by_route[route]) for route in READS}
    slowest = max(READS, key=lambda r: routes[r]["p99_ms"])
    print(f"\n{total} GETs at {RATE_PER_S:.0f}/s planned, {total / elapsed:.1f}/s achieved")
    print(f"{'route':<58} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  ms")
    for name, q in [*routes.items(), ("overall", overall)]:
        figures = " ".join(f"{q[k]:7.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        print(f"{name:<58} {figures}")
    return {
        "requests": total,
        "target_per_s": RATE_PER_S,
        "achieved_per_s": total / elapsed,
        **overall,
        "errors": sum(1 for s in statuses if s != 200),
        "stored_events": STORED_EVENTS,
        "routes": routes,
        "slowest_route_p99": f"{slowest} {routes[slowest]['p99_ms']:.1f} ms",
    }


def test_read_routes_at_200_requests_per_s(benchmark, running: Running) -> None:
    """Latency of the read routes under a steady 200 requests/s (from planned send time)."""
    figures: dict[str, Any] = {}

    def load() -> None:
        figures.update(_drive(running))

    benchmark.pedantic(load, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    assert figures["errors"] == 0, figures


def test_stats_of_every_hour_one_at_a_time(benchmark, running: Running) -> None:
    """The heaviest read: every hour of 60 days (not in the 200/s mix), one request at a time."""
    times: list[float] = []
    with httpx.Client(base_url=running.external_url, headers=running.viewer, timeout=30) as client:
        size = len(client.get(ALL_HOURS).content)

        def once() -> None:
            t0 = time.perf_counter()
            client.get(ALL_HOURS).raise_for_status()
            times.append(time.perf_counter() - t0)

        benchmark.pedantic(once, rounds=40, iterations=1)
    figures = _quantiles(times)
    print(
        f"\n{ALL_HOURS} ({size} bytes), one at a time: "
        + ", ".join(f"{k[:-3]} {v:.1f} ms" for k, v in figures.items())
    )
    benchmark.extra_info.update({"route": ALL_HOURS, "bytes": size, **figures})


class _Stream:
    """An SSE client in a thread: the arrival time of each ``decision`` event by id."""

    def __init__(self, running: Running, expect: int) -> None:
        self.arrived: dict[int, float] = {}
        self.ready = threading.Event()
        self._url = (
            f"{running.url}/api/v1/events/stream"
            f"?head={DEFAULT_HEAD}&max_events={expect}&duration_s=120"
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
                DEFAULT_HEAD, running.decisions[k], signature=running.signatures[k]
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
