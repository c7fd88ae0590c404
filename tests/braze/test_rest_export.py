"""POST /users/export/ids and POST /users/delete.

Sources (braze-inc/braze-docs unless said otherwise): `_docs/_api/endpoints/export/user_data/post_users_identifier.md`
(ids export), `_docs/_api/endpoints/user_data/post_user_delete.md` (delete), `_docs/_api/errors.md` (messages), and
the recorded answers in jonallured/braze_ruby `spec/fixtures/responses/export_users/by_ids/with_success/` and
`delete_users/with_success/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.rest.errors import BrazeError
from mocks.braze.users.export import iso_ms, parse_fields
from mocks.braze.users.received import MessageHistory

from .braze_fixtures import T0, BrazeEnv, iso, recipients, webhook

# post_users_identifier.md, "Fields to export": every valid value and its documented data type
DOCUMENTED_FIELDS = {
    "apps": list, "attributed_campaign": str, "attributed_source": str, "attributed_adgroup": str,
    "attributed_ad": str, "push_subscribe": str, "email_subscribe": str, "braze_id": str, "campaigns_received": list,
    "canvases_received": list, "cards_clicked": list, "country": str, "created_at": str, "custom_attributes": dict,
    "custom_events": list, "devices": list, "dob": str, "email": str, "external_id": str, "first_name": str,
    "gender": str, "home_city": str, "language": str, "last_coordinates": list, "last_name": str, "phone": str,
    "purchases": list, "push_tokens": list, "random_bucket": int, "time_zone": str, "total_revenue": float,
    "uninstalled_at": str, "user_aliases": list,
}
# what the fake has no data for at all (no SDK, no attribution partner): left out, "assumed to be null or empty"
NEVER_SET = {"attributed_campaign", "attributed_source", "attributed_adgroup", "attributed_ad", "last_coordinates",
             "uninstalled_at"}
ONE_TYPE = ("Only one of external_ids, user_aliases, braze_ids, email_addresses, or phone_numbers can be included "
            "in a single request")


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.set_attrs({"external_id": "u1", "first_name": "Ann", "country": "NO", "tier": "gold",
                   "renews": "2026-03-01T00:00:00Z"},
                  {"external_id": "u2", "first_name": "Bo"},
                  {"user_alias": {"alias_name": "a1", "alias_label": "crm"}, "first_name": "Al",
                   "_update_existing_only": False})
    response = env.track({
        "events": [{"external_id": "u1", "name": "played", "time": "2025-12-01T00:00:00Z"},
                   {"external_id": "u1", "name": "played", "time": "2025-12-03T00:00:00Z"},
                   {"external_id": "u1", "name": "bought", "time": "2025-12-02T00:00:00Z"}],
        "purchases": [{"external_id": "u1", "product_id": "sku", "currency": "USD", "price": 1, "quantity": 2,
                       "time": "2025-12-04T00:00:00Z"}]})
    assert response.status_code == 201
    yield env
    env.close()


def export(braze: BrazeEnv, body: dict):
    return braze.post("/users/export/ids", body)


def total_users(braze: BrazeEnv) -> int:
    return braze.client.get("/_admin/users").get_json()["total"]


def test_export_by_external_id_has_the_profile(braze):
    body = braze.export("u1")
    assert body["message"] == "success"
    assert "invalid_user_ids" not in body
    (user,) = body["users"]
    assert user["external_id"] == "u1"
    assert len(user["braze_id"]) == 24
    assert (user["first_name"], user["country"]) == ("Ann", "NO")
    assert user["custom_attributes"] == {"tier": "gold", "renews": "2026-03-01T00:00:00.000Z"}
    assert user["created_at"] == "2026-01-01T00:00:00.000Z"
    assert isinstance(user["random_bucket"], int) and 0 <= user["random_bucket"] < 10_000


def test_custom_events_first_last_count(braze):
    (user,) = braze.export("u1")["users"]
    assert user["custom_events"] == [
        {"name": "bought", "first": "2025-12-02T00:00:00.000Z", "last": "2025-12-02T00:00:00.000Z", "count": 1},
        {"name": "played", "first": "2025-12-01T00:00:00.000Z", "last": "2025-12-03T00:00:00.000Z", "count": 2},
    ]
    assert user["purchases"] == [{"name": "sku", "first": "2025-12-04T00:00:00.000Z",
                                  "last": "2025-12-04T00:00:00.000Z", "count": 2}]


def test_times_are_written_with_milliseconds(braze):
    """Recorded `"created_at":"2020-06-17T20:01:33.385Z"`; the docs' sample `"first": "2021-06-28T17:02:43.032Z"`."""
    braze.track({"events": [{"external_id": "u2", "name": "tap", "time": "2025-12-20T10:11:12.345678Z"}]})
    (user,) = braze.export("u2", fields_to_export=["custom_events"])["users"]
    assert user["custom_events"][0]["first"] == "2025-12-20T10:11:12.345Z"


