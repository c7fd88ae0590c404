"""The `/_admin` blueprint every service mounts: health, reset, journal paging and the journal stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.admin import admin_blueprint
from harness.journal import Journal
from harness.runtime import Runtime
from harness.sse import format_event, journal_event

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
    epoch = runtime.journal.epoch
    assert response.json == {"status": "ok", "service": "svc", "mode": "simulated",
                              "time": "2026-01-01T00:00:02+00:00", "pending_tasks": 1,
                              "journal_cursor": f"{epoch}:1", "journal_epoch": epoch, "clock_speed": None,
                              "clock_epoch": None}


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
        body = app.test_client().get("/_admin/health").json
        assert (body["mode"], body["clock_speed"]) == ("live", 1.0)
    finally:
        runtime.close()


def test_health_tells_the_clock_speed() -> None:
    runtime = Runtime.live(speed=60, workers=1)
    try:
        app = Flask("svc")
        app.register_blueprint(admin_blueprint("svc", runtime, reset=lambda: None))
        assert app.test_client().get("/_admin/health").json["clock_speed"] == 60
    finally:
        runtime.close()


def test_health_tells_the_epoch_of_a_shared_clock() -> None:
    runtime = Runtime.live(speed=60, workers=1, clock_epoch=1_800_000_000.5)
    try:
        app = Flask("svc")
        app.register_blueprint(admin_blueprint("svc", runtime, reset=lambda: None))
        body = app.test_client().get("/_admin/health").json
        assert (body["clock_speed"], body["clock_epoch"]) == (60, 1_800_000_000.5)
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
    epoch = runtime.journal.epoch
    assert client.get("/_admin/journal").json == {"records": [], "cursor": f"{epoch}:0", "epoch": epoch,
                                                  "restarted": False, "truncated": False}
    runtime.journal.record("svc", "message.sent", trace_id="t1", channel="c")
    runtime.journal.record("svc", "message.read", trace_id="t1")
    body = client.get("/_admin/journal").json
    assert body["cursor"] == f"{epoch}:2"
    assert body["records"] == [
        {"seq": 1, "ts": "2026-01-01T00:00:00.000Z", "service": "svc", "kind": "message.sent", "trace_id": "t1",
         "channel": "c"},
        {"seq": 2, "ts": "2026-01-01T00:00:00.000Z", "service": "svc", "kind": "message.read", "trace_id": "t1"},
    ]
    assert client.get(f"/_admin/journal?since={epoch}:2").json["records"] == []
    assert client.get("/_admin/journal?since=1").json["records"][0]["seq"] == 2  # a bare seq, as old clients send


def test_journal_pages_with_since_and_limit(client: FlaskClient, runtime: Runtime) -> None:
    for i in range(10):
        runtime.journal.record("svc", "even" if i % 2 == 0 else "odd", i=i)
    seen: list[int] = []
    cursor = f"{runtime.journal.epoch}:0"
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
    assert cursor == f"{runtime.journal.epoch}:10"


def test_journal_kind_filter_and_paging(client: FlaskClient, runtime: Runtime) -> None:
    for i in range(10):
        runtime.journal.record("svc", "even" if i % 2 == 0 else "odd", i=i)
    runtime.journal.record("svc", "other")
    body = client.get("/_admin/journal?kind=odd&limit=2").json
    epoch = runtime.journal.epoch
    assert [r["i"] for r in body["records"]] == [1, 3]
    assert body["cursor"] == f"{epoch}:4"
    body = client.get(f"/_admin/journal?kind=odd&limit=2&since={body['cursor']}").json
    assert [r["i"] for r in body["records"]] == [5, 7]
    body = client.get(f"/_admin/journal?kind=odd&limit=2&since={body['cursor']}").json
    assert [r["i"] for r in body["records"]] == [9]
    assert body["cursor"] == f"{epoch}:11"  # skipped past the non-matching tail
    both = client.get("/_admin/journal?kind=odd&kind=other").json
    assert [r["kind"] for r in both["records"]] == ["odd"] * 5 + ["other"]


def test_journal_service_and_trace_filters(client: FlaskClient, runtime: Runtime) -> None:
    runtime.journal.record("braze", "k", trace_id="t1")
    runtime.journal.record("sendbird", "k", trace_id="t1")
    runtime.journal.record("sendbird", "k", trace_id="t2")
    assert [r["seq"] for r in client.get("/_admin/journal?service=sendbird").json["records"]] == [2, 3]
    assert [r["seq"] for r in client.get("/_admin/journal?trace_id=t1").json["records"]] == [1, 2]


def test_journal_limit(client: FlaskClient, runtime: Runtime) -> None:
    for _ in range(3):
        runtime.journal.record("svc", "k")
    assert len(client.get("/_admin/journal?limit=1").json["records"]) == 1
    assert len(client.get("/_admin/journal?limit=10000").json["records"]) == 3


@pytest.mark.parametrize(("query", "message"), [
    ("since=abc", "since: the cursor's seq must be a whole number"),
    ("since=", "since: the cursor's seq must be a whole number"),
    ("since=1.5", "since: the cursor's seq must be a whole number"),
    ("since=-3", "since: the cursor's seq must be a whole number"),
    ("since=99999999999999999999", "since: the cursor's seq must be a whole number"),
    ("since=a:b:3", "since: the cursor's epoch must be"),
    ("since=:3", "since: the cursor's epoch must be"),
    ("since=e:", "since: the cursor's seq must be a whole number"),
    ("limit=ten", "limit must be a whole number from 1 to 10000"),
    ("limit=", "limit must be a whole number from 1 to 10000"),
    ("limit=0", "limit must be a whole number from 1 to 10000"),
    ("limit=-5", "limit must be a whole number from 1 to 10000"),
    ("limit=10001", "limit must be a whole number from 1 to 10000"),
    ("limit=99999999999999999999", "limit must be a whole number from 1 to 10000"),
    ("since=1&limit=x", "limit must be a whole number from 1 to 10000"),
])
def test_bad_since_or_limit_is_400(client: FlaskClient, query: str, message: str) -> None:
    response = client.get(f"/_admin/journal?{query}")
    assert response.status_code == 400
    assert response.json["message"].startswith(message), response.json


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(since=st.one_of(st.none(), st.text(), st.from_regex(r"[0-9a-f:]{0,25}", fullmatch=True)),
       limit=st.one_of(st.none(), st.text(), st.integers().map(str)))
def test_any_since_and_limit_get_200_or_400(client: FlaskClient, since: str | None, limit: str | None) -> None:
    params = {k: v for k, v in (("since", since), ("limit", limit)) if v is not None}
    response = client.get("/_admin/journal", query_string=params)
    assert response.status_code in (200, 400), response.data
    assert isinstance(response.json, dict) and (response.status_code == 200) == ("records" in response.json)


def test_a_cursor_from_a_restarted_service_gets_its_journal_from_the_start() -> None:
    """A follower kept its cursor; the service came back with a new journal. One call resynchronises it."""
    before = Runtime.simulation(seed=1, start=T0)
    for i in range(5):
        before.journal.record("svc", "k", i=i)
    app = Flask("svc")
    app.register_blueprint(admin_blueprint("svc", before, reset=lambda: None))
    old_cursor = app.test_client().get("/_admin/journal").json["cursor"]
    after = Runtime.simulation(seed=2, start=T0)  # the new process
    after.journal.record("svc", "k", i=100)
    app = Flask("svc")
    app.register_blueprint(admin_blueprint("svc", after, reset=lambda: None))
    client = app.test_client()
    for stale in (old_cursor, "5"):  # a string cursor, and a bare seq from an old client
        body = client.get("/_admin/journal", query_string={"since": stale}).json
        assert body["restarted"] is True and body["epoch"] == after.journal.epoch != before.journal.epoch
        assert [r["i"] for r in body["records"]] == [100]
        assert body["cursor"] == f"{after.journal.epoch}:1"
    assert client.get("/_admin/journal", query_string={"since": body["cursor"]}).json["restarted"] is False


def test_dropped_records_are_reported_as_truncated() -> None:
    runtime = Runtime.simulation(start=T0, journal_capacity=2)
    runtime.journal = Journal(runtime.clock, capacity=2, epoch="small")
    for i in range(4):
        runtime.journal.record("svc", "k", i=i)
    app = Flask("svc")
    app.register_blueprint(admin_blueprint("svc", runtime, reset=lambda: None))
    body = app.test_client().get("/_admin/journal?since=small:1").json
    assert (body["truncated"], body["first_seq"], [r["seq"] for r in body["records"]]) == (True, 3, [3, 4])
    assert app.test_client().get("/_admin/journal?since=small:2").json["truncated"] is False


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
    epoch = runtime.journal.epoch
    hello = next(chunks)
    assert hello == format_event({"epoch": epoch, "cursor": f"{epoch}:0", "restarted": False}, "hello", f"{epoch}:0")
    runtime.journal.record("svc", "ignored")
    rec = runtime.journal.record("svc", "wanted", trace_id="t9", n=1)
    event = next(chunks)
    assert event == journal_event(epoch, rec)
    assert event.startswith(f"id: {epoch}:2\nevent: wanted\ndata: ".encode())
    assert json.loads(event.split(b"data: ", 1)[1]) == rec.to_dict()
    assert unsubscribed == []
    response.close()  # the client went away: the subscription ends
    assert unsubscribed == [True]


def hello_of(client: FlaskClient, **headers: str) -> dict:
    response = client.get("/_admin/journal/stream", headers=headers, buffered=False)
    try:
        first = next(iter(response.response))
    finally:
        response.close()
    assert first.startswith(b"id: ") and b"\nevent: hello\n" in first
    return json.loads(first.split(b"data: ", 1)[1])


def test_stream_hello_says_when_last_event_id_is_from_another_life(client: FlaskClient, runtime: Runtime) -> None:
    epoch = runtime.journal.epoch
    runtime.journal.record("svc", "k")
    assert hello_of(client) == {"epoch": epoch, "cursor": f"{epoch}:1", "restarted": False}
    assert hello_of(client, **{"Last-Event-ID": f"{epoch}:1"})["restarted"] is False
    assert hello_of(client, **{"Last-Event-ID": "0ld0ld0ld0ld:40"})["restarted"] is True
    assert hello_of(client, **{"Last-Event-ID": "40"})["restarted"] is True  # a seq this journal never reached


def test_stream_refuses_a_malformed_last_event_id(client: FlaskClient) -> None:
    response = client.get("/_admin/journal/stream", headers={"Last-Event-ID": "e:-1"})
    assert response.status_code == 400
    assert response.json["message"].startswith("Last-Event-ID: the cursor's seq")


def test_format_event() -> None:
    assert format_event({"a": 1}) == b'data: {"a":1}\n\n'
    assert format_event([1, "x"], event="e", event_id=7) == b'id: 7\nevent: e\ndata: [1,"x"]\n\n'
    assert format_event(None, event_id=0) == b"id: 0\ndata: null\n\n"
