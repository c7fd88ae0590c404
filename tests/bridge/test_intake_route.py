"""The integration endpoints answered ahead of Flask (harness.fast_routes) must answer exactly as the Flask
views do, since both call `accept_webhook`: same status, body and headers, and the same rows committed.

Each case runs on twin bridges (same seed, in-memory outboxes): once through the fast path, once through
the Flask view (the request without a declared body length, which the fast path leaves to Flask)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.app import create_app
from harness.runtime import Runtime
from tests.fast_paths import call

from .conftest import API_TOKEN, BRAZE, SENDBIRD, webhook_body

AUTH = {"Api-Token": API_TOKEN}


def twin():
    return create_app(Runtime.simulation(seed=3), sendbird_url=SENDBIRD, braze_url=BRAZE, db=":memory:")


def rows(app) -> dict[str, Any]:
    outbox = app.extensions["bridge"].outbox
    return {"depth": outbox.depth(), "m1": outbox.webhook("m1")}


REALTIME, BATCH = "/braze/notifications/realtime", "/braze/notifications/batch"
CASES = [
    ("realtime", json.dumps(webhook_body("m1")).encode(), AUTH, REALTIME),
    ("batch", json.dumps(webhook_body("m1")).encode(), AUTH, BATCH),
    ("trace id", json.dumps(webhook_body("m1")).encode(), {**AUTH, "X-Trace-Id": "t-9"}, REALTIME),
    ("no token", json.dumps(webhook_body("m1")).encode(), {}, REALTIME),
    ("bad token", json.dumps(webhook_body("m1")).encode(), {"Api-Token": "nope"}, BATCH),
    ("not json", b"{nope", AUTH, REALTIME),
    ("Infinity", b'{"message_id": Infinity}', AUTH, REALTIME),
    ("array", b"[]", AUTH, REALTIME),
    ("empty", b"", AUTH, BATCH),
    ("no receiver", json.dumps({k: v for k, v in webhook_body("m1").items() if k != "receiver"}).encode(), AUTH,
     REALTIME),
    ("number as receiver", json.dumps(webhook_body("m1", receiver=5)).encode(), AUTH, REALTIME),
    ("empty optionals", json.dumps(webhook_body("m1", campaign_id="", label="")).encode(), AUTH, BATCH),
]


@pytest.mark.parametrize(("name", "raw", "headers", "path"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_and_flask_view_answer_and_commit_alike(name: str, raw: bytes, headers: dict, path: str):
    fast, slow = twin(), twin()
    assert call(fast, path, raw, headers, False) == call(slow, path, raw, headers, True)
    assert rows(fast) == rows(slow)


def test_a_repeated_message_id_gets_its_first_answer_both_ways():
    fast, slow = twin(), twin()
    first = json.dumps(webhook_body("m1")).encode()
    again = json.dumps(webhook_body("m1", receiver="someone-else")).encode()
    answers = [call(app, path, raw, AUTH, through)
               for app, through in ((fast, False), (slow, True))
               for raw, path in ((first, REALTIME), (again, BATCH))]
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert answers[1][2] == answers[0][2] == {"message_id": "m1", "status": "accepted", "mode": "realtime"}
    assert rows(fast) == rows(slow)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["template_key", "receiver", "user_id", "variables", "event_name",
                                        "message_id", "campaign_id", "canvas_id", "tags", "label"]),
                       st.none() | st.booleans() | st.integers() | st.text(max_size=4)
                       | st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.text(max_size=3),
                                                                                    st.text(max_size=3), max_size=2),
                       max_size=10))
def test_any_body_gets_the_same_answer_and_rows_both_ways(body: dict):
    raw = json.dumps(body).encode()
    fast, slow = twin(), twin()
    assert call(fast, REALTIME, raw, AUTH, False) == call(slow, REALTIME, raw, AUTH, True)
    assert rows(fast) == rows(slow)
