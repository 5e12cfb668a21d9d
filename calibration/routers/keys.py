"""API keys (admin only), and who the caller is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from calibration.auth import Admin, ContextDep, Viewer
from calibration.domain import keys as domain
from calibration.domain.keys import Role
from calibration.routers._route import OffloadedRoute

router = APIRouter(tags=["keys"], route_class=OffloadedRoute)


class KeyBody(BaseModel):
    """A new key's name and role."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="who or what uses it")
    role: Role


@router.get("/whoami", summary="The calling key's id and role")
def whoami(who: Viewer) -> dict[str, str]:
    """Never the key itself."""
    return {"key_id": who.key_id, "role": who.role.value, "name": who.name}


@router.get("/keys", summary="Every key's public record")
def list_keys(ctx: ContextDep, _: Admin) -> list[dict[str, Any]]:
    """Ids, names, roles, when made and revoked; never keys or hashes."""
    return domain.list_keys(ctx)


@router.post("/keys", status_code=201, summary="Create a key (shown this once only)")
def create_key(body: KeyBody, ctx: ContextDep, who: Admin) -> dict[str, Any]:
    """Store the returned ``key`` now: only its hash is kept."""
    return domain.create_key(ctx, who.key_id, name=body.name, role=body.role)


@router.delete("/keys/{key_id}", summary="Revoke a key")
def revoke_key(key_id: str, ctx: ContextDep, who: Admin) -> dict[str, Any]:
    """At once; the last admin key cannot be revoked."""
    return domain.revoke_key(ctx, who.key_id, key_id)
