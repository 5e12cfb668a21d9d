"""The operator console and the API docs, served by the calibration service without any CDN.

``install(app)`` adds three public pages and their files:

- ``/``: the console, plain HTML, CSS and small vanilla JS files of
  ``static/`` (no build step). The pages hold no data: every figure comes from
  the ``/api/v1`` routes, called from the browser with the operator's key in
  the ``Authorization`` header, so the guard, the roles and the audit log are
  the API's own.
- ``/docs`` (Swagger UI): FastAPI's page pointed at the swagger-ui files
  shipped by the ``fastapi-offline`` package instead of a CDN, so it works on a
  machine without internet. There is no ``/redoc`` (there was none before
  either): ReDoc's page loads its logo from its vendor's CDN whatever it is
  given.

The machine's own network is the console's whole world: a Content-Security-
Policy on the console pages lets the browser load and call nothing but this
origin, so a mistake that would fetch from another host fails loudly.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the console's own files are served.
STATIC_URL = "/console"
#: Where the swagger-ui files are served.
DOCS_STATIC_URL = "/docs-static"

STATIC_DIR = Path(str(files("calibration.console") / "static"))

#: Nothing but this origin: no CDN, no font service, no inline script (the
#: console has none), no framing by another site's page.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
#: FastAPI's docs page starts swagger-ui with an inline script: allowed there, and
#: only there; everything they load still comes from this origin.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def docs_static_dir() -> Path:
    """The swagger-ui files of the ``fastapi-offline`` package."""
    return Path(str(files("fastapi_offline") / "static"))


class SecurityHeaders:
    """ASGI middleware: the console's and the docs' pages carry their CSP and no referrer.

    Only responses under the console's and docs' paths are touched; the API's
    JSON replies stay as they were.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = _policy(scope["path"])
        if csp is None:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _policy(path: str) -> str | None:
    if path == "/" or path.startswith(STATIC_URL + "/"):
        return CONSOLE_CSP
    if path in ("/docs", "/docs/oauth2-redirect") or path.startswith(DOCS_STATIC_URL + "/"):
        return DOCS_CSP
    return None


def install(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Serve the console at ``/`` and the offline API docs at ``/docs``.

    The app must have been made with ``docs_url=None, redoc_url=None`` (FastAPI's
    own pages load from a CDN). All of these routes are public and take no body:
    they are pages, never data.
    """
    title = app.title
    favicon = f"{STATIC_URL}/favicon.svg"
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        # no-cache: a new release's console is picked up on the next load
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{DOCS_STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=favicon,
            oauth2_redirect_url=oauth2_redirect,
            # validatorUrl null: swagger-ui would otherwise send the schema to an online validator
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")
    app.mount(DOCS_STATIC_URL, StaticFiles(directory=docs_static_dir()), name="docs-static")
    app.add_middleware(SecurityHeaders)
