"""The coin catalogue, heads, and a head's inhibits and legal-tender overrides."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from calibration.auth import ContextDep, Operator, Viewer
from calibration.domain import coins as domain
from calibration.routers._route import OffloadedRoute

router = APIRouter(tags=["coins"], route_class=OffloadedRoute)


class InhibitBody(BaseModel):
    """Inhibit a coin (true) or enable it again (false)."""

    model_config = ConfigDict(extra="forbid")
    inhibited: bool = Field(description="true: refuse this coin on the head")


class LegalTenderBody(BaseModel):
    """Override a coin's legal-tender dates."""

    model_config = ConfigDict(extra="forbid")
    legal_tender: Literal["schedule", "always", "never"] = Field(
        description="schedule: follow the catalogue's dates; always: accept outside them; "
        "never: refuse inside them"
    )


class MasterInhibitBody(BaseModel):
    """Set or clear the master inhibit of a head."""

    model_config = ConfigDict(extra="forbid")
    master_inhibit: bool


@router.get("/coins", summary="The coin catalogue with legal-tender dates")
def catalogue(_: Viewer) -> list[dict[str, Any]]:
    """Every coin the engine can be taught."""
    return domain.catalogue()


@router.get("/heads", summary="Sensor heads known to the store")
def heads(ctx: ContextDep, _: Viewer) -> list[dict[str, Any]]:
    """Each head with its active profile and master inhibit."""
    return domain.list_heads(ctx)


@router.get("/heads/{head}/coins", summary="Each coin's state on a head")
def head_coins(head: str, ctx: ContextDep, _: Viewer) -> dict[str, Any]:
    """Catalogue coins with dates, taught position, inhibit, override and whether enabled now."""
    return domain.head_coins(ctx, head)


@router.put("/heads/{head}/coins/{coin}/inhibit", summary="Inhibit or enable a coin")
def put_inhibit(
    head: str, coin: str, body: InhibitBody, ctx: ContextDep, who: Operator
) -> dict[str, Any]:
    """Takes effect at once in every engine of the head."""
    return domain.set_inhibit(ctx, who.key_id, head, coin, body.inhibited)


@router.put("/heads/{head}/coins/{coin}/legal-tender", summary="Override legal-tender dates")
def put_legal_tender(
    head: str, coin: str, body: LegalTenderBody, ctx: ContextDep, who: Operator
) -> dict[str, Any]:
    """Takes effect at once in every engine of the head."""
    return domain.set_legal_tender(ctx, who.key_id, head, coin, body.legal_tender)


@router.put("/heads/{head}/master-inhibit", summary="Set or clear the master inhibit")
def put_master_inhibit(
    head: str, body: MasterInhibitBody, ctx: ContextDep, who: Operator
) -> dict[str, Any]:
    """While set, the head accepts no coin at all."""
    return domain.set_master_inhibit(ctx, who.key_id, head, body.master_inhibit)
