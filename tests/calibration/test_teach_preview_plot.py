"""The teach preview's plot: the new region on two features against recent traffic (issue 19)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from calibration.domain import teach as teach_domain
from coinval.classifier import FEATURE_UNITS
from coinval.decision import REASONS
from coinval.features import FEATURE_NAMES
from tests.calibration.conftest import HEAD, TAUGHT, Service

API = "/api/v1"


def _inside(point: tuple[float, float], outline: list[list[float]]) -> bool:
    """Whether a point lies inside a closed polygon (ray casting): the test's own geometry."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(outline, outline[1:] + outline[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _preview(svc: Service, teach_coins: list[dict[str, Any]]) -> dict[str, Any]:
    c = svc.client
    r = c.post(f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=svc.operator)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = c.post(f"{API}/teach/sessions/{sid}/signatures", json=teach_coins, headers=svc.operator)
    assert r.status_code == 200, r.text
    r = c.get(f"{API}/teach/sessions/{sid}/preview", headers=svc.operator)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture
def recorded(with_base: Service, traffic: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The traffic decided by the base profile and recorded with its signatures; the events."""
    r = with_base.client.post(
        f"{API}/heads/{HEAD}/classify", json=traffic, headers=with_base.operator
    )
    assert r.status_code == 200, r.text
    r = with_base.client.get(f"{API}/events?head={HEAD}&limit=100", headers=with_base.viewer)
    return list(r.json()["items"])


def test_the_plot_shows_the_region_the_session_and_the_traffic_with_its_decisions(
    with_base: Service,
    recorded: list[dict[str, Any]],
    teach_sets: dict[str, list[dict[str, Any]]],
) -> None:
    preview = _preview(with_base, teach_sets[TAUGHT])
    plot = preview["plot"]
    x, y = plot["x"]["feature"], plot["y"]["feature"]
    assert x in FEATURE_NAMES and y in FEATURE_NAMES and x != y
    assert plot["x"]["unit"] == FEATURE_UNITS[x] and plot["y"]["unit"] == FEATURE_UNITS[y]
    assert plot["chosen_by"] == "traffic"
    assert math.isfinite(plot["temperature_c"]) and plot["speed_mm_s"] > 0

    outline = plot["region"]["outline"]
    assert len(outline) >= 36 and all(len(p) == 2 for p in outline)
    assert _inside(tuple(plot["region"]["centre"]), outline)
    own = plot["teach"]["points"]
    assert plot["teach"]["total"] == len(own) == len(teach_sets[TAUGHT])
    middle = (sum(p[0] for p in own) / len(own), sum(p[1] for p in own) / len(own))
    assert _inside(middle, outline)  # the region sits on its own coins
    assert sum(_inside((p[0], p[1]), outline) for p in own) >= len(own) - 2

    points = plot["traffic"]["points"]
    assert plot["traffic"]["total"] == preview["replay"]["events"] == len(recorded)
    assert len(points) == len(recorded)  # under the bound, every coin placed
    by_id = {e["id"]: e for e in recorded}
    assert {p["event_id"] for p in points} == set(by_id)
    assert [p["event_id"] for p in points] == sorted(by_id, reverse=True)  # newest first
    for p in points:
        assert p["reason"] in REASONS
        assert (p["coin"] is not None) == (p["reason"] in ("accepted", "inhibited"))
        assert p["changed"] == (p["reason"] != by_id[p["event_id"]]["reason"])
    taken = [p for p in points if p["coin"] == TAUGHT]
    recorded_pounds = [e for e in recorded if e["signature_id"].startswith(TAUGHT)]
    assert len(taken) == len(recorded_pounds) == 4
    assert all(p["reason"] == "accepted" and p["changed"] for p in taken)
    assert all(_inside((p["x"], p["y"]), outline) for p in taken)
    untaken = [p for p in points if p["coin"] != TAUGHT]
    assert plot["traffic"]["untaken"] == len(untaken)
    # The pair is the one that keeps the rest out: most of it lies outside the outline.
    assert sum(not _inside((p["x"], p["y"]), outline) for p in untaken) > len(untaken) / 2
    assert {p["reason"] for p in untaken} >= {"accepted", "counterfeit"}


def test_the_plot_is_bounded_and_keeps_the_coins_nearest_the_region(
    with_base: Service,
    recorded: list[dict[str, Any]],
    teach_sets: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(teach_domain, "MAX_PLOT_POINTS", 6)
    plot = _preview(with_base, teach_sets[TAUGHT])["plot"]
    assert plot["teach"]["total"] == len(teach_sets[TAUGHT]) and len(plot["teach"]["points"]) == 6
    assert plot["traffic"]["total"] == len(recorded) and len(plot["traffic"]["points"]) == 6
    # The new pounds the region takes are the nearest: none is left out.
    assert sum(p["coin"] == TAUGHT for p in plot["traffic"]["points"]) == 4


def test_without_traffic_the_plot_is_diameter_against_thickness(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    plot = _preview(with_base, teach_sets[TAUGHT])["plot"]
    assert plot["chosen_by"] == "default"
    assert (plot["x"], plot["y"]) == (
        {"feature": "diameter_mm", "unit": "mm"},
        {"feature": "thickness_mm", "unit": "mm"},
    )
    assert plot["traffic"] == {"total": 0, "untaken": 0, "points": []}
    centre = plot["region"]["centre"]
    assert 22.0 < centre[0] < 24.0 and 2.5 < centre[1] < 3.2  # a new pound: 23.43 x 2.8 mm
    assert _inside(tuple(centre), plot["region"]["outline"])
