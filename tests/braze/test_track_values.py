"""`/users/track` values by Braze's rules (issue 13, "REST rules"): ids given as JSON numbers, Ruby's time
form, array custom attributes, profile fields Braze maps or leaves, and the profile fields that are not custom
attributes. Each test names its source: a braze-inc/braze-docs page or a jonallured/braze_ruby fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


