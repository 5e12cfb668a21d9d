"""Bounds shared by the routes' numeric parameters.

Every id and cursor must fit a 64-bit SQL integer: a larger number is refused
with 422 (documented in the OpenAPI schema) instead of failing in the store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

#: The largest id or cursor a route takes (SQLite's and PostgreSQL's BIGINT).
MAX_ID = 2**63 - 1

#: A stored row's id in a path (``/profiles/{profile_id}``...).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
