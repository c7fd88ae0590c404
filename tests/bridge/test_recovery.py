"""A send the bridge never learnt the outcome of is sent again only on proof that it did not arrive
(docs/bridge.md, "Exactly once"): the process is killed during a send (`Crash`), restarted on the same outbox,
and Sendbird answers the recovery's feed check with 429, 5XX, timeouts, connection errors, 200 with or
without the message, or 400201.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bridge.service import BACKOFF_CAP, MAX_ATTEMPTS

from .conftest import FEED_URL, Answer, Crash, Outbound, sdk_shaped, sendbird_error, webhook_body

FAULTS: dict[str, Answer] = {
    "429": sendbird_error(429, 500910, "Too many requests."),
    "500": sendbird_error(500, 500901, "Internal server error."),
    "503": (503, {}, "<html>Service Unavailable</html>"),
    "timeout": requests.exceptions.ReadTimeout("read timed out"),
    "connection-error": requests.ConnectionError("connection refused"),
    "401": sendbird_error(401, 400401, "Invalid value: API token is missing or invalid."),
    "404-route": sendbird_error(404, 400114, 'No route "/v3/group_channels/x/messages".'),
    "200-unreadable": (200, {}, "not json"),
}


def body(message_id: str, receiver: str = "ada", **fields) -> dict:
    return webhook_body(message_id, receiver, variables={"m": message_id}, **fields)


@pytest.fixture
def durable(make_outbound: Callable[..., Outbound], tmp_path: Path) -> Outbound:
    return make_outbound(db=str(tmp_path / "bridge.sqlite3"), batch_linger_ms=100)


def killed_during_send(out: Outbound, reached: bool, mode: str = "realtime", message_id: str = "m1") -> None:
    out.crash_during_send(reached)
    out.accept(mode, body(message_id), f"trace-{message_id}")
    with pytest.raises(Crash):
        out.run()
    assert out.state(message_id) == "sending"
    assert out.delivered(message_id) == (1 if reached else 0)


def journal_of(out: Outbound, message_id: str) -> list[str]:
    records, _ = out.runtime.journal.read(service="bridge")
    return [r.kind for r in records if r.attrs.get("message_id") == message_id and r.kind.startswith("recovery.")]


# -- the three verdicts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_a_send_that_arrived_is_found_in_the_feed_and_not_sent_again(durable: Outbound, mode: str):
    killed_during_send(durable, reached=True, mode=mode)
    bridge = durable.restart()
    durable.run()
    assert durable.delivered("m1") == 1 and len(durable.sendbird.calls) == 1
    row = bridge.outbox.webhook("m1")
    assert (row.state, row.notification_id) == ("sent", "noti-1")
    assert journal_of(durable, "m1") == ["recovery.delivered"]
    assert [(e["properties"]["message_id"], e["properties"]["notification_id"]) for e in durable.events()] == [
        ("m1", "noti-1")]


def test_a_send_that_never_arrived_is_sent_once_when_the_feed_proves_it(durable: Outbound):
    durable.accept("realtime", body("m0"))  # ada has a feed, without m1 in it
    durable.run()
    killed_during_send(durable, reached=False)
    durable.restart()
    durable.run()
    assert durable.delivered("m1") == 1 and durable.state("m1") == "sent"
    assert journal_of(durable, "m1") == ["recovery.absent"]
    [absent] = durable.journal("recovery.absent")
    assert "not in the feed of 'ada'" in absent["reason"] and absent["trace_id"] == "trace-m1"


def test_400201_for_a_user_sendbird_never_delivered_to_proves_absence(durable: Outbound):
    killed_during_send(durable, reached=False)
    durable.restart()
    durable.run()
    assert durable.feed.calls and durable.delivered("m1") == 1 and durable.state("m1") == "sent"
    [absent] = durable.journal("recovery.absent")
    assert "400201" not in absent["reason"] and "not found" in absent["reason"]


def test_an_identical_earlier_notification_is_not_taken_for_the_interrupted_one(durable: Outbound):
    same = {"variables": {"m": "same"}}
    durable.accept("realtime", webhook_body("m0", "ada", **same))
    durable.run()
    durable.advance(1)
    durable.crash_during_send(reached=False)
    durable.accept("realtime", webhook_body("m1", "ada", **same))
    with pytest.raises(Crash):
        durable.run()
    bridge = durable.restart(after_seconds=0.5)
    durable.run()
    assert bridge.outbox.webhook("m1").notification_id != bridge.outbox.webhook("m0").notification_id
    assert len(durable.feeds["ada"]) == 2


# -- Sendbird cannot say: check again later, never send on a guess -------------------------------------------


@pytest.mark.parametrize("reached", [True, False], ids=["arrived", "never-arrived"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_unreadable_feed_is_checked_again_and_the_webhook_sent_exactly_once(durable: Outbound, fault: str,
                                                                               reached: bool):
    killed_during_send(durable, reached)
    durable.feed.then(FAULTS[fault], FAULTS[fault])
    durable.restart()
    durable.run()
    assert durable.delivered("m1") == 1, "sent twice" if reached else "never sent"
    assert len(durable.sendbird.calls) == (1 if reached else 2)
    assert durable.state("m1") == "sent"
    assert len(durable.feed.calls) == 3
    verdict = "recovery.delivered" if reached else "recovery.absent"
    assert journal_of(durable, "m1") == ["recovery.unknown", "recovery.unknown", verdict]
    unknown = durable.journal("recovery.unknown")
    assert [u["checks"] for u in unknown] == [1, 2]
    assert all(u["reason"].startswith("reading the feed of 'ada': ") and u["trace_id"] == "trace-m1" for u in unknown)
    assert [u["delay_seconds"] for u in unknown] == [0.25, 0.5]  # the bridge's backoff, jitter pinned to 0
    assert durable.feed.gaps() == pytest.approx([0.25, 0.5], abs=1e-6)
    assert unknown[0]["next_check_at"] == durable.feed.calls[1].at.isoformat().replace("+00:00", "Z")


def test_an_unreadable_template_lookup_is_unknown_too(durable: Outbound):
    killed_during_send(durable, reached=True)
    durable.templates.then(sendbird_error(429, 500910, "Too many requests."),
                           sendbird_error(400, 400201, 'Template "promo" was not found.'))
    durable.restart()
    durable.run()
    assert durable.delivered("m1") == 1 and len(durable.sendbird.calls) == 1
    reasons = [u["reason"] for u in durable.journal("recovery.unknown")]
    assert len(reasons) == 2 and all(r.startswith("looking up template 'promo': HTTP 4") for r in reasons)


@pytest.mark.parametrize(("headers", "wait"), [({"Retry-After": "7"}, 7.0),
                                               ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"}, 12.0)])
def test_a_check_waits_as_long_as_sendbird_asks(durable: Outbound, headers: dict[str, str], wait: float):
    killed_during_send(durable, reached=True)
    durable.feed.then(sendbird_error(429, 500910, "Too many requests.", headers))
    durable.restart()
    durable.run()
    assert durable.feed.gaps() == [pytest.approx(wait, abs=1e-6)]
    assert durable.journal("recovery.unknown")[0]["delay_seconds"] == wait
    assert durable.delivered("m1") == 1


def test_a_feed_page_full_of_other_messages_proves_nothing(durable: Outbound):
    killed_during_send(durable, reached=False)
    other = {"message_id": 0, "created_at": 10**15, "user_id": "ada", "notification_id": "other",
             "notification_data": {"template_key": "promo", "template_variables": {"m": "other"}}}
    durable.feed.then((200, {}, {"messages": [sdk_shaped(other)] * 200}))
    durable.restart()
    durable.run()
    [unknown] = durable.journal("recovery.unknown")
    assert "200 or more messages" in unknown["reason"]
    assert durable.delivered("m1") == 1 and durable.state("m1") == "sent"


def test_after_max_attempts_checks_it_is_a_dead_letter_with_the_reason_and_never_sent(durable: Outbound):
    killed_during_send(durable, reached=False)
    durable.feed.default = lambda call: sendbird_error(503, 500901, "Service unavailable.")
    durable.restart()
    durable.run()
    assert len(durable.feed.calls) == MAX_ATTEMPTS
    assert max(durable.feed.gaps()) == pytest.approx(BACKOFF_CAP / 2, abs=1e-6)
    assert len(durable.sendbird.calls) == 1 and durable.delivered("m1") == 0
    assert durable.state("m1") == "dead"
    assert journal_of(durable, "m1") == ["recovery.unknown"] * (MAX_ATTEMPTS - 1) + ["recovery.gave_up"]
    [letter] = durable.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1" and f"after {MAX_ATTEMPTS} checks" in letter["reason"]
    assert "HTTP 503" in letter["reason"] and "not sent again" in letter["reason"]
    assert [d["message_id"] for d in durable.journal("sendbird.dead")] == ["m1"]
    assert durable.client.post("/_admin/dead_letters/replay").status_code == 200  # the operator's call
    durable.run()
    assert durable.delivered("m1") == 1 and durable.state("m1") == "sent"


def test_checks_survive_another_restart_and_keep_counting(durable: Outbound):
    killed_during_send(durable, reached=True)
    durable.feed.default = lambda call: sendbird_error(429, 500910, "Too many requests.")
    durable.restart()
    durable.run_for(1.0)  # checks at +0, +0.25, +0.75
    assert durable.state("m1") == "checking"
    assert [u["checks"] for u in durable.journal("recovery.unknown")] == [1, 2, 3]
    durable.feed.default = durable._feed_ok
    durable.feed.then(sendbird_error(429, 500910, "Too many requests."))
    durable.restart()
    durable.run()
    assert [u["checks"] for u in durable.journal("recovery.unknown")] == [1, 2, 3, 4]
    assert durable.delivered("m1") == 1 and len(durable.sendbird.calls) == 1 and durable.state("m1") == "sent"


def test_the_outbox_and_metrics_show_webhooks_being_checked(durable: Outbound):
    killed_during_send(durable, reached=True)
    durable.feed.default = lambda call: sendbird_error(429, 500910, "Too many requests.")
    durable.restart()
    durable.run_for(0.1)
    assert durable.client.get("/_admin/outbox").get_json() == {"webhooks_checking": 1}
    assert durable.client.get("/_admin/webhooks/m1").get_json()["state"] == "checking"
    metrics = durable.client.get("/metrics").get_data(as_text=True)
    assert 'bridge_recovery_checks_total{outcome="unknown"} 1.0' in metrics
    assert 'bridge_outbox_depth{state="webhooks_checking"} 1.0' in metrics


def test_a_batch_interrupted_as_a_whole_is_checked_receiver_by_receiver(durable: Outbound):
    durable.crash_during_send(reached=True)
    for i, receiver in enumerate(["u1", "u2", "u3"]):
        durable.accept("batch", body(f"m{i}", receiver))
    with pytest.raises(Crash):
        durable.run()
    durable.feed.then(FAULTS["429"])
    bridge = durable.restart()
    durable.run()
    assert [durable.delivered(f"m{i}") for i in range(3)] == [1, 1, 1]
    assert len(durable.sendbird.calls) == 1
    assert {bridge.outbox.webhook(f"m{i}").notification_id for i in range(3)} == {"noti-1"}
    assert sorted(e["properties"]["message_id"] for e in durable.events()) == ["m0", "m1", "m2"]
    assert len([c for c in durable.feed.calls if FEED_URL.match(c.url)]) == 4


def test_a_check_does_not_take_the_message_of_an_identical_send_still_in_flight(durable: Outbound):
    """Two webhooks say the same words to the same user. The first one's answer is lost; its feed check runs
    while the second's send is in flight, after Sendbird created that send's message: the message found is the
    second's, which its answer will name. Taking it made one notification of two (found by the chaos suite: two
    webhooks marked sent with one notification id)."""
    same = {"variables": {"m": "same"}}
    durable.sendbird.then(requests.ReadTimeout("the answer was lost"))  # m1's send never reached Sendbird
    durable.feed.then(FAULTS["503"])  # and its first check cannot tell: it is checked again later
    durable.accept("realtime", webhook_body("m1", "ada", **same), "trace-m1")
    durable.run_for(0)
    assert durable.state("m1") == "checking"

    def m2_in_flight(call):
        answer = durable._sendbird_ok(call)  # Sendbird created m2's message; its answer is still on the way
        durable.bridge.recovery.check("m1")
        return answer

    durable.sendbird.then(m2_in_flight)
    durable.accept("realtime", webhook_body("m2", "ada", **same), "trace-m2")
    durable.run()
    outbox = durable.bridge.outbox
    assert (durable.state("m1"), durable.state("m2")) == ("sent", "sent")
    assert outbox.webhook("m1").notification_id != outbox.webhook("m2").notification_id
    assert len(durable.feeds["ada"]) == 2, "each webhook its own notification"
    unknown = [r for r in durable.journal("recovery.unknown") if r["message_id"] == "m1"]
    assert "another send to 'ada' is in flight" in unknown[1]["reason"]
