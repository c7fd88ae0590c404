"""Cross-cutting HTTP contract: token auth, the error body, non-JSON bodies, unknown URLs and methods."""

from __future__ import annotations

import pytest

from .conftest import AUTH, FEED, assert_error

PROTECTED = [
    ("POST", "/v1/templates", {"key": "k1", "name": "n", "ui_template": {}}),
    ("GET", "/v1/templates", None),
    ("GET", "/v1/templates/welcome", None),
    ("PUT", "/v1/templates/welcome", {"name": "renamed"}),
    ("POST", "/v1/templates/welcome/archive", None),
    ("POST", "/v1/templates/welcome/unarchive", None),
    ("POST", "/v1/notifications", {"template": {"key": "welcome"}, "mode": "realtime", "targets": ["u1"]}),
    ("POST", "/v1/notifications/messages", {"template": {"key": "welcome"}, "mode": "realtime", "targets": ["u1"]}),
    ("POST", "/v2/notifications", {"template": {"key": "welcome"}, "mode": "realtime", "targets": ["u1"]}),
    ("GET", "/v1/notifications/some-notification", None),
    ("POST", "/v1/storage/targets_files/file-1/presigned_urls", {"overwrite_duplicate_key": False}),
    ("GET", f"/v3/group_channels/{FEED}/messages?user_id=u1", None),
    ("GET", "/v3/users/u1/unread_message_count", None),
    ("PUT", f"/v3/group_channels/{FEED}/messages/mark_as_read", {"user_id": "u1"}),
    ("POST", "/v3/users", {"user_id": "u9"}),
    ("GET", "/v3/users/u1", None),
    ("PUT", "/v3/users/u1", {"nickname": "n"}),
    ("DELETE", "/v3/users/u1", None),
    ("POST", "/v3/users/u1/token", None),
    ("GET", f"/v3/group_channels/{FEED}", None),
    ("GET", "/v3/notifications/users/u1/unread_message_count", None),
    ("GET", "/v3/notifications/templates", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
@pytest.mark.parametrize("headers", [{}, {"Api-Token": "wrong-token"}, {"Api-Token": ""}],
                         ids=["missing", "wrong", "empty"])
def test_protected_routes_need_the_api_token(api, template, method, path, body, headers):
    resp = api.client.open(path, method=method, json=body, headers=headers)
    assert_error(resp, 401, 400401)


def test_a_bearer_token_is_not_the_api_token(api, template):
    resp = api.client.get("/v1/templates", headers={"Authorization": "Bearer local-sendbird-token"})
    assert_error(resp, 401, 400401)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/_admin/health"),
    ("GET", "/_admin/journal"),
    ("GET", "/_admin/webhooks"),
    ("GET", "/_admin/rate_limits"),
    ("POST", "/_admin/reset"),
])
def test_admin_routes_need_no_token(api, method, path):
    resp = api.client.open(path, method=method)
    assert resp.status_code == 200, resp.get_data(as_text=True)


JSON_ROUTES = [
    ("POST", "/v1/templates"),
    ("PUT", "/v1/templates/welcome"),
    ("POST", "/v1/notifications"),
    ("POST", "/v1/notifications/messages"),
    ("POST", "/v2/notifications"),
    ("PUT", f"/v3/group_channels/{FEED}/messages/mark_as_read"),
    ("POST", "/v3/users"),
    ("PUT", "/v3/users/u1"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES, ids=[f"{m} {p}" for m, p in JSON_ROUTES])
@pytest.mark.parametrize("raw", [b"not json", b"{\"a\": ", b"[1, 2]", b"[]", b"\"text\"", b"42", b"null"],
                         ids=["text", "truncated", "array", "empty-array", "string", "number", "null"])
def test_a_body_that_is_not_a_json_object_is_400403(api, template, method, path, raw):
    resp = api.client.open(path, method=method, data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert_error(resp, 400, 400403)


def test_an_empty_send_body_is_400403(api, template):
    resp = api.client.post("/v1/notifications", data=b"", headers={**AUTH, "Content-Type": "application/json"})
    assert_error(resp, 400, 400403)


@pytest.mark.parametrize("path", ["/nothing/here", "/v1/nothing", "/v3/nothing/at/all", "/v9/notifications"])
def test_an_unknown_url_is_404_with_the_sendbird_error_body(api, path):
    """400114 (the URL names no resource), never 400201: the SDK drops a channel it gets 400201 for."""
    resp = api.client.get(path, headers=AUTH)
    assert_error(resp, 404, 400114)


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/v1/notifications"),
    ("PATCH", "/v1/templates/welcome"),
    ("DELETE", "/v1/templates"),
    ("GET", "/v1/templates/welcome/archive"),
])
def test_a_wrong_method_on_a_known_url_is_405_with_code_400111(api, template, method, path):
    resp = api.client.open(path, method=method, headers=AUTH)
    assert_error(resp, 405, 400111)


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"template": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"template": {"key": "welcome"}, "mode": "realtime", "targets": ["u1"], "label": '
    + b'{"a": ' * 5_000 + b"1" + b"}" * 5_000 + b"}",
], ids=["deep-array", "deep-array-in-object", "deep-object-in-object"])
@pytest.mark.parametrize("path", ["/v1/notifications", "/v1/templates"])
def test_deeply_nested_json_is_a_client_error_not_a_crash(api, template, raw, path):
    resp = api.client.post(path, data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert_error(resp, 400, 400403)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_numbers_are_not_json(api, template, token):
    """RFC 8259 has no NaN/Infinity: such a body is not JSON (and would make the fake emit invalid JSON)."""
    raw = ('{"key": "t-nan", "name": "n", "ui_template": {"x": ' + token + "}}").encode()
    resp = api.client.post("/v1/templates", data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert_error(resp, 400, 400403)
    raw = ('{"template": {"key": "welcome", "variables": {"u1": {"name": ' + token + '}}}, "mode": "realtime", '
           '"targets": ["u1"]}').encode()
    resp = api.client.post("/v1/notifications", data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert_error(resp, 400, 400403)


def test_the_api_root_answers_json_for_the_sdk(api):
    """The SDK fetches `GET /` (no headers) before each WebSocket connect; a JSON answer, not a 404 page."""
    resp = api.client.get("/")
    assert resp.status_code == 200 and resp.get_json() == {"app_id": "LOCAL"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/v3/users/u1/notifications/stream"),
                                              ("POST", f"/v3/group_channels/{FEED}/notification_stats")])
def test_routes_sendbird_does_not_have_are_unknown_urls(client, method, path):
    """The fake once invented these (an event stream, a stats route); a client built against them would fail
    against Sendbird. They answer as any unknown URL does: 404 400114, never 400201 (the SDK drops the channel)."""
    response = client.open(path, method=method, headers={"Api-Token": "local-sendbird-token"},
                           json={} if method == "POST" else None)
    assert response.status_code == 404 and response.get_json()["code"] == 400114
