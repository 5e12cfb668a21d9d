"""Fleet views: every head's model, versions, traffic and rates; refusal-rate drift.

Everything here is read from the decision rollups (``event_counts`` per hour,
``event_counts_daily`` per day), never from the events: a fleet store holds
millions of events.  Windows are therefore whole UTC hours: a window of
``hours`` is the current hour (so far) and the ``hours - 1`` before it.

A refusal is every decision but ``accepted`` (counterfeit, unknown, inhibited,
invalid).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from calibration.context import Context
from calibration.db import Tx, format_time
from calibration.domain.common import MAX_HEADS_LISTED
from calibration.domain.fleet import check_model
from calibration.errors import InvalidError, NotFoundError
from calibration.repository import fleet_heads as fleet_heads_repo
from calibration.repository import rollups
from coinval.decision import REASONS

#: A decision's coin when it has none (a counterfeit never names the coin it imitates).
NO_COIN = "(none)"


@dataclass(frozen=True)
class Window:
    """Whole UTC hours ``[since, until)``."""

    since: dt.datetime
    until: dt.datetime

    @classmethod
    def ending_now(cls, now: dt.datetime, hours: int) -> Window:
        """The current hour and the ``hours - 1`` before it."""
        until = rollups.floor_hour(now) + rollups.HOUR
        return cls(_minus(until, hours), until)

    def before(self, hours: int) -> Window:
        """The ``hours`` just before this window."""
        return Window(_minus(self.since, hours), self.since)

    def to_json(self) -> dict[str, Any]:
        """Its bounds in the store's time form, and its length in hours."""
        hours = int((self.until - self.since) / rollups.HOUR)
        return {"hours": hours, "since": format_time(self.since), "until": format_time(self.until)}


def _minus(moment: dt.datetime, hours: int) -> dt.datetime:
    try:
        return moment - hours * rollups.HOUR
    except OverflowError:
        raise InvalidError(f"a window of {hours} hours reaches before year 1") from None


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """The two-proportion z statistic of ``x1/n1`` against ``x2/n2`` (pooled variance).

    Positive when the first proportion is the higher.  None when either side
    has no trials; 0 when both are 0 or both are 1 (no spread to compare with).
    """
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0
    return (x1 / n1 - x2 / n2) / math.sqrt(variance)


def _rate(part: int, total: int) -> float | None:
    return part / total if total else None


def _tally(total: int, accepted: int) -> dict[str, Any]:
    refused = total - accepted
    return {
        "total": total,
        "accepted": accepted,
        "refused": refused,
        "acceptance_rate": _rate(accepted, total),
        "refusal_rate": _rate(refused, total),
    }


def check_known_model(tx: Tx, model: str | None) -> None:
    """NotFoundError for a model no head has, naming some that heads do have."""
    if model is None:
        return
    check_model(model)
    if fleet_heads_repo.model_exists(tx, model):
        return
    known = fleet_heads_repo.models(tx, MAX_HEADS_LISTED + 1)
    listed = ", ".join(known[:MAX_HEADS_LISTED]) + (" ..." if len(known) > MAX_HEADS_LISTED else "")
    where = f"models with heads: {listed}" if known else "no head has a model yet"
    raise NotFoundError(
        f"no head has model {model!r}; {where}. A head gets its model from its acceptor's"
        " batches (acceptor.model) or PUT /api/v1/fleet/heads/{head}/model"
    )


