"""`/users/track` answered ahead of Flask (harness.fast_routes) must answer exactly as the Flask view does,
since both call `track_users`: same status, body and headers (rate-limit ones included), and the same
journal records.

Each case runs on twin fakes (same seed): once through the fast path, once through the Flask view (the
request without a declared body length, which the fast path leaves to Flask)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runtime import Runtime
from mocks.braze.app import create_app
from tests.fast_paths import call

from .braze_fixtures import AUTH

EVENT = {"external_id": "u1", "name": "noti", "time": "2026-01-01T00:00:00Z", "properties": {"status": "SENT"}}


def twin(limits: dict | None = None):
    app = create_app(Runtime.simulation(seed=5))
    if limits:
        assert app.test_client().put("/_admin/rate_limits", json=limits).status_code == 200
    return app


def recorded(app) -> list[dict]:
    records, _ = app.extensions["runtime"].journal.read()
    return [{k: v for k, v in r.to_dict().items() if k != "seq"} for r in records]


CASES = [
    ("event", {"events": [EVENT]}, AUTH),
    ("trace ids", {"events": [EVENT, {**EVENT, "external_id": "u2"}]}, {**AUTH, "X-Trace-Ids": "a,b"}),
    ("one trace", {"events": [EVENT]}, {**AUTH, "X-Trace-Id": "t"}),
    ("attributes", {"attributes": [{"external_id": "u1", "first_name": "Ada"}]}, AUTH),
    ("no key", {"events": [EVENT]}, {}),
    ("bad key", {"events": [EVENT]}, {"Authorization": "Bearer nope"}),
    ("bad time", {"events": [{**EVENT, "time": "yesterday"}]}, AUTH),
    ("nothing", {}, AUTH),
    ("not an object", [1, 2], AUTH),
    ("too many", {"events": [EVENT] * 76}, AUTH),
]


@pytest.mark.parametrize(("name", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_and_flask_view_answer_and_record_alike(name: str, body: Any, headers: dict):
    fast, slow = twin(), twin()
    raw = json.dumps(body).encode()
    assert call(fast, "/users/track", raw, headers, False) == call(slow, "/users/track", raw, headers, True)
    assert recorded(fast) == recorded(slow)


def test_invalid_json_and_rate_limits_answer_alike():
    fast, slow = twin({"users.track": {"limit": 2, "window_seconds": 60}}), twin(
        {"users.track": {"limit": 2, "window_seconds": 60}})
    for raw in (b"{nope", json.dumps({"events": [EVENT]}).encode(), json.dumps({"events": [EVENT]}).encode()):
        got = call(fast, "/users/track", raw, AUTH, False)
        assert got == call(slow, "/users/track", raw, AUTH, True)
        assert "x-ratelimit-limit" in got[1]
    assert got[0] == 429


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["events", "attributes", "purchases"]),
                       st.lists(st.dictionaries(st.sampled_from(["external_id", "name", "time", "properties",
                                                                 "user_alias", "first_name"]),
                                                st.none() | st.integers() | st.text(max_size=6), max_size=4),
                                max_size=3), max_size=3))
def test_any_body_gets_the_same_answer_and_records_both_ways(body: dict):
    raw = json.dumps(body).encode()
    fast, slow = twin(), twin()
    assert call(fast, "/users/track", raw, AUTH, False) == call(slow, "/users/track", raw, AUTH, True)
    assert recorded(fast) == recorded(slow)
