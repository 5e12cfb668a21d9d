"""Bounds shared by the routes' numeric parameters.

Every id and cursor must fit a 64-bit SQL integer: a larger number is refused
with 422 (documented in the OpenAPI schema) instead of failing in the store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from calibration.errors import InvalidError

#: The largest id or cursor a route takes (SQLite's and PostgreSQL's BIGINT).
MAX_ID = 2**63 - 1

#: A stored row's id in a path (``/profiles/{profile_id}``...).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def refuse_null_body(request: Request) -> None:
    """Refuse a JSON ``null`` as the body of a route whose body may be left out (422).

    FastAPI reads ``null`` as "no body", so ``POST .../rollback`` with ``null``
    would act as ``{}``.  No body (or ``{}``) is the way to take the defaults;
    ``null`` is a client's mistake, refused like any other body that is not an
    object.  The body is read once: FastAPI reuses what this read.
    """
    if (await request.body()).strip() == b"null":
        raise InvalidError(
            "body: a JSON null is not taken: send an object ({} for the defaults) or no body",
            details=[{"loc": ["body"], "msg": "null is not an object", "type": "null_body"}],
        )


#: A route's optional body that must not be a JSON ``null``.
NotNullBody = Depends(refuse_null_body)
