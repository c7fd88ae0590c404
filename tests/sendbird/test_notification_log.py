"""GET /v1/notifications/{id}: the notification log and its metrics."""

from __future__ import annotations

from .conftest import assert_error

LOG_FIELDS = {"notification_id", "template_key", "mode", "created_at", "sent_from", "targets_count", "label",
              "tags", "priority", "title", "metrics"}


def test_log_of_a_realtime_send(api, template):
    now = api.now_ms()
    body = api.send_ok(["u1"], push_template={"title": "Hello there", "body": "b"}, tags=["t1"])
    log = api.log(body["notification_id"])
    assert set(log) >= LOG_FIELDS
    assert log["notification_id"] == body["notification_id"]
    assert log["template_key"] == "welcome"
    assert log["mode"] == "realtime"
    assert log["created_at"] == now
    assert log["sent_from"] == {"type": "api"}
    assert log["targets_count"] == 1
    assert log["label"] == "promo"
    assert log["tags"] == ["t1"]
    assert log["priority"] == "normal"
    assert log["title"] == "Hello there"
    assert log["metrics"] == {"sent": 1, "read": 0, "impressions": 0, "clicks": 0}


def test_log_of_a_batch_send_tracks_reads_impressions_clicks(api, template):
    body = api.send_ok(["a", "b", "c", "d"], mode="batch", label="spring")
    log = api.log(body["notification_id"])
    assert log["mode"] == "batch"
    assert log["targets_count"] == 4
    assert log["label"] == "spring"
    assert log["tags"] == []
    mids = {u: api.messages(u)[0]["notification_id"] for u in "abcd"}
    api.mark_as_read("a")
    api.mark_as_read("b", message_ids=[mids["b"]])
    api.mark_as_read("b")
    for user in "abc":
        api.stats(user, "viewed", [mids[user]])
    api.stats("a", "viewed", [mids["a"]])
    api.stats("c", "clicked", [mids["c"]])
    api.stats("d", "custom", [mids["d"]], topic="x")
    api.settle()
    assert api.log(body["notification_id"])["metrics"] == {"sent": 4, "read": 2, "impressions": 3, "clicks": 1}


def test_metrics_are_per_notification(api, template):
    first = api.send_ok(["u1"])
    second = api.send_ok(["u1"])
    api.mark_as_read("u1", message_ids=[api.messages("u1")[0]["notification_id"]])
    assert api.log(first["notification_id"])["metrics"]["read"] == 1
    assert api.log(second["notification_id"])["metrics"]["read"] == 0


def test_unknown_notification_is_400201(api, template):
    assert_error(api.get("/v1/notifications/not-a-notification"), 400, 400201)
