"""The `/_admin` blueprint every service mounts: health, reset, journal paging and the journal stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from harness.admin import admin_blueprint
from harness.runtime import Runtime
from harness.sse import format_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def runtime() -> Runtime:
    return Runtime.simulation(seed=1, start=T0)


@pytest.fixture
def resets() -> list[int]:
    return []


@pytest.fixture
def client(runtime: Runtime, resets: list[int]) -> FlaskClient:
    app = Flask("svc")
    app.register_blueprint(admin_blueprint("svc", runtime, reset=lambda: resets.append(1)))
    return app.test_client()


def test_health(client: FlaskClient, runtime: Runtime) -> None:
    runtime.scheduler.after(5, lambda: None)
    runtime.journal.record("svc", "started")
    runtime.clock.advance(timedelta(seconds=2))
    response = client.get("/_admin/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "service": "svc", "mode": "simulated",
                              "time": "2026-01-01T00:00:02+00:00", "pending_tasks": 1, "journal_cursor": 1}


def test_health_extra_fields() -> None:
    runtime = Runtime.simulation()
    app = Flask("svc")
    app.register_blueprint(admin_blueprint("braze", runtime, reset=lambda: None,
                                           health=lambda: {"canvases": 3, "status": "degraded"}))
    body = app.test_client().get("/_admin/health").json
    assert body["service"] == "braze"
    assert body["canvases"] == 3
    assert body["status"] == "degraded"


def test_health_live_mode() -> None:
    runtime = Runtime.live()
    try:
        app = Flask("svc")
        app.register_blueprint(admin_blueprint("svc", runtime, reset=lambda: None))
        assert app.test_client().get("/_admin/health").json["mode"] == "live"
    finally:
        runtime.close()


def test_reset_calls_the_callback(client: FlaskClient, resets: list[int]) -> None:
    assert resets == []
    response = client.post("/_admin/reset")
    assert response.status_code == 200
    assert response.json == {"status": "reset", "service": "svc"}
    assert resets == [1]
    client.post("/_admin/reset")
    assert resets == [1, 1]
    assert client.get("/_admin/reset").status_code == 405
    assert resets == [1, 1]


def test_journal_returns_records_and_cursor(client: FlaskClient, runtime: Runtime) -> None:
    assert client.get("/_admin/journal").json == {"records": [], "cursor": 0}
    runtime.journal.record("svc", "message.sent", trace_id="t1", channel="c")
    runtime.journal.record("svc", "message.read", trace_id="t1")
    body = client.get("/_admin/journal").json
    assert body["cursor"] == 2
    assert body["records"] == [
        {"seq": 1, "ts": "2026-01-01T00:00:00.000Z", "service": "svc", "kind": "message.sent", "trace_id": "t1",
         "channel": "c"},
        {"seq": 2, "ts": "2026-01-01T00:00:00.000Z", "service": "svc", "kind": "message.read", "trace_id": "t1"},
    ]
    assert client.get("/_admin/journal?since=2").json == {"records": [], "cursor": 2}


def test_journal_pages_with_since_and_limit(client: FlaskClient, runtime: Runtime) -> None:
    for i in range(10):
        runtime.journal.record("svc", "even" if i % 2 == 0 else "odd", i=i)
    seen: list[int] = []
    cursor = 0
    pages = 0
    while True:
        body = client.get(f"/_admin/journal?since={cursor}&limit=3").json
        if not body["records"]:
            assert body["cursor"] == cursor
            break
        assert len(body["records"]) <= 3
        seen.extend(r["i"] for r in body["records"])
        cursor = body["cursor"]
        pages += 1
    assert seen == list(range(10))
    assert pages == 4
    assert cursor == 10


def test_journal_kind_filter_and_paging(client: FlaskClient, runtime: Runtime) -> None:
    for i in range(10):
        runtime.journal.record("svc", "even" if i % 2 == 0 else "odd", i=i)
    runtime.journal.record("svc", "other")
    body = client.get("/_admin/journal?kind=odd&limit=2").json
    assert [r["i"] for r in body["records"]] == [1, 3]
    assert body["cursor"] == 4
    body = client.get(f"/_admin/journal?kind=odd&limit=2&since={body['cursor']}").json
    assert [r["i"] for r in body["records"]] == [5, 7]
    body = client.get(f"/_admin/journal?kind=odd&limit=2&since={body['cursor']}").json
    assert [r["i"] for r in body["records"]] == [9]
    assert body["cursor"] == 11  # skipped past the non-matching tail
    both = client.get("/_admin/journal?kind=odd&kind=other").json
    assert [r["kind"] for r in both["records"]] == ["odd"] * 5 + ["other"]


def test_journal_service_and_trace_filters(client: FlaskClient, runtime: Runtime) -> None:
    runtime.journal.record("braze", "k", trace_id="t1")
    runtime.journal.record("sendbird", "k", trace_id="t1")
    runtime.journal.record("sendbird", "k", trace_id="t2")
    assert [r["seq"] for r in client.get("/_admin/journal?service=sendbird").json["records"]] == [2, 3]
    assert [r["seq"] for r in client.get("/_admin/journal?trace_id=t1").json["records"]] == [1, 2]


def test_journal_limit_is_clamped(client: FlaskClient, runtime: Runtime) -> None:
    for _ in range(3):
        runtime.journal.record("svc", "k")
    assert len(client.get("/_admin/journal?limit=0").json["records"]) == 1
    assert len(client.get("/_admin/journal?limit=-5").json["records"]) == 1
    assert len(client.get("/_admin/journal?limit=99999").json["records"]) == 3


@pytest.mark.parametrize("query", ["since=abc", "since=", "since=1.5", "limit=ten", "limit=", "since=1&limit=x"])
def test_bad_since_or_limit_is_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/_admin/journal?{query}")
    assert response.status_code == 400
    assert response.json == {"message": "since and limit must be integers"}


def test_journal_stream(client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    unsubscribed: list[bool] = []
    subscribe = runtime.journal.subscribe

    def tracking_subscribe(callback):
        stop = subscribe(callback)

        def unsubscribe() -> None:
            unsubscribed.append(True)
            stop()

        return unsubscribe

    monkeypatch.setattr(runtime.journal, "subscribe", tracking_subscribe)
    response = client.get("/_admin/journal/stream?kind=wanted", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    chunks = iter(response.response)
    assert next(chunks) == b": connected\n\n"
    runtime.journal.record("svc", "ignored")
    rec = runtime.journal.record("svc", "wanted", trace_id="t9", n=1)
    event = next(chunks)
    assert event == format_event(rec.to_dict(), "wanted", rec.seq)
    assert event.startswith(b"id: 2\nevent: wanted\ndata: ")
    assert json.loads(event.split(b"data: ", 1)[1]) == rec.to_dict()
    assert unsubscribed == []
    response.close()  # the client went away: the subscription ends
    assert unsubscribed == [True]


def test_format_event() -> None:
    assert format_event({"a": 1}) == b'data: {"a":1}\n\n'
    assert format_event([1, "x"], event="e", event_id=7) == b'id: 7\nevent: e\ndata: [1,"x"]\n\n'
    assert format_event(None, event_id=0) == b"id: 0\ndata: null\n\n"
