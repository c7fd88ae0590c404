"""The /v3 device API: list messages, unread counts, mark as read, notification stats."""

from __future__ import annotations

import pytest

from .conftest import FEED, assert_error


@pytest.fixture
def five(api, template):
    """Five realtime notifications to u1, one second apart; returns the messages oldest first."""
    for i in range(5):
        api.send_ok(["u1"], variables={"u1": {"name": f"n{i}"}})
        api.runtime.clock.advance(1)
    msgs = api.messages("u1")
    assert len(msgs) == 5
    return msgs


# -- list messages -------------------------------------------------------------------------------
def test_list_defaults_to_now_and_ascending(api, five):
    resp = api.messages_resp("u1")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    msgs = resp.get_json()["messages"]
    assert [m["notification_data"]["template_variables"]["name"] for m in msgs] == [f"n{i}" for i in range(5)]
    created = [m["created_at"] for m in msgs]
    assert created == sorted(created)
    assert len(set(created)) == 5
    assert created[1] - created[0] == 1000


def test_list_around_message_ts(api, five):
    ts = [m["created_at"] for m in five]
    ids = [m["message_id"] for m in five]

    def window(**params):
        return [m["message_id"] for m in api.messages("u1", **params)]

    assert window(message_ts=ts[2], prev_limit=2, next_limit=1) == ids[1:4]
    assert window(message_ts=ts[2], prev_limit=0, next_limit=5) == ids[3:]
    assert window(message_ts=ts[2], prev_limit=15, next_limit=0) == ids[:3]
    assert window(message_ts=ts[2] + 1, prev_limit=1, next_limit=1) == ids[2:4]
    assert window(message_ts=ts[0] - 1, prev_limit=15, next_limit=0) == []
    assert window(message_ts=ts[0] - 1, prev_limit=0, next_limit=2) == ids[:2]
    assert window(message_ts=ts[4], prev_limit=200, next_limit=200) == ids


def test_list_default_prev_limit_is_15_and_next_limit_0(api, template):
    for _ in range(17):
        api.send_ok(["u1"])
        api.runtime.clock.advance(1)
    everything = api.messages("u1", prev_limit=200)
    assert len(everything) == 17
    resp = api.messages_resp("u1")
    assert [m["message_id"] for m in resp.get_json()["messages"]] == [m["message_id"] for m in everything[-15:]]
    first_ts = everything[0]["created_at"]
    resp = api.messages_resp("u1", message_ts=first_ts)
    assert [m["message_id"] for m in resp.get_json()["messages"]] == [everything[0]["message_id"]]


def test_list_shows_only_that_users_messages(api, template):
    api.send_ok(["a", "b"], mode="batch")
    api.send_ok(["b"])
    assert len(api.messages("a")) == 1
    assert {m["user_id"] for m in api.messages("b")} == {"b"}
    assert len(api.messages("b")) == 2


@pytest.mark.parametrize("param", ["prev_limit", "next_limit"])
@pytest.mark.parametrize("value", [201, 1000, -1])
def test_list_limits_out_of_range_are_400111(api, five, param, value):
    assert_error(api.messages_resp("u1", **{param: value}), 400, 400111, param)


@pytest.mark.parametrize("param", ["prev_limit", "next_limit", "message_ts"])
@pytest.mark.parametrize("value", ["abc", "true", "1.5", "1_0", "\uff15"], ids=["abc", "true", "float", "underscore",
                                                                             "fullwidth-digit"])
def test_list_numbers_that_are_not_numbers_are_400101(api, five, param, value):
    assert_error(api.messages_resp("u1", **{param: value}), 400, 400101, param)


def test_list_limits_of_200_are_allowed(api, five):
    assert len(api.messages("u1", prev_limit=200, next_limit=200)) == 5


def test_list_missing_user_id_is_400105(api, five):
    assert_error(api.messages_resp(None), 400, 400105, "user_id")


def test_list_unknown_channel_is_400201(api, five):
    assert_error(api.messages_resp("u1", channel="no_such_channel"), 400, 400201)


