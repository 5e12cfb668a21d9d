"""The route class: plain ``def`` endpoints run in a worker thread, in one hand-off."""

from __future__ import annotations

import inspect
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from calibration.routers import audit, coins, events, health, keys, profiles, stats, teach
from calibration.routers._route import OffloadedRoute


def test_every_endpoint_is_awaited_not_handed_off_twice() -> None:
    routers = [m.router for m in (audit, coins, events, health, keys, profiles, stats, teach)]
    routes = [r for router in [*routers, stats.metrics_router] for r in router.routes]
    assert routes and all(isinstance(r, OffloadedRoute) for r in routes)
    assert all(inspect.iscoroutinefunction(r.endpoint) for r in routes if isinstance(r, APIRoute))


SEEN: dict[str, int] = {}


def _dependency() -> str:
    return "dep"


_router = APIRouter(route_class=OffloadedRoute)


@_router.get("/where")
def _where(value: Annotated[str, Depends(_dependency)], n: int = 1) -> dict[str, object]:
    SEEN["endpoint"] = threading.get_ident()
    return {"value": value, "n": n}


@_router.get("/loop")
async def _loop() -> dict[str, int]:
    SEEN["loop"] = threading.get_ident()
    return {}


def test_a_def_endpoint_runs_in_a_worker_thread_with_its_dependencies() -> None:
    app = FastAPI()
    app.include_router(_router)
    with TestClient(app) as client:
        assert client.get("/where?n=3").json() == {"value": "dep", "n": 3}
        assert client.get("/where?n=x").status_code == 422  # parameters still validated
        client.get("/loop")
    assert SEEN["endpoint"] != SEEN["loop"]
    schema = app.openapi()["paths"]["/where"]["get"]
    assert [p["name"] for p in schema["parameters"]] == ["n"]
