"""Callbacks whose post may or may not have reached Braze are settled by Braze's event count, never by a guess
(docs/bridge.md, "Exactly once"): Braze takes no idempotency key and does not deduplicate events, so a
callback left `posting` by a killed process, or whose answer was lost, is posted again only when
`/users/export/ids` proves it absent, and exactly one event per (message_id, status) reaches Braze."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
import requests

from bridge.outbox import Outbox

from .conftest import BRAZE_AUTH, Call, Outbound, Stack, webhook_body
from .test_faults_pipeline import assert_each_user_got_one_notification_and_one_sent, campaign_to_everyone
from .test_integration import Restartable

EVENT = "promo_status"


@pytest.fixture
def restartable(stack: Stack, tmp_path: Path) -> Restartable:
    return Restartable(stack, tmp_path / "bridge.sqlite3")


def keys_at_braze(stack: Stack) -> Counter:
    return Counter((e["properties"]["message_id"], e["properties"]["status"]) for e in stack.braze_events())


def interrupted_post(restartable: Restartable, message_id: str, receiver: str, reached: bool) -> None:
    """The old process sent the webhook, committed its SENT callback and claimed it for posting; the post
    reached Braze (or not), and the process died before it could commit the answer."""
    row = restartable.accept_and_claim(webhook_body(message_id, receiver), f"trace-{message_id}")
    bridge = restartable.bridge
    bridge._send([row], "realtime")
    bridge.mark_realtime()
    bridge.tasks.cancel_all()
    posting = bridge.outbox.claim_callbacks(75, bridge.now())
    assert [c.key for c in posting] == [(message_id, "SENT")]
    if reached:
        answer = restartable.stack.braze_client.post("/users/track", json={"events": [c.event for c in posting]},
                                                     headers=BRAZE_AUTH)
        assert answer.status_code == 201, answer.get_json()


# -- kill -9 between Braze's 201 and the local commit ------------------------------------------------------------

def test_an_interrupted_post_that_reached_braze_is_not_posted_again(restartable: Restartable):
    stack = restartable.stack
    interrupted_post(restartable, "m1", "ada", reached=True)
    bridge = restartable.restart()
    assert bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_checking": 1}
    stack.run()
    assert keys_at_braze(stack) == Counter({("m1", "SENT"): 1})
    assert bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}
    [landed] = stack.journal("callback.check.landed", "bridge")
    assert (landed["message_id"], landed["trace_id"], landed["braze_count"], landed["landed"]) == (
        "m1", "trace-m1", 1, 1)
    assert stack.journal("callback.posted", "bridge") == []
    [recovered] = stack.journal("callback.recovered", "bridge")
    assert (recovered["count"], recovered["state"]) == (1, "checking")


def test_an_interrupted_post_that_never_reached_braze_is_posted_once(restartable: Restartable):
    stack = restartable.stack
    interrupted_post(restartable, "m1", "ada", reached=False)
    bridge = restartable.restart()
    stack.run()
    assert keys_at_braze(stack) == Counter({("m1", "SENT"): 1})
    assert bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}
    assert [r["message_id"] for r in stack.journal("callback.check.absent", "bridge")] == ["m1"]
    assert [r["message_id"] for r in stack.journal("callback.posted", "bridge")] == ["m1"]


def test_a_user_with_earlier_posted_events_is_counted_past_them(restartable: Restartable):
    """Braze's count holds the user's earlier events too: only what exceeds the outbox's posted ones landed."""
    stack = restartable.stack
    assert stack.post("realtime", webhook_body("m0", "ada"), "trace-m0").status_code == 200
    stack.run()  # m0's SENT posted and committed
    interrupted_post(restartable, "m1", "ada", reached=False)
    restartable.restart()
    stack.run()
    assert keys_at_braze(stack) == Counter({("m0", "SENT"): 1, ("m1", "SENT"): 1})
    [absent] = stack.journal("callback.check.absent", "bridge")
    assert (absent["braze_count"], absent["posted"], absent["landed"]) == (1, 1, 0)


# -- an answer lost after the request left -----------------------------------------------------------------------

def test_a_post_whose_answer_timed_out_after_braze_recorded_it_is_not_doubled(out: Outbound):
    out.braze.then(out.braze_lost_answer())
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert out.recorded_keys() == [("m1", "SENT")]
    assert len(out.braze.calls) == 1 and len(out.export.calls) == 1
    assert out.export.calls[0].body == {"external_ids": ["u1"], "fields_to_export": ["custom_events", "external_id"]}
    assert out.export.calls[0].headers["Authorization"] == "Bearer local-braze-key"
    assert [r["trace_id"] for r in out.journal("callback.unknown")] == ["trace-1"]
    assert [r["message_id"] for r in out.journal("callback.check.landed")] == ["m1"]
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}


@pytest.mark.parametrize("lost", [requests.ConnectionError("connection reset by peer"),
                                  requests.exceptions.ChunkedEncodingError("answer broken off")])
