"""HTTP authentication: ``Authorization: Bearer <key>``, role checks as dependencies.

401 (with ``WWW-Authenticate: Bearer``) when no valid key is given, 403 when
the key's role is too low.  Keys never reach logs: only key ids do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from calibration.context import Context
from calibration.domain.keys import Principal, Role, authenticate, recently_checked
from calibration.guard import METRICS, ROLE_ATTRIBUTE

_bearer = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer <key>")


async def get_context(request: Request) -> Context:
    """The service context the app was made with.

    ``async`` because it does no I/O: FastAPI runs a plain ``def`` dependency in
    its thread pool, a hand-off that costs more than this function.
    """
    ctx: Context = request.app.state.ctx
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def current_principal(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from its bearer key; 401 without a valid one.

    :class:`calibration.guard.AuthFirst` has usually checked the key already,
    before the body was read: its principal is taken as it is.
    """
    checked = getattr(request.state, "principal", None)
    if isinstance(checked, Principal):
        request.state.key_id = checked.key_id
        return checked
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("an API key is required: Authorization: Bearer <key>")
    key = credentials.credentials
    principal = recently_checked(ctx, key) or await run_in_threadpool(authenticate, ctx, key)
    if principal is None:
        raise _unauthorized("the API key is not valid (unknown or revoked)")
    request.state.key_id = principal.key_id
    return principal


def _allowed(principal: Principal, role: Role) -> Principal:
    """``principal`` if its role is ``role`` or higher; 403 otherwise."""
    if not principal.may(role):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"this needs the {role.value} role; key {principal.key_id} is "
            f"{principal.role.value}",
        )
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through keys of ``role`` or higher; 403 for the others."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        # async: a comparison, not worth a hand-off to the thread pool
        return _allowed(principal, role)

    setattr(check, ROLE_ATTRIBUTE, role.value)  # read by the guard, before any body
    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Admin = Annotated[Principal, Depends(require(Role.admin))]


async def metrics_access(
    request: Request,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """Viewer access to /metrics, or none needed when the settings make it public."""
    if ctx.settings.metrics_public:
        return None
    principal = await current_principal(request, ctx, credentials)
    return _allowed(principal, Role.viewer)


setattr(metrics_access, ROLE_ATTRIBUTE, METRICS)


MetricsAccess = Annotated[Principal | None, Depends(metrics_access)]
