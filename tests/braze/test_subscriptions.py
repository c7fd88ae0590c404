"""Subscription groups: `/_admin/subscription_groups`, the profile attribute `subscription_groups` of
/users/track, `POST /subscription/status/set`, `POST /v2/subscription/status/set`, `GET /subscription/user/status`,
`GET /subscription/status/get`, and the segment filter `subscription_group`.

Sources (braze-inc/braze-docs):
`_docs/_api/endpoints/subscription_groups/post_update_user_subscription_group_status.md`,
`post_update_user_subscription_group_status_v2.md`, `get_list_user_subscription_groups.md`,
`get_list_user_subscription_group_status.md`; recorded answers in jonallured/braze_ruby
`spec/fixtures/responses/subscription/` (and `spec/integrations/subscription_spec.rb`, which made them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .braze_fixtures import AUTH, BrazeEnv

GROUP = "ed06e19a-69b1-4f9b-a452-2db2c4e303a8"  # the recordings' group
SMS = "sms-group"


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    for body in ({"subscription_group_id": GROUP, "name": "test-subscription-group", "channel": "email"},
                 {"subscription_group_id": SMS, "name": "texts", "channel": "sms"}):
        assert env.client.post("/_admin/subscription_groups", json=body).status_code == 201
    yield env
    env.close()


def states(braze: BrazeEnv, external_id: str) -> dict[str, str]:
    return braze.stored(external_id).subscription_groups


def status_set(braze: BrazeEnv, external_id, state: str = "subscribed", group: str = GROUP, **more):
    return braze.post("/subscription/status/set", {"external_id": external_id, "subscription_group_id": group,
                                                   "subscription_state": state, **more})


# -- the groups -----------------------------------------------------------------------------------------------

def test_admin_defines_lists_and_deletes_groups(braze):
    """Harness contract: the dashboard's Subscription Groups page as /_admin/subscription_groups; none at start."""
    made = braze.client.post("/_admin/subscription_groups", json={"name": "offers", "channel": "whatsapp"})
    assert made.status_code == 201 and made.get_json()["channel"] == "whatsapp"
    new_id = made.get_json()["subscription_group_id"]
    listed = braze.client.get("/_admin/subscription_groups").get_json()["subscription_groups"]
    assert [g["subscription_group_id"] for g in listed] == [GROUP, SMS, new_id]
    assert braze.client.delete(f"/_admin/subscription_groups/{new_id}").status_code == 200
    assert braze.client.delete(f"/_admin/subscription_groups/{new_id}").status_code == 404
    braze.client.post("/_admin/reset")
    assert braze.client.get("/_admin/subscription_groups").get_json() == {"subscription_groups": []}


@pytest.mark.parametrize("body", [{"name": "x"}, {"name": "", "channel": "email"}, {"name": "x", "channel": "fax"},
                                  {"name": "x", "channel": "email", "subscription_group_id": GROUP},
                                  {"name": "x", "channel": "email", "extra": 1}, [1], None])
def test_admin_refuses_a_bad_group(braze, body):
    response = braze.client.post("/_admin/subscription_groups", json=body)
    assert response.status_code == 400 and "subscription group" in response.get_json()["message"]


# -- POST /subscription/status/set ------------------------------------------------------------------------------

def test_status_set_subscribes_and_unsubscribes(braze):
    """braze_ruby subscription_status_set/when_subscribing and when_unsubscribing: 201 {"message": "success"}."""
    braze.users("test-user-1", "test-user-2")
    response = status_set(braze, "test-user-1")
    assert (response.status_code, response.get_json()) == (201, {"message": "success"})
    status_set(braze, ["test-user-2"])
    status_set(braze, "test-user-2", "unsubscribed")
    assert states(braze, "test-user-1") == {GROUP: "subscribed"}
    assert states(braze, "test-user-2") == {GROUP: "unsubscribed"}


