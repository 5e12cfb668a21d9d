"""Reading the audit log (writing happens inside each change's own transaction)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calibration.context import Context
from calibration.domain.common import stored_moment
from calibration.repository import audit


def page(
    ctx: Context,
    *,
    action: str | None = None,
    key_id: str | None = None,
    target: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Entries newest first, with the cursor of the next page."""
    with ctx.db.transaction() as tx:
        items = audit.query(
            tx,
            action=action,
            key_id=key_id,
            target=target,
            since=stored_moment("since", since) if since else None,
            until=stored_moment("until", until) if until else None,
            before_id=before,
            limit=limit + 1,
        )
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_before": items[-1]["id"] if more and items else None}
