"""Re-eligibility counts from message receipt, not from campaign entry (issue 18).

Source: braze-docs `_docs/_user_guide/engagement_tools/campaigns/building_campaigns/delivery_types/reeligibility.md`:
"users who did not actually receive the campaign message (despite completing the trigger event) will
automatically qualify for the message the next time they complete the trigger event. This is because
re-eligibility is based on message receipt and not campaign entry"; "a day counts as 24 hours ... from when a
user receives the message"; with "a re-eligibility of zero minutes, we'll always attempt to schedule it right
away"; and for Canvas: "Re-eligibility for Canvas variants is tied to Canvas entry rather than message receipt".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from .braze_fixtures import BrazeEnv, recipients, webhook

ABORT_ON_FLAG = "{% if api_trigger_properties.${abort} %}{% abort_message('not now') %}{% endif %}{{${user_id}}}"


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.users("u1")
    yield env
    env.close()


def trigger(braze: BrazeEnv, campaign_id: str, **properties):
    response = braze.trigger_campaign(campaign_id, recipients=recipients("u1"), trigger_properties=properties)
    assert response.status_code == 201, response.get_json()
    braze.run()


def counts(braze: BrazeEnv, campaign_id: str) -> tuple[int, int, int, int]:
    stats = braze.campaign_stats(campaign_id)
    return stats["sent"], stats["aborted"], stats["ineligible"], stats["unique_recipients"]


@pytest.mark.parametrize("window", [None, 3600])
def test_an_aborted_user_gets_the_next_trigger(braze, window):
    """Abort on the first trigger, send on the second; the fake used to count the abort as the receipt."""
    hook = braze.receiver()
    cid = braze.campaign(webhook=webhook(ABORT_ON_FLAG), re_eligible_after_seconds=window)
    trigger(braze, cid, abort=True)
    assert hook.bodies == []
    trigger(braze, cid, abort=False)
    assert hook.bodies == ["u1"]
    assert counts(braze, cid) == (1, 1, 0, 1)  # the stats count the abort as aborted, not as sent
    trigger(braze, cid, abort=False)  # now it was received: not again (within the window)
    assert hook.bodies == ["u1"]
    assert counts(braze, cid) == (1, 1, 1, 1)


def test_an_action_based_abort_leaves_the_user_eligible(braze):
    hook = braze.receiver()
    body = "{% if event_properties.${abort} %}{% abort_message() %}{% endif %}{{${user_id}}}"
    cid = braze.campaign(webhook=webhook(body), trigger={"type": "action", "event": "buy"})
    braze.event("u1", "buy", abort=True)
    braze.run()
    braze.event("u1", "buy", abort=False)
    braze.run()
    assert hook.bodies == ["u1"]
    assert counts(braze, cid)[:2] == (1, 1)


def test_a_connected_content_failure_leaves_the_user_eligible(braze):
    """A Connected Content call that keeps failing aborts the message (`:retry`, five more tries)."""
    braze.receiver("cc.local", script=[500] * 6)
    hook = braze.receiver()
    body = "{% connected_content http://cc.local/offer :save offer :retry %}{{${user_id}}}"
    cid = braze.campaign(webhook=webhook(body))
    trigger(braze, cid)
    assert hook.bodies == []
    trigger(braze, cid)
    assert hook.bodies == ["u1"]
    assert counts(braze, cid)[:2] == (1, 1)


def test_a_failed_webhook_is_no_receipt(braze):
    """Harness contract: a webhook that failed (a 4xx, not retried) did not reach the user."""
    hook = braze.receiver(script=[400])
    cid = braze.campaign()
    trigger(braze, cid)
    trigger(braze, cid)
    assert [r["body"] for r in hook.requests] == ["u1", "u1"]
    stats = braze.campaign_stats(cid)
    assert (stats["failed"], stats["sent"], stats["ineligible"]) == (1, 1, 0)


def test_no_second_send_while_the_first_is_under_way(braze):
    """The first send is retried (503, then 30 s later a 200); a trigger in between is not a second message."""
    hook = braze.receiver(script=[503])
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run_for(5)
    assert len(hook.requests) == 1  # the 503; the retry waits
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    assert len(hook.requests) == 2  # the 503 and the retry that succeeded: one message
    assert counts(braze, cid) == (1, 0, 1, 1)
    trigger(braze, cid)
    assert len(hook.requests) == 2


def test_the_window_runs_from_receipt_not_from_the_trigger(braze):
    """A delivery limit of 1 per minute sends u1's message a minute after the trigger: 60 s of re-eligibility
    start then. The fake used to start them at the trigger."""
    braze.users("u0")
    hook = braze.receiver()
    cid = braze.campaign(re_eligible_after_seconds=60, rate_limit_per_minute=1)
    assert braze.trigger_campaign(cid, recipients=recipients("u0", "u1")).status_code == 201
    braze.run()
    assert hook.offsets() == [0.0, 60.0]
    braze.rt.clock.advance(100 - 60 - braze.rt.clock.now().timestamp() % 60)  # 100 s after the trigger
    trigger(braze, cid)
    assert len(hook.requests) == 2  # received 40 s ago
    braze.rt.clock.advance(20)
    trigger(braze, cid)
    assert len(hook.requests) == 3


def test_re_eligibility_zero_sends_every_trigger_even_while_one_is_under_way(braze):
    """"with a re-eligibility of zero minutes, we'll always attempt to schedule it right away"."""
    hook = braze.receiver()
    cid = braze.campaign(re_eligible_after_seconds=0)
    for _ in range(3):
        braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    assert hook.bodies == ["u1", "u1", "u1"]


def test_events_at_once_give_one_send(braze):
    """Two trigger events land in the same instant: two scheduler tasks, one message."""
    hook = braze.receiver()
    braze.campaign(trigger={"type": "action", "event": "buy"})
    braze.track({"events": [{"external_id": "u1", "name": "buy", "time": "2026-01-01T00:00:00Z"},
                            {"external_id": "u1", "name": "buy", "time": "2026-01-01T00:00:00Z"}]})
    braze.run()
    assert hook.bodies == ["u1"]


def test_concurrent_sends_to_one_user_give_one_message(braze):
    """Live mode runs scheduler tasks on worker threads: the eligibility check and the mark of the send under
    way are one step, so threads racing on one user send once."""
    braze.receiver()
    cid = braze.campaign()
    engine = braze.service.campaigns
    campaign, profile = engine.get(cid), braze.stored("u1")
    start = threading.Barrier(8)
    results: list[str] = []

    def send() -> None:
        start.wait()
        results.append(engine.send_to(campaign, profile, "d", {}))
    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["ineligible"] * 7 + ["queued"]


# -- Canvas: re-entry stays tied to entry ---------------------------------------------------------------------
def test_a_canvas_step_abort_counts_aborted_and_re_entry_stays_tied_to_entry(braze):
    """"Users who enter a Canvas and don't receive any messages will not be able to re-enter the Canvas unless
    re-eligibility is turned on" (reeligibility.md, Canvas tab): a canvas does NOT follow the campaign rule."""
    hook = braze.receiver()
    body = "{% if context.${abort} %}{% abort_message() %}{% endif %}{{${user_id}}}"
    cid = braze.canvas(steps=[{"id": "m1", "type": "message", "webhook": webhook(body)}])
    assert braze.trigger_canvas(cid, recipients=recipients("u1", context={"abort": True})).status_code == 201
    braze.run()
    assert braze.trigger_canvas(cid, recipients=recipients("u1", context={"abort": False})).status_code == 201
    braze.run()
    assert hook.bodies == []
    stats = braze.canvas_stats(cid)
    step = next(s for s in stats["steps"] if s["id"] == "m1")
    assert (stats["entered"], step.get("aborted"), step.get("sent", 0)) == (1, 1, 0)
