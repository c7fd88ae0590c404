"""The webhook dispatcher against scripted receivers on the simulated transport.

Each receiver is a small Flask app registered on `runtime.transport` that answers a scripted
sequence of statuses and records what it got, so the retry schedule, the give-up rules and the
records Braze keeps (Message Activity Log, Currents, journal) can be checked on the simulated clock.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from flask import Flask, Response, request

from harness.runtime import Runtime
from harness.transport import Client
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.dispatch import (
    CONNECTION_ERROR_STATUS,
    HALTED_STATUS,
    RETRY_BACKOFF,
    UNREACHABLE_BACKOFF,
    USER_AGENT,
    WebhookDispatcher,
    WebhookRequest,
)

HOOK_HOST = "hooks.local"
HOOK_URL = f"http://{HOOK_HOST}/hook"
METHODS = ("POST", "PUT", "DELETE", "GET", "PATCH")


class Receiver:
    """A webhook target answering a script of (status, headers, body), then 200s; records each request."""

    def __init__(self, runtime: Runtime, host: str = HOOK_HOST, script: list[Any] | None = None) -> None:
        self.runtime = runtime
        self.script = [s if isinstance(s, tuple) else (s, {}, f"answer {s}") for s in script or []]
        self.requests: list[dict[str, Any]] = []
        app = Flask(f"receiver-{host}")

        @app.route("/", defaults={"path": ""}, methods=list(METHODS))
        @app.route("/<path:path>", methods=list(METHODS))
        def hook(path: str) -> Response:
            self.requests.append({"time": runtime.clock.now(), "method": request.method, "path": "/" + path,
                                  "headers": dict(request.headers), "body": request.get_data(as_text=True)})
            status, headers, body = self.script.pop(0) if self.script else (200, {}, "ok")
            return Response(body, status=status, headers=headers)

        runtime.transport.register(host, app)

    @property
    def times(self) -> list[datetime]:
        return [r["time"] for r in self.requests]


def gaps(times: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def make_ctx(n: int = 1, **overrides: Any) -> DeliveryContext:
    fields: dict[str, Any] = {"trace_id": f"trace-{n}", "dispatch_id": f"dispatch-{n}", "braze_id": f"braze-{n}",
                              "external_id": f"user-{n}", "campaign_id": "camp-1", "campaign_name": "Welcome"}
    return DeliveryContext(**{**fields, **overrides})


def post(url: str = HOOK_URL, body: str = '{"hello": "world"}', **headers: str) -> WebhookRequest:
    return WebhookRequest(url, "POST", {"Content-Type": "application/json", **headers}, body)


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    rt = Runtime.simulation(seed=1)
    yield rt
    rt.close()


@pytest.fixture
def outcomes() -> list[tuple[str, str, int | None]]:
    return []


@pytest.fixture
def dispatcher(runtime: Runtime, outcomes: list[tuple[str, str, int | None]]) -> WebhookDispatcher:
    return WebhookDispatcher(runtime, on_outcome=lambda ctx, outcome, status: outcomes.append(
        (ctx.dispatch_id, outcome, status)))


def event_types(dispatcher: WebhookDispatcher) -> list[str]:
    return [r["event_type"].rsplit(".", 1)[-1] for r in dispatcher.currents]


# -- success -------------------------------------------------------------------------------------
def test_2xx_is_one_attempt_and_the_request_arrives_as_given(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime)
    body = '{"receiver": "u1", "text": "héllo"}'
    dispatcher.send(post(body=body, **{"Api-Token": "secret"}), make_ctx(step_id="s1", step_name="Step"))
    runtime.scheduler.run_until_idle()

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert (got["method"], got["path"], got["body"]) == ("POST", "/hook", body)
    assert got["headers"]["Api-Token"] == "secret"
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["X-Trace-Id"] == "trace-1"
    assert got["headers"]["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("Braze Sender ")
    assert outcomes == [("dispatch-1", "sent", 200)]
    assert event_types(dispatcher) == ["Send"]
    send = dispatcher.currents[0]
    assert send["user_id"] == "braze-1" and send["external_user_id"] == "user-1"
    assert send["dispatch_id"] == "dispatch-1" and send["campaign_name"] == "Welcome"
    assert send["canvas_step_id"] == "s1" and send["canvas_step_name"] == "Step"
    assert send["time"] == int(runtime.clock.now().timestamp())
    [entry] = dispatcher.activity_log
    assert (entry["status"], entry["outcome"], entry["attempt"], entry["error"]) == (200, "sent", 1, None)
    kinds = [r.kind for r in runtime.journal.read(trace_id="trace-1")[0]]
    assert kinds == ["webhook.attempt", "webhook.sent"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", [200, 201, 204])
def test_every_method_and_2xx_status_is_received(runtime, dispatcher, outcomes, method, status):
    receiver = Receiver(runtime, script=[(status, {}, "")])
    dispatcher.send(WebhookRequest(HOOK_URL, method, {}, "payload" if method != "GET" else ""), make_ctx())
    runtime.scheduler.run_until_idle()
    assert [r["method"] for r in receiver.requests] == [method]
    assert outcomes == [("dispatch-1", "sent", status)]


def test_a_given_user_agent_is_kept_and_the_trace_header_is_ours(runtime, dispatcher):
    receiver = Receiver(runtime)
    dispatcher.send(post(**{"user-agent": "custom/1.0", "x-trace-id": "spoofed"}), make_ctx())
    runtime.scheduler.run_until_idle()
    headers = receiver.requests[0]["headers"]
    assert headers["User-Agent"] == "custom/1.0"
    assert headers["X-Trace-Id"] == "trace-1"


def test_the_timeout_is_passed_to_the_http_client_and_redirects_are_not_followed(runtime, monkeypatch):
    seen: list[dict[str, Any]] = []
    original = Client.request

    def spy(self, method, url, **kwargs):
        seen.append(kwargs)
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(Client, "request", spy)
    receiver = Receiver(runtime, script=[302])
    dispatcher = WebhookDispatcher(runtime, timeout=12.5)
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert seen[0]["timeout"] == 12.5
    assert len(receiver.requests) == 1  # a 3xx is an answer, not a hop
    assert "redirects are not followed" in dispatcher.activity_log[-1]["error"]


def test_first_attempt_can_be_scheduled_later(runtime, dispatcher):
    receiver = Receiver(runtime, script=[503])
    start = runtime.clock.now()
    dispatcher.send(post(), make_ctx(), at=start + timedelta(hours=1))
    runtime.scheduler.run_until_idle()
    assert [t - start for t in receiver.times] == [timedelta(hours=1), timedelta(hours=1, seconds=30)]


def test_an_unknown_method_is_refused_at_send(dispatcher):
    with pytest.raises(ValueError, match="method"):
        dispatcher.send(WebhookRequest(HOOK_URL, "HEAD", {}, ""), make_ctx())


# -- failures that are not retried ---------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 307, 400, 401, 403, 404, 405, 409, 422])
def test_3xx_and_other_4xx_fail_without_retry(runtime, dispatcher, outcomes, status):
    receiver = Receiver(runtime, script=[(status, {"Location": "http://hooks.local/elsewhere"}, "nope")])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()

    assert len(receiver.requests) == 1  # a redirect is not followed either
    assert outcomes == [("dispatch-1", "failed", status)]
    [entry] = dispatcher.activity_log
    assert (entry["status"], entry["outcome"], entry["response_body"]) == (status, "failed", "nope")
    assert entry["error"].startswith(f"HTTP {status}")
    assert event_types(dispatcher) == ["Failure"]
    failure = dispatcher.currents[0]
    assert failure["http_status_code"] == status and failure["is_terminal"] is True
    assert failure["url"] == failure["endpoint_url"] == HOOK_URL
    assert (failure["host"], failure["url_path"], failure["raw_response"]) == (HOOK_HOST, "/hook", "nope")
    assert failure["webhook_failure_source"] == "External Endpoint"
    assert runtime.scheduler.pending == 0


# -- retries -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_retriable_statuses_follow_the_backoff_then_fail(runtime, dispatcher, outcomes, status):
    receiver = Receiver(runtime, script=[status] * 10)
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()

    assert len(receiver.requests) == 6  # five retries
    assert gaps(receiver.times) == list(RETRY_BACKOFF) == [30, 60, 120, 240, 480]
    assert outcomes == [("dispatch-1", "failed", status)]
    log = dispatcher.activity_log
    assert [e["outcome"] for e in log] == ["retry"] * 5 + ["failed"]
    assert [e["attempt"] for e in log] == [1, 2, 3, 4, 5, 6]
    assert "gave up after 6 attempts" in log[-1]["error"]
    assert log[0]["next_attempt_at"] == log[1]["time"]
    assert event_types(dispatcher) == ["Retry"] * 5 + ["Failure"]
    assert [r["is_terminal"] for r in dispatcher.currents] == [False] * 5 + [True]
    assert dispatcher.currents[-1]["retry_count"] == 6
    attempts = runtime.journal.read(kinds=["webhook.attempt"], trace_id="trace-1")[0]
    assert [(r.attrs["attempt"], r.attrs["status"]) for r in attempts] == [(n, status) for n in range(1, 7)]
    assert len(runtime.journal.read(kinds=["webhook.failed"], trace_id="trace-1")[0]) == 1


def test_a_retry_that_succeeds_is_sent(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime, script=[500, 503])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert gaps(receiver.times) == [30, 60]
    assert outcomes == [("dispatch-1", "sent", 200)]
    assert event_types(dispatcher) == ["Retry", "Retry", "Send"]
    assert [r.kind for r in runtime.journal.read(trace_id="trace-1")[0]] == [
        "webhook.attempt", "webhook.attempt", "webhook.attempt", "webhook.sent"]


@pytest.mark.parametrize(("retry_after", "gap"), [("120", 120), ("5", 30), ("0", 30), ("soon", 30), ("-40", 30)])
def test_retry_after_seconds_can_only_lengthen_the_wait(runtime, dispatcher, retry_after, gap):
    receiver = Receiver(runtime, script=[(429, {"Retry-After": retry_after}, "slow down")])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert gaps(receiver.times) == [gap]


def test_retry_after_as_an_http_date(runtime, dispatcher):
    when = format_datetime(runtime.clock.now() + timedelta(seconds=300), usegmt=True)
    receiver = Receiver(runtime, script=[(503, {"Retry-After": when}, "maintenance")])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert gaps(receiver.times) == [300]


def test_x_ratelimit_reset_lengthens_a_429_wait_only(runtime, dispatcher):
    reset = str(int(runtime.clock.now().timestamp()) + 200)
    receiver = Receiver(runtime, script=[(429, {"X-RateLimit-Reset": reset}, ""),
                                         (503, {"X-RateLimit-Reset": reset}, ""),
                                         (429, {"X-RateLimit-Reset": "45"}, "")])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    # epoch reset 200 s away; ignored on a 503 (backoff 60 s); a small value is a delay (45 s < backoff 120 s)
    assert gaps(receiver.times) == [200, 60, 120]


def test_a_wait_past_the_30_minute_window_ends_in_failure(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime, script=[(503, {"Retry-After": "3600"}, "down for an hour")])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert len(receiver.requests) == 1
    assert outcomes == [("dispatch-1", "failed", 503)]
    assert "outside the 30-minute retry window" in dispatcher.activity_log[-1]["error"]
    assert event_types(dispatcher) == ["Failure"]


def test_the_window_counts_from_the_first_attempt(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime, script=[(503, {"Retry-After": "1500"}, ""), (503, {"Retry-After": "400"}, "")])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert gaps(receiver.times) == [1500]  # 1500 + 400 s is past 30 minutes
    assert outcomes == [("dispatch-1", "failed", 503)]


def test_a_read_timeout_is_a_retried_408(runtime, dispatcher, outcomes):
    def slow_app(environ, start_response):
        raise requests.ReadTimeout("read timed out")

    runtime.transport.register("slow.local", slow_app)
    dispatcher.send(post("http://slow.local/hook"), make_ctx())
    runtime.scheduler.run_until_idle()
    log = dispatcher.activity_log
    assert [e["status"] for e in log] == [408] * 6
    assert gaps([datetime.fromisoformat(e["time"]) for e in log]) == list(RETRY_BACKOFF)
    assert "no response within 90 s" in log[0]["error"]
    assert outcomes == [("dispatch-1", "failed", 408)]


# -- unreachable hosts ---------------------------------------------------------------------------
def test_connection_errors_are_599_and_spread_over_hours(runtime, dispatcher, outcomes):
    start = runtime.clock.now()
    dispatcher.send(post("http://nowhere.local/hook"), make_ctx())
    runtime.scheduler.run_until_idle()
    log = dispatcher.activity_log
    assert [e["status"] for e in log] == [CONNECTION_ERROR_STATUS] * 6
    times = [datetime.fromisoformat(e["time"]) for e in log]
    assert gaps(times) == list(UNREACHABLE_BACKOFF) == [60, 300, 1500, 7500, 37500]
    assert runtime.clock.now() - start == timedelta(seconds=sum(UNREACHABLE_BACKOFF))
    assert runtime.clock.now() - start < timedelta(hours=24)
    assert "connection error" in log[0]["error"]
    assert outcomes == [("dispatch-1", "failed", 599)]
    assert dispatcher.currents[-1]["webhook_failure_source"] == "Host Unreachable"


def test_a_connect_timeout_is_a_connection_error(runtime, dispatcher):
    def unreachable_app(environ, start_response):
        raise requests.ConnectTimeout("connect timed out")

    runtime.transport.register("blackhole.local", unreachable_app)
    dispatcher.send(post("http://blackhole.local/hook"), make_ctx())
    runtime.scheduler.run_until(runtime.clock.now())
    assert dispatcher.activity_log[0]["status"] == CONNECTION_ERROR_STATUS


def test_a_host_that_comes_back_gets_the_webhook(runtime, dispatcher, outcomes):
    start = runtime.clock.now()
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.after(100, Receiver, runtime)  # the receiver starts after the second attempt
    runtime.scheduler.run_until_idle()
    assert [e["status"] for e in dispatcher.activity_log] == [599, 599, 200]
    assert runtime.clock.now() - start == timedelta(seconds=360)
    assert outcomes == [("dispatch-1", "sent", 200)]


# -- targets (the outbound policy, live: tests/security/test_braze.py) ----------------------------------------
@pytest.mark.parametrize("url", ["ftp://hooks.local/x", "http:///no-host", "http://hooks.local:99999/", "hook",
                                 "http://user:pw@hooks.local/x", "http://hooks.local/x#part"])
def test_invalid_urls_fail_at_once(runtime, dispatcher, outcomes, url):
    dispatcher.send(post(url), make_ctx())
    runtime.scheduler.run_until_idle()
    [entry] = dispatcher.activity_log
    assert entry["error"].startswith("invalid webhook URL")
    assert outcomes == [("dispatch-1", "failed", None)]


@pytest.mark.parametrize("url", ["http://127.0.0.1:7300/hook", "http://127.9.9.9/", "http://localhost:9/",
                                 "http://[::1]:9/"])
def test_loopback_is_allowed(runtime, dispatcher, url):
    dispatcher.send(post(url), make_ctx())
    runtime.scheduler.run_until(runtime.clock.now())
    assert dispatcher.activity_log[0]["status"] == CONNECTION_ERROR_STATUS  # attempted, nobody listening


def test_a_loopback_port_registered_on_the_transport_is_delivered(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime, host="127.0.0.1:7300")
    dispatcher.send(post("http://127.0.0.1:7300/v1/braze"), make_ctx())
    runtime.scheduler.run_until_idle()
    assert [r["path"] for r in receiver.requests] == ["/v1/braze"]
    assert outcomes == [("dispatch-1", "sent", 200)]


# -- unhealthy hosts -----------------------------------------------------------------------------
def test_an_unhealthy_host_is_halted_for_a_minute(runtime, outcomes):
    dispatcher = WebhookDispatcher(runtime, unhealthy_threshold=5, unhealthy_window=60,
                                   on_outcome=lambda ctx, outcome, status: outcomes.append(
                                       (ctx.dispatch_id, outcome, status)))
    Receiver(runtime, script=[503] * 6)
    other = Receiver(runtime, host="other.local")
    start = runtime.clock.now()
    for n in range(1, 7):  # six 503s in one minute: more than five trips the detector
        dispatcher.send(post(), make_ctx(n))
    dispatcher.send(post(), make_ctx(7))
    dispatcher.send(post("http://other.local/hook"), make_ctx(8))
    runtime.scheduler.run_until_idle()

    def attempts(n: int) -> list[tuple[float, int, str]]:
        return [((datetime.fromisoformat(e["time"]) - start).total_seconds(), e["status"], e["outcome"])
                for e in dispatcher.activity_log if e["dispatch_id"] == f"dispatch-{n}"]

    assert attempts(7) == [(0, HALTED_STATUS, "halted"), (60, 200, "sent")]
    assert attempts(1) == [(0, 503, "retry"), (30, HALTED_STATUS, "halted"), (90, 200, "sent")]
    assert attempts(8) == [(0, 200, "sent")]  # another host is not affected
    assert len(other.requests) == 1
    assert "is unhealthy" in dispatcher.activity_log[6]["error"]
    assert sorted(o[1] for o in outcomes) == ["sent"] * 8
    [halt] = runtime.journal.read(kinds=["webhook.host_unhealthy"])[0]
    assert halt.attrs["host"] == "hooks.local:80"


def test_failures_up_to_the_threshold_do_not_halt(runtime):
    dispatcher = WebhookDispatcher(runtime, unhealthy_threshold=5, unhealthy_window=60)
    Receiver(runtime, script=[503] * 5)
    for n in range(1, 7):
        dispatcher.send(post(), make_ctx(n))
    runtime.scheduler.run_until(runtime.clock.now())
    assert [e["status"] for e in dispatcher.activity_log] == [503] * 5 + [200]


def test_failures_outside_the_moving_window_do_not_count(runtime):
    dispatcher = WebhookDispatcher(runtime, unhealthy_threshold=1, unhealthy_window=20)
    receiver = Receiver(runtime, script=[503, 503, 503])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until_idle()
    assert gaps(receiver.times) == [30, 60, 120]  # 30 s apart or more: never two failures in 20 s
    assert HALTED_STATUS not in [e["status"] for e in dispatcher.activity_log]


# -- aborts and reset ----------------------------------------------------------------------------
def test_an_abort_is_recorded_and_never_sent(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime)
    ctx = make_ctx(canvas_id="cv-1", canvas_name="Onboarding", step_id="st-1", step_name="Day 1")
    dispatcher.record_abort(ctx, "no sendbird_id " + "x" * 200)
    runtime.scheduler.run_until_idle()

    assert receiver.requests == []
    assert outcomes == [("dispatch-1", "aborted", None)]
    [entry] = dispatcher.activity_log
    assert (entry["outcome"], entry["status"], entry["url"]) == ("aborted", None, None)
    assert entry["error"].startswith("no sendbird_id")
    [abort] = dispatcher.currents
    assert abort["event_type"] == "users.messages.webhook.Abort"
    assert abort["abort_type"] == "liquid_abort_message"
    assert abort["abort_log"] == ("no sendbird_id " + "x" * 200)[:128]
    assert (abort["canvas_id"], abort["canvas_step_name"]) == ("cv-1", "Day 1")
    assert [r.kind for r in runtime.journal.read(trace_id="trace-1")[0]] == ["webhook.aborted"]


def test_reset_cancels_pending_retries_and_forgets_everything(runtime, dispatcher, outcomes):
    receiver = Receiver(runtime, script=[503] * 10)
    dispatcher.send(post(), make_ctx())
    dispatcher.send(post(), make_ctx(2), at=runtime.clock.now() + timedelta(minutes=5))
    runtime.scheduler.run_until(runtime.clock.now())
    assert runtime.scheduler.pending == 2  # a retry and a scheduled first attempt

    dispatcher.reset()
    assert runtime.scheduler.pending == 0
    runtime.scheduler.run_until_idle()
    assert len(receiver.requests) == 1
    assert outcomes == []
    assert dispatcher.activity_log == [] and dispatcher.currents == [] and dispatcher.currents_ndjson() == ""


def test_reset_clears_host_health(runtime):
    dispatcher = WebhookDispatcher(runtime, unhealthy_threshold=0)
    Receiver(runtime, script=[503])
    dispatcher.send(post(), make_ctx())
    runtime.scheduler.run_until(runtime.clock.now())
    dispatcher.reset()
    dispatcher.send(post(), make_ctx(2))
    runtime.scheduler.run_until(runtime.clock.now())
    assert [e["status"] for e in dispatcher.activity_log] == [200]


# -- the records ---------------------------------------------------------------------------------
def test_activity_log_entries_carry_message_and_response_details(runtime, dispatcher):
    Receiver(runtime, script=[(400, {}, "E" * 1000)])
    ctx = make_ctx(canvas_id="cv-1", canvas_name="Onboarding", step_id="st-1", step_name="Day 1")
    dispatcher.send(WebhookRequest(HOOK_URL, "PUT", {}, "x"), ctx)
    runtime.scheduler.run_until_idle()
    [entry] = dispatcher.activity_log
    assert entry == {
        "time": "2026-01-01T00:00:00.000Z", "channel": "webhook", "dispatch_id": "dispatch-1",
        "campaign_id": "camp-1", "campaign_name": "Welcome", "canvas_id": "cv-1", "canvas_name": "Onboarding",
        "step_id": "st-1", "step_name": "Day 1", "braze_id": "braze-1", "external_id": "user-1",
        "trace_id": "trace-1", "url": HOOK_URL, "method": "PUT", "attempt": 1, "status": 400, "outcome": "failed",
        "error": "HTTP 400 BAD REQUEST", "response_body": "E" * 500, "next_attempt_at": None,
    }


def test_custom_events_are_exported_in_the_currents_shape(runtime, dispatcher):
    when = datetime.fromisoformat("2026-01-01T00:00:05.250+00:00")
    dispatcher.record_custom_event("braze-1", "user-1", "SENT", when, {"message_id": "m1"})
    [record] = dispatcher.currents
    assert set(record) == {"id", "event_type", "user_id", "external_user_id", "time", "name", "properties"}
    assert record["event_type"] == "users.behaviors.CustomEvent"
    assert (record["user_id"], record["external_user_id"], record["name"]) == ("braze-1", "user-1", "SENT")
    assert record["time"] == int(when.timestamp())
    assert record["properties"] == {"message_id": "m1"}


def test_currents_ndjson_is_one_object_per_line_and_filters_by_time(runtime, dispatcher):
    Receiver(runtime, script=[503, 404])
    dispatcher.send(post(), make_ctx(1))
    dispatcher.send(post(), make_ctx(2))
    dispatcher.record_abort(make_ctx(3), "skip")
    runtime.scheduler.run_until_idle()
    runtime.clock.advance(0.5)
    later = runtime.clock.now()
    dispatcher.record_custom_event("braze-1", None, "READ", later, {})

    text = dispatcher.currents_ndjson()
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [r["event_type"] for r in lines] == [
        "users.messages.webhook.Abort", "users.messages.webhook.Retry", "users.messages.webhook.Failure",
        "users.messages.webhook.Send", "users.behaviors.CustomEvent"]
    assert len({r["id"] for r in lines}) == 5
    assert all(isinstance(r["time"], int) for r in lines)
    assert [json.loads(line)["name"] for line in dispatcher.currents_ndjson(since=later).splitlines()] == ["READ"]


def test_the_same_seed_gives_the_same_export():
    def run() -> str:
        rt = Runtime.simulation(seed=1)
        Receiver(rt, script=[503, 429])
        dispatcher = WebhookDispatcher(rt)
        dispatcher.send(post(), make_ctx())
        dispatcher.record_abort(make_ctx(2), "because")
        rt.scheduler.run_until_idle()
        rt.close()
        return dispatcher.currents_ndjson()

    assert run() == run()
