"""Which notifications a Sendbird read receipt reports read (docs/bridge.md, "READ"): the bridge's own sends to the
reader, through a template of the receipt's channel, created by Sendbird at or before `read_ts`, not reported
before. Sendbird's webhook names a reader and a time, never messages (Chat Platform API v3, webhook events:
group channel), so everything here is worked out from the outbox."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.outbox import Outbox
from harness.clock import to_ms

from .conftest import (
    BRAZE_AUTH,
    FEED,
    T0,
    Outbound,
    Stack,
    assert_error_shape,
    read_webhook,
    sendbird_error,
    sign,
    webhook_body,
)

OTHER = "offers_feed"


def deliver(out: Outbound, raw: bytes):
    return out.client.post("/sendbird/webhooks", data=raw, headers={"x-sendbird-signature": sign(raw),
                                                                   "Content-Type": "application/json"})


def queued(out: Outbound, raw: bytes) -> int:
    response = deliver(out, raw)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["read_events_queued"]


def reads(out: Outbound) -> list[str]:
    out.run()
    return [e["properties"]["message_id"] for e in out.events() if e["properties"]["status"] == "READ"]


def created_at(out: Outbound, message_id: str) -> int:
    row = out.bridge.outbox.webhook(message_id)
    assert row is not None and row.created_at_ms is not None, row
    return row.created_at_ms


@pytest.fixture
def three(out: Outbound) -> Outbound:
    """u1 got m1, m2, m3 ten seconds apart (Sendbird's send answer says when each was created)."""
    for i in (1, 2, 3):
        out.accept("realtime", webhook_body(f"m{i}", "u1", variables={"i": i}))
        out.run()
        out.advance(10)
    return out


def test_the_outbox_keeps_when_sendbird_created_each_message(three: Outbound):
    assert [created_at(three, m) for m in ("m1", "m2", "m3")] == [to_ms(T0 + timedelta(seconds=s)) for s in (0, 10, 20)]


@pytest.mark.parametrize(("offset_ms", "expected"), [(-1, []), (0, ["m1"]), (1, ["m1"]), (9_999, ["m1"]),
                                                     (10_000, ["m1", "m2"]), (60_000, ["m1", "m2", "m3"])])
def test_a_receipt_reads_what_was_created_at_or_before_it(three: Outbound, offset_ms: int, expected: list[str]):
    raw = read_webhook("u1", created_at(three, "m1") + offset_ms)
    assert queued(three, raw) == len(expected)
    assert reads(three) == expected


def test_partial_reads_then_the_rest_report_each_notification_once(three: Outbound):
    first = created_at(three, "m1")
    assert queued(three, read_webhook("u1", first + 10_000)) == 2
    assert queued(three, read_webhook("u1", first + 10_000)) == 0  # Sendbird's retry of the same webhook
    assert queued(three, read_webhook("u1", first)) == 0  # an older receipt arriving late
    assert queued(three, read_webhook("u1", first + 20_000)) == 1
    assert reads(three) == ["m1", "m2", "m3"]
    read = [e for e in three.events() if e["properties"]["status"] == "READ"]
    assert [e["time"] for e in read] == ["2026-01-01T00:00:10Z"] * 2 + ["2026-01-01T00:00:20Z"]  # the receipts
    assert [r["message_id"] for r in three.journal("sendbird.read")] == ["m1", "m2", "m3"]


def test_a_receipt_reads_only_its_reader_and_its_channel(out: Outbound):
    out.templates.default = lambda call: (200, {}, {"key": call.url.rsplit("/", 1)[1],
                                                    "channel_url": OTHER if call.url.endswith("/offers") else FEED})
    out.accept("realtime", webhook_body("promo-u1", "u1"))
    out.accept("realtime", webhook_body("offer-u1", "u1", template_key="offers"))
    out.accept("realtime", webhook_body("promo-u2", "u2"))
    out.run()
    now = to_ms(out.now())
    assert queued(out, read_webhook("u1", now, OTHER)) == 1
    assert reads(out) == ["offer-u1"]
    assert queued(out, read_webhook("u1", now)) == 1
    assert reads(out) == ["offer-u1", "promo-u1"]
    assert out.bridge.outbox.webhook("promo-u2").read_at is None
    assert len(out.templates.calls) == 2  # one look-up per template: a template keeps its channel


def test_a_receipt_of_someone_the_bridge_never_sent_to_reports_nothing(three: Outbound):
    assert queued(three, read_webhook("stranger", to_ms(three.now()))) == 0
    [receipt] = three.journal("sendbird.receipt")
    assert (receipt["user_id"], receipt["channel_url"], receipt["newly_read"]) == ("stranger", FEED, 0)
    assert reads(three) == []


@pytest.mark.parametrize("read_ts", [-1, 253_402_300_800_000, 10**80, 1e300, 12.5, True, "1767225600000", None])
def test_a_read_ts_no_calendar_holds_is_refused_and_nothing_is_reported(three: Outbound, read_ts):
    raw = json.loads(read_webhook("u1", 0))
    raw["read_updates"][0]["read_ts"] = read_ts
    response = deliver(three, json.dumps(raw).encode())
    assert_error_shape(response, 400, 400111, "read_updates[0].read_ts")
    assert reads(three) == []


@pytest.mark.parametrize(("change", "mentions"), [
    ({"channel": None}, "channel.channel_url"), ({"channel": {"channel_url": ""}}, "channel.channel_url"),
    ({"read_updates": []}, "read_updates"), ({"read_updates": {"user_id": "u1"}}, "read_updates"),
    ({"read_updates": [{"read_ts": 1}]}, "read_updates[0].user_id"),
])
def test_a_read_webhook_that_does_not_say_who_read_where_is_refused(three: Outbound, change, mentions):
    raw = {**json.loads(read_webhook("u1", to_ms(three.now()))), **change}
    response = deliver(three, json.dumps(raw).encode())
    assert response.status_code == 400 and mentions in response.get_json()["message"], response.get_json()
    assert reads(three) == []


def test_when_a_templates_channel_cannot_be_learnt_the_webhook_fails_and_its_retry_reports(three: Outbound):
    three.bridge.recovery.feed._channels.clear()
    three.templates.then(sendbird_error(503, 500901, "Internal server error."))
    raw = read_webhook("u1", to_ms(three.now()))
    assert_error_shape(deliver(three, raw), 503, 500901, "promo")
    assert reads(three) == []
    assert queued(three, raw) == 3  # Sendbird tries a failed webhook again
    assert reads(three) == ["m1", "m2", "m3"]


def test_a_template_sendbird_no_longer_has_is_in_no_channel(three: Outbound):
    three.bridge.recovery.feed._channels.clear()
    three.templates.then(sendbird_error(400, 400201, 'Template "promo" was not found.'))
    assert queued(three, read_webhook("u1", to_ms(three.now()))) == 0


def test_reads_with_event_callback_off_are_marked_but_never_posted(make_outbound):
    out = make_outbound(event_callback=False)
    out.accept("realtime", webhook_body("m1", "u1"))
    out.run()
    assert queued(out, read_webhook("u1", to_ms(out.now()))) == 0
    assert out.bridge.outbox.webhook("m1").read_at is not None
    out.client.put("/_admin/integration", json={"event_callback": True})
    assert queued(out, read_webhook("u1", to_ms(out.now()))) == 0  # that read was before the callback was on
    assert reads(out) == []


def test_a_receipt_that_arrives_before_the_send_is_recorded_is_read_when_it_is(out: Outbound):
    """The user reads while the bridge still waits for Sendbird's answer to the send."""
    answered = []

    def read_during_the_send(call):
        answer = out._sendbird_ok(call)
        answered.append(queued(out, read_webhook("u1", to_ms(call.at) + 1000)))
        return answer

    out.sendbird.then(read_during_the_send)
    out.accept("realtime", webhook_body("m1", "u1"))
    assert reads(out) == ["m1"]
    assert answered == [0]  # nothing recorded as sent yet when the webhook came
    assert queued(out, read_webhook("u1", to_ms(out.now()) + 1000)) == 0


def test_a_receipt_that_covers_only_an_older_send_reads_nothing_sent_later(out: Outbound):
    out.accept("realtime", webhook_body("m1", "u1"))
    out.run()
    assert queued(out, read_webhook("u1", to_ms(out.now()))) == 1
    out.advance(5)
    out.accept("realtime", webhook_body("m2", "u1"))
    assert reads(out) == ["m1"]


def test_a_send_created_in_the_millisecond_of_a_kept_receipt_is_not_taken_as_read(out: Outbound):
    """A receipt says the user has read what was created before it; a message Sendbird creates in that same
    millisecond, after the read (a follow-up sent on the READ, on a simulated clock), is not behind it."""
    out.accept("realtime", webhook_body("m1", "u1"))
    out.run()
    assert queued(out, read_webhook("u1", to_ms(out.now()))) == 1
    out.accept("realtime", webhook_body("m2", "u1"))  # the clock has not moved: created in the receipt's millisecond
    out.run()
    assert reads(out) == ["m1"]
    assert out.bridge.outbox.webhook("m2").read_at is None


# -- restarts and the recovery -------------------------------------------------------------------------


@pytest.fixture
def durable(make_outbound, tmp_path: Path) -> Outbound:
    return make_outbound(db=str(tmp_path / "bridge.sqlite3"))


def test_a_read_reported_before_a_restart_is_not_reported_after_it(durable: Outbound):
    durable.accept("realtime", webhook_body("m1", "u1"))
    durable.run()
    raw = read_webhook("u1", to_ms(durable.now()))
    assert queued(durable, raw) == 1
    durable.restart()
    durable.run()
    assert queued(durable, raw) == 0
    assert reads(durable) == ["m1"]


def test_a_send_the_recovery_found_in_the_feed_is_read_by_its_feed_created_at(durable: Outbound):
    durable.crash_during_send(reached=True)
    durable.accept("realtime", webhook_body("m1", "u1", variables={"m": "m1"}))
    with pytest.raises(BaseException, match="killed"):
        durable.run()
    durable.restart(after_seconds=30)
    durable.run()
    assert durable.state("m1") == "sent"
    assert created_at(durable, "m1") == durable.feeds["u1"][0]["created_at"] == to_ms(T0)
    assert queued(durable, read_webhook("u1", to_ms(T0))) == 1


def test_a_receipt_that_arrives_while_a_send_is_being_checked_is_read_once_the_check_finds_it(durable: Outbound):
    durable.crash_during_send(reached=True)
    durable.accept("realtime", webhook_body("m1", "u1", variables={"m": "m1"}))
    with pytest.raises(BaseException, match="killed"):
        durable.run()
    durable.restart(after_seconds=30)
    assert durable.state("m1") == "checking"
    assert queued(durable, read_webhook("u1", to_ms(durable.now()))) == 0  # the bridge does not know it sent it
    durable.restart()  # and the receipt survives a restart too
    assert reads(durable) == ["m1"]
    assert [r["read_ts"] for r in durable.journal("sendbird.read")] == [to_ms(T0 + timedelta(seconds=30))]


def test_an_outbox_written_before_read_receipts_opens_and_reports_each_read_once(tmp_path: Path):
    """The older schema had no creation time: sent rows take their sent_at, and a row that already has its
    READ callback counts as read."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE webhooks (message_id TEXT PRIMARY KEY, mode TEXT NOT NULL, body TEXT NOT NULL,
            receiver TEXT NOT NULL, group_key TEXT NOT NULL, trace_id TEXT, received_at REAL NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
            sending_since REAL, notification_id TEXT, sent_at REAL, answer TEXT NOT NULL,
            checks INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE callbacks (message_id TEXT NOT NULL, status TEXT NOT NULL, external_id TEXT NOT NULL,
            event TEXT NOT NULL, trace_id TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (message_id, status));
    """)
    body = json.dumps({"template_key": "promo", "receiver": "u1"})
    for message_id, state, sent_at in (("old-read", "sent", 100.0), ("old-unread", "sent", 200.0),
                                       ("old-pending", "pending", None)):
        db.execute("INSERT INTO webhooks (message_id, mode, body, receiver, group_key, received_at, state,"
                   " next_attempt_at, notification_id, sent_at, answer) VALUES (?, 'realtime', ?, 'u1', 'g', 1, ?,"
                   " 1, ?, ?, '{}')", (message_id, body, state, "n" if sent_at else None, sent_at))
    db.execute("INSERT INTO callbacks VALUES ('old-read', 'READ', 'u1', '{}', NULL, 'posted', 1, 150, 150)")
    db.commit()
    db.close()
    outbox = Outbox(path)
    try:
        rows = {m: outbox.webhook(m) for m in ("old-read", "old-unread", "old-pending")}
        assert [(r.created_at_ms, r.read_at) for r in rows.values()] == [(100_000, 150.0), (200_000, None),
                                                                         (None, None)]
        assert [r.message_id for r in outbox.unread_sent("u1", 10**12)] == ["old-unread"]
    finally:
        outbox.close()


