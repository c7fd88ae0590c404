"""The send endpoint answered ahead of Flask (harness.fast_routes) must answer exactly as the Flask view
does: same status, body and headers for every kind of request, since the two share `handle_send`.

Each case runs twice on twin apps built from the same seed: once through the fast path, once through the
Flask view (the request without a declared length, which the fast path leaves to Flask)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runtime import Runtime
from tests.fast_paths import call

from .conftest import AUTH, make_app

TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "required": True}]}
OK = {"template": {"key": "welcome", "variables": {"u1": {"name": "Ada"}}}, "mode": "realtime", "targets": ["u1"]}


def twin(limits: dict | None = None):
    app = make_app(Runtime.simulation(seed=7))
    client = app.test_client()
    assert client.post("/v1/templates", json=TEMPLATE, headers=AUTH).status_code == 200
    if limits:
        assert client.put("/_admin/rate_limits", json=limits).status_code == 200
    return app


CASES = [
    ("ok", json.dumps(OK).encode(), AUTH, "/v1/notifications"),
    ("alias v2", json.dumps(OK).encode(), AUTH, "/v2/notifications"),
    ("alias messages", json.dumps(OK).encode(), AUTH, "/v1/notifications/messages"),
    ("no token", json.dumps(OK).encode(), {}, "/v1/notifications"),
    ("bad token", json.dumps(OK).encode(), {"Api-Token": "nope"}, "/v1/notifications"),
    ("not json", b"{nope", AUTH, "/v1/notifications"),
    ("NaN", b'{"mode": NaN}', AUTH, "/v1/notifications"),
    ("array", b"[1]", AUTH, "/v1/notifications"),
    ("empty", b"", AUTH, "/v1/notifications"),
    ("missing variable", json.dumps({**OK, "template": {"key": "welcome", "variables": {}}}).encode(), AUTH,
     "/v1/notifications"),
    ("unknown template", json.dumps({**OK, "template": {"key": "nope"}}).encode(), AUTH, "/v1/notifications"),
    ("two realtime targets", json.dumps({**OK, "targets": ["u1", "u2"]}).encode(), AUTH, "/v1/notifications"),
    ("number as target", json.dumps({**OK, "targets": [5]}).encode(), AUTH, "/v1/notifications"),
    ("trace id", json.dumps(OK).encode(), {**AUTH, "X-Trace-Id": "t-1"}, "/v1/notifications"),
]


@pytest.mark.parametrize(("name", "raw", "headers", "path"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_and_flask_view_answer_alike(name: str, raw: bytes, headers: dict, path: str):
    fast, slow = twin(), twin()
    got_fast = call(fast, path, raw, headers, False)
    got_slow = call(slow, path, raw, headers, True)
    assert got_fast == got_slow
    assert got_fast[1]["content-type"] == "application/json"


def test_rate_limited_answers_and_their_headers_match():
    limits = {"send": {"limit": 2, "window_seconds": 60}}
    fast, slow = twin(limits), twin(limits)
    raw = json.dumps(OK).encode()
    answers = [(call(fast, "/v1/notifications", raw, AUTH, False), call(slow, "/v1/notifications", raw, AUTH, True))
               for _ in range(3)]
    for got_fast, got_slow in answers:
        assert got_fast == got_slow
        assert "x-ratelimit-limit" in got_fast[1]
    assert [a[0][0] for a in answers] == [200, 200, 429]
    assert answers[2][0][2]["code"] == 500910


def test_other_methods_and_paths_still_go_to_flask():
    app = twin()
    client = app.test_client()
    assert client.get("/v1/notifications", headers=AUTH).status_code == 405
    assert client.post("/v1/notifications/other", json=OK, headers=AUTH).status_code == 405  # GET-only route
    assert client.post("/v1/nothing", json=OK, headers=AUTH).status_code == 404


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["template", "mode", "targets", "key", "variables", "tags", "label"]), inner,
                        max_size=4), max_leaves=8))
def test_any_json_body_gets_the_same_answer_both_ways(body: Any):
    raw = json.dumps(body).encode()
    assert call(twin(), "/v1/notifications", raw, AUTH, False) == call(twin(), "/v1/notifications", raw, AUTH, True)
