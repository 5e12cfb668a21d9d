"""Decision events: classify uploads, read recent decisions, follow them live (SSE)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from calibration.auth import ContextDep, Operator, Viewer
from calibration.bell import EventBell
from calibration.domain import events as domain
from calibration.routers._bodies import SIGNATURES_BODY
from calibration.routers._params import MAX_ID
from calibration.routers._route import OffloadedRoute
from coinval.legal_tender import LONDON

router = APIRouter(tags=["events"], route_class=OffloadedRoute)


def _is_event_id(text: str) -> bool:
    """Whether a ``Last-Event-ID`` header is an event id we could have sent."""
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID


Since = Annotated[dt.datetime | None, Query(description="from this moment (ISO, with zone)")]
Until = Annotated[dt.datetime | None, Query(description="before this moment (ISO, with zone)")]


@router.post(
    "/heads/{head}/classify",
    summary="Decide uploaded signatures with the head's active profile",
    openapi_extra=SIGNATURES_BODY,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}}},
)
async def classify(
    head: str,
    request: Request,
    ctx: ContextDep,
    who: Operator,
    at: Annotated[
        dt.datetime | None,
        Query(description="decide as of this moment (default: now; without zone: London)"),
    ] = None,
    record: Annotated[bool, Query(description="record the decisions as events")] = True,
    backfill: Annotated[
        bool,
        Query(
            description="record decisions dated outside the window around the server's clock "
            "(COINVAL_BACKFILL_WINDOW_S); audited"
        ),
    ] = False,
) -> StreamingResponse:
    """One decision per signature, in order; a bad signature gets ``invalid`` with the rule.

    At most ``COINVAL_MAX_ITEMS_PER_REQUEST`` signatures per request (413 beyond)."""
    body = await request.body()
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=LONDON)  # as `coinval classify --at`: naive is London time
    result = await run_in_threadpool(
        domain.classify,
        ctx,
        head=head,
        body=body,
        content_type=request.headers.get("content-type"),
        at=at,
        record=record,
        actor=who.key_id,
        backfill=backfill,
    )
    return StreamingResponse(_pieces(result), media_type="application/json")


async def _pieces(result: domain.Classified) -> AsyncIterator[bytes]:
    for piece in result.stream():
        yield piece


@router.get("/events", summary="Recent decisions, newest first, filtered and paged")
def events(
    ctx: ContextDep,
    _: Viewer,
    head: str | None = None,
    coin: str | None = None,
    reason: str | None = None,
    since: Since = None,
    until: Until = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="page cursor: next_before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Pass ``next_before`` back as ``before`` for the next page."""
    flt = domain.check_filter(head, coin, reason, since, until)
    return domain.page(ctx, flt, before=before, limit=limit)


@router.get(
    "/events/stream",
    summary="Live decisions as server-sent events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    ctx: ContextDep,
    _: Viewer,
    head: str | None = None,
    coin: str | None = None,
    reason: str | None = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="start after this event id")
    ] = None,
    max_events: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="end after this many")
    ] = None,
    duration_s: Annotated[
        float | None, Query(ge=0, le=86400, description="end after this many seconds")
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """``event: decision`` per new event, ``id`` the event id (so clients resume with
    ``Last-Event-ID``); a comment line every few seconds keeps the connection open.

    Between two looks at the store the stream waits ``COINVAL_SSE_POLL_S`` or
    until the bell rings (:mod:`calibration.bell`: a route here recorded events,
    or another process said so through PostgreSQL), whichever comes first; it
    ends when the server stops."""
    flt = domain.check_filter(head, coin, reason, None, None)
    if after is None and last_event_id is not None and _is_event_id(last_event_id):
        after = int(last_event_id)
    start = after if after is not None else await run_in_threadpool(domain.last_event_id, ctx)
    poll, heartbeat = ctx.settings.sse_poll_s, ctx.settings.sse_heartbeat_s
    bell: EventBell = request.app.state.peers.bell

    async def generate() -> AsyncIterator[str]:
        last, sent, quiet_since = start, 0, time.monotonic()
        deadline = None if duration_s is None else quiet_since + duration_s
        yield "retry: 2000\n\n"
        while not bell.closed and not await request.is_disconnected():
            rings = bell.rings  # before the look: a ring during it is not lost
            rows = await run_in_threadpool(domain.newer, ctx, flt, last)
            for row in rows:
                last = row["id"]
                yield f"id: {row['id']}\nevent: decision\ndata: {json.dumps(row)}\n\n"
                sent += 1
                if max_events is not None and sent >= max_events:
                    return
            if rows:
                quiet_since = time.monotonic()
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return
            if time.monotonic() - quiet_since >= heartbeat:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            now = time.monotonic()
            wait = min(poll, quiet_since + heartbeat - now)
            if deadline is not None:
                wait = min(wait, deadline - now)
            await bell.wait(rings, max(0.0, wait))

    return StreamingResponse(
        generate(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
