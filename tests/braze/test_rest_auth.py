"""REST auth, permissions, rate-limit headers and limits, and unknown URLs (docs/braze-fake.md, "REST API")."""

from __future__ import annotations

import pytest

from mocks.braze.rest.auth import PERMISSIONS

from .braze_fixtures import API_KEY, BrazeEnv, recipients

# (method, path, permission, body or query) for every endpoint in the doc's table
ENDPOINTS = [
    ("POST", "/users/track", "users.track", {"attributes": [{"external_id": "u1", "first_name": "A"}]}),
    ("POST", "/users/export/ids", "users.export.ids", {"external_ids": ["u1"]}),
    ("POST", "/users/delete", "users.delete", {"external_ids": ["nobody"]}),
    ("POST", "/campaigns/trigger/send", "campaigns.trigger.send", {"campaign_id": "x", "broadcast": True}),
    ("POST", "/canvas/trigger/send", "canvas.trigger.send", {"canvas_id": "x", "broadcast": True}),
    ("POST", "/messages/send", "messages.send", {"external_user_ids": ["u1"],
                                                 "messages": {"webhook": {"url": "http://bridge.local/x"}}}),
    ("POST", "/sends/id/create", "sends.id.create", {"campaign_id": "x"}),
    ("GET", "/campaigns/list", "campaigns.list", {}),
    ("GET", "/campaigns/details", "campaigns.details", {"campaign_id": "x"}),
    ("GET", "/canvas/list", "canvas.list", {}),
    ("GET", "/canvas/details", "canvas.details", {"canvas_id": "x"}),
    ("GET", "/events/list", "events.list", {}),
    ("GET", "/events/data_series", "events.data_series", {"event": "e", "length": 3}),
    ("GET", "/segments/list", "segments.list", {}),
]
IDS = [e[1] for e in ENDPOINTS]


def call(braze: BrazeEnv, method: str, path: str, payload: dict, headers: dict[str, str]):
    if method == "GET":
        return braze.client.get(path, query_string=payload, headers=headers)
    return braze.client.post(path, json=payload, headers=headers)


def add_key(braze: BrazeEnv, key: str, permissions: list[str]) -> None:
    response = braze.client.post("/_admin/api_keys", json={"key": key, "permissions": permissions})
    assert response.status_code == 201, response.get_json()


# -- 401 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("headers", "sent"), [
    ({}, ""),
    ({"Authorization": f'Bearer "{API_KEY}"'}, f'"{API_KEY}"'),
    ({"Authorization": f"Bearer '{API_KEY}'"}, f"'{API_KEY}'"),
    ({"Authorization": "Bearer not-a-key"}, "not-a-key"),
    ({"Authorization": API_KEY}, API_KEY),
    ({"Authorization": f"Basic {API_KEY}"}, f"Basic {API_KEY}"),
], ids=["missing", "double-quoted", "single-quoted", "unknown", "no-scheme", "basic"])
@pytest.mark.parametrize(("method", "path", "permission", "payload"), [*ENDPOINTS[:4], ENDPOINTS[7]],
                         ids=[*IDS[:4], IDS[7]])
def test_bad_keys_get_401_invalid_api_key(braze, headers, sent, method, path, permission, payload):
    """Recorded: `{"message":"Invalid API key: non-existent"}` for `Bearer non-existent`
    (braze_ruby spec/fixtures/responses/*/unauthorized/*.yml). This test used to expect "Invalid API Key"."""
    response = call(braze, method, path, payload, headers)
    assert response.status_code == 401
    assert response.get_json() == {"message": f"Invalid API key: {sent}"}


def test_a_401_changes_nothing(braze):
    response = braze.track({"attributes": [{"external_id": "u1", "first_name": "A"}]}, )
    assert response.status_code == 201
    response = braze.post("/users/track", {"attributes": [{"external_id": "u2", "first_name": "B"}]}, key="nope")
    assert response.status_code == 401
    assert braze.profile("u2") is None


