"""Properties of the `schedule` object's parser and of local-time waves (`engagement/schedules.py`).

`_docs/_api/objects_filters/schedule_object.md`: `time` is ISO 8601 in UTC unless it carries an offset; with
`in_local_time` it is a wall-clock time without designator, sent when it comes in each user's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocks.braze.engagement.schedules import When, local_instant, local_waves, parse_when, plan
from mocks.braze.rest.errors import BrazeError
from mocks.braze.users.values import time_zones

MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
ZONES = st.sampled_from(sorted(time_zones()))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=5)


@given(MOMENTS, OFFSETS)
def test_a_time_with_an_offset_is_that_instant(moment, offset):
    aware = moment.replace(tzinfo=offset)
    when = parse_when({"time": aware.isoformat()})
    assert (when.local, when.time) == (False, aware.astimezone(UTC))


@given(MOMENTS)
def test_a_time_without_designator_is_utc_or_wall_clock(moment):
    assert parse_when({"time": moment.isoformat()}).time == moment.replace(tzinfo=UTC)
    local = parse_when({"time": moment.isoformat(), "in_local_time": True})
    assert (local.local, local.time) == (True, moment)


@given(st.one_of(JSON, st.dictionaries(st.sampled_from(["time", "in_local_time", "at_optimal_time"]), JSON)))
def test_anything_else_is_a_400_never_a_crash(value):
    try:
        parse_when(value)
    except BrazeError as exc:
        assert exc.status == 400


@given(MOMENTS, ZONES)
def test_every_zone_has_its_wave(wall, zone):
    """Whatever a user's zone, one wave is the instant the wall time comes there: nobody is left out."""
    assert local_instant(wall, ZoneInfo(zone)) in local_waves(wall)


@given(MOMENTS, st.integers(min_value=-10**7, max_value=90 * 86400))
def test_a_utc_schedule_fires_once_at_its_time_or_at_once(moment, ahead):
    now = moment.replace(tzinfo=UTC)
    time = now + timedelta(seconds=ahead)
    assert plan(When(time, False), now) == [max(time, now)]


@given(MOMENTS, st.integers(min_value=1, max_value=10**7))
def test_beyond_ninety_days_is_refused(moment, beyond):
    now = moment.replace(tzinfo=UTC)
    with pytest.raises(BrazeError):
        plan(When(now + timedelta(days=90, seconds=beyond), False), now)


@given(MOMENTS, st.integers(min_value=-3 * 86400, max_value=3 * 86400))
def test_local_waves_are_the_future_ones(wall, shift):
    now = wall.replace(tzinfo=UTC) + timedelta(seconds=shift)
    every = local_waves(wall)
    try:
        waves = plan(When(wall, True), now)
    except BrazeError:
        assert max(every) < now  # passed in all time zones
    else:
        assert waves == [w for w in every if w >= now]
