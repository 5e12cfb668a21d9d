"""The calibration service inside ``coinval serve`` and ``coinval run`` (``--api``).

The engine serves the head's active profile from the store (importing
``--profile`` when the head has none), every coin decided is recorded, and an
operator's change reaches the engine before the next coin.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coinval_cli.errors import UsageError

if TYPE_CHECKING:
    from calibration.hooks import ActiveConfig
    from calibration.live import ConfigFollower, DecisionRecorder
    from calibration.service import ApiServer
    from coinval.profile import Profile
    from firmware_bridge.runtime.loop import CoinLoop

__all__ = [
    "LiveCalibration",
    "add_calibration_arguments",
    "describe_config",
    "parse_api_address",
    "start_calibration",
]

log = logging.getLogger("coinval_cli.live_calibration")


def add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    """``--api [HOST:]PORT`` and ``--db PATH`` of ``serve`` and ``run``."""
    parser.add_argument(
        "--api",
        metavar="[HOST:]PORT",
        help="also run the calibration service (HTTP) in this process, on HOST "
        "(default 127.0.0.1: loopback only) and PORT",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="the calibration store, with --api (default $COINVAL_DB or coinval.db)",
    )


def parse_api_address(text: str) -> tuple[str, int]:
    """``--api``: ``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; loopback by default.

    Port 0 takes a free port (the log says which).
    """
    host, sep, port_text = text.strip().rpartition(":")
    host = (host if sep else "").strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--api: expected [HOST:]PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--api: port must be 0-65535, got {port}")
    return host, port


def describe_config(config: ActiveConfig) -> str:
    """``head A profile version 2 (id 5); inhibited: gb-200-1997``: for the log."""
    profile = config.profile
    parts = [f"head {config.head} profile version {config.version} (id {config.profile_id})"]
    if config.master_inhibit:
        parts.append("master inhibit on")
    elif profile.inhibited:
        parts.append("inhibited: " + ", ".join(sorted(profile.inhibited)))
    if profile.legal_tender_override:
        overrides = sorted(profile.legal_tender_override.items())
        parts.append(
            "legal tender: "
            + ", ".join(f"{coin} {'always' if on else 'never'}" for coin, on in overrides)
        )
    return "; ".join(parts)


@dataclass
class LiveCalibration:
    """The calibration service inside ``serve``/``run``: store, HTTP API, recorder, follower."""

    service: Any  # calibration.service.CalibrationService
    config: ActiveConfig
    api: ApiServer
    recorder: DecisionRecorder
    follower: ConfigFollower | None = None

    @property
    def profile(self) -> Profile:
        """The profile to serve at start (the store's, settings applied)."""
        return self.config.profile

    def follow(self, runtime: CoinLoop, announce: Callable[[str], None] | None = None) -> None:
        """From now on, each new config of the head swaps the runtime's engine.

        ``announce`` also gets each new config's description (``run`` prints it).
        """
        from calibration.live import ConfigFollower
        from coinval.engine import Engine

        def on_config(config: ActiveConfig) -> None:
            label = describe_config(config)
            runtime.use(Engine(config.profile), config.profile.coins, label)
            if announce is not None:
                announce(label)

        self.follower = ConfigFollower(
            self.service, self.config.head, on_config, revision=self.config.revision
        )

    def close(self) -> None:
        """Stop following, record what is queued, stop the API."""
        if self.follower is not None:
            self.follower.close()
        self.recorder.close()
        self.api.stop()
        counts = self.recorder.counts
        log.info(
            "calibration: %d decision(s) recorded, %d fed to live teach sessions%s",
            counts.recorded,
            counts.fed_live,
            f", {counts.dropped + counts.failed} NOT recorded"
            if counts.dropped + counts.failed
            else "",
        )


def start_calibration(args: argparse.Namespace, profile: Profile) -> LiveCalibration | None:
    """``--api``: open the store, settle the head's profile, serve HTTP; None without it."""
    if args.api is None:
        if args.db is not None:
            raise UsageError("--db goes with --api (the calibration service's store)")
        return None
    host, port = parse_api_address(args.api)
    from pydantic import ValidationError

    from calibration.errors import CalibrationError
    from calibration.live import DecisionRecorder
    from calibration.service import CalibrationService
    from calibration.settings import Settings

    try:
        settings = Settings(**({"db": args.db} if args.db else {}))
    except ValidationError as exc:
        raise UsageError(f"bad calibration setting: {exc.errors()[0]['msg']}") from None
    from calibration.db import is_postgres_url, without_password

    # A PostgreSQL URL is said without its password, a file by its full path.
    db = settings.db
    shown = without_password(db) if is_postgres_url(db) else os.path.abspath(db)
    try:
        service = CalibrationService.open(settings)
    except (OSError, RuntimeError, ValueError, sqlite3.Error) as exc:
        # sqlite3.Error: a file with SQLite's header but damaged inside is found
        # only once opened; a usage error (exit 2) like any other bad --db.
        raise UsageError(f"cannot open the calibration store {shown!r}: {exc}") from None
    try:
        config, imported = service.adopt(profile, note="imported by coinval serve at start")
    except CalibrationError as exc:
        raise UsageError(f"calibration store {shown!r}: {exc.message}") from None
    where = f"store {shown}"
    if imported:
        log.info(
            "%s: head %s had no active profile: imported the --profile file as version %d "
            "and activated it",
            where,
            config.head,
            config.version,
        )
    else:
        log.info(
            "%s: head %s has an active profile: serving it (version %d, id %d), "
            "not the --profile file",
            where,
            config.head,
            config.version,
            config.profile_id,
        )
    log.info("serving %s", describe_config(config))
    if not 1 <= len(config.profile.coins) <= 16:
        raise UsageError(f"the active profile has {len(config.profile.coins)} coins: 1 to 16 fit")
    try:
        api = service.start_api(host, port)
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"cannot serve the calibration API on {host}:{port}: {exc}") from None
    log.info(
        "calibration API on http://%s:%d (docs at /docs); every coin is recorded",
        f"[{host}]" if ":" in host else host,
        api.port,
    )
    return LiveCalibration(service, config, api, DecisionRecorder(service, config.head))