# -- end to end: fake Braze → bridge → fake Sendbird → a device reads → read webhook → READ in Braze ---------------


@pytest.fixture
def world() -> Iterator[Stack]:
    env = Stack(seed=3, batch_linger_ms=500)
    yield env
    env.runtime.close()


def test_a_campaign_read_on_a_device_lands_one_read_event_per_notification_in_braze(world: Stack):
    users = [{"external_id": u, "first_name": u.title(), "sendbird_id": f"sb-{u}"} for u in ("ada", "bob")]
    assert world.braze_client.post("/users/track", json={"attributes": users}, headers=BRAZE_AUTH).status_code == 201
    webhook = world.s.sendbird_webhook_template("realtime", "promo", "promo_status",
                                                variables='{"name": "{{${first_name}}}"}')
    for name in ("Spring", "Summer"):  # two campaigns, a minute apart: two notifications each
        campaign = world.braze_client.post("/_admin/campaigns", json={"name": name, "trigger": {"type": "api"},
                                                                      "webhook": webhook}).get_json()["campaign_id"]
        sent = world.braze_client.post("/campaigns/trigger/send", json={"campaign_id": campaign, "broadcast": True},
                                       headers=BRAZE_AUTH)
        assert sent.status_code == 201, sent.get_json()
        world.run()
        world.runtime.clock.advance(timedelta(minutes=1))
    older, newer = world.feed("sb-ada")
    world.mark_read("sb-ada", [newer["notification_id"]])  # the newer first: the receipt cannot pass the older yet
    world.run()
    assert world.braze_events("READ") == []
    world.mark_read("sb-ada", [older["notification_id"]])
    world.mark_read("sb-ada")
    world.run()
    read = world.braze_events("READ")
    assert sorted(e["external_id"] for e in read) == ["ada", "ada"]
    assert {e["properties"]["notification_id"] for e in read} == {older["notification_id"], newer["notification_id"]}
    assert world.profile_event("ada", "promo_status") is not None
    assert world.profile_event("bob", "promo_status") is not None
    assert [e["external_id"] for e in world.braze_events("SENT")].count("bob") == 2
    assert not [e for e in read if e["external_id"] == "bob"]  # bob read nothing
