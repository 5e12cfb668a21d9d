"""Statistics of decisions: counts per coin and reason, acceptance and counterfeit rates."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from calibration.context import Context
from calibration.repository import events as events_repo
from calibration.repository.events import EventFilter
from coinval.decision import REASONS

BUCKETS = {"hour": 13, "day": 10}


def _rates(by_reason: dict[str, int]) -> dict[str, Any]:
    total = sum(by_reason.values())
    # Every reason, in order; built without a lookup per reason (an hourly page has thousands).
    listed: dict[str, int] = dict.fromkeys(REASONS, 0)
    listed.update(by_reason)
    if len(listed) > len(REASONS):  # a reason this version does not know: counted in total only
        listed = {r: listed[r] for r in REASONS}
    return {
        "total": total,
        "by_reason": listed,
        "acceptance_rate": by_reason.get("accepted", 0) / total if total else None,
        "counterfeit_rate": by_reason.get("counterfeit", 0) / total if total else None,
    }


def summary(ctx: Context, flt: EventFilter, bucket: str | None) -> dict[str, Any]:
    """Totals, per coin, per reason and (optionally) per hour or day (UTC).

    Rates are shares of all decisions in the selection: acceptance counts
    ``accepted``, counterfeit counts ``counterfeit``.
    """
    with ctx.db.transaction() as tx:  # both groupings from one snapshot
        by_coin = events_repo.counts(tx, flt, by_coin=True)
        by_bucket = (
            events_repo.counts(tx, flt, bucket_chars=BUCKETS[bucket], by_coin=False)
            if bucket
            else []
        )
    overall: dict[str, int] = defaultdict(int)
    per_coin: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_bucket: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in by_coin:
        n = int(row["n"])
        overall[row["reason"]] += n
        per_coin[row["coin"] or "(none)"][row["reason"]] += n
    for row in by_bucket:
        per_bucket[row["bucket"]][row["reason"]] += int(row["n"])
    return {
        **_rates(overall),
        "by_coin": {coin: _rates(v) for coin, v in sorted(per_coin.items())},
        "bucket": bucket,
        "by_bucket": [{"bucket": b, **_rates(v)} for b, v in sorted(per_bucket.items())],
    }


def decision_counts(ctx: Context) -> list[dict[str, Any]]:
    """All-time counts per head, coin and reason (for /metrics)."""
    with ctx.db.transaction() as tx:
        return events_repo.counts_by_head(tx)


__all__ = ["BUCKETS", "EventFilter", "decision_counts", "summary"]