# -- unread count --------------------------------------------------------------------------------
def test_unread_count_spans_every_feed_channel(api):
    api.create_template("a", channel_url="feed_a")
    api.create_template("b", channel_url="feed_b")
    api.send_ok(["u1"], key="a")
    api.send_ok(["u1", "u2"], key="b", mode="batch")
    resp = api.get("/v3/users/u1/unread_message_count")
    assert resp.status_code == 200
    assert resp.get_json() == {"unread_count": 2}
    assert api.unread("u2") == 1
    resp = api.mark_as_read("u1", channel="feed_a")
    assert resp.get_json() == {"unread_message_count": 0}
    assert api.unread("u1") == 1


def test_unread_count_of_an_unknown_user_is_400201(api, template):
    assert_error(api.get("/v3/users/nobody/unread_message_count"), 400, 400201)


# -- mark as read --------------------------------------------------------------------------------
def test_mark_listed_messages(api, five):
    resp = api.mark_as_read("u1", message_ids=[five[1]["message_id"], five[3]["message_id"]])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"unread_message_count": 3}
    assert api.unread("u1") == 3
    by_id = {m["message_id"]: m for m in api.messages("u1")}
    assert by_id[five[1]["message_id"]]["message_status"] == "READ"
    assert by_id[five[1]["message_id"]]["read_at"] == api.now_ms()
    assert by_id[five[0]["message_id"]]["message_status"] == "SENT"
    assert by_id[five[0]["message_id"]]["read_at"] is None


def test_mark_up_to_a_timestamp(api, five):
    resp = api.mark_as_read("u1", timestamp=five[2]["created_at"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"unread_message_count": 2}
    statuses = [m["message_status"] for m in api.messages("u1")]
    assert statuses == ["READ", "READ", "READ", "SENT", "SENT"]


def test_mark_all(api, five):
    resp = api.mark_as_read("u1")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"unread_message_count": 0}
    assert api.unread("u1") == 0
    assert {m["message_status"] for m in api.messages("u1")} == {"READ"}
    reads = len(api.records("message.read"))
    assert reads >= 1
    # nothing changes the second time
    assert api.mark_as_read("u1").get_json() == {"unread_message_count": 0}
    assert api.mark_as_read("u1", timestamp=five[4]["created_at"]).get_json() == {"unread_message_count": 0}
    assert len(api.records("message.read")) == reads


def test_marking_twice_counts_once(api, template):
    body = api.send_ok(["u1"])
    [msg] = api.messages("u1")
    for _ in range(3):
        resp = api.mark_as_read("u1", message_ids=[msg["message_id"]])
        assert resp.get_json() == {"unread_message_count": 0}
        api.settle()
    assert api.log(body["notification_id"])["metrics"]["read"] == 1
    records = api.records("message.read")
    assert len(records) == 1
    assert records[0]["service"] == "sendbird"
    [after] = api.messages("u1")
    read_at = after["read_at"]
    api.runtime.clock.advance(10)
    api.mark_as_read("u1")
    assert api.messages("u1")[0]["read_at"] == read_at  # the first read time stays


def test_a_new_message_after_mark_all_is_unread(api, template):
    api.send_ok(["u1"])
    api.mark_as_read("u1")
    api.runtime.clock.advance(1)
    api.send_ok(["u1"])
    assert api.unread("u1") == 1


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"message_ids": "1"}, 400102, "message_ids"),
    ({"message_ids": [True]}, 400101, "message_ids"),
    ({"message_ids": ["abc"]}, 400101, "message_ids"),
    ({"timestamp": True}, 400101, "timestamp"),
    ({"timestamp": "abc"}, 400101, "timestamp"),
])
def test_mark_as_read_wrong_types(api, five, fields, code, field):
    assert_error(api.mark_as_read("u1", **fields), 400, code, field)
    assert api.unread("u1") == 5


def test_mark_as_read_user_id_rules(api, five):
    path = f"/v3/group_channels/{FEED}/messages/mark_as_read"
    assert_error(api.put(path, {}), 400, 400105, "user_id")
    assert_error(api.put(path, {"user_id": 5}), 400, 400100, "user_id")


def test_mark_as_read_unknown_channel_or_message_is_400201(api, five):
    assert_error(api.mark_as_read("u1", channel="nope"), 400, 400201)
    assert_error(api.mark_as_read("u1", message_ids=[1]), 400, 400201)
    assert api.unread("u1") == 5


