"""An acceptor follows its head's configuration on a central service, offline too.

``coinval serve --central URL`` asks the central service for the head's
effective configuration (``GET /api/v1/heads/{head}/config``: the active
profile version with the operators' inhibits, legal-tender overrides and
master inhibit applied) at start, then every ``poll_s`` with ``If-None-Match``
(a 304 costs the central service one head-row lookup).  Every configuration
taken is written to a file beside the outbox (atomically: a new file renamed
over the old), the *last good copy*: started while the central service is
unreachable, the acceptor serves that copy rather than the profile file it was
started with, so an operator's inhibit is not undone by a network outage.

A reply that is not a valid profile is refused and logged; the configuration
in use stays.  The central service is the authority: a change made there
reaches the acceptor within ``poll_s``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from coinval.profile import Profile, ProfileError, profile_from_json_dict

__all__ = ["CentralConfig", "FetchedConfig"]

log = logging.getLogger("calibration.central_config")


@dataclass(frozen=True)
class FetchedConfig:
    """A head's configuration as the central service gave it.

    Attributes
    ----------
    head : str
    profile_id, version, revision : int
        The central store's version of the profile and the head's revision.
    master_inhibit : bool
    profile : Profile
        The effective profile (settings applied): give it to an engine.
    etag : str
        The central service's tag of this configuration.
    """

    head: str
    profile_id: int
    version: int
    revision: int
    master_inhibit: bool
    profile: Profile
    etag: str

    def describe(self) -> str:
        """``head A version 3 (central id 7); inhibited: gb-200-1997``: for the log."""
        parts = [f"head {self.head} version {self.version} (central id {self.profile_id})"]
        if self.master_inhibit:
            parts.append("master inhibit on")
        elif self.profile.inhibited:
            parts.append("inhibited: " + ", ".join(sorted(self.profile.inhibited)))
        return "; ".join(parts)


class ConfigReplyError(ValueError):
    """The central service answered with something that is not a head's configuration."""


def parse_config(body: Any, etag: str, head: str) -> FetchedConfig:
    """A :class:`FetchedConfig` from the config route's JSON; ConfigReplyError if it is not one."""
    try:
        if not isinstance(body, dict) or body.get("head") != head:
            raise ConfigReplyError(f"not head {head!r}'s configuration")
        profile = profile_from_json_dict(body["profile"])
        return FetchedConfig(
            head=head,
            profile_id=int(body["profile_id"]),
            version=int(body["version"]),
            revision=int(body["revision"]),
            master_inhibit=bool(body["master_inhibit"]),
            profile=profile,
            etag=etag,
        )
    except ProfileError as exc:
        raise ConfigReplyError(f"its profile is refused: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigReplyError):
            raise
        raise ConfigReplyError(f"malformed configuration ({type(exc).__name__}: {exc})") from None


class CentralConfig:
    """The head's configuration from a central service, and its last good copy on disk.

    Parameters
    ----------
    url : str
        The central service's base URL.
    key : str
        A key of the central service (a viewer's is enough).
    head : str
    copy_path : str or Path
        Where the last good copy is kept.
    poll_s : float
        How often :meth:`follow` asks for changes.
    """

    def __init__(
        self,
        url: str,
        key: str,
        head: str,
        copy_path: str | Path,
        *,
        poll_s: float = 10.0,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.head = head
        self.url = f"{url.rstrip('/')}/api/v1/heads/{head}/config"
        self.copy_path = Path(copy_path)
        self.poll_s = poll_s
        self.current: FetchedConfig | None = None
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout_s,
            transport=transport,
            verify=verify,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreachable = False

    # ------------------------------------------------------------------ start

    def at_start(self) -> tuple[FetchedConfig | None, str]:
        """The configuration to start with, and where it came from, in words.

        The central service's when it answers; else the last good copy; else
        None (the caller serves the profile file it was given).
        """
        try:
            fetched = self.fetch()
        except (httpx.HTTPError, ConfigReplyError) as exc:
            copy = self.load_copy()
            if copy is None:
                return None, f"central service not answering ({_short(exc)}); no copy kept yet"
            self.current = copy
            return copy, (
                f"the last good copy {self.copy_path} (the central service is not "
                f"answering: {_short(exc)})"
            )
        if fetched is None:
            return None, f"the central service has no active profile for head {self.head}"
        return fetched, "the central service"

    def fetch(self) -> FetchedConfig | None:
        """Ask the central service now; the new configuration (kept as the copy), the one
        in use when unchanged, None when the central service has none for the head.

        Raises
        ------
        httpx.HTTPError
            Unreachable, or an error status other than 404.
        ConfigReplyError
            The reply is not a valid configuration of this head.
        """
        headers = {"If-None-Match": self.current.etag} if self.current is not None else {}
        reply = self._client.get(self.url, headers=headers)
        if reply.status_code == 304 and self.current is not None:
            return self.current
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        try:
            body = reply.json()
        except ValueError:
            raise ConfigReplyError("the reply is not JSON") from None
        fetched = parse_config(body, reply.headers.get("ETag", ""), self.head)
        self._save_copy(body, fetched.etag)
        self.current = fetched
        return fetched

    # ------------------------------------------------------------------ copy

    def _save_copy(self, body: dict[str, Any], etag: str) -> None:
        """Write the copy so that a crash leaves the old one or the new one, never half."""
        text = json.dumps({"etag": etag, "config": body})
        folder = self.copy_path.parent
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".config-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.copy_path)
        except OSError as exc:
            log.error("cannot keep the central configuration in %s: %s", self.copy_path, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def load_copy(self) -> FetchedConfig | None:
        """The last good copy, or None when there is none or it cannot be read."""
        try:
            saved = json.loads(self.copy_path.read_text(encoding="utf-8"))
            return parse_config(saved["config"], str(saved["etag"]), self.head)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("the last good copy %s cannot be used: %s", self.copy_path, exc)
            return None

    # ------------------------------------------------------------------ follow

    def follow(self, on_config: Callable[[FetchedConfig], None]) -> None:
        """From now on, call ``on_config`` with each new configuration (a thread of its own)."""
        self._thread = threading.Thread(
            target=self._poll, args=(on_config,), name="central-config", daemon=True
        )
        self._thread.start()

    def _poll(self, on_config: Callable[[FetchedConfig], None]) -> None:
        while not self._stop.wait(self.poll_s):
            before = self.current
            try:
                fetched = self.fetch()
            except ConfigReplyError as exc:
                log.error("central configuration refused, keeping %s: %s", _name(before), exc)
                continue
            except httpx.HTTPError as exc:
                if not self._unreachable:
                    log.warning(
                        "central service not answering (%s): keeping %s", _short(exc), _name(before)
                    )
                self._unreachable = True
                continue
            if self._unreachable:
                log.info("central service answering again")
                self._unreachable = False
            if fetched is None or fetched is before:
                continue
            try:
                on_config(fetched)
            except Exception:  # a bad callback must not stop following
                log.exception("applying %s failed", fetched.describe())

    def close(self) -> None:
        """Stop following."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self._client.close()


def _name(config: FetchedConfig | None) -> str:
    return "the profile in use" if config is None else config.describe()


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