def test_events_and_purchases_are_those_of_the_last_90_days_with_all_time_first_and_count(braze):
    """post_users_segment.md, "Important reminders": only the last 90 days, but `first` and `count` are all-time;
    post_users_identifier.md: "Custom events attributed to this user in the last 90 days"."""
    braze.track({"events": [{"external_id": "u1", "name": "played", "time": "2025-06-01T00:00:00Z"},
                            {"external_id": "u1", "name": "old", "time": "2025-06-01T00:00:00Z"}]})
    (user,) = braze.export("u1", fields_to_export=["custom_events"])["users"]
    assert [e["name"] for e in user["custom_events"]] == ["bought", "played"]
    played = user["custom_events"][1]
    assert (played["first"], played["count"]) == ("2025-06-01T00:00:00.000Z", 3)


def test_fields_to_export_filters(braze):
    (user,) = braze.export("u1", fields_to_export=["first_name", "custom_events"])["users"]
    assert set(user) == {"first_name", "custom_events"}
    (user,) = braze.export("u1", fields_to_export=["external_id", "last_name"])["users"]
    assert user == {"external_id": "u1"}  # "we will include the least data possible": no last name, left out


@pytest.mark.parametrize("field", sorted(DOCUMENTED_FIELDS))
def test_every_documented_field_is_accepted_and_answered_in_its_type(braze, field):
    braze.set_attrs({"external_id": "u1", "last_name": "Lee", "email": "ann@example.com", "phone": "+4712345678",
                     "dob": "1990-01-02", "gender": "F", "home_city": "Oslo", "language": "nb",
                     "time_zone": "Europe/Oslo", "email_subscribe": "opted_in", "push_subscribe": "subscribed"})
    (user,) = braze.export("u1", fields_to_export=[field])["users"]
    if field in NEVER_SET:
        assert user == {}
    else:
        assert set(user) == {field}
        assert isinstance(user[field], DOCUMENTED_FIELDS[field])


def test_list_fields_are_empty_lists_and_revenue_zero_when_there_is_nothing(braze):
    """Recorded export of a fresh user: `"user_aliases":[]`, `"total_revenue":0.0`."""
    (user,) = braze.export("u2")["users"]
    for field in ("user_aliases", "apps", "devices", "push_tokens", "cards_clicked", "campaigns_received",
                  "canvases_received", "custom_events", "purchases"):
        assert user[field] == [], field
    assert user["custom_attributes"] == {}
    assert user["total_revenue"] == 0.0 and isinstance(user["total_revenue"], float)


def test_total_revenue_sums_the_purchases(braze):
    braze.track({"purchases": [{"external_id": "u1", "product_id": "x", "currency": "USD", "price": 2.5,
                                "quantity": 3, "time": "2025-12-05T00:00:00Z"}]})
    (user,) = braze.export("u1", fields_to_export=["total_revenue"])["users"]
    assert user["total_revenue"] == 1 * 2 + 2.5 * 3


def test_user_aliases_are_exported(braze):
    body = braze.post("/users/export/ids", {"user_aliases": [{"alias_name": "a1", "alias_label": "crm"}],
                                            "fields_to_export": ["user_aliases", "external_id"]}).get_json()
    assert body["users"] == [{"user_aliases": [{"alias_name": "a1", "alias_label": "crm"}]}]


