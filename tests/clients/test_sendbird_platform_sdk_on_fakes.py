"""`sendbird-platform-sdk` (PyPI, 2.1.5), Sendbird's OpenAPI-generated Python client over urllib3, against the
plugin's fakes: in-process (`fake_sendbird`, at `https://api-{app}.sendbird.com`) and live (`live_stack`).

The SDK parses every answer into strict models (a required field missing or of the wrong type raises), so each
call here also checks the shape of the fake's answer against Sendbird's own description of it. Each behaviour is
one check run both ways. What the fake does not serve of the Platform API (bots, open channels, metadata,
push preferences, ...) is not called.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sendbird_platform_sdk
from sendbird_platform_sdk.api.group_channel_api import GroupChannelApi
from sendbird_platform_sdk.api.message_api import MessageApi
from sendbird_platform_sdk.api.user_api import UserApi
from sendbird_platform_sdk.exceptions import ApiException
from sendbird_platform_sdk.model.create_a_user_request import CreateAUserRequest
from sendbird_platform_sdk.model.create_user_token_request import CreateUserTokenRequest
from sendbird_platform_sdk.model.mark_channel_messages_as_read_request import MarkChannelMessagesAsReadRequest
from sendbird_platform_sdk.model.update_a_user_request import UpdateAUserRequest

FEED = "notifications_feed"
FAR_FUTURE_MS = 2**41  # a `message_ts` after every message: list the newest


class Sdk:
    """The SDK's APIs for one fake, with its API token (the SDK takes it per call)."""

    def __init__(self, sendbird: Any, client: sendbird_platform_sdk.ApiClient) -> None:
        self.sendbird = sendbird
        self.token = sendbird.api_token
        self.users = UserApi(client)
        self.channels = GroupChannelApi(client)
        self.messages = MessageApi(client)


@pytest.fixture
def sdk_in_process(fake_sendbird) -> Iterator[Sdk]:
    with sendbird_platform_sdk.ApiClient(sendbird_platform_sdk.Configuration(host=fake_sendbird.chat_url)) as c:
        yield Sdk(fake_sendbird, c)


@pytest.fixture
def sdk_live(live_stack) -> Iterator[Sdk]:
    sendbird = live_stack.sendbird
    with sendbird_platform_sdk.ApiClient(sendbird_platform_sdk.Configuration(host=sendbird.chat_url)) as c:
        yield Sdk(sendbird, c)


def notify(sendbird: Any, user_id: str, name: str) -> Any:
    """A notification to the user through the Notifications API, as the team's backend (or the bridge) sends it."""
    sendbird.add_template("welcome", {"title": "Welcome, {name}!"})
    sent = requests.post(f"{sendbird.url}/v1/notifications", headers=sendbird.headers, timeout=30, json={
        "template": {"key": "welcome", "variables": {user_id: {"name": name}}}, "mode": "realtime",
        "targets": [user_id]})
    assert sent.status_code == 200, sent.text
    return sendbird.assert_notified(user_id, "welcome", name=name)


def check_user_lifecycle(sdk: Sdk) -> None:
    created = sdk.users.create_a_user(api_token=sdk.token, create_a_user_request=CreateAUserRequest(
        user_id="ada", nickname="Ada", profile_url="https://example.com/ada.png"))
    assert (created.user_id, created.nickname, created.is_active) == ("ada", "Ada", True)
    assert sdk.sendbird.user("ada")["nickname"] == "Ada"
    viewed = sdk.users.view_a_user("ada", api_token=sdk.token)
    assert viewed.profile_url == "https://example.com/ada.png"
    sdk.users.create_a_user(api_token=sdk.token, create_a_user_request=CreateAUserRequest(
        user_id="bo", nickname="Bo", profile_url=""))
    first = sdk.users.list_users(api_token=sdk.token, limit=1)
    assert [u.user_id for u in first.users] == ["ada"] and first.next
    rest = sdk.users.list_users(api_token=sdk.token, limit=1, token=first.next)
    assert [u.user_id for u in rest.users] == ["bo"] and rest.next == ""
    assert [u.nickname for u in sdk.users.list_users(api_token=sdk.token, user_ids="bo").users] == ["Bo"]
    updated = sdk.users.update_a_user("ada", api_token=sdk.token, update_a_user_request=UpdateAUserRequest(
        nickname="Ada L.", profile_url=""))
    assert updated.nickname == "Ada L." and sdk.sendbird.user("ada")["nickname"] == "Ada L."
    token = sdk.users.create_user_token("ada", api_token=sdk.token,
                                        create_user_token_request=CreateUserTokenRequest())
    assert token.user_id == "ada" and token.token
    sdk.users.delete_a_user("ada", api_token=sdk.token)
    assert sdk.sendbird.user("ada") is None


