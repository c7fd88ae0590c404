"""Every outbound call of the bridge, answered by `responses` (docs/bridge.md, "Outbound").

The bridge runs on a simulated clock with the real HTTP transport: `responses` sees each request, and
the test moves time with the scheduler, so linger, backoff and rate-limit waits are exact numbers.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
import requests

from bridge.service import BACKOFF_CAP, MAX_ATTEMPTS
from harness.clock import to_ms
from harness.ids import IdFactory

from .conftest import (
    API_TOKEN,
    BRAZE,
    BRAZE_KEY,
    SEND_URL,
    SENDBIRD_TOKEN,
    T0,
    TRACK_URL,
    Endpoint,
    Outbound,
    iso,
    read_webhook,
    sendbird_error,
    sign,
    webhook_body,
)

# -- realtime ---------------------------------------------------------------------------------------


def test_realtime_webhook_becomes_one_realtime_send_at_once(out: Outbound):
    answer = out.accept("realtime", webhook_body("m1", "ada", variables={"name": "Ada", "plan": "Pro"}), "trace-1")
    assert answer == {"message_id": "m1", "status": "accepted", "mode": "realtime"}
    out.run()
    assert len(out.sendbird.calls) == 1
    call = out.sendbird.calls[0]
    assert call.url == SEND_URL
    assert call.at == T0  # at once: no linger for realtime
    assert call.headers["Api-Token"] == SENDBIRD_TOKEN
    assert call.headers["X-Trace-Id"] == "trace-1"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.body == {"template": {"key": "promo", "variables": {"ada": {"name": "Ada", "plan": "Pro"}}},
                         "mode": "realtime", "targets": ["ada"]}
    assert out.state("m1") == "sent"
    assert out.bridge.outbox.webhook("m1").notification_id == "noti-1"


def test_realtime_send_carries_label_and_tags_and_no_trace_header_without_a_trace(out: Outbound):
    out.accept("realtime", webhook_body("m1", "ada", variables={}, label="promo", tags=["spring", "sale"]))
    out.run()
    call = out.sendbird.calls[0]
    assert "X-Trace-Id" not in call.headers
    assert call.body == {"template": {"key": "promo", "variables": {"ada": {}}}, "mode": "realtime",
                         "targets": ["ada"], "label": "promo", "tags": ["spring", "sale"]}


def test_each_realtime_webhook_is_its_own_send(out: Outbound):
    for i in range(3):
        out.accept("realtime", webhook_body(f"m{i}", "ada", variables={"n": i}), f"t{i}")
    out.run()
    assert [c.body["mode"] for c in out.sendbird.calls] == ["realtime"] * 3
    assert [c.body["template"]["variables"] for c in out.sendbird.calls] == [{"ada": {"n": i}} for i in range(3)]
    assert [c.headers["X-Trace-Id"] for c in out.sendbird.calls] == ["t0", "t1", "t2"]


# -- batch ------------------------------------------------------------------------------------------


def test_batch_leaves_as_one_batch_send_with_variables_keyed_by_receiver(make_outbound):
    out = make_outbound(batch_linger_ms=1000)
    for i, user in enumerate(["u1", "u2", "u3"]):
        out.accept("batch", webhook_body(f"m{i}", user, variables={"name": user.upper()}, label="news",
                                         tags=["a", "b"]), f"trace-{i}")
    out.run()
    assert len(out.sendbird.calls) == 1
    call = out.sendbird.calls[0]
    assert call.url == SEND_URL and call.headers["Api-Token"] == SENDBIRD_TOKEN
    assert "X-Trace-Id" not in call.headers  # one send for many traces
    assert call.body == {"template": {"key": "promo", "variables": {"u1": {"name": "U1"}, "u2": {"name": "U2"},
                                                                    "u3": {"name": "U3"}}},
                         "mode": "batch", "targets": ["u1", "u2", "u3"], "label": "news", "tags": ["a", "b"]}
    assert {out.state(f"m{i}") for i in range(3)} == {"sent"}


def test_batch_leaves_when_its_oldest_webhook_has_lingered(make_outbound):
    out = make_outbound(batch_linger_ms=1000)
    out.accept("batch", webhook_body("m1", "u1"))
    out.advance(0.4)
    out.accept("batch", webhook_body("m2", "u2"))
    out.run_for(0.5)  # T0 + 0.9 s: not yet
    assert out.sendbird.calls == []
    out.run()
    assert out.sendbird.offsets() == [1.0]  # the oldest webhook's linger, not the newest's
    assert out.sendbird.calls[0].body["targets"] == ["u1", "u2"]


def test_batch_leaves_at_once_when_the_group_reaches_batch_max(make_outbound):
    out = make_outbound(batch_max=3, batch_linger_ms=60_000)
    for i in range(3):
        out.accept("batch", webhook_body(f"m{i}", f"u{i}"))
    out.run()
    assert out.sendbird.offsets() == [0.0]
    assert out.sendbird.calls[0].body["mode"] == "batch"
    assert out.sendbird.calls[0].body["targets"] == ["u0", "u1", "u2"]


def test_batch_max_caps_each_send_and_the_remainder_waits_for_its_linger(make_outbound):
    """docs/bridge.md: a group leaves when it reaches --batch-max or its oldest webhook has waited
    --batch-linger-ms. After a full batch leaves, the 2 left over have done neither."""
    out = make_outbound(batch_max=3, batch_linger_ms=5000)
    for i in range(5):
        out.accept("batch", webhook_body(f"m{i}", f"u{i}"))
    out.run()
    assert [len(c.body["targets"]) for c in out.sendbird.calls] == [3, 2]
    assert max(len(c.body["targets"]) for c in out.sendbird.calls) <= 3
    assert out.sendbird.offsets() == [0.0, 5.0]


def test_a_group_of_one_leaves_as_realtime(make_outbound):
    out = make_outbound(batch_linger_ms=250)
    out.accept("batch", webhook_body("m1", "solo", variables={"name": "Solo"}), "trace-solo")
    out.run()
    assert out.sendbird.offsets() == [0.25]
    call = out.sendbird.calls[0]
    assert call.body == {"template": {"key": "promo", "variables": {"solo": {"name": "Solo"}}}, "mode": "realtime",
                         "targets": ["solo"]}
    assert call.headers["X-Trace-Id"] == "trace-solo"


def test_the_same_receiver_twice_splits_across_batches(make_outbound):
    out = make_outbound(batch_linger_ms=1000)
    out.accept("batch", webhook_body("m1", "u1", variables={"n": 1}))
    out.accept("batch", webhook_body("m2", "u2", variables={"n": 2}))
    out.accept("batch", webhook_body("m3", "u1", variables={"n": 3}))
    out.accept("batch", webhook_body("m4", "u3", variables={"n": 4}))
    out.run()
    bodies = out.sendbird.bodies
    assert len(bodies) == 2
    for body in bodies:
        assert len(body["targets"]) == len(set(body["targets"]))  # each receiver once per send
    assert bodies[0] == {"template": {"key": "promo", "variables": {"u1": {"n": 1}, "u2": {"n": 2}, "u3": {"n": 4}}},
                         "mode": "batch", "targets": ["u1", "u2", "u3"]}
    assert bodies[1] == {"template": {"key": "promo", "variables": {"u1": {"n": 3}}}, "mode": "realtime",
                         "targets": ["u1"]}
    assert {out.state(f"m{i}") for i in range(1, 5)} == {"sent"}
    assert len({out.bridge.outbox.webhook(m).notification_id for m in ("m1", "m3")}) == 2


@pytest.mark.parametrize("field,other", [("template_key", "other-template"), ("event_name", "other_event"),
                                         ("label", "other-label"), ("tags", ["other-tag"])])
def test_webhooks_that_differ_in_template_event_label_or_tags_leave_separately(make_outbound, field, other):
    out = make_outbound(batch_linger_ms=1000)
    same = {"label": "l", "tags": ["t"]}
    changed = {**same, field: other}
    out.accept("batch", webhook_body("a1", "u1", **same))
    out.accept("batch", webhook_body("a2", "u2", **same))
    out.accept("batch", webhook_body("b1", "u3", **changed))
    out.accept("batch", webhook_body("b2", "u4", **changed))
    out.run()
    assert len(out.sendbird.calls) == 2
    by_targets = {tuple(b["targets"]): b for b in out.sendbird.bodies}
    assert set(by_targets) == {("u1", "u2"), ("u3", "u4")}
    assert all(b["mode"] == "batch" for b in out.sendbird.bodies)
    first, second = by_targets[("u1", "u2")], by_targets[("u3", "u4")]
    if field == "template_key":
        assert (first["template"]["key"], second["template"]["key"]) == ("promo", "other-template")
    elif field in ("label", "tags"):
        assert (first[field], second[field]) == ({"label": "l", "tags": ["t"]}[field], other)


# -- Sendbird retries -------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried_no_sooner_than_asked(out: Outbound):
    out.sendbird.then(sendbird_error(429, 500910, "Too many requests.", {"Retry-After": "7"}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert out.sendbird.gaps() == [pytest.approx(7.0, abs=1e-6)]
    assert out.sendbird.bodies[0] == out.sendbird.bodies[1]
    assert out.state("m1") == "sent"
    retry = out.journal("sendbird.retry")
    assert len(retry) == 1 and retry[0]["message_id"] == "m1" and retry[0]["delay_seconds"] == 7.0


def test_429_with_x_ratelimit_reset_waits_until_the_reset(out: Outbound):
    reset = int(out.epoch(12))
    out.sendbird.then(sendbird_error(429, 500910, "Too many requests.",
                                     {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert out.sendbird.gaps()[0] >= 12.0 - 1e-6


def test_retry_waits_for_the_later_of_retry_after_and_x_ratelimit_reset(out: Outbound):
    """docs/bridge.md: retries are "never sooner than `Retry-After` or `X-RateLimit-Reset` ask"."""
    reset = int(out.epoch(10))
    out.sendbird.then(sendbird_error(429, 500910, "Too many requests.", {
        "Retry-After": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert out.sendbird.gaps()[0] >= 10.0 - 1e-6


def test_backoff_is_half_to_full_of_a_doubling_ceiling_capped_at_300_seconds(out: Outbound):
    """The jitter itself, with the runtime's seeded randomness: 0.5 s doubling, capped, half..full."""
    out.bridge.runtime.ids = IdFactory(7)
    for attempts in range(1, 16):
        ceiling = min(BACKOFF_CAP, 0.5 * 2 ** (attempts - 1))
        delays = [out.bridge.backoff(attempts, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling / 10  # jittered
    assert out.bridge.backoff(1, 42.0) == 42.0  # never sooner than the server asks


@pytest.mark.parametrize("jitter", [0.0, 0.5])
def test_5xx_backoff_starts_at_a_quarter_to_half_a_second_and_doubles(make_outbound, jitter: float):
    """0.5 s doubling, jittered to half..full: with the jitter pinned at `j`, the k-th retry waits
    exactly (0.5 + 0.5 j) * 0.5 * 2^(k-1) s: 0.25, 0.5, 1, 2, ... for j = 0."""
    out = make_outbound(jitter=jitter)
    failures = 6
    out.sendbird.then(*[sendbird_error(503, 500901, "Service unavailable.")] * failures)
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.sendbird.calls) == failures + 1
    assert out.state("m1") == "sent"
    gaps = out.sendbird.gaps()
    assert 0.25 <= gaps[0] <= 0.5
    expected = [(0.5 + 0.5 * jitter) * 0.5 * 2 ** k for k in range(failures)]
    assert gaps == pytest.approx(expected, abs=1e-6)


def test_every_retried_webhook_is_sent_again_with_real_jitter(make_outbound):
    """Each of 12 realtime webhooks meets one 503 and must be sent on its retry. The retry task is
    scheduled at a time rounded to the clock's microsecond, while the row's `next_attempt_at` keeps the
    unrounded float: when the rounding goes down, `claim()` finds the row not yet due and the retry is
    silently dropped (the row stays `pending` with nothing scheduled)."""
    out = make_outbound(jitter=None)
    out.sendbird.then(*[sendbird_error(503, 500901, "Service unavailable.")] * 12)
    for i in range(12):
        out.accept("realtime", webhook_body(f"m{i}", f"u{i}"))
    out.run()
    assert len(out.journal("sendbird.retry")) == 12
    stuck = [f"m{i}" for i in range(12) if out.state(f"m{i}") != "sent"]
    assert stuck == []
    assert len(out.sendbird.calls) == 24


@pytest.mark.parametrize("target", ["batch", "callback"])
def test_batch_and_callback_retries_do_not_spin_at_one_instant(make_outbound, target: str):
    """A batch (or a callback post) that must be retried: with real jitter the retry is planned at the
    microsecond-rounded time; when that is a hair before the float `next_attempt_at`, the flush finds
    nothing due, plans itself again at the same instant, and on the simulated clock never stops."""
    for seed in range(6):
        out = make_outbound(jitter=None, batch_linger_ms=100)
        out.runtime.ids = IdFactory(seed)
        if target == "batch":
            out.sendbird.then(sendbird_error(503, 500901, "Service unavailable."))
        else:
            out.braze.then((503, {}, {"message": "busy"}))
        for i in range(3):
            out.accept("batch", webhook_body(f"m{i}", f"u{i}"))
        out.run()  # fails if the scheduler never goes idle
        assert out.bridge.outbox.depth() == {"webhooks_sent": 3, "callbacks_posted": 3}, seed


def test_after_20_attempts_the_webhook_is_a_dead_letter_and_backoff_is_capped(out: Outbound):
    """docs/bridge.md: "after 20 attempts → dead letter"."""
    out.sendbird.default = lambda call: sendbird_error(500, 500901, "Internal server error.")
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert out.state("m1") == "dead"
    gaps = out.sendbird.gaps()
    assert all(gap <= BACKOFF_CAP for gap in gaps)
    assert gaps[-1] == pytest.approx(BACKOFF_CAP / 2)  # the cap was reached (jitter pinned at half)
    letters = out.client.get("/_admin/dead_letters").get_json()["dead_letters"]
    assert [(d["kind"], d["ref"]) for d in letters] == [("webhook", "m1")]
    assert "Internal server error." in letters[0]["reason"]
    assert out.braze.calls == []  # nothing was sent, so no SENT
    assert len(out.sendbird.calls) == MAX_ATTEMPTS == 20


def _refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    return requests.ConnectionError(MaxRetryError(None, SEND_URL, NewConnectionError(None, "Connection refused")))


NEVER_CONNECTED = [(_refused(), "connection error"),
                   (requests.exceptions.ConnectTimeout("connect timed out"), "connect timeout")]
UNANSWERED = [(requests.ConnectionError("connection reset by peer"), "connection error"),
              (requests.exceptions.ReadTimeout("read timed out"), "no answer in time")]


@pytest.mark.parametrize(("error", "expected"), NEVER_CONNECTED, ids=["connection-refused", "connect-timeout"])
def test_a_call_that_never_connected_is_simply_retried(out: Outbound, error: Exception, expected: str):
    out.sendbird.then(error, error)
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.sendbird.calls) == 3
    assert out.state("m1") == "sent"
    reasons = [r["reason"] for r in out.journal("sendbird.retry")]
    assert len(reasons) == 2 and all(expected in reason for reason in reasons)
    assert out.journal("sendbird.unknown") == []