@pytest.mark.parametrize("fields", [["first_name", "shoe_size"], "first_name", [1], []])
def test_unknown_or_malformed_fields_to_export_is_400(braze, fields):
    response = export(braze, {"external_ids": ["u1"], "fields_to_export": fields})
    assert response.status_code == 400
    assert "fields_to_export" in response.get_json()["message"]


FIELD_NAMES = st.one_of(st.sampled_from(sorted(DOCUMENTED_FIELDS)), st.text(max_size=12))


@given(st.lists(FIELD_NAMES, max_size=6))
def test_fields_to_export_is_accepted_exactly_when_every_name_is_documented(fields):
    """Property: a list of names is taken as given iff it is non-empty and all are documented field names;
    otherwise a 400 that names the field parameter (and the unknown names)."""
    valid = bool(fields) and all(f in DOCUMENTED_FIELDS for f in fields)
    try:
        chosen = parse_fields(fields, required=False)
    except BrazeError as exc:
        assert not valid
        assert exc.status == 400 and "fields_to_export" in exc.message
        assert all(f in exc.message for f in fields if f not in DOCUMENTED_FIELDS)
    else:
        assert valid and chosen == frozenset(fields)


@given(st.one_of(st.none(), st.integers(), st.text(), st.dictionaries(st.text(), st.integers()),
                 st.lists(st.one_of(st.integers(), st.none(), st.booleans()), min_size=1)))
def test_fields_to_export_that_is_not_a_list_of_names_is_refused_or_means_everything(value):
    """Absent (None) on `/users/export/ids` means every field ("Defaults to all if not provided")."""
    if value is None:
        assert parse_fields(value, required=False) == frozenset(DOCUMENTED_FIELDS)
        return
    with pytest.raises(BrazeError) as caught:
        parse_fields(value, required=False)
    assert caught.value.status == 400


def test_unknown_ids_are_listed_as_invalid(braze):
    body = braze.export("u1", "nobody", "u2", 7)
    assert sorted(u["external_id"] for u in body["users"]) == ["u1", "u2"]
    assert body["invalid_user_ids"] == ["nobody", 7]


def test_numeric_external_ids_are_read_as_strings(braze):
    """Recorded request `{"external_ids":[12345]}` answered with the user `"external_id":"12345"`."""
    braze.users("12345")
    (user,) = braze.export(12345)["users"]
    assert user["external_id"] == "12345"


def test_export_by_alias_braze_id_email(braze):
    body = braze.post("/users/export/ids", {"user_aliases": [{"alias_name": "a1", "alias_label": "crm"},
                                                            {"alias_name": "zz", "alias_label": "crm"}]}).get_json()
    assert [u["first_name"] for u in body["users"]] == ["Al"]
    assert body["invalid_user_ids"] == [{"alias_name": "zz", "alias_label": "crm"}]
    braze_id = braze.profile("u2")["braze_id"]
    body = braze.post("/users/export/ids", {"braze_id": braze_id}).get_json()
    assert [u["external_id"] for u in body["users"]] == ["u2"]
    assert braze.track({"attributes": [{"email": "e@example.com", "first_name": "Em"}]}).status_code == 201
    body = braze.post("/users/export/ids", {"email_address": "E@example.com"}).get_json()
    assert [u["first_name"] for u in body["users"]] == ["Em"]


def test_unknown_email_phone_and_device_id_are_invalid_user_ids(braze):
    """`invalid_user_ids`: "each of the identifiers provided in the request that did not correspond to a known
    user"; the fake has no devices, so a `device_id` (a documented request field) matches nobody."""
    for key, value in (("email_address", "nobody@example.com"), ("phone", "+4799999999"), ("device_id", "1234567")):
        body = braze.post("/users/export/ids", {key: value}).get_json()
        assert body == {"users": [], "invalid_user_ids": [value], "message": "success"}


