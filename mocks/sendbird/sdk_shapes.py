"""The objects Sendbird's Chat SDK parses, shared by the REST routes and the WebSocket (`LOGI`, `ADMM`).

Field by field these follow what `@sendbird/chat` 4.22 reads (docs/sendbird-fake.md, "Device side", and
the harness reference on Sendbird's device side): a wrong shape rarely
throws in the SDK, it silently builds a chat message instead of a notification or drops a channel, so the
names and units here are the contract. `notification_message_id` is the send's notification id: a send
reaches each target once, so it is unique in a user's feed, and it is the id the SDK hands back in
`mark_as_read` and in its statistics.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mocks.sendbird.feeds import Message

if TYPE_CHECKING:
    from mocks.sendbird.service import SendbirdService

FEED = "feed"
STATS_PATH = "/v3/sdk/notification_statistics"  # where the SDK posts its statistics batches
PING_INTERVAL_S = 15
PONG_TIMEOUT_S = 5
# seconds, as the SDK multiplies them by 1000 (left out, its defaults wait 3,000 s before a second attempt)
RECONNECT = {"interval": 1, "max_interval": 8, "mul": 2, "retry_cnt": 5}
# "realtime" posts each statistic at once; every field is read without a default (one missing: nothing is sent)
LOG_PUBLISH_CONFIG = {
    "default": {"min_stat_count": 100, "min_interval": 10800, "max_stat_count_per_request": 1000,
                "lower_threshold": 10, "request_delay_range": 180},
    "realtime": {"min_stat_count": 1, "min_interval": 0, "max_stat_count_per_request": 100,
                 "lower_threshold": 0, "request_delay_range": 0},
}


def sub_data(message: Message) -> str:
    """The notification's data as the SDK decodes it into `notificationData`: a JSON *string*."""
    return json.dumps({"label": message.label or "", "tags": message.tags, "template_key": message.template.key,
                       "template_variables": message.variables}, separators=(",", ":"), ensure_ascii=False)


def sdk_message(message: Message, channel_type: str = FEED) -> dict[str, Any]:
    """A delivered message as the SDK's `NotificationMessage` reads it (the `ADMM` payload too)."""
    return {
        "type": "ADMM", "message_id": message.message_id, "notification_message_id": message.notification_id,
        "channel_url": message.channel_url, "channel_type": channel_type, "created_at": message.created_at,
        "updated_at": 0, "message": "", "data": "", "custom_type": "", "mention_type": "users",
        "mentioned_users": [], "message_status": message.status, "priority": "normal",
        "extended_message": {"sub_type": 0, "sub_data": sub_data(message)},
    }


def login_answer(service: SendbirdService, user_id: str, key: str) -> dict[str, Any]:
    """The HTTP login answer, also the body of the WebSocket `LOGI`: the user, the session and the app's
    settings. No `error` and no `new_key` (its mere presence makes the SDK treat it as a key refresh)."""
    user = service.users.find(user_id)
    return {
        "user_id": user_id, "nickname": user.nickname if user else "", "profile_url": user.profile_url if user else "",
        "metadata": dict(user.metadata) if user else {}, "is_active": True, "is_online": True,
        "key": key, "ekey": key[:16], "services": [FEED], "login_ts": service.now_ms(),
        "ping_interval": PING_INTERVAL_S, "pong_timeout": PONG_TIMEOUT_S, "reconnect": dict(RECONNECT),
        "max_unread_cnt_on_super_group": 100,
        "application_attributes": ["allow_sdk_noti_stats_log_publish"],
        "log_publish_config": {name: dict(group) for name, group in LOG_PUBLISH_CONFIG.items()},
        "notifications": {"enabled": True, "feed_channels": {url: url for url in list(service.feeds.channels)},
                          "template_list_token": None, "settings_updated_at": 0},
    }


def categories(service: SendbirdService, channel_url: str) -> list[dict[str, Any]]:
    """The feed's categories: "All" and one per template category of the channel, in order of appearance."""
    names: list[str] = []
    for template in service.templates.all():
        if template.channel_url == channel_url and template.category and template.category not in names:
            names.append(template.category)
    return [{"id": 0, "name": "All", "is_default": True},
            *({"id": i, "name": name, "is_default": False} for i, name in enumerate(names, 1))]


def sdk_channel(service: SendbirdService, channel_url: str, user_id: str | None) -> dict[str, Any]:
    """A feed channel as one member sees it (`FeedChannel`): joined, with the user's unread count, last read
    time and newest notification. `created_at` is in seconds, unlike a message's. Without a user (the
    Platform API naming none) the channel alone, with no member."""
    channel = service.feeds.channel(channel_url)
    if user_id is None:
        return {**_channel_fields(service, channel_url, channel.created_at), "member_state": "none",
                "unread_message_count": 0, "user_last_read": 0, "read_receipt": {}, "last_message": None,
                "members": [], "member_count": 0, "joined_member_count": 0}
    user = service.users.find(user_id)
    last_read = user.last_read.get(channel_url, 0) if user else 0
    newest = service.feeds.newest(user_id, channel_url)
    member = user.member() if user else {"user_id": user_id, "nickname": "", "profile_url": "", "state": "joined"}
    return {
        **_channel_fields(service, channel_url, channel.created_at), "member_state": "joined",
        "unread_message_count": service.feeds.unread_count_or_zero(user_id, channel_url),
        "user_last_read": last_read, "read_receipt": {user_id: last_read},
        "last_message": sdk_message(newest) if newest is not None else None,
        "members": [member], "member_count": 1, "joined_member_count": 1,
    }


def _channel_fields(service: SendbirdService, channel_url: str, created_at_ms: int) -> dict[str, Any]:
    groups = categories(service, channel_url)
    return {
        "channel_url": channel_url, "name": channel_url, "cover_url": "", "custom_type": "", "data": "",
        "created_at": created_at_ms // 1000, "is_feed_channel": True, "my_role": "", "unread_mention_count": 0,
        "is_distinct": False, "is_super": False, "is_broadcast": False, "is_exclusive": False, "is_public": False,
        "is_discoverable": False, "is_ephemeral": False, "freeze": False, "is_push_enabled": False,
        "is_category_filter_enabled": len(groups) > 1, "is_template_label_enabled": True, "categories": groups,
    }


def sdk_statistic(message: dict[str, Any], device_id: str, ts_ms: int | None, action: str) -> dict[str, Any]:
    """One statistic about a feed message as the SDK batches it (`logImpression` is `viewed`, `markAsClicked` is
    `clicked`): what every simulated device posts (the simulator's, the console's, the in-process mocks').
    `ts_ms` None leaves the time out (the fake ignores it)."""
    data = message.get("notification_data") or {}
    entry: dict[str, Any] = {"stat_type": "noti:stats", "data": {
        "action": action, "template_key": data.get("template_key"), "channel_url": message["channel_url"],
        "message_id": message["notification_id"], "tags": data.get("tags") or [], "source": "notification",
        "message_ts": message["created_at"]}}
    if ts_ms is not None:
        entry["ts"] = ts_ms
    return {"device_id": device_id, "log_entries": [entry]}
