"""Braze → bridge → Sendbird → bridge → Braze, all three on one simulated runtime (simulator.stack).

A campaign's webhooks go through the Sendbird Webhook Template to the bridge, the bridge sends through the
fake Sendbird's Notifications API, devices read through its device API, and the SENT/READ events land on
the Braze profiles; the journal links every hop by the Braze trace id. The last part restarts the bridge
on the same outbox file, in process, to check what docs/bridge.md says a restart does with in-flight work.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.app import create_app
from bridge.service import Bridge
from simulator.stack import BRAZE_URL, SENDBIRD_URL

from .conftest import BRAZE_AUTH, BRAZE_KEY, SB_AUTH, SENDBIRD_TOKEN, T0, Stack, iso, webhook_body

USERS = 1000
READERS = 300
EVENT = "promo_status"


def create_users(stack: Stack, count: int, prefix: str = "u") -> list[str]:
    ids = [f"{prefix}{i:04d}" for i in range(count)]
    for start in range(0, count, 75):
        attributes = [{"external_id": uid, "first_name": f"First {uid}", "sendbird_id": f"sb-{uid}"}
                      for uid in ids[start:start + 75]]
        response = stack.braze_client.post("/users/track", json={"attributes": attributes}, headers=BRAZE_AUTH)
        assert response.status_code == 201, response.get_json()
    return ids


def new_campaign(stack: Stack, trigger: dict[str, Any], mode: str = "batch") -> str:
    webhook = stack.s.sendbird_webhook_template(mode, "promo", EVENT, variables='{"name": "{{${first_name}}}"}')
    response = stack.braze_client.post("/_admin/campaigns", json={"name": f"Spring {mode}", "trigger": trigger,
                                                                  "webhook": webhook})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["campaign_id"]


@pytest.fixture
def big() -> Iterator[Stack]:
    env = Stack(seed=5, batch_linger_ms=1000)
    yield env
    env.runtime.close()


@pytest.mark.parametrize("trigger", ["api-broadcast", "scheduled"])
def test_campaign_to_1000_users_through_the_batch_endpoint_then_300_reads(big: Stack, trigger: str):
    users = create_users(big, USERS)
    if trigger == "api-broadcast":
        campaign_id = new_campaign(big, {"type": "api"})
        sent = big.braze_client.post("/campaigns/trigger/send", json={"campaign_id": campaign_id, "broadcast": True},
                                     headers=BRAZE_AUTH)
        assert sent.status_code == 201, sent.get_json()
    else:
        campaign_id = new_campaign(big, {"type": "scheduled", "at": iso(T0 + timedelta(minutes=5))})
    big.run()

    # Sendbird: one batch notification, 1,000 messages, one per user
    notifications = list(big.s.sendbird.notifications.values())
    assert len(notifications) == 1
    (notification,) = notifications
    assert (notification.mode, notification.targets_count, notification.metrics["sent"]) == ("batch", USERS, USERS)
    assert big.s.sendbird.counts()["messages"] == USERS
    delivered = Counter(r["user_id"] for r in big.journal("message.delivered", "sendbird"))
    assert delivered == Counter({f"sb-{uid}": 1 for uid in users})
    assert big.feed("sb-u0007")[0]["rendered_template"] == {"title": "Hi First u0007"}
    assert big.bridge.outbox.depth() == {"webhooks_sent": USERS, "callbacks_posted": USERS}

    # Braze: each profile has the event once, SENT, with the notification and its own message id
    (dispatch_id,) = {r["dispatch_id"] for r in big.journal("campaign.send", "braze")}
    for uid in users:
        series = big.profile_event(uid, EVENT)
        assert series is not None and series.count == 1, uid
        assert series.last_properties == {"status": "SENT", "template_key": "promo",
                                          "notification_id": notification.notification_id,
                                          "message_id": f"{dispatch_id}-{uid}", "campaign_id": campaign_id}
    exported = big.braze_client.post("/users/export/ids", json={"external_ids": users[:3]}, headers=BRAZE_AUTH)
    assert exported.status_code == 201
    for profile in exported.get_json()["users"]:
        assert [(e["name"], e["count"]) for e in profile["custom_events"]] == [(EVENT, 1)]

    # the journal links each Braze trace through the bridge and back to Braze
    hops = defaultdict(list)
    for record in big.runtime.journal.read()[0]:
        if record.trace_id:
            hops[record.trace_id].append((record.service, record.kind))
    traces = {r["trace_id"] for r in big.journal("campaign.send", "braze")}
    assert len(traces) == USERS
    # (Braze records the event while it answers the post; the bridge records `callback.posted` on the 201)
    chain = [("braze", "campaign.send"), ("bridge", "webhook.accepted"), ("bridge", "sendbird.sent"),
             ("braze", "event.recorded"), ("bridge", "callback.posted")]
    for trace in traces:
        seen = [hop for hop in hops[trace] if hop in chain]
        assert seen == chain, (trace, hops[trace])

    # 300 users read theirs on a device: 300 READ events, no more, even if they read again
    readers = users[:READERS]
    for uid in readers:
        feed = big.feed(f"sb-{uid}")
        assert len(feed) == 1
        assert big.mark_read(f"sb-{uid}", [feed[0]["notification_id"]]) == {"unread_message_count": 0}
    big.run()
    for uid in readers[:50]:
        big.mark_read(f"sb-{uid}")  # again: nothing changes, nothing is reported
    big.run()
    reads = big.braze_events("READ")
    assert Counter(r["external_id"] for r in reads) == Counter(readers)
    assert len(big.braze_events("SENT")) == USERS
    for uid in users:
        series = big.profile_event(uid, EVENT)
        if uid in readers:
            assert series.count == 2 and series.last_properties["status"] == "READ", uid
            assert series.last_properties["message_id"] == f"{dispatch_id}-{uid}"
            assert series.last_properties["notification_id"] == notification.notification_id
        else:
            assert series.count == 1 and series.last_properties["status"] == "SENT", uid
    assert big.bridge.outbox.depth() == {"webhooks_sent": USERS, "callbacks_posted": USERS + READERS}


def test_canvas_through_the_realtime_endpoint_is_one_realtime_send_per_user(stack: Stack):
    users = create_users(stack, 40, prefix="c")
    webhook = stack.s.sendbird_webhook_template("realtime", "promo", EVENT, variables='{"name": "{{${first_name}}}"}')
    created = stack.braze_client.post("/_admin/canvases", json={
        "name": "Onboarding", "steps": [{"id": "welcome", "type": "message", "webhook": webhook}]})
    assert created.status_code == 201, created.get_json()
    canvas_id = created.get_json()["canvas_id"]
    sent = stack.braze_client.post("/canvas/trigger/send", headers=BRAZE_AUTH, json={
        "canvas_id": canvas_id, "recipients": [{"external_user_id": uid} for uid in users]})
    assert sent.status_code == 201, sent.get_json()
    stack.run()
    notifications = list(stack.s.sendbird.notifications.values())
    assert len(notifications) == len(users)
    assert {(n.mode, n.targets_count) for n in notifications} == {("realtime", 1)}
    assert Counter(r["user_id"] for r in stack.journal("message.delivered", "sendbird")) == Counter(
        f"sb-{uid}" for uid in users)
    events = stack.braze_events("SENT")
    assert Counter(e["external_id"] for e in events) == Counter(users)
    assert {e["properties"]["canvas_id"] for e in events} == {canvas_id}
    # realtime sends carry the Braze trace into Sendbird too
    for record in stack.journal("canvas.send", "braze"):
        kinds = [(r.service, r.kind) for r in stack.runtime.journal.read(trace_id=record["trace_id"])[0]]
        for hop in [("bridge", "webhook.accepted"), ("bridge", "sendbird.sent"), ("sendbird", "message.delivered"),
                    ("bridge", "callback.posted"), ("braze", "event.recorded")]:
            assert hop in kinds, (record["trace_id"], kinds)


# -- restarting the bridge on the same outbox, in process -----------------------------------------------


class Restartable:
    """The stack with a file-backed bridge that can "crash" (its tasks dropped, its outbox closed, with
    whatever rows it held in `sending`/`posting`) and start again on the same file."""

    def __init__(self, stack: Stack, db: Path) -> None:
        self.stack = stack
        self.db = db
        self.http = stack.runtime.transport.session()
        self.bridge = self.start()

    def start(self) -> Bridge:
        app = create_app(self.stack.runtime, sendbird_url=SENDBIRD_URL, sendbird_token=SENDBIRD_TOKEN,
                         braze_url=BRAZE_URL, braze_key=BRAZE_KEY, db=self.db, batch_linger_ms=500)
        self.stack.runtime.transport.register("bridge.local", app)
        self.stack.bridge_client = app.test_client()
        self.stack.bridge = app.extensions["bridge"]
        return self.stack.bridge

    def crash(self) -> None:
        self.bridge.tasks.cancel_all()
        self.bridge.outbox.close()

    def restart(self, after_seconds: float = 3.0) -> Bridge:
        self.crash()
        self.stack.runtime.clock.advance(timedelta(seconds=after_seconds))
        self.bridge = self.start()
        return self.bridge

    def accept_and_claim(self, body: dict[str, Any], trace_id: str) -> Any:
        """The old process accepted the webhook and claimed it for sending (pending → sending)..."""
        response = self.stack.post("realtime", body, trace_id)
        assert response.status_code == 200
        self.bridge.tasks.cancel_all()  # ...and never got further on its own
        [row] = self.bridge.outbox.claim_realtime([body["message_id"]], self.bridge.now())
        assert row is not None and self.bridge.outbox.webhook(body["message_id"]).state == "sending"
        return row

    def post_to_sendbird(self, body: dict[str, Any]) -> str:
        """...and its send reached Sendbird, but the process died before it could commit the answer."""
        response = self.http.post(f"{SENDBIRD_URL}/v1/notifications", headers=SB_AUTH, json={
            "template": {"key": body["template_key"], "variables": {body["receiver"]: body["variables"]}},
            "mode": "realtime", "targets": [body["receiver"]]})
        assert response.status_code == 200, response.text
        return response.json()["notification_id"]


@pytest.fixture
def restartable(stack: Stack, tmp_path: Path) -> Restartable:
    return Restartable(stack, tmp_path / "bridge.sqlite3")


def test_an_in_flight_send_that_reached_sendbird_is_found_in_the_feed_not_sent_again(restartable: Restartable):
    stack = restartable.stack
    body = webhook_body("m1", "ada", variables={"name": "Ada"})
    restartable.accept_and_claim(body, "trace-1")
    notification_id = restartable.post_to_sendbird(body)
    bridge = restartable.restart()
    stack.run()
    assert len(stack.feed("ada")) == 1
    row = bridge.outbox.webhook("m1")
    assert (row.state, row.notification_id) == ("sent", notification_id)
    assert [r["message_id"] for r in stack.journal("recovery.delivered", "bridge")] == ["m1"]
    (event,) = stack.braze_events("SENT")
    assert event["properties"]["notification_id"] == notification_id and event["trace_id"] == "trace-1"


def test_an_in_flight_send_that_never_reached_sendbird_is_sent_once_after_restart(restartable: Restartable):
    stack = restartable.stack
    restartable.accept_and_claim(webhook_body("m1", "ada", variables={"name": "Ada"}), "trace-1")
    bridge = restartable.restart()
    stack.run()
    assert len(stack.feed("ada")) == 1
    assert bridge.outbox.webhook("m1").state == "sent"
    assert stack.journal("recovery.delivered", "bridge") == []
    assert [r["message_id"] for r in stack.journal("recovery.absent", "bridge")] == ["m1"]
    assert len(stack.braze_events("SENT")) == 1


def test_reconciliation_does_not_take_an_earlier_identical_notification_for_the_in_flight_one(
        restartable: Restartable):
    """Two webhooks (different message ids) for the same receiver, template and variables, a second apart:
    the first is sent; the second is in flight (claimed, never reached Sendbird) when the process dies. On
    restart `_already_delivered` looks for any message of that template with equal variables created since
    `sending_since` - 2 s, finds the *first* webhook's message, and marks the second sent with the first's
    notification id: the second notification is never delivered."""
    stack = restartable.stack
    body = webhook_body("m1", "ada", variables={"name": "Ada"})
    assert stack.post("realtime", body, "trace-1").status_code == 200
    stack.run()
    first = restartable.bridge.outbox.webhook("m1").notification_id
    stack.runtime.clock.advance(timedelta(seconds=1))
    restartable.accept_and_claim({**body, "message_id": "m2"}, "trace-2")
    bridge = restartable.restart(after_seconds=0.5)
    stack.run()
    second = bridge.outbox.webhook("m2")
    assert second.state == "sent"
    assert second.notification_id != first
    assert len(stack.feed("ada")) == 2


def test_callbacks_that_were_being_posted_are_posted_again_after_restart(restartable: Restartable):
    stack = restartable.stack
    row = restartable.accept_and_claim(webhook_body("m1", "ada"), "trace-1")
    bridge = restartable.bridge
    bridge._send([row], "realtime")  # the send completes...
    bridge.mark_realtime()  # ...and commits its SENT callback...
    bridge.tasks.cancel_all()
    posting = bridge.outbox.claim_callbacks(75, bridge.now())  # ...whose post is under way at the crash
    assert [(c.message_id, c.status) for c in posting] == [("m1", "SENT")]
    assert stack.braze_events() == []
    bridge = restartable.restart()
    stack.run()
    assert [(e["properties"]["message_id"], e["properties"]["status"]) for e in stack.braze_events()] == [
        ("m1", "SENT")]
    assert bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}
    assert len(stack.feed("ada")) == 1
