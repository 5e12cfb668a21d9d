"""Who may ask, checked before anything of a request's body is read.

An ASGI middleware in front of the routes: it finds the route a request is
for, and when that route needs a role it checks the bearer key (401), then
the role (403), before the route reads a single byte of the body. A caller
without a key cannot make the service decode or even receive a body, and a
viewer sending a body to an operator route gets 403 whatever the body.
Then, still before the body, a ``Content-Type`` the route does not take is
refused with 415, the same on every route that takes a body.

The principal it found is left in the request's state for the route's own
dependencies (one key lookup per request).

It also applies the rate limits (:mod:`calibration.rate_limits`): a key check
from an address past its refused keys is 429 without the check, and a key
past its request budget is 429 before anything else is done for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from calibration.context import Context
from calibration.domain.keys import Principal, Role, authenticate, recently_checked
from calibration.rate_limits import RateLimits, Refusal

T = TypeVar("T")
R = TypeVar("R")

#: The attribute a role-checking dependency carries (see :func:`calibration.auth.require`).
ROLE_ATTRIBUTE = "required_role"
#: The role marker of ``/metrics``: viewer, unless the settings make it public.
METRICS = "metrics"

NO_KEY = "an API key is required: Authorization: Bearer <key>"
BAD_KEY = "the API key is not valid (unknown or revoked)"


def required_role(dependant: Dependant) -> str | None:
    """The role a route's dependencies ask for, or None for a public route."""
    for dep in dependant.dependencies:
        role = getattr(dep.call, ROLE_ATTRIBUTE, None)
        if role is not None:
            return str(role)
        found = required_role(dep)
        if found is not None:
            return found
    return None


