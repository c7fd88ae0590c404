"""`/users/track` values by Braze's rules (issue 13, "REST rules"): ids given as JSON numbers, Ruby's time
form, array custom attributes, profile fields Braze maps or leaves, and the profile fields that are not custom
attributes. Each test names its source: a braze-inc/braze-docs page or a jonallured/braze_ruby fixture."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, timezone

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mocks.braze.users.rails_time_zones import RAILS_TIME_ZONES
from mocks.braze.users.values import InvalidValue, countries, default_attribute, parse_time

from .braze_fixtures import BrazeEnv

PAST = "2025-12-31T12:00:00Z"
RUBY_FIXTURE = "spec/fixtures/responses/track_users/with_success/responds_with_created.yml"  # jonallured/braze_ruby
ATTRIBUTES_OBJECT = "_docs/_api/objects_filters/user_attributes_object.md"
ARRAYS_PAGE = "_docs/_user_guide/data/custom_data/custom_attributes.md"  # "Arrays"
ARRAYS_SDK_EXAMPLE = "_docs/_developer_guide/platform_wide/analytics_overview.md"  # "Arrays", the web SDK example


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


# -- array custom attributes ---------------------------------------------------------------------------------
def test_an_array_holds_unique_values(braze):
    """ATTRIBUTES_OBJECT: `['hotdog','hotdog','hotdog','pizza']` shows as `['hotdog', 'pizza']`."""
    ok(braze.track({"attributes": [{"external_id": "u1", "food": ["hotdog", "hotdog", "hotdog", "pizza"]}]}))
    assert custom(braze) == {"food": ["hotdog", "pizza"]}


def test_adding_a_present_value_moves_it_to_the_end(braze):
    """ATTRIBUTES_OBJECT: "appends the element to the end of the array, unless it's already present, in which
    case it gets moved from its current position to the end of the array"."""
    braze.users("u1", tags=["a", "b"])
    ok(braze.track({"attributes": [{"external_id": "u1", "tags": {"add": ["a"]}}]}))
    assert custom(braze) == {"tags": ["b", "a"]}
    ok(braze.track({"attributes": [{"external_id": "u1", "tags": {"add": ["c", "b", "c"]}}]}))
    assert custom(braze) == {"tags": ["a", "b", "c"]}


def test_values_are_compared_as_json_values(braze):
    """One value each: `1`, `1.0`, `true` and `"1"` are different JSON values (and Ruby's `uniq` keeps them apart)."""
    ok(braze.track({"attributes": [{"external_id": "u1", "mixed": [1, 1.0, True, "1", 1]}]}))
    assert custom(braze)["mixed"] == [1, 1.0, True, "1"]
    ok(braze.track({"attributes": [{"external_id": "u1", "mixed": {"remove": [True]}}]}))
    assert custom(braze)["mixed"] == [1, 1.0, "1"]


def test_the_sdk_example_with_a_maximum_of_four(braze):
    """ARRAYS_SDK_EXAMPLE, with the array's maximum set to 4: a full array discards its first element."""
    assert put_settings(braze, array_attribute_max_length=4).status_code == 200
    steps = [(["pizza", "wings", "pasta"], ["pizza", "wings", "pasta"]),
             ({"add": ["fries"]}, ["pizza", "wings", "pasta", "fries"]),
             ({"add": ["pizza"]}, ["wings", "pasta", "fries", "pizza"]),
             ({"add": ["ice cream"]}, ["pasta", "fries", "pizza", "ice cream"])]
    for value, expected in steps:
        ok(braze.track({"attributes": [{"external_id": "u1", "favorite_foods": value}]}))
        assert custom(braze)["favorite_foods"] == expected


def test_at_most_25_elements_by_default_the_oldest_go(braze):
    """ARRAYS_PAGE: "By default, the maximum length of an array for an attribute is set to 25"; past it "the
    first movie will be removed from the array and the most recent movie will be added"."""
    braze.users("u1", movies=[f"m{i}" for i in range(25)])
    ok(braze.track({"attributes": [{"external_id": "u1", "movies": {"add": ["m25", "m26"]}}]}))
    assert custom(braze)["movies"] == [f"m{i}" for i in range(2, 27)]


def test_a_longer_array_set_whole_is_truncated_to_the_maximum(braze):
    """ARRAYS_SDK_EXAMPLE: "Arrays exceeding the maximum number of elements will be truncated to contain the
    maximum number of elements": the first 25 stay. (An array of 600 was refused whole before.)"""
    ok(braze.track({"attributes": [{"external_id": "u1", "big": [f"v{i}" for i in range(600)]}]}))
    assert custom(braze)["big"] == [f"v{i}" for i in range(25)]


