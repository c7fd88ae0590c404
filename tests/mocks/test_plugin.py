"""The pytest plugin as a team's suite meets it: installed, its fixtures are there, each test gets a world of its
own, the `fakes` marker passes options, and a failing `assert_*` helper shows what the user got."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SETUP = '''
import requests

def welcome(stack, user, **attributes):
    stack.sendbird.add_template("welcome", {"title": "Welcome, {first_name}!"})
    campaign = stack.add_sendbird_campaign("W", "welcome", {"first_name": "{{${first_name}}}"})
    requests.post(stack.braze.url + "/users/track", headers=stack.braze.headers,
                  json={"attributes": [{"external_id": user, **attributes}]}).raise_for_status()
    requests.post(stack.braze.url + "/campaigns/trigger/send", headers=stack.braze.headers,
                  json={"campaign_id": campaign, "recipients": [{"external_user_id": user}]}).raise_for_status()
'''


def test_each_test_gets_an_empty_stack(pytester):
    pytester.makepyfile(SETUP + '''
def test_first(fake_stack):
    welcome(fake_stack, "ada", first_name="Ada")
    fake_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")

def test_second(fake_stack):
    assert fake_stack.braze.user("ada") is None
    assert fake_stack.sendbird.feed("ada") == []
    assert fake_stack.journal("send.accepted") == []
    fake_stack.sendbird.add_template("welcome", {"title": "again"})  # the key is free again
''')
    pytester.runpytest("-p", "no:playwright").assert_outcomes(passed=2)


def test_the_fakes_marker_passes_options(pytester):
    pytester.makepyfile('''
import pytest
import requests
from datetime import datetime, UTC

@pytest.mark.fakes(app_id="ACME-7", start=datetime(2031, 1, 1, tzinfo=UTC))
def test_marked(fake_sendbird):
    assert fake_sendbird.url == "https://api-acme-7.notifications.sendbird.com"
    assert fake_sendbird.world.now == datetime(2031, 1, 1, tzinfo=UTC)
    answer = requests.get("https://api-acme-7.sendbird.com/v1/templates", headers=fake_sendbird.headers)
    assert answer.status_code == 200

@pytest.mark.fakes(api_key="team-key")
def test_braze_key(fake_braze):
    answer = requests.post(fake_braze.url + "/users/track", headers={"Authorization": "Bearer team-key"},
                           json={"attributes": [{"external_id": "ada"}]})
    assert answer.status_code == 201

def test_unmarked(fake_sendbird):
    assert fake_sendbird.app_id == "LOCAL"
''')
    pytester.runpytest("-p", "no:playwright").assert_outcomes(passed=3)


def test_a_failing_assert_notified_shows_what_the_user_got(pytester):
    pytester.makepyfile(SETUP + '''
def test_wrong_name(fake_stack):
    welcome(fake_stack, "ada")
    fake_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
''')
    result = pytester.runpytest("-p", "no:playwright")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*Sendbird user 'ada' got no notification welcome with {'first_name': 'Ada'}; they got:",
        "*- welcome {'first_name': ''} -> {'title': 'Welcome, !'} (unread, *)",
    ])


def test_a_background_task_error_fails_the_test(pytester):
    pytester.makepyfile('''
def boom():
    raise ZeroDivisionError("inside the fake")

def test_green_body(fake_braze):
    fake_braze.world.runtime.scheduler.soon(boom, name="boom")
    fake_braze.world.settle()
''')
    result = pytester.runpytest("-p", "no:playwright")

    result.assert_outcomes(passed=1, errors=1)  # the body passed; its teardown says the fake broke
    result.stdout.fnmatch_lines(["*MockError: 1 background task(s) of the fakes raised*boom*ZeroDivisionError*"])


class SessionServers:
    """Handed to the inner run as a plugin: the inner conftest's `live_servers` are this session's (a conftest's
    fixture overrides the plugin's), so no second set of servers starts."""

    def __init__(self, servers) -> None:
        self.shared_live_servers = servers


SHARED_SERVERS_CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def live_servers(pytestconfig):
    plugins = pytestconfig.pluginmanager.get_plugins()
    return next(p.shared_live_servers for p in plugins if hasattr(p, "shared_live_servers"))
'''


@pytest.mark.live
def test_live_stack_is_reset_between_tests(pytester, live_servers):
    pytester.makeconftest(SHARED_SERVERS_CONFTEST)
    pytester.makepyfile(SETUP + f'''
def test_first(live_stack):
    assert live_stack.braze.url == {live_servers.urls["braze"]!r}
    welcome(live_stack, "ada", first_name="Ada")
    live_stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
    live_stack.assert_reported("ada", "SENT")

def test_second(live_stack):
    assert live_stack.braze.user("ada") is None
    assert live_stack.sendbird.feed("ada") == []
    assert live_stack.status_events("ada") == []
    assert live_stack.journal("send.accepted") == []
    live_stack.sendbird.add_template("welcome", {{"title": "again"}})
''')
    pytester.runpytest("-p", "no:playwright", plugins=[SessionServers(live_servers)]).assert_outcomes(passed=2)
