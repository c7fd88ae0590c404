"""Webhooks: signed deliveries on the scheduler, retries at 1 s and 5 s, the events filter, payloads."""

from __future__ import annotations

import json
from datetime import timedelta

from .conftest import APP_ID, FEED, HOOK_HOST, HOOK_URL, HookReceiver, make_app, sign


def attempts(api) -> list[dict]:
    return api.records("webhook.attempt")


def test_webhook_config_roundtrip(api):
    assert api.client.get("/_admin/webhooks").status_code == 200
    resp = api.client.put("/_admin/webhooks", json={"url": HOOK_URL, "events": ["group_channel:message_read"]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    got = api.client.get("/_admin/webhooks").get_json()
    assert got["url"] == HOOK_URL
    assert got["events"] == ["group_channel:message_read"]


def test_nothing_is_delivered_before_the_scheduler_runs(api, hooks, template):
    api.send(["u1"])
    assert hooks.calls == []
    api.settle()
    assert hooks.calls


def test_send_realtime_webhook_is_signed(api, hooks, template):
    api.send_ok(["u1"])
    calls = hooks.of("notification:send_realtime")
    assert len(calls) == 1
    call = calls[0]
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["user-agent"] == "SendBird"
    assert headers["content-type"].startswith("application/json")
    assert headers["x-sendbird-signature"] == sign(call["raw"])
    assert json.loads(call["raw"]) == call["json"]
    payload = call["json"]
    assert payload["category"] == "notification:send_realtime"
    assert payload["app_id"] == APP_ID
    assert hooks.of("notification:send_batch") == []


def test_send_batch_webhook(api, hooks, template):
    api.send_ok(["a", "b", "c"], mode="batch")
    calls = hooks.of("notification:send_batch")
    assert len(calls) == 1
    payload = calls[0]["json"]
    assert payload["category"] == "notification:send_batch"
    assert payload["app_id"] == APP_ID
    assert calls[0]["headers"]["X-Sendbird-Signature"] == sign(calls[0]["raw"])
    assert hooks.of("notification:send_realtime") == []


def test_template_webhooks(api, hooks):
    api.create_template("t1")
    api.put("/v1/templates/t1", {"name": "x"})
    api.post("/v1/templates/t1/archive")
    api.post("/v1/templates/t1/unarchive")
    api.settle()
    assert hooks.categories == ["notification:template_create", "notification:template_edit",
                                "notification:template_archive", "notification:template_unarchive"]
    assert all(c["json"]["app_id"] == APP_ID for c in hooks.calls)


def test_message_read_webhook_payload(api, hooks, template):
    """Sendbird's chat webhook shape (Chat Platform API v3, webhook events: group channel): the reader and their
    read receipt, never the messages."""
    api.send_ok(["u1"], variables={"u1": {"name": "Ada"}}, tags=["spring"])
    api.runtime.clock.advance(3)
    read_ms = api.now_ms()
    api.mark_as_read("u1")
    api.settle()
    calls = hooks.of("group_channel:message_read")
    assert len(calls) == 1
    call = calls[0]
    assert call["headers"]["User-Agent"] == "SendBird"
    assert call["headers"]["X-Sendbird-Signature"] == sign(call["raw"])
    payload = call["json"]
    assert list(payload) == ["category", "members", "channel", "read_updates", "app_id"]
    assert payload["category"] == "group_channel:message_read"
    assert payload["app_id"] == APP_ID
    assert payload["read_updates"] == [{"user_id": "u1", "read_ts": read_ms, "channel_unread_message_count": 0,
                                        "total_unread_message_count": 0}]
    assert payload["channel"] == {"name": FEED, "channel_url": FEED, "custom_type": "", "is_distinct": False,
                                  "is_public": False, "is_super": False, "is_ephemeral": False,
                                  "is_discoverable": False, "data": ""}
    [member] = payload["members"]
    assert member["user_id"] == "u1" and member["state"] == "joined"
    assert member["channel_unread_message_count"] == 0 and member["unread_message_count"] == 0


def test_marking_twice_sends_one_read_webhook(api, hooks, template):
    api.send_ok(["u1"])
    mid = api.messages("u1")[0]["message_id"]
    api.mark_as_read("u1", message_ids=[mid])
    api.settle()
    api.mark_as_read("u1", message_ids=[mid])
    api.mark_as_read("u1")
    api.settle()
    assert len(hooks.of("group_channel:message_read")) == 1


def _receipts(hooks) -> list[tuple[int, int]]:
    return [(u["read_ts"], u["channel_unread_message_count"])
            for c in hooks.of("group_channel:message_read") for u in c["json"]["read_updates"]]


def test_a_read_receipt_never_covers_an_unread_message(api, hooks, template):
    """Reading chosen messages moves the receipt only up to just before the oldest one still unread; reading the
    newest first moves it not at all, and reading the rest then moves it to the read's time."""
    sent = []
    for _ in range(3):
        api.send_ok(["u1"])
        sent.append(api.messages("u1")[-1])
        api.runtime.clock.advance(1)
    oldest, middle, newest = sent
    assert api.mark_as_read("u1", message_ids=[newest["notification_id"]]).status_code == 200
    api.settle()
    assert _receipts(hooks) == []  # the oldest is unread: the receipt cannot move
    assert api.mark_as_read("u1", message_ids=[oldest["notification_id"]]).status_code == 200
    api.settle()
    assert _receipts(hooks) == [(middle["created_at"] - 1, 1)]
    api.runtime.clock.advance(5)
    api.mark_as_read("u1")
    api.settle()
    assert _receipts(hooks) == [(middle["created_at"] - 1, 1), (api.now_ms(), 0)]


def test_events_filter_is_honoured(api, runtime, template):
    receiver = HookReceiver(runtime)
    runtime.transport.register(HOOK_HOST, receiver.app)
    resp = api.client.put("/_admin/webhooks", json={"url": HOOK_URL, "events": ["group_channel:message_read"]})
    assert resp.status_code == 200
    api.send_ok(["u1"])
    api.send_ok(["a", "b"], mode="batch")
    api.create_template("t2")
    api.settle()
    assert receiver.calls == []
    api.mark_as_read("u1")
    api.settle()
    assert receiver.categories == ["group_channel:message_read"]


def test_webhook_url_from_create_app(runtime):
    receiver = HookReceiver(runtime)
    runtime.transport.register(HOOK_HOST, receiver.app)
    app = make_app(runtime, webhook_url=HOOK_URL)
    from .conftest import Api

    api = Api(app.test_client(), runtime)
    api.create_template("welcome")
    api.send_ok(["u1"])
    assert "notification:send_realtime" in receiver.categories
    assert "notification:template_create" in receiver.categories


def test_retries_after_1s_and_5s_until_success(api, runtime, template):
    receiver = HookReceiver(runtime, fail_first=2)
    runtime.transport.register(HOOK_HOST, receiver.app)
    api.client.put("/_admin/webhooks", json={"url": HOOK_URL, "events": ["notification:send_realtime"]})
    start = runtime.clock.now()
    api.send_ok(["u1"])
    assert len(receiver.calls) == 3
    times = [c["at"] for c in receiver.calls]
    assert times[0] == start
    assert times[1] - times[0] == timedelta(seconds=1)
    assert times[2] - times[1] == timedelta(seconds=5)
    assert all(c["raw"] == receiver.calls[0]["raw"] for c in receiver.calls)  # the same event each time
    records = attempts(api)
    assert [r["attempt"] for r in records] == [1, 2, 3]
    assert [r.get("status") for r in records] == [500, 500, 200]
    assert all(r["category"] == "notification:send_realtime" for r in records)
    assert all(r["url"] == HOOK_URL for r in records)
    assert all(r["service"] == "sendbird" for r in records)


def test_at_most_three_attempts(api, runtime, template):
    receiver = HookReceiver(runtime, fail_first=100, status=503)
    runtime.transport.register(HOOK_HOST, receiver.app)
    api.client.put("/_admin/webhooks", json={"url": HOOK_URL, "events": ["notification:send_realtime"]})
    start = runtime.clock.now()
    api.send_ok(["u1"])
    runtime.scheduler.run_for(120)
    assert len(receiver.calls) == 3
    assert [c["at"] - start for c in receiver.calls] == [timedelta(0), timedelta(seconds=1), timedelta(seconds=6)]
    assert [r["attempt"] for r in attempts(api)] == [1, 2, 3]


def test_a_4xx_answer_is_a_failure(api, runtime, template):
    receiver = HookReceiver(runtime, fail_first=1, status=404)
    runtime.transport.register(HOOK_HOST, receiver.app)
    api.client.put("/_admin/webhooks", json={"url": HOOK_URL, "events": ["notification:send_realtime"]})
    api.send_ok(["u1"])
    assert len(receiver.calls) == 2
    assert [r.get("status") for r in attempts(api)] == [404, 200]


def test_connection_errors_are_retried_and_recorded(api, runtime, template):
    api.client.put("/_admin/webhooks", json={"url": "http://nobody.local/hook",
                                             "events": ["notification:send_realtime"]})
    start = runtime.clock.now()
    resp = api.send(["u1"])
    assert resp.status_code == 200  # the send does not wait for the webhook
    api.settle()
    records = attempts(api)
    assert [r["attempt"] for r in records] == [1, 2, 3]
    assert all(r.get("error") for r in records)
    assert all(r["url"] == "http://nobody.local/hook" for r in records)
    assert runtime.clock.now() - start == timedelta(seconds=6)
    assert len(api.messages("u1")) == 1  # the delivery itself does not depend on the webhook


def test_signature_and_app_id_follow_the_configured_credentials(runtime):
    from .conftest import Api, assert_error

    receiver = HookReceiver(runtime)
    runtime.transport.register(HOOK_HOST, receiver.app)
    from mocks.sendbird import create_app

    app = create_app(runtime=runtime, app_id="APP-2", api_token="other-token", webhook_url=HOOK_URL)
    client = app.test_client()
    assert_error(client.get("/v1/templates", headers={"Api-Token": "local-sendbird-token"}), 401, 400401)
    api = Api(client, runtime)
    headers = {"Api-Token": "other-token"}
    assert client.post("/v1/templates", json=api.template_body("welcome"), headers=headers).status_code == 200
    assert api.send(["u1"], headers=headers).status_code == 200
    api.settle()
    assert len(receiver.calls) == 2
    for call in receiver.calls:
        assert call["headers"]["X-Sendbird-Signature"] == sign(call["raw"], "other-token")
        assert call["headers"]["X-Sendbird-Signature"] != sign(call["raw"])
        assert call["json"]["app_id"] == "APP-2"