def test_status_set_with_an_unknown_group_is_a_400(braze):
    """braze_ruby subscription_status_set/when_subscription_group_does_not_exist: 400
    {"message": "Invalid subscription group ID"}."""
    braze.users("test-user-1")
    response = status_set(braze, "test-user-1", group="non-existing-subscription-group")
    assert (response.status_code, response.get_json()) == (400, {"message": "Invalid subscription group ID"})
    assert states(braze, "test-user-1") == {}


def test_status_set_by_email_updates_every_profile_with_it(braze):
    """post_update_user_subscription_group_status.md: "If multiple users (external_id) in the same workspace share
    the same email address, then all users that share the email address are updated"."""
    braze.users("a", "b", email="shared@example.com")
    braze.users("c", email="other@example.com")
    assert braze.post("/subscription/status/set", {"subscription_group_id": GROUP, "subscription_state": "subscribed",
                                                   "email": ["shared@example.com"]}).status_code == 201
    assert [states(braze, u) for u in "abc"] == [{GROUP: "subscribed"}, {GROUP: "subscribed"}, {}]


def test_status_set_refuses_email_and_phone_together(braze):
    """post_update_user_subscription_group_status.md: "If given both, you will receive this response"."""
    braze.users("a")
    response = status_set(braze, "a", email="a@example.com", phone="+12223334444")
    assert (response.status_code, response.get_json()) == (
        400, {"message": "Either an email address or a phone number should be provided, but not both."})


def test_status_set_checks_state_channel_and_limits(braze):
    """The page: `subscription_state` "subscribed" or "unsubscribed"; email groups take external_id or email, SMS
    groups external_id or phone; at most 50 ids."""
    braze.users("a")
    assert status_set(braze, "a", "opted_in").status_code == 400
    assert status_set(braze, None, email="a@example.com", group=SMS).status_code == 400
    assert status_set(braze, None, phone="+12223334444").status_code == 400
    assert status_set(braze, [f"u{i}" for i in range(51)]).status_code == 400
    assert status_set(braze, [f"u{i}" for i in range(50)]).status_code == 201
    assert status_set(braze, None).status_code == 400
    assert status_set(braze, "a", group=SMS).status_code == 201 and states(braze, "a") == {SMS: "subscribed"}


# -- POST /v2/subscription/status/set ---------------------------------------------------------------------------

def test_v2_sets_several_groups(braze):
    """post_update_user_subscription_group_status_v2.md; braze_ruby v2_subscription_status_set sends
    `external_id` (a string) inside the object and gets 201 {"message": "success"}."""
    braze.users("test-user-1", "b")
    response = braze.post("/v2/subscription/status/set", {"subscription_groups": [
        {"subscription_group_id": GROUP, "subscription_state": "subscribed", "external_id": "test-user-1"},
        {"subscription_group_id": SMS, "subscription_state": "unsubscribed", "external_ids": ["test-user-1", "b"]}]})
    assert (response.status_code, response.get_json()) == (201, {"message": "success"})
    assert states(braze, "test-user-1") == {GROUP: "subscribed", SMS: "unsubscribed"}
    assert states(braze, "b") == {SMS: "unsubscribed"}


def test_v2_with_an_unknown_group_changes_nothing(braze):
    """braze_ruby v2_subscription_status_set/when_subscription_group_does_not_exist: 400 "Invalid subscription
    group ID"; the request is checked whole before anything is applied."""
    braze.users("test-user-1")
    response = braze.post("/v2/subscription/status/set", {"subscription_groups": [
        {"subscription_group_id": GROUP, "subscription_state": "subscribed", "external_ids": ["test-user-1"]},
        {"subscription_group_id": "non-existing-subscription-group", "subscription_state": "subscribed",
         "external_ids": ["test-user-1"]}]})
    assert (response.status_code, response.get_json()) == (400, {"message": "Invalid subscription group ID"})
    assert states(braze, "test-user-1") == {}
    assert braze.post("/v2/subscription/status/set", {"subscription_groups": []}).status_code == 400
    both = braze.post("/v2/subscription/status/set", {"subscription_groups": [
        {"subscription_group_id": GROUP, "subscription_state": "subscribed", "emails": ["a@b.co"],
         "phones": ["+12223334444"]}]})
    assert both.status_code == 400  # the page: "you cannot include both emails and phones parameters"


