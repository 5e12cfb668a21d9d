"""Statistics of decisions, and the Prometheus metrics page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from calibration.auth import ContextDep, MetricsAccess, Viewer
from calibration.domain import stats as domain
from calibration.domain.events import check_filter
from calibration.metrics import render
from calibration.routers._route import OffloadedRoute, json_response

router = APIRouter(tags=["stats"], route_class=OffloadedRoute)
metrics_router = APIRouter(tags=["stats"], route_class=OffloadedRoute)


@router.get(
    "/stats",
    summary="Counts per coin and reason, acceptance and counterfeit rates",
    response_model=dict[str, Any],
)
def stats(
    ctx: ContextDep,
    _: Viewer,
    head: str | None = None,
    coin: str | None = None,
    since: Annotated[dt.datetime | None, Query()] = None,
    until: Annotated[dt.datetime | None, Query()] = None,
    bucket: Literal["hour", "day"] | None = None,
) -> Response:
    """Buckets are UTC hours (``2024-05-01T13``) or days (``2024-05-01``)."""
    return json_response(domain.summary(ctx, check_filter(head, coin, None, since, until), bucket))


@metrics_router.get(
    "/metrics",
    summary="Prometheus text metrics",
    response_class=PlainTextResponse,
)
def metrics(request: Request, ctx: ContextDep, _: MetricsAccess) -> PlainTextResponse:
    """Needs a viewer key unless ``COINVAL_METRICS_PUBLIC`` is set."""
    return PlainTextResponse(
        render(ctx, request.app.state.request_counter),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