def check_refusals(sdk: Sdk) -> None:
    """Sendbird's errors reach the SDK as its ApiException, with Sendbird's code in the body."""
    request = CreateAUserRequest(user_id="ada", nickname="Ada", profile_url="")
    sdk.users.create_a_user(api_token=sdk.token, create_a_user_request=request)
    with pytest.raises(ApiException) as exists:
        sdk.users.create_a_user(api_token=sdk.token, create_a_user_request=request)
    assert exists.value.status == 400 and '"code":400202' in exists.value.body
    with pytest.raises(ApiException) as missing:
        sdk.users.view_a_user("nobody", api_token=sdk.token)
    assert missing.value.status == 400 and '"code":400201' in missing.value.body
    with pytest.raises(ApiException) as wrong_token:
        sdk.users.view_a_user("ada", api_token="not-the-token")
    assert wrong_token.value.status == 401


def check_feed_reads(sdk: Sdk) -> None:
    """A backend reading a user's feed channel and marking it read through the Platform API."""
    notification = notify(sdk.sendbird, "ada", "Ada")
    assert sdk.users.view_number_of_unread_messages("ada", api_token=sdk.token).unread_feed_count == 1
    mine = sdk.users.list_my_group_channels("ada", api_token=sdk.token)
    assert [c.channel_url for c in mine.channels] == [FEED]
    assert mine.channels[0].last_message.message_id == notification.message_id
    channel = sdk.channels.get_a_group_channel(FEED, api_token=sdk.token)
    assert channel.channel_url == FEED and channel.is_feed_channel is True
    page = sdk.messages.list_messages("group_channels", FEED, FAR_FUTURE_MS, notification.message_id,
                                      api_token=sdk.token, user_id="ada")
    assert [m.message_id for m in page.messages] == [notification.message_id]
    assert page.messages[0].message_status == "SENT"
    sdk.messages.mark_channel_messages_as_read(FEED, api_token=sdk.token, mark_channel_messages_as_read_request=
                                               MarkChannelMessagesAsReadRequest(user_id="ada"))
    assert sdk.users.view_number_of_unread_messages("ada", api_token=sdk.token).unread_feed_count == 0
    assert sdk.sendbird.assert_notified("ada", "welcome").read


def test_user_lifecycle_in_process(sdk_in_process):
    check_user_lifecycle(sdk_in_process)


def test_refusals_in_process(sdk_in_process):
    check_refusals(sdk_in_process)


def test_feed_reads_in_process(sdk_in_process):
    check_feed_reads(sdk_in_process)


def test_the_sdk_calls_sendbirds_real_host_through_urllib3_in_process(sdk_in_process, fake_sendbird):
    sdk_in_process.users.create_a_user(api_token=sdk_in_process.token,
                                       create_a_user_request=CreateAUserRequest(user_id="ada", nickname="",
                                                                                profile_url=""))
    assert [c.request.url for c in fake_sendbird.calls] == [f"https://api-{fake_sendbird.app_id.lower()}"
                                                            ".sendbird.com/v3/users"]


def test_the_sdks_asynchronous_calls_from_its_thread_pool_reach_the_fake_in_process(sdk_in_process, fake_sendbird):
    pending = sdk_in_process.users.create_a_user(api_token=sdk_in_process.token, async_req=True,
                                                 create_a_user_request=CreateAUserRequest(
                                                     user_id="ada", nickname="Ada", profile_url=""))
    assert pending.get(timeout=30).user_id == "ada"
    assert fake_sendbird.user("ada")["nickname"] == "Ada"


@pytest.mark.live
def test_user_lifecycle_live(sdk_live):
    check_user_lifecycle(sdk_live)


@pytest.mark.live
def test_refusals_live(sdk_live):
    check_refusals(sdk_live)


@pytest.mark.live
def test_feed_reads_live(sdk_live):
    check_feed_reads(sdk_live)