# -- GET /subscription/status/get and /subscription/user/status -----------------------------------------------------

def test_status_get_answers_each_external_id(braze):
    """braze_ruby subscription_status_get/when_checking_subscribed_and_unsubscribed_user_status:
    {"status": {"test-user-1": "Subscribed", "test-user-2": "Unsubscribed", "test-user-3": "unknown"}, ...}."""
    braze.users("test-user-1", "test-user-2", "test-user-3")
    status_set(braze, "test-user-1")
    status_set(braze, "test-user-2", "unsubscribed")
    response = braze.client.get(f"/subscription/status/get?external_id%5B%5D=test-user-1&external_id%5B%5D=test-user-2"
                                f"&external_id%5B%5D=test-user-3&subscription_group_id={GROUP}", headers=AUTH)
    assert (response.status_code, response.get_json()) == (200, {"status": {
        "test-user-1": "Subscribed", "test-user-2": "Unsubscribed", "test-user-3": "unknown"}, "message": "success"})


def test_status_get_of_an_unknown_group_is_a_400(braze):
    """braze_ruby subscription_status_get/when_group_does_not_exist."""
    braze.users("test-user-1")
    response = braze.get("/subscription/status/get", external_id="test-user-1",
                         subscription_group_id="non-existing-subscription-group")
    assert (response.status_code, response.get_json()) == (400, {"message": "Invalid subscription group ID"})


def test_status_get_by_email_and_by_phone(braze):
    """get_list_user_subscription_group_status.md: email or phone name users when no external_id does; both
    together without an external_id is an error."""
    braze.users("a", email="a@example.com", phone="+12223334444")
    status_set(braze, "a")
    assert braze.get("/subscription/status/get", subscription_group_id=GROUP,
                     email="a@example.com").get_json()["status"] == {"a@example.com": "Subscribed"}
    assert braze.get("/subscription/status/get", subscription_group_id=GROUP, email="a@example.com",
                     phone="+12223334444").status_code == 400
    assert braze.get("/subscription/status/get", subscription_group_id=GROUP, email="a@example.com",
                     phone="+12223334444", external_id="a").status_code == 200


def test_user_status_lists_the_groups_of_each_user(braze):
    """braze_ruby subscription_user_status/returns_subscription_groups_and_status_for_every_group: users with
    email, phone, external_id and their groups ({"id", "name", "channel", "status"}); total_count."""
    for user in ("test-user-1", "test-user-2", "test-user-3"):
        braze.users(user, email=f"{user}@test.com")
    status_set(braze, "test-user-1")
    status_set(braze, "test-user-2", "unsubscribed")
    response = braze.client.get("/subscription/user/status?external_id%5B%5D=test-user-1&external_id%5B%5D=test-user-2"
                                "&external_id%5B%5D=test-user-3", headers=AUTH)
    group = {"id": GROUP, "name": "test-subscription-group", "channel": "email"}
    assert (response.status_code, response.get_json()) == (200, {"users": [
        {"email": "test-user-1@test.com", "phone": None, "external_id": "test-user-1",
         "subscription_groups": [{**group, "status": "Subscribed"}]},
        {"email": "test-user-2@test.com", "phone": None, "external_id": "test-user-2",
         "subscription_groups": [{**group, "status": "Unsubscribed"}]},
        {"email": "test-user-3@test.com", "phone": None, "external_id": "test-user-3", "subscription_groups": []}],
        "total_count": 3, "message": "success"})
    paged = braze.client.get("/subscription/user/status?external_id[]=test-user-1&external_id[]=test-user-2"
                             "&limit=1&offset=1", headers=AUTH).get_json()
    assert [u["external_id"] for u in paged["users"]] == ["test-user-2"] and paged["total_count"] == 2
    assert braze.get("/subscription/user/status", external_id="a", limit="101").status_code == 400
    assert braze.get("/subscription/user/status").status_code == 400


