"""`braze-client` (PyPI, 2.3.3), the Python client teams use for Braze's REST API, against the plugin's fakes:
in-process (`fake_braze`, `fake_stack`, at Braze's real host) and live (`live_stack`, over loopback).

Each behaviour is one check run both ways, so the two paths cannot drift apart: the client's own methods
(`user_track`, `user_export`), a campaign triggered through the client's request path (it has no method for
`/campaigns/trigger/send`) reaching the user's Sendbird feed, and what the client makes of Braze's refusals.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.real_clients import braze_client, braze_send


def client(braze: Any, api_key: str | None = None) -> Any:
    """braze-client configured as a team configures it: the workspace's REST endpoint and a key."""
    return braze_client.BrazeClient(api_key=api_key or braze.api_key, api_url=braze.url)


def check_user_track(braze: Any) -> None:
    answer = client(braze).user_track(
        attributes=[{"external_id": "ada", "first_name": "Ada", "email": "ada@example.com", "plan": "pro"}],
        events=[{"external_id": "ada", "name": "played", "time": "2026-01-01T00:00:00Z", "properties": {"n": 1}}],
        purchases=[{"external_id": "ada", "product_id": "p1", "currency": "USD", "price": 2.5,
                    "time": "2026-01-01T00:00:00Z"}])
    assert answer["success"] is True and answer["status_code"] == 201
    assert (answer["attributes_processed"], answer["events_processed"], answer["purchases_processed"]) == (1, 1, 1)
    profile = braze.user("ada")
    assert profile["first_name"] == "Ada" and profile["email"] == "ada@example.com"
    assert profile["custom_attributes"]["plan"] == "pro"
    assert [(p["name"], p["count"]) for p in profile["purchases"]] == [("p1", 1)]
    assert profile["total_revenue"] == 2.5
    braze.assert_event("ada", "played", n=1)


def check_user_export(braze: Any) -> None:
    c = client(braze)
    c.user_track(attributes=[{"external_id": "ada", "first_name": "Ada", "email": "ada@example.com"}])
    by_ids = c.user_export(external_ids=["ada", "nobody"], fields_to_export=["external_id", "first_name"])
    assert by_ids["success"] is True
    assert by_ids["users"] == [{"external_id": "ada", "first_name": "Ada"}]
    assert by_ids["invalid_user_ids"] == ["nobody"]
    by_email = c.user_export(email="ada@example.com", fields_to_export=["external_id", "email"])
    assert by_email["users"] == [{"external_id": "ada", "email": "ada@example.com"}]


def check_campaign_trigger(stack: Any) -> None:
    stack.sendbird.add_template("welcome", {"title": "Welcome, {first_name}!"})
    campaign_id = stack.add_sendbird_campaign("welcome", "welcome", {"first_name": "{{${first_name}}}"})
    c = client(stack.braze)
    c.user_track(attributes=[{"external_id": "ada", "first_name": "Ada"}])
    answer = braze_send(c, "/campaigns/trigger/send",
                        {"campaign_id": campaign_id, "recipients": [{"external_user_id": "ada"}]})
    assert answer["success"] is True and answer["dispatch_id"]
    notification = stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
    assert notification.rendered["title"] == "Welcome, Ada!"
    stack.assert_reported("ada", "SENT", notification)


def check_refusals(braze: Any) -> None:
    with pytest.raises(braze_client.BrazeClientError) as refused:
        client(braze, api_key="not-a-key").user_track(attributes=[{"external_id": "ada"}])
    assert refused.value.args[0].startswith("Invalid API")  # Braze's 401 message, as the client raises it
    assert braze.user("ada") is None
    # a non-fatal error (an event without its name) is a 201 with `errors`: the client returns it, unsuccessful
    answer = client(braze).user_track(attributes=[{"external_id": "cy"}],
                                      events=[{"external_id": "cy", "time": "2026-01-01T00:00:00Z"}])
    assert answer["message"] == "success" and answer["success"] is False
    assert answer["errors"][0]["input_array"] == "events"
    # a fatal one (a campaign Braze does not have) raises the client's error with Braze's message
    with pytest.raises(braze_client.BrazeClientError) as unknown:
        braze_send(client(braze), "/campaigns/trigger/send",
                   {"campaign_id": "no-such-campaign", "recipients": [{"external_user_id": "cy"}]})
    assert unknown.value.args[0] == "Invalid Campaign ID"


def test_user_track_in_process(fake_braze):
    check_user_track(fake_braze)


def test_user_export_in_process(fake_braze):
    check_user_export(fake_braze)


def test_campaign_trigger_reaches_the_feed_in_process(fake_stack):
    check_campaign_trigger(fake_stack)


def test_refusals_in_process(fake_braze):
    check_refusals(fake_braze)


def test_the_client_calls_brazes_real_host_in_process(fake_braze):
    client(fake_braze).user_track(attributes=[{"external_id": "ada"}])
    assert [call.request.url for call in fake_braze.calls] == ["https://rest.iad-01.braze.com/users/track"]


@pytest.mark.live
def test_user_track_live(live_stack):
    check_user_track(live_stack.braze)


@pytest.mark.live
def test_user_export_live(live_stack):
    check_user_export(live_stack.braze)


@pytest.mark.live
def test_campaign_trigger_reaches_the_feed_live(live_stack):
    check_campaign_trigger(live_stack)


@pytest.mark.live
def test_refusals_live(live_stack):
    check_refusals(live_stack.braze)