def heads(
    ctx: Context, *, model: str | None, after: str | None, limit: int, hours: int
) -> dict[str, Any]:
    """A page of heads: model, versions, last seen, coins per hour, rates over ``hours``.

    ``coins_per_hour`` counts the last whole UTC hour, ``coins_this_hour`` the
    current one so far.  Rates are per coin and over all coins, in the window.
    Pass ``next_after`` back as ``after`` for the next page.
    """
    window = Window.ending_now(ctx.clock(), hours)
    this_hour = window.until - rollups.HOUR
    last_hour = this_hour - rollups.HOUR
    hour_keys = (rollups.hour_text(last_hour), rollups.hour_text(this_hour))
    with ctx.db.transaction() as tx:  # one snapshot for the page
        check_known_model(tx, model)
        rows = fleet_heads_repo.page(tx, model=model, after=after or "", limit=limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        page = [str(row["head"]) for row in rows]
        tallies = rollups.window_coin_tallies(tx, window.since, window.until, page)
        per_hour = rollups.hour_totals(tx, page, hour_keys)
    by_head: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for (head, coin), tally in tallies.items():
        by_head[head][coin or NO_COIN] = tally
    items = []
    for row in rows:
        head = str(row["head"])
        running, version = row["running_version"], row["version"]
        coins = by_head.get(head, {})
        total = sum(t[0] for t in coins.values())
        accepted = sum(t[1] for t in coins.values())
        items.append(
            {
                "head": head,
                "model": row["model"],
                "model_source": row["model_source"],
                "acceptor_id": row["acceptor_id"],
                "last_seen": row["last_seen"],
                "active_profile_id": row["active_profile_id"],
                "active_version": version,
                "running_version": running,
                "runs_active": None if running is None or version is None else running == version,
                "coins_per_hour": per_hour.get((head, hour_keys[0]), 0),
                "coins_this_hour": per_hour.get((head, hour_keys[1]), 0),
                **_tally(total, accepted),
                "by_coin": {coin: _tally(*t) for coin, t in sorted(coins.items())},
            }
        )
    return {
        "items": items,
        "next_after": page[-1] if more else None,
        "window": window.to_json(),
        "last_hour": Window(last_hour, this_hour).to_json(),
    }


@dataclass(frozen=True)
class _Side:
    """Decisions and refusals of one window."""

    total: int = 0
    refused: int = 0


def _compare(recent: _Side, baseline: _Side) -> dict[str, Any]:
    """Both windows' counts and refusal rates, and the z statistic (recent vs baseline)."""
    return {
        "recent": _side_json(recent),
        "baseline": _side_json(baseline),
        "z": two_proportion_z(recent.refused, recent.total, baseline.refused, baseline.total),
    }


def _side_json(side: _Side) -> dict[str, Any]:
    return {
        "total": side.total,
        "refused": side.refused,
        "refusal_rate": _rate(side.refused, side.total),
    }


@dataclass
class _Refusals:
    """One window's refusals per coin: fleet-wide by reason, and per head."""

    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    per_head: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, counts: dict[tuple[str, str, str], int]) -> _Refusals:
        out = cls()
        for (head, coin, reason), n in counts.items():
            name = coin or NO_COIN
            reasons = out.by_reason.setdefault(name, {})
            reasons[reason] = reasons.get(reason, 0) + n
            out.per_head[(head, name)] = out.per_head.get((head, name), 0) + n
        return out

    def refused(self, coin: str) -> int:
        return sum(self.by_reason.get(coin, {}).values())


def _coin_json(refusals: _Refusals, coin: str, fleet_total: int) -> dict[str, Any]:
    """A coin's refusals in a window by reason, and their share of the fleet's decisions."""
    by_reason: dict[str, int] = {r: 0 for r in REASONS if r != "accepted"}
    by_reason.update(refusals.by_reason.get(coin, {}))
    refused = refusals.refused(coin)
    return {
        "refused": refused,
        "refused_share": _rate(refused, fleet_total),
        "by_reason": by_reason,
    }


