"""The ways a team turns a mock on (`with`, a decorator with or without parentheses, `start()`/`stop()`), that each
activation is a fresh world, and that a fake's own failure never passes as a green test."""

from __future__ import annotations

import asyncio

import pytest
import requests

from mocks.inprocess import FakeBraze, FakeSendbird, FakeStack, MockError, mock_braze, mock_sendbird, mock_stack

US_01 = "https://rest.iad-01.braze.com"
KEY = {"Authorization": "Bearer local-braze-key"}


def track(external_id: str) -> requests.Response:
    return requests.post(f"{US_01}/users/track", headers=KEY, json={"attributes": [{"external_id": external_id}]})


def test_the_context_manager_yields_the_fake_and_routes_while_open():
    with mock_braze() as braze, mock_sendbird() as sendbird, mock_stack(app_id="OTHER") as stack:
        assert isinstance(braze, FakeBraze) and isinstance(sendbird, FakeSendbird)
        assert isinstance(stack, FakeStack) and stack.sendbird.app_id == "OTHER"
        assert track("ada").status_code == 201
    with pytest.raises(requests.ConnectionError):
        track("ada")


def test_a_decorator_without_parentheses_routes_during_the_call():
    @mock_braze
    def team_code() -> int:
        return track("ada").status_code

    assert team_code() == 201
    with pytest.raises(requests.ConnectionError):
        track("ada")


def test_a_decorator_with_parentheses_takes_options_and_shows_the_fake():
    braze = mock_braze(api_key="team-key")

    @braze
    def team_code() -> tuple[int, int]:
        wrong = track("ada").status_code  # the default key is not this mock's
        right = requests.post(f"{US_01}/users/track", headers={"Authorization": "Bearer team-key"},
                              json={"attributes": [{"external_id": "ada"}]}).status_code
        assert braze.fake.user("ada") is not None
        return wrong, right

    assert team_code() == (401, 201)


def test_each_run_of_a_decorated_function_starts_from_an_empty_world():
    braze = mock_braze()
    seen: list[bool] = []

    @braze
    def run() -> None:
        seen.append(braze.fake.user("ada") is not None)
        track("ada").raise_for_status()

    run()
    run()
    assert seen == [False, False]


def test_fake_raises_when_the_mock_is_inactive():
    braze = mock_braze()
    with pytest.raises(MockError, match="not active"):
        braze.fake  # noqa: B018 - the property is what is tested
    with braze:
        assert braze.fake.api_key == "local-braze-key"
    with pytest.raises(MockError, match="not active"):
        braze.fake  # noqa: B018


def test_start_and_stop():
    sendbird = mock_sendbird(app_id="ACME")
    fake = sendbird.start()
    try:
        assert sendbird.fake is fake
        assert requests.get(f"{fake.url}/v1/templates", headers=fake.headers).status_code == 200
    finally:
        sendbird.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fake.url}/v1/templates", headers=fake.headers)
    sendbird.stop()  # stopping a stopped mock does nothing


def test_starting_an_active_mock_again_raises():
    braze = mock_braze()
    with braze:
        with pytest.raises(MockError, match="already active"):
            braze.start()
        assert track("ada").status_code == 201  # the first activation is untouched


def test_an_async_decorated_function_runs_inside_the_mock():
    braze = mock_braze()

    @braze
    async def team_code() -> int:
        await asyncio.sleep(0)
        return track("ada").status_code

    assert asyncio.run(team_code()) == 201
    with pytest.raises(MockError):
        braze.fake  # noqa: B018 - the mock ended with the coroutine


def _broken_task() -> None:
    raise ZeroDivisionError("the fake's bug")


def test_a_background_task_error_fails_the_mock_at_stop():
    braze = mock_braze()
    fake = braze.start()
    fake.world.runtime.scheduler.soon(_broken_task, name="broken-task")
    fake.world.settle()

    with pytest.raises(MockError, match=r"broken-task.*ZeroDivisionError"):
        braze.stop()
    with pytest.raises(requests.ConnectionError):  # stopped all the same
        track("ada")


def test_a_background_task_error_does_not_mask_the_bodys_own_failure():
    with pytest.raises(KeyError, match="the team's"), mock_braze() as braze:
        braze.world.runtime.scheduler.soon(_broken_task, name="broken-task")
        braze.world.settle()
        raise KeyError("the team's")
    with pytest.raises(requests.ConnectionError):
        track("ada")
