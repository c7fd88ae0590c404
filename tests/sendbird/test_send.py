"""Send: modes and target counts, validation errors, dedupe, user creation, the three send paths."""

from __future__ import annotations

from collections import Counter

import pytest

from .conftest import AUTH, assert_error

SEND_PATHS = ["/v1/notifications", "/v1/notifications/messages", "/v2/notifications"]


def assert_nothing_sent(api) -> None:
    api.settle()
    assert api.records("send.accepted") == []
    assert api.records("message.delivered") == []


def delivered_users(api, notification_id: str) -> Counter:
    return Counter(r["user_id"] for r in api.records("message.delivered", notification_id=notification_id))


@pytest.mark.parametrize("path", SEND_PATHS)
def test_realtime_send_with_one_target(api, template, path):
    resp = api.send(["user-1"], path=path)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"notification_id", "mode", "targets_count", "created_at"}
    assert isinstance(body["notification_id"], str) and body["notification_id"]
    assert body["mode"] == "realtime"
    assert body["targets_count"] == 1
    api.settle()
    msgs = api.messages("user-1")
    assert len(msgs) == 1
    assert msgs[0]["notification_id"] == body["notification_id"]
    assert msgs[0]["created_at"] == body["created_at"]  # what a read receipt is compared with


@pytest.mark.parametrize("path", SEND_PATHS)
def test_every_send_path_validates(api, template, path):
    assert_error(api.send(["a", "b"], path=path), 400, 400111)
    assert_error(api.send(["a"], key="nope", path=path), 400, 400201)
    assert_nothing_sent(api)


