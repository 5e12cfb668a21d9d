"""Service configuration: flags and ``COINVAL_*`` environment variables.

Every field can be set from the environment with the ``COINVAL_`` prefix
(``COINVAL_DB``, ``COINVAL_ADMIN_KEY``, ``COINVAL_MAX_BODY_BYTES`` ...); the
command line overrides the environment for the few it exposes.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HEAD = "default"
#: The shortest key the service takes as the first admin key (``COINVAL_ADMIN_KEY``).
MIN_KEY_CHARS = 16


class Settings(BaseSettings):
    """Configuration of the calibration service."""

    model_config = SettingsConfigDict(env_prefix="COINVAL_", extra="ignore")

    db: str = Field(
        default="coinval.db",
        description="the store: a SQLite file, or a postgresql://user@host/db URL",
    )

    @field_validator("admin_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        # Checked with the other settings, so a short key is refused before a
        # store is made, not once the store is open.
        if key is not None and len(key.get_secret_value()) < MIN_KEY_CHARS:
            raise ValueError(f"COINVAL_ADMIN_KEY must be at least {MIN_KEY_CHARS} characters")
        return key

    host: str = Field(default="127.0.0.1", description="bind address (loopback by default)")
    port: int = Field(default=8000, ge=0, le=65535)
    admin_key: SecretStr | None = Field(
        default=None,
        description="first admin key, stored hashed at first start (else one is generated)",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="request bodies larger than this are refused with 413",
    )
    max_items_per_request: int = Field(
        default=200_000,
        gt=0,
        description="signatures one upload or classify request may carry; more: 413",
    )
    write_batch_rows: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="rows written per store transaction by uploads (keeps each lock short); "
        "a recorded classify takes fewer while a batch holds the lock over 50 ms",
    )
    fleet_max_events: int = Field(
        default=1000,
        gt=0,
        le=100_000,
        description="events and summaries one POST /fleet/events batch may carry; more: 413",
    )
    max_session_samples: int = Field(
        default=20_000,
        gt=0,
        description="signatures one teach session may hold; an upload past it: 409",
    )
    backfill_window_s: int = Field(
        default=300,
        ge=0,
        description="recorded decisions may be dated this far from the server's clock; "
        "further needs backfill=true (audited)",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS; empty: CORS off"
    )
    metrics_public: bool = Field(
        default=False, description="serve /metrics without a key (for a scraper on loopback)"
    )
    store_event_signatures: bool = Field(
        default=True, description="keep each decided signature with its event (for previews)"
    )
    keep_event_signatures: int = Field(
        default=5000,
        ge=0,
        description="only the newest this many events keep their signature (about 30 kB each)",
    )
    preview_events: int = Field(
        default=500, ge=0, description="recent events with signatures a teach preview replays"
    )
    sse_poll_s: float = Field(default=0.25, gt=0, description="live-event stream poll interval")
    sse_heartbeat_s: float = Field(default=15.0, gt=0, description="keep-alive comment interval")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="worker processes serving the API (coinval api --workers); "
        "more than one needs a PostgreSQL store",
    )
    auth_failures_per_min: int = Field(
        default=30,
        ge=0,
        description="refused API keys one client address may present in a minute; past it "
        "429 and no key of it is checked until the minute ends; 0: no limit",
    )
    key_requests_per_s: int = Field(
        default=0,
        ge=0,
        description="requests one API key may make in a second, all workers together; "
        "past it 429; 0: no budget",
    )
    busy_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        description="longest wait for the store's write lock (SQLite's busy timeout, "
        "PostgreSQL's lock_timeout) or a free connection; then 503",
    )