# -- notification stats --------------------------------------------------------------------------
def test_impression_counts_first_time_pairs(api, five):
    ids = [m["message_id"] for m in five]
    resp = api.stats("u1", "impression", ids[:2])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"action": "impression", "updated": 2}
    assert api.stats("u1", "impression", ids[:2]).get_json() == {"action": "impression", "updated": 0}
    assert api.stats("u1", "impression", ids[1:3]).get_json() == {"action": "impression", "updated": 1}
    # another action on the same messages is a new pair
    assert api.stats("u1", "clicked", ids[:1]).get_json() == {"action": "clicked", "updated": 1}
    assert api.stats("u1", "clicked", ids[:1]).get_json() == {"action": "clicked", "updated": 0}
    assert len(api.records("stats.impression")) >= 1
    assert len(api.records("stats.clicked")) >= 1


def test_custom_stat_needs_a_topic(api, five):
    ids = [five[0]["message_id"]]
    assert_error(api.stats("u1", "custom", ids), 400, 400105, "topic")
    resp = api.stats("u1", "custom", ids, topic="coupon_copied")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"action": "custom", "updated": 1}
    assert len(api.records("stats.custom")) >= 1


def test_custom_stat_counts_once_per_message_whatever_the_topic(api, five):
    """The doc: `updated` counts first-time (message, action) pairs; the topic is not part of the pair."""
    ids = [five[0]["message_id"]]
    assert api.stats("u1", "custom", ids, topic="a").get_json() == {"action": "custom", "updated": 1}
    assert api.stats("u1", "custom", ids, topic="b").get_json() == {"action": "custom", "updated": 0}


def test_stats_accepts_30_ids_and_rejects_31(api, template):
    for _ in range(31):
        api.send_ok(["u1"])
    ids = [m["message_id"] for m in api.messages("u1")]
    assert len(ids) == 31
    assert_error(api.stats("u1", "impression", ids), 400, 400111, "message_ids")
    assert api.stats("u1", "impression", ids[:30]).get_json() == {"action": "impression", "updated": 30}


@pytest.mark.parametrize("action", ["view", "IMPRESSION", "click", ""])
def test_unknown_action_is_400111(api, five, action):
    assert_error(api.stats("u1", action, [five[0]["message_id"]]), 400, 400111, "action")


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"action": "impression", "message_ids": [1]}, 400105, "user_id"),
    ({"user_id": "u1", "message_ids": [1]}, 400105, "action"),
    ({"user_id": "u1", "action": "impression"}, 400105, "message_ids"),
    ({"user_id": "u1", "action": 1, "message_ids": [1]}, 400100, "action"),
    ({"user_id": "u1", "action": "impression", "message_ids": 1}, 400102, "message_ids"),
    ({"user_id": "u1", "action": "impression", "message_ids": [True]}, 400101, "message_ids"),
    ({"user_id": "u1", "action": "custom", "message_ids": [1], "topic": 3}, 400100, "topic"),
])
def test_stats_validation(api, five, body, code, field):
    assert_error(api.post(f"/v3/group_channels/{FEED}/notification_stats", body), 400, code, field)


def test_stats_unknown_channel_or_message_is_400201(api, five):
    assert_error(api.stats("u1", "impression", [five[0]["message_id"]], channel="nope"), 400, 400201)
    assert_error(api.stats("u1", "impression", [1]), 400, 400201)


def test_stats_feed_the_notification_metrics_uniquely(api, template):
    body = api.send_ok(["a", "b", "c"], mode="batch")
    mid = {u: api.messages(u)[0]["message_id"] for u in "abc"}
    api.stats("a", "impression", [mid["a"]])
    api.stats("a", "impression", [mid["a"]])
    api.stats("b", "impression", [mid["b"]])
    api.stats("a", "clicked", [mid["a"]])
    api.stats("a", "clicked", [mid["a"]])
    api.mark_as_read("c")
    metrics = api.log(body["notification_id"])["metrics"]
    assert metrics == {"sent": 3, "read": 1, "impressions": 2, "clicks": 1}
