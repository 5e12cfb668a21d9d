"""The app factory: ``create_app(settings)`` gives the calibration service's FastAPI app.

Everything the app shares with the serve loop lives in a
:class:`calibration.context.Context`; pass one in to share it (same store,
same subscribers), or let the factory open one from the settings.  What the
app shares with other processes serving the same store (the live streams'
bell, the rate limits, LISTEN/NOTIFY on PostgreSQL) is its
:class:`calibration.peers.Peers`, started and stopped with the app (lifespan).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from calibration import __doc__ as package_doc
from calibration import console
from calibration.context import Context
from calibration.db import open_database
from calibration.domain.keys import authenticate, ensure_admin_key
from calibration.errors import CalibrationError
from calibration.guard import AuthFirst, GuardedRoute
from calibration.limits import BodySizeLimit
from calibration.metrics import RequestCounter, RequestMetrics
from calibration.peers import Peers, RingOnEvents, WorkerHeader
from calibration.routers import (
    audit,
    coins,
    events,
    fleet,
    health,
    keys,
    profiles,
    stats,
    teach,
)
from calibration.settings import Settings
from coinval import __version__

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
#: The routes that record events: after one, the live streams of every process look at once.
EVENT_WRITERS = frozenset({API_PREFIX + "/heads/{head}/classify", API_PREFIX + "/fleet/events"})


def _announce(key: str) -> None:
    print(
        "calibration store: first start, no COINVAL_ADMIN_KEY given; the admin key is\n\n"
        f"    {key}\n\n"
        "It is shown this once only (the store keeps its hash): keep it safe.",
        file=sys.stderr,
        flush=True,
    )


def open_context(settings: Settings, *, announce: Callable[[str], None] = _announce) -> Context:
    """Open and migrate the store, and make the first admin key at first start."""
    ctx = Context(
        db=open_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms),
        settings=settings,
    )
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    generated = ensure_admin_key(ctx, admin)
    if generated is not None:
        announce(generated)
    return ctx


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Validation errors without echoing the input back (it may be large)."""
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


async def _caller_is_known(request: Request) -> bool:
    """Whether the request carries a valid key (public routes count as known)."""
    if getattr(request.state, "key_id", None) is not None:
        return True
    route = request.scope.get("route")
    if getattr(route, "path", "") in ("/healthz", "/readyz"):
        return True
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        return False
    ctx: Context = request.app.state.ctx
    return await run_in_threadpool(authenticate, ctx, key.strip()) is not None


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(CalibrationError)
    async def calibration_error(_: Request, exc: CalibrationError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.message}
        if exc.details is not None:
            body["errors"] = exc.details
        body.update(exc.extra)
        return JSONResponse(body, status_code=exc.status, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not await _caller_is_known(request):
            # A body is decoded before the key is checked: still say 401 first.
            return JSONResponse(
                {"detail": "an API key is required: Authorization: Bearer <key>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        errors = _validation_errors(exc)[:20]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request", "type": ""}
        if first["type"] == "json_invalid":
            # a body that cannot be decoded at all is 400, as the docs' error table says
            return JSONResponse({"detail": "the body is not valid JSON", "errors": errors}, 400)
        else:
            where = ".".join(str(p) for p in first["loc"])
            detail = f"{where}: {first['msg']}" if where else str(first["msg"])
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "internal error on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    peers: Peers = app.state.peers
    await run_in_threadpool(peers.start)
    try:
        yield
    finally:
        await run_in_threadpool(peers.stop)


def create_app(settings: Settings | None = None, *, context: Context | None = None) -> FastAPI:
    """The calibration service app.

    Parameters
    ----------
    settings : Settings, optional
        Read from ``COINVAL_*`` environment variables when not given.
    context : Context, optional
        Share a context (store, subscribers) with the serve loop; opened from
        ``settings`` when not given.
    """
    if context is None:
        context = open_context(settings or Settings())
    settings = context.settings
    app = FastAPI(
        title="coinval calibration service",
        version=__version__,
        description=(package_doc or "")
        + "\n\nAuthenticate with `Authorization: Bearer <key>`. Roles: viewer (read), "
        "operator (teach, inhibit, activate, classify), admin (keys, everything).",
        openapi_url="/openapi.json",
        # FastAPI's own docs pages load swagger-ui from a CDN: console.install serves them offline.
        docs_url=None,
        redoc_url=None,
        # A body without a Content-Type is JSON, on every route (a wrong one is 415: AuthFirst).
        strict_content_type=False,
        lifespan=_lifespan,
    )
    app.state.ctx = context
    app.state.peers = peers = Peers.of(context)
    app.state.request_counter = RequestCounter()
    _install_handlers(app)
    mounted = [(health.router, ""), (stats.metrics_router, "")] + [
        (module.router, API_PREFIX)
        for module in (coins, profiles, teach, events, fleet, stats, audit, keys)
    ]
    templates: dict[object, str] = {}
    guarded: list[GuardedRoute] = []
    for router, prefix in mounted:
        app.include_router(router, prefix=prefix)
        templates.update(
            {r.endpoint: prefix + r.path for r in router.routes if isinstance(r, APIRoute)}
        )
        guarded += [GuardedRoute.of(prefix, r) for r in router.routes if isinstance(r, APIRoute)]
    # The console at / and the offline /docs, /redoc: public pages; their data comes from the API.
    console.install(app, openapi_url="/openapi.json")
    app.add_middleware(AuthFirst, routes=guarded, context=context, limits=peers.limits)
    writers = {endpoint for endpoint, path in templates.items() if path in EVENT_WRITERS}
    app.add_middleware(RingOnEvents, peers=peers, writers=writers)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestMetrics, counter=app.state.request_counter, routes=templates)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.workers > 1:
        app.add_middleware(WorkerHeader)  # outermost: on every answer, refusals too
    return app
