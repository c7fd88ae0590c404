"""POST /users/track by the rules of docs/braze-fake.md and the Braze reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .braze_fixtures import iso

NO_VALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
PAST = "2025-12-31T12:00:00Z"


def ok(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def error_types(body: dict) -> list[tuple[str, int]]:
    return [(e["input_array"], e["index"]) for e in body.get("errors", [])]


def ev(name: str = "played", external_id: str = "u1", time: str = PAST, **extra) -> dict:
    return {"external_id": external_id, "name": name, "time": time, **extra}


def purchase(external_id: str = "u1", **extra) -> dict:
    return {"external_id": external_id, "product_id": "sku-1", "currency": "USD", "price": 9.99, "time": PAST,
            **extra}


# -- identifiers ---------------------------------------------------------------------------------------
def test_external_id_creates_the_user_and_answers_201(braze):
    body = ok(braze.track({"attributes": [{"external_id": "u1", "first_name": "Ann"}]}))
    assert body == {"message": "success", "attributes_processed": 1}
    assert braze.profile("u1")["first_name"] == "Ann"


def test_update_existing_only_true_does_not_create(braze):
    response = braze.track({"attributes": [{"external_id": "ghost", "first_name": "G", "_update_existing_only": True}]})
    assert response.status_code == 400
    assert response.get_json()["message"] == NO_VALID
    assert error_types(response.get_json()) == [("attributes", 0)]
    assert braze.profile("ghost") is None


def test_update_existing_only_true_updates_an_existing_user(braze):
    braze.users("u1")
    ok(braze.track({"attributes": [{"external_id": "u1", "first_name": "Z", "_update_existing_only": True}]}))
    assert braze.profile("u1")["first_name"] == "Z"


def test_update_existing_only_must_be_boolean(braze):
    response = braze.track({"attributes": [{"external_id": "u1", "_update_existing_only": "yes"}]})
    assert response.status_code == 400
    assert error_types(response.get_json()) == [("attributes", 0)]


ALIAS = {"alias_name": "a-1", "alias_label": "crm"}


def test_user_alias_only_updates_by_default(braze):
    response = braze.track({"attributes": [{"user_alias": ALIAS, "first_name": "A"}]})
    assert response.status_code == 400
    assert error_types(response.get_json()) == [("attributes", 0)]
    assert braze.client.get("/_admin/users").get_json()["total"] == 0


def test_user_alias_creates_with_update_existing_only_false(braze):
    ok(braze.track({"attributes": [{"user_alias": ALIAS, "first_name": "A", "_update_existing_only": False}]}))
    users = braze.client.get("/_admin/users").get_json()
    assert users["total"] == 1
    assert users["users"][0]["user_aliases"] == [ALIAS]
    ok(braze.track({"attributes": [{"user_alias": ALIAS, "last_name": "B"}]}))  # now it exists: updated
    profile = braze.client.get("/_admin/users").get_json()["users"][0]
    assert (profile["first_name"], profile["last_name"]) == ("A", "B")


@pytest.mark.parametrize("alias", [{"alias_name": "a"}, "a-1", {"alias_name": 1, "alias_label": "x"}])
def test_malformed_user_alias_is_an_object_error(braze, alias):
    response = braze.track({"attributes": [{"user_alias": alias, "_update_existing_only": False}]})
    assert response.status_code == 400
    assert error_types(response.get_json()) == [("attributes", 0)]


def test_braze_id_never_creates(braze):
    for flag in ({}, {"_update_existing_only": False}):
        response = braze.track({"attributes": [{"braze_id": "000000000000000000000000", "first_name": "x", **flag}]})
        assert response.status_code == 400
    assert braze.client.get("/_admin/users").get_json()["total"] == 0


def test_braze_id_updates_an_existing_user(braze):
    braze.users("u1")
    braze_id = braze.profile("u1")["braze_id"]
    ok(braze.track({"attributes": [{"braze_id": braze_id, "first_name": "Bz"}]}))
    assert braze.profile("u1")["first_name"] == "Bz"


def test_email_identifier_creates_then_finds(braze):
    ok(braze.track({"attributes": [{"email": "new@example.com", "first_name": "E"}]}))
    users = braze.client.get("/_admin/users").get_json()
    assert users["total"] == 1
    assert users["users"][0]["email"] == "new@example.com"
    ok(braze.track({"attributes": [{"email": "NEW@example.com", "last_name": "L"}]}))  # matched, not created
    users = braze.client.get("/_admin/users").get_json()
    assert users["total"] == 1
    assert users["users"][0]["last_name"] == "L"


def test_phone_identifier_creates(braze):
    ok(braze.track({"events": [{"phone": "+15551234567", "name": "called", "time": PAST}]}))
    users = braze.client.get("/_admin/users").get_json()["users"]
    assert [u["phone"] for u in users] == ["+15551234567"]
    assert users[0]["custom_events"][0]["name"] == "called"


def test_email_identifier_with_update_existing_only_does_not_create(braze):
    response = braze.track({"attributes": [{"email": "x@example.com", "first_name": "x",
                                            "_update_existing_only": True}]})
    assert response.status_code == 400


@pytest.mark.parametrize("obj", [
    {"first_name": "nobody"},
    {"external_id": "u1", "braze_id": "abc", "first_name": "two"},
    {"external_id": "u1", "user_alias": ALIAS},
    {"external_id": "", "first_name": "empty"},
    # an integer is read as its string (tests/braze/test_track_values.py); a float, a boolean or an object is not
    {"external_id": 4.2, "first_name": "float"},
    {"external_id": True, "first_name": "boolean"},
    {"external_id": {"id": "u1"}, "first_name": "object"},
])
def test_objects_need_exactly_one_valid_identifier(braze, obj):
    response = braze.track({"attributes": [obj]})
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == NO_VALID
    assert error_types(body) == [("attributes", 0)]
    assert isinstance(body["errors"][0]["type"], str) and body["errors"][0]["type"]


@pytest.mark.parametrize(("field", "value"), [("email", "ann@example.com"), ("phone", "+15551234567")])
def test_email_and_phone_are_settable_attributes_of_an_external_id_user(braze, field, value):
    """`email` and `phone` are default fields: setting them on a user named by external_id must work."""
    braze.users("u1")
    body = ok(braze.track({"attributes": [{"external_id": "u1", field: value}]}))
    assert body == {"message": "success", "attributes_processed": 1}
    assert braze.profile("u1")[field] == value


# -- the 75-object limit -------------------------------------------------------------------------------
def test_75_objects_across_the_three_arrays_are_accepted(braze):
    body = {"attributes": [{"external_id": f"u{i}"} for i in range(25)],
            "events": [ev(external_id=f"u{i}") for i in range(25)],
            "purchases": [purchase(external_id=f"u{i}") for i in range(25)]}
    assert ok(braze.track(body)) == {"message": "success", "attributes_processed": 25, "events_processed": 25,
                                     "purchases_processed": 25}


@pytest.mark.parametrize("split", [(76, 0, 0), (0, 76, 0), (0, 0, 76), (26, 25, 25), (1, 74, 1)])
def test_76_objects_are_refused_whole(braze, split):
    a, e, p = split
    body = {"attributes": [{"external_id": f"u{i}"} for i in range(a)],
            "events": [ev(external_id=f"u{i}") for i in range(e)],
            "purchases": [purchase(external_id=f"u{i}") for i in range(p)]}
    response = braze.track(body)
    assert response.status_code == 400
    assert response.get_json() == {"message": "Max Input Length Exceeded"}
    assert braze.client.get("/_admin/users").get_json()["total"] == 0


# -- default fields ------------------------------------------------------------------------------------
VALID_DEFAULTS = [
    ("first_name", "Ann"), ("last_name", "Lee"), ("home_city", "Oslo"), ("dob", "1990-02-28"),
    ("gender", "M"), ("gender", "F"), ("gender", "O"), ("gender", "N"), ("gender", "P"),
    ("country", "NO"), ("language", "nb"), ("time_zone", "Europe/Oslo"), ("time_zone", "America/New_York"),
    ("email_subscribe", "opted_in"), ("email_subscribe", "subscribed"), ("push_subscribe", "unsubscribed"),
    ("first_name", "x" * 255),
]
INVALID_DEFAULTS = [
    ("first_name", "x" * 256), ("first_name", 12), ("last_name", ["a"]), ("home_city", "c" * 256),
    ("dob", "1990-2-28"), ("dob", "1990-02-30"), ("dob", "28/02/1990"), ("dob", 19900228),
    ("gender", "male"), ("gender", "m"), ("gender", 1),
    ("language", "xx"), ("language", "nob"), ("language", 1),
    ("email_subscribe", "yes"), ("push_subscribe", True), ("push_subscribe", "OPTED_IN"),
]


@pytest.mark.parametrize(("field", "value"), VALID_DEFAULTS)
def test_valid_default_field_values_are_stored(braze, field, value):
    body = ok(braze.track({"attributes": [{"external_id": "u1", field: value}]}))
    assert "errors" not in body
    assert braze.profile("u1")[field] == value


@pytest.mark.parametrize(("field", "value"), INVALID_DEFAULTS)
def test_invalid_default_field_values_reject_the_object(braze, field, value):
    braze.users("u1", first_name="Keep")
    response = braze.track({"attributes": [{"external_id": "u1", "first_name": "Changed", field: value},
                                           {"external_id": "u2", "first_name": "Other"}]})
    body = ok(response)
    assert body["attributes_processed"] == 1
    assert error_types(body) == [("attributes", 0)]
    assert field.split("_")[0] in body["errors"][0]["type"] or field in body["errors"][0]["type"]
    assert braze.profile("u1")["first_name"] == "Keep"  # nothing of the invalid object applied
    assert braze.profile("u2")["first_name"] == "Other"


def test_country_and_language_are_normalised(braze):
    ok(braze.track({"attributes": [{"external_id": "u1", "country": "no", "language": "EN"}]}))
    profile = braze.profile("u1")
    assert (profile["country"], profile["language"]) == ("NO", "en")


@pytest.mark.parametrize(("email", "valid"), [("a@b.co", True), ("no-at-sign", False), ("a@b", False),
                                              ("a b@c.de", False)])
def test_email_identifier_is_validated_when_it_creates(braze, email, valid):
    response = braze.track({"attributes": [{"email": email}]})
    assert (response.status_code == 201) is valid


@pytest.mark.parametrize(("phone", "valid"), [("+1 (555) 123-4567", True), ("555.123.4567", True),
                                              ("call me", False), ("12", False)])
def test_phone_identifier_is_validated_when_it_creates(braze, phone, valid):
    response = braze.track({"attributes": [{"phone": phone}]})
    assert (response.status_code == 201) is valid


def test_null_clears_a_default_field(braze):
    braze.users("u1", first_name="Ann", home_city="Oslo")
    ok(braze.track({"attributes": [{"external_id": "u1", "home_city": None}]}))
    profile = braze.profile("u1")
    assert "home_city" not in profile
    assert profile["first_name"] == "Ann"


# -- custom attributes ---------------------------------------------------------------------------------
def test_custom_attribute_operations(braze):
    braze.users("u1", points=10, tags=["a", "b"], gone="x")
    ok(braze.track({"attributes": [{"external_id": "u1", "points": {"inc": 5}, "tags": {"add": ["c", "d"]},
                                    "gone": None, "fresh": {"inc": 2}}]}))
    ok(braze.track({"attributes": [{"external_id": "u1", "points": {"inc": -1.5}, "tags": {"remove": ["a", "c"]}}]}))
    custom = braze.profile("u1")["custom_attributes"]
    assert custom == {"points": 13.5, "tags": ["b", "d"], "fresh": 2}


def test_add_to_a_missing_array_and_remove_from_a_missing_one(braze):
    braze.users("u1")
    ok(braze.track({"attributes": [{"external_id": "u1", "a": {"add": [1]}, "b": {"remove": [1]}}]}))
    assert braze.profile("u1")["custom_attributes"] == {"a": [1]}


@pytest.mark.parametrize("value", [{"inc": "1"}, {"inc": True}, {"add": "x"}, {"remove": 1}, {"inc": 1, "add": [1]}])
def test_bad_custom_attribute_operations_reject_the_object(braze, value):
    braze.users("u1", n=1)
    response = braze.track({"attributes": [{"external_id": "u1", "n": value}]})
    assert response.status_code == 400
    assert error_types(response.get_json()) == [("attributes", 0)]
    assert braze.profile("u1")["custom_attributes"] == {"n": 1}


def test_iso_8601_strings_become_times_other_strings_stay(braze):
    ok(braze.track({"attributes": [{"external_id": "u1", "seen": "2024-03-04T05:06:07+02:00",
                                    "day": "2024-03-04", "word": "2024 was a year", "n": 3, "f": 1.5, "b": False,
                                    "obj": {"k": "v"}}]}))
    custom = braze.stored("u1").custom
    assert custom["seen"] == datetime(2024, 3, 4, 3, 6, 7, tzinfo=UTC)
    assert custom["day"] == "2024-03-04"
    assert custom["word"] == "2024 was a year"
    assert (custom["n"], custom["f"], custom["b"], custom["obj"]) == (3, 1.5, False, {"k": "v"})
    assert braze.profile("u1")["custom_attributes"]["seen"] == "2024-03-04T03:06:07.000Z"


def test_time_attribute_is_usable_by_time_filters(braze):
    braze.set_attrs({"external_id": "u1", "renewal": "2026-01-05T00:00:00Z"},
                    {"external_id": "u2", "renewal": "not a time"})
    response = braze.client.post("/_admin/segments", json={"name": "renewing", "filter": {"custom_attribute": {
        "custom_attribute_name": "renewal", "comparison": "after", "value": "2026-01-02T00:00:00Z"}}})
    assert response.status_code == 201
    assert braze.client.get("/_admin/segments/renewing").get_json()["sample"] == ["u1"]


@pytest.mark.parametrize(("value", "valid"), [("s" * 255, True), ("s" * 256, False)])
def test_custom_string_attributes_up_to_255(braze, value, valid):
    response = braze.track({"attributes": [{"external_id": "u1", "note": value}]})
    assert (response.status_code == 201) is valid


@pytest.mark.parametrize("name", ["$dollar", "n" * 256])
def test_bad_custom_attribute_names(braze, name):
    response = braze.track({"attributes": [{"external_id": "u1", name: 1}]})
    assert response.status_code == 400


# -- events ---------------------------------------------------------------------------------------------
def test_event_is_recorded_with_count_first_and_last(braze):
    body = ok(braze.track({"events": [ev(time="2025-12-30T00:00:00Z"), ev(time="2025-12-31T00:00:00Z"),
                                      ev(time="2025-12-29T00:00:00Z")]}))
    assert body == {"message": "success", "events_processed": 3}
    events = braze.profile("u1")["custom_events"]
    assert events == [{"name": "played", "first": "2025-12-29T00:00:00.000Z", "last": "2025-12-31T00:00:00.000Z",
                       "count": 3}]


@pytest.mark.parametrize("obj", [
    {"external_id": "u1", "time": PAST},
    {"external_id": "u1", "name": "", "time": PAST},
    {"external_id": "u1", "name": 5, "time": PAST},
    {"external_id": "u1", "name": "e"},
    {"external_id": "u1", "name": "e", "time": "yesterday"},
    {"external_id": "u1", "name": "e", "time": 1735689600},
    {"external_id": "u1", "name": "e", "time": PAST, "properties": ["a"]},
    {"external_id": "u1", "name": "e", "time": PAST, "app_id": 7},
])
def test_invalid_event_objects(braze, obj):
    response = braze.track({"events": [obj]})
    assert response.status_code == 400
    assert response.get_json()["message"] == NO_VALID
    assert error_types(response.get_json()) == [("events", 0)]


def test_a_future_event_time_is_read_as_now(braze):
    braze.rt.clock.advance(3600)
    future = braze.now() + timedelta(days=3)
    ok(braze.track({"events": [ev(time=iso(future))]}))
    event = braze.profile("u1")["custom_events"][0]
    assert event["first"] == event["last"] == iso(braze.now()).replace("Z", ".000Z")  # millisecond precision
    record = braze.journal("event.recorded")[-1]
    assert record["time"] == braze.now().isoformat()


def test_event_time_with_offset_is_read_in_utc(braze):
    ok(braze.track({"events": [ev(time="2025-12-31T10:00:00+05:00")]}))
    assert braze.profile("u1")["custom_events"][0]["first"] == "2025-12-31T05:00:00.000Z"


@pytest.mark.parametrize(("properties", "valid"), [
    ({"status": "READ", "n": 1, "ok": True, "list": [1, "a"], "obj": {"a": {"b": 1}}, "t": "2025-01-01T00:00:00Z"},
     True),
    ({"p" * 255: 1}, True),
    ({"p" * 256: 1}, False),
    ({"": 1}, False),
    ({"$revenue": 1}, False),
    ({"time": "x"}, False),
    ({"event_name": "x"}, False),
    ({"v": "s" * 255}, True),
    ({"v": "s" * 256}, False),
    ({"big": ["x" * 200] * 600}, False),  # over 100 KB
])
def test_event_property_rules(braze, properties, valid):
    response = braze.track({"events": [ev(properties=properties)]})
    assert (response.status_code == 201) is valid, response.get_json()
    if not valid:
        assert error_types(response.get_json()) == [("events", 0)]


def test_event_for_unknown_alias_is_not_created_by_default(braze):
    response = braze.track({"events": [{"user_alias": ALIAS, "name": "e", "time": PAST}]})
    assert response.status_code == 400


# -- purchases ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "valid"), [
    ({}, True),
    ({"currency": "EUR", "price": 0, "quantity": 1}, True),
    ({"quantity": 100}, True),
    ({"quantity": 0}, False),
    ({"quantity": 101}, False),
    ({"quantity": 2.5}, False),
    ({"currency": "XYZ"}, False),
    ({"currency": "DOLLARS"}, False),
    ({"currency": None}, False),
    ({"price": "9.99"}, False),
    ({"price": None}, False),
    ({"price": True}, False),
    ({"product_id": ""}, False),
    ({"product_id": None}, False),
    ({"product_id": "p" * 256}, False),
    ({"time": None}, False),
    ({"time": "soon"}, False),
    ({"properties": {"$x": 1}}, False),
])
def test_purchase_rules(braze, extra, valid):
    obj = {k: v for k, v in purchase(**extra).items() if v is not None}
    response = braze.track({"purchases": [obj]})
    assert (response.status_code == 201) is valid, response.get_json()
    if valid:
        assert response.get_json() == {"message": "success", "purchases_processed": 1}
    else:
        assert error_types(response.get_json()) == [("purchases", 0)]


def test_purchases_are_summarised_in_the_export(braze):
    ok(braze.track({"purchases": [purchase(quantity=2, time="2025-12-01T00:00:00Z"),
                                  purchase(time="2025-12-05T00:00:00Z"),
                                  purchase(product_id="sku-2", time="2025-12-03T00:00:00Z")]}))
    summary = {p["name"]: p for p in braze.profile("u1")["purchases"]}
    assert summary["sku-1"] == {"name": "sku-1", "first": "2025-12-01T00:00:00.000Z",
                                "last": "2025-12-05T00:00:00.000Z", "count": 3}
    assert summary["sku-2"]["count"] == 1


# -- per-object errors, counts, 400 -------------------------------------------------------------------
def test_invalid_objects_are_reported_and_the_rest_processed(braze):
    body = ok(braze.track({
        "attributes": [{"external_id": "u1", "gender": "Q"}, {"external_id": "u2", "first_name": "B"}, "not an object"],
        "events": [ev(external_id="u2"), ev(name=""), ev(external_id="u3", properties={"$x": 1}), ev(external_id="u4")],
        "purchases": [purchase(external_id="u2", currency="ZZZ"), purchase(external_id="u2")],
    }))
    assert body["attributes_processed"] == 1
    assert body["events_processed"] == 2
    assert body["purchases_processed"] == 1
    assert error_types(body) == [("attributes", 0), ("attributes", 2), ("events", 1), ("events", 2), ("purchases", 0)]
    for error in body["errors"]:
        assert set(error) == {"type", "input_array", "index"}
        assert isinstance(error["type"], str) and error["type"]
    assert braze.profile("u1") is None  # its only object was invalid
    assert braze.profile("u4") is not None
    assert braze.profile("u3") is None


def test_counts_only_for_arrays_present(braze):
    assert ok(braze.track({"events": [ev()]})) == {"message": "success", "events_processed": 1}
    assert ok(braze.track({"purchases": [purchase()]})) == {"message": "success", "purchases_processed": 1}
    assert ok(braze.track({"events": [ev()], "attributes": []})) == {"message": "success", "attributes_processed": 0,
                                                                    "events_processed": 1}


@pytest.mark.parametrize("body", [
    {}, {"attributes": []}, {"attributes": [], "events": [], "purchases": []}, {"foo": [1]}, [], "text", None,
])
def test_nothing_valid_is_400(braze, body):
    response = braze.track(body)
    assert response.status_code == 400
    assert response.get_json()["message"] == NO_VALID


def test_all_invalid_is_400_with_the_errors(braze):
    response = braze.track({"events": [ev(name=""), ev(time="bad")], "purchases": [purchase(price="x")]})
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == NO_VALID
    assert error_types(body) == [("events", 0), ("events", 1), ("purchases", 0)]


@pytest.mark.parametrize("body", [{"attributes": {"external_id": "u1"}}, {"events": "x"}, {"purchases": None}])
def test_arrays_must_be_arrays(braze, body):
    response = braze.track(body)
    assert response.status_code == 400
    assert "message" in response.get_json()


def test_attributes_then_events_then_purchases(braze):
    """An event may name a user that the same request's attributes create with _update_existing_only."""
    body = ok(braze.track({"events": [ev(external_id="fresh", _update_existing_only=True)],
                           "attributes": [{"external_id": "fresh", "first_name": "F"}]}))
    assert body == {"message": "success", "attributes_processed": 1, "events_processed": 1}


