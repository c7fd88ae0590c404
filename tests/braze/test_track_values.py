"""`/users/track` values by Braze's rules (issue 13, "REST rules"): ids given as JSON numbers, Ruby's time
form, array custom attributes, profile fields Braze maps or leaves, and the profile fields that are not custom
attributes. Each test names its source: a braze-inc/braze-docs page or a jonallured/braze_ruby fixture."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.braze.users.rails_time_zones import RAILS_TIME_ZONES
from mocks.braze.users.values import InvalidValue, parse_time

from .braze_fixtures import BrazeEnv

PAST = "2025-12-31T12:00:00Z"
RUBY_FIXTURE = "spec/fixtures/responses/track_users/with_success/responds_with_created.yml"  # jonallured/braze_ruby
ATTRIBUTES_OBJECT = "_docs/_api/objects_filters/user_attributes_object.md"
ARRAYS_PAGE = "_docs/_user_guide/data/custom_data/custom_attributes.md"  # "Arrays"
ARRAYS_SDK_EXAMPLE = "_docs/_developer_guide/platform_wide/analytics_overview.md"  # "Arrays", the web SDK example


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    yield env
    env.close()


def ok(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def custom(braze: BrazeEnv, external_id: str = "u1") -> dict:
    return braze.profile(external_id)["custom_attributes"]


def put_settings(braze: BrazeEnv, **body):
    return braze.client.put("/_admin/settings", json=body)


# -- ids given as JSON numbers ---------------------------------------------------------------------------
def test_the_recorded_request_with_integer_ids_is_processed_whole(braze):
    """RUBY_FIXTURE: `"external_id": 1` in all three arrays and `"product_id": 1` answered 201, all processed."""
    body = ok(braze.track({
        "attributes": [{"external_id": 1, "foo": "bar"}],
        "events": [{"external_id": 1, "name": "baz", "time": "2019-02-15 00:00:00 -0500"}],
        "purchases": [{"external_id": 1, "product_id": 1, "time": "2019-02-15 00:00:00 -0500", "currency": "CAD",
                       "price": 1.0}],
    }))
    assert body == {"attributes_processed": 1, "events_processed": 1, "purchases_processed": 1, "message": "success"}
    profile = braze.profile("1")
    assert profile["custom_attributes"] == {"foo": "bar"}
    assert [e["name"] for e in profile["custom_events"]] == ["baz"]
    assert [p["name"] for p in profile["purchases"]] == ["1"]


def test_an_integer_external_id_names_the_same_user_as_its_string(braze):
    """RUBY_FIXTURE: the number is the id's string form, so both name one profile."""
    braze.users("42", first_name="Ann")
    ok(braze.track({"attributes": [{"external_id": 42, "last_name": "Lee"}]}))
    assert braze.client.get("/_admin/users").get_json()["total"] == 1
    assert (braze.profile("42")["first_name"], braze.profile("42")["last_name"]) == ("Ann", "Lee")


@pytest.mark.parametrize("external_id", [1.5, 1.0, True, False, {"id": 1}, [1]])
def test_ids_that_are_not_strings_or_integers_reject_the_object(braze, external_id):
    """`user_attributes_object.md` and `event_object.md` type `external_id` as a string; only the integer form
    has a recorded 201 (RUBY_FIXTURE). A float or a boolean has no one string form, so it is refused."""
    response = braze.track({"attributes": [{"external_id": external_id, "first_name": "x"},
                                           {"external_id": "u2", "first_name": "y"}]})
    body = ok(response)
    assert body["attributes_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in body["errors"]] == [("attributes", 0)]


@pytest.mark.parametrize(("product_id", "stored"), [(1, "1"), (-7, "-7"), ("sku", "sku")])
def test_an_integer_product_id_is_its_string(braze, product_id, stored):
    """RUBY_FIXTURE: `"product_id": 1` was processed."""
    ok(braze.track({"purchases": [{"external_id": "u1", "product_id": product_id, "currency": "USD", "price": 2,
                                   "time": PAST}]}))
    assert braze.stored("u1").purchases[0]["product_id"] == stored


@pytest.mark.parametrize("product_id", [1.5, True, {"sku": 1}, ["sku"]])
def test_other_product_ids_reject_the_purchase(braze, product_id):
    """`purchase_object.md`: `product_id` is a string; RUBY_FIXTURE shows integers only."""
    response = braze.track({"purchases": [{"external_id": "u1", "product_id": product_id, "currency": "USD",
                                           "price": 2, "time": PAST}]})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["input_array"] == "purchases"


# -- Ruby's time form --------------------------------------------------------------------------------------
@pytest.mark.parametrize("array", ["events", "purchases"])
def test_event_and_purchase_time_in_rubys_form(braze, array):
    """RUBY_FIXTURE sends `"time": "2019-02-15 00:00:00 -0500"` for an event and a purchase (201)."""
    extra = {"name": "baz"} if array == "events" else {"product_id": "p", "currency": "CAD", "price": 1.0}
    ok(braze.track({array: [{"external_id": "u1", "time": "2019-02-15 00:00:00 -0500", **extra}]}))
    profile = braze.stored("u1")
    when = profile.events["baz"].last if array == "events" else profile.purchases[0]["time"]
    assert when == datetime(2019, 2, 15, 5, tzinfo=UTC)


def test_a_utc_time_in_rubys_form(braze):
    """Ruby's Time#to_s writes a UTC time's zone as `UTC` (the form RUBY_FIXTURE's client sends for UTC times)."""
    ok(braze.track({"events": [{"external_id": "u1", "name": "e", "time": "2019-02-15 05:00:00 UTC"}]}))
    assert braze.stored("u1").events["e"].last == datetime(2019, 2, 15, 5, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2019-02-30 00:00:00 -0500", "2019-02-15 24:00:00 +0000",
                                  "2019-02-15 00:00:00 -2400", "2019-02-15 00:00:00 +0560",
                                  "2019-02-15 00:00:00 EST", "2019-02-15 00:00:00 utc"])
