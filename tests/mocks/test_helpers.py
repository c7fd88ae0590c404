"""The helpers a test drives and reads the fakes with: dashboard setup refused with the fake's reason, profiles,
events and feeds as a person would look at them, a user's device, and assertion failures that show what the
user actually got."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from mocks.inprocess import MockError
from tests.mocks.team import add_welcome, team_tracks, team_triggers


def notification_log(stack, notification) -> dict:
    return stack.sendbird.call("GET", f"/v1/notifications/{notification.notification_id}")


def welcome_ada(stack, **attributes):
    """Ada, tracked by the team's code, gets the welcome campaign; her notification."""
    campaign = add_welcome(stack)
    team_tracks(stack.braze, "ada", **attributes)
    team_triggers(stack.braze, campaign, "ada")
    return stack.sendbird.assert_notified("ada", "welcome")


# -- Braze ----------------------------------------------------------------------------------------------
def test_an_invalid_campaign_is_refused_with_the_fakes_reason(fake_braze):
    with pytest.raises(MockError, match=r"refused POST /_admin/campaigns \(400\).*trigger.*'api', 'scheduled'"):
        fake_braze.add_campaign("Broken", {"url": "https://example.com"}, trigger={"type": "bogus"})
    with pytest.raises(MockError, match=r"re_eligible_after_seconds.*greater than or equal to 0"):
        fake_braze.add_campaign("Broken", {"url": "https://example.com"}, re_eligible_after_seconds=-1)


def test_events_and_the_profile_show_what_the_teams_code_tracked(fake_braze):
    now = fake_braze.world.now
    answer = requests.post(f"{fake_braze.url}/users/track", headers=fake_braze.headers, json={
        "attributes": [{"external_id": "ada", "first_name": "Ada", "plan": "pro"}],
        "events": [{"external_id": "ada", "name": "purchased", "time": now.isoformat(), "properties": {"sku": "A1"}},
                   {"external_id": "ada", "name": "opened_app", "time": now.isoformat()},
                   {"external_id": "bob", "name": "purchased", "time": now.isoformat(), "properties": {"sku": "B2"}}],
    })
    assert answer.status_code == 201, answer.text

    assert [(e.name, e.properties) for e in fake_braze.events("ada")] == [("purchased", {"sku": "A1"}),
                                                                          ("opened_app", {})]
    assert [e.external_id for e in fake_braze.events(name="purchased")] == ["ada", "bob"]
    assert fake_braze.assert_event("ada", "purchased", sku="A1").time == now
    profile = fake_braze.user("ada")
    assert profile["first_name"] == "Ada" and profile["custom_attributes"]["plan"] == "pro"
    assert fake_braze.user("nobody") is None


def test_a_missing_event_lists_the_users_events(fake_braze):
    fake_braze.track(events=[{"external_id": "ada", "name": "purchased", "time": fake_braze.world.now.isoformat(),
                              "properties": {"sku": "A1"}}])

    with pytest.raises(AssertionError) as failure:
        fake_braze.assert_event("ada", "purchased", sku="Z9")

    message = str(failure.value)
    assert "'ada' has no custom event purchased with {'sku': 'Z9'}" in message
    assert "purchased {'sku': 'A1'}" in message


# -- Sendbird -------------------------------------------------------------------------------------------
def test_a_template_sendbird_would_refuse_is_refused_with_its_code(fake_sendbird):
    with pytest.raises(MockError, match=r'refused POST /v1/templates \(400\): Invalid value for "key".*code 400111'):
        fake_sendbird.add_template("not a key!", {"title": "Hi"})
    fake_sendbird.add_template("welcome", {"title": "Hi"})
    with pytest.raises(MockError, match="already exists"):
        fake_sendbird.add_template("welcome", {"title": "Hi again"})


def test_the_feed_shows_each_notification_rendered_with_its_variables(fake_stack):
    sent_at = fake_stack.world.now
    notification = welcome_ada(fake_stack, first_name="Ada", city="Paris")

    (in_feed,) = fake_stack.sendbird.feed("ada")
    assert in_feed == notification
    assert notification.template_key == "welcome"
    assert notification.variables == {"first_name": "Ada", "city": "Paris"}
    assert notification.rendered == {"title": "Welcome, Ada!", "body": "Hello from Paris"}
    assert notification.created_at == sent_at and notification.user_id == "ada"
    assert notification.read_at is None and not notification.read
    assert fake_stack.sendbird.feed("nobody") == []


