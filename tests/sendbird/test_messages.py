"""The message each target gets: fields, rendering of `{name}` placeholders, notification data."""

from __future__ import annotations

import copy

from .conftest import FEED, UI_TEMPLATE


def expected_render(variables: dict[str, str]) -> dict:
    rendered = copy.deepcopy(UI_TEMPLATE)
    name = variables.get("name", "{name}")
    code = variables.get("code", "{code}")
    items = rendered["body"]["items"]
    items[0]["text"] = f"Hello {name}!"
    items[1]["text"] = f"{name}, your code is {code}"
    items[2]["action"]["data"] = f"https://example.com/{name}"
    return rendered


def test_message_fields(api, template):
    now = api.now_ms()
    body = api.send_ok(["user-1"], variables={"user-1": {"name": "Ada", "code": "42"}}, tags=["spring"])
    [msg] = api.messages("user-1")
    assert type(msg["message_id"]) is int
    assert msg["type"] == "MESG"
    assert type(msg["created_at"]) is int
    assert msg["created_at"] == now
    assert msg["message_status"] == "SENT"
    assert msg["channel_url"] == FEED
    assert msg["channel_type"] == "feed"
    assert msg["user_id"] == "user-1"
    assert msg["notification_id"] == body["notification_id"]
    assert msg["read_at"] is None
    assert msg["notification_data"] == {"template_key": "welcome", "template_variables": {"name": "Ada", "code": "42"},
                                        "label": "promo", "tags": ["spring"]}
    assert msg["rendered_template"] == expected_render({"name": "Ada", "code": "42"})


def test_each_user_is_rendered_with_their_own_variables(api, template):
    variables = {"a": {"name": "Ada"}, "b": {"name": "Bob", "code": "7"}}
    api.send_ok(["a", "b", "c"], mode="batch", variables=variables)
    [a] = api.messages("a")
    [b] = api.messages("b")
    [c] = api.messages("c")
    assert a["rendered_template"] == expected_render({"name": "Ada"})
    assert b["rendered_template"] == expected_render({"name": "Bob", "code": "7"})
    assert c["rendered_template"] == expected_render({})  # every placeholder stays literal
    assert a["notification_data"]["template_variables"] == {"name": "Ada"}
    assert b["notification_data"]["template_variables"] == {"name": "Bob", "code": "7"}
    assert c["notification_data"]["template_variables"] == {}
    assert c["rendered_template"]["body"]["items"][0]["text"] == "Hello {name}!"
    assert a["rendered_template"]["body"]["items"][1]["text"] == "Ada, your code is {code}"


def test_message_ids_are_distinct_integers(api, template):
    api.send_ok([f"u{i}" for i in range(20)], mode="batch")
    ids = [api.messages(f"u{i}")[0]["message_id"] for i in range(20)]
    assert all(type(i) is int for i in ids)
    assert len(set(ids)) == 20


def test_the_template_edit_applies_to_later_sends_only(api, template):
    api.send_ok(["u1"], variables={"u1": {"name": "Ada"}})
    api.runtime.clock.advance(1)
    assert api.put("/v1/templates/welcome", {"ui_template": {"title": "Bye {name}"}}).status_code == 200
    api.send_ok(["u1"], variables={"u1": {"name": "Ada"}})
    first, second = api.messages("u1")
    assert first["rendered_template"] == expected_render({"name": "Ada"})
    assert second["rendered_template"] == {"title": "Bye Ada"}


def test_non_string_values_are_kept(api):
    ui = {"n": 3, "flag": True, "none": None, "list": ["{name}", 4], "nested": {"k": "{name}-{name}"}}
    api.create_template("mixed", ui_template=ui)
    api.send_ok(["u1"], key="mixed", variables={"u1": {"name": "Zed"}})
    [msg] = api.messages("u1")
    assert msg["rendered_template"] == {"n": 3, "flag": True, "none": None, "list": ["Zed", 4],
                                        "nested": {"k": "Zed-Zed"}}


def test_messages_go_to_the_template_channel(api):
    api.create_template("a", channel_url="feed_a")
    api.create_template("b", channel_url="feed_b")
    api.send_ok(["u1"], key="a")
    api.send_ok(["u1"], key="b")
    api.send_ok(["u1"], key="b")
    assert [m["channel_url"] for m in api.messages("u1", channel="feed_a")] == ["feed_a"]
    assert [m["channel_url"] for m in api.messages("u1", channel="feed_b")] == ["feed_b", "feed_b"]
    assert api.unread("u1") == 3
