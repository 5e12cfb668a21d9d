"""Prometheus text metrics: HTTP requests counted in process, decisions from the store."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calibration.context import Context
from calibration.domain import coins as coins_domain
from calibration.domain import fleet as fleet_domain
from calibration.domain import stats


class RequestCounter:
    """Counts requests per (method, route template, status) and their total duration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        with self._lock:
            self.counts[(method, route, status)] += 1
            self.seconds[(method, route)] += seconds

    def snapshot(self) -> tuple[dict[tuple[str, str, int], int], dict[tuple[str, str], float]]:
        """Copies of the counters."""
        with self._lock:
            return dict(self.counts), dict(self.seconds)


class RequestMetrics:
    """ASGI middleware feeding a :class:`RequestCounter`.

    ``routes`` maps each endpoint function to its full path template, so
    requests are counted per route (``/api/v1/profiles/{profile_id}``), not
    per URL.
    """

    def __init__(self, app: ASGIApp, counter: RequestCounter, routes: dict[object, str]) -> None:
        self.app = app
        self.counter = counter
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            route = self.routes.get(scope.get("endpoint"), "(unmatched)")
            self.counter.add(scope["method"], route, status, time.perf_counter() - start)


def _label(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(ctx: Context, counter: RequestCounter) -> str:
    """The metrics page in the Prometheus text exposition format (0.0.4)."""
    lines = [
        "# HELP coinval_decisions_total Coin decisions recorded, by head, coin and reason.",
        "# TYPE coinval_decisions_total counter",
    ]
    for row in stats.decision_counts(ctx):
        lines.append(
            f'coinval_decisions_total{{head="{_label(row["head"])}",coin="{_label(row["coin"])}",'
            f'reason="{_label(row["reason"])}"}} {int(row["n"])}'
        )
    lines += [
        "# HELP coinval_active_profile_version Active profile version per head (0: none).",
        "# TYPE coinval_active_profile_version gauge",
    ]
    heads = coins_domain.list_heads(ctx)
    for head in heads:
        config = ctx.active(head["head"])
        lines.append(
            f'coinval_active_profile_version{{head="{_label(head["head"])}"}} '
            f"{config.version if config else 0}"
        )
    lines += [
        "# HELP coinval_master_inhibit Whether a head's master inhibit is set.",
        "# TYPE coinval_master_inhibit gauge",
    ]
    for head in heads:
        lines.append(
            f'coinval_master_inhibit{{head="{_label(head["head"])}"}} {int(head["master_inhibit"])}'
        )
    lines += [
        "# HELP coinval_fleet_summarised_events_total Events acceptors' full outboxes sent"
        " as counts instead, by head, coin and reason.",
        "# TYPE coinval_fleet_summarised_events_total counter",
    ]
    for row in fleet_domain.summary_totals(ctx):
        lines.append(
            f'coinval_fleet_summarised_events_total{{head="{_label(row["head"])}",'
            f'coin="{_label(row["coin"])}",reason="{_label(row["reason"])}"}} {int(row["n"])}'
        )
    hold = getattr(ctx.db, "longest_write_hold_s", None)
    if hold is not None:
        lines += [
            "# HELP coinval_store_write_hold_seconds_max Longest hold of the store's write lock"
            " by this process since it started.",
            "# TYPE coinval_store_write_hold_seconds_max gauge",
            f"coinval_store_write_hold_seconds_max {float(hold):.6f}",
        ]
    counts, seconds = counter.snapshot()
    lines += [
        "# HELP coinval_http_requests_total HTTP requests served, by method, route and status.",
        "# TYPE coinval_http_requests_total counter",
    ]
    for (method, route, status), n in sorted(counts.items()):
        lines.append(
            f'coinval_http_requests_total{{method="{method}",route="{_label(route)}",'
            f'status="{status}"}} {n}'
        )
    lines += [
        "# HELP coinval_http_request_seconds_total Time spent serving requests.",
        "# TYPE coinval_http_request_seconds_total counter",
    ]
    for (method, route), s in sorted(seconds.items()):
        lines.append(
            f'coinval_http_request_seconds_total{{method="{method}",route="{_label(route)}"}} '
            f"{s:.6f}"
        )
    return "\n".join(lines) + "\n"
