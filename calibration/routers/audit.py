"""The audit log, read-only: every state change, who, what, when, before and after."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from calibration.auth import ContextDep, Viewer
from calibration.domain import audit_log
from calibration.routers._params import MAX_ID
from calibration.routers._route import OffloadedRoute

router = APIRouter(tags=["audit"], route_class=OffloadedRoute)


@router.get("/audit", summary="Audit entries, newest first, filtered and paged")
def audit(
    ctx: ContextDep,
    _: Viewer,
    action: str | None = None,
    key_id: str | None = None,
    target: str | None = None,
    since: Annotated[dt.datetime | None, Query()] = None,
    until: Annotated[dt.datetime | None, Query()] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """There is no route that changes or deletes an entry, and the store refuses it too."""
    return audit_log.page(
        ctx,
        action=action,
        key_id=key_id,
        target=target,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
