"""The read-only template and settings routes the SDK and UIKit call, in Business Messaging v2's shape."""

from __future__ import annotations

from .conftest import FEED, UI_TEMPLATE, assert_error


def test_templates_in_the_bm_v2_shape_with_token_paging(api):
    for key in ("a", "b", "c"):
        api.create_template(key, category="news")
        api.runtime.clock.advance(1)
    headers = api.login("u1")
    query = {"token": "", "limit": 2, "reverse": "false", "order": "updated_at", "show_ui_template": "true",
             "show_color_variables": "true"}
    first = api.client.get("/v3/notifications/templates", headers=headers, query_string=query).get_json()
    assert [t["key"] for t in first["templates"]] == ["a", "b"]
    assert first["has_more"] is True and first["next"]
    rest = api.client.get("/v3/notifications/templates", headers=headers,
                          query_string={**query, "token": first["next"]}).get_json()
    assert [t["key"] for t in rest["templates"]] == ["c"]
    assert (rest["has_more"], rest["next"]) == (False, "")
    template = first["templates"][0]
    assert template["channels"] == [FEED] and "channel_url" not in template
    assert template["color_variables"] == {} and template["ui_template"] == UI_TEMPLATE
    assert isinstance(template["updated_at"], int) and template["version"] == 1


def test_one_template_and_a_keys_filter(api):
    api.create_template("a")
    api.create_template("b")
    one = api.get("/v3/notifications/templates/b", query_string={"key": "b"}).get_json()
    assert one["key"] == "b" and one["channels"] == [FEED]
    listed = api.get("/v3/notifications/templates", query_string={"keys": "b"}).get_json()
    assert [t["key"] for t in listed["templates"]] == ["b"]
    assert_error(api.get("/v3/notifications/templates/nope"), 400, 400201)
    assert_error(api.get("/v3/notifications/templates", query_string={"token": "x"}), 400, 400111, "token")
    assert_error(api.get("/v3/notifications/templates", query_string={"limit": 101}), 400, 400111, "limit")


def test_global_settings_answer_a_json_object(api):
    resp = api.client.get("/v3/notifications/settings", headers=api.login("u1"))
    assert resp.status_code == 200 and isinstance(resp.get_json()["themes"], list)


def test_the_channel_lists_its_template_categories(api):
    api.create_template("a", category="news")
    api.create_template("b", category="offers")
    api.create_template("c", category="news")
    channel = api.client.get(f"/v3/sdk/group_channels/{FEED}", headers=api.login("u1")).get_json()
    assert [c["name"] for c in channel["categories"]] == ["All", "news", "offers"]
    assert channel["is_category_filter_enabled"] is True
