"""Profile versions: import, export, diff; a head's active profile, activation, rollback."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from calibration.auth import ContextDep, Operator, Viewer
from calibration.domain import profiles as domain
from calibration.domain.common import check_head
from calibration.errors import NotFoundError
from calibration.routers._bodies import PROFILE_BODY
from calibration.routers._params import MAX_ID, NotNullBody, RowId
from calibration.routers._route import OffloadedRoute

router = APIRouter(tags=["profiles"], route_class=OffloadedRoute)


class ActivateBody(BaseModel):
    """Which stored version to make active."""

    model_config = ConfigDict(extra="forbid")
    profile_id: int = Field(ge=1, le=MAX_ID)


class RollbackBody(BaseModel):
    """Where to roll back to; without a version, to the profile active before this one."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, le=MAX_ID)


@router.get("/profiles", summary="Stored profile versions, newest first")
def list_profiles(
    ctx: ContextDep,
    _: Viewer,
    head: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[dict[str, Any]]:
    """Metadata of each version (documents through ``/profiles/{id}/document``)."""
    return domain.list_profiles(ctx, head=head, limit=limit, offset=offset)


@router.post(
    "/profiles",
    status_code=201,
    summary="Import a profile (the `coinval teach` format) as a new version",
    openapi_extra=PROFILE_BODY,
)
async def import_profile(
    request: Request,
    ctx: ContextDep,
    who: Operator,
    head: Annotated[str | None, Query(description="head to store it under")] = None,
    note: Annotated[str | None, Query(max_length=500)] = None,
    activate: bool = False,
) -> dict[str, Any]:
    """Validated like ``coinval classify --profile`` would; refused with the reason otherwise."""
    body = await request.body()
    return await run_in_threadpool(
        domain.import_profile, ctx, who.key_id, body, head=head, note=note, activate=activate
    )


@router.get("/profiles/{profile_id}", summary="One version's metadata")
def get_profile(profile_id: RowId, ctx: ContextDep, _: Viewer) -> dict[str, Any]:
    """Head, version, coins, origin, parent, author."""
    return domain.get_meta(ctx, profile_id)


@router.get(
    "/profiles/{profile_id}/document",
    summary="Export a version: the profile document `coinval classify --profile` reads",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def export_profile(profile_id: RowId, ctx: ContextDep, _: Viewer) -> Response:
    """Byte for byte the stored document."""
    meta = domain.get_meta(ctx, profile_id)
    name = f"profile-{meta['head']}-v{meta['version']}.json"
    return Response(
        domain.get_document(ctx, profile_id),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/profiles/{profile_id}/diff/{other_id}", summary="What changed between two versions")
def diff(profile_id: RowId, other_id: RowId, ctx: ContextDep, _: Viewer) -> dict[str, Any]:
    """Coins added, removed and changed (region shifts in scales), settings changed."""
    return domain.diff(ctx, profile_id, other_id)


@router.get("/heads/{head}/active", summary="The head's active profile")
def get_active(head: str, ctx: ContextDep, _: Viewer) -> dict[str, Any]:
    """The active version's metadata, and whether the master inhibit is set."""
    check_head(head)
    config = ctx.active(head)
    if config is None:
        raise NotFoundError(f"head {head!r} has no active profile")
    meta = domain.get_meta(ctx, config.profile_id)
    return {
        **meta,
        "master_inhibit": config.master_inhibit,
        "inhibited": sorted(config.profile.inhibited),
    }


@router.get(
    "/heads/{head}/config",
    summary="What the head's engine must use: the effective profile, for acceptors to follow",
    responses={304: {"description": "unchanged since the ETag given in If-None-Match"}},
)
def get_config(
    head: str,
    ctx: ContextDep,
    _: Viewer,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The active version with the head's inhibits, legal-tender overrides and master
    inhibit applied (``profile``: the document ``coinval serve --profile`` reads).
    Its ``ETag`` changes with every change of the head; an acceptor polling with
    ``If-None-Match`` gets 304 and no body while nothing changed."""
    check_head(head)
    config = ctx.active(head)
    if config is None:
        raise NotFoundError(f"head {head!r} has no active profile")
    etag = f'"{config.profile_id}.{config.revision}"'
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers={"ETag": etag})
    body = {
        "head": head,
        "profile_id": config.profile_id,
        "version": config.version,
        "revision": config.revision,
        "master_inhibit": config.master_inhibit,
        "profile": config.profile.to_json_dict(),
    }
    return Response(orjson.dumps(body), media_type="application/json", headers={"ETag": etag})


@router.put("/heads/{head}/active", summary="Activate a stored version (atomic)")
def put_active(head: str, body: ActivateBody, ctx: ContextDep, who: Operator) -> dict[str, Any]:
    """Every engine of the head switches at once."""
    return domain.activate(ctx, who.key_id, head, body.profile_id)


@router.post(
    "/heads/{head}/rollback",
    summary="Roll back to an earlier version",
    dependencies=[NotNullBody],
)
def rollback(
    head: str, ctx: ContextDep, who: Operator, body: RollbackBody | None = None
) -> dict[str, Any]:
    """To ``version``, or without it to the profile active before the present one."""
    return domain.rollback(ctx, who.key_id, head, body.version if body else None)


@router.get("/heads/{head}/history", summary="Activations and rollbacks of a head")
def history(
    head: str, ctx: ContextDep, _: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """Newest first."""
    return domain.history(ctx, head, limit)