def test_notification_ids_are_unique(api, template):
    ids = {api.send_ok(["u1"])["notification_id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("targets", [["a", "b"], []], ids=["two", "none"])
def test_realtime_needs_exactly_one_target(api, template, targets):
    assert_error(api.send(targets, mode="realtime"), 400, 400111)
    assert_nothing_sent(api)


def test_batch_with_one_target_is_400111(api, template):
    assert_error(api.send(["a"], mode="batch"), 400, 400111)
    assert_nothing_sent(api)


def test_batch_with_10001_targets_is_400111(api, template):
    targets = [f"u{i}" for i in range(10_001)]
    assert_error(api.send(targets, mode="batch"), 400, 400111)
    assert_nothing_sent(api)


def test_batch_with_10000_targets_gives_each_user_exactly_one_message(api, template):
    targets = [f"u{i}" for i in range(10_000)]
    resp = api.send(targets, mode="batch", variables={"u7": {"name": "Seven"}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["mode"] == "batch"
    assert body["targets_count"] == 10_000
    api.settle()
    counts = delivered_users(api, body["notification_id"])
    assert set(counts) == set(targets)
    assert set(counts.values()) == {1}
    for user in ("u0", "u7", "u9999"):
        msgs = api.messages(user)
        assert len(msgs) == 1
        assert msgs[0]["notification_id"] == body["notification_id"]
    assert api.messages("u7")[0]["notification_data"]["template_variables"] == {"name": "Seven"}
    assert api.log(body["notification_id"])["metrics"]["sent"] == 10_000


def test_batch_with_two_targets(api, template):
    body = api.send_ok(["a", "b"], mode="batch")
    assert body["mode"] == "batch"
    assert body["targets_count"] == 2
    assert delivered_users(api, body["notification_id"]) == Counter({"a": 1, "b": 1})


@pytest.mark.parametrize("count", [1, 2, 9, 50])
def test_legacy_auto_is_the_default_when_mode_is_absent(api, template, count):
    targets = [f"u{i}" for i in range(count)]
    body = api.send_ok(targets, mode=None)
    assert body["targets_count"] == count
    assert isinstance(body["mode"], str)
    assert delivered_users(api, body["notification_id"]) == Counter(dict.fromkeys(targets, 1))


def test_legacy_auto_explicit(api, template):
    body = api.send_ok(["a", "b", "c"], mode="auto")
    assert body["targets_count"] == 3
    assert len(delivered_users(api, body["notification_id"])) == 3


@pytest.mark.parametrize("mode", [None, "auto", "multi"])
def test_legacy_auto_and_multi_cap_at_10000(api, template, mode):
    assert_error(api.send([f"u{i}" for i in range(10_001)], mode=mode), 400, 400111)
    assert_nothing_sent(api)


@pytest.mark.parametrize("mode", [None, "auto", "single", "multi"])
def test_legacy_modes_need_at_least_one_target(api, template, mode):
    assert_error(api.send([], mode=mode), 400, 400111)


@pytest.mark.parametrize("count", [1, 9])
def test_legacy_single_accepts_1_to_9(api, template, count):
    targets = [f"u{i}" for i in range(count)]
    body = api.send_ok(targets, mode="single")
    assert body["targets_count"] == count
    assert len(delivered_users(api, body["notification_id"])) == count


def test_legacy_single_rejects_10(api, template):
    assert_error(api.send([f"u{i}" for i in range(10)], mode="single"), 400, 400111)
    assert_nothing_sent(api)


@pytest.mark.parametrize("count", [1, 12])
def test_legacy_multi(api, template, count):
    targets = [f"u{i}" for i in range(count)]
    body = api.send_ok(targets, mode="multi")
    assert body["targets_count"] == count
    assert len(delivered_users(api, body["notification_id"])) == count


@pytest.mark.parametrize("mode", ["bulk", "REALTIME", "", "group"])
def test_unknown_mode_is_400111(api, template, mode):
    assert_error(api.send(["u1"], mode=mode), 400, 400111, "mode")
    assert_nothing_sent(api)


@pytest.mark.parametrize("mode", [1, True, ["realtime"], {"m": 1}])
def test_mode_not_a_string_is_400100(api, template, mode):
    assert_error(api.send(["u1"], mode=mode), 400, 400100, "mode")


def test_missing_template_is_400105(api, template):
    assert_error(api.post("/v1/notifications", {"mode": "realtime", "targets": ["u1"]}), 400, 400105, "template")


def test_missing_template_key_is_400105(api, template):
    body = {"template": {"variables": {}}, "mode": "realtime", "targets": ["u1"]}
    assert_error(api.post("/v1/notifications", body), 400, 400105, "key")
    assert_nothing_sent(api)


@pytest.mark.parametrize("value", ["welcome", ["welcome"], 3])
def test_template_not_an_object_is_400103(api, template, value):
    body = {"template": value, "mode": "realtime", "targets": ["u1"]}
    assert_error(api.post("/v1/notifications", body), 400, 400103, "template")


def test_template_key_not_a_string_is_400100(api, template):
    body = {"template": {"key": 5}, "mode": "realtime", "targets": ["u1"]}
    assert_error(api.post("/v1/notifications", body), 400, 400100, "key")


@pytest.mark.parametrize(("variables", "code"), [("x", 400103), ([1], 400103), ({"u1": "Ada"}, 400103),
                                                 ({"u1": ["Ada"]}, 400103)])
def test_template_variables_must_be_objects(api, template, variables, code):
    assert_error(api.send(["u1"], variables=variables), 400, code)


def test_missing_targets_without_targets_filename_is_400105(api, template):
    body = {"template": {"key": "welcome"}, "mode": "batch"}
    assert_error(api.post("/v1/notifications", body), 400, 400105, "targets")
    body = {"template": {"key": "welcome"}, "mode": "realtime"}
    assert_error(api.post("/v1/notifications", body), 400, 400105, "targets")


@pytest.mark.parametrize("targets", ["u1", {"u1": 1}, 5])
def test_targets_not_a_list_is_400102(api, template, targets):
    assert_error(api.send(targets), 400, 400102, "targets")


@pytest.mark.parametrize("target", [1, None, True, ["u1"], {"id": "u1"}])
def test_a_target_that_is_not_a_string_is_400100(api, template, target):
    assert_error(api.send(["ok", target], mode="batch"), 400, 400100)
    assert_nothing_sent(api)


def test_a_user_id_over_80_characters_is_400110(api, template):
    assert_error(api.send(["u" * 81]), 400, 400110)
    assert_nothing_sent(api)
    api.send_ok(["u" * 80])
    assert len(api.messages("u" * 80)) == 1


def test_push_template_without_title_is_400105(api, template):
    assert_error(api.send(["u1"], push_template={"body": "hello"}), 400, 400105, "title")
    assert_nothing_sent(api)


def test_push_template_not_an_object_is_400103(api, template):
    assert_error(api.send(["u1"], push_template="Hi"), 400, 400103, "push_template")


def test_push_template_title_not_a_string_is_400100(api, template):
    assert_error(api.send(["u1"], push_template={"title": 1}), 400, 400100, "title")


def test_push_template_with_title_is_accepted(api, template):
    body = api.send_ok(["u1"], push_template={"title": "Hi", "body": "There"})
    assert body["targets_count"] == 1


@pytest.mark.parametrize(("field", "value", "code"), [("label", 5, 400100), ("tags", "spring", 400102),
                                                      ("tags", [1], 400100), ("targets_filename", 3, 400100)])
def test_optional_fields_with_wrong_types(api, template, field, value, code):
    assert_error(api.send(["u1", "u2"], mode="batch", **{field: value}), 400, code)


def test_unknown_template_is_400201(api, template):
    assert_error(api.send(["u1"], key="does-not-exist"), 400, 400201)
    assert_nothing_sent(api)


def test_archived_template_is_400201(api, template):
    assert api.post("/v1/templates/welcome/archive").status_code == 200
    assert_error(api.send(["u1"]), 400, 400201)
    assert_error(api.send(["u1", "u2"], mode="batch"), 400, 400201)
    assert_nothing_sent(api)


def test_a_required_variable_missing_for_a_target_names_the_user_and_variable(api):
    schema = [{"key": "first_name", "type": "string", "name": "First name", "required": True},
              {"key": "code", "type": "string", "name": "Code"}]
    api.create_template("req", variable_schema=schema, ui_template={"t": "Hi {first_name}"})
    variables = {"alice": {"first_name": "Alice"}, "bob": {"code": "X"}}
    resp = api.send(["alice", "bob"], key="req", mode="batch", variables=variables)
    assert_error(resp, 400, 400111, "bob", "first_name")
    assert_nothing_sent(api)
    # with every required variable present it goes through; an optional one may be left out
    variables["bob"]["first_name"] = "Bob"
    body = api.send_ok(["alice", "bob"], key="req", mode="batch", variables=variables)
    assert body["targets_count"] == 2


def test_a_required_variable_missing_for_a_realtime_target(api):
    schema = [{"key": "name", "type": "string", "name": "Name", "required": True}]
    api.create_template("req", variable_schema=schema)
    assert_error(api.send(["carol"], key="req"), 400, 400111, "carol", "name")
    assert_error(api.send(["carol"], key="req", variables={"someone-else": {"name": "X"}}), 400, 400111,
                 "carol", "name")
    api.send_ok(["carol"], key="req", variables={"carol": {"name": "Carol"}})


def test_duplicate_targets_get_one_message(api, template):
    body = api.send_ok(["a", "b", "a", "a", "b"], mode="batch")
    assert delivered_users(api, body["notification_id"]) == Counter({"a": 1, "b": 1})
    assert len(api.messages("a")) == 1
    assert len(api.messages("b")) == 1
    assert api.log(body["notification_id"])["metrics"]["sent"] == 2


def test_unknown_users_are_created_on_first_send(api, template):
    assert_error(api.get("/v3/users/brand-new/unread_message_count"), 400, 400201)
    api.send_ok(["brand-new"])
    assert api.unread("brand-new") == 1
    assert len(api.messages("brand-new")) == 1


def test_label_and_tags_default_to_template_label_and_empty(api, template):
    api.send_ok(["u1"])
    data = api.messages("u1")[0]["notification_data"]
    assert data["label"] == "promo"
    assert data["tags"] == []
    api.send_ok(["u2"], label="other", tags=["spring", "sale"])
    data = api.messages("u2")[0]["notification_data"]
    assert data["label"] == "other"
    assert data["tags"] == ["spring", "sale"]


def test_notification_group_is_accepted(api, template):
    api.send_ok(["u1"], mode=None, notification_group="group-1")


def test_send_with_an_unknown_token_does_not_deliver(api, template):
    resp = api.send(["u1"], headers={"Api-Token": "nope"})
    assert_error(resp, 401, 400401)
    assert_nothing_sent(api)


def test_send_content_type_with_charset(api, template):
    import json

    resp = api.client.post("/v1/notifications", data=json.dumps(api.send_body(["u1"])),
                           headers={**AUTH, "Content-Type": "application/json; charset=utf8"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
