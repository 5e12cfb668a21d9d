"""In-process subscription: a running engine hears of every change at once.

The serve loop registers a callback; after every committed change of a head's
active profile or operator settings (activation, rollback, inhibits, master
inhibit, legal-tender overrides, teach commit with activation) the service
calls it with the new :class:`ActiveConfig`.  Callbacks run synchronously in
the thread that made the change, after the change is committed; one that
raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from coinval.profile import Profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveConfig:
    """What a head's engine must use now.

    Attributes
    ----------
    head : str
    profile_id, version : int
        The active stored profile version.
    profile : Profile
        The effective profile: the stored version with the head's operator
        settings applied (inhibits, legal-tender overrides; under master
        inhibit every coin is inhibited).  Give it to ``coinval.engine.Engine``.
    master_inhibit : bool
    revision : int
        Increases with every change of the head; equal revisions, same config.
    """

    head: str
    profile_id: int
    version: int
    profile: Profile
    master_inhibit: bool
    revision: int


Subscriber = Callable[[ActiveConfig], None]


class SubscriberRegistry:
    """Callbacks to call with each new :class:`ActiveConfig`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, config: ActiveConfig) -> None:
        """Call every subscriber with ``config``."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(config)
            except Exception:
                log.exception("a profile subscriber failed for head %s", config.head)
