"""The simulated clock a mock runs on: where it starts, what happens before the team's call returns (what is due
now), and what waits for the test to move time (a canvas delay, the bridge's batch linger)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from mocks.inprocess import MockError, World, mock_braze, mock_stack
from tests.mocks.team import add_welcome, team_tracks, team_triggers

START = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)


def test_the_clock_starts_at_the_current_wall_clock_second():
    before = datetime.now(UTC).replace(microsecond=0)
    with mock_braze() as braze:
        now = braze.world.now
    after = datetime.now(UTC)

    assert before <= now <= after and now.microsecond == 0


def test_the_clock_starts_where_the_test_says(fake_stack):
    with mock_braze(start=START) as braze:
        braze.track(events=[{"external_id": "ada", "name": "signed_up", "time": START.isoformat()}])
        assert braze.world.now == START
        assert braze.assert_event("ada", "signed_up").time == START


@pytest.mark.fakes(start=START)
def test_the_fakes_marker_sets_the_start(fake_stack):
    assert fake_stack.world.now == START


def test_an_api_triggered_realtime_campaign_is_delivered_before_the_trigger_returns(fake_stack):
    campaign = add_welcome(fake_stack)
    team_tracks(fake_stack.braze, "ada", first_name="Ada", city="Paris")

    team_triggers(fake_stack.braze, campaign, "ada")

    notification = fake_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
    fake_stack.assert_reported("ada", "SENT", notification)
    assert fake_stack.world.now == notification.created_at  # no simulated time passed


def test_a_batch_campaign_waits_for_the_bridges_one_second_linger(fake_stack):
    campaign = add_welcome(fake_stack, endpoint="batch")
    team_tracks(fake_stack.braze, "ada", first_name="Ada")
    team_triggers(fake_stack.braze, campaign, "ada")

    assert fake_stack.notifications("ada") == []  # accepted by the bridge, waiting for more of the batch
    fake_stack.advance("999ms")
    assert fake_stack.notifications("ada") == []
    fake_stack.advance("1ms")
    fake_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
    fake_stack.assert_reported("ada", "SENT")


@pytest.mark.fakes(batch_linger_ms=5000)
def test_the_linger_is_an_option_of_the_stack(fake_stack):
    campaign = add_welcome(fake_stack, endpoint="batch")
    team_tracks(fake_stack.braze, "ada")
    team_triggers(fake_stack.braze, campaign, "ada")

    fake_stack.advance("4s")
    assert fake_stack.notifications("ada") == []
    fake_stack.advance("1s")
    assert len(fake_stack.notifications("ada")) == 1


def test_a_canvas_delay_step_delivers_only_after_the_delay(fake_stack):
    fake_stack.sendbird.add_template("nudge", {"title": "Still there, {first_name}?"})
    webhook = fake_stack.sendbird_webhook("nudge", {"first_name": "{{${first_name}}}"})
    canvas = fake_stack.braze.add_canvas("Nudge", [
        {"id": "wait", "type": "delay", "seconds": 86_400, "next": "send"},
        {"id": "send", "type": "message", "webhook": webhook},
    ], entry={"type": "api"})
    team_tracks(fake_stack.braze, "ada", first_name="Ada")

    answer = requests.post(f"{fake_stack.braze.url}/canvas/trigger/send", headers=fake_stack.braze.headers,
                           json={"canvas_id": canvas, "recipients": [{"external_user_id": "ada"}]})
    assert answer.status_code == 201, answer.text

    fake_stack.advance("23h")
    fake_stack.sendbird.assert_not_notified("ada")
    fake_stack.advance("1h")
    notification = fake_stack.sendbird.assert_notified("ada", "nudge")
    assert notification.rendered == {"title": "Still there, Ada?"}


def test_run_until_idle_runs_everything_pending_jumping_the_clock(fake_stack):
    fake_stack.sendbird.add_template("nudge", {"title": "Hi"})
    canvas = fake_stack.braze.add_canvas("Nudge", [
        {"id": "wait", "type": "delay", "seconds": 3 * 86_400, "next": "send"},
        {"id": "send", "type": "message", "webhook": fake_stack.sendbird_webhook("nudge")},
    ], entry={"type": "api"})
    team_tracks(fake_stack.braze, "ada")
    started = fake_stack.world.now
    team_triggers_canvas = requests.post(f"{fake_stack.braze.url}/canvas/trigger/send",
                                         headers=fake_stack.braze.headers,
                                         json={"canvas_id": canvas, "recipients": [{"external_user_id": "ada"}]})
    team_triggers_canvas.raise_for_status()

    assert fake_stack.run_until_idle() > 0
    assert fake_stack.world.now >= started + timedelta(days=3)
    fake_stack.sendbird.assert_notified("ada", "nudge")
    assert fake_stack.run_until_idle() == 0  # nothing left


@pytest.mark.parametrize("duration", ["90s", 90, 90.0, timedelta(seconds=90), "1.5m"])
def test_advance_takes_text_seconds_or_a_timedelta(duration):
    world = World(start=START)
    world.advance(duration)
    assert world.now == START + timedelta(seconds=90)


@pytest.mark.parametrize("duration", ["soon", "-5s", -5, "", None, True, timedelta(seconds=-5)])
def test_a_bad_duration_is_a_clear_value_error(duration):
    world = World(start=START)
    with pytest.raises(ValueError, match="duration") as raised:
        world.advance(duration)
    assert repr(duration) in str(raised.value) or "negative" in str(raised.value)
    assert world.now == START


def test_a_world_that_never_goes_idle_says_so(monkeypatch):
    monkeypatch.setattr("mocks.inprocess.world.IDLE_TASK_LIMIT", 50)
    with mock_stack() as stack:
        def again() -> None:
            stack.world.runtime.scheduler.after(1, again)

        stack.world.runtime.scheduler.after(1, again)
        with pytest.raises(MockError, match=r"still busy.*advance"):
            stack.run_until_idle()