def test_only_one_of_device_id_email_address_and_phone(braze):
    """post_users_identifier.md: "Should you want to specify device_id, email_address, or phone, only one of these
    identifiers can be included per request." """
    response = export(braze, {"device_id": "1234567", "email_address": "e@example.com"})
    assert response.status_code == 400
    message = "Only one of device_id, email_address, or phone can be included per request"
    assert response.get_json()["message"] == message


def test_the_same_user_twice_is_exported_once(braze):
    braze_id = braze.profile("u1")["braze_id"]
    body = braze.post("/users/export/ids", {"external_ids": ["u1", "u1"], "braze_id": braze_id}).get_json()
    assert len(body["users"]) == 1


@pytest.mark.parametrize(("count", "status"), [(50, 201), (51, 400)])
def test_50_external_ids_at_most(braze, count, status):
    """errors.md: "The max number of external_ids and aliases per request was exceeded"."""
    response = export(braze, {"external_ids": ["u1"] + [f"x{i}" for i in range(count - 1)]})
    assert response.status_code == status
    if status == 201:
        assert len(response.get_json()["invalid_user_ids"]) == 49
    else:
        assert response.get_json()["message"] == "The max number of external_ids and aliases per request was exceeded"


def test_51_aliases_is_400(braze):
    aliases = [{"alias_name": f"a{i}", "alias_label": "crm"} for i in range(51)]
    assert export(braze, {"user_aliases": aliases}).status_code == 400


@pytest.mark.parametrize("body", [{}, {"external_ids": "u1"}, [], {"user_aliases": [{"alias_name": "x"}]},
                                  {"email_address": 5}])
def test_bad_export_requests_are_400(braze, body):
    response = export(braze, body)
    assert response.status_code == 400
    assert response.get_json()["message"]


# -- campaigns_received and canvases_received: what the fake actually sent -------------------------------
def test_campaigns_received_lists_the_campaigns_whose_webhook_was_sent(braze):
    """Shape of post_users_identifier.md's `campaigns_received` (name, last_received, engaged, converted,
    api_campaign_id, in_control); recorded: `{"name":"campaign-test","api_campaign_id":...,"last_received":
    "2020-06-17T20:04:49.193Z","in_control":false,...}`."""
    braze.receiver()
    cid = braze.campaign(name="Welcome")
    braze.rt.clock.advance(1.5)
    assert braze.trigger_campaign(cid, recipients=recipients("u1")).status_code == 201
    braze.run()
    (user,) = braze.export("u1", fields_to_export=["campaigns_received"])["users"]
    (received,) = user["campaigns_received"]
    assert received == {"name": "Welcome", "api_campaign_id": cid, "last_received": "2026-01-01T00:00:01.500Z",
                        "engaged": {"opened_email": False, "opened_push": False, "clicked_email": False,
                                    "clicked_triggered_in_app_message": False},
                        "converted": False, "in_control": False}
    (other,) = braze.export("u2", fields_to_export=["campaigns_received"])["users"]
    assert other["campaigns_received"] == []


def test_a_failed_webhook_is_not_received(braze):
    braze.receiver(default=400)
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    (user,) = braze.export("u1", fields_to_export=["campaigns_received"])["users"]
    assert user["campaigns_received"] == []


def test_a_conversion_marks_the_campaign_converted(braze):
    braze.receiver()
    cid = braze.campaign(conversion_events=[{"event": "purchased"}])
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    braze.event("u1", "purchased")
    (user,) = braze.export("u1", fields_to_export=["campaigns_received"])["users"]
    assert user["campaigns_received"][0]["converted"] is True


def test_a_second_send_moves_last_received(braze):
    braze.receiver()
    cid = braze.campaign(re_eligible_after_seconds=0)
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    braze.rt.clock.advance(60)
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    (user,) = braze.export("u1", fields_to_export=["campaigns_received"])["users"]
    assert [c["last_received"] for c in user["campaigns_received"]] == [iso(braze.now()).replace("Z", ".000Z")]


