"""Health (the process answers) and readiness (the store is there and up to date)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from calibration.auth import ContextDep
from calibration.db import latest_schema_version
from calibration.routers._route import OffloadedRoute

router = APIRouter(tags=["health"], route_class=OffloadedRoute)


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always ``ok`` while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the store answers at the expected schema")
def readyz(ctx: ContextDep) -> Any:
    """503 until the store is reachable and migrated."""
    try:
        version = ctx.db.schema_version()
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": f"store: {type(exc).__name__}"}, status_code=503
        )
    expected = latest_schema_version(ctx.db.dialect)
    if version != expected:
        return JSONResponse(
            {"status": "unavailable", "detail": f"schema {version}, expected {expected}"},
            status_code=503,
        )
    return {"status": "ready", "schema_version": version}
