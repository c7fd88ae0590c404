"""Field limits inside a body are the products' own validation (docs/sendbird-fake.md and docs/bridge.md,
"Limits"): an absurd template variable, label or tag list is refused with 400110/400111 and stored nowhere;
what the bridge accepts it can always send, even a batch whose variables add up to more than one send holds."""

from __future__ import annotations

import json

import pytest

from bridge.models import MAX_VARIABLES
from bridge.service import SEND_BODY_BUDGET
from mocks.sendbird.models import MAX_TARGET_VARIABLES, MAX_UI_TEMPLATE
from tests.bridge.conftest import Stack, webhook_body
from tests.security import limits_apps
from tests.security.limits_apps import (
    BRAZE_AUTH,
    BRIDGE_AUTH,
    JSON,
    SENDBIRD_AUTH,
    assert_sendbird_error,
    call,
    stored,
)

TEMPLATE = {"key": "promo", "name": "Promo", "ui_template": {"body": {"items": [{"type": "text", "text": "{name}"}]}}}


def sendbird_with_template():
    app = limits_apps.sendbird()
    created = call(app, "POST", "/v1/templates", json.dumps(TEMPLATE).encode(), {**SENDBIRD_AUTH, **JSON})
    assert created.status == 200, created
    return app


def send(app, variables, **fields):
    body = {"template": {"key": "promo", "variables": {"u1": variables}}, "mode": "realtime", "targets": ["u1"],
            **fields}
    return call(app, "POST", "/v1/notifications", json.dumps(body).encode(), {**SENDBIRD_AUTH, **JSON})


def test_sendbird_refuses_a_targets_variables_over_32_kb_and_stores_no_message():
    app = sendbird_with_template()
    before = stored(app)
    reply = send(app, {"name": "x" * MAX_TARGET_VARIABLES})
    assert_sendbird_error(reply, 400, 400110, "template.variables.u1", str(MAX_TARGET_VARIABLES))
    assert stored(app) == before
    feed = call(app, "GET", "/v3/group_channels/notifications_feed/messages?user_id=u1", headers=SENDBIRD_AUTH)
    assert feed.status == 400  # Sendbird never met u1: nothing was delivered


def test_sendbird_takes_variables_just_within_the_limit():
    app = sendbird_with_template()
    name = "x" * (MAX_TARGET_VARIABLES - len('{"name":""}'))
    assert send(app, {"name": name}).status == 200


@pytest.mark.parametrize(("fields", "code", "word"), [
    ({"label": "l" * 191}, 400110, "label"),
    ({"tags": ["t" * 101]}, 400110, "tags[0]"),
    ({"tags": ["t"] * 101}, 400111, "tags"),
])
def test_sendbird_refuses_an_absurd_label_or_tag_list(fields, code, word):
    app = sendbird_with_template()
    assert_sendbird_error(send(app, {"name": "Ada"}, **fields), 400, code, word)


def test_sendbird_refuses_a_ui_template_over_256_kb():
    app = limits_apps.sendbird()
    before = stored(app)
    huge = {**TEMPLATE, "ui_template": {"body": {"text": "x" * MAX_UI_TEMPLATE}}}
    reply = call(app, "POST", "/v1/templates", json.dumps(huge).encode(), {**SENDBIRD_AUTH, **JSON})
    assert_sendbird_error(reply, 400, 400110, "ui_template")
    assert stored(app) == before


@pytest.mark.parametrize(("fields", "code", "word"), [
    ({"variables": {"name": "x" * MAX_VARIABLES}}, 400110, "variables"),
    ({"label": "l" * 191}, 400110, "label"),
    ({"tags": ["t"] * 101}, 400111, "tags"),
    ({"campaign_id": "c" * 256}, 400110, "campaign_id"),
])
def test_the_bridge_refuses_absurd_fields_at_intake_and_commits_nothing(fields, code, word):
    app = limits_apps.bridge()
    before = stored(app)
    body = {"template_key": "promo", "receiver": "u1", "event_name": "sb", "message_id": "m1", **fields}
    reply = call(app, "POST", "/braze/notifications/realtime", json.dumps(body).encode(), {**BRIDGE_AUTH, **JSON})
    assert_sendbird_error(reply, 400, code, word)
    assert stored(app) == before


def test_braze_refuses_a_nested_custom_attribute_over_100_kb():
    app = limits_apps.braze()
    body = {"attributes": [{"external_id": "u1", "profile": {"bio": ["x" * 250] * 500}}]}
    reply = call(app, "POST", "/users/track", json.dumps(body).encode(), {**BRAZE_AUTH, **JSON})
    assert reply.status == 400 and "100 KB" in json.dumps(reply.body)


def test_a_batch_over_one_sends_budget_leaves_in_several_sends_and_every_message_arrives():
    stack = Stack(batch_linger_ms=1000)
    per_user = MAX_VARIABLES - 100
    count = SEND_BODY_BUDGET // per_user + 20  # more than one send can carry
    for i in range(count):
        body = webhook_body(f"m{i}", f"u{i}", template_key="promo", variables={"name": "x" * per_user})
        assert stack.post("batch", body).status_code == 200
    stack.run()
    sends = stack.journal("send.accepted", service="sendbird")
    assert len(sends) >= 2 and sum(s["targets_count"] for s in sends) == count
    assert all(s["targets_count"] * per_user <= SEND_BODY_BUDGET for s in sends)
    assert stack.journal("sendbird.dead") == []
