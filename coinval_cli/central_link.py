"""``coinval serve --central URL``: an acceptor of a fleet, tied to its central service.

Two things go over the link.  Every decided coin goes up, through an outbox on
disk (:class:`calibration.outbox.CentralReporter`).  The head's configuration
comes down (:class:`calibration.central_config.CentralConfig`): at start and
within ``--central-poll`` seconds of every change an operator makes centrally,
with the last good copy on disk for starts while the central service is away.
With ``--api`` the local store is the authority for the configuration and only
the coins go up.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coinval_cli.argtypes import positive_float
from coinval_cli.errors import UsageError

if TYPE_CHECKING:
    from calibration.central_config import CentralConfig, FetchedConfig
    from calibration.outbox import CentralReporter
    from coinval.profile import Profile

__all__ = ["CentralLink", "add_central_arguments", "start_central"]

log = logging.getLogger("coinval_cli.central_link")


def add_central_arguments(parser: argparse.ArgumentParser) -> None:
    """``--central URL``, its key, its outbox and how often to ask for changes (``serve``)."""
    parser.add_argument(
        "--central",
        metavar="URL",
        help="report every decided coin to this central calibration service "
        "(POST /api/v1/fleet/events), through an outbox on disk, and follow the "
        "head's profile and operator settings kept there",
    )
    parser.add_argument(
        "--central-key",
        metavar="KEY",
        help="an operator key of the central service (default $COINVAL_CENTRAL_KEY)",
    )
    parser.add_argument(
        "--outbox",
        metavar="PATH",
        help="the outbox file of --central (default: outbox.db next to --db, "
        "else .coinval/outbox.db); the last good copy of the head's configuration "
        "is kept beside it",
    )
    parser.add_argument(
        "--outbox-bound",
        type=int,
        default=100_000,
        metavar="N",
        help="events the outbox keeps at most; past it the oldest are summarised "
        "(per head, coin, reason counts) (default 100000)",
    )
    parser.add_argument(
        "--central-poll",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds between two questions to the central service for a changed "
        "configuration (default 10)",
    )
    parser.add_argument(
        "--central-ca",
        metavar="PEM",
        help="trust this CA certificate (or bundle) for an https:// --central, instead of "
        "the system's",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="this acceptor's model, reported to the central service (fleet views and "
        "group re-teach act on every head of a model)",
    )


@dataclass
class CentralLink:
    """The reporter (coins up) and, without ``--api``, the config follower (settings down)."""

    reporter: CentralReporter
    config: CentralConfig | None

    def follow(self, apply: Callable[[Profile, str], None]) -> None:
        """Each new configuration from the central service: ``apply(profile, label)``."""
        if self.config is None:
            return
        reporter = self.reporter

        def on_config(fetched: FetchedConfig) -> None:
            apply(fetched.profile, f"central {fetched.describe()}")
            reporter.outbox.profile_version = fetched.version

        self.config.follow(on_config)

    def close(self) -> None:
        """Stop following, send what the central service takes, close the outbox."""
        if self.config is not None:
            self.config.close()
        self.reporter.close()


def _trust(ca: str | None, url: str) -> ssl.SSLContext | bool:
    """What verifies the central service's certificate: ``--central-ca``, else the system."""
    if ca is None:
        return True
    if not url.startswith("https://"):
        raise UsageError("--central-ca goes with an https:// --central")
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"--central-ca {ca}: cannot load it: {reason}") from None


def _outbox_path(args: argparse.Namespace) -> Path:
    from calibration.db import is_postgres_url

    if args.outbox is not None:
        return Path(args.outbox)
    if args.db is not None and not is_postgres_url(args.db):
        return Path(args.db).parent / "outbox.db"
    path = Path(".coinval") / "outbox.db"
    path.parent.mkdir(exist_ok=True)
    return path


def start_central(
    args: argparse.Namespace, profile: Profile, *, follow_config: bool
) -> tuple[CentralLink | None, Profile]:
    """``--central URL``: the link, and the profile to start with; (None, profile) without it.

    With ``follow_config`` the head's configuration comes from the central
    service (or its last good copy) when there is one, else ``profile`` (the
    ``--profile`` file) is served until the central service has one.
    """
    central = args.central
    if central is None:
        for flag, value in (
            ("--central-key", args.central_key),
            ("--outbox", args.outbox),
            ("--model", args.model),
            ("--central-ca", args.central_ca),
        ):
            if value is not None:
                raise UsageError(f"{flag} goes with --central")
        return None, profile
    if not central.startswith(("http://", "https://")):
        raise UsageError(f"--central: expected an http:// or https:// URL, got {central!r}")
    key = args.central_key or os.environ.get("COINVAL_CENTRAL_KEY")
    if not key:
        raise UsageError("--central needs a key: --central-key KEY or $COINVAL_CENTRAL_KEY")
    if args.outbox_bound < 1:
        raise UsageError("--outbox-bound must be at least 1")
    from calibration.central_config import CentralConfig
    from calibration.outbox import CentralReporter, Outbox, check_model

    if args.model is not None:
        try:
            check_model(args.model)
        except ValueError as exc:
            raise UsageError(f"--model: {exc}") from None
    verify = _trust(args.central_ca, central)
    path = _outbox_path(args)
    try:
        outbox = Outbox(path, bound=args.outbox_bound, model=args.model)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot open the outbox {str(path)!r}: {exc}") from None
    head = profile.head or "default"
    log.info(
        "central: reporting every coin to %s as acceptor %s (outbox %s: %d waiting, "
        "%d summarised so far)",
        central,
        outbox.acceptor_id,
        os.path.abspath(path),
        outbox.pending,
        outbox.summarised,
    )
    config = None
    if follow_config:
        copy = path.with_name(f"{path.stem}-config.json")
        config = CentralConfig(central, key, head, copy, poll_s=args.central_poll, verify=verify)
        fetched, origin = config.at_start()
        if fetched is None:
            log.warning("central: %s; serving --profile until it has one", origin)
        else:
            log.info("central: serving %s, from %s", fetched.describe(), origin)
            profile = fetched.profile
            outbox.profile_version = fetched.version
    reporter = CentralReporter(outbox, central, key, head, verify=verify)
    return CentralLink(reporter, config), profile