# -- 403 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "permission", "payload"), ENDPOINTS, ids=IDS)
def test_a_key_without_the_permission_gets_403_access_denied(braze, method, path, permission, payload):
    add_key(braze, "narrow", [p for p in PERMISSIONS if p != permission])
    response = call(braze, method, path, payload, {"Authorization": "Bearer narrow"})
    assert response.status_code == 403
    assert response.get_json() == {"message": "Access Denied"}


@pytest.mark.parametrize(("method", "path", "permission", "payload"), ENDPOINTS, ids=IDS)
def test_a_key_with_only_the_permission_passes_auth(braze, method, path, permission, payload):
    braze.users("u1")
    add_key(braze, "only", [permission])
    response = call(braze, method, path, payload, {"Authorization": "Bearer only"})
    assert response.status_code not in (401, 403), response.get_json()


def test_a_key_with_no_permissions_is_denied_not_unknown(braze):
    add_key(braze, "empty", [])
    response = braze.get("/segments/list", key="empty")
    assert (response.status_code, response.get_json()) == (403, {"message": "Access Denied"})


@pytest.mark.parametrize("body", [
    {"key": "k", "permissions": ["users.trak"]},
    {"key": '"quoted"', "permissions": []},
    {"key": "", "permissions": []},
    {"key": "k"},
    {"permissions": []},
])
def test_admin_refuses_bad_key_definitions(braze, body):
    response = braze.client.post("/_admin/api_keys", json=body)
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_admin_lists_keys_with_their_permissions(braze):
    add_key(braze, "reader", ["segments.list", "events.list"])
    keys = {k["key"]: k["permissions"] for k in braze.client.get("/_admin/secrets").get_json()["api_keys"]}
    assert keys["reader"] == ["events.list", "segments.list"]
    assert set(keys[API_KEY]) == set(PERMISSIONS)
    listed = braze.client.get("/_admin/api_keys").get_json()["api_keys"]  # the listing masks the keys
    assert [k["key"] for k in listed] == ["…" + API_KEY[-4:], "…"] and listed[1]["permissions"] == keys["reader"]


# -- rate-limit headers ----------------------------------------------------------------------------
def _limit_headers_ok(response, limit: int, window: float, now_ts: float) -> None:
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    remaining = int(response.headers["X-RateLimit-Remaining"])
    assert 0 <= remaining <= limit
    reset = int(response.headers["X-RateLimit-Reset"])
    assert now_ts < reset <= now_ts + window


@pytest.mark.parametrize(("method", "path", "permission", "payload"), ENDPOINTS, ids=IDS)
def test_every_endpoint_answers_with_rate_limit_headers(braze, method, path, permission, payload):
    response = call(braze, method, path, payload, {"Authorization": f"Bearer {API_KEY}"})
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert name in response.headers, (response.status_code, dict(response.headers))


def test_rate_limit_headers_follow_the_default_table(braze):
    now = braze.now().timestamp()
    track = braze.track({"attributes": [{"external_id": "u1"}]})
    _limit_headers_ok(track, 3000, 3, now)
    assert track.headers["X-RateLimit-Remaining"] == "2999"
    rest = braze.get("/segments/list")
    _limit_headers_ok(rest, 250_000, 3600, now)
    send = braze.post("/campaigns/trigger/send", {"campaign_id": "x", "recipients": recipients("u1")})
    _limit_headers_ok(send, 250_000, 3600, now)
    sends = braze.post("/sends/id/create", {"campaign_id": "x"})
    _limit_headers_ok(sends, 100, 86_400, now)


def test_401_and_403_answers_carry_rate_limit_headers_too(braze):
    add_key(braze, "empty", [])
    for key in ("nope", "empty"):
        response = braze.get("/segments/list", key=key)
        assert response.status_code in (401, 403)
        assert "X-RateLimit-Remaining" in response.headers