@pytest.mark.parametrize("method, path, permission", [
    ("post", "/subscription/status/set", "subscription.status.set"),
    ("post", "/v2/subscription/status/set", "subscription.status.set"),
    ("get", "/subscription/user/status", "subscription.groups.get"),
    ("get", "/subscription/status/get", "subscription.status.get"),
])
def test_each_endpoint_needs_its_permission(braze, method, path, permission):
    """Each page's "Prerequisites" names the permission."""
    braze.users("a")
    others = [p for p in ("subscription.status.set", "subscription.groups.get", "subscription.status.get")
              if p != permission]
    braze.client.post("/_admin/api_keys", json={"key": "wrong", "permissions": others})
    braze.client.post("/_admin/api_keys", json={"key": "right", "permissions": [permission]})
    body = {"subscription_group_id": GROUP, "subscription_state": "subscribed", "external_id": "a"}
    v2 = {"subscription_groups": [body]}
    for key, status in (("wrong", 403), ("right", 201 if method == "post" else 200)):
        if method == "post":
            response = braze.post(path, v2 if path.startswith("/v2") else body, key=key)
        else:
            response = braze.get(path, key=key, subscription_group_id=GROUP, external_id="a")
        assert response.status_code == status


# -- the profile field and what reads it ----------------------------------------------------------------------------

def test_users_track_sets_subscription_groups(braze):
    """user_attributes_object.md: `subscription_groups` is a profile field, an array of
    {"subscription_group_id", "subscription_state"}; post_update_user_subscription_group_status.md tip: "you can
    set subscription groups within the user attributes object"."""
    response = braze.track({"attributes": [
        {"external_id": "new", "subscription_groups": [{"subscription_group_id": GROUP,
                                                        "subscription_state": "subscribed"}]},
        {"external_id": "bad", "subscription_groups": [{"subscription_group_id": "nope",
                                                        "subscription_state": "subscribed"}]},
        {"external_id": "worse", "subscription_groups": {"subscription_group_id": GROUP}}]})
    body = response.get_json()
    assert body["attributes_processed"] == 1
    assert [(e["index"], e["type"]) for e in body["errors"]] == [
        (1, "Invalid subscription group ID"),
        (2, "'subscription_groups' must be an array of {\"subscription_group_id\", \"subscription_state\": "
            "\"subscribed\"|\"unsubscribed\"}")]
    assert states(braze, "new") == {GROUP: "subscribed"} and braze.stored("new").custom == {}
    assert braze.stored("bad") is None


def test_segments_filter_on_a_subscription_group(braze):
    """Harness contract (Braze's connected audience object, `_docs/_api/objects_filters/connected_audience.md`,
    has no subscription group filter): `subscription_group` is / is_not subscribed | unsubscribed."""
    braze.users("in", "out", "never")
    status_set(braze, "in")
    status_set(braze, "out", "unsubscribed")
    def members(comparison: str, value: str) -> set[str]:
        created = braze.client.post("/_admin/segments", json={"name": f"{comparison}-{value}", "filter": {
            "subscription_group": {"subscription_group_id": GROUP, "comparison": comparison, "value": value}}})
        assert created.status_code == 201, created.get_json()
        segment = braze.service.segments.get(f"{comparison}-{value}")
        return {p.external_id for p in segment.members(braze.service.users, braze.now())}
    assert members("is", "subscribed") == {"in"}
    assert members("is_not", "subscribed") == {"out", "never"}
    assert members("is", "unsubscribed") == {"out"}
    bad = braze.client.post("/_admin/segments", json={"name": "bad", "filter": {"subscription_group": {
        "subscription_group_id": GROUP, "comparison": "is", "value": "opted_in"}}})
    assert bad.status_code == 400
