"""Properties of the GET endpoints' time parameter (`mocks/braze/rest/query.py`): `ending_at`, `starting_at`,
`end_time` are ISO 8601 (braze-docs `export/campaigns/get_campaign_analytics.md`, whose examples write offsets
as `-5:00`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from mocks.braze.rest.query import read_time

MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(MOMENTS, OFFSETS)
def test_an_iso_time_is_its_instant(moment, offset):
    aware = moment.replace(tzinfo=offset)
    text = aware.isoformat()
    assert read_time(text) == aware.astimezone(UTC)
    assert read_time(text.replace("+", " ")) == aware.astimezone(UTC)  # an unescaped "+" in a query string


@given(MOMENTS, st.integers(min_value=-9, max_value=9))
def test_a_one_digit_hour_offset_is_read(moment, hours):
    sign = "-" if hours < 0 else "+"
    text = moment.replace(microsecond=0).isoformat() + f"{sign}{abs(hours)}:00"
    assert read_time(text) == moment.replace(microsecond=0, tzinfo=UTC) - timedelta(hours=hours)


@given(MOMENTS)
def test_no_offset_is_utc(moment):
    assert read_time(moment.isoformat()) == moment.replace(tzinfo=UTC)


@given(st.text())
def test_any_text_is_a_time_or_none(text):
    parsed = read_time(text)
    assert parsed is None or parsed.tzinfo is UTC
