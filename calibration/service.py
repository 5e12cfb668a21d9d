"""The service as the serve loop uses it, in process: subscribe, record, feed, serve.

::

    from calibration.service import CalibrationService
    from calibration.settings import Settings

    service = CalibrationService.open(Settings(db="coinval.db"))
    service.subscribe(lambda config: bridge.use(config.profile))   # engine swaps at once
    server = service.start_api("127.0.0.1", 8000)                  # HTTP in a thread
    ...
    service.record_decision("A", decision, signature=signature)    # every coin
    service.feed_live("A", signature)                              # coins for live teach
    ...
    server.stop()
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from calibration.app import create_app, open_context
from calibration.context import Context
from calibration.domain import events, teach
from calibration.domain.profiles import activate_in, head_of, insert_version_in
from calibration.hooks import ActiveConfig, Subscriber
from calibration.repository import heads as heads_repo
from calibration.server import server_options
from calibration.settings import Settings
from coinval.decision import Decision
from coinval.profile import Profile
from coinval.signature import Signature

#: The audit log's actor for what the serve loop does by itself.
SERVE_ACTOR = "serve"


@dataclass
class ApiServer:
    """A uvicorn server running in a background thread."""

    server: object
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        servers = getattr(self.server, "servers", [])
        for srv in servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the server is not listening")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish and wait for its thread."""
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout)


class CalibrationService:
    """The calibration service's in-process face for the serve loop."""

    def __init__(self, context: Context) -> None:
        self.context = context

    @classmethod
    def open(cls, settings: Settings | None = None) -> CalibrationService:
        """Open (and migrate) the store named by the settings."""
        return cls(open_context(settings or Settings()))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(ActiveConfig)`` after each change of a head's active profile or
        settings; returns the function that unsubscribes."""
        return self.context.subscribers.subscribe(callback)

    def active(self, head: str) -> ActiveConfig | None:
        """The head's effective configuration now (None when nothing is active)."""
        return self.context.active(head)

    def adopt(
        self, profile: Profile, *, head: str | None = None, note: str | None = None
    ) -> tuple[ActiveConfig, bool]:
        """The head's config to serve: the store's active profile, else ``profile``.

        When the head (``head``, else the profile's own, else the default head)
        has no active profile, ``profile`` is imported as its next version and
        activated, in one transaction (audit actor ``serve``).  Returns the
        config and whether it was imported.

        Raises
        ------
        calibration.errors.InvalidError
            ``head`` is not a valid name or not the head the profile was taught on.
        """
        target = head_of(profile, head)
        now = self.context.now()
        imported = False
        with self.context.db.transaction(write=True) as tx:
            row = heads_repo.get_head(tx, target)
            if row is None or row["active_profile_id"] is None:
                meta = insert_version_in(
                    tx,
                    SERVE_ACTOR,
                    profile,
                    head=target,
                    source="import",
                    note=note,
                    parent_id=None,
                    now=now,
                )
                activate_in(tx, SERVE_ACTOR, target, meta["id"], kind="activate", now=now)
                imported = True
        if imported:
            self.context.changed(target)
        config = self.context.active(target)
        assert config is not None  # the head has an active profile now
        return config, imported

    def record_decision(
        self,
        head: str,
        decision: Decision,
        *,
        at: dt.datetime | None = None,
        signature: Signature | None = None,
    ) -> int:
        """Record one live decision (events, stats, the live stream); its event id."""
        config = self.context.active(head)
        return events.record_decision(
            self.context,
            head=head,
            decision=decision,
            at=at,
            signature=signature,
            profile_id=config.profile_id if config else None,
            source="live",
        )

    def feed_live(self, head: str, signature: Signature) -> list[int]:
        """Give a live coin to the head's open live teach sessions; their ids."""
        return teach.feed_live(self.context, head, signature)

    def app(self) -> FastAPI:
        """The HTTP app over this service's store and subscribers."""
        return create_app(context=self.context)

    def start_api(
        self, host: str = "127.0.0.1", port: int = 8000, **uvicorn_options: object
    ) -> ApiServer:
        """Serve the HTTP API from a background thread; returns once it listens.

        A request head over ``calibration.server.MAX_REQUEST_HEAD_BYTES`` is
        refused by the server (431) before it is held (``server_options()``).
        """
        import uvicorn

        options: dict[str, Any] = {"log_level": "warning", **server_options(), **uvicorn_options}
        config = uvicorn.Config(self.app(), host=host, port=port, **options)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="coinval-api", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the API server could not start on {host}:{port}")
            threading.Event().wait(0.02)
        return ApiServer(server, thread)