def test_an_array_of_objects_is_neither_capped_nor_deduplicated(braze):
    """`_docs/_user_guide/data/custom_data/custom_attributes/array_of_objects.md`: "Arrays of objects have no
    limit on the number of items" (their size is capped, 100 KB, as before)."""
    stays = [{"n": i % 30} for i in range(40)]
    ok(braze.track({"attributes": [{"external_id": "u1", "stays": stays}]}))
    assert custom(braze)["stays"] == stays


def test_add_and_remove_in_one_object_as_the_docs_example(braze):
    """ATTRIBUTES_OBJECT's example request: `{"add": ["calvinharris-summer"], "remove": ["nickiminaj-anaconda"]}`."""
    braze.users("u1", music_videos_favorited=["nickiminaj-anaconda", "other"])
    body = ok(braze.track({"attributes": [{"external_id": "u1", "music_videos_favorited": {
        "add": ["calvinharris-summer"], "remove": ["nickiminaj-anaconda"]}}]}))
    assert "errors" not in body
    assert custom(braze)["music_videos_favorited"] == ["other", "calvinharris-summer"]


@pytest.mark.parametrize("operation", [{"add": ["x", "y"], "remove": ["x"]}, {"remove": ["x"], "add": ["x", "y"]}])
def test_add_then_remove_whatever_the_key_order(braze, operation):
    """The docs do not order the two (ATTRIBUTES_OBJECT); harness contract: the add, then the remove."""
    braze.users("u1", tags=["a"])
    ok(braze.track({"attributes": [{"external_id": "u1", "tags": operation}]}))
    assert custom(braze)["tags"] == ["a", "y"]


@pytest.mark.parametrize("value", [{"inc": 1, "remove": [1]}, {"add": [1], "remove": "x"}, {"add": 1, "remove": [1]}])
def test_inc_with_an_array_operation_or_a_non_array_argument_rejects_the_object(braze, value):
    braze.users("u1", n=[1])
    response = braze.track({"attributes": [{"external_id": "u1", "n": value}]})
    assert response.status_code == 400
    assert custom(braze) == {"n": [1]}


# -- the array maximum, a workspace setting --------------------------------------------------------------------
def test_settings_answer_the_default_maximum_and_take_a_new_one(braze):
    """ARRAYS_PAGE: the maximum "can be increased to 100 for an individual array" and beyond by Braze."""
    assert braze.client.get("/_admin/settings").get_json() == {"array_attribute_max_length": 25}
    response = put_settings(braze, array_attribute_max_length=100)
    assert (response.status_code, response.get_json()) == (200, {"array_attribute_max_length": 100})
    ok(braze.track({"attributes": [{"external_id": "u1", "big": [f"v{i}" for i in range(150)]}]}))
    assert len(custom(braze)["big"]) == 100


def test_put_restores_what_it_leaves_out_patch_keeps_it_reset_restores_all(braze):
    assert put_settings(braze, array_attribute_max_length=7).status_code == 200
    assert braze.client.patch("/_admin/settings", json={}).get_json() == {"array_attribute_max_length": 7}
    assert put_settings(braze).get_json() == {"array_attribute_max_length": 25}
    braze.client.patch("/_admin/settings", json={"array_attribute_max_length": 3})
    assert braze.client.post("/_admin/reset").status_code < 300
    assert braze.client.get("/_admin/settings").get_json() == {"array_attribute_max_length": 25}


@pytest.mark.parametrize("body", [{"array_attribute_max_length": 0}, {"array_attribute_max_length": 501},
                                  {"array_attribute_max_length": "30"}, {"array_attribute_max_length": True},
                                  {"array_attribute_max_length": 2.5}, {"array_attribute_max_length": None},
                                  {"array_max": 30}, [30], "30"])
def test_bad_settings_are_a_400_and_change_nothing(braze, body):
    braze.client.put("/_admin/settings", json={"array_attribute_max_length": 9})
    for method in (braze.client.put, braze.client.patch):
        response = method("/_admin/settings", json=body)
        assert response.status_code == 400
        assert isinstance(response.get_json()["message"], str)
    assert braze.client.get("/_admin/settings").get_json() == {"array_attribute_max_length": 9}


def test_settings_body_must_be_json(braze):
    response = braze.client.put("/_admin/settings", data=b"{nope", content_type="application/json")
    assert (response.status_code, response.get_json()["message"]) == (400, "Invalid JSON in request body")


