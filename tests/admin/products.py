"""The three services' product routes as the fuzzer sees them: the same seeded apps as the admin fuzzer's, valid
bodies naming the objects they were seeded with, the credentials each route wants, and the query arguments the
views read. Every route outside `/_admin` is found in the app's `url_map`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mocks.sendbird.webhooks import message_read_payload

from .fuzzing import Env, is_admin_rule
from .services import (
    BRAZE_AUTH,
    BRIDGE_AUTH,
    EVENT,
    HOOK,
    SENDBIRD_AUTH,
    braze_env,
    braze_error,
    bridge_env,
    sendbird_env,
    sendbird_error,
)

FEED = "notifications_feed"
WRONG = {"Authorization": "Bearer wrong", "Api-Token": "wrong", "x-sendbird-signature": "0" * 64}


def is_product_rule(rule: str) -> bool:
    return not is_admin_rule(rule)


@dataclass
class ProductService:
    """What the product fuzzer needs to know about one service."""

    name: str
    make: Callable[[], Env]
    is_error: Callable[[Any], bool]
    examples: Callable[[Env], dict[str, list[Any]]]  # rule -> valid bodies, naming the env's seeded objects
    auth: Callable[[str, bytes], dict[str, str]]  # the credentials a request to this path with this body needs
    query_keys: list[str]
    queries: Callable[[Env], dict[str, dict[str, str]]] = lambda env: {}  # rule -> a query it answers 200 to
    skip: dict[str, str] = field(default_factory=dict)


# -- Braze ----------------------------------------------------------------------------------------

def braze_examples(env: Env) -> dict[str, list[Any]]:
    campaign, canvas = env.known["campaign_id"][0], env.known["canvas_id"][0]
    return {
        "/users/track": [{"attributes": [{"external_id": "u1", "first_name": "Ann", "points": 3,
                                          "pet": {"name": "Rex", "age": 2}, "tags": ["a", "b"]}],
                          "events": [{**EVENT, "properties": {"s": 1, "when": "2026-01-01T00:00:00Z"}}],
                          "purchases": [{"external_id": "u1", "product_id": "p1", "currency": "USD", "price": 1.5,
                                         "quantity": 2, "time": "2026-01-01T00:00:00Z"}]}],
        "/campaigns/trigger/send": [{"campaign_id": campaign, "trigger_properties": {"x": "y"},
                                     "recipients": [{"external_user_id": "u1", "trigger_properties": {"a": 1}}]},
                                    {"campaign_id": campaign, "broadcast": True}],
        "/canvas/trigger/send": [{"canvas_id": canvas, "canvas_entry_properties": {"b": 2},
                                  "recipients": [{"external_user_id": "u1", "canvas_entry_properties": {"a": 1}}]}],
        "/messages/send": [{"external_user_ids": ["u1"], "messages": {"webhook": HOOK}},
                           {"segment_id": env.known["key"][2], "broadcast": True, "messages": {"webhook": HOOK}}],
        "/sends/id/create": [{"campaign_id": campaign, "send_id": "s1"}],
        "/users/export/ids": [{"external_ids": ["u1"], "fields_to_export": ["first_name", "custom_attributes"]}],
        "/users/delete": [{"external_ids": ["u1"]}],
    }


def braze_auth(path: str, body: bytes) -> dict[str, str]:
    return dict(BRAZE_AUTH)


def braze_product_env() -> Env:
    env = braze_env()
    env.known["query"] = [env.known["campaign_id"][0], env.known["canvas_id"][0], "opened", "desc", "day", "hour",
                          "2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "100"]
    return env


def braze_queries(env: Env) -> dict[str, dict[str, str]]:
    return {"/events/data_series": {"event": "opened", "length": "100", "unit": "day"},
            "/campaigns/details": {"campaign_id": env.known["campaign_id"][0]},
            "/canvas/details": {"canvas_id": env.known["canvas_id"][0]},
            "/campaigns/list": {"page": "0", "sort_direction": "desc"}, "/canvas/list": {"page": "0"},
            "/events/list": {"page": "0"}}


BRAZE = ProductService(
    name="braze", make=braze_product_env, is_error=braze_error, examples=braze_examples, auth=braze_auth,
    queries=braze_queries,
    query_keys=["campaign_id", "canvas_id", "page", "sort_direction", "include_archived", "event", "length", "unit",
                "ending_at", "starting_at", "segment_id", "last_edit.time[gt]"],
)


# -- Sendbird -------------------------------------------------------------------------------------

SENDBIRD_SESSION: dict[str, str] = {}  # the device session of the env made last (each example gets a fresh app)


def sendbird_product_env() -> Env:
    env = sendbird_env()
    messages = env.client.get(f"/_admin/feeds/u1/{FEED}").get_json()["messages"]
    login = env.client.post("/v3/sdk/users/u1/authentication", json={"expiring_session": True})
    SENDBIRD_SESSION["Session-key"] = login.get_json()["key"]
    env.known.update({"notification_id": [messages[0]["notification_id"]], "key": ["welcome"],
                      "channel_url": [FEED], "user_id": ["u1"], "file_key": ["targets.csv"],
                      "query": ["u1", str(messages[0]["message_id"]), str(messages[0]["created_at"]), "0", "1",
                                str(2**53 - 1), "true"]})
    env.known["message_id"] = [messages[0]["message_id"]]
    return env


def sendbird_examples(env: Env) -> dict[str, list[Any]]:
    notification = env.known["notification_id"][0]
    send = {"template": {"key": "welcome", "variables": {"u1": {"name": "Ann"}}}, "targets": ["u1", "u2"],
            "mode": "realtime", "label": "l", "tags": ["t"], "push_template": {"title": "Hi", "body": "b"}}
    stat = {"action": "clicked", "channel_url": FEED, "message_id": notification, "template_key": "welcome",
            "tags": [], "source": "notification", "message_ts": 0, "topic": "x"}
    return {
        "/v1/notifications": [send, {**send, "mode": "batch"}],
        "/v1/notifications/messages": [send],
        "/v2/notifications": [send],
        "/v1/templates": [{"key": "t2", "name": "T2", "ui_template": {"title": "Hi {name}", "n": [1]},
                           "variable_schema": [{"key": "name", "type": "string", "required": True}],
                           "category": "c", "label": "l", "channel_url": "other_feed"}],
        "/v1/templates/<key>": [{"name": "W2", "ui_template": {"title": "Hey {name}"},
                                 "variable_schema": [{"key": "name", "type": "number"}]}],
        "/v1/storage/targets_files/<file_key>/presigned_urls": [{"overwrite_duplicate_key": True}],
        "/v3/group_channels/<channel_url>/messages/mark_as_read": [{"user_id": "u1", "message_ids": [notification],
                                                                    "timestamp": 0}, {"user_id": "u1"}],
        "/v3/sdk/notification_statistics": [{"device_id": "d1", "log_entries": [
            {"stat_type": "noti:stats", "ts": 1, "data": stat}, {"stat_type": "noti:stats", "ts": 2,
                                                                 "data": {**stat, "action": "viewed"}}]}],
        "/v3/users": [{"user_id": "u9", "nickname": "N", "profile_url": "https://x/p.png",
                       "issue_access_token": True, "metadata": {"k": "v"}}],
        "/v3/users/<user_id>": [{"nickname": "N", "profile_url": "", "is_active": True, "issue_access_token": True,
                                 "metadata": {"k": "v"}}],
        "/v3/users/<user_id>/token": [{}],
        "/v3/sdk/users/<user_id>/authentication": [{"expiring_session": True, "include_logi": True,
                                                    "app_id": "LOCAL", "config_ts": 0}],
        "/v3/users/<user_id>/session_key": [{"services": ["feed"], "expiring_session": True, "token": "t"}],
    }


def sendbird_auth(path: str, body: bytes) -> dict[str, str]:
    return {**SENDBIRD_AUTH, **SENDBIRD_SESSION}


def sendbird_queries(env: Env) -> dict[str, dict[str, str]]:
    message = env.known["message_id"][0]
    return {"/v3/group_channels/<channel_url>/messages": {"user_id": "u1", "message_ts": str(message),
                                                           "prev_limit": "15", "next_limit": "15"},
            "/v3/group_channels/<channel_url>/messages/changelogs": {"user_id": "u1", "change_ts": "0"},
            "/v3/group_channels/<channel_url>/messages_gap": {"user_id": "u1", "next_start_ts": "0"},
            "/v3/users/<user_id>/my_group_channels": {"limit": "20", "token": "", "show_empty": "true"},
            "/v3/users": {"limit": "10", "token": "", "active_mode": "all", "user_ids": "u1,u2",
                          "nickname_startswith": "N"},
            "/v3/notifications/templates": {"limit": "20", "token": "0"},
            "/v1/templates": {"limit": "20", "token": "0"}}


SENDBIRD = ProductService(
    name="sendbird", make=sendbird_product_env, is_error=sendbird_error, examples=sendbird_examples,
    auth=sendbird_auth, queries=sendbird_queries,
    query_keys=["limit", "token", "user_id", "message_ts", "message_id", "prev_limit", "next_limit", "include",
                "reverse", "change_ts", "next_start_ts", "prev_end_ts", "huge_gap_threshold", "show_empty",
                "is_feed_channel", "keys", "order", "show_read", "active_mode", "user_ids", "nickname",
                "nickname_startswith"],
)


# -- the bridge -----------------------------------------------------------------------------------

WEBHOOK = {"template_key": "promo", "receiver": "u1", "user_id": "braze-u1", "variables": {"name": "N"},
           "event_name": "promo_status", "message_id": "m9", "campaign_id": "c1", "canvas_id": None,
           "tags": ["t"], "label": "l"}


def bridge_product_env() -> Env:
    env = bridge_env()
    env.known["query"] = ["1"]
    return env


def bridge_examples(env: Env) -> dict[str, list[Any]]:
    read = {"category": "group_channel:message_read",
            **message_read_payload("LOCAL", FEED, "u1", 1767225605000, 0, 0)}
    return {"/braze/notifications/realtime": [WEBHOOK], "/braze/notifications/batch": [WEBHOOK],
            "/sendbird/webhooks": [read, {"category": "notification:send_realtime", "notification_id": "x"}]}


def bridge_auth(path: str, body: bytes) -> dict[str, str]:
    if path == "/sendbird/webhooks":
        return {"x-sendbird-signature": hmac.new(b"local-sendbird-token", body, hashlib.sha256).hexdigest()}
    return dict(BRIDGE_AUTH)


BRIDGE = ProductService(
    name="bridge", make=bridge_product_env, is_error=sendbird_error, examples=bridge_examples, auth=bridge_auth,
    query_keys=["format", "name"],
)

PRODUCTS = [BRAZE, SENDBIRD, BRIDGE]