def drift(
    ctx: Context,
    *,
    hours: int,
    baseline_hours: int,
    model: str | None,
    z: float,
    limit: int,
) -> dict[str, Any]:
    """Heads whose refusal rate moved between a baseline window and the recent one.

    The recent window is the current hour and the ``hours - 1`` before it; the
    baseline, the ``baseline_hours`` just before that.  Each head's refusal
    rates are compared with a two-proportion z-test (pooled); ``|z| >= z``
    flags it, up or down.  Only the statistic decides: a head with few coins
    cannot reach a large ``|z|``, so no minimum count is needed.  Heads with no
    decisions in one of the windows are not tested (counted as such).

    ``fleet.by_coin`` has a line per coin (``(none)`` for decisions without a
    coin, where counterfeits and unknown coins land): its refusals' share of
    all the fleet's decisions in each window, the z of that share, and how
    many heads' own share of it rose by ``z`` or more: a counterfeit wave shows
    as ``(none)`` rising on many heads at once.

    Read from the per-head totals and the refusal rows of the rollups: one row
    per head and hour, plus the few refusal rows.
    """
    recent_w = Window.ending_now(ctx.clock(), hours)
    baseline_w = recent_w.before(baseline_hours)
    with ctx.db.transaction() as tx:  # both windows from one snapshot
        check_known_model(tx, model)
        recent = rollups.window_totals(tx, recent_w.since, recent_w.until, model=model)
        baseline = rollups.window_totals(tx, baseline_w.since, baseline_w.until, model=model)
        r_refusals = _Refusals.of(
            rollups.window_counts(
                tx, recent_w.since, recent_w.until, model=model, refusals_only=True
            )
        )
        b_refusals = _Refusals.of(
            rollups.window_counts(
                tx, baseline_w.since, baseline_w.until, model=model, refusals_only=True
            )
        )
    r_head = {head: _Side(*pair) for head, pair in recent.items()}
    b_head = {head: _Side(*pair) for head, pair in baseline.items()}
    everyone = sorted(set(r_head) | set(b_head))
    flagged: list[dict[str, Any]] = []
    none = _Side()
    for head in everyone:
        recent_side, baseline_side = r_head.get(head, none), b_head.get(head, none)
        stat = two_proportion_z(
            recent_side.refused, recent_side.total, baseline_side.refused, baseline_side.total
        )
        if stat is not None and abs(stat) >= z:  # the lines of flagged heads only
            line = _compare(recent_side, baseline_side)
            flagged.append({"head": head, "direction": "up" if stat > 0 else "down", **line})
    flagged.sort(key=lambda item: (-abs(item["z"]), item["head"]))
    tested = sum(1 for head in everyone if head in r_head and head in b_head)
    r_fleet = _Side(sum(s.total for s in r_head.values()), sum(s.refused for s in r_head.values()))
    b_fleet = _Side(sum(s.total for s in b_head.values()), sum(s.refused for s in b_head.values()))
    heads_up = _heads_up(r_refusals, b_refusals, r_head, b_head, z)
    fleet_lines = []
    for coin in sorted(set(r_refusals.by_reason) | set(b_refusals.by_reason)):
        stat = two_proportion_z(
            r_refusals.refused(coin), r_fleet.total, b_refusals.refused(coin), b_fleet.total
        )
        fleet_lines.append(
            {
                "coin": coin,
                "recent": _coin_json(r_refusals, coin, r_fleet.total),
                "baseline": _coin_json(b_refusals, coin, b_fleet.total),
                "z": stat,
                "heads_up": heads_up.get(coin, 0),
            }
        )
    up = sum(1 for item in flagged if item["direction"] == "up")
    return {
        "recent": recent_w.to_json(),
        "baseline": baseline_w.to_json(),
        "z_threshold": z,
        "model": model,
        "heads_tested": tested,
        "heads_untested": len(everyone) - tested,
        "flagged": len(flagged),
        "flagged_up": up,
        "flagged_down": len(flagged) - up,
        "heads": flagged[:limit],
        "fleet": {"all": _compare(r_fleet, b_fleet), "by_coin": fleet_lines},
    }


def _heads_up(
    recent: _Refusals,
    baseline: _Refusals,
    recent_heads: dict[str, _Side],
    baseline_heads: dict[str, _Side],
    z: float,
) -> dict[str, int]:
    """Per coin: how many heads' share of decisions that were refusals of it rose, z >= z."""
    out: dict[str, int] = {}
    # a (head, coin) with no refusal in the recent window cannot have risen
    for (head, coin), refused in recent.per_head.items():
        before = baseline_heads.get(head)
        if before is None:
            continue
        stat = two_proportion_z(
            refused,
            recent_heads.get(head, _Side()).total,
            baseline.per_head.get((head, coin), 0),
            before.total,
        )
        if stat is not None and stat >= z:
            out[coin] = out.get(coin, 0) + 1
    return out
