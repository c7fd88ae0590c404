"""No task dies silently (docs/bridge.md, "When something breaks"): whatever a send, a batch flush or a callback
flush raises, the rows it held leave `sending`/`posting` (retried, checked or set aside with a reason) and the
journal says what happened."""

from __future__ import annotations

import sqlite3

import pytest
import requests

from .conftest import Outbound, sendbird_error, webhook_body


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_any_request_exception_is_a_failed_call_that_is_retried(make_outbound, mode: str):
    error = requests.RequestException("something else")
    out = make_outbound(batch_linger_ms=100)
    out.sendbird.then(error)
    out.accept(mode, webhook_body("m1", "u1"))
    if mode == "batch":
        out.accept(mode, webhook_body("m2", "u2"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert {out.state(m) for m in (["m1"] if mode == "realtime" else ["m1", "m2"])} == {"sent"}
    reasons = {r["reason"] for r in out.journal("sendbird.retry")}
    assert reasons == {f"request failed: {type(error).__name__}: {error}"}


@pytest.mark.parametrize("error", [requests.exceptions.ChunkedEncodingError("connection broken: incomplete read"),
                                   requests.exceptions.ContentDecodingError("bad gzip")],
                         ids=["chunked-encoding", "content-decoding"])
@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_an_answer_broken_off_is_checked_in_the_feed_then_sent_again_when_absent(make_outbound, error: Exception,
                                                                                  mode: str):
    out = make_outbound(batch_linger_ms=100)
    out.sendbird.then(error)
    ids = ["m1"] if mode == "realtime" else ["m1", "m2"]
    for i, message_id in enumerate(ids):
        out.accept(mode, webhook_body(message_id, f"u{i + 1}"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert {out.state(m) for m in ids} == {"sent"}
    assert {r["reason"] for r in out.journal("sendbird.unknown")} == {f"answer broken off: {error}"}
    assert len(out.journal("recovery.absent")) == len(ids)


def test_an_uncallable_braze_endpoint_sets_the_callbacks_aside_instead_of_leaving_them_posting(out: Outbound):
    """What an endpoint set before URLs were checked (or set around the check) did: requests raised
    MissingSchema inside the callback flush, and the callbacks stayed `posting` even after the fix."""
    out.bridge.integration.braze_rest_endpoint = "notaurl"  # around the check, as an old version allowed
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_dead": 1}
    [letter] = out.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1:SENT" and "MissingSchema" in letter["reason"] and "notaurl" in letter["reason"]
    fixed = out.client.put("/_admin/integration", json={"braze_rest_endpoint": "http://braze.test"})
    assert fixed.status_code == 200
    assert out.client.post("/_admin/dead_letters/replay").status_code == 200
    out.run()
    assert [e["properties"]["message_id"] for e in out.events()] == ["m1"]
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}


# -- anything else that escapes a send, a flush or a callback post ----------------------------------------------


def task_errors(out: Outbound) -> list[dict]:
    return out.journal("bridge.task_error")


def fail_once(target: object, name: str, error: Exception) -> None:
    """`target.name` raises `error` on its first call, then behaves as before."""
    original = getattr(target, name)
    calls = []

    def once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return original(*args, **kwargs)

    setattr(target, name, once)


def test_an_exception_from_the_http_client_is_journaled_and_the_send_checked_not_guessed(out: Outbound):
    """The client broke somewhere inside the call: the request may or may not have reached Sendbird, so the
    webhook goes to the feed check, which finds it absent here and sends it once."""
    fail_once(out.bridge.http, "request", RuntimeError("boom in the client"))
    out.accept("realtime", webhook_body("m1", "ada", variables={"m": "m1"}), "trace-1")
    out.run()
    [error] = task_errors(out)
    assert error["task"] == "send" and error["error"] == "RuntimeError: boom in the client"
    assert error["message_ids"] == ["m1"] and error["action"] == "checked against the feed"
    assert error["traceback"] and all(" in " in frame for frame in error["traceback"])
    assert any("once" in frame for frame in error["traceback"])  # the innermost frame: where it was raised
    assert [r["message_id"] for r in out.journal("recovery.absent")] == ["m1"]
    assert out.state("m1") == "sent" and out.delivered("m1") == 1 and len(out.sendbird.calls) == 1


def test_an_exception_after_sendbird_took_the_send_does_not_send_it_twice(out: Outbound):
    def delivered_then_broken(call):
        out._sendbird_ok(call)
        return RuntimeError("the answer was lost")
    out.sendbird.then(delivered_then_broken)
    out.accept("realtime", webhook_body("m1", "ada", variables={"m": "m1"}))
    out.run()
    assert [e["error"] for e in task_errors(out)] == ["RuntimeError: the answer was lost"]
    assert [r["message_id"] for r in out.journal("recovery.delivered")] == ["m1"]
    assert out.delivered("m1") == 1 and len(out.sendbird.calls) == 1
    assert out.bridge.outbox.webhook("m1").notification_id == "noti-1"
    assert [e["properties"]["message_id"] for e in out.events()] == ["m1"]


@pytest.mark.parametrize(("mode", "commit", "sends"), [("batch", "mark_sent", 1), ("realtime", "mark_each_sent", 3)])
def test_an_exception_while_committing_sent_rows_leaves_them_to_the_feed_check(make_outbound, mode: str, commit: str,
                                                                               sends: int):
    """A batch's rows are marked in one commit, and realtime sends several to a commit; when that commit breaks,
    every row went to Sendbird, so each is checked against the feed, found, and sent once."""
    out = make_outbound(batch_linger_ms=100)
    fail_once(out.bridge.outbox, commit, sqlite3.OperationalError("disk I/O error"))
    for i in range(3):
        out.accept(mode, webhook_body(f"m{i}", f"u{i}", variables={"m": f"m{i}"}))
    out.run()
    assert [e["error"] for e in task_errors(out)] == ["OperationalError: disk I/O error"]
    assert {out.state(f"m{i}") for i in range(3)} == {"sent"}
    assert [out.delivered(f"m{i}") for i in range(3)] == [1, 1, 1] and len(out.sendbird.calls) == sends
    assert sorted(r["message_id"] for r in out.journal("recovery.delivered")) == ["m0", "m1", "m2"]
    assert sorted(e["properties"]["message_id"] for e in out.events()) == ["m0", "m1", "m2"]


def test_a_break_after_a_retry_was_committed_still_plans_the_retry(out: Outbound):
    """Sendbird answered 503, the bridge released the row for a retry, then broke before planning it: the
    row is pending (not checked: it never arrived) and its retry still happens, once."""
    journal = out.bridge.journal
    broken = []

    def journal_breaking_once(kind, *args, **kwargs):
        if kind == "sendbird.retry" and not broken:
            broken.append(kind)
            raise RuntimeError("journal full")
        return journal(kind, *args, **kwargs)

    out.bridge.journal = journal_breaking_once
    out.sendbird.then(sendbird_error(503, 500901, "Service unavailable."))
    out.accept("realtime", webhook_body("m1", "ada", variables={"m": "m1"}))
    out.run()
    assert [e["error"] for e in task_errors(out)] == ["RuntimeError: journal full"]
    assert out.journal("recovery.absent") == [] and out.feed.calls == []
    assert out.state("m1") == "sent" and out.delivered("m1") == 1
    assert out.sendbird.offsets() == [0.0, pytest.approx(0.25, abs=1e-6)]


def test_a_bug_before_the_request_left_is_a_dead_letter_with_the_reason(out: Outbound):
    fail_once(out.bridge, "_request", KeyError("template_key"))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert out.sendbird.calls == [] and out.state("m1") == "dead"
    [error] = task_errors(out)
    assert (error["task"], error["action"], error["error"]) == ("send", "dead letter", "KeyError: 'template_key'")
    [letter] = out.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1" and "KeyError" in letter["reason"]
    assert out.client.post("/_admin/dead_letters/replay").status_code == 200
    out.run()
    assert out.state("m1") == "sent"


def test_a_transient_error_before_the_request_left_is_retried_with_backoff(out: Outbound):
    fail_once(out.bridge, "_request", OSError("too many open files"))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    [error] = task_errors(out)
    assert error["action"] == "retried"
    [retry] = out.journal("sendbird.retry")
    assert "OSError: too many open files" in retry["reason"] and retry["delay_seconds"] == 0.25
    assert out.state("m1") == "sent" and len(out.sendbird.calls) == 1
    assert out.sendbird.calls[0].offset() == pytest.approx(0.25, abs=1e-6)


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_a_failing_claim_is_journaled_and_the_task_runs_again(make_outbound, mode: str):
    out = make_outbound(batch_linger_ms=100)
    claim = "claim_realtime" if mode == "realtime" else "claim_group"
    fail_once(out.bridge.outbox, claim, sqlite3.OperationalError("database is locked"))
    out.accept(mode, webhook_body("m1", "u1"))
    if mode == "batch":
        out.accept(mode, webhook_body("m2", "u2"))
    out.run()
    [error] = task_errors(out)
    assert error["task"] == ("send" if mode == "realtime" else "batch_flush") and error["action"] == "task retried"
    assert {out.state(m) for m in (["m1"] if mode == "realtime" else ["m1", "m2"])} == {"sent"}
    assert len(out.sendbird.calls) == 1


def test_a_transient_error_in_a_callback_post_puts_the_callbacks_back_to_pending(out: Outbound):
    fail_once(out.bridge, "_post_callbacks", OSError("network is down"))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    [error] = task_errors(out)
    assert (error["task"], error["action"]) == ("callback_flush", "retried")
    assert [r["message_id"] for r in out.journal("callback.retry")] == ["m1"]
    assert [e["properties"]["message_id"] for e in out.events()] == ["m1"]
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}


def test_a_bug_in_a_callback_post_sets_the_callbacks_aside_not_posting(out: Outbound):
    fail_once(out.bridge, "_post_callbacks", TypeError("unhashable type: 'dict'"))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_dead": 1}
    [letter] = out.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1:SENT" and "TypeError" in letter["reason"]
    assert [r["trace_id"] for r in out.journal("callback.dead")] == ["trace-1"]
    assert out.client.post("/_admin/dead_letters/replay").status_code == 200
    out.run()
    assert [e["properties"]["message_id"] for e in out.events()] == ["m1"]


def test_task_errors_are_counted_in_the_metrics(out: Outbound):
    fail_once(out.bridge, "_post_callbacks", OSError("network is down"))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    metrics = out.client.get("/metrics").get_data(as_text=True)
    assert 'bridge_task_errors_total{task="callback_flush"} 1.0' in metrics