async def reply(
    send: Send,
    status: int,
    message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    extra: dict[str, Any] | None = None,
) -> None:
    """A small JSON error reply that closes the connection (the body is left unread).

    ``extra``: more top-level fields of the body, after ``detail``.
    """
    body = json.dumps({"detail": message, **(extra or {})}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bearer_key(scope: Scope) -> str | None:
    """The key of an ``Authorization: Bearer`` header, or None."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return key.strip()
            return None
    return None


#: The body format of a route whose body is a JSON model (and the default of a raw body).
JSON = "application/json"


def body_media_types(route: APIRoute) -> frozenset[str] | None:
    """The media types a route's body may have, or None for a route without a body.

    A pydantic body model is JSON; a raw body (read as bytes, described in
    ``openapi_extra``) takes the media types its description lists.
    """
    extra = (route.openapi_extra or {}).get("requestBody")
    if extra is not None:
        return frozenset(str(kind).lower() for kind in extra.get("content") or {JSON: {}})
    if route.body_field is not None:
        return frozenset({JSON})
    return None


def media_type(scope: Scope) -> str | None:
    """The request's media type (``Content-Type`` without parameters, lower case), or None."""
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return None


@dataclass(frozen=True)
class GuardedRoute:
    """A route as the guard sees it: full path pattern, methods, endpoint, role, body types."""

    pattern: re.Pattern[str]
    methods: frozenset[str]
    endpoint: Any
    role: str | None
    media_types: frozenset[str] | None = None

    @classmethod
    def of(cls, prefix: str, route: APIRoute) -> GuardedRoute:
        """The guard's view of ``route`` mounted under ``prefix``."""
        pattern, _, _ = compile_path(prefix + route.path)
        return cls(
            pattern,
            frozenset(route.methods or ()),
            route.endpoint,
            required_role(route.dependant),
            body_media_types(route),
        )

    def refuses_media_type(self, scope: Scope) -> str | None:
        """Why the request's ``Content-Type`` is refused (415), or None when it is taken.

        No ``Content-Type`` is taken as JSON; a route without a body takes any.
        """
        if self.media_types is None:
            return None
        kind = media_type(scope)
        if not kind or kind in self.media_types:
            return None
        wanted = " or ".join(sorted(self.media_types))
        return f"this route takes {wanted} (Content-Type), not {kind}"


#: The most header bytes (names and values) one request may carry: more is 431.
MAX_HEADER_BYTES = 16 * 1024
#: Query parameters that look like a key: refused (keys go in the Authorization header only).
KEY_PARAMS = frozenset({"key", "api_key", "apikey", "token", "access_token", "authorization"})


def _key_in_query(scope: Scope) -> bool:
    query = scope.get("query_string") or b""
    if not query:
        return False
    for pair in query.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if name.lower() in KEY_PARAMS or value.startswith("cvk_"):
            return True
    return False


def _redact_query(scope: Scope) -> None:
    """Drop the query from the scope, so no access log line carries the key."""
    scope["query_string"] = b"redacted"


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (behind a trusted proxy: the proxy's word)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def too_many(send: Send, refusal: Refusal) -> None:
    """429 with ``Retry-After``, the limit and the wait said in the body."""
    await reply(
        send,
        429,
        refusal.message,
        [(b"retry-after", str(refusal.retry_after_s).encode())],
        {"retry_after_s": refusal.retry_after_s},
    )


class AuthFirst:
    """ASGI middleware: 401/403 (and 429, :mod:`calibration.rate_limits`) before the
    body of any route that needs a role."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[GuardedRoute],
        context: Context,
        limits: RateLimits | None = None,
    ) -> None:
        self.app = app
        self.context = context
        self.routes = routes
        self.limits = limits

    def _route(self, scope: Scope) -> GuardedRoute | None:
        path, method = scope["path"], scope["method"]
        for route in self.routes:
            if method in route.methods and route.pattern.match(path):
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(n) + len(v) for n, v in scope.get("headers") or []) > MAX_HEADER_BYTES:
            await reply(send, 431, f"the request's headers are over {MAX_HEADER_BYTES} bytes")
            return
        if _key_in_query(scope):
            _redact_query(scope)
            await reply(send, 400, "API keys go in the Authorization header only, never in the URL")
            return
        route = self._route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["endpoint"] = route.endpoint  # so a refusal is counted under its route
        role = route.role
        if role == METRICS and self.context.settings.metrics_public:
            role = None
        if role is not None:
            outcome = await self._check(scope, Role.viewer if role == METRICS else Role(role))
            if isinstance(outcome, Refusal):
                await too_many(send, outcome)
                return
            if not isinstance(outcome, Principal):
                status, message = outcome
                headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
                await reply(send, status, message, headers)
                return
            scope.setdefault("state", {})["principal"] = outcome
        refused = route.refuses_media_type(scope)
        if refused is not None:
            await reply(send, 415, refused)
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, role: Role) -> Principal | Refusal | tuple[int, str]:
        key = bearer_key(scope)
        if key is None:
            return 401, NO_KEY
        principal = recently_checked(self.context, key)
        if principal is None:
            checked = await self._key_check(scope, key)
            if not isinstance(checked, Principal):
                return checked
            principal = checked
        if self.limits is not None:
            refused = await self._limited(self.limits.spend, principal.key_id)
            if refused is not None:
                return refused
        if not principal.may(role):
            return 403, (
                f"this needs the {role.value} role; key {principal.key_id} is "
                f"{principal.role.value}"
            )
        return principal

    async def _key_check(self, scope: Scope, key: str) -> Principal | Refusal | tuple[int, str]:
        """Look the key up in the store, if its address may still have keys checked."""
        limits = self.limits
        ticket = None
        if limits is not None:
            allowed = await self._limited(limits.before_key_check, client_address(scope))
            if isinstance(allowed, Refusal):
                return allowed
            ticket = allowed
        principal = await run_in_threadpool(authenticate, self.context, key)
        if principal is None:
            if limits is not None and ticket is not None:
                await self._limited(limits.key_was_refused, ticket)
            return 401, BAD_KEY
        return principal

    async def _limited(self, call: Callable[[T], R], argument: T) -> R:
        """A limit's call: in line when it counts in memory, off the event loop when it
        asks the store's server."""
        assert self.limits is not None
        if self.limits.shared:
            return await run_in_threadpool(call, argument)
        return call(argument)
