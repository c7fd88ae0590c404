"""Admin-configured rate limits: 429 with code 500910 and X-RateLimit-* headers on the simulated clock."""

from __future__ import annotations

import math

import pytest

from .conftest import assert_error


def test_send_rate_limit(api, template):
    resp = api.client.put("/_admin/rate_limits", json={"send": {"limit": 2, "window_seconds": 1}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    got = api.client.get("/_admin/rate_limits").get_json()
    assert got["send"]["limit"] == 2
    assert got["send"]["window_seconds"] == 1
    assert api.send(["u1"]).status_code == 200
    assert api.send(["u2"]).status_code == 200
    limited = api.send(["u3"])
    assert_error(limited, 429, 500910)
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    reset = int(limited.headers["X-RateLimit-Reset"])
    now = api.runtime.clock.now().timestamp()
    assert now <= reset <= math.ceil(now) + 1  # epoch seconds, the end of the window
    api.settle()
    assert {r["user_id"] for r in api.records("message.delivered")} == {"u1", "u2"}
    api.runtime.clock.advance(1)
    assert api.send(["u3"]).status_code == 200


def test_other_endpoints_are_not_limited_by_send(api, template):
    api.client.put("/_admin/rate_limits", json={"send": {"limit": 1, "window_seconds": 1}})
    assert api.send(["u1"]).status_code == 200
    assert api.send(["u1"]).status_code == 429
    assert api.get("/v1/templates").status_code == 200
    assert api.get("/v3/users/u1/unread_message_count").status_code == 200


def test_every_send_path_shares_the_send_limit(api, template):
    api.client.put("/_admin/rate_limits", json={"send": {"limit": 2, "window_seconds": 1}})
    assert api.send(["u1"], path="/v1/notifications").status_code == 200
    assert api.send(["u1"], path="/v1/notifications/messages").status_code == 200
    assert_error(api.send(["u1"], path="/v2/notifications"), 429, 500910)


def test_an_empty_config_turns_limits_off(api, template):
    api.client.put("/_admin/rate_limits", json={"send": {"limit": 1, "window_seconds": 60}})
    assert api.send(["u1"]).status_code == 200
    assert api.send(["u1"]).status_code == 429
    resp = api.client.put("/_admin/rate_limits", json={})
    assert resp.status_code == 200
    for _ in range(10):
        assert api.send(["u1"]).status_code == 200


def test_templates_rate_limit(api):
    api.client.put("/_admin/rate_limits", json={"templates": {"limit": 1, "window_seconds": 1}})
    assert api.get("/v1/templates").status_code == 200
    resp = api.get("/v1/templates")
    assert_error(resp, 429, 500910)
    assert "X-RateLimit-Reset" in resp.headers


def _request(api, key: str):
    if key == "send":
        return api.send(["u1"])
    if key == "templates":
        return api.get("/v1/templates")
    if key == "storage":
        return api.post("/v1/storage/targets_files/f1/presigned_urls", {"overwrite_duplicate_key": True})
    if key == "notification_log":
        return api.get("/v1/notifications/unknown")
    if key == "messages":
        return api.messages_resp("u0")
    if key == "unread":
        return api.get("/v3/users/u0/unread_message_count")
    if key == "mark_as_read":
        return api.mark_as_read("u0")
    if key == "stats":
        return api.stats("u0", "impression", [1])
    raise AssertionError(key)


@pytest.mark.parametrize("key", ["send", "templates", "storage", "notification_log", "messages", "unread",
                                 "mark_as_read", "stats"])
def test_every_documented_limit_key(api, template, key):
    api.send_ok(["u0"])
    resp = api.client.put("/_admin/rate_limits", json={key: {"limit": 1, "window_seconds": 10}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    first = _request(api, key)
    assert first.status_code != 429
    limited = _request(api, key)
    assert_error(limited, 429, 500910)
    assert limited.headers["X-RateLimit-Limit"] == "1"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > api.runtime.clock.now().timestamp()
    api.runtime.clock.advance(10)
    assert _request(api, key).status_code != 429