@pytest.mark.parametrize(("error", "expected"), UNANSWERED, ids=["connection-reset", "read-timeout"])
def test_a_call_that_left_without_an_answer_is_checked_in_the_feed_before_it_is_sent_again(
        out: Outbound, error: Exception, expected: str):
    """Sendbird takes no idempotency key: after a timeout or a broken connection the send may have arrived."""
    out.sendbird.then(error, error)
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.sendbird.calls) == 3  # each time the feed said absent, so it was sent again
    assert out.state("m1") == "sent"
    reasons = [r["reason"] for r in out.journal("sendbird.unknown")]
    assert len(reasons) == 2 and all(expected in reason for reason in reasons)
    assert len(out.journal("recovery.absent")) == 2 and out.journal("sendbird.retry") == []


@pytest.mark.parametrize(("seconds", "expected"), [(None, (3.05, 30.0)), (1.5, (1.5, 1.5)), (60.0, (3.05, 60.0))])
def test_sendbird_timeout_bounds_every_call_to_sendbird(make_outbound, seconds: float | None, expected: tuple):
    out = make_outbound(**({} if seconds is None else {"sendbird_timeout": seconds}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    [send] = [c for c in out.rsps.calls if c.request.url == SEND_URL]
    assert send.request.req_kwargs["timeout"] == expected


def test_batch_retry_resends_the_same_batch(make_outbound):
    out = make_outbound(batch_linger_ms=100)
    out.sendbird.then(sendbird_error(502, 500901, "Bad gateway."))
    for i in range(3):
        out.accept("batch", webhook_body(f"m{i}", f"u{i}"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert out.sendbird.bodies[0] == out.sendbird.bodies[1]
    assert out.sendbird.gaps() == [pytest.approx(0.25, abs=1e-6)]
    assert {out.state(f"m{i}") for i in range(3)} == {"sent"}


# -- Sendbird refusals: dead letters and replay -------------------------------------------------------


def test_400_is_a_dead_letter_with_sendbirds_message_listed_and_replayable(out: Outbound):
    message = 'Template "promo" was not found.'
    out.sendbird.then(sendbird_error(400, 400201, message))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert len(out.sendbird.calls) == 1  # a 4XX is not retried
    assert out.state("m1") == "dead"
    listed = out.client.get("/_admin/dead_letters")
    assert listed.status_code == 200
    letters = listed.get_json()["dead_letters"]
    assert len(letters) == 1
    letter = letters[0]
    assert (letter["kind"], letter["ref"], letter["replayed_at"]) == ("webhook", "m1", None)
    assert message in letter["reason"] and "400" in letter["reason"]
    dead = out.journal("sendbird.dead")
    assert [(d["message_id"], d["trace_id"]) for d in dead] == [("m1", "trace-1")]
    assert out.braze.calls == []

    replay = out.client.post("/_admin/dead_letters/replay", json={"ids": [letter["id"]]})
    assert replay.status_code == 200
    assert [r["id"] for r in replay.get_json()["replayed"]] == [letter["id"]]
    out.run()
    assert len(out.sendbird.calls) == 2
    assert out.sendbird.bodies[1] == out.sendbird.bodies[0]
    assert out.sendbird.calls[1].headers["X-Trace-Id"] == "trace-1"
    assert out.state("m1") == "sent"
    assert out.client.get("/_admin/dead_letters").get_json()["dead_letters"] == []
    history = out.client.get("/_admin/dead_letters?include_replayed=1").get_json()["dead_letters"]
    assert len(history) == 1 and history[0]["replayed_at"] is not None
    assert [e["properties"]["message_id"] for e in out.events()] == ["m1"]


def test_replay_without_ids_replays_every_dead_letter(out: Outbound):
    out.sendbird.then(*[sendbird_error(403, 403100, "The token lacks permission.")] * 2)
    out.accept("realtime", webhook_body("m1", "u1"))
    out.accept("realtime", webhook_body("m2", "u2"))
    out.run()
    assert {out.state("m1"), out.state("m2")} == {"dead"}
    replay = out.client.post("/_admin/dead_letters/replay")
    assert replay.status_code == 200 and len(replay.get_json()["replayed"]) == 2
    out.run()
    assert {out.state("m1"), out.state("m2")} == {"sent"}
    assert len(out.sendbird.calls) == 4


def test_a_batch_that_fails_for_one_named_target_sets_only_that_one_aside(make_outbound):
    out = make_outbound(batch_linger_ms=500)
    out.sendbird.then(sendbird_error(400, 400111, 'Template variable "name" is required for user "u2".'))
    for i in (1, 2, 3):
        out.accept("batch", webhook_body(f"m{i}", f"u{i}"))
    out.run()
    assert len(out.sendbird.calls) == 2
    first, second = out.sendbird.calls
    assert first.body["targets"] == ["u1", "u2", "u3"]
    assert second.body["targets"] == ["u1", "u3"] and second.body["mode"] == "batch"
    assert set(second.body["template"]["variables"]) == {"u1", "u3"}
    assert second.at == first.at  # the others are sent again at once
    assert (out.state("m1"), out.state("m2"), out.state("m3")) == ("sent", "dead", "sent")
    letters = out.bridge.outbox.dead_letters()
    assert [(d["kind"], d["ref"]) for d in letters] == [("webhook", "m2")]
    assert 'user "u2"' in letters[0]["reason"]
    assert sorted(e["properties"]["message_id"] for e in out.events()) == ["m1", "m3"]


# -- the callback to Braze ----------------------------------------------------------------------------


def test_sent_callback_event_is_exactly_the_contract(out: Outbound):
    out.accept("realtime", webhook_body("m1", "sb-ada", user_id="braze-ada", campaign_id="camp-9"), "trace-1")
    out.run()
    assert len(out.braze.calls) == 1
    call = out.braze.calls[0]
    assert call.url == TRACK_URL
    assert call.headers["Authorization"] == f"Bearer {BRAZE_KEY}"
    assert call.headers["X-Trace-Ids"] == "trace-1"
    assert call.body == {"events": [{
        "external_id": "braze-ada", "name": "promo_status", "time": iso(T0),
        "properties": {"status": "SENT", "template_key": "promo", "notification_id": "noti-1", "message_id": "m1",
                       "campaign_id": "camp-9"}}]}
    assert datetime.fromisoformat(call.body["events"][0]["time"]) == T0


def test_canvas_webhook_reports_canvas_id_and_external_id_defaults_to_the_receiver(out: Outbound):
    out.accept("realtime", webhook_body("m1", "ada", campaign_id="", canvas_id="canvas-3"))
    out.run()
    (event,) = out.events()
    assert event["external_id"] == "ada"
    assert event["properties"] == {"status": "SENT", "template_key": "promo", "notification_id": "noti-1",
                                   "message_id": "m1", "canvas_id": "canvas-3"}
    assert "X-Trace-Ids" not in out.braze.calls[0].headers  # no trace to name


def test_one_sent_per_recipient_of_a_batch_with_the_batch_notification_id(make_outbound):
    out = make_outbound(batch_linger_ms=100)
    for i in range(4):
        out.accept("batch", webhook_body(f"m{i}", f"u{i}"), f"t{i}")
    out.run()
    assert len(out.sendbird.calls) == 1
    events = out.events()
    assert sorted(e["properties"]["message_id"] for e in events) == ["m0", "m1", "m2", "m3"]
    assert {e["properties"]["notification_id"] for e in events} == {"noti-1"}
    assert {e["properties"]["status"] for e in events} == {"SENT"}
    assert {e["external_id"] for e in events} == {"u0", "u1", "u2", "u3"}
    header = out.braze.calls[0].headers["X-Trace-Ids"].split(",")
    assert header == [f"t{e['properties']['message_id'][1:]}" for e in events]  # by position


def test_callbacks_go_in_requests_of_at_most_75_events(out: Outbound):
    for i in range(200):
        out.accept("realtime", webhook_body(f"m{i:03d}", f"u{i}"), f"trace-{i:03d}")
    out.run()
    assert len(out.sendbird.calls) == 200
    assert [len(b["events"]) for b in out.braze.bodies] == [75, 75, 50]
    ids = Counter(e["properties"]["message_id"] for e in out.events())
    assert ids == Counter({f"m{i:03d}": 1 for i in range(200)})  # SENT once per recipient
    for call in out.braze.calls:
        traces = call.headers["X-Trace-Ids"].split(",")
        assert traces == [f"trace-{e['properties']['message_id'][1:]}" for e in call.body["events"]]
    assert len(out.journal("callback.posted")) == 200
    depth = out.bridge.outbox.depth()
    assert depth == {"webhooks_sent": 200, "callbacks_posted": 200}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_callback_429_and_5xx_are_retried_until_posted(out: Outbound, status: int):
    out.braze.then((status, {}, {"message": "busy"}), (status, {}, {"message": "busy"}))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert len(out.braze.calls) == 3
    assert out.braze.bodies[0] == out.braze.bodies[1] == out.braze.bodies[2]
    assert out.braze.gaps() == pytest.approx([0.25, 0.5], abs=1e-6)  # 0.5 s doubling, jitter pinned at 0
    assert out.bridge.outbox.depth()["callbacks_posted"] == 1
    assert len(out.journal("callback.retry")) == 2


def test_callback_429_retry_after_is_honoured(out: Outbound):
    out.braze.then((429, {"Retry-After": "9"}, {"message": "API Rate Limit Exceeded"}))
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.braze.calls) == 2
    assert out.braze.gaps()[0] >= 9.0 - 1e-6


def test_ratelimit_remaining_zero_pauses_the_next_post_until_the_reset(out: Outbound):
    reset = int(out.epoch(30))
    out.braze.then((201, {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "0",
                          "X-RateLimit-Reset": str(reset)}, {"message": "success"}))
    for i in range(100):
        out.accept("realtime", webhook_body(f"m{i}", f"u{i}"))
    out.run()
    assert [len(b["events"]) for b in out.braze.bodies] == [75, 25]
    assert out.braze.offsets()[0] == 0.0
    assert out.braze.calls[1].offset() >= 30.0 - 1e-6
    assert out.bridge.outbox.depth()["callbacks_posted"] == 100


def test_braze_401_puts_the_callbacks_in_the_dead_letters(out: Outbound):
    out.braze.then((401, {}, {"message": "Invalid API Key"}))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert len(out.braze.calls) == 1  # not retried
    letters = out.client.get("/_admin/dead_letters").get_json()["dead_letters"]
    assert [(d["kind"], d["ref"]) for d in letters] == [("callback", "m1:SENT")]
    assert "Invalid API Key" in letters[0]["reason"]
    assert out.state("m1") == "sent"  # the notification itself went out
    assert out.client.post("/_admin/dead_letters/replay").status_code == 200
    out.run()
    assert len(out.braze.calls) == 2 and out.braze.bodies[1] == out.braze.bodies[0]
    assert out.bridge.outbox.depth()["callbacks_posted"] == 1


def test_callback_retry_and_dead_journal_records_carry_the_braze_trace_id(out: Outbound):
    """docs/bridge.md, Observability: journal records `callback.retry` and `callback.dead` are each with the
    Braze trace id, so a notification can be followed end to end."""
    out.braze.then((503, {}, {"message": "busy"}), (401, {}, {"message": "Invalid API Key"}))
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert len(out.journal("callback.retry")) >= 1 and len(out.journal("callback.dead")) >= 1
    assert [r["trace_id"] for r in out.journal("callback.retry")] == ["trace-1"]
    assert [r["trace_id"] for r in out.journal("callback.dead")] == ["trace-1"]


def test_no_event_callback_means_no_users_track_calls(make_outbound):
    out = make_outbound(event_callback=False, batch_linger_ms=100)
    out.accept("realtime", webhook_body("m1", "u1"))
    out.accept("batch", webhook_body("m2", "u2"))
    out.accept("batch", webhook_body("m3", "u3"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert {out.state(m) for m in ("m1", "m2", "m3")} == {"sent"}
    raw = read_webhook("u1", to_ms(out.now()))
    read = out.client.post("/sendbird/webhooks", data=raw, headers={"x-sendbird-signature": sign(raw),
                                                                   "Content-Type": "application/json"})
    assert read.status_code == 200 and read.get_json()["read_events_queued"] == 0
    out.run()
    assert out.braze.calls == []
    assert not [c for c in out.rsps.calls if c.request.url.startswith(BRAZE)]


def test_integration_settings_change_where_and_how_callbacks_are_posted(out: Outbound):
    other = out.route("http://braze-eu.test/users/track", Endpoint(lambda call: (201, {}, {"message": "success"})))
    changed = out.client.put("/_admin/integration", json={"braze_rest_endpoint": "http://braze-eu.test/",
                                                          "braze_rest_api_key": "eu-key"})
    assert changed.status_code == 200
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert out.braze.calls == []
    assert len(other.calls) == 1
    assert other.calls[0].url == "http://braze-eu.test/users/track"
    assert other.calls[0].headers["Authorization"] == "Bearer eu-key"
    off = out.client.put("/_admin/integration", json={"event_callback": False})
    assert off.status_code == 200 and off.get_json()["event_callback"] is False
    out.accept("realtime", webhook_body("m2", "u2"))
    out.run()
    assert len(out.sendbird.calls) == 2 and len(other.calls) == 1


def test_wrong_token_reaches_no_one(out: Outbound):
    response = out.post("realtime", webhook_body("m1"), token=API_TOKEN + "x")
    assert response.status_code == 401
    out.run()
    assert out.sendbird.calls == [] and out.braze.calls == []


def test_read_webhook_becomes_one_read_event_at_the_time_it_was_read(out: Outbound):
    out.accept("realtime", webhook_body("m1", "sb-ada", user_id="braze-ada"), "trace-1")
    out.run()
    out.advance(60)
    read_at = T0 + timedelta(seconds=30)
    raw = read_webhook("sb-ada", to_ms(read_at))
    for _ in range(2):  # Sendbird may deliver the webhook again
        response = out.client.post("/sendbird/webhooks", data=raw, headers={"x-sendbird-signature": sign(raw),
                                                                            "Content-Type": "application/json"})
        assert response.status_code == 200
    out.run()
    assert [len(b["events"]) for b in out.braze.bodies] == [1, 1]
    read = out.braze.bodies[1]["events"][0]
    assert read == {"external_id": "braze-ada", "name": "promo_status", "time": iso(read_at),
                    "properties": {"status": "READ", "template_key": "promo", "notification_id": "noti-1",
                                   "message_id": "m1", "campaign_id": "camp-1"}}
    assert out.braze.calls[1].headers["X-Trace-Ids"] == "trace-1"


def test_a_callback_failing_20_times_goes_to_the_dead_letters(out: Outbound):
    out.braze.default = lambda call: (503, {}, {"message": "busy"})
    out.accept("realtime", webhook_body("m1"))
    out.run()
    assert len(out.braze.calls) == MAX_ATTEMPTS
    letters = out.bridge.outbox.dead_letters()
    assert [(d["kind"], d["ref"]) for d in letters] == [("callback", "m1:SENT")]
    assert "503" in letters[0]["reason"]
