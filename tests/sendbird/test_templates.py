"""Templates: create, validate, list with paging, get, edit, archive/unarchive, the 100-template cap."""

from __future__ import annotations

import pytest

from .conftest import FEED, UI_TEMPLATE, assert_error

RESOURCE_FIELDS = {"key", "name", "channel_url", "ui_template", "variable_schema", "category", "label",
                   "created_at", "updated_at", "version", "is_archived"}


def test_create_returns_the_template_resource(api):
    body = api.template_body("welcome", category="news", label="promo")
    resp = api.post("/v1/templates", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    tpl = resp.get_json()
    assert set(tpl) >= RESOURCE_FIELDS
    assert tpl["key"] == "welcome"
    assert tpl["name"] == "Template welcome"
    assert tpl["ui_template"] == UI_TEMPLATE
    assert [v["key"] for v in tpl["variable_schema"]] == ["name", "code"]
    assert all(v["required"] is False for v in tpl["variable_schema"])  # required defaults to false
    assert tpl["category"] == "news"
    assert tpl["label"] == "promo"
    assert tpl["channel_url"] == FEED
    assert tpl["version"] == 1
    assert tpl["is_archived"] is False
    for field in ("created_at", "updated_at"):
        assert type(tpl[field]) is int
        assert tpl[field] == api.now_ms()  # epoch milliseconds on the runtime clock
    assert api.get("/v1/templates/welcome").get_json() == tpl


def test_create_keeps_an_explicit_channel_url_and_creates_that_channel(api):
    tpl = api.create_template("promo", channel_url="promo_feed")
    assert tpl["channel_url"] == "promo_feed"
    api.send_ok(["u1"], key="promo")
    assert len(api.messages("u1", channel="promo_feed")) == 1


@pytest.mark.parametrize("key", ["a", "A-b_9", "x" * 100, "0123456789"])
def test_valid_keys_are_accepted(api, key):
    assert api.create_template(key)["key"] == key


def test_duplicate_key_is_400202(api, template):
    resp = api.post("/v1/templates", api.template_body("welcome"))
    assert_error(resp, 400, 400202)


def test_key_over_100_characters_is_400110(api):
    resp = api.post("/v1/templates", api.template_body("k" * 101))
    assert_error(resp, 400, 400110, "key")


@pytest.mark.parametrize("key", ["has space", "dot.ted", "slash/key", "émoji", "semi;colon", "brace{x}"])
def test_key_with_bad_characters_is_400111(api, key):
    resp = api.post("/v1/templates", api.template_body(key))
    assert_error(resp, 400, 400111, "key")


def test_empty_key_is_rejected(api):
    resp = api.post("/v1/templates", api.template_body(""))
    code = (resp.get_json(silent=True) or {}).get("code")
    assert code in (400105, 400111), resp.get_data(as_text=True)  # "1..100 characters": missing or invalid
    assert_error(resp, 400, code)


@pytest.mark.parametrize(("field", "code"), [("key", 400105), ("name", 400105), ("ui_template", 400105)])
def test_missing_required_field(api, field, code):
    body = api.template_body("welcome")
    del body[field]
    assert_error(api.post("/v1/templates", body), 400, code, field)


@pytest.mark.parametrize(("field", "value", "code"), [
    ("key", 123, 400100),
    ("name", 123, 400100),
    ("name", True, 400100),
    ("ui_template", "not an object", 400103),
    ("ui_template", [1, 2], 400103),
    ("variable_schema", {"key": "name"}, 400102),
    ("variable_schema", "name", 400102),
    ("category", 5, 400100),
    ("label", ["x"], 400100),
    ("channel_url", 7, 400100),
])
def test_wrong_types_are_rejected(api, field, value, code):
    body = api.template_body("welcome")
    body[field] = value
    assert_error(api.post("/v1/templates", body), 400, code, field)


@pytest.mark.parametrize("bad_type", ["text", "int", "STRING", "", "date"])
def test_unknown_variable_type_is_400111(api, bad_type):
    body = api.template_body("welcome", variable_schema=[{"key": "name", "type": bad_type, "name": "Name"}])
    assert_error(api.post("/v1/templates", body), 400, 400111)


@pytest.mark.parametrize("var_type", ["string", "number", "boolean", "url", "color", "image"])
def test_every_documented_variable_type_is_accepted(api, var_type):
    schema = [{"key": "v", "type": var_type, "name": "V", "required": True}]
    tpl = api.create_template("welcome", variable_schema=schema)
    assert tpl["variable_schema"][0]["type"] == var_type
    assert tpl["variable_schema"][0]["required"] is True


def test_variable_schema_entry_not_an_object_is_400103(api):
    body = api.template_body("welcome", variable_schema=["name"])
    assert_error(api.post("/v1/templates", body), 400, 400103)


def test_variable_schema_required_not_a_boolean_is_400104(api):
    body = api.template_body("welcome", variable_schema=[{"key": "name", "type": "string", "name": "N",
                                                          "required": "yes"}])
    assert_error(api.post("/v1/templates", body), 400, 400104, "required")


def test_get_unknown_template_is_400201(api):
    assert_error(api.get("/v1/templates/nope"), 400, 400201)


def test_list_pages_with_limit_and_token(api):
    keys = [f"t{i:02d}" for i in range(7)]
    for key in keys:
        api.create_template(key)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": 3}
        if token:
            query["token"] = token
        resp = api.get("/v1/templates", query_string=query)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert set(body) >= {"templates", "next"}
        assert len(body["templates"]) <= 3
        seen += [t["key"] for t in body["templates"]]
        pages += 1
        assert isinstance(body["next"], str)
        if not body["next"]:
            break
        assert len(body["templates"]) == 3
        token = body["next"]
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == keys
    assert len(seen) == len(set(seen))


def test_list_default_limit_is_20(api):
    for i in range(22):
        api.create_template(f"t{i:02d}")
    body = api.get("/v1/templates").get_json()
    assert len(body["templates"]) == 20
    assert body["next"]
    rest = api.get("/v1/templates", query_string={"token": body["next"]}).get_json()
    assert len(rest["templates"]) == 2
    assert rest["next"] == ""


def test_list_with_no_templates(api):
    assert api.get("/v1/templates").get_json() == {"templates": [], "next": ""}


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_list_limit_out_of_range_is_400111(api, limit):
    assert_error(api.get("/v1/templates", query_string={"limit": limit}), 400, 400111, "limit")


@pytest.mark.parametrize("limit", ["abc", "1.5", "1_0"])
def test_list_limit_not_a_number_is_400101(api, limit):
    assert_error(api.get("/v1/templates", query_string={"limit": limit}), 400, 400101, "limit")


def test_list_limit_100_is_allowed(api, template):
    assert api.get("/v1/templates", query_string={"limit": 100}).status_code == 200


def test_put_edits_and_bumps_version_and_updated_at(api, template):
    api.runtime.clock.advance(5)
    resp = api.put("/v1/templates/welcome", {"name": "Renamed", "label": "news",
                                             "ui_template": {"title": "Hi {name}"}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    tpl = resp.get_json()
    assert tpl["name"] == "Renamed"
    assert tpl["label"] == "news"
    assert tpl["ui_template"] == {"title": "Hi {name}"}
    assert tpl["version"] == 2
    assert tpl["created_at"] == template["created_at"]
    assert tpl["updated_at"] == template["updated_at"] + 5000
    assert tpl["key"] == "welcome"
    again = api.put("/v1/templates/welcome", {"category": "c2"}).get_json()
    assert again["version"] == 3
    assert again["name"] == "Renamed"  # untouched fields stay
    assert api.get("/v1/templates/welcome").get_json()["version"] == 3


def test_put_with_wrong_types_is_rejected(api, template):
    assert_error(api.put("/v1/templates/welcome", {"ui_template": "x"}), 400, 400103, "ui_template")
    assert_error(api.put("/v1/templates/welcome", {"variable_schema": {}}), 400, 400102, "variable_schema")
    assert_error(api.put("/v1/templates/welcome", {"name": 1}), 400, 400100, "name")
    assert api.get("/v1/templates/welcome").get_json()["version"] == 1


def test_put_unknown_template_is_400201(api):
    assert_error(api.put("/v1/templates/nope", {"name": "x"}), 400, 400201)


def test_archive_and_unarchive(api, template):
    resp = api.post("/v1/templates/welcome/archive")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert api.get("/v1/templates/welcome").get_json()["is_archived"] is True
    assert_error(api.send(["u1"]), 400, 400201)
    resp = api.post("/v1/templates/welcome/unarchive")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert api.get("/v1/templates/welcome").get_json()["is_archived"] is False
    api.send_ok(["u1"])
    assert len(api.messages("u1")) == 1


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_unknown_template_is_400201(api, action):
    assert_error(api.post(f"/v1/templates/nope/{action}"), 400, 400201)


def test_at_most_100_templates_archived_ones_count(api):
    for i in range(100):
        api.create_template(f"t{i:03d}")
    assert api.post("/v1/templates/t000/archive").status_code == 200
    assert_error(api.post("/v1/templates", api.template_body("one-too-many")), 400, 400111)
    assert_error(api.get("/v1/templates/one-too-many"), 400, 400201)