def test_a_post_whose_connection_broke_after_braze_recorded_it_is_not_doubled(out: Outbound, lost: Exception):
    out.braze.then(out.braze_lost_answer(lost))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert out.recorded_keys() == [("m1", "SENT")]
    assert out.journal("callback.check.landed") and not out.journal("callback.retry")


def test_a_post_that_timed_out_before_braze_recorded_it_is_posted_once_more(out: Outbound):
    out.braze.then(requests.ReadTimeout("no answer in time"))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert out.recorded_keys() == [("m1", "SENT")] and len(out.braze.calls) == 2
    assert [r["message_id"] for r in out.journal("callback.check.absent")] == ["m1"]


def test_some_of_a_users_events_landed_the_oldest_are_marked_posted_the_rest_posted_again(out: Outbound):
    """Braze recorded only the first of two events of one user (the count cannot say which): the oldest
    checking callback is taken as landed, the other is posted again, and the journal says so."""
    def first_only(call: Call):
        out.recorded.append(call.body["events"][0])
        return requests.ReadTimeout("no answer in time")

    out.bridge.set_paused(True)
    out.accept("realtime", webhook_body("m1"))
    out.accept("realtime", webhook_body("m2", campaign_id="camp-2"))
    out.braze.then(first_only)
    out.bridge.set_paused(False)
    out.run()
    assert sorted(out.recorded_keys()) == [("m1", "SENT"), ("m2", "SENT")]
    [landed] = out.journal("callback.check.landed")
    [absent] = out.journal("callback.check.absent")
    assert (landed["message_id"], absent["message_id"]) == ("m1", "m2")
    assert (landed["landed"], landed["checking"]) == (1, 2) and (absent["landed"], absent["checking"]) == (1, 2)


def test_a_braze_reset_under_a_kept_outbox_posts_again(out: Outbound):
    """Posted rows of a previous world (Braze reset, outbox kept) exceed Braze's count: landed <= 0, posted
    again, which is right for an event that did not land in this world."""
    out.accept("realtime", webhook_body("m1"))
    out.run()
    out.recorded.clear()  # Braze reset
    out.braze.then(requests.ReadTimeout("no answer in time"))  # m2's first post never landed
    out.accept("realtime", webhook_body("m2"))
    out.run()
    assert out.recorded_keys() == [("m2", "SENT")]
    [absent] = out.journal("callback.check.absent")
    assert (absent["braze_count"], absent["posted"], absent["landed"]) == (0, 1, -1)


# -- the check failing -------------------------------------------------------------------------------------------

def test_a_check_that_fails_is_retried_honouring_retry_after_then_settles(out: Outbound):
    out.braze.then(out.braze_lost_answer())
    out.export.then((429, {"Retry-After": "7"}, {"message": "API rate limit exceeded"}),
                    (503, {}, "<html>Service Unavailable</html>"), requests.ReadTimeout("no answer in time"))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert out.recorded_keys() == [("m1", "SENT")] and len(out.braze.calls) == 1
    assert len(out.export.calls) == 4
    gaps = out.export.gaps()
    assert gaps[0] >= 7.0  # Retry-After, over the 0.25 s backoff
    assert gaps[1] == pytest.approx(0.5) and gaps[2] == pytest.approx(1.0)  # the backoff, jitter pinned to 0
    unknown = out.journal("callback.check.unknown")
    assert [r["checks"] for r in unknown] == [1, 2, 3] and "429" in unknown[0]["reason"]
    [landed] = out.journal("callback.check.landed")
    assert landed["checks"] == 4


def test_a_check_that_never_succeeds_goes_to_the_dead_letters_unposted(out: Outbound):
    out.braze.then(out.braze_lost_answer())
    out.export.default = lambda call: (503, {}, {"message": "down"})
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert len(out.export.calls) == 20 and len(out.braze.calls) == 1
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_dead": 1}
    [letter] = out.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1:SENT" and "20 checks" in letter["reason"] and "HTTP 503" in letter["reason"]
    assert [r["trace_id"] for r in out.journal("callback.check.gave_up")] == ["trace-1"]
    assert [r["trace_id"] for r in out.journal("callback.dead")] == ["trace-1"]