def test_canvases_received_lists_canvas_steps_sent(braze):
    """Shape of post_users_identifier.md's `canvases_received` (name, api_canvas_id, last_received_message,
    last_entered, variation_name, in_control, last_exited, steps_received[name, api_canvas_step_id,
    last_received])."""
    braze.receiver()
    cid = braze.canvas(name="Onboarding", steps=[
        {"id": "hello", "name": "Hello", "type": "message", "webhook": webhook(), "next": "wait"},
        {"id": "wait", "type": "delay", "seconds": 60, "next": "bye"},
        {"id": "bye", "name": "Bye", "type": "message", "webhook": webhook()}])
    assert braze.trigger_canvas(cid, recipients=recipients("u1")).status_code == 201
    braze.run_for(1)
    (user,) = braze.export("u1", fields_to_export=["canvases_received"])["users"]
    (canvas,) = user["canvases_received"]
    assert canvas["last_exited"] is None  # still waiting in the delay
    assert [s["api_canvas_step_id"] for s in canvas["steps_received"]] == ["hello"]
    braze.run()
    (user,) = braze.export("u1", fields_to_export=["canvases_received"])["users"]
    (canvas,) = user["canvases_received"]
    assert canvas == {
        "name": "Onboarding", "api_canvas_id": cid, "last_received_message": "2026-01-01T00:01:00.000Z",
        "last_entered": "2026-01-01T00:00:00.000Z", "variation_name": "Onboarding", "in_control": False,
        "last_exited": "2026-01-01T00:01:00.000Z",
        "steps_received": [
            {"name": "Hello", "api_canvas_step_id": "hello", "last_received": "2026-01-01T00:00:00.000Z"},
            {"name": "Bye", "api_canvas_step_id": "bye", "last_received": "2026-01-01T00:01:00.000Z"}]}


def test_received_messages_older_than_90_days_are_left_out(braze):
    """post_users_segment.md: `campaigns_received` and `canvases_received` "only contain data from the last 90 days"."""
    braze.receiver()
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    braze.rt.clock.advance(timedelta(days=91).total_seconds())
    (user,) = braze.export("u1", fields_to_export=["campaigns_received"])["users"]
    assert user["campaigns_received"] == []


# -- delete ------------------------------------------------------------------------------------------------
def test_delete_by_external_ids_counts_the_identifiers_queued(braze):
    """post_user_delete.md: `deleted` is the "number of user IDs queued for deletion", found or not."""
    response = braze.post("/users/delete", {"external_ids": ["u1", "nobody"]})
    assert response.status_code == 201
    assert response.get_json() == {"deleted": 2, "message": "success"}
    body = braze.export("u1", "u2")
    assert [u["external_id"] for u in body["users"]] == ["u2"]
    assert body["invalid_user_ids"] == ["u1"]


def test_numeric_external_ids_are_deleted(braze):
    """Recorded: `{"external_ids":[400,401,402]}` answered `{"deleted":3,"message":"success"}` (201)."""
    braze.users("400", "401", "402")
    response = braze.post("/users/delete", {"external_ids": [400, 401, 402]})
    assert (response.status_code, response.get_json()) == (201, {"deleted": 3, "message": "success"})
    assert total_users(braze) == 3


def test_delete_by_braze_ids_and_by_aliases(braze):
    braze_id = braze.profile("u2")["braze_id"]
    assert braze.post("/users/delete", {"braze_ids": [braze_id]}).get_json()["deleted"] == 1
    assert braze.post("/users/delete", {"user_aliases": [{"alias_name": "a1", "alias_label": "crm"}]}
                      ).get_json()["deleted"] == 1
    assert total_users(braze) == 1


def test_deleted_external_id_can_be_created_again_as_a_new_user(braze):
    braze.receiver()
    braze.trigger_campaign(braze.campaign(), recipients=recipients("u1"))
    braze.run()
    old = braze.profile("u1")["braze_id"]
    assert braze.post("/users/delete", {"external_ids": ["u1"]}).get_json()["deleted"] == 1
    braze.users("u1")
    (user,) = braze.export("u1")["users"]
    assert user["braze_id"] != old
    assert user["custom_events"] == [] and user["campaigns_received"] == []


