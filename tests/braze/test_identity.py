"""Identity endpoints: /users/identify, /users/alias/new, /users/alias/update, /users/merge,
/users/external_ids/rename and /remove, /users/track/sync; and a stateful test of the identifier index.

Sources (braze-inc/braze-docs unless named): `_docs/_api/endpoints/user_data/post_user_identify.md`,
`post_user_alias.md`, `post_users_alias_update.md`, `post_users_merge.md`,
`external_id_migration/post_external_ids_rename.md`, `external_id_migration/post_external_ids_remove.md`,
`post_user_track_synchronous.md`, `_docs/_api/objects_filters/user_alias_object.md`; recorded answers in
jonallured/braze_ruby `spec/fixtures/responses/{identify_users,create_user_aliases,rename_external_ids,
remove_external_ids}/`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from .braze_fixtures import BrazeEnv

ALIAS = {"alias_name": "anon-1", "alias_label": "device"}


def alias_user(braze: BrazeEnv, alias: dict = ALIAS, **attrs) -> None:
    braze.set_attrs({"user_alias": alias, "_update_existing_only": False, **attrs})


def by_alias(braze: BrazeEnv, alias: dict = ALIAS):
    return braze.service.users.by_alias(alias["alias_name"], alias["alias_label"])


def restricted_key(braze: BrazeEnv, *permissions: str) -> str:
    response = braze.client.post("/_admin/api_keys", json={"key": "narrow", "permissions": list(permissions)})
    assert response.status_code == 201, response.get_json()
    return "narrow"


# -- /users/identify ----------------------------------------------------------------------------------------

def test_identify_gives_an_alias_only_user_the_external_id(braze):
    """braze_ruby identify_users/with_success: a numeric external_id, 201 {"aliases_processed": 1, ...};
    post_user_identify.md: "If there isn't a user with that external_id, the external_id is added"."""
    alias_user(braze, color="red")
    response = braze.post("/users/identify", {"aliases_to_identify": [{"external_id": 12345, "user_alias": ALIAS}]})
    assert (response.status_code, response.get_json()) == (201, {"aliases_processed": 1, "message": "success"})
    profile = braze.stored("12345")
    assert profile is by_alias(braze) and profile.custom == {"color": "red"}


def test_identify_into_an_existing_user_merges_what_the_target_lacks(braze):
    """post_user_identify.md, "Merging behavior": fields found exclusively on the anonymous user are merged,
    event counts summed, first/last the earlier/later; the alias-only profile is removed."""
    alias_user(braze, first_name="Anon", home_city="Oslo", color="red", size=3)
    braze.users("u1", first_name="Known", color="blue")
    early, late = braze.now() - timedelta(days=3), braze.now() - timedelta(days=1)
    braze.track({"events": [{"user_alias": ALIAS, "name": "played", "time": early.isoformat()},
                            {"external_id": "u1", "name": "played", "time": late.isoformat()}],
                 "purchases": [{"user_alias": ALIAS, "product_id": "sku", "currency": "USD", "price": 1,
                                "time": early.isoformat()}]})
    anonymous = by_alias(braze)
    response = braze.post("/users/identify", {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}]})
    assert response.get_json() == {"aliases_processed": 1, "message": "success"}
    target = braze.stored("u1")
    assert by_alias(braze) is target and braze.service.users.by_braze_id(anonymous.braze_id) is None
    assert target.attributes["first_name"] == "Known" and target.attributes["home_city"] == "Oslo"
    assert target.custom == {"color": "blue", "size": 3}
    played = target.events["played"]
    assert (played.count, played.first, played.last) == (2, early, late)
    assert [p["product_id"] for p in target.purchases] == ["sku"]


def test_merge_behavior_none_moves_the_alias_and_orphans_the_data(braze):
    """spec.json /users/identify (and the French page's `merge_behavior`): "none" keeps only what belongs to
    the alias; "attributes, events, or purchases will be orphaned"."""
    alias_user(braze, color="red")
    braze.users("u1")
    response = braze.post("/users/identify", {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}],
                                              "merge_behavior": "none"})
    assert response.get_json()["aliases_processed"] == 1
    assert by_alias(braze) is braze.stored("u1") and braze.stored("u1").custom == {}
    assert len(braze.service.users) == 1
    bad = braze.post("/users/identify", {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}],
                                         "merge_behavior": "all"})
    assert (bad.status_code, bad.get_json()) == (400, {"message": "'merge_behavior' must be 'none' or 'merge'"})


def test_identify_does_not_combine_when_the_target_has_the_label(braze):
    """post_user_identify.md: "If a user already exists with the external_id and has an existing alias with the
    same label as the alias-only profile, then the user profiles are not combined"."""
    alias_user(braze)
    braze.set_attrs({"external_id": "u1"})
    assert braze.post("/users/alias/new", {"user_aliases": [{"external_id": "u1", "alias_name": "other",
                                                             "alias_label": "device"}]}).status_code == 201
    body = braze.post("/users/identify", {"aliases_to_identify": [{"external_id": "u1", "user_alias": ALIAS}]})
    assert body.get_json() == {"aliases_processed": 0, "message": "success", "errors": [
        {"type": "the identified user already has an alias with this label", "input_array": "aliases_to_identify",
         "index": 0}]}
    assert by_alias(braze) is not braze.stored("u1") and len(braze.service.users) == 2


def test_identify_reports_an_unknown_alias_and_processes_the_rest(braze):
    alias_user(braze)
    response = braze.post("/users/identify", {"aliases_to_identify": [
        {"external_id": "u1", "user_alias": {"alias_name": "nobody", "alias_label": "device"}},
        {"external_id": "u2", "user_alias": ALIAS}]})
    assert response.get_json() == {"aliases_processed": 1, "message": "success", "errors": [
        {"type": "no user has this alias", "input_array": "aliases_to_identify", "index": 0}]}
    assert braze.stored("u2") is by_alias(braze)


def test_identify_by_email_uses_prioritization(braze):
    """post_user_identify.md, "Identifying users by email addresses and phone numbers": `prioritization` is
    required, ordered, and when more than one user is left nothing happens."""
    braze.track({"attributes": [{"email": "a@example.com", "first_name": "One"}]})
    braze.track({"attributes": [{"email": "a@example.com", "first_name": "Two", "_update_existing_only": False},
                                {"external_id": "known", "email": "a@example.com"}]})
    assert len(braze.service.users.by_email("a@example.com")) == 2  # "Two" updated "One"; and `known`
    second = braze.service.tracker.new_profile()
    braze.service.users.set_contact(second, "email", "a@example.com")
    ambiguous = braze.post("/users/identify", {"emails_to_identify": [
        {"external_id": "e1", "email": "a@example.com", "prioritization": ["unidentified"]}]})
    assert ambiguous.get_json()["aliases_processed"] == 0
    assert ambiguous.get_json()["errors"][0]["type"] == "no single user matches the identifier and its prioritization"
    chosen = braze.post("/users/identify", {"emails_to_identify": [
        {"external_id": "e1", "email": "a@example.com", "prioritization": ["unidentified", "most_recently_updated"]}]})
    assert chosen.get_json() == {"aliases_processed": 1, "message": "success"}
    assert braze.stored("e1") is second  # equal update times: the later added counts as the more recent


def test_identify_by_phone_combines_a_phone_only_user_into_the_identified_one(braze):
    """post_user_identify.md: `phone_numbers_to_identify` identifies a phone number-only profile; it is combined
    with the profile that has the external_id, then removed."""
    braze.track({"attributes": [{"phone": "+11112223333", "first_name": "Phone"}]})
    braze.users("u1")
    response = braze.post("/users/identify", {"phone_numbers_to_identify": [
        {"external_id": "u1", "phone": "+11112223333", "prioritization": ["unidentified"]}]})
    assert response.get_json() == {"aliases_processed": 1, "message": "success"}
    assert len(braze.service.users) == 1
    assert braze.stored("u1").attributes == {"phone": "+11112223333", "first_name": "Phone"}
    assert braze.service.users.by_phone("+11112223333") == [braze.stored("u1")]


@pytest.mark.parametrize("entry, message", [
    ({"external_id": "e1", "email": "a@example.com"},
     "'prioritization' is required when a user is named by 'email' or 'phone'"),
    ({"external_id": "e1", "email": "a@example.com", "prioritization": ["identified", "unidentified"]},
     "'prioritization' must be a non-empty array of 'identified', 'unidentified', 'most_recently_updated' or "
     "'least_recently_updated', with at most one of 'identified' and 'unidentified'"),
    ({"external_id": "e1", "email": "a@example.com", "prioritization": ["newest"]},
     "'prioritization' must be a non-empty array of 'identified', 'unidentified', 'most_recently_updated' or "
     "'least_recently_updated', with at most one of 'identified' and 'unidentified'"),
])
def test_identify_by_email_refuses_a_bad_prioritization(braze, entry, message):
    """post_user_identify.md: "you must also include prioritization"; "Only one of the following options may
    exist in the prioritization array at a time: identified, unidentified"."""
    response = braze.post("/users/identify", {"emails_to_identify": [entry]})
    assert (response.status_code, response.get_json()) == (400, {"message": message})


def test_identify_takes_at_most_50_and_needs_one_array(braze):
    """post_user_identify.md: "You can add up to 50 user aliases per request"; "One of the following is
    required: aliases_to_identify, emails_to_identify, or phone_numbers_to_identify"."""
    many = [{"external_id": f"u{i}", "user_alias": {"alias_name": f"a{i}", "alias_label": "l"}} for i in range(51)]
    assert braze.post("/users/identify", {"aliases_to_identify": many}).status_code == 400
    assert braze.post("/users/identify", {"aliases_to_identify": many[:50]}).status_code == 201
    empty = braze.post("/users/identify", {})
    assert (empty.status_code, empty.get_json()["message"]) == (400, "One of 'aliases_to_identify', "
                                                                     "'emails_to_identify' or "
                                                                     "'phone_numbers_to_identify' is required")
    no_id = braze.post("/users/identify", {"aliases_to_identify": [{"user_alias": ALIAS}]})
    assert no_id.status_code == 400


@pytest.mark.parametrize("path, permission, body", [
    ("/users/identify", "users.identify", {"aliases_to_identify": [{"external_id": "x", "user_alias": ALIAS}]}),
    ("/users/alias/new", "users.alias.new", {"user_aliases": [ALIAS]}),
    ("/users/alias/update", "users.alias.update",
     {"alias_updates": [{"alias_label": "l", "old_alias_name": "a", "new_alias_name": "b"}]}),
    ("/users/merge", "users.merge", {"merge_updates": []}),
    ("/users/external_ids/rename", "users.external_ids.rename",
     {"external_id_renames": [{"current_external_id": "a", "new_external_id": "b"}]}),
    ("/users/external_ids/remove", "users.external_ids.remove", {"external_ids": ["a"]}),
    ("/users/track/sync", "users.track.sync", {"attributes": [{"external_id": "a"}]}),
])
def test_each_endpoint_needs_its_permission(braze, path, permission, body):
    """Each page's "Prerequisites": an API key with the named permission."""
    other = restricted_key(braze, "users.track")
    assert braze.post(path, body, key=other).status_code == 403
    braze.client.post("/_admin/api_keys", json={"key": "right", "permissions": [permission]})
    assert braze.post(path, body, key="right").status_code in (201, 202)


# -- /users/alias/new ---------------------------------------------------------------------------------------

def test_alias_new_adds_an_alias_to_an_identified_user(braze):
    """post_user_alias.md: "Adding a user alias for an existing user requires an external_id"."""
    braze.users("u1")
    response = braze.post("/users/alias/new", {"user_aliases": [{"external_id": "u1", **ALIAS}]})
    assert (response.status_code, response.get_json()) == (201, {"aliases_processed": 1, "message": "success"})
    braze.set_attrs({"user_alias": ALIAS, "color": "red"})  # /users/track by the alias reaches u1
    assert braze.stored("u1").custom == {"color": "red"}


def test_alias_new_without_external_id_creates_an_alias_only_user(braze):
    """post_user_alias.md: "If an external_id is not present, a user will still be created"; braze_ruby
    create_user_aliases/with_success sends {"user_alias": {...}} nested and gets aliases_processed 1."""
    response = braze.post("/users/alias/new", {"user_aliases": [{"user_alias": {"alias_name": "abc",
                                                                                "alias_label": "foo"}}]})
    assert response.get_json() == {"aliases_processed": 1, "message": "success"}
    body = braze.export(user_aliases=[{"alias_name": "abc", "alias_label": "foo"}])
    (user,) = body["users"]
    assert user.get("external_id") is None and user["user_aliases"] == [{"alias_name": "abc", "alias_label": "foo"}]


def test_alias_new_for_an_unknown_external_id_adds_nothing(braze):
    """post_user_alias.md: "If the external_id is present in the object but there is no user with that
    external_id, the alias will not be added to any users"."""
    response = braze.post("/users/alias/new", {"user_aliases": [{"external_id": "ghost", **ALIAS}]})
    assert response.get_json()["aliases_processed"] == 0
    assert by_alias(braze) is None and len(braze.service.users) == 0


def test_alias_new_keeps_one_alias_per_label_and_unique_aliases(braze):
    """user_alias_object.md: "Users can have multiple aliases with different labels, but only one alias_name per
    alias_label"; an alias is a unique identifier."""
    braze.users("u1", "u2")
    braze.post("/users/alias/new", {"user_aliases": [{"external_id": "u1", **ALIAS}]})
    response = braze.post("/users/alias/new", {"user_aliases": [
        {"external_id": "u1", "alias_name": "second", "alias_label": "device"},
        {"external_id": "u2", **ALIAS},
        {"external_id": "u1", "alias_name": "x", "alias_label": "crm"}]})
    assert [e["type"] for e in response.get_json()["errors"]] == [
        "the identified user already has an alias with this label", "this alias already belongs to a user"]
    assert response.get_json()["aliases_processed"] == 1
    assert braze.stored("u1").user_aliases == [ALIAS, {"alias_name": "x", "alias_label": "crm"}]


def test_alias_new_refuses_malformed_and_oversized_requests(braze):
    """post_user_alias.md: "Up to 50 user aliases may be specified per request"; alias_name and alias_label
    are required strings."""
    many = [{"alias_name": f"a{i}", "alias_label": "l"} for i in range(51)]
    assert braze.post("/users/alias/new", {"user_aliases": many}).status_code == 400
    assert braze.post("/users/alias/new", {"user_aliases": [{"alias_name": "a"}]}).status_code == 400
    assert braze.post("/users/alias/new", {"user_aliases": "a"}).get_json() == {
        "message": "'user_aliases' must be an array of objects"}
    assert len(braze.service.users) == 0


# -- /users/alias/update ------------------------------------------------------------------------------------

def test_alias_update_renames_the_alias_name(braze):
    """post_users_alias_update.md: "If the given alias_label and old_alias_name is found, then the old_alias_name
    will be updated to the new_alias_name"; otherwise "no alias will be updated"."""
    alias_user(braze)
    profile = by_alias(braze)
    response = braze.post("/users/alias/update", {"alias_updates": [
        {"alias_label": "device", "old_alias_name": "anon-1", "new_alias_name": "anon-2"},
        {"alias_label": "device", "old_alias_name": "missing", "new_alias_name": "anon-3"}]})
    assert response.status_code == 201
    assert response.get_json() == {"message": "success", "errors": [
        {"type": "no user has this alias", "input_array": "alias_updates", "index": 1}]}
    assert by_alias(braze) is None
    assert braze.service.users.by_alias("anon-2", "device") is profile
    assert braze.service.users.by_alias("anon-3", "device") is None


def test_alias_update_needs_the_three_strings(braze):
    response = braze.post("/users/alias/update", {"alias_updates": [{"alias_label": "l", "old_alias_name": "a"}]})
    assert response.status_code == 400


# -- /users/merge -------------------------------------------------------------------------------------------

def test_merge_folds_one_user_into_another(braze):
    """post_users_merge.md: status 202 {"message": "success"}; fields merged "if they're not found on the target
    user"; existing custom attributes on the target are retained."""
    braze.users("old-user1", first_name="Old", country="NO", tier="gold", color="red")
    braze.users("current-user1", first_name="Current", color="blue")
    braze.event("old-user1", "played")
    response = braze.post("/users/merge", {"merge_updates": [
        {"identifier_to_merge": {"external_id": "old-user1"}, "identifier_to_keep": {"external_id": "current-user1"}}]})
    assert (response.status_code, response.get_json()) == (202, {"message": "success"})
    kept = braze.stored("current-user1")
    assert kept.attributes["first_name"] == "Current" and kept.attributes["country"] == "NO"
    assert kept.custom == {"color": "blue", "tier": "gold"} and kept.events["played"].count == 1
    assert braze.export("old-user1")["invalid_user_ids"] == ["old-user1"]


def test_merge_by_email_takes_the_prioritized_user(braze):
    """post_users_merge.md, "Merging unidentified user": the most recently updated unidentified user with the
    email merges into `john`; "Merging an unidentified user without including the most_recently_updated
    prioritization": with two unidentified users nothing is merged."""
    braze.users("john")
    braze.track({"attributes": [{"email": "john.smith@braze.com", "first_name": "First"}]})
    second = braze.service.tracker.new_profile()
    braze.service.users.set_contact(second, "email", "john.smith@braze.com")
    second.custom["newest"] = True
    no_priority = {"email": "john.smith@braze.com", "prioritization": ["unidentified"]}
    braze.post("/users/merge", {"merge_updates": [{"identifier_to_merge": no_priority,
                                                   "identifier_to_keep": {"external_id": "john"}}]})
    assert len(braze.service.users) == 3
    newest = {**no_priority, "prioritization": ["unidentified", "most_recently_updated"]}
    braze.post("/users/merge", {"merge_updates": [{"identifier_to_merge": newest,
                                                   "identifier_to_keep": {"external_id": "john"}}]})
    john = braze.stored("john")
    assert len(braze.service.users) == 2 and john.custom == {"newest": True}
    assert john.email == "john.smith@braze.com"  # merged: john had no email


@pytest.mark.parametrize("body, message", [
    ({"merge_updates": {"identifier_to_merge": {}}}, "'merge_updates' must be an array of objects"),
    ({"merge_updates": [{"identifier_to_merge": {"external_id": "a"}, "identifier_to_keep": {"external_id": "b"}}]
      * 51}, "a single request may not contain more than 50 merge updates"),
    ({"merge_updates": [{"identifier_to_merge": {"external_id": "a"}}]},
     "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'"),
    ({"merge_updates": [{"identifier_to_merge": {"external_id": 5}, "identifier_to_keep": {"external_id": "b"}}]},
     "identifiers must be objects with an 'external_id' property that is a string, 'user_alias' property that is "
     "an object, 'email' property that is a string, or 'phone' property that is a string"),
    ({"merge_updates": [{"identifier_to_merge": {"external_id": "a", "email": "a@b.co"},
                         "identifier_to_keep": {"external_id": "b"}}]},
     "identifiers must be objects with an 'external_id' property that is a string, 'user_alias' property that is "
     "an object, 'email' property that is a string, or 'phone' property that is a string"),
])
def test_merge_refuses_what_its_troubleshooting_table_lists(braze, body, message):
    """post_users_merge.md, "Troubleshooting": the four messages, each a 400 that merges nothing."""
    braze.users("a", "b")
    response = braze.post("/users/merge", body)
    assert (response.status_code, response.get_json()) == (400, {"message": message})
    assert len(braze.service.users) == 2


# -- /users/external_ids/rename and /remove -----------------------------------------------------------------

def test_rename_keeps_the_old_id_resolvable_until_removed(braze):
    """post_external_ids_rename.md: "the user can be identified by either external_id until the deprecated one
    is removed"; braze_ruby rename_external_ids and remove_external_ids/with_success: the answers."""
    braze.users("abc", color="red")
    renamed = braze.post("/users/external_ids/rename", {"external_id_renames": [
        {"current_external_id": "abc", "new_external_id": "foo"}]})
    assert (renamed.status_code, renamed.get_json()) == (201, {
        "rename_errors": [], "external_ids": [{"current_external_id": "abc", "new_external_id": "foo"}],
        "message": "success"})
    braze.set_attrs({"external_id": "abc", "size": 2})  # the deprecated id still reaches the user
    profile = braze.stored("foo")
    assert profile is braze.stored("abc") and profile.external_id == "foo" and profile.custom["size"] == 2
    removed = braze.post("/users/external_ids/remove", {"external_ids": ["abc"]})
    assert removed.get_json() == {"removed_ids": ["abc"], "removal_errors": [], "message": "success"}
    assert braze.stored("abc") is None and braze.stored("foo") is profile


def test_rename_errors_name_the_index(braze):
    """post_external_ids_rename.md: current must be primary, not deprecated; new not in use as primary or
    deprecated; the two not the same; "Error messages in the rename_errors field will reference the index"."""
    braze.users("a", "b")
    braze.post("/users/external_ids/rename", {"external_id_renames": [{"current_external_id": "a",
                                                                       "new_external_id": "a2"}]})
    response = braze.post("/users/external_ids/rename", {"external_id_renames": [
        {"current_external_id": "a", "new_external_id": "a3"},
        {"current_external_id": "b", "new_external_id": "a"},
        {"current_external_id": "b", "new_external_id": "b"},
        {"current_external_id": "nobody", "new_external_id": "n"},
        {"current_external_id": "b", "new_external_id": "b2"}]})
    body = response.get_json()
    assert body["external_ids"] == [{"current_external_id": "b", "new_external_id": "b2"}]
    assert body["rename_errors"] == [
        [0, "current_external_id is not the primary external_id of any user"],
        [1, "new_external_id is already in use"],
        [2, "current_external_id and new_external_id must differ"],
        [3, "current_external_id is not the primary external_id of any user"]]


def test_remove_refuses_primary_ids(braze):
    """post_external_ids_remove.md: "Only deprecated IDs can be removed; attempting to remove a primary external
    ID will result in an error"."""
    braze.users("a")
    body = braze.post("/users/external_ids/remove", {"external_ids": ["a", "ghost"]}).get_json()
    assert body["removed_ids"] == [] and [e[0] for e in body["removal_errors"]] == [0, 1]
    assert braze.stored("a") is not None


@pytest.mark.parametrize("path, field, item", [
    ("/users/external_ids/rename", "external_id_renames", {"current_external_id": "a", "new_external_id": "b"}),
    ("/users/external_ids/remove", "external_ids", "a"),
])
def test_migration_endpoints_refuse_empty_and_over_50(braze, path, field, item):
    """Both pages: "The message field returns an error in the case of: Empty array, array with more than 50"."""
    assert braze.post(path, {field: []}).status_code == 400
    assert braze.post(path, {field: [item] * 51}).status_code == 400
    assert braze.post(path, {field: [item] * 50}).status_code == 201


def test_delete_by_a_deprecated_id_deletes_the_user(braze):
    """post_external_ids_rename.md, warning: "Sending a request to /users/delete with the deprecated external ID
    deletes the user profile entirely"."""
    braze.users("old")
    braze.post("/users/external_ids/rename", {"external_id_renames": [{"current_external_id": "old",
                                                                       "new_external_id": "new"}]})
    assert braze.post("/users/delete", {"external_ids": ["old"]}).get_json()["deleted"] == 1
    assert braze.stored("new") is None and braze.stored("old") is None


# -- /users/track/sync --------------------------------------------------------------------------------------

def test_track_sync_answers_the_updated_custom_attributes(braze):
    """post_user_track_synchronous.md, "Update a custom attribute by external ID": the answer lists the user's
    identifier and only the custom attributes from the request."""
    braze.users("xyz123", other="kept")
    response = braze.post("/users/track/sync", {"attributes": [{
        "external_id": "xyz123", "string_attribute": "fruit", "boolean_attribute_1": True, "integer_attribute": 25,
        "array_attribute": ["banana", "apple"], "first_name": "X"}]})
    assert (response.status_code, response.get_json()) == (201, {"users": [{"external_id": "xyz123",
                                                                           "custom_attributes": {
        "string_attribute": "fruit", "boolean_attribute_1": True, "integer_attribute": 25,
        "array_attribute": ["banana", "apple"]}}], "message": "success"})


def test_track_sync_answers_event_and_purchase_summaries(braze):
    """post_user_track_synchronous.md, "Update a custom event by email" and "Update a purchase event by user
    alias": name/product_id, first, last (milliseconds, Z) and count."""
    braze.track({"attributes": [{"email": "test@braze.com"}]})
    event = braze.post("/users/track/sync", {"events": [{"email": "test@braze.com", "name": "rented_movie",
                                                         "time": "2025-12-06T19:20:45+01:00"}]})
    assert event.get_json() == {"users": [{"email": "test@braze.com", "custom_events": [
        {"name": "rented_movie", "first": "2025-12-06T18:20:45.000Z", "last": "2025-12-06T18:20:45.000Z",
         "count": 1}]}], "message": "success"}
    alias_user(braze, ALIAS)
    purchase = braze.post("/users/track/sync", {"purchases": [{"user_alias": ALIAS, "product_id": "Completed Order",
                                                               "currency": "USD", "price": 219.98, "quantity": 3,
                                                               "time": "2025-12-06T19:20:45+01:00"}]})
    assert purchase.get_json()["users"] == [{"user_alias": ALIAS, "purchase_events": [
        {"product_id": "Completed Order", "first": "2025-12-06T18:20:45.000Z", "last": "2025-12-06T18:20:45.000Z",
         "count": 3}]}]


def test_track_sync_takes_exactly_one_object(braze):
    """post_user_track_synchronous.md: "Each /users/track/sync request can contain only one event object, one
    attribute object, or one purchase object"."""
    two = braze.post("/users/track/sync", {"attributes": [{"external_id": "a"}],
                                           "events": [{"external_id": "a", "name": "e", "time": "2025-01-01"}]})
    assert two.status_code == 400 and braze.stored("a") is None
    assert braze.post("/users/track/sync", {}).status_code == 400
    invalid = braze.post("/users/track/sync", {"events": [{"external_id": "a", "name": "e"}]})
    assert invalid.status_code == 400 and invalid.get_json()["errors"][0]["type"] == "Event 'time' is required"


def test_track_sync_answers_no_users_when_update_only_finds_none(braze):
    """post_user_track_synchronous.md: users "May be empty if no users are found and _update_existing_only key
    is set to true"."""
    response = braze.post("/users/track/sync", {"attributes": [{"external_id": "ghost", "x": 1,
                                                                "_update_existing_only": True}]})
    assert (response.status_code, response.get_json()) == (201, {"users": [], "message": "success"})


# -- the identifier index, against a model ------------------------------------------------------------------

EXTERNAL_IDS = [f"e{i}" for i in range(6)]
ALIAS_NAMES = ["n0", "n1", "n2"]
LABELS = ["l0", "l1"]


class IdentifierIndex(RuleBasedStateMachine):
    """Identify, alias, rename, remove, merge and delete, driven over REST; the model says which profile (a
    token) each external id and alias names. After every step every identifier of the small universe resolves
    to exactly the profile the model says, or to none, and each profile holds what the model says."""

    profiles = Bundle("profiles")

    @initialize()
    def start(self) -> None:
        self.env = BrazeEnv()
        self.owner_of_id: dict[str, int] = {}  # external id (primary or deprecated) -> token
        self.primary: dict[int, str | None] = {}
        self.owner_of_alias: dict[tuple[str, str], int] = {}
        self.real: dict[int, str] = {}  # token -> braze_id
        self.next_token = 0

    def teardown(self) -> None:
        self.env.close()

    def _new_token(self, braze_id: str, external_id: str | None) -> int:
        token, self.next_token = self.next_token, self.next_token + 1
        self.real[token], self.primary[token] = braze_id, external_id
        if external_id is not None:
            self.owner_of_id[external_id] = token
        return token

    def _forget(self, token: int) -> None:
        for key in [k for k, t in self.owner_of_id.items() if t == token]:
            del self.owner_of_id[key]
        del self.primary[token], self.real[token]

    def _labels(self, token: int) -> set[str]:
        return {label for (_, label), t in self.owner_of_alias.items() if t == token}

    @rule(target=profiles, external_id=st.sampled_from(EXTERNAL_IDS))
    def track_identified(self, external_id: str) -> int | None:
        self.env.set_attrs({"external_id": external_id})
        profile = self.env.stored(external_id)
        if external_id in self.owner_of_id:
            return self.owner_of_id[external_id]
        return self._new_token(profile.braze_id, external_id)

    @rule(target=profiles, name=st.sampled_from(ALIAS_NAMES), label=st.sampled_from(LABELS),
          external_id=st.none() | st.sampled_from(EXTERNAL_IDS))
    def alias_new(self, name: str, label: str, external_id: str | None) -> int | None:
        entry = {"alias_name": name, "alias_label": label, **({"external_id": external_id} if external_id else {})}
        processed = self.env.post("/users/alias/new", {"user_aliases": [entry]}).get_json()["aliases_processed"]
        taken = (name, label) in self.owner_of_alias
        if external_id is None:
            assert processed == (0 if taken else 1)
            if taken:
                return self.owner_of_alias[(name, label)]
            token = self._new_token(self.env.service.users.by_alias(name, label).braze_id, None)
            self.owner_of_alias[(name, label)] = token
            return token
        target = self.owner_of_id.get(external_id)
        ok = target is not None and (self.owner_of_alias.get((name, label)) == target or (
            not taken and label not in self._labels(target)))
        assert processed == (1 if ok else 0)
        if ok:
            self.owner_of_alias[(name, label)] = target
        return target

    @rule(name=st.sampled_from(ALIAS_NAMES), label=st.sampled_from(LABELS), external_id=st.sampled_from(EXTERNAL_IDS),
          merge=st.booleans())
    def identify(self, name: str, label: str, external_id: str, merge: bool) -> None:
        body = {"aliases_to_identify": [{"external_id": external_id, "user_alias": {"alias_name": name,
                                                                                    "alias_label": label}}],
                "merge_behavior": "merge" if merge else "none"}
        processed = self.env.post("/users/identify", body).get_json()["aliases_processed"]
        anonymous = self.owner_of_alias.get((name, label))
        target = self.owner_of_id.get(external_id)
        if anonymous is None or (self.primary[anonymous] is not None and target != anonymous):
            assert processed == 0
        elif target is None:
            assert processed == 1
            self.primary[anonymous] = external_id
            self.owner_of_id[external_id] = anonymous
        elif target == anonymous:
            assert processed == 1
        elif self._labels(anonymous) & self._labels(target):
            assert processed == 0
        else:
            assert processed == 1
            self._fold(anonymous, target)

    def _fold(self, source: int, target: int) -> None:
        for key in [k for k, t in self.owner_of_alias.items() if t == source]:
            if key[1] not in self._labels(target):
                self.owner_of_alias[key] = target
            else:
                del self.owner_of_alias[key]
        self._forget(source)

    @rule(label=st.sampled_from(LABELS), old=st.sampled_from(ALIAS_NAMES), new=st.sampled_from(ALIAS_NAMES))
    def alias_update(self, label: str, old: str, new: str) -> None:
        self.env.post("/users/alias/update", {"alias_updates": [{"alias_label": label, "old_alias_name": old,
                                                                 "new_alias_name": new}]})
        owner = self.owner_of_alias.get((old, label))
        if owner is not None and old != new and (new, label) not in self.owner_of_alias:
            del self.owner_of_alias[(old, label)]
            self.owner_of_alias[(new, label)] = owner

    @rule(current=st.sampled_from(EXTERNAL_IDS), new=st.sampled_from(EXTERNAL_IDS))
    def rename(self, current: str, new: str) -> None:
        body = self.env.post("/users/external_ids/rename", {"external_id_renames": [
            {"current_external_id": current, "new_external_id": new}]}).get_json()
        owner = self.owner_of_id.get(current)
        ok = owner is not None and self.primary[owner] == current and new not in self.owner_of_id and current != new
        assert (len(body["external_ids"]) == 1) is ok
        if ok:
            self.primary[owner] = new
            self.owner_of_id[new] = owner

    @rule(external_id=st.sampled_from(EXTERNAL_IDS))
    def remove(self, external_id: str) -> None:
        body = self.env.post("/users/external_ids/remove", {"external_ids": [external_id]}).get_json()
        owner = self.owner_of_id.get(external_id)
        ok = owner is not None and self.primary[owner] != external_id
        assert body["removed_ids"] == ([external_id] if ok else [])
        if ok:
            del self.owner_of_id[external_id]

    @rule(source=profiles, kept=profiles)
    def merge(self, source: int | None, kept: int | None) -> None:
        if source is None or kept is None or source not in self.real or kept not in self.real:
            return
        def ident(token: int) -> dict:
            if self.primary[token] is not None:
                return {"external_id": self.primary[token]}
            (name, label) = next(k for k, t in self.owner_of_alias.items() if t == token)
            return {"user_alias": {"alias_name": name, "alias_label": label}}
        if self.primary[source] is None and not self._labels(source):
            return  # no identifier left to name it by
        if self.primary[kept] is None and not self._labels(kept):
            return
        response = self.env.post("/users/merge", {"merge_updates": [{"identifier_to_merge": ident(source),
                                                                     "identifier_to_keep": ident(kept)}]})
        assert response.status_code == 202
        if source != kept:
            self._fold(source, kept)

    @rule(token=consumes(profiles))
    def delete(self, token: int | None) -> None:
        if token is None or token not in self.real:
            return
        self.env.post("/users/delete", {"braze_ids": [self.real[token]]})
        for key in [k for k, t in self.owner_of_alias.items() if t == token]:
            del self.owner_of_alias[key]
        self._forget(token)

    @invariant()
    def every_identifier_resolves_as_the_model_says(self) -> None:
        users = self.env.service.users
        assert len(users) == len(self.real)
        for external_id in EXTERNAL_IDS:
            found = users.by_external_id(external_id)
            owner = self.owner_of_id.get(external_id)
            assert (found.braze_id if found else None) == (self.real[owner] if owner is not None else None)
        for name in ALIAS_NAMES:
            for label in LABELS:
                found = users.by_alias(name, label)
                owner = self.owner_of_alias.get((name, label))
                assert (found.braze_id if found else None) == (self.real[owner] if owner is not None else None)
        for token, braze_id in self.real.items():
            profile = users.by_braze_id(braze_id)
            assert profile.external_id == self.primary[token]
            assert sorted(profile.deprecated_external_ids) == sorted(
                k for k, t in self.owner_of_id.items() if t == token and k != self.primary[token])
            assert sorted((a["alias_name"], a["alias_label"]) for a in profile.user_aliases) == sorted(
                k for k, t in self.owner_of_alias.items() if t == token)


TestIdentifierIndex = IdentifierIndex.TestCase
TestIdentifierIndex.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
