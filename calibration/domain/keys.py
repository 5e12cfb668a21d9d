"""API keys and roles: create, list, revoke, authenticate.

A key is ``cvk_`` plus 43 URL-safe characters (256 random bits); only its
sha256 is stored, and a presented key is checked with ``hmac.compare_digest``.
The key id (``k`` plus 8 hex digits) is public: it names the key in the
audit log and in logs, the key itself appears nowhere after it is handed out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from calibration.context import Context
from calibration.errors import ConflictError, InvalidError, NotFoundError
from calibration.repository import audit
from calibration.repository import keys as keys_repo
from calibration.settings import MIN_KEY_CHARS

KEY_PREFIX = "cvk_"
ENV_ADMIN_KEY_ID = "admin-env"
GENERATED_ADMIN_KEY_ID = "admin-first"
SYSTEM_ACTOR = "system"


class Role(StrEnum):
    """What a key may do; each role may do everything the ones below it may."""

    viewer = "viewer"
    operator = "operator"
    admin = "admin"

    @property
    def rank(self) -> int:
        """Order of the roles: viewer < operator < admin."""
        return ("viewer", "operator", "admin").index(self.value)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key id (never the key) and its role."""

    key_id: str
    role: Role
    name: str

    def may(self, role: Role) -> bool:
        """Whether this key's role is at least ``role``."""
        return self.role.rank >= role.rank


def hash_key(key: str) -> str:
    """The stored form of a key: its sha256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh high-entropy key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def recently_checked(ctx: Context, key: str) -> Principal | None:
    """The principal of a key found valid a moment ago, or None; no I/O, so it
    may be called from the event loop before :func:`authenticate`."""
    if not key or len(key) > 512:
        return None
    known = ctx.recent_keys.get(hash_key(key))
    return known if isinstance(known, Principal) else None


def authenticate(ctx: Context, key: str) -> Principal | None:
    """The principal of a presented key, or None if it is unknown or revoked."""
    if not key or len(key) > 512:
        return None
    digest = hash_key(key)
    known = ctx.recent_keys.get(digest)
    if isinstance(known, Principal):
        return known
    with ctx.db.transaction() as tx:
        row = keys_repo.find_by_hash(tx, digest)
    if row is None or not hmac.compare_digest(str(row["hash"]), digest):
        return None
    if row["revoked_at"] is not None:
        return None
    principal = Principal(key_id=str(row["id"]), role=Role(row["role"]), name=str(row["name"]))
    ctx.recent_keys.put(digest, principal)
    return principal


def ensure_admin_key(ctx: Context, configured: str | None) -> str | None:
    """At first start (no keys at all), create the first admin key.

    With ``configured`` (``COINVAL_ADMIN_KEY``) that key is stored, hashed;
    without, a key is generated and returned, for the caller to show once.
    Later starts change nothing.

    Raises
    ------
    InvalidError
        When the configured key is too short to be safe.
    """
    if configured is not None and len(configured) < MIN_KEY_CHARS:
        raise InvalidError(f"COINVAL_ADMIN_KEY must be at least {MIN_KEY_CHARS} characters")
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        if keys_repo.count_keys(tx) > 0:
            return None
        key = configured or new_key()
        key_id = ENV_ADMIN_KEY_ID if configured else GENERATED_ADMIN_KEY_ID
        keys_repo.insert_key(
            tx,
            key_id=key_id,
            name="first admin",
            role=Role.admin.value,
            hash_hex=hash_key(key),
            at=now,
            by=SYSTEM_ACTOR,
        )
        audit.append(
            tx,
            at=now,
            key_id=SYSTEM_ACTOR,
            action="key.create",
            target=f"key:{key_id}",
            after={
                "role": "admin",
                "name": "first admin",
                "origin": "COINVAL_ADMIN_KEY" if configured else "generated",
            },
        )
    return None if configured else key


def create_key(ctx: Context, actor: str, *, name: str, role: Role) -> dict[str, Any]:
    """Make a key; the result holds the key itself, shown this once only."""
    if not name.strip():
        raise InvalidError("a key needs a name (who or what uses it)")
    key = new_key()
    key_id = "k" + secrets.token_hex(4)
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        row = keys_repo.insert_key(
            tx, key_id=key_id, name=name, role=role.value, hash_hex=hash_key(key), at=now, by=actor
        )
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="key.create",
            target=f"key:{key_id}",
            after={"role": role.value, "name": name},
        )
    return {**row, "key": key}


def list_keys(ctx: Context) -> list[dict[str, Any]]:
    """Every key's public record (never the key or its hash)."""
    with ctx.db.transaction() as tx:
        return keys_repo.list_keys(tx)


def revoke_key(ctx: Context, actor: str, key_id: str) -> dict[str, Any]:
    """Revoke a key at once; the last active admin key cannot be revoked."""
    now = ctx.now()
    with ctx.db.transaction(write=True) as tx:
        row = keys_repo.get_key(tx, key_id)
        if row is None:
            raise NotFoundError(f"no key with id {key_id!r}")
        if row["revoked_at"] is not None:
            raise ConflictError(f"key {key_id!r} is already revoked")
        if row["role"] == Role.admin.value and keys_repo.count_active_admins(tx) <= 1:
            raise ConflictError("this is the last admin key: create another admin key first")
        keys_repo.revoke(tx, key_id, at=now, by=actor)
        audit.append(
            tx,
            at=now,
            key_id=actor,
            action="key.revoke",
            target=f"key:{key_id}",
            before={"revoked": False, "role": row["role"]},
            after={"revoked": True},
        )
        out = keys_repo.get_key(tx, key_id)
    ctx.recent_keys.forget_all()
    assert out is not None
    return out