@pytest.mark.parametrize("body", [
    {"external_ids": ["u1"], "braze_ids": ["b"]},
    {"user_aliases": [{"alias_name": "a1", "alias_label": "crm"}], "email_addresses": []},
    {"external_ids": ["u1"], "phone_numbers": [{"phone": "+4712345678", "prioritization": ["identified"]}]},
])
def test_only_one_identifier_type_per_request(braze, body):
    """post_user_delete.md: "Only one of external_ids, user_aliases, braze_ids, email_addresses, or phone_numbers
    can be included in a single request." """
    response = braze.post("/users/delete", body)
    assert response.status_code == 400
    assert response.get_json()["message"] == ONE_TYPE
    assert total_users(braze) == 3


def two_profiles_with_one_email(braze: BrazeEnv, email: str = "same@example.com") -> None:
    braze.set_attrs({"email": email, "first_name": "Anon"})  # an email-only (unidentified) profile
    braze.rt.clock.advance(10)
    braze.set_attrs({"external_id": "e1", "email": email})


def names_with_email(braze: BrazeEnv, email: str = "same@example.com") -> list[str | None]:
    users = braze.post("/users/export/ids", {"email_address": email}).get_json()["users"]
    return sorted(u.get("external_id") or u["first_name"] for u in users)


@pytest.mark.parametrize(("prioritization", "left"), [
    (["unidentified"], ["e1"]), (["identified"], ["Anon"]), (["most_recently_updated"], ["Anon"]),
    (["unidentified", "most_recently_updated"], ["e1"]),
])
def test_delete_by_email_follows_prioritization(braze, prioritization, left):
    """post_user_delete.md: `prioritization` "should specify which user to delete if there are multiple users"."""
    two_profiles_with_one_email(braze)
    response = braze.post("/users/delete", {"email_addresses": [{"email": "same@example.com",
                                                                 "prioritization": prioritization}]})
    assert response.get_json() == {"deleted": 1, "message": "success"}
    assert names_with_email(braze) == left


def test_delete_by_email_deletes_nobody_when_the_prioritization_leaves_a_tie(braze):
    """post_user_delete.md: "deleting users will not occur if more than one user matches a prioritization"."""
    braze.set_attrs({"external_id": "e1", "email": "same@example.com"},
                    {"external_id": "e2", "email": "same@example.com"})
    response = braze.post("/users/delete", {"email_addresses": [{"email": "same@example.com",
                                                                 "prioritization": ["identified"]}]})
    assert response.get_json()["deleted"] == 1  # queued, though nobody is deleted
    assert names_with_email(braze) == ["e1", "e2"]


def test_delete_by_phone_number(braze):
    braze.set_attrs({"external_id": "p1", "phone": "+4712345678"})
    response = braze.post("/users/delete", {"phone_numbers": [{"phone": "+4712345678",
                                                               "prioritization": ["most_recently_updated"]}]})
    assert response.get_json() == {"deleted": 1, "message": "success"}
    assert braze.profile("p1") is None


@pytest.mark.parametrize("entry", [
    {"email": "same@example.com"}, {"email": "same@example.com", "prioritization": []},
    {"email": "same@example.com", "prioritization": ["identified", "unidentified"]},
    {"email": "same@example.com", "prioritization": ["newest"]}, {"prioritization": ["identified"]},
    "same@example.com",
])
def test_email_entries_need_a_valid_prioritization(braze, entry):
    """post_user_delete.md: "an additional prioritization value is required"; allowed values identified,
    unidentified, most_recently_updated; "only one of" identified and unidentified."""
    two_profiles_with_one_email(braze)
    response = braze.post("/users/delete", {"email_addresses": [entry]})
    assert response.status_code == 400
    assert len(names_with_email(braze)) == 2


def test_over_50_ids_is_400(braze):
    """errors.md: "The max number of ids per request was exceeded"."""
    response = braze.post("/users/delete", {"external_ids": [f"x{i}" for i in range(51)]})
    assert response.status_code == 400
    assert response.get_json()["message"] == "The max number of ids per request was exceeded"


@pytest.mark.parametrize("body", [{}, {"external_ids": []}, {"braze_ids": "b"}, [], {"user_aliases": [{"x": 1}]}])
def test_bad_delete_requests_are_400(braze, body):
    response = braze.post("/users/delete", body)
    assert response.status_code == 400
    assert response.get_json()["message"]
    assert total_users(braze) == 3


