"""Product endpoints take a body as JSON only when it is sent as `application/json` (docs/security.md,
"Limits"): a `text/plain`, form or untyped body, which a browser may send cross-site without a preflight, is
refused in the product's format and changes nothing; `application/json` with parameters is taken."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strict_json import is_json_media_type
from tests.security import limits_apps
from tests.security.limits_apps import (
    BRAZE_AUTH,
    BRIDGE_AUTH,
    SENDBIRD_AUTH,
    assert_braze_error,
    assert_sendbird_error,
    call,
    stored,
)

NOT_JSON = {"text/plain": "text/plain", "form": "application/x-www-form-urlencoded",
            "multipart": "multipart/form-data; boundary=x", "missing": None, "json lookalike": "text/json"}
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=utf8",
              "Application/JSON ;charset=UTF-8"]

TRACK = {"attributes": [{"external_id": "u1", "first_name": "Ada"}]}
SEND = {"template": {"key": "promo", "variables": {"u1": {"name": "Ada"}}}, "mode": "realtime", "targets": ["u1"]}
WEBHOOK = {"template_key": "promo", "receiver": "u1", "event_name": "sb", "message_id": "m1"}
TEMPLATE = {"key": "promo", "name": "Promo", "ui_template": {"body": {"items": [{"type": "text", "text": "{name}"}]}}}

BRAZE_ROUTES = [("/users/track", TRACK), ("/users/export/ids", {"external_ids": ["u1"]}),
                ("/users/delete", {"external_ids": ["u1"]}), ("/campaigns/trigger/send", {"campaign_id": "c"}),
                ("/canvas/trigger/send", {"canvas_id": "c"}), ("/messages/send", {"broadcast": True}),
                ("/sends/id/create", {"campaign_id": "c"})]
SENDBIRD_ROUTES = [("POST", "/v1/notifications", SEND), ("POST", "/v2/notifications", SEND),
                   ("POST", "/v1/templates", TEMPLATE), ("PUT", "/v1/templates/promo", {"name": "New"}),
                   ("POST", "/v1/storage/targets_files/f.csv/presigned_urls", {"overwrite_duplicate_key": True}),
                   ("PUT", "/v3/group_channels/notifications_feed/messages/mark_as_read", {"user_id": "u1"}),
                   ("POST", "/v3/users", {"user_id": "u9"}), ("PUT", "/v3/users/u1", {"nickname": "N"})]


def headers(auth: dict[str, str], content_type: str | None) -> dict[str, str]:
    return {**auth, **({"Content-Type": content_type} if content_type else {})}


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize(("path", "body"), BRAZE_ROUTES, ids=[p for p, _ in BRAZE_ROUTES])
def test_braze_refuses_a_body_not_sent_as_json(path, body, content_type):
    app = limits_apps.braze()
    before = stored(app)
    reply = call(app, "POST", path, json.dumps(body).encode(), headers(BRAZE_AUTH, content_type))
    assert_braze_error(reply, 400, "Content-Type must be application/json")
    assert stored(app) == before


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize(("method", "path", "body"), SENDBIRD_ROUTES, ids=[p for _, p, _ in SENDBIRD_ROUTES])
def test_sendbird_refuses_a_body_not_sent_as_json(method, path, body, content_type):
    app = limits_apps.sendbird()
    before = stored(app)
    reply = call(app, method, path, json.dumps(body).encode(), headers(SENDBIRD_AUTH, content_type))
    assert_sendbird_error(reply, 400, 400403, "Content-Type")
    assert stored(app) == before


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_the_bridge_refuses_a_webhook_not_sent_as_json(mode, content_type):
    app = limits_apps.bridge()
    before = stored(app)
    reply = call(app, "POST", f"/braze/notifications/{mode}", json.dumps(WEBHOOK).encode(),
                 headers(BRIDGE_AUTH, content_type))
    assert_sendbird_error(reply, 400, 400403, "Content-Type")
    assert stored(app) == before


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_the_bridge_refuses_a_signed_sendbird_webhook_not_sent_as_json(content_type):
    from tests.bridge.conftest import sign

    raw = json.dumps({"category": "group_channel:message_read", "user_id": "u1", "read_at": 1}).encode()
    reply = call(limits_apps.bridge(), "POST", "/sendbird/webhooks", raw,
                 headers({"x-sendbird-signature": sign(raw)}, content_type))
    assert_sendbird_error(reply, 400, 400403, "Content-Type")


@pytest.mark.parametrize("content_type", JSON_TYPES)
def test_json_with_parameters_is_taken_by_every_service(content_type):
    braze = limits_apps.braze()
    assert call(braze, "POST", "/users/track", json.dumps(TRACK).encode(),
                headers(BRAZE_AUTH, content_type)).status == 201
    sendbird = limits_apps.sendbird()
    assert call(sendbird, "POST", "/v1/templates", json.dumps(TEMPLATE).encode(),
                headers(SENDBIRD_AUTH, content_type)).status == 200
    assert call(sendbird, "POST", "/v1/notifications", json.dumps(SEND).encode(),
                headers(SENDBIRD_AUTH, content_type)).status == 200
    assert call(limits_apps.bridge(), "POST", "/braze/notifications/realtime", json.dumps(WEBHOOK).encode(),
                headers(BRIDGE_AUTH, content_type)).status == 200


def test_an_empty_body_needs_no_content_type():
    sendbird = limits_apps.sendbird()
    call(sendbird, "POST", "/v1/templates", json.dumps(TEMPLATE).encode(), headers(SENDBIRD_AUTH, "application/json"))
    assert call(sendbird, "POST", "/v1/templates/promo/archive", b"", SENDBIRD_AUTH).status == 200
    assert call(sendbird, "POST", "/v1/storage/targets_files/f.csv/presigned_urls", b"", SENDBIRD_AUTH).status == 200


def test_the_upload_target_takes_its_multipart_form():
    sendbird = limits_apps.sendbird()
    client = sendbird.test_client()
    presigned = client.post("/v1/storage/targets_files/f.csv/presigned_urls", json={}, headers=SENDBIRD_AUTH)
    assert presigned.status_code == 200, presigned.get_json()
    fields = presigned.get_json()["fields"]
    import io

    reply = client.post("/_storage/targets_files", data={**fields, "file": (io.BytesIO(b"u1\nu2\n"), "f.csv")},
                        content_type="multipart/form-data")
    assert reply.status_code == 201, reply.get_json()


def test_authentication_comes_before_the_content_type():
    reply = call(limits_apps.bridge(), "POST", "/braze/notifications/realtime", json.dumps(WEBHOOK).encode(),
                 {"Content-Type": "text/plain"})
    assert_sendbird_error(reply, 401, 400401)


@given(st.text(max_size=40))
def test_only_the_application_json_media_type_is_json(text):
    expected = text.partition(";")[0].strip().lower() == "application/json"
    assert is_json_media_type(text) is expected
    assert is_json_media_type(None) is False
