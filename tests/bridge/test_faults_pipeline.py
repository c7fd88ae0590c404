"""Fault rules across the whole pipeline, simulated: a campaign to every user through each path, with one
service misbehaving, must still end with one notification and one SENT per user (nothing lost, nothing
doubled), and the journal must show the faults fired and what they made the callers do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from .conftest import BRAZE_AUTH, Stack
from .test_integration import create_users, new_campaign

USERS = 60


@pytest.fixture
def env() -> Iterator[Stack]:
    stack = Stack(seed=11, batch_linger_ms=200)
    yield stack
    stack.runtime.close()


def fault(stack: Stack, service: str, rule: dict) -> str:
    client = {"braze": stack.braze_client, "sendbird": stack.sendbird_client, "bridge": stack.bridge_client}[service]
    response = client.post("/_admin/faults", json=rule)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def campaign_to_everyone(stack: Stack, mode: str, faults: tuple[tuple[str, dict], ...] = ()) -> list[str]:
    """Users made, then the `faults` (service, rule) added, then the campaign sent to all and run to the end."""
    users = create_users(stack, USERS)
    for service, rule in faults:
        fault(stack, service, rule)
    campaign_id = new_campaign(stack, {"type": "api"}, mode=mode)
    sent = stack.braze_client.post("/campaigns/trigger/send", json={"campaign_id": campaign_id, "broadcast": True},
                                   headers=BRAZE_AUTH)
    assert sent.status_code == 201, sent.get_json()
    stack.run()
    return users


def assert_each_user_got_one_notification_and_one_sent(stack: Stack, users: list[str]) -> None:
    delivered = Counter(r["user_id"] for r in stack.journal("message.delivered", "sendbird"))
    assert delivered == Counter({f"sb-{uid}": 1 for uid in users})
    sent = Counter(r["external_id"] for r in stack.braze_events("SENT"))
    assert sent == Counter({uid: 1 for uid in users})
    assert not stack.journal("sendbird.dead", "bridge") and not stack.journal("callback.dead", "bridge")


def fired(stack: Stack, rule_id: str) -> int:
    return sum(1 for r in stack.journal("fault.fired") if r["rule"] == rule_id)


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_sendbird_answering_503_is_retried_by_the_bridge(env: Stack, mode: str):
    # realtime: one send per user, a third of them refused; batch: one send for all, refused twice
    how = {"probability": 0.3, "seed": 2} if mode == "realtime" else {"count": 2}
    rule = fault(env, "sendbird", {"match": {"path": "/v1/notifications*"}, **how,
                                   "effect": {"status": 503, "headers": {"Retry-After": "1"}}})
    users = campaign_to_everyone(env, mode)
    assert_each_user_got_one_notification_and_one_sent(env, users)
    assert fired(env, rule) > 0 and len(env.journal("sendbird.retry", "bridge")) >= fired(env, rule)


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_sendbird_hanging_is_a_timeout_the_bridge_retries_without_doubling(env: Stack, mode: str):
    rule = fault(env, "sendbird", {"match": {"path": "/v1/notifications*"}, "count": 3, "effect": {"hang": True}})
    users = campaign_to_everyone(env, mode)
    assert_each_user_got_one_notification_and_one_sent(env, users)
    assert fired(env, rule) == 3


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_a_sendbird_answer_broken_after_the_send_took_effect_is_not_sent_twice(env: Stack, mode: str):
    """Sendbird takes no idempotency key: a send whose answer broke off is checked in the feed, found, and
    not sent again."""
    rule = fault(env, "sendbird", {"match": {"path": "/v1/notifications*"}, "count": 2, "effect": {"malformed": True}})
    users = campaign_to_everyone(env, mode)
    assert fired(env, rule) == (2 if mode == "realtime" else 1)  # one batch: found in the feed, never resent
    unknown = env.journal("sendbird.unknown", "bridge")
    assert unknown and len(env.journal("recovery.delivered", "bridge")) == len(unknown)
    assert_each_user_got_one_notification_and_one_sent(env, users)


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_a_sendbird_answer_too_late_for_the_bridge_is_found_in_the_feed_not_sent_again(env: Stack, mode: str):
    rule = fault(env, "sendbird", {"match": {"path": "/v1/notifications*"}, "count": 3,
                                   "effect": {"latency_ms": 60_000}})  # past the bridge's 30 s read timeout
    users = campaign_to_everyone(env, mode)
    assert fired(env, rule) >= 1 and env.journal("recovery.delivered", "bridge")
    assert_each_user_got_one_notification_and_one_sent(env, users)


def test_braze_webhooks_failing_with_599_on_the_way_to_the_bridge_are_retried_by_braze(env: Stack):
    rule = fault(env, "braze", {"direction": "outbound", "match": {"host": "bridge.local", "path": "/braze/*"},
                                "count": 10, "effect": {"status": 599}})
    users = campaign_to_everyone(env, "realtime")
    assert fired(env, rule) == 10
    attempts = env.journal("webhook.attempt", "braze")
    assert sum(1 for a in attempts if a["status"] == 599) == 10
    assert_each_user_got_one_notification_and_one_sent(env, users)


def test_a_braze_429_storm_on_users_track_holds_the_callbacks_back_until_it_passes(env: Stack):
    storm = {"match": {"path": "/users/track"}, "end": "+2m", "name": "storm",
             "effect": {"status": 429, "headers": {"Retry-After": "30"}}}
    users = campaign_to_everyone(env, "batch", faults=(("braze", storm),))
    assert [r for r in env.journal("fault.fired") if r["name"] == "storm"] and env.journal("callback.retry", "bridge")
    assert_each_user_got_one_notification_and_one_sent(env, users)


def test_a_bridge_intake_answer_cut_short_is_retried_by_braze_and_taken_once(env: Stack):
    rule = fault(env, "bridge", {"match": {"path": "/braze/notifications/*"}, "count": 5,
                                 "effect": {"malformed": True}})
    users = campaign_to_everyone(env, "realtime")
    assert fired(env, rule) == 5 and len(env.journal("webhook.duplicate", "bridge")) == 5
    assert_each_user_got_one_notification_and_one_sent(env, users)