# -- the store behind campaigns_received / canvases_received -------------------------------------------------
class MessageHistoryMachine(RuleBasedStateMachine):
    """Stateful: after any run of outcomes, conversions and forgets, each profile's `campaigns_received` is one
    entry per campaign with a "sent" outcome (newest time, converted once a conversion came after a send) and
    `canvases_received` one per canvas with the steps that were sent; a forgotten profile has neither."""

    USERS = ("b1", "b2")
    CAMPAIGNS = ("c1", "c2")
    CANVASES = ("v1",)
    STEPS = ("s1", "s2")

    def __init__(self) -> None:
        super().__init__()
        self.history = MessageHistory(lambda canvas_id, braze_id: (None, None))
        self.now = T0
        self.campaigns: dict[str, dict[str, dict]] = {}  # braze_id -> campaign -> {"last", "converted"}
        self.canvases: dict[str, dict[str, dict[str, datetime]]] = {}  # braze_id -> canvas -> step -> last

    def _ctx(self, braze_id: str, **ids: str) -> DeliveryContext:
        return DeliveryContext(trace_id="t", dispatch_id="d", braze_id=braze_id, external_id=None,
                               campaign_name=ids.get("campaign_id"), canvas_name=ids.get("canvas_id"),
                               step_name=ids.get("step_id"), **ids)

    @rule(braze_id=st.sampled_from(USERS), campaign=st.sampled_from(CAMPAIGNS),
          outcome=st.sampled_from(["sent", "failed", "aborted", "retry"]))
    def campaign_outcome(self, braze_id, campaign, outcome):
        self.now += timedelta(seconds=1)
        self.history.on_outcome(self._ctx(braze_id, campaign_id=campaign), outcome, self.now)
        if outcome == "sent":
            entry = self.campaigns.setdefault(braze_id, {}).setdefault(campaign, {"converted": False})
            entry["last"] = self.now

    @rule(braze_id=st.sampled_from(USERS), canvas=st.sampled_from(CANVASES), step=st.sampled_from(STEPS),
          outcome=st.sampled_from(["sent", "failed"]))
    def canvas_outcome(self, braze_id, canvas, step, outcome):
        self.now += timedelta(seconds=1)
        self.history.on_outcome(self._ctx(braze_id, canvas_id=canvas, step_id=step), outcome, self.now)
        if outcome == "sent":
            self.canvases.setdefault(braze_id, {}).setdefault(canvas, {})[step] = self.now

    @rule(braze_id=st.sampled_from(USERS), owner=st.sampled_from(CAMPAIGNS + CANVASES))
    def convert(self, braze_id, owner):
        self.history.on_convert(owner, braze_id)
        if owner in self.campaigns.get(braze_id, {}):
            self.campaigns[braze_id][owner]["converted"] = True

    @rule(braze_id=st.sampled_from(USERS))
    def forget(self, braze_id):
        self.history.forget(braze_id)
        self.campaigns.pop(braze_id, None)
        self.canvases.pop(braze_id, None)

    @invariant()
    def exports_match_the_model(self):
        since = T0 - timedelta(days=1)
        for braze_id in self.USERS:
            got = {c["api_campaign_id"]: (c["last_received"], c["converted"])
                   for c in self.history.campaigns_received(braze_id, since, iso_ms)}
            want = {c: (iso_ms(e["last"]), e["converted"]) for c, e in self.campaigns.get(braze_id, {}).items()}
            assert got == want
            got_canvases = {c["api_canvas_id"]: {s["api_canvas_step_id"]: s["last_received"]
                                                 for s in c["steps_received"]}
                            for c in self.history.canvases_received(braze_id, since, iso_ms)}
            want_canvases = {c: {s: iso_ms(t) for s, t in steps.items()}
                             for c, steps in self.canvases.get(braze_id, {}).items()}
            assert got_canvases == want_canvases


TestMessageHistory = MessageHistoryMachine.TestCase