def test_impossible_ruby_times_are_refused(text):
    with pytest.raises(InvalidValue):
        parse_time(text)


def _ruby(when: datetime) -> str:
    """`Time#strftime("%Y-%m-%d %H:%M:%S %z")`, which is Ruby's Time#to_s (four-digit year, zero-padded)."""
    offset = when.utcoffset()
    assert offset is not None
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d} {when.hour:02d}:{when.minute:02d}:{when.second:02d} "
            f"{sign}{minutes // 60:02d}{minutes % 60:02d}")


OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=300, deadline=None, database=None)
@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=OFFSETS))
def test_every_ruby_time_string_is_read_as_its_instant(when):
    """RUBY_FIXTURE's form, for any time and any whole-minute offset Ruby prints."""
    when = when.replace(microsecond=0)
    assert parse_time(_ruby(when)) == when
    assert parse_time(_ruby(when)).tzinfo == UTC
    utc = when.astimezone(UTC)
    assert parse_time(_ruby(utc).rsplit(" ", 1)[0] + " UTC") == utc


# -- profile fields Braze maps or leaves ------------------------------------------------------------------------
@pytest.mark.parametrize(("given_value", "code"), [("Australia", "AU"), ("australia", "AU"), ("AUS", "AU"),
                                                   ("036", "AU"), ("no", "NO"), ("NOR", "NO"),
                                                   ("United States", "US"), ("South Korea", "KR")])
def test_country_in_other_formats_is_mapped_to_its_code(braze, given_value, code):
    """ATTRIBUTES_OBJECT, `country`: "Our API makes a best effort to map countries received in different formats.
    For example, "Australia" may map to "AU"" (pycountry's names and codes)."""
    body = ok(braze.track({"attributes": [{"external_id": "u1", "country": given_value}]}))
    assert "errors" not in body
    assert braze.profile("u1")["country"] == code


@pytest.mark.parametrize("value", ["Atlantis", "XX", "", 47, ["NO"]])
def test_a_country_braze_cannot_map_is_set_to_null_and_the_rest_is_processed(braze, value):
    """ATTRIBUTES_OBJECT, `country`: "if the input doesn't match ... the country value is set to NULL"."""
    braze.users("u1", country="NO")
    body = ok(braze.track({"attributes": [{"external_id": "u1", "country": value, "first_name": "Ann"}]}))
    assert "errors" not in body
    profile = braze.profile("u1")
    assert "country" not in profile
    assert profile["first_name"] == "Ann"


@pytest.mark.parametrize(("name", "zone"), [("Eastern Time (US & Canada)", "America/New_York"),
                                            ("Pacific Time (US & Canada)", "America/Los_Angeles"),
                                            ("Kyiv", "Europe/Kiev"), ("Tokyo", "Asia/Tokyo"), ("UTC", "UTC"),
                                            ("America/New_York", "America/New_York")])
def test_time_zone_takes_rails_names_as_well_as_iana_names(braze, name, zone):
    """ATTRIBUTES_OBJECT, `time_zone`: "(for example, "America/New_York" or "Eastern Time (US & Canada)")"; the
    second is ActiveSupport::TimeZone's name, stored as its IANA zone."""
    body = ok(braze.track({"attributes": [{"external_id": "u1", "time_zone": name}]}))
    assert "errors" not in body
    assert braze.profile("u1")["time_zone"] == zone


