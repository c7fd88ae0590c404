"""The `live_stack` fixture: the same helpers over the three services as real servers, on the wall clock (the
`assert_*` helpers wait for what they look for), emptied between tests."""

from __future__ import annotations

import pytest
import requests

from mocks.inprocess import MockError
from tests.mocks.team import add_welcome, team_tracks, team_triggers

pytestmark = pytest.mark.live


def test_a_campaign_is_delivered_read_and_reported_through_the_servers(live_stack):
    assert live_stack.braze.url.startswith("http://127.0.0.1:")  # real sockets, not the in-process doors
    campaign = add_welcome(live_stack)
    team_tracks(live_stack.braze, "ada", first_name="Ada", city="Paris")
    team_triggers(live_stack.braze, campaign, "ada")

    notification = live_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
    assert notification.rendered == {"title": "Welcome, Ada!", "body": "Hello from Paris"}
    live_stack.assert_reported("ada", "SENT", notification)

    live_stack.read("ada")

    read = live_stack.assert_reported("ada", "READ", notification)
    assert read.properties["notification_id"] == notification.notification_id
    assert live_stack.notifications("ada")[0].read


def test_the_journal_spans_the_three_services(live_stack):
    campaign = add_welcome(live_stack)
    team_tracks(live_stack.braze, "ada", first_name="Ada")
    team_triggers(live_stack.braze, campaign, "ada")
    notification = live_stack.sendbird.assert_notified("ada", "welcome")
    live_stack.assert_reported("ada", "SENT", notification)

    services = {record["service"] for record in live_stack.journal()}
    assert services == {"braze", "sendbird", "bridge"}
    assert live_stack.sendbird.journal("send.accepted", notification_id=notification.notification_id)
    assert all(record["service"] == "braze" for record in live_stack.braze.journal())


def test_a_reset_forgets_the_previous_tests_events(live_servers):
    live_servers.reset()
    first = live_servers.stack()
    campaign = add_welcome(first)
    team_tracks(first.braze, "ada")
    team_triggers(first.braze, campaign, "ada")
    first.assert_reported("ada", "SENT")

    live_servers.reset()
    second = live_servers.stack()
    second.world.timeout = 0.2  # the wait for what must not come

    assert second.status_events("ada") == []
    assert second.braze.user("ada") is None and second.notifications("ada") == []
    with pytest.raises(AssertionError, match="no custom event"):
        second.assert_reported("ada", "SENT")


def test_the_clock_cannot_be_moved(live_stack):
    with pytest.raises(MockError, match="wall clock"):
        live_stack.advance("1d")
    with pytest.raises(MockError, match="wall clock"):
        live_stack.run_until_idle()


def test_in_process_only_views_say_so(live_stack):
    with pytest.raises(MockError, match=r"do(es)? not see the team's calls"):
        live_stack.braze.calls  # noqa: B018 - the property is what is tested
    with pytest.raises(MockError, match="own process"):
        live_stack.bridge  # noqa: B018
    assert requests.get(f"{live_stack.bridge_url}/_admin/health").json()["status"] == "ok"
