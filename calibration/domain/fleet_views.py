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
from collections.abc import Iterable
from dataclasses import dataclass
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


def _page_of_heads(tx: Tx, model: str | None, after: str, limit: int) -> list[str]:
    """``limit`` heads after ``after`` in name order: a model's, or every head the store
    knows of (with a profile, reported by an acceptor, or with decisions)."""
    if model is not None:
        return fleet_heads_repo.heads_of_model(tx, model, after=after, limit=limit)
    found: set[str] = set()
    # each source's first ``limit`` after the cursor: their union's first ``limit``
    # are the page, whichever source each head comes from
    found.update(fleet_heads_repo.store_heads_after(tx, after, limit))
    found.update(fleet_heads_repo.heads_after(tx, after, limit))
    found.update(rollups.heads_after(tx, after, limit))
    return sorted(found)[:limit]


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
        page = _page_of_heads(tx, model, after or "", limit + 1)
        more, page = len(page) > limit, page[:limit]
        fleet = fleet_heads_repo.of_heads(tx, page)
        active = fleet_heads_repo.active_versions(tx, page)
        counts = rollups.window_counts(tx, window.since, window.until, heads=page)
        per_hour = rollups.hour_totals(tx, page, hour_keys)
    by_head: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for (head, coin, reason), n in counts.items():
        tally = by_head[head][coin or NO_COIN]
        tally[0] += n
        tally[1] += n if reason == "accepted" else 0
    items = []
    for head in page:
        row = fleet.get(head, {})
        act = active.get(head, {})
        running, version = row.get("running_version"), act.get("version")
        coins = by_head.get(head, {})
        total = sum(t[0] for t in coins.values())
        accepted = sum(t[1] for t in coins.values())
        items.append(
            {
                "head": head,
                "model": row.get("model"),
                "model_source": row.get("model_source"),
                "acceptor_id": row.get("acceptor_id"),
                "last_seen": row.get("last_seen"),
                "active_profile_id": act.get("active_profile_id"),
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


@dataclass
class _Side:
    """Decisions and refusals of one window."""

    total: int = 0
    refused: int = 0
    by_reason: dict[str, int] | None = None

    def add(self, reason: str, n: int) -> None:
        self.total += n
        if reason != "accepted":
            self.refused += n
        if self.by_reason is not None:
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n


def _sides(
    counts: dict[tuple[str, str, str], int],
) -> tuple[dict[str, _Side], dict[str, _Side], dict[tuple[str, str], _Side], _Side]:
    """Per head, per coin (fleet-wide), per (head, coin), and the fleet's total."""
    per_head: dict[str, _Side] = defaultdict(_Side)
    per_coin: dict[str, _Side] = defaultdict(lambda: _Side(by_reason={}))
    per_head_coin: dict[tuple[str, str], _Side] = defaultdict(_Side)
    fleet = _Side(by_reason={})
    for (head, coin, reason), n in counts.items():
        name = coin or NO_COIN
        per_head[head].add(reason, n)
        per_coin[name].add(reason, n)
        per_head_coin[(head, name)].add(reason, n)
        fleet.add(reason, n)
    return per_head, per_coin, per_head_coin, fleet


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


def _share_json(side: _Side, fleet_total: int) -> dict[str, Any]:
    """A coin's decisions and refusals in a window, and its refusals' share of the fleet's."""
    by_reason: dict[str, int] = dict.fromkeys(REASONS, 0)
    by_reason.update(side.by_reason or {})
    return {
        "total": side.total,
        "refused": side.refused,
        "refused_share": _rate(side.refused, fleet_total),
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

    ``fleet`` has a line per coin (``(none)`` for decisions without a coin,
    where counterfeits and unknown coins land) comparing the share of all the
    fleet's decisions that were refusals of that coin, and how many heads'
    share of it rose by ``|z| >= z`` on their own: a counterfeit wave shows as
    ``(none)`` rising on many heads at once.
    """
    recent_w = Window.ending_now(ctx.clock(), hours)
    baseline_w = recent_w.before(baseline_hours)
    with ctx.db.transaction() as tx:  # both windows from one snapshot
        check_known_model(tx, model)
        recent = rollups.window_counts(tx, recent_w.since, recent_w.until, model=model)
        baseline = rollups.window_counts(tx, baseline_w.since, baseline_w.until, model=model)
    r_head, r_coin, r_head_coin, r_fleet = _sides(recent)
    b_head, b_coin, b_head_coin, b_fleet = _sides(baseline)
    flagged: list[dict[str, Any]] = []
    tested = 0
    up = down = 0
    for head in sorted(set(r_head) | set(b_head)):
        line = _compare(r_head.get(head, _Side()), b_head.get(head, _Side()))
        if line["z"] is None:
            continue
        tested += 1
        if abs(line["z"]) >= z:
            direction = "up" if line["z"] > 0 else "down"
            up, down = up + (direction == "up"), down + (direction == "down")
            flagged.append({"head": head, "direction": direction, **line})
    flagged.sort(key=lambda item: (-abs(item["z"]), item["head"]))
    heads_up_per_coin = _heads_up(r_head_coin, b_head_coin, r_head, b_head, z)
    fleet_lines = []
    for coin in sorted(set(r_coin) | set(b_coin)):
        rc, bc = r_coin.get(coin, _Side()), b_coin.get(coin, _Side())
        share = two_proportion_z(rc.refused, r_fleet.total, bc.refused, b_fleet.total)
        fleet_lines.append(
            {
                "coin": coin,
                "recent": _share_json(rc, r_fleet.total),
                "baseline": _share_json(bc, b_fleet.total),
                "z": share,
                "heads_up": heads_up_per_coin.get(coin, 0),
            }
        )
    return {
        "recent": recent_w.to_json(),
        "baseline": baseline_w.to_json(),
        "z_threshold": z,
        "model": model,
        "heads_tested": tested,
        "heads_untested": len(set(r_head) | set(b_head)) - tested,
        "flagged": len(flagged),
        "flagged_up": up,
        "flagged_down": down,
        "heads": flagged[:limit],
        "fleet": {"all": _compare(r_fleet, b_fleet), "by_coin": fleet_lines},
    }


def _heads_up(
    recent: dict[tuple[str, str], _Side],
    baseline: dict[tuple[str, str], _Side],
    recent_heads: dict[str, _Side],
    baseline_heads: dict[str, _Side],
    z: float,
) -> dict[str, int]:
    """Per coin: how many heads' share of decisions that were refusals of it rose, |z| >= z."""
    out: dict[str, int] = defaultdict(int)
    for head, coin in _keys(recent, baseline):
        r = recent.get((head, coin), _Side())
        b = baseline.get((head, coin), _Side())
        r_total = recent_heads.get(head, _Side()).total
        b_total = baseline_heads.get(head, _Side()).total
        stat = two_proportion_z(r.refused, r_total, b.refused, b_total)
        if stat is not None and stat >= z:
            out[coin] += 1
    return out


def _keys(*maps: dict[tuple[str, str], _Side]) -> Iterable[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    for m in maps:
        seen.update(m)
    return sorted(seen)