def test_reading_marks_the_notification_read_and_reports_read_to_braze(fake_stack):
    notification = welcome_ada(fake_stack, first_name="Ada")
    fake_stack.advance("1h")

    fake_stack.read("ada")

    (read,) = fake_stack.notifications("ada")
    assert read.read and read.read_at == notification.created_at + timedelta(hours=1)
    event = fake_stack.assert_reported("ada", "READ", notification)
    assert event.properties["notification_id"] == notification.notification_id
    assert notification_log(fake_stack, notification)["metrics"]["read"] == 1


def test_opening_records_an_impression_without_reading(fake_stack):
    notification = welcome_ada(fake_stack, first_name="Ada")

    fake_stack.open("ada")

    assert notification_log(fake_stack, notification)["metrics"]["impressions"] == 1
    (viewed,) = fake_stack.sendbird.journal("stats.viewed")
    assert viewed["notification_id"] == notification.notification_id and viewed["user_id"] == "ada"
    assert not fake_stack.notifications("ada")[0].read
    assert [e.properties["status"] for e in fake_stack.status_events("ada")] == ["SENT"]


def test_clicking_reads_and_records_a_click(fake_stack):
    notification = welcome_ada(fake_stack, first_name="Ada")

    fake_stack.click("ada", notification)

    metrics = notification_log(fake_stack, notification)["metrics"]
    assert (metrics["impressions"], metrics["read"], metrics["clicks"]) == (1, 1, 1)
    assert fake_stack.notifications("ada")[0].read
    assert fake_stack.sendbird.journal("stats.clicked", notification_id=notification.notification_id)


def test_a_device_without_notifications_says_so(fake_sendbird):
    with pytest.raises(MockError, match="'ada' has no notification to act on"):
        fake_sendbird.read("ada")


# -- what a failing assertion shows ---------------------------------------------------------------------
def test_a_missing_notification_lists_what_the_user_got_with_variables_and_rendering(fake_stack):
    welcome_ada(fake_stack, first_name="Ada", city="Paris")

    with pytest.raises(AssertionError) as failure:
        fake_stack.sendbird.assert_notified("ada", "welcome", first_name="Adam")

    message = str(failure.value)
    assert "'ada' got no notification welcome with {'first_name': 'Adam'}" in message
    assert "{'first_name': 'Ada', 'city': 'Paris'}" in message
    assert "'title': 'Welcome, Ada!'" in message and "unread" in message


def test_a_missing_attribute_renders_empty_and_the_failure_shows_it(fake_stack):
    welcome_ada(fake_stack)  # the team's code never saved first_name

    with pytest.raises(AssertionError) as failure:
        fake_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")

    assert "{'first_name': '', 'city': ''}" in str(failure.value)
    assert "'title': 'Welcome, !'" in str(failure.value)


def test_an_unexpected_notification_is_listed(fake_stack):
    welcome_ada(fake_stack, first_name="Ada")

    fake_stack.sendbird.assert_not_notified("ada", "other")
    with pytest.raises(AssertionError, match=r"(?s)'ada' was not to get welcome.*Welcome, Ada!"):
        fake_stack.sendbird.assert_not_notified("ada", "welcome")


def test_a_missing_report_lists_the_events_and_the_notifications(fake_stack):
    notification = welcome_ada(fake_stack, first_name="Ada")

    with pytest.raises(AssertionError) as failure:
        fake_stack.assert_reported("ada", "READ", notification)

    message = str(failure.value)
    assert "no custom event sendbird_notification with {'status': 'READ'" in message
    assert "'status': 'SENT'" in message  # the event the user does have
    assert "their Sendbird notifications:" in message and "Welcome, Ada!" in message
    assert notification.notification_id in message


def test_the_report_counts_the_pipeline(fake_stack):
    welcome_ada(fake_stack, first_name="Ada")
    fake_stack.read("ada")

    report = fake_stack.report()

    assert report["funnel"] == {"audience": 1, "webhooks": 1, "accepted": 1, "notifications": 1, "sent_events": 1,
                                "read": 1, "read_events": 1, "conversions": 0}
    assert (report["checks"]["lost"], report["checks"]["duplicates"]) == (0, 0)
