"""The route class of every router: a plain ``def`` endpoint costs one thread hand-off.

FastAPI runs a ``def`` endpoint in its thread pool, and then, because the
endpoint was not a coroutine, validates its result in the thread pool too: two
hand-offs between the event loop and a worker thread per request, each costing
more than most of our queries.  :class:`OffloadedRoute` gives FastAPI an
``async`` endpoint that runs the ``def`` one in the thread pool, so the store is
still never touched from the event loop, and the response is validated and
serialised there (pydantic, in Rust) without a second hand-off.  Endpoints stay
plain functions with ``Annotated`` dependencies; FastAPI reads their signature
through ``functools.wraps``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


def offloaded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` as a coroutine function that runs it in the thread pool."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


class OffloadedRoute(APIRoute):
    """An API route whose plain ``def`` endpoint runs in the thread pool, once."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = offloaded(endpoint)
        super().__init__(path, endpoint, **kwargs)


def json_response(body: Any) -> Response:
    """``body`` (plain JSON types only) as an ``application/json`` response, made by orjson.

    For the large read-only views (a page of a hundred heads is ~100 kB): FastAPI
    would validate an untyped ``dict[str, Any]`` against itself, serialise it to
    Python again and then to text, three walks of the body where one does.  The
    route keeps ``response_model`` in its decorator for the OpenAPI description.
    """
    return Response(orjson.dumps(body), media_type="application/json")
