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
    return {
        "total": total,
        "by_reason": {r: by_reason.get(r, 0) for r in REASONS},
        "acceptance_rate": by_reason.get("accepted", 0) / total if total else None,
        "counterfeit_rate": by_reason.get("counterfeit", 0) / total if total else None,
    }


def summary(ctx: Context, flt: EventFilter, bucket: str | None) -> dict[str, Any]:
    """Totals, per coin, per reason and (optionally) per hour or day (UTC).

    Rates are shares of all decisions in the selection: acceptance counts
    ``accepted``, counterfeit counts ``counterfeit``.
    """
    with ctx.db.transaction() as tx:
        rows = events_repo.counts(tx, flt, bucket_chars=BUCKETS[bucket] if bucket else None)
    overall: dict[str, int] = defaultdict(int)
    per_coin: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_bucket: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        n = int(row["n"])
        overall[row["reason"]] += n
        per_coin[row["coin"] or "(none)"][row["reason"]] += n
        if bucket:
            per_bucket[row["bucket"]][row["reason"]] += n
    return {
        **_rates(overall),
        "by_coin": {coin: _rates(dict(v)) for coin, v in sorted(per_coin.items())},
        "bucket": bucket,
        "by_bucket": [{"bucket": b, **_rates(dict(v))} for b, v in sorted(per_bucket.items())],
    }


def decision_counts(ctx: Context) -> list[dict[str, Any]]:
    """All-time counts per head, coin and reason (for /metrics)."""
    with ctx.db.transaction() as tx:
        return events_repo.counts_by_head(tx)


__all__ = ["BUCKETS", "EventFilter", "decision_counts", "summary"]
