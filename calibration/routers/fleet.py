"""Fleet: acceptors report their decided coins to a central service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from calibration.auth import ContextDep, Operator, Viewer
from calibration.domain import fleet as domain
from calibration.domain import fleet_groups, fleet_views
from calibration.routers._params import MAX_ID
from calibration.routers._route import OffloadedRoute, json_response

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
    # field by field: model_dump() built a dict per event (hundreds a batch)
    events = [
        domain.FleetEvent(
            key=e.key,
            head=e.head,
            at=e.at,
            coin=e.coin,
            reason=e.reason,
            detail=e.detail,
            accepted=e.accepted,
            signature_id=e.signature_id,
        )
        for e in body.events
    ]
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


#: The longest window the fleet views take, in hours (a leap year).
MAX_WINDOW_HOURS = 366 * 24

ModelPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="a model name: 1-64 letters, digits, '.', '_' or '-'",
    ),
]
ModelQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="only heads of this model",
    ),
]
Hours = Annotated[
    int, Query(ge=1, le=MAX_WINDOW_HOURS, description="the recent window, in whole UTC hours")
]


class ModelBody(BaseModel):
    """An operator's model for a head; null drops it (the acceptor's reported one comes back)."""

    model_config = ConfigDict(extra="forbid")
    model: Model | None


class ModelActivateBody(BaseModel):
    """The stored profile version every head of the model is to run."""

    model_config = ConfigDict(extra="forbid")
    profile_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


@router.get(
    "/fleet/heads",
    summary="Heads: model, versions, last seen, coins per hour, rates",
    response_model=dict[str, Any],
)
def fleet_heads(
    ctx: ContextDep,
    _: Viewer,
    model: ModelQuery = None,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[A-Za-z0-9._:-]*$",
            description="page cursor: next_after (a head name)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    hours: Hours = 24,
) -> Response:
    """Every head the store knows (a profile, an acceptor's report or decisions), by name,
    read from the hourly and daily counts.  ``coins_per_hour``: the last whole UTC hour;
    rates: over the current hour and the ``hours - 1`` before it.  Pass ``next_after``
    back as ``after`` for the next page.  404 for a model no head has."""
    return json_response(fleet_views.heads(ctx, model=model, after=after, limit=limit, hours=hours))


@router.get(
    "/fleet/drift",
    summary="Heads whose refusal rate moved; the fleet's line per coin",
    response_model=dict[str, Any],
)
def fleet_drift(
    ctx: ContextDep,
    _: Viewer,
    hours: Hours = 24,
    baseline_hours: Annotated[
        int,
        Query(ge=1, le=MAX_WINDOW_HOURS, description="the baseline window just before, in hours"),
    ] = 168,
    model: ModelQuery = None,
    z: Annotated[
        float, Query(gt=0, le=1000, description="flag heads with |z| at least this")
    ] = 4.0,
    limit: Annotated[int, Query(ge=1, le=1000, description="flagged heads listed at most")] = 100,
) -> Response:
    """A two-proportion z-test of each head's refusal rate, recent window against the
    baseline before it; flagged heads first by |z|.  ``fleet.by_coin``: each coin's share
    of the fleet's decisions that were its refusals, and how many heads' share rose."""
    return json_response(
        fleet_views.drift(
            ctx, hours=hours, baseline_hours=baseline_hours, model=model, z=z, limit=limit
        )
    )


@router.put("/fleet/heads/{head}/model", summary="Set (or drop) a head's model")
def put_model(head: str, body: ModelBody, ctx: ContextDep, who: Operator) -> dict[str, Any]:
    """An operator's model wins over the one the head's acceptor reports; audited."""
    return fleet_groups.set_model(ctx, who.key_id, head, body.model)


@router.post(
    "/fleet/models/{model}/activate",
    summary="Activate a stored profile version on every head of a model (all or none)",
)
def activate_model(
    model: ModelPath, body: ModelActivateBody, ctx: ContextDep, who: Operator
) -> dict[str, Any]:
    """Each head gets the version as a new version of its own (or the one it has with that
    document) and activates it, in one transaction; one audit entry."""
    return fleet_groups.activate_model(ctx, who.key_id, model, body.profile_id)


@router.post(
    "/fleet/models/{model}/rollback",
    summary="Roll every head of a model back to its previous version (all or none)",
)
def rollback_model(model: ModelPath, ctx: ContextDep, who: Operator) -> dict[str, Any]:
    """409 naming the heads that have no earlier version (then none rolls back)."""
    return fleet_groups.rollback_model(ctx, who.key_id, model)