@pytest.mark.parametrize("value", ["Mars/Olympus", "+02:00", "eastern time (us & canada)", 2, ["UTC"]])
def test_a_time_zone_braze_cannot_use_is_not_set_and_the_rest_is_processed(braze, value):
    """ATTRIBUTES_OBJECT, `time_zone`: "Only valid time zone values are set"; the previous one stays. (`null`
    still removes it: "To remove a profile attribute, set it to null", same page.)"""
    braze.users("u1", time_zone="Europe/Oslo")
    body = ok(braze.track({"attributes": [{"external_id": "u1", "time_zone": value, "first_name": "Ann"}]}))
    assert "errors" not in body
    assert (braze.profile("u1")["time_zone"], braze.profile("u1")["first_name"]) == ("Europe/Oslo", "Ann")


def test_every_rails_zone_name_maps_to_a_zone_python_knows():
    """The committed table (rails/rails `activesupport/lib/active_support/values/time_zone.rb`) names only
    zones of the tz database, or a time zone set from it could not be used."""
    assert len(RAILS_TIME_ZONES) > 140
    assert set(RAILS_TIME_ZONES.values()) <= zoneinfo.available_timezones()


def test_the_csv_import_maps_country_names_too(braze):
    """The mapping is the value rule of `country`, which the CSV import shares; a value it cannot map still drops
    the row there (tests/braze/test_csv_import.py)."""
    response = braze.client.post("/_admin/users/import", data=b"external_id,country,time_zone\n"
                                 b"c1,Australia,Eastern Time (US & Canada)\n", content_type="text/csv")
    assert response.status_code == 201, response.get_json()
    profile = braze.profile("c1")
    assert (profile["country"], profile["time_zone"]) == ("AU", "America/New_York")


# -- profile fields that are not custom attributes ------------------------------------------------------------
PROFILE_FIELDS = {
    "current_location": {"longitude": -73.991443, "latitude": 40.753824},
    "facebook": {"id": "fb-1", "likes": ["music", "films"], "num_friends": 120},
    "twitter": {"id": 123, "screen_name": "ann", "followers_count": 4, "friends_count": 5, "statuses_count": 6},
    "email_open_tracking_disabled": True,
    "email_click_tracking_disabled": False,
}


def test_documented_profile_fields_are_not_custom_attributes(braze):
    """ATTRIBUTES_OBJECT, "Braze user profile fields": `current_location`, `facebook`, `twitter`,
    `email_open_tracking_disabled`, `email_click_tracking_disabled`, of the shapes it gives."""
    body = ok(braze.track({"attributes": [{"external_id": "u1", **PROFILE_FIELDS, "tier": "gold"}]}))
    assert "errors" not in body
    assert custom(braze) == {"tier": "gold"}
    stored = braze.stored("u1").attributes
    assert {k: stored[k] for k in PROFILE_FIELDS} == {
        **PROFILE_FIELDS, "current_location": {"latitude": 40.753824, "longitude": -73.991443}}


def test_null_clears_a_profile_field(braze):
    ok(braze.track({"attributes": [{"external_id": "u1", **PROFILE_FIELDS}]}))
    ok(braze.track({"attributes": [{"external_id": "u1", **dict.fromkeys(PROFILE_FIELDS)}]}))
    assert not set(PROFILE_FIELDS) & set(braze.stored("u1").attributes)
    assert "custom_attributes" not in braze.profile("u1")


@pytest.mark.parametrize(("field", "value"), [
    ("current_location", {"latitude": 91, "longitude": 0}), ("current_location", {"latitude": 0, "longitude": -181}),
    ("current_location", {"latitude": 1}), ("current_location", {"latitude": 1, "longitude": 2, "altitude": 3}),
    ("current_location", {"latitude": "40.7", "longitude": "-73.9"}), ("current_location", {"latitude": True,
                                                                                            "longitude": 0}),
    ("current_location", [40.7, -73.9]), ("current_location", "40.7,-73.9"),
    ("facebook", {"id": 1}), ("facebook", {"likes": "music"}), ("facebook", {"num_friends": 1.5}),
    ("facebook", {"friends": 3}), ("facebook", "fb-1"),
    ("twitter", {"id": "123"}), ("twitter", {"screen_name": 5}), ("twitter", {"followers_count": True}),
    ("twitter", {"handle": "ann"}), ("twitter", []),
    ("email_open_tracking_disabled", "true"), ("email_click_tracking_disabled", 1),
])
def test_a_profile_field_of_the_wrong_shape_rejects_the_object(braze, field, value):
    """ATTRIBUTES_OBJECT gives each field's shape: latitude and longitude numbers, the hashes' keys and types,
    `true` or `false`; a field of another shape is a per-object error naming it, as the other fields are."""
    response = braze.track({"attributes": [{"external_id": "u1", field: value}, {"external_id": "u2", "x": 1}]})
    body = ok(response)
    assert [(e["input_array"], e["index"]) for e in body["errors"]] == [("attributes", 0)]
    assert field in body["errors"][0]["type"]
    assert braze.profile("u1") is None
