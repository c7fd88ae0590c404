"""GET /events/list and GET /events/data_series (and /segments/list)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from .braze_fixtures import T0, BrazeEnv, attr_filter, iso


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.rt.clock.advance(timedelta(days=3, hours=5, minutes=30))  # now: 2026-01-04T05:30Z
    events = []
    for day, hour, name in [(0, 1, "played"), (0, 23, "played"), (1, 2, "played"), (3, 4, "played"), (3, 5, "played"),
                            (3, 5, "bought"), (2, 0, "bought")]:
        when = T0 + timedelta(days=day, hours=hour, minutes=10)
        events.append({"external_id": "u1", "name": name, "time": iso(when)})
    events.append({"external_id": "u1", "name": "played", "time": iso(T0 + timedelta(days=10))})  # future: now
    assert env.track({"events": events}).status_code == 201
    yield env
    env.close()


def series(braze: BrazeEnv, **params) -> list[dict]:
    response = braze.get("/events/data_series", **params)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["message"] == "success"
    return response.get_json()["data"]


def test_events_list_is_sorted_names(braze):
    response = braze.get("/events/list")
    assert response.status_code == 200
    assert response.get_json() == {"events": ["bought", "played"], "message": "success"}
    assert braze.get("/events/list", page=1).get_json()["events"] == []


def test_daily_series_ends_today(braze):
    assert series(braze, event="played", length=5, unit="day") == [
        {"time": "2025-12-31", "count": 0}, {"time": "2026-01-01", "count": 2}, {"time": "2026-01-02", "count": 1},
        {"time": "2026-01-03", "count": 0}, {"time": "2026-01-04", "count": 3}]


def test_day_is_the_default_unit(braze):
    assert series(braze, event="bought", length=2) == [{"time": "2026-01-03", "count": 1},
                                                       {"time": "2026-01-04", "count": 1}]


def test_hourly_series(braze):
    assert series(braze, event="played", length=3, unit="hour") == [
        {"time": "2026-01-04T03:00:00Z", "count": 0}, {"time": "2026-01-04T04:00:00Z", "count": 1},
        {"time": "2026-01-04T05:00:00Z", "count": 2}]


def test_ending_at(braze):
    assert series(braze, event="played", length=2, unit="day", ending_at="2026-01-02T12:00:00Z") == [
        {"time": "2026-01-01", "count": 2}, {"time": "2026-01-02", "count": 1}]
    assert series(braze, event="played", length=1, unit="hour", ending_at="2026-01-01T23:59:59Z") == [
        {"time": "2026-01-01T23:00:00Z", "count": 1}]
    assert series(braze, event="played", length=1, unit="day", ending_at="2026-01-02T01:00:00+05:00") == [
        {"time": "2026-01-01", "count": 2}]


def test_unknown_event_is_all_zeros(braze):
    assert series(braze, event="never", length=3) == [{"time": t, "count": 0}
                                                      for t in ("2026-01-02", "2026-01-03", "2026-01-04")]


@pytest.mark.parametrize("length", [1, 100])
def test_length_bounds_accepted(braze, length):
    assert len(series(braze, event="played", length=length)) == length


@pytest.mark.parametrize("params", [
    {"event": "played", "length": 0}, {"event": "played", "length": 101}, {"event": "played", "length": "x"},
    {"event": "played"}, {"length": 3}, {"event": "played", "length": 3, "unit": "week"},
    {"event": "played", "length": 3, "ending_at": "yesterday"},
])
def test_bad_parameters_are_400(braze, params):
    response = braze.get("/events/data_series", **params)
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_segments_list(braze):
    response = braze.client.post("/_admin/segments", json={"name": "gold", "filter": attr_filter("t", "equals", "g")})
    segment_id = response.get_json()["id"]
    body = braze.get("/segments/list").get_json()
    assert body["message"] == "success"
    assert [(s["id"], s["name"]) for s in body["segments"]] == [(segment_id, "gold")]
