"""The device side as the SDK calls it (and the Platform API where it shares the routes): listing with Sendbird's
anchors, channels, unread counts, mark as read and the SDK's notification statistics."""

from __future__ import annotations

import json

import pytest

from .conftest import FEED, assert_error

MAX_TS = 2**53 - 1


@pytest.fixture
def five(api, template):
    """Five realtime notifications to u1, one second apart; returns the decoded messages oldest first."""
    for i in range(5):
        api.send_ok(["u1"], variables={"u1": {"name": f"n{i}"}})
        api.runtime.clock.advance(1)
    msgs = api.messages("u1")
    assert len(msgs) == 5
    return msgs


@pytest.fixture
def device(api):
    """A logged-in device of u1: the headers it sends."""
    return api.login("u1")


def listing(api, headers, channel=FEED, **params):
    resp = api.client.get(f"/v3/group_channels/{channel}/messages", query_string=params, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


# -- the message object ----------------------------------------------------------------------------
def test_a_listed_message_is_a_notification_message_as_the_sdk_reads_it(api, five, device):
    [msg] = listing(api, device, message_ts=MAX_TS, prev_limit=1, next_limit=0)["messages"]
    assert msg["type"] == "ADMM"
    assert msg["notification_message_id"] == five[4]["notification_id"]
    assert msg["message_id"] == five[4]["message_id"]
    assert (msg["channel_url"], msg["channel_type"], msg["message_status"]) == (FEED, "feed", "SENT")
    assert msg["created_at"] == five[4]["created_at"]
    assert msg["extended_message"]["sub_type"] == 0
    data = json.loads(msg["extended_message"]["sub_data"])  # a JSON string, not an object
    assert data == {"label": "promo", "tags": [], "template_key": "welcome", "template_variables": {"name": "n4"}}
    assert "notification_data" not in msg and "user_id" not in msg and "rendered_template" not in msg


# -- listing ---------------------------------------------------------------------------------------
def test_an_anchor_is_required(api, five, device):
    resp = api.client.get(f"/v3/group_channels/{FEED}/messages", headers=device)
    assert_error(resp, 400, 400105, "message_ts", "message_id")


def test_the_newest_anchor_and_default_limits_of_15(api, template, device):
    for _ in range(17):
        api.send_ok(["u1"])
        api.runtime.clock.advance(1)
    everything = [m["message_id"] for m in api.messages("u1")]
    page = listing(api, device, message_ts=MAX_TS)
    assert [m["message_id"] for m in page["messages"]] == everything[-15:]
    assert (page["has_next"], page["prev_hasmore"], page["next_hasmore"]) == (False, True, False)
    first = api.messages("u1")[0]["created_at"]
    page = listing(api, device, message_ts=first)  # 15 after it, and the anchor itself (include)
    assert [m["message_id"] for m in page["messages"]] == everything[:16]
    assert page["has_next"] is True


def test_windows_around_a_timestamp(api, five, device):
    ts = [m["created_at"] for m in five]
    ids = [m["message_id"] for m in five]

    def window(**params):
        return [m["message_id"] for m in listing(api, device, **params)["messages"]]

    assert window(message_ts=ts[2], prev_limit=2, next_limit=1) == ids[1:4]
    assert window(message_ts=ts[2], prev_limit=2, next_limit=1, include="false") == [ids[0], ids[1], ids[3]]
    assert window(message_ts=ts[2], prev_limit=0, next_limit=5) == ids[3:]
    assert window(message_ts=ts[0] - 1, prev_limit=15, next_limit=0) == []
    assert window(message_ts=ts[2], prev_limit=15, next_limit=0, reverse="true") == ids[2::-1]
    assert window(message_ts=ts[4], prev_limit=200, next_limit=200) == ids


def test_windows_around_a_message_id(api, five, device):
    ids = [m["message_id"] for m in five]

    def window(**params):
        return [m["message_id"] for m in listing(api, device, **params)["messages"]]

    assert window(message_id=str(ids[2]), prev_limit=1, next_limit=1) == ids[1:4]
    assert window(message_id=str(ids[2]), prev_limit=1, next_limit=1, include="false") == [ids[1], ids[3]]
    assert_error(api.client.get(f"/v3/group_channels/{FEED}/messages", headers=device,
                                query_string={"message_id": 1}), 400, 400201)


def test_the_sdk_query_params_it_does_not_implement_are_ignored(api, five, device):
    params = {"is_sdk": "true", "prev_limit": 20, "next_limit": 0, "include": "true", "reverse": "true",
              "message_ts": MAX_TS, "message_type": "", "include_reply_type": "none", "custom_types": "*",
              "with_sorted_meta_array": "false", "sdk_source": "external_legacy", "checking_has_next": "true"}
    resp = api.client.get(f"/v3/group_channels/{FEED}/messages", query_string=params,
                          headers={**device, "Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 200
    assert [m["message_id"] for m in resp.get_json()["messages"]] == [m["message_id"] for m in five][::-1]


@pytest.mark.parametrize("param", ["prev_limit", "next_limit"])
@pytest.mark.parametrize("value", [201, 1000, -1])
def test_list_limits_out_of_range_are_400111(api, five, param, value):
    assert_error(api.messages_resp("u1", message_ts=MAX_TS, **{param: value}), 400, 400111, param)


@pytest.mark.parametrize("param", ["prev_limit", "next_limit", "message_ts", "message_id"])
@pytest.mark.parametrize("value", ["abc", "true", "1.5", "1_0", "\uff15"], ids=["abc", "true", "float", "underscore",
                                                                             "fullwidth-digit"])
def test_list_numbers_that_are_not_numbers_are_400101(api, five, param, value):
    params = {"message_ts": MAX_TS, param: value}
    assert_error(api.messages_resp("u1", **params), 400, 400101, param)


def test_a_boolean_that_is_not_one_is_400104(api, five):
    assert_error(api.messages_resp("u1", message_ts=MAX_TS, reverse="sometimes"), 400, 400104, "reverse")


def test_the_platform_api_names_the_user_and_a_device_never_needs_to(api, five, device):
    assert_error(api.messages_resp(None, message_ts=MAX_TS), 400, 400105, "user_id")
    assert len(api.messages_resp("u1", message_ts=MAX_TS).get_json()["messages"]) == 5
    assert len(listing(api, device, message_ts=MAX_TS)["messages"]) == 5


def test_a_device_may_not_act_for_another_user(api, five, device):
    resp = api.client.get(f"/v3/group_channels/{FEED}/messages", headers=device,
                          query_string={"message_ts": MAX_TS, "user_id": "u2"})
    assert_error(resp, 400, 400108, "u2")


def test_list_unknown_channel_is_400201(api, five, device):
    assert_error(api.client.get("/v3/group_channels/no_such_channel/messages", headers=device,
                                query_string={"message_ts": MAX_TS}), 400, 400201)


def test_a_device_that_logged_in_before_any_send_lists_an_empty_feed(api, template):
    headers = api.login("newcomer")
    assert listing(api, headers, message_ts=MAX_TS)["messages"] == []


# -- changelogs and gaps ---------------------------------------------------------------------------
def test_changelogs_hold_the_messages_read_since(api, five, device):
    path = f"/v3/group_channels/{FEED}/messages/changelogs"
    start = api.now_ms()
    empty = api.client.get(path, headers=device, query_string={"change_ts": start}).get_json()
    assert (empty["updated"], empty["deleted"], empty["has_more"]) == ([], [], False)
    api.runtime.clock.advance(1)
    api.mark_as_read("u1", message_ids=[five[1]["notification_id"]])
    changed = api.client.get(path, headers=device, query_string={"change_ts": start}).get_json()
    assert [(m["notification_message_id"], m["message_status"]) for m in changed["updated"]] == [
        (five[1]["notification_id"], "READ")]
    after = api.client.get(path, headers=device, query_string={"token": changed["next"]}).get_json()
    assert after["updated"] == []
    assert_error(api.client.get(path, headers=device), 400, 400105, "change_ts")
    assert_error(api.client.get(path, headers=device, query_string={"token": "x"}), 400, 400111, "token")


def test_messages_gap_returns_what_was_sent_after_the_newest_synced(api, five, device):
    ts = [m["created_at"] for m in five]
    resp = api.client.get(f"/v3/group_channels/{FEED}/messages_gap", headers=device, query_string={
        "prev_start_ts": ts[0], "prev_end_ts": ts[0], "prev_cache_count": 0, "next_start_ts": ts[2],
        "next_end_ts": MAX_TS, "next_cache_count": 0, "reverse": "true", "custom_types": "*"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    gap = resp.get_json()
    assert [m["message_id"] for m in gap["next_messages"]] == [five[4]["message_id"], five[3]["message_id"]]
    assert [m["message_id"] for m in gap["prev_messages"]] == [five[0]["message_id"]]
    assert (gap["prev_hasmore"], gap["next_hasmore"], gap["is_huge_gap"]) == (False, False, False)


def test_a_gap_over_the_threshold_is_huge(api, five, device):
    gap = api.client.get(f"/v3/group_channels/{FEED}/messages_gap", headers=device, query_string={
        "next_start_ts": 0, "next_end_ts": MAX_TS, "huge_gap_threshold": 3}).get_json()
    assert gap["is_huge_gap"] is True and gap["next_messages"] == []


# -- channels --------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["/v3/group_channels", "/v3/sdk/group_channels"])
def test_the_channel_as_its_member_sees_it(api, five, device, prefix):
    api.mark_as_read("u1", message_ids=[five[0]["notification_id"]])
    resp = api.client.get(f"{prefix}/{FEED}", headers=device, query_string={
        "show_member": "true", "show_read_receipt": "true", "is_feed_channel": "true"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    channel = resp.get_json()
    assert channel["channel_url"] == FEED and channel["member_state"] == "joined"
    assert channel["unread_message_count"] == 4
    assert channel["last_message"]["notification_message_id"] == five[4]["notification_id"]
    assert channel["last_message"]["channel_type"] == "feed"
    assert channel["created_at"] * 1000 <= five[0]["created_at"]  # seconds
    assert [m["user_id"] for m in channel["members"]] == ["u1"]
    assert channel["categories"][0] == {"id": 0, "name": "All", "is_default": True}
    assert channel["is_template_label_enabled"] is True


def test_user_last_read_follows_a_whole_channel_read(api, five, device):
    read = api.mark_as_read("u1").get_json()
    channel = api.client.get(f"/v3/sdk/group_channels/{FEED}", headers=device).get_json()
    assert channel["user_last_read"] == read["ts"]
    assert channel["unread_message_count"] == 0


def test_an_unknown_channel_is_400201_and_an_unknown_route_is_not(api, five, device):
    assert_error(api.client.get("/v3/sdk/group_channels/nope", headers=device), 400, 400201)
    assert_error(api.client.get(f"/v3/sdk/group_channels/{FEED}/nothing_here", headers=device), 404, 400114)


def test_my_feed_channels(api, template, device):
    api.create_template("other", channel_url="other_feed")
    api.send_ok(["u1"])
    path = "/v3/users/u1/my_group_channels"
    query = {"token": "", "limit": 20, "show_empty": "false", "is_feed_channel": "true",
             "order": "latest_last_message", "show_member": "true"}
    page = api.client.get(path, headers=device, query_string=query).get_json()
    assert [c["channel_url"] for c in page["channels"]] == [FEED]
    assert page["next"] == "" and isinstance(page["ts"], int)
    both = api.client.get(path, headers=device, query_string={**query, "show_empty": "true", "limit": 1}).get_json()
    assert len(both["channels"]) == 1 and both["next"] == "1"
    rest = api.client.get(path, headers=device, query_string={**query, "show_empty": "true",
                                                              "token": both["next"]}).get_json()
    assert {c["channel_url"] for c in both["channels"] + rest["channels"]} == {FEED, "other_feed"}
    assert_error(api.client.get("/v3/users/u2/my_group_channels", headers=device), 400, 400108)


# -- unread counts ---------------------------------------------------------------------------------
def test_unread_count_spans_every_feed_channel(api, device):
    api.create_template("a", channel_url="feed_a")
    api.create_template("b", channel_url="feed_b")
    api.send_ok(["u1"], key="a")
    api.send_ok(["u1", "u2"], key="b", mode="batch")
    resp = api.client.get("/v3/notifications/users/u1/unread_message_count", headers=device)
    assert resp.get_json() == {"unread_feed_count": 2}
    assert api.get("/v3/users/u1/unread_message_count").get_json() == {"unread_count": 0, "unread_feed_count": 2}
    assert api.unread("u2") == 1
    resp = api.mark_as_read("u1", channel="feed_a")
    assert resp.get_json()["unread_message_count"] == 0
    assert api.unread("u1") == 1


def test_unread_count_of_an_unknown_user_is_400201(api, template):
    assert_error(api.get("/v3/notifications/users/nobody/unread_message_count"), 400, 400201)
    assert_error(api.get("/v3/users/nobody/unread_message_count"), 400, 400201)


# -- mark as read ----------------------------------------------------------------------------------
def test_mark_listed_notifications(api, five, device):
    ids = [five[1]["notification_id"], five[3]["notification_id"]]
    resp = api.client.put(f"/v3/group_channels/{FEED}/messages/mark_as_read", headers=device,
                          json={"user_id": "u1", "message_ids": ids})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["unread_message_count"] == 3 and body["ts"] == api.now_ms()
    by_id = {m["message_id"]: m for m in api.messages("u1")}
    assert by_id[five[1]["message_id"]]["message_status"] == "READ"
    assert by_id[five[1]["message_id"]]["read_at"] == api.now_ms()
    assert by_id[five[0]["message_id"]]["message_status"] == "SENT"
    listed = listing(api, device, message_ts=MAX_TS)["messages"]
    assert [m["message_status"] for m in listed] == ["SENT", "READ", "SENT", "READ", "SENT"]


def test_mark_up_to_a_timestamp(api, five):
    resp = api.mark_as_read("u1", timestamp=five[2]["created_at"])
    assert resp.get_json()["unread_message_count"] == 2
    assert [m["message_status"] for m in api.messages("u1")] == ["READ", "READ", "READ", "SENT", "SENT"]


def test_mark_all_from_a_device_without_user_id(api, five, device):
    resp = api.client.put(f"/v3/group_channels/{FEED}/messages/mark_as_read", headers=device, json={})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["unread_message_count"] == 0
    assert {m["message_status"] for m in api.messages("u1")} == {"READ"}
    reads = len(api.records("message.read"))
    assert api.mark_as_read("u1").get_json()["unread_message_count"] == 0
    assert len(api.records("message.read")) == reads


def test_marking_twice_counts_once(api, template):
    body = api.send_ok(["u1"])
    [msg] = api.messages("u1")
    for _ in range(3):
        resp = api.mark_as_read("u1", message_ids=[msg["notification_id"]])
        assert resp.get_json()["unread_message_count"] == 0
        api.settle()
    assert api.log(body["notification_id"])["metrics"]["read"] == 1
    [after] = api.messages("u1")
    api.runtime.clock.advance(10)
    api.mark_as_read("u1")
    assert api.messages("u1")[0]["read_at"] == after["read_at"]  # the first read time stays


def test_a_new_message_after_mark_all_is_unread(api, template):
    api.send_ok(["u1"])
    api.mark_as_read("u1")
    api.runtime.clock.advance(1)
    api.send_ok(["u1"])
    assert api.unread("u1") == 1


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"message_ids": "1"}, 400102, "message_ids"),
    ({"message_ids": [True]}, 400100, "message_ids"),
    ({"message_ids": [1]}, 400100, "message_ids"),
    ({"message_ids": [""]}, 400111, "message_ids"),
    ({"timestamp": True}, 400101, "timestamp"),
    ({"timestamp": "abc"}, 400101, "timestamp"),
])
def test_mark_as_read_wrong_types(api, five, fields, code, field):
    assert_error(api.mark_as_read("u1", **fields), 400, code, field)
    assert api.unread("u1") == 5


def test_mark_as_read_user_id_rules(api, five, device):
    path = f"/v3/group_channels/{FEED}/messages/mark_as_read"
    assert_error(api.put(path, {}), 400, 400105, "user_id")
    assert_error(api.put(path, {"user_id": 5}), 400, 400100, "user_id")
    assert_error(api.client.put(path, headers=device, json={"user_id": "u2"}), 400, 400108)


def test_mark_as_read_unknown_channel_or_message_is_400201(api, five):
    assert_error(api.mark_as_read("u1", channel="nope"), 400, 400201)
    assert_error(api.mark_as_read("u1", message_ids=["not-a-notification"]), 400, 400201)
    assert api.unread("u1") == 5


# -- notification statistics -----------------------------------------------------------------------
def test_stats_count_first_time_pairs_into_the_metrics(api, template):
    body = api.send_ok(["a", "b", "c"], mode="batch")
    nid = body["notification_id"]
    for user, action in [("a", "viewed"), ("a", "viewed"), ("b", "viewed"), ("a", "clicked"), ("a", "clicked")]:
        resp = api.stats(user, action, [nid])
        assert resp.status_code == 200 and resp.get_json() == {}
    api.mark_as_read("c")
    assert api.log(nid)["metrics"] == {"sent": 3, "read": 1, "impressions": 2, "clicks": 1}
    assert len(api.records("stats.viewed", user_id="a")) == 2
    assert [r["first"] for r in api.records("stats.clicked")] == [True, False]


def test_a_custom_stat_needs_a_topic_and_is_journaled_only(api, five):
    nid = five[0]["notification_id"]
    assert_error(api.stats("u1", "custom", [nid]), 400, 400105, "topic")
    assert api.stats("u1", "custom", [nid], topic="coupon_copied").status_code == 200
    [record] = api.records("stats.custom")
    assert record["topic"] == "coupon_copied"


def test_stats_for_a_message_the_user_lacks_are_skipped(api, five):
    assert api.stats("u1", "viewed", ["nope"]).status_code == 200
    assert api.stats("u1", "viewed", [five[0]["notification_id"]], channel_url="nope").status_code == 200
    assert len(api.records("stats.unknown_message")) == 2
    assert api.records("stats.viewed") == []


def test_other_stat_types_are_accepted_and_ignored(api, five, device):
    resp = api.client.post("/v3/sdk/notification_statistics", headers=device, json={
        "device_id": "d", "log_entries": [{"stat_type": "api:result", "ts": 1, "data": {"endpoint": "/x"}}]})
    assert resp.status_code == 200 and resp.get_json() == {}


@pytest.mark.parametrize("action", ["view", "impression", "IMPRESSION", ""])
def test_unknown_action_is_400111(api, five, action):
    assert_error(api.stats("u1", action, [five[0]["notification_id"]]), 400, 400111, "log_entries[0].data.action")


@pytest.mark.parametrize(("body", "code", "field"), [
    ({}, 400105, "log_entries"),
    ({"log_entries": []}, 400111, "log_entries"),
    ({"log_entries": {}}, 400102, "log_entries"),
    ({"log_entries": [{"ts": 1}]}, 400105, "stat_type"),
    ({"log_entries": [{"stat_type": "noti:stats", "data": {"action": "viewed"}}]}, 400105,
     "log_entries[0].data.channel_url"),
    ({"log_entries": [{"stat_type": "noti:stats",
                       "data": {"action": "viewed", "channel_url": FEED, "message_id": 5}}]},
     400100, "log_entries[0].data.message_id"),
])
def test_stats_validation(api, five, device, body, code, field):
    resp = api.client.post("/v3/sdk/notification_statistics", headers=device, json=body)
    assert_error(resp, 400, code, field)


def test_stats_need_a_device_session(api, five):
    resp = api.post("/v3/sdk/notification_statistics", {"log_entries": [{"stat_type": "noti:stats"}]})
    assert_error(resp, 400, 400108)


def test_the_invented_notification_stats_route_is_retired(api, five):
    assert_error(api.post(f"/v3/group_channels/{FEED}/notification_stats", {}), 404, 400114)
