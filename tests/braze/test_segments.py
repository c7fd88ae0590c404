"""The segment language comparison by comparison, at the edges Braze documents, and every refusal path."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mocks.braze.audience.segments import (
    DuplicateSegmentError,
    Segment,
    SegmentError,
    SegmentStore,
    compile_filter,
    evaluate,
)
from mocks.braze.users.profiles import EventSeries, Profile

NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
ABSENT = object()  # marks "attribute not set" in the tables below
NO_VALUE = object()


def make_profile(custom: dict[str, Any] | None = None, attributes: dict[str, Any] | None = None,
                 events: dict[str, list[datetime]] | None = None, last_used_app: datetime | None = None,
                 braze_id: str = "b1") -> Profile:
    series = {}
    for name, times in (events or {}).items():
        series[name] = EventSeries()
        for when in times:
            series[name].add(when, {})
    return Profile(braze_id=braze_id, created_at=NOW, random_bucket_number=0, custom=custom or {},
                   attributes=attributes or {}, events=series, last_used_app=last_used_app)


def attr(comparison: str, value: Any = NO_VALUE, name: str = "favorite thing") -> dict[str, Any]:
    body: dict[str, Any] = {"custom_attribute_name": name, "comparison": comparison}
    if value is not NO_VALUE:
        body["value"] = value
    return {"custom_attribute": body}


def stored(value: Any) -> Profile:
    return make_profile({} if value is ABSENT else {"favorite thing": value})


def check(spec: dict[str, Any], stored_value: Any, expected: bool, now: datetime = NOW) -> None:
    assert compile_filter(spec)(stored(stored_value), now) is expected


# --- strings ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("comparison", "value", "stored_value", "expected"), [
    ("equals", "blue", "blue", True),
    ("equals", "blue", "Blue", False),  # case-sensitive
    ("equals", "blue", "blue ", False),
    ("equals", "blue", ABSENT, False),
    ("equals", "blue", ["blue"], False),
    ("not_equal", "blue", "red", True),
    ("not_equal", "blue", "blue", False),
    ("not_equal", "blue", "BLUE", False),  # documented as not case-sensitive
    ("not_equal", "blue", ABSENT, True),
    ("not_equal", "blue", 5, True),
    ("matches_regex", "^bl", "Blue sky", True),  # case-insensitive
    ("matches_regex", "u", "blue", True),  # searches, not anchored
    ("matches_regex", "^bl", "navy blue", False),
    ("matches_regex", "^bl", ABSENT, False),
    ("matches_regex", ".*", "", False),  # blank is no value
    ("matches_regex", "blue", ["blue"], False),
    ("does_not_match_regex", "^bl", "red", True),
    ("does_not_match_regex", "^bl", "BLUE", False),
    ("does_not_match_regex", "^bl", ABSENT, False),  # needs a value
    ("does_not_match_regex", "^bl", "", False),
    ("does_not_match_regex", "^bl", 3, False),
])
def test_string_comparisons(comparison: str, value: str, stored_value: Any, expected: bool) -> None:
    check(attr(comparison, value), stored_value, expected)


@pytest.mark.parametrize(("stored_value", "exists"), [
    ("x", True), (0, True), (False, True), (["a"], True), ({"k": 1}, True), (NOW, True),
    ("", False), ([], False), ({}, False), (None, False), (ABSENT, False),
])
def test_exists_and_does_not_exist(stored_value: Any, exists: bool) -> None:
    check(attr("exists"), stored_value, exists)
    check(attr("does_not_exist"), stored_value, not exists)


def test_exists_ignores_a_given_value() -> None:
    check(attr("exists", "anything"), "x", True)


def test_attribute_names_may_contain_spaces_and_are_exact() -> None:
    predicate = compile_filter(attr("equals", "blue", name="Favorite Color "))
    assert predicate(make_profile({"Favorite Color ": "blue"}), NOW)
    assert not predicate(make_profile({"Favorite Color": "blue"}), NOW)


# --- arrays ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("comparison", "value", "stored_value", "expected"), [
    ("includes_value", "pizza", ["pizza", "tacos"], True),
    ("includes_value", "pizza", ["Pizza"], False),
    ("includes_value", "pizza", [], False),
    ("includes_value", "pizza", "pizza", False),
    ("includes_value", "pizza", ABSENT, False),
    ("includes_value", 1, [1.0, "x"], True),
    ("includes_value", 1, [True], False),
    ("includes_value", 1, ["1"], False),
    ("includes_value", True, [True], True),
    ("includes_value", True, [1], False),
    ("does_not_include_value", "pizza", ["tacos"], True),
    ("does_not_include_value", "pizza", ["pizza"], False),
    ("does_not_include_value", "pizza", [], True),
    ("does_not_include_value", "pizza", ABSENT, True),
    ("does_not_include_value", "pizza", "pizza", True),
    ("does_not_include_value", False, [0], True),
])
def test_array_comparisons(comparison: str, value: Any, stored_value: Any, expected: bool) -> None:
    check(attr(comparison, value), stored_value, expected)


# --- numbers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("comparison", "value", "stored_value", "expected"), [
    ("equals", 3, 3, True),
    ("equals", 3, 3.0, True),
    ("equals", 3, "3", False),
    ("equals", 1, True, False),  # booleans are not numbers
    ("equals", 3, ABSENT, False),
    ("equals", 0, ABSENT, True),  # Braze: "Exactly 0" includes users without the attribute
    ("equals", 0, None, True),
    ("equals", 0.0, "", True),
    ("equals", 0, False, False),
    ("equals", 0, "zero", False),
    ("not_equal", 3, 4, True),
    ("not_equal", 3, 3, False),
    ("not_equal", 3, ABSENT, True),
    ("not_equal", 3, "3", True),
    ("not_equal", 0, ABSENT, False),
    ("greater_than", 2, 3, True),
    ("greater_than", 2, 2, False),
    ("greater_than", 2, 2.5, True),
    ("greater_than", 0, True, False),
    ("greater_than", -1, ABSENT, False),
    ("greater_than_or_equal_to", 2, 2, True),
    ("greater_than_or_equal_to", 2, 1.9, False),
    ("greater_than_or_equal_to", 2, ABSENT, False),
    ("less_than", 2, 1, True),
    ("less_than", 2, 2, False),
    ("less_than", 2, -1.5, True),
    ("less_than", -10, ABSENT, True),  # Braze: "Less Than" includes users without the attribute
    ("less_than", 2, "1", False),
    ("less_than_or_equal_to", 2, 2, True),
    ("less_than_or_equal_to", 2, 3, False),
    ("less_than_or_equal_to", 2, ABSENT, True),
    ("less_than_or_equal_to", 2, [1], False),
])
def test_number_comparisons(comparison: str, value: float, stored_value: Any, expected: bool) -> None:
    check(attr(comparison, value), stored_value, expected)


def test_big_integers_compare_exactly() -> None:
    check(attr("greater_than", 2**70), 2**70 + 1, True)


# --- booleans --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("comparison", "value", "stored_value", "expected"), [
    ("equals", True, True, True),
    ("equals", True, False, False),
    ("equals", True, 1, False),
    ("equals", True, "true", False),
    ("equals", True, ABSENT, False),
    ("equals", False, False, True),
    ("equals", False, ABSENT, False),
    ("equals", False, 0, False),
    ("does_not_equal", True, False, True),
    ("does_not_equal", True, True, False),
    ("does_not_equal", True, ABSENT, True),
    ("does_not_equal", True, 1, True),
    ("does_not_equal", False, True, True),
])
def test_boolean_comparisons(comparison: str, value: bool, stored_value: Any, expected: bool) -> None:
    check(attr(comparison, value), stored_value, expected)


# --- times -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("comparison", "days", "stored_value", "expected"), [
    ("less_than_x_days_ago", 3, NOW - 2 * DAY, True),
    ("less_than_x_days_ago", 3, NOW - 3 * DAY + TICK, True),
    ("less_than_x_days_ago", 3, NOW - 3 * DAY, False),
    ("less_than_x_days_ago", 3, NOW, True),
    ("less_than_x_days_ago", 3, NOW + TICK, False),  # never the future
    ("less_than_x_days_ago", 0.5, NOW - timedelta(hours=11), True),
    ("less_than_x_days_ago", 0.5, NOW - timedelta(hours=13), False),
    ("less_than_x_days_ago", 3, "2024-05-14T00:00:00Z", False),  # a string is not a time
    ("less_than_x_days_ago", 3, ABSENT, False),
    ("greater_than_x_days_ago", 3, NOW - 3 * DAY - TICK, True),
    ("greater_than_x_days_ago", 3, NOW - 3 * DAY, False),
    ("greater_than_x_days_ago", 3, NOW, False),
    ("greater_than_x_days_ago", 3, ABSENT, False),
    ("less_than_x_days_in_the_future", 2, NOW + DAY, True),
    ("less_than_x_days_in_the_future", 2, NOW, True),
    ("less_than_x_days_in_the_future", 2, NOW + 2 * DAY, False),
    ("less_than_x_days_in_the_future", 2, NOW - TICK, False),  # never the past
    ("greater_than_x_days_in_the_future", 2, NOW + 2 * DAY + TICK, True),
    ("greater_than_x_days_in_the_future", 2, NOW + 2 * DAY, False),
    ("greater_than_x_days_in_the_future", 2, NOW - 5 * DAY, False),
    ("greater_than_x_days_in_the_future", 0, NOW + TICK, True),
])
def test_relative_time_comparisons(comparison: str, days: float, stored_value: Any, expected: bool) -> None:
    check(attr(comparison, days), stored_value, expected)


@pytest.mark.parametrize(("comparison", "value", "stored_value", "expected"), [
    ("after", "0001-01-01T00:00:00+01:00", datetime(1, 1, 1, tzinfo=UTC), True),
    ("before", "9999-12-31T23:59:59-01:00", NOW, True),
    ("after", "2024-05-01T00:00:00Z", datetime(2024, 5, 1, 0, 0, 1, tzinfo=UTC), True),
    ("after", "2024-05-01T00:00:00Z", datetime(2024, 5, 1, tzinfo=UTC), False),
    ("after", "2024-05-01T02:00:00+02:00", datetime(2024, 5, 1, 0, 0, 1, tzinfo=UTC), True),
    ("after", "2024-05-01T00:00:00", datetime(2024, 4, 30, 23, tzinfo=UTC), False),  # naive reads as UTC
    ("after", "2024-05-01", datetime(2024, 5, 1, 0, 0, 1, tzinfo=UTC), True),
    ("after", "2024-05-01", "2024-06-01", False),
    ("after", "2024-05-01", ABSENT, False),
    ("before", "2024-05-01T00:00:00Z", datetime(2024, 4, 30, 23, 59, tzinfo=UTC), True),
    ("before", "2024-05-01T00:00:00Z", datetime(2024, 5, 1, tzinfo=UTC), False),
    ("before", "2024-05-01T00:00:00Z", ABSENT, False),
    ("before", "2024-05-01T00:00:00Z", 0, False),
])
def test_absolute_time_comparisons(comparison: str, value: str, stored_value: Any, expected: bool) -> None:
    check(attr(comparison, value), stored_value, expected)


def test_relative_times_follow_now() -> None:
    predicate = compile_filter(attr("less_than_x_days_ago", 1))
    profile = stored(NOW - timedelta(hours=12))
    assert predicate(profile, NOW)
    assert not predicate(profile, NOW + DAY)


# --- subscriptions and last used app ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["push", "email"])
@pytest.mark.parametrize(("comparison", "value", "status", "expected"), [
    ("is", "opted_in", "opted_in", True),
    ("is", "opted_in", "subscribed", False),
    ("is", "subscribed", ABSENT, True),  # absent reads as subscribed
    ("is", "subscribed", None, True),
    ("is", "unsubscribed", "unsubscribed", True),
    ("is_not", "unsubscribed", "opted_in", True),
    ("is_not", "unsubscribed", "unsubscribed", False),
    ("is_not", "subscribed", ABSENT, False),
    ("is_not", "opted_in", ABSENT, True),
])
def test_subscription_status(kind: str, comparison: str, value: str, status: Any, expected: bool) -> None:
    attributes = {} if status is ABSENT else {f"{kind}_subscribe": status}
    other = "email" if kind == "push" else "push"
    attributes[f"{other}_subscribe"] = "unsubscribed" if value != "unsubscribed" else "opted_in"  # must not leak
    spec = {f"{kind}_subscription_status": {"comparison": comparison, "value": value}}
    assert compile_filter(spec)(make_profile(attributes=attributes), NOW) is expected


@pytest.mark.parametrize(("comparison", "last_used", "expected"), [
    ("after", NOW, True),
    ("after", datetime(2024, 5, 10, tzinfo=UTC), False),
    ("after", datetime(2024, 5, 10, 0, 0, 1, tzinfo=UTC), True),
    ("after", None, False),
    ("before", datetime(2024, 5, 9, tzinfo=UTC), True),
    ("before", datetime(2024, 5, 10, tzinfo=UTC), False),
    ("before", None, False),
])
def test_last_used_app(comparison: str, last_used: datetime | None, expected: bool) -> None:
    spec = {"last_used_app": {"comparison": comparison, "value": "2024-05-10T00:00:00Z"}}
    assert compile_filter(spec)(make_profile(last_used_app=last_used), NOW) is expected


# --- custom events ---------------------------------------------------------------------------------------------

def event_spec(comparison: str, value: int, days: int, name: str = "Opened Chat") -> dict[str, Any]:
    return {"custom_event": {"name": name, "comparison": comparison, "value": value, "days": days}}


def count_in(days: int, times: list[datetime], now: datetime = NOW) -> int:
    """The count the filter sees, found by probing `equals n`."""
    profile = make_profile(events={"Opened Chat": times})
    return next(n for n in range(len(times) + 1) if compile_filter(event_spec("equals", n, days))(profile, now))


TODAY = datetime(2024, 5, 15, tzinfo=UTC)


@pytest.mark.parametrize(("days", "times", "counted"), [
    (1, [TODAY], 1),
    (1, [TODAY - TICK], 0),
    (1, [TODAY, NOW, TODAY - DAY], 2),
    (2, [TODAY - DAY, TODAY - DAY - TICK], 1),
    (7, [TODAY - 6 * DAY, TODAY - 6 * DAY - TICK, NOW - TICK], 2),
    (30, [TODAY - 29 * DAY, TODAY - 30 * DAY + timedelta(hours=23)], 1),
    (1, [NOW + TICK, NOW + DAY], 0),  # after now does not count
    (1, [NOW], 1),
])
def test_custom_event_calendar_day_window(days: int, times: list[datetime], counted: int) -> None:
    assert count_in(days, times) == counted


def test_custom_event_window_uses_the_utc_day_of_now() -> None:
    now = datetime(2024, 5, 15, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 2024-05-14T23:00Z
    assert count_in(1, [datetime(2024, 5, 14, 0, 30, tzinfo=UTC), datetime(2024, 5, 13, 23, tzinfo=UTC)], now) == 1


def test_custom_event_window_moves_with_now() -> None:
    predicate = compile_filter(event_spec("equals", 1, 1))
    profile = make_profile(events={"Opened Chat": [TODAY + timedelta(hours=1)]})
    assert predicate(profile, NOW)
    assert not predicate(profile, NOW + DAY)
    assert predicate(profile, NOW)


@pytest.mark.parametrize(("comparison", "value", "expected"), [
    ("equals", 2, True), ("equals", 3, False),
    ("not_equal", 2, False), ("not_equal", 0, True),
    ("greater_than", 1, True), ("greater_than", 2, False),
    ("greater_than_or_equal_to", 2, True), ("greater_than_or_equal_to", 3, False),
    ("less_than", 3, True), ("less_than", 2, False),
    ("less_than_or_equal_to", 2, True), ("less_than_or_equal_to", 1, False),
])
def test_custom_event_comparisons(comparison: str, value: int, expected: bool) -> None:
    profile = make_profile(events={"Opened Chat": [NOW - timedelta(hours=1), NOW - timedelta(hours=2)]})
    assert compile_filter(event_spec(comparison, value, 1))(profile, NOW) is expected


@pytest.mark.parametrize(("comparison", "value", "expected"), [
    ("equals", 0, True), ("less_than", 1, True), ("greater_than", 0, False), ("not_equal", 0, False),
])
def test_never_performed_counts_zero(comparison: str, value: int, expected: bool) -> None:
    profile = make_profile(events={"Other": [NOW]})
    assert compile_filter(event_spec(comparison, value, 30))(profile, NOW) is expected


# --- AND / OR --------------------------------------------------------------------------------------------------

GOLD = attr("equals", "gold", name="plan")
HIGH = attr("greater_than", 10, name="score")
PUSHABLE = {"push_subscription_status": {"comparison": "is", "value": "opted_in"}}


@pytest.mark.parametrize(("custom", "push", "expected"), [
    ({"plan": "gold", "score": 11}, "opted_in", True),
    ({"plan": "gold", "score": 11}, "unsubscribed", True),
    ({"plan": "gold", "score": 9}, "opted_in", True),
    ({"plan": "gold", "score": 9}, "subscribed", False),
    ({"plan": "silver", "score": 99}, "opted_in", False),
])
def test_nested_and_or(custom: dict[str, Any], push: str, expected: bool) -> None:
    spec = {"AND": [GOLD, {"OR": [HIGH, PUSHABLE]}]}
    assert compile_filter(spec)(make_profile(custom, {"push_subscribe": push}), NOW) is expected


def test_single_item_lists_and_deep_nesting() -> None:
    spec = {"OR": [{"AND": [{"OR": [{"AND": [GOLD]}]}]}]}
    assert compile_filter(spec)(make_profile({"plan": "gold"}), NOW)
    assert not compile_filter(spec)(make_profile({"plan": "tin"}), NOW)


def test_or_of_all_false_and_and_of_all_true() -> None:
    profile = make_profile({"plan": "gold", "score": 50}, {"push_subscribe": "opted_in"})
    assert compile_filter({"AND": [GOLD, HIGH, PUSHABLE]})(profile, NOW)
    assert not compile_filter({"OR": [attr("equals", "tin", name="plan"), attr("less_than", 0, name="score")]})(
        profile, NOW)


# --- refusals --------------------------------------------------------------------------------------------------

VALID = attr("exists")


def ca(**body: Any) -> dict[str, Any]:
    return {"custom_attribute": {"custom_attribute_name": "n", **body}}


def ev(**changes: Any) -> dict[str, Any]:
    body = {"name": "e", "comparison": "equals", "value": 1, "days": 7, **changes}
    return {"custom_event": {k: v for k, v in body.items() if v is not NO_VALUE}}


@pytest.mark.parametrize(("spec", "path", "fragment"), [
    ([VALID], "filter", "must be an object"),
    ({}, "filter", "exactly one key"),
    ({"AND": [VALID], "OR": [VALID]}, "filter", "exactly one key"),
    ({"NOT": [VALID]}, "NOT", "unknown filter"),
    ({"and": [VALID]}, "and", "unknown filter"),
    ({"AND": []}, "AND", "non-empty list"),
    ({"OR": VALID}, "OR", "non-empty list"),
    ({"AND": [VALID, {"OR": []}]}, "AND[1].OR", "non-empty list"),
    ({"AND": [VALID, "custom_attribute"]}, "AND[1]", "must be an object"),
    ({"custom_attribute": "n"}, "custom_attribute", "expected an object"),
    (ca(comparison="exists", valeu=1), "custom_attribute.valeu", "unknown field"),
    ({"custom_attribute": {"comparison": "exists"}}, "custom_attribute.custom_attribute_name", "required"),
    (ca(custom_attribute_name="", comparison="exists"), "custom_attribute.custom_attribute_name", "non-empty"),
    (ca(custom_attribute_name=5, comparison="exists"), "custom_attribute.custom_attribute_name", "non-empty"),
    ({"custom_attribute": {"custom_attribute_name": "n"}}, "custom_attribute.comparison", "required"),
    ({"AND": [VALID, ca(comparison="bigger", value=1)]}, "AND[1].custom_attribute.comparison",
     "'bigger' is not a comparison for custom attributes"),
    (ca(comparison="is", value="x"), "custom_attribute.comparison", "not a comparison"),
    (ca(comparison=None, value="x"), "custom_attribute.comparison", "not a comparison"),
    (ca(comparison="equals"), "custom_attribute.value", "required"),
    (ca(comparison="includes_value"), "custom_attribute.value", "required"),
    (ca(comparison="after"), "custom_attribute.value", "required"),
    (ca(comparison="greater_than", value="5"), "custom_attribute.value", "compares number values"),
    (ca(comparison="greater_than", value=True), "custom_attribute.value", "got boolean True"),
    (ca(comparison="not_equal", value=True), "custom_attribute.value", "got boolean True"),
    (ca(comparison="does_not_equal", value="x"), "custom_attribute.value", "compares boolean values"),
    (ca(comparison="matches_regex", value=5), "custom_attribute.value", "compares string values"),
    (ca(comparison="equals", value=None), "custom_attribute.value", "got null None"),
    (ca(comparison="equals", value=[1]), "custom_attribute.value", "got array [1]"),
    (ca(comparison="equals", value=""), "custom_attribute.value", "empty string"),
    (ca(comparison="includes_value", value=""), "custom_attribute.value", "empty string"),
    (ca(comparison="equals", value=float("nan")), "custom_attribute.value", "finite number"),
    (ca(comparison="less_than", value=float("inf")), "custom_attribute.value", "finite number"),
    (ca(comparison="includes_value", value=["a"]), "custom_attribute.value", "string, number or boolean, got array"),
    (ca(comparison="includes_value", value={"a": 1}), "custom_attribute.value", "got object"),
    (ca(comparison="does_not_include_value", value=float("nan")), "custom_attribute.value", "finite number"),
    (ca(comparison="less_than_x_days_ago", value="3"), "custom_attribute.value", "finite number"),
    (ca(comparison="greater_than_x_days_ago", value=True), "custom_attribute.value", "finite number"),
    (ca(comparison="less_than_x_days_in_the_future", value=-1), "custom_attribute.value", "0..36500"),
    (ca(comparison="greater_than_x_days_in_the_future", value=36501), "custom_attribute.value", "0..36500"),
    (ca(comparison="after", value=5), "custom_attribute.value", "ISO-8601 time string"),
    (ca(comparison="before", value="yesterday"), "custom_attribute.value", "not an ISO-8601 time"),
    (ca(comparison="after", value="2024-13-01T00:00:00Z"), "custom_attribute.value", "not an ISO-8601 time"),
    (ca(comparison="after", value=""), "custom_attribute.value", "not an ISO-8601 time"),
    (ca(comparison="matches_regex", value="(unclosed"), "custom_attribute.value", "not a valid regular expression"),
    (ca(comparison="does_not_match_regex", value="*x"), "custom_attribute.value", "not a valid regular expression"),
    (ca(comparison="matches_regex", value="a{99999999999}"), "custom_attribute.value", "not a valid regular"),
    ({"push_subscription_status": {"comparison": "equals", "value": "opted_in"}},
     "push_subscription_status.comparison", "not a subscription comparison"),
    ({"email_subscription_status": {"comparison": "is", "value": "maybe"}},
     "email_subscription_status.value", "not a subscription state"),
    ({"email_subscription_status": {"comparison": "is"}}, "email_subscription_status.value", "required"),
    ({"push_subscription_status": {"comparison": "is", "value": "opted_in", "app": "x"}},
     "push_subscription_status.app", "unknown field"),
    ({"push_subscription_status": ["is", "opted_in"]}, "push_subscription_status", "expected an object"),
    ({"last_used_app": {"comparison": "on", "value": "2024-05-01"}}, "last_used_app.comparison",
     "not a last_used_app comparison"),
    ({"last_used_app": {"comparison": "after", "value": "not a time"}}, "last_used_app.value", "ISO-8601"),
    ({"last_used_app": {"comparison": "after", "value": 1714521600}}, "last_used_app.value", "ISO-8601"),
    ({"last_used_app": {"comparison": "before"}}, "last_used_app.value", "required"),
    (ev(days=0), "custom_event.days", "1..30"),
    (ev(days=31), "custom_event.days", "1..30"),
    (ev(days=7.0), "custom_event.days", "1..30"),
    (ev(days=True), "custom_event.days", "1..30"),
    (ev(days=NO_VALUE), "custom_event.days", "required"),
    (ev(value=-1), "custom_event.value", "non-negative integer"),
    (ev(value=1.5), "custom_event.value", "non-negative integer"),
    (ev(value="1"), "custom_event.value", "non-negative integer"),
    (ev(comparison="between"), "custom_event.comparison", "not a custom_event comparison"),
    (ev(comparison="exists"), "custom_event.comparison", "not a custom_event comparison"),
    (ev(name=""), "custom_event.name", "non-empty"),
    (ev(properties={}), "custom_event.properties", "unknown field"),
    ({"OR": [VALID, {"AND": [VALID, ev(days=99)]}]}, "OR[1].AND[1].custom_event.days", "1..30"),
])
def test_refusals_name_the_offending_part(spec: Any, path: str, fragment: str) -> None:
    with pytest.raises(SegmentError) as caught:
        compile_filter(spec)
    assert caught.value.path == path
    assert fragment in caught.value.reason
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, ValueError)


def test_the_whole_spec_is_validated_before_anything_runs() -> None:
    with pytest.raises(SegmentError, match=r"^OR\[2\]"):
        compile_filter({"OR": [VALID, VALID, ca(comparison="before", value="soon")]})


# --- default profile fields (`profile_field`, a harness contract) ----------------------------------------------

def pf(field: str, comparison: str, value: Any = NO_VALUE) -> dict[str, Any]:
    body = {"field": field, "comparison": comparison}
    if value is not NO_VALUE:
        body["value"] = value
    return {"profile_field": body}


@pytest.mark.parametrize(("spec", "stored", "expected"), [
    (pf("country", "equals", "US"), {"country": "US"}, True),
    (pf("country", "equals", "United States"), {"country": "US"}, True),  # read as /users/track reads it
    (pf("country", "equals", "usa"), {"country": "US"}, True),
    (pf("country", "equals", "DE"), {"country": "US"}, False),
    (pf("country", "equals", "US"), {}, False),
    (pf("country", "not_equal", "US"), {}, True),
    (pf("country", "not_equal", "US"), {"country": "US"}, False),
    (pf("first_name", "equals", "Ann"), {"first_name": "ann"}, False),  # equals is case-sensitive
    (pf("first_name", "not_equal", "Ann"), {"first_name": "ann"}, False),  # not_equal is not
    (pf("language", "equals", "EN"), {"language": "en"}, True),
    (pf("time_zone", "equals", "Eastern Time (US & Canada)"), {"time_zone": "America/New_York"}, True),
    (pf("time_zone", "matches_regex", "^america/"), {"time_zone": "America/New_York"}, True),
    (pf("gender", "equals", "F"), {"gender": "F"}, True),
    (pf("dob", "matches_regex", "^199"), {"dob": "1990-02-03"}, True),
    (pf("dob", "does_not_match_regex", "^199"), {}, False),  # needs a value, as for custom attributes
    (pf("dob", "does_not_match_regex", "^199"), {"dob": "2001-02-03"}, True),
    (pf("home_city", "exists"), {"home_city": ""}, False),
    (pf("home_city", "does_not_exist"), {}, True),
    (pf("email", "matches_regex", "@example\\.com$"), {"email": "ann@EXAMPLE.com"}, True),
    (pf("email_subscribe", "equals", "subscribed"), {}, True),  # absent reads "subscribed", as the status filter
    (pf("push_subscribe", "equals", "opted_in"), {"push_subscribe": "opted_in"}, True),
    (pf("push_subscribe", "does_not_exist"), {}, False),
])
def test_profile_field_comparisons(spec: dict[str, Any], stored: dict[str, Any], expected: bool) -> None:
    assert compile_filter(spec)(make_profile(attributes=stored), NOW) is expected


def test_profile_fields_do_not_read_custom_attributes() -> None:
    profile = make_profile(custom={"country": "US"})
    assert not compile_filter(pf("country", "equals", "US"))(profile, NOW)
    assert not compile_filter(attr("equals", "US", name="country"))(make_profile(attributes={"country": "US"}), NOW)


@pytest.mark.parametrize(("spec", "path", "fragment"), [
    (pf("zodiac", "equals", "Leo"), "profile_field.field", "'zodiac' is not a default profile field"),
    (pf("external_id", "exists"), "profile_field.field", "not a default profile field"),
    ({"AND": [VALID, pf("Country", "exists")]}, "AND[1].profile_field.field", "not a default profile field"),
    (pf("country", "greater_than", "US"), "profile_field.comparison", "not a profile field comparison"),
    (pf("country", "includes_value", "US"), "profile_field.comparison", "not a profile field comparison"),
    (pf("country", "equals"), "profile_field.value", "required"),
    (pf("country", "equals", "Atlantis"), "profile_field.value", "no profile can hold 'Atlantis'"),
    (pf("gender", "equals", "female"), "profile_field.value", "no profile can hold"),
    (pf("dob", "equals", "1990-02-30"), "profile_field.value", "no profile can hold"),
    (pf("time_zone", "not_equal", "Mars/Olympus"), "profile_field.value", "no profile can hold"),
    (pf("email_subscribe", "equals", "yes"), "profile_field.value", "no profile can hold"),
    (pf("first_name", "equals", ""), "profile_field.value", "non-empty string"),
    (pf("first_name", "equals", 5), "profile_field.value", "non-empty string, got number 5"),
    (pf("first_name", "matches_regex", "("), "profile_field.value", "not a valid regular expression"),
    ({"profile_field": {"field": "country", "comparison": "exists", "custom_attribute_name": "x"}},
     "profile_field.custom_attribute_name", "unknown field"),
    ({"profile_field": {"comparison": "exists"}}, "profile_field.field", "required"),
    ({"profile_field": "country"}, "profile_field", "expected an object"),
])
def test_profile_field_refusals_name_the_offending_part(spec: Any, path: str, fragment: str) -> None:
    with pytest.raises(SegmentError) as caught:
        compile_filter(spec)
    assert caught.value.path == path
    assert fragment in caught.value.reason


# --- evaluation and the store ----------------------------------------------------------------------------------

def test_evaluate_keeps_iteration_order() -> None:
    profiles = [make_profile({"plan": plan}, braze_id=str(i)) for i, plan in enumerate(["gold", "tin", "gold"])]
    chosen = evaluate(compile_filter(GOLD), iter(profiles), NOW)
    assert [p.braze_id for p in chosen] == ["0", "2"]


def make_store() -> SegmentStore:
    counter = itertools.count(1)
    return SegmentStore(lambda: f"seg_{next(counter)}")


def test_store_create_get_list_delete() -> None:
    store = make_store()
    gold = store.create("Gold members", {"AND": [GOLD]})
    high = store.create("High scorers", HIGH)
    assert isinstance(gold, Segment)
    assert (gold.segment_id, high.segment_id) == ("seg_1", "seg_2")
    assert store.get("seg_2") is high
    assert store.get("Gold members") is gold
    assert store.get("nobody") is None
    assert store.list() == [gold, high]
    assert len(store) == 2
    assert gold.members([make_profile({"plan": "gold"}), make_profile({"plan": "tin"})], NOW)[0].custom == {
        "plan": "gold"}
    assert store.delete("Gold members")
    assert not store.delete("seg_1")
    assert store.delete("seg_2")
    assert store.list() == []


def test_store_refuses_duplicate_names_and_bad_specs() -> None:
    store = make_store()
    store.create("Gold", GOLD)
    with pytest.raises(DuplicateSegmentError):
        store.create("Gold", HIGH)
    with pytest.raises(SegmentError):
        store.create("Broken", {"AND": []})
    with pytest.raises(ValueError, match="non-empty name"):
        store.create("  ", GOLD)
    assert [s.name for s in store.list()] == ["Gold"]
    store.delete("Gold")
    assert store.create("Gold", HIGH).segment_id == "seg_2"


def test_store_keeps_its_own_copy_of_the_spec() -> None:
    spec = {"AND": [attr("equals", "gold", name="plan")]}
    segment = make_store().create("Gold", spec)
    spec["AND"][0]["custom_attribute"]["value"] = "tin"
    assert segment.filter["AND"][0]["custom_attribute"]["value"] == "gold"
    assert segment.predicate(make_profile({"plan": "gold"}), NOW)