VALUES = st.sampled_from(["a", "b", "c", "d", "e", "f"])
LISTS = st.lists(VALUES, max_size=8)


class ArrayAttributeMachine(RuleBasedStateMachine):
    """The array rules through `/users/track`, against a model written from the docs' sentences one element at
    a time (ATTRIBUTES_OBJECT, ARRAYS_PAGE, ARRAYS_SDK_EXAMPLE): unique values, add moves to the end, a full
    array drops its first element, a longer array set whole keeps its first elements, add before remove."""

    def __init__(self) -> None:
        super().__init__()
        self.env = BrazeEnv()
        self.model: list[str] | None = None
        self.max_length = 25

    def teardown(self) -> None:
        self.env.close()

    @initialize(max_length=st.integers(min_value=1, max_value=6))
    def configure(self, max_length):
        self.max_length = max_length
        assert put_settings(self.env, array_attribute_max_length=max_length).status_code == 200

    def _track(self, value) -> None:
        ok(self.env.track({"attributes": [{"external_id": "u1", "tags": value}]}))

    def _add(self, model: list[str], values: list[str]) -> list[str]:
        for v in values:
            if v in model:
                model.remove(v)
            model.append(v)
            if len(model) > self.max_length:
                model.pop(0)
        return model

    @rule(values=LISTS)
    def set_whole(self, values):
        self._track(values)
        model: list[str] = []
        for v in values:
            if v not in model:
                model.append(v)
        self.model = model[:self.max_length]

    @rule(values=LISTS)
    def add(self, values):
        self._track({"add": values})
        self.model = self._add(list(self.model or []), values)

    @rule(values=LISTS)
    def remove(self, values):
        self._track({"remove": values})
        if self.model is not None:
            self.model = [v for v in self.model if v not in values]

    @rule(added=LISTS, removed=LISTS)
    def add_and_remove(self, added, removed):
        self._track({"remove": removed, "add": added})
        self.model = [v for v in self._add(list(self.model or []), added) if v not in removed]

    @rule()
    def clear(self):
        self._track(None)
        self.model = None

    @invariant()
    def stored_as_the_model(self):
        profile = self.env.profile("u1")
        stored = (profile or {}).get("custom_attributes", {}).get("tags")
        assert stored == self.model
        if stored is not None:
            assert len(stored) == len(set(stored)) <= self.max_length


ArrayAttributeMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=12, deadline=None,
                                                   database=None, suppress_health_check=[HealthCheck.too_slow])
test_array_attributes_follow_the_model = ArrayAttributeMachine.TestCase


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
                                            ("Singapore", "Singapore"),
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


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(st.text(max_size=40), st.sampled_from([c.name for c in pycountry.countries]),
                 st.sampled_from([c.alpha_3.lower() for c in pycountry.countries])))
def test_country_is_an_alpha_2_code_or_refused(text):
    """The `country` rule (ATTRIBUTES_OBJECT) on any string: a known alpha-2 code, or InvalidValue (then null)."""
    try:
        code = default_attribute("country", text)
    except InvalidValue:
        return
    assert code in countries()
    assert code == pycountry.countries.lookup(text.strip()).alpha_2


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(st.text(max_size=40), st.sampled_from(sorted(RAILS_TIME_ZONES)),
                 st.sampled_from(sorted(zoneinfo.available_timezones()))))
def test_time_zone_is_an_iana_zone_or_refused(text):
    """The `time_zone` rule (ATTRIBUTES_OBJECT) on any string: an IANA zone, or InvalidValue (then left as it was)."""
    try:
        zone = default_attribute("time_zone", text)
    except InvalidValue:
        return
    assert zone in zoneinfo.available_timezones()
    # an IANA name stays as given; "UTC" and "Singapore" are Rails names too, of the same zones
    assert zone == (text if text in zoneinfo.available_timezones() else RAILS_TIME_ZONES[text])


@settings(max_examples=200, deadline=None, database=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_current_location_is_accepted_exactly_on_the_globe(latitude, longitude):
    """ATTRIBUTES_OBJECT's `current_location` shape, with latitude and longitude where they can be."""
    on_globe = abs(latitude) <= 90 and abs(longitude) <= 180  # False for NaN
    try:
        location = default_attribute("current_location", {"latitude": latitude, "longitude": longitude})
    except InvalidValue:
        assert not on_globe
        return
    assert on_globe and location == {"latitude": latitude, "longitude": longitude}


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
    assert not braze.profile("u1").get("custom_attributes")


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
