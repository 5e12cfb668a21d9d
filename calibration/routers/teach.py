"""Teach sessions: start, feed, progress, preview, commit, abandon."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from calibration.auth import ContextDep, Operator, Viewer
from calibration.domain import teach as domain
from calibration.routers._bodies import SIGNATURES_BODY
from calibration.routers._params import MAX_ID, NotNullBody, RowId
from calibration.routers._route import OffloadedRoute
from calibration.settings import DEFAULT_HEAD

router = APIRouter(prefix="/teach/sessions", tags=["teach"], route_class=OffloadedRoute)


class StartBody(BaseModel):
    """What to teach, where."""

    model_config = ConfigDict(extra="forbid")
    coin: str = Field(description="coin id of the catalogue, e.g. gb-100-2017")
    head: str = Field(default=DEFAULT_HEAD, description="sensor head serial")
    security: Literal["standard", "narrow", "very narrow", "very-narrow"] = "standard"
    live: bool = Field(default=False, description="also take coins inserted on the head now")
    base_profile_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="merge into this version (default: the active one)",
    )
    note: str | None = Field(default=None, max_length=500)


class CommitBody(BaseModel):
    """How to commit."""

    model_config = ConfigDict(extra="forbid")
    activate: bool = Field(default=False, description="activate the new version at once")
    note: str | None = Field(default=None, max_length=500)


@router.post("", status_code=201, summary="Start a teach session for a coin on a head")
def start(body: StartBody, ctx: ContextDep, who: Operator) -> dict[str, Any]:
    """Then feed it genuine coins."""
    return domain.start(
        ctx,
        who.key_id,
        head=body.head,
        coin=body.coin,
        security=body.security,
        live=body.live,
        base_profile_id=body.base_profile_id,
        note=body.note,
    )


@router.get("", summary="Teach sessions, newest first")
def list_sessions(
    ctx: ContextDep,
    _: Viewer,
    head: str | None = None,
    state: Literal["open", "committed", "abandoned"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Each with its sample count."""
    return domain.list_sessions(ctx, head=head, state=state, limit=limit)


@router.get(
    "/{session_id}",
    summary="Progress: count, spread, outliers found",
    response_model=dict[str, Any],
)
def progress(session_id: RowId, ctx: ContextDep, _: Viewer) -> Response:
    """``ready`` tells whether a commit would be taken; ``problem`` says why not."""
    # The kept summary, written as it is read: no encoder walk of a big reply.
    return Response(domain.progress(ctx, session_id), media_type="application/json")


@router.post(
    "/{session_id}/signatures",
    summary="Feed uploaded signatures (JSON array or JSON Lines)",
    openapi_extra=SIGNATURES_BODY,
)
async def add_signatures(
    session_id: RowId, request: Request, ctx: ContextDep, who: Operator
) -> dict[str, Any]:
    """Valid signatures are kept; bad ones are reported by index with the rule they broke."""
    body = await request.body()
    return await run_in_threadpool(
        domain.add_upload, ctx, who.key_id, session_id, body, request.headers.get("content-type")
    )


@router.get("/{session_id}/preview", summary="What committing would do")
def preview(session_id: RowId, ctx: ContextDep, _: Operator) -> dict[str, Any]:
    """Recent live traffic decided again, how close the new region is to other coins, and a
    plot of the region on two features against that traffic."""
    return domain.preview(ctx, session_id)


@router.post(
    "/{session_id}/commit", summary="Commit: a new profile version", dependencies=[NotNullBody]
)
def commit(
    session_id: RowId, ctx: ContextDep, who: Operator, body: CommitBody | None = None
) -> dict[str, Any]:
    """The coin's new region merged into the head's profile, stored as the next version."""
    options = body or CommitBody()
    return domain.commit(ctx, who.key_id, session_id, activate=options.activate, note=options.note)


@router.post("/{session_id}/abandon", summary="Abandon the session")
def abandon(session_id: RowId, ctx: ContextDep, who: Operator) -> dict[str, Any]:
    """Nothing is taught; the session is kept for the record."""
    return domain.abandon(ctx, who.key_id, session_id)