def test_default_rate_limits_are_published(braze):
    """`_docs/_api/api_limits.md`; the old table had a "messaging" bucket apart from "rest", which the
    recordings contradict (one 250,000/hour counter across both)."""
    limits = braze.client.get("/_admin/rate_limits").get_json()
    assert limits == {
        "users.track": {"limit": 3000, "window_seconds": 3.0},
        "users.track.sync": {"limit": 500, "window_seconds": 60.0},
        "users.export.ids": {"limit": 250, "window_seconds": 60.0},
        "users.identity": {"limit": 20000, "window_seconds": 60.0},
        "users.external_ids.rename": {"limit": 1000, "window_seconds": 60.0},
        "users.external_ids.remove": {"limit": 1000, "window_seconds": 60.0},
        "events.list": {"limit": 1000, "window_seconds": 3600.0},
        "campaigns.data_series": {"limit": 50000, "window_seconds": 60.0},
        "sends.id.create": {"limit": 100, "window_seconds": 86400.0},
        "subscription.status.set": {"limit": 5000, "window_seconds": 60.0},
        "broadcast": {"limit": 250, "window_seconds": 60.0},
        "broadcast.audience": {"limit": 10, "window_seconds": 60.0},
        "rest": {"limit": 250000, "window_seconds": 3600.0},
    }


def _set_limit(braze: BrazeEnv, key: str, limit: int, window: float) -> None:
    table = braze.client.get("/_admin/rate_limits").get_json()
    table[key] = {"limit": limit, "window_seconds": window}
    response = braze.client.put("/_admin/rate_limits", json=table)
    assert response.status_code == 200
    assert response.get_json()[key] == {"limit": limit, "window_seconds": float(window)}


# -- 429 and recovery ----------------------------------------------------------------------------------
def test_small_limit_gives_429_then_recovers_after_the_window(braze):
    _set_limit(braze, "users.track", 2, 60)
    body = {"attributes": [{"external_id": "u1", "first_name": "A"}]}
    first, second, third = (braze.track(body) for _ in range(3))
    assert [first.status_code, second.status_code] == [201, 201]
    assert [first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]] == ["1", "0"]
    assert third.status_code == 429
    assert third.get_json() == {"message": "API Rate Limit Exceeded"}
    assert third.headers["X-RateLimit-Remaining"] == "0"
    reset = int(third.headers["X-RateLimit-Reset"])
    assert reset == int(braze.now().timestamp()) + 60
    braze.rt.clock.advance(59)
    assert braze.track(body).status_code == 429
    braze.rt.clock.advance(1)
    recovered = braze.track(body)
    assert recovered.status_code == 201
    assert recovered.headers["X-RateLimit-Remaining"] == "1"


def test_a_429_on_track_records_nothing(braze):
    _set_limit(braze, "users.track", 1, 60)
    braze.users("u1")
    response = braze.track({"events": [{"external_id": "u1", "name": "e", "time": "2025-12-31T00:00:00Z"}]})
    assert response.status_code == 429
    assert braze.profile("u1")["custom_events"] == []


def test_limits_are_per_key_group(braze):
    _set_limit(braze, "users.track", 1, 60)
    assert braze.track({"attributes": [{"external_id": "u1"}]}).status_code == 201
    assert braze.track({"attributes": [{"external_id": "u1"}]}).status_code == 429
    assert braze.get("/segments/list").status_code == 200  # the "rest" group is untouched


def test_the_send_endpoints_share_the_one_hour_bucket_with_the_rest(braze):
    """The send endpoints and the endpoints without a limit of their own count in one 250,000/hour bucket
    (recorded: braze_ruby fixtures show one X-RateLimit-Remaining falling across /campaigns/trigger/send,
    /canvas/details, /messages/send, /segments/list ...). The old test had a "messaging" bucket of their own."""
    _set_limit(braze, "rest", 3, 3600)
    body = {"recipients": recipients("u1")}
    assert braze.post("/campaigns/trigger/send", {"campaign_id": "x", **body}).status_code == 400
    assert braze.post("/canvas/trigger/send", {"canvas_id": "x", **body}).status_code == 400
    assert braze.get("/segments/list").status_code == 200
    fourth = braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": {"webhook": {"url": "http://a.local"}}})
    assert fourth.status_code == 429
    assert fourth.get_json() == {"message": "API Rate Limit Exceeded"}


