"""What every data function works with: the store, settings, subscribers, a clock.

It also keeps each head's effective profile and engine, rebuilt only when the
head's revision in the store changes (so a change made by another process
sharing the store is picked up too).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from calibration.db import Database, Tx, format_time
from calibration.hooks import ActiveConfig, SubscriberRegistry
from calibration.recent_keys import RecentKeys
from calibration.repository import heads as heads_repo
from calibration.repository import profiles as profiles_repo
from calibration.settings import Settings
from coinval.engine import Engine
from coinval.profile import Profile, loads

LEGAL_TENDER_VALUES = ("schedule", "always", "never")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def apply_settings(
    profile: Profile, coin_settings: dict[str, dict[str, object]], master_inhibit: bool
) -> Profile:
    """The profile an engine must use: a stored version with a head's operator settings.

    An explicit per-coin setting wins over what the profile document says; a
    coin with none keeps the document's.  Under master inhibit every coin is
    inhibited.
    """
    inhibited = set(profile.inhibited)
    override = dict(profile.legal_tender_override)
    for coin, row in coin_settings.items():
        if row.get("inhibited") is not None:
            if row["inhibited"]:
                inhibited.add(coin)
            else:
                inhibited.discard(coin)
        value = row.get("legal_tender")
        if value == "schedule":
            override.pop(coin, None)
        elif value == "always":
            override[coin] = True
        elif value == "never":
            override[coin] = False
    if master_inhibit:
        inhibited |= set(profile.coins)
    return profile.with_settings(inhibited=frozenset(inhibited), legal_tender_override=override)


@dataclass
class _Cached:
    revision: int
    config: ActiveConfig | None
    engine: Engine | None


@dataclass
class Context:
    """The service's shared state; one per process (or per test)."""

    db: Database
    settings: Settings
    subscribers: SubscriberRegistry = field(default_factory=SubscriberRegistry)
    clock: Callable[[], dt.datetime] = _utc_now
    #: Principals of keys found valid a moment ago (see :mod:`calibration.recent_keys`).
    recent_keys: RecentKeys[object] = field(default_factory=RecentKeys)
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> str:
        """The present moment in the store's time format."""
        return format_time(self.clock())

    def _build(self, tx: Tx, head: str) -> _Cached:
        row = heads_repo.get_head(tx, head)
        if row is None:
            return _Cached(-1, None, None)
        revision = int(row["revision"])
        if row["active_profile_id"] is None:
            return _Cached(revision, None, None)
        prof = profiles_repo.get_profile(tx, int(row["active_profile_id"]), document=True)
        assert prof is not None
        stored = loads(prof["document"])
        settings = heads_repo.coin_settings(tx, head)
        effective = apply_settings(stored, settings, bool(row["master_inhibit"]))
        config = ActiveConfig(
            head=head,
            profile_id=int(prof["id"]),
            version=int(prof["version"]),
            profile=effective,
            master_inhibit=bool(row["master_inhibit"]),
            revision=revision,
        )
        return _Cached(revision, config, Engine(effective))

    def _current(self, head: str) -> _Cached:
        with self.db.transaction() as tx:
            row = heads_repo.get_head(tx, head)
            revision = -1 if row is None else int(row["revision"])
            with self._lock:
                cached = self._cache.get(head)
            if cached is not None and cached.revision == revision:
                return cached
            fresh = self._build(tx, head)
        with self._lock:
            self._cache[head] = fresh
        return fresh

    def active(self, head: str) -> ActiveConfig | None:
        """The head's active configuration now, or None when nothing is active."""
        return self._current(head).config

    def engine(self, head: str) -> tuple[ActiveConfig, Engine] | None:
        """The head's active configuration and an engine for it, or None."""
        cached = self._current(head)
        if cached.config is None or cached.engine is None:
            return None
        return cached.config, cached.engine

    def changed(self, head: str) -> None:
        """Call after committing a change of ``head``: subscribers get the new config."""
        config = self.active(head)
        if config is not None:
            self.subscribers.publish(config)