def test_a_key_refused_for_the_export_sets_the_callback_aside_at_once(out: Outbound):
    out.braze.then(out.braze_lost_answer())
    out.export.then((401, {}, {"message": "Invalid API key: local-braze-key"}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.export.calls) == 1
    [letter] = out.bridge.outbox.dead_letters()
    assert "Braze refused the check" in letter["reason"] and "401" in letter["reason"]


def test_an_unreadable_export_answer_proves_nothing(out: Outbound):
    out.braze.then(out.braze_lost_answer())
    out.export.then((201, {}, {"message": "success"}), (201, {}, {"users": [], "message": "success"}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    reasons = [r["reason"] for r in out.journal("callback.check.unknown")]
    assert len(reasons) == 2 and "without a list of users" in reasons[0] and "says nothing of 'u1'" in reasons[1]
    assert out.recorded_keys() == [("m1", "SENT")]


def test_checks_ask_for_at_most_50_users_at_a_time(out: Outbound):
    out.bridge.set_paused(True)
    for i in range(60):
        out.accept("realtime", webhook_body(f"m{i}", receiver=f"u{i:02d}"))
    out.braze.then(out.braze_lost_answer())
    out.bridge.set_paused(False)
    out.run()
    assert [len(c.body["external_ids"]) for c in out.export.calls] == [50, 10]
    assert Counter(out.recorded_keys()) == Counter({(f"m{i}", "SENT"): 1 for i in range(60)})


def test_a_check_pending_over_a_restart_is_done_by_the_next_process(make_outbound, tmp_path: Path):
    out = make_outbound(db=str(tmp_path / "bridge.sqlite3"))
    out.braze.then(out.braze_lost_answer())
    out.export.default = lambda call: (503, {}, {"message": "down"})
    out.accept("realtime", webhook_body("m1"))
    out.run_for(2.0)
    assert out.bridge.outbox.depth()["callbacks_checking"] == 1
    out.export.default = out._export_ok
    out.restart()
    out.run()
    assert out.recorded_keys() == [("m1", "SENT")]
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}


def test_an_event_braze_refuses_in_a_201_is_a_dead_letter_not_posted(out: Outbound):
    """`posted` must mean "Braze recorded it", or the count the check relies on drifts."""
    out.braze.then(lambda call: (201, {}, {"message": "success", "events_processed": 0,
                                           "errors": [{"type": "'time' must be a valid time", "input_array": "events",
                                                       "index": 0}]}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    [letter] = out.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1:SENT" and "'time' must be a valid time" in letter["reason"]
    assert out.journal("callback.partial") and not out.journal("callback.posted")


# -- an outbox file from before the check ------------------------------------------------------------------------

OLD_CALLBACKS = """
CREATE TABLE callbacks (message_id TEXT NOT NULL, status TEXT NOT NULL, external_id TEXT NOT NULL,
    event TEXT NOT NULL, trace_id TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (message_id, status));
INSERT INTO callbacks VALUES ('m1', 'SENT', 'u1', '{"external_id": "u1", "name": "e"}', 't', 'posting', 1, 0, 0);
INSERT INTO callbacks VALUES ('m0', 'SENT', 'u1', '{"external_id": "u1", "name": "e"}', 't', 'posted', 1, 0, 0);
"""


def test_an_outbox_written_before_the_check_opens_and_checks_its_posting_callbacks(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as db:  # closed now: a GC-tuned process keeps a dropped one, and its lock
        db.executescript(OLD_CALLBACKS)
    outbox = Outbox(path)
    try:
        assert outbox.recover_callbacks(5.0) == 1
        [row] = outbox.checking_callbacks(5.0, 50)
        assert (row.key, row.checks) == (("m1", "SENT"), 0)
        assert outbox.posted_counts([("u1", "e")]) == {("u1", "e"): 1}
    finally:
        outbox.close()


# -- faults on Braze's /users/track, the whole pipeline ----------------------------------------------------------

@pytest.fixture
def env():
    stack = Stack(seed=11, batch_linger_ms=200)
    yield stack
    stack.runtime.close()


@pytest.mark.parametrize("effect", [{"latency_ms": 60_000}, {"malformed": True}, {"hang": True}])
@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_braze_losing_callback_answers_doubles_no_event(env: Stack, mode: str, effect: dict):
    """An answer too late for the bridge (Braze recorded the events), cut short (recorded too), or never given
    (not recorded): each event reaches Braze exactly once."""
    rule = {"match": {"path": "/users/track"}, "count": 2, "effect": effect, "name": "lost"}
    users = campaign_to_everyone(env, mode, faults=(("braze", rule),))
    assert sum(1 for r in env.journal("fault.fired") if r["name"] == "lost") >= 1
    assert env.journal("callback.unknown", "bridge")
    assert_each_user_got_one_notification_and_one_sent(env, users)
    verdict = "callback.check.absent" if "hang" in effect else "callback.check.landed"
    assert env.journal(verdict, "bridge")


def test_a_users_callbacks_wait_while_one_of_theirs_is_checked_and_others_go_on(out: Outbound):
    """Two posts of one user lost in a row would leave Braze's count unable to say which of them landed: so a
    user's next callbacks wait for the check; other users' are posted meanwhile."""
    out.braze.then(out.braze_lost_answer())
    out.export.then((503, {}, {"message": "down"}), (503, {}, {"message": "down"}))
    out.accept("realtime", webhook_body("m1", "u1"))
    out.run_for(0.1)
    assert out.bridge.outbox.depth()["callbacks_checking"] == 1
    out.accept("realtime", webhook_body("m2", "u1"))
    out.accept("realtime", webhook_body("m3", "u2"))
    out.run_for(0.1)
    assert out.recorded_keys() == [("m1", "SENT"), ("m3", "SENT")]  # m2 waits for u1's check
    out.run()
    assert out.recorded_keys() == [("m1", "SENT"), ("m3", "SENT"), ("m2", "SENT")]
    assert [r["message_id"] for r in out.journal("callback.check.landed")] == ["m1"]