def test_broadcast_has_an_extra_limit(braze):
    braze.users("u1")
    cid = braze.campaign(name="B", re_eligible_after_seconds=0)
    _set_limit(braze, "broadcast", 1, 60)
    assert braze.trigger_campaign(cid, broadcast=True).status_code == 201
    limited = braze.trigger_campaign(cid, broadcast=True)
    assert limited.status_code == 429
    assert limited.get_json() == {"message": "API Rate Limit Exceeded"}
    assert braze.trigger_campaign(cid, recipients=recipients("u1")).status_code == 201  # not a broadcast
    braze.rt.clock.advance(60)
    assert braze.trigger_campaign(cid, broadcast=True).status_code == 201


def test_a_broadcast_429_reports_the_exhausted_limit_in_its_headers(braze):
    """A 429 whose X-RateLimit-Remaining is not 0 tells a client it may send again at once."""
    braze.users("u1")
    cid = braze.campaign(name="B", re_eligible_after_seconds=0)
    _set_limit(braze, "broadcast", 1, 60)
    braze.trigger_campaign(cid, broadcast=True)
    limited = braze.trigger_campaign(cid, broadcast=True)
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0", dict(limited.headers)
    assert limited.headers["X-RateLimit-Limit"] == "1"


def test_admin_reset_restores_keys_limits_and_data(braze):
    add_key(braze, "extra", ["users.track"])
    _set_limit(braze, "users.track", 1, 60)
    braze.users("u1")
    braze.campaign(name="C")
    response = braze.client.post("/_admin/reset")
    assert response.status_code == 200
    assert [k["key"] for k in braze.client.get("/_admin/secrets").get_json()["api_keys"]] == [API_KEY]
    assert braze.client.get("/_admin/rate_limits").get_json()["users.track"] == {"limit": 3000, "window_seconds": 3.0}
    assert braze.client.get("/_admin/users").get_json()["total"] == 0
    assert braze.client.get("/_admin/campaigns").get_json()["campaigns"] == []
    assert braze.track({"attributes": [{"external_id": "u1"}]}).status_code == 201
    assert braze.track({"attributes": [{"external_id": "u1"}]}).status_code == 201


def test_changing_one_limit_keeps_headers_on_the_other_endpoints(braze):
    """PATCH /_admin/rate_limits with one key: every REST response must still carry X-RateLimit-*."""
    response = braze.client.patch("/_admin/rate_limits", json={"users.track": {"limit": 5, "window_seconds": 60}})
    assert response.status_code == 200
    other = braze.get("/segments/list")
    assert other.status_code == 200
    assert "X-RateLimit-Limit" in other.headers, dict(other.headers)


@pytest.mark.parametrize("body", [
    [1, 2],
    {"users.track": {"limit": "x", "window_seconds": 1}},
    {"users.track": {"limit": 1}},
    {"users.track": {"limit": 1, "window_seconds": 0}},
])
def test_bad_rate_limit_tables_are_refused(braze, body):
    response = braze.client.put("/_admin/rate_limits", json=body)
    assert response.status_code == 400


# -- unknown URLs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/users/trak", "/campaigns/trigger", "/nothing/here"])
def test_unknown_url_is_404(braze, path):
    response = braze.post(path, {})
    assert response.status_code == 404
    assert response.get_json() == {"message": "Not Found"}


def test_wrong_method_is_not_a_success(braze):
    response = braze.get("/users/track")
    assert response.status_code == 405
    assert "message" in response.get_json()


def test_invalid_json_is_400(braze):
    response = braze.post("/users/track", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {"message": "Invalid JSON in request body"}