# -- trace ids -----------------------------------------------------------------------------------------
def test_x_trace_id_labels_every_event(braze):
    ok(braze.track({"events": [ev("a"), ev("b")]}, headers={"X-Trace-Id": "trace-1"}))
    records = braze.journal("event.recorded")
    assert [(r["name"], r["trace_id"]) for r in records] == [("a", "trace-1"), ("b", "trace-1")]
    assert records[0]["external_id"] == "u1"


def test_x_trace_ids_label_events_by_position(braze):
    ok(braze.track({"events": [ev("a"), ev("b", time="bad"), ev("c")]}, headers={"X-Trace-Ids": "t1,t2,t3"}))
    records = braze.journal("event.recorded")
    assert [(r["name"], r["trace_id"]) for r in records] == [("a", "t1"), ("c", "t3")]


def test_events_without_trace_headers_have_no_trace(braze):
    ok(braze.track({"events": [ev("a")]}))
    assert [r["trace_id"] for r in braze.journal("event.recorded")] == [None]


def test_event_recorded_carries_properties_and_time(braze):
    ok(braze.track({"events": [ev("READ", properties={"status": "READ"})]}, headers={"X-Trace-Id": "tr"}))
    (record,) = braze.journal("event.recorded")
    assert record["properties"] == {"status": "READ"}
    assert record["time"] == "2025-12-31T12:00:00+00:00"
    assert record["service"] == "braze"


# -- found bugs: values that crash instead of being refused ---------------------------------------------
@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_event_time_at_the_edge_of_the_calendar_is_an_object_error_not_a_500(braze, when):
    response = braze.track({"events": [ev(time=when), ev()]})
    assert response.status_code == 201, response.get_json()
    assert error_types(response.get_json()) == [("events", 0)] or response.get_json()["events_processed"] == 2


def test_custom_time_attribute_at_the_edge_of_the_calendar_is_not_a_500(braze):
    response = braze.track({"attributes": [{"external_id": "u1", "when": "0001-01-01T00:00:00+01:00"}]})
    assert response.status_code < 500, response.get_json()


def test_huge_increment_is_not_a_500(braze):
    braze.users("u1", score=1.5)
    response = braze.track({"attributes": [{"external_id": "u1", "score": {"inc": 10 ** 400}}]})
    assert response.status_code < 500, response.get_json()
