"""Journal records and trace ids, in-process feed subscriptions, the SSE streams, the admin API."""

from __future__ import annotations

import json
import threading

import pytest

from .conftest import AUTH, assert_error


# -- journal -------------------------------------------------------------------------------------
def test_send_accepted_and_one_delivery_per_target(api, template):
    body = api.send_ok(["a", "b", "c", "b"], mode="batch")
    nid = body["notification_id"]
    [accepted] = api.records("send.accepted")
    assert accepted["service"] == "sendbird"
    assert accepted["notification_id"] == nid
    assert accepted["mode"] == "batch"
    assert accepted["template_key"] == "welcome"
    assert accepted["targets_count"] == body["targets_count"]
    delivered = api.records("message.delivered")
    assert sorted(r["user_id"] for r in delivered) == ["a", "b", "c"]
    messages = {u: api.messages(u)[0] for u in "abc"}
    for rec in delivered:
        assert rec["service"] == "sendbird"
        assert rec["notification_id"] == nid
        assert rec["template_key"] == "welcome"
        assert rec["message_id"] == messages[rec["user_id"]]["message_id"]
        assert rec["trace_id"] == f"{nid}:{rec['user_id']}"


def test_realtime_send_uses_the_x_trace_id_header(api, template):
    resp = api.send(["u1"], headers={**AUTH, "X-Trace-Id": "trace-abc-123"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    api.settle()
    [rec] = api.records("message.delivered")
    assert rec["trace_id"] == "trace-abc-123"
    assert rec["user_id"] == "u1"


def test_realtime_send_without_header_traces_by_notification_and_user(api, template):
    nid = api.send_ok(["u1"])["notification_id"]
    [rec] = api.records("message.delivered")
    assert rec["trace_id"] == f"{nid}:u1"


def test_batch_send_ignores_x_trace_id_for_deliveries(api, template):
    resp = api.send(["a", "b"], mode="batch", headers={**AUTH, "X-Trace-Id": "batch-trace"})
    assert resp.status_code == 200
    api.settle()
    nid = resp.get_json()["notification_id"]
    assert sorted(r["trace_id"] for r in api.records("message.delivered")) == [f"{nid}:a", f"{nid}:b"]


@pytest.mark.parametrize("mode", [None, "auto", "single", "multi"])
def test_x_trace_id_is_only_for_realtime_sends(api, template, mode):
    """The doc: X-Trace-Id on a *realtime* send is the delivery's trace id; otherwise `<notification_id>:<user_id>`."""
    resp = api.send(["solo"], mode=mode, headers={**AUTH, "X-Trace-Id": "legacy-trace"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    api.settle()
    nid = resp.get_json()["notification_id"]
    [rec] = api.records("message.delivered")
    assert rec["trace_id"] == f"{nid}:solo"


def test_message_read_record_follows_the_delivery_trace(api, template):
    api.send(["u1"], headers={**AUTH, "X-Trace-Id": "trace-read"})
    api.settle()
    api.mark_as_read("u1")
    api.settle()
    [rec] = api.records("message.read")
    assert rec["service"] == "sendbird"
    assert rec["trace_id"] == "trace-read"


def test_template_records(api):
    api.create_template("t1")
    api.put("/v1/templates/t1", {"name": "x"})
    api.post("/v1/templates/t1/archive")
    api.post("/v1/templates/t1/unarchive")
    for kind in ("template.created", "template.edited", "template.archived", "template.unarchived"):
        assert len(api.records(kind)) == 1, kind


def test_rejected_sends_write_no_send_record(api, template):
    api.send(["a", "b"])
    api.send(["a"], key="nope")
    api.settle()
    assert api.records("send.accepted") == []


def test_admin_journal_over_http(api, template):
    api.send_ok(["u1"])
    resp = api.client.get("/_admin/journal", query_string={"kind": "send.accepted"})
    assert resp.status_code == 200
    records = resp.get_json()["records"]
    assert [r["kind"] for r in records] == ["send.accepted"]
    assert records[0]["service"] == "sendbird"


# -- in-process subscriptions --------------------------------------------------------------------
def _user(item) -> str:
    return item["user_id"] if isinstance(item, dict) else item.user_id


def test_subscribe_receives_every_delivery(api, service, template):
    got: list = []
    service.feeds.subscribe(got.append)
    api.send_ok(["a", "b", "c"], mode="batch")
    api.send_ok(["a"])
    assert sorted(_user(m) for m in got) == ["a", "a", "b", "c"]


def test_subscribe_for_one_user(api, service, template):
    mine: list = []
    service.feeds.subscribe(mine.append, user_id="b")
    api.send_ok(["a", "b", "c"], mode="batch")
    api.send_ok(["a"])
    api.send_ok(["b"], variables={"b": {"name": "Bea"}})
    assert [_user(m) for m in mine] == ["b", "b"]


def test_a_failing_subscriber_does_not_fail_the_send(api, service, template):
    """Robustness (not spelled out in the doc): a broken device must not turn an accepted send into a 500
    after the messages are stored, nor drop the `message.delivered` records."""

    def broken(_message) -> None:
        raise RuntimeError("device crashed")

    service.feeds.subscribe(broken)
    resp = api.send(["a", "b"], mode="batch")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    api.settle()
    assert sorted(r["user_id"] for r in api.records("message.delivered")) == ["a", "b"]
    assert api.log(resp.get_json()["notification_id"])["metrics"]["sent"] == 2


# -- SSE streams ---------------------------------------------------------------------------------
def read_stream_until(api, path: str, headers: dict, trigger, marker: bytes, timeout: float = 5.0) -> bytes:
    """Open an SSE response, run `trigger` once it is connected, and read until `marker` appears."""
    resp = api.client.get(path, headers=headers, buffered=False)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "text/event-stream"
    chunks: list[bytes] = []
    first = threading.Event()
    found = threading.Event()
    iterator = iter(resp.response)

    def reader() -> None:
        for chunk in iterator:
            chunks.append(chunk if isinstance(chunk, bytes) else chunk.encode())
            first.set()
            if marker in b"".join(chunks):
                found.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    first.wait(1.0)
    trigger()
    assert found.wait(timeout), b"".join(chunks)
    thread.join(1.0)
    resp.close()
    return b"".join(chunks)


def sse_events(raw: bytes) -> list[tuple[str | None, dict]]:
    events = []
    for block in raw.decode().split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:].strip())
        if data is not None:
            events.append((name, data))
    return events


def test_user_notification_stream(api, template):
    def trigger():
        api.send_ok(["someone-else"])
        api.send_ok(["u1"], variables={"u1": {"name": "Ada"}})

    raw = read_stream_until(api, "/_admin/deliveries/stream?user_id=u1", {}, trigger, b"event: notification")
    events = [(n, d) for n, d in sse_events(raw) if n == "notification"]
    assert len(events) == 1
    data = events[0][1]
    assert data["user_id"] == "u1"
    assert data["notification_data"]["template_variables"] == {"name": "Ada"}
    assert data["message_id"] == api.messages("u1")[0]["message_id"]


def test_admin_deliveries_stream(api, template):
    raw = read_stream_until(api, "/_admin/deliveries/stream", {}, lambda: api.send_ok(["u9"]), b"u9")
    assert any(d.get("user_id") == "u9" for _, d in sse_events(raw)) or b"u9" in raw


# -- admin ---------------------------------------------------------------------------------------
def test_health(api):
    resp = api.client.get("/_admin/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["service"] == "sendbird"


def test_reset_forgets_templates_and_messages(api, template):
    nid = api.send_ok(["u1"])["notification_id"]
    assert api.client.post("/_admin/reset").status_code == 200
    assert_error(api.get("/v1/templates/welcome"), 400, 400201)
    assert_error(api.get(f"/v1/notifications/{nid}"), 400, 400201)
    assert_error(api.get("/v3/users/u1/unread_message_count"), 400, 400201)
    api.create_template("welcome")
    api.send_ok(["u1"])
    assert api.unread("u1") == 1
