"""Fleet: acceptors report their decided coins to a central service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from calibration.auth import ContextDep, Operator, Viewer
from calibration.domain import fleet as domain
from calibration.routers._route import OffloadedRoute

router = APIRouter(tags=["fleet"], route_class=OffloadedRoute)

Key = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=domain.MAX_KEY_CHARS,
        description="idempotency key, unique per acceptor: <acceptor-id>:<sequence>",
    ),
]
Text = Annotated[StrictStr, Field(max_length=2000)]
Model = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="a model name: 1-64 letters, digits, '.', '_' or '-'",
    ),
]


class EventBody(BaseModel):
    """One decided coin."""

    model_config = ConfigDict(extra="forbid")
    key: Key
    head: StrictStr
    at: AwareDatetime = Field(description="when the acceptor decided it (with zone)")
    coin: Text | None = None
    reason: StrictStr
    detail: Text | None = None
    accepted: StrictBool
    signature_id: Text | None = None


class SummaryBody(BaseModel):
    """``count`` events of one (head, coin, reason) an acceptor's full outbox folded."""

    model_config = ConfigDict(extra="forbid")
    key: Key
    head: StrictStr
    coin: Text | None = None
    reason: StrictStr
    count: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
    first_at: AwareDatetime
    last_at: AwareDatetime


class AcceptorBody(BaseModel):
    """Who sends the batch; the heads of its events are recorded as seen by it."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[
        StrictStr,
        Field(min_length=1, max_length=domain.MAX_ACCEPTOR_CHARS, description="acceptor id"),
    ]
    model: Model | None = Field(default=None, description="the acceptor's model (None: not said)")
    profile_version: Annotated[StrictInt, Field(ge=1, le=domain.MAX_VERSION)] | None = Field(
        default=None, description="the profile version the acceptor runs (None: not said)"
    )


class BatchBody(BaseModel):
    """A batch of events (and summaries), oldest first."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventBody] = Field(default_factory=list)
    summaries: list[SummaryBody] = Field(default_factory=list)
    acceptor: AcceptorBody | None = Field(
        default=None, description="the sending acceptor: its heads' last seen, model, version"
    )


@router.post("/fleet/events", summary="Store an acceptor's batch of events, each once")
def post_events(body: BatchBody, ctx: ContextDep, who: Operator) -> dict[str, Any]:
    """New events are stored (naming the sending key), ones whose ``key`` is already
    stored are counted as duplicates and ignored; a bad item refuses the whole batch.
    At most ``COINVAL_FLEET_MAX_EVENTS`` items per request (413 beyond).  With
    ``acceptor``, the batch's heads are recorded as seen now by that acceptor."""
    events = [domain.FleetEvent(**e.model_dump()) for e in body.events]
    summaries = [domain.FleetSummary(**s.model_dump()) for s in body.summaries]
    acceptor = domain.FleetAcceptor(**body.acceptor.model_dump()) if body.acceptor else None
    return domain.record_batch(ctx, events, summaries, actor=who.key_id, acceptor=acceptor)


@router.get("/fleet/summaries", summary="Events acceptors summarised, per head, coin, reason")
def summaries(
    ctx: ContextDep,
    _: Viewer,
    head: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """Counts sent instead of events by acceptors whose outbox was full."""
    return domain.summary_totals(ctx, head)
