"""Braze runs Shopify's Ruby Liquid 5, so filters follow Ruby where python-liquid follows Python.

Each case names the Ruby rule it holds the fake to: a line of Shopify Liquid's
`lib/liquid/standardfilters.rb` / `lib/liquid/utils.rb` (tag v5.4.0, Shopify/liquid), or Ruby's
documentation of the core method the filter calls (`Time#strftime`, `String#split`, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mocks.braze.liquid.render import BrazeLiquidError, render
from mocks.braze.liquid.strftime import strftime


def r(template: str, variables: dict[str, Any] | None = None) -> str:
    return render(template, variables or {})


# -- date: Ruby's Time#strftime ------------------------------------------------------------------
# Ruby's Time#strftime documentation works on `Time.new(2007,11,19,8,37,48,"-06:00")`; these are its
# "Various ISO 8601 formats" table and its directive examples.
RUBY_DOC_TIME = datetime(2007, 11, 19, 8, 37, 48, tzinfo=timezone(timedelta(hours=-6)))


@pytest.mark.parametrize(("pattern", "expected"), [
    ("Printed on %m/%d/%Y", "Printed on 11/19/2007"),
    ("at %I:%M%p", "at 08:37AM"),
    ("%Y%m%d", "20071119"), ("%F", "2007-11-19"), ("%Y-%m", "2007-11"), ("%C", "20"),
    ("%Y%j", "2007323"), ("%GW%V%u", "2007W471"), ("%G-W%V-%u", "2007-W47-1"),
    ("%H%M%S", "083748"), ("%T", "08:37:48"), ("%H%M%S,%L", "083748,000"), ("%T.%L", "08:37:48.000"),
    ("%H%M%S%z", "083748-0600"), ("%T%:z", "08:37:48-06:00"), ("%FT%T%:z", "2007-11-19T08:37:48-06:00"),
    ("%Y-%jT%T%:z", "2007-323T08:37:48-06:00"), ("%G-W%V-%uT%R%:z", "2007-W47-1T08:37-06:00"),
    ("%Y%jT%H%MZ", "2007323T0837Z"), ("%::z", "-06:00:00"),
    # the directive list: %e and %k pad with a space, %-d / %-m / %-l / %-I drop the padding, %P is lower case
    ("%e|%-d|%-m|%k|%-l|%-I|%P|%p", "19|19|11| 8|8|8|am|AM"),
    ("%y|%j|%U|%W|%u|%w|%a|%A|%b|%h|%B", "07|323|46|47|1|1|Mon|Monday|Nov|Nov|November"),
    # flags and widths: ^ upper case, # swap case, _ spaces, 0 zeros, a width on a word pads with spaces
    ("%^a|%^B|%#p|%10A|%-10A|%010A|%_5m|%05e|%3d", "MON|NOVEMBER|am|    Monday|Monday|0000Monday|   11|00019|019"),
    # composites: %c, %D, %x, %X, %r, %R, %v (VMS date: %e-%^b-%4Y, Ruby bug #13810), %+ (date(1))
    ("%c", "Mon Nov 19 08:37:48 2007"), ("%D|%x|%X|%r|%R", "11/19/07|11/19/07|08:37:48|08:37:48 AM|08:37"),
    ("%v", "19-NOV-2007"), ("%+", "Mon Nov 19 08:37:48  2007"),
    ("%s", "1195483068"), ("%Q", "1195483068000"), ("%%|%n|%t", "%|\n|\t"),
    # E and O modifiers are accepted and ignored; what Ruby does not know is written as it stands
    ("%Ec|%Oy|%Eq|%K|%:y|100%", "Mon Nov 19 08:37:48 2007|07|%Eq|%K|%:y|100%"),
])
def test_strftime_matches_rubys_documentation(pattern: str, expected: str) -> None:
    assert strftime(RUBY_DOC_TIME, pattern) == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ("%L", "123"), ("%3N", "123"), ("%6N", "123456"), ("%9N", "123456000"), ("%N", "123456000"),
    ("%12N", "123456000000"), ("%6L", "123456"),
])
def test_fractional_seconds_are_cut_to_the_width_in_digits(pattern: str, expected: str) -> None:
    """Time#strftime: `%L` milliseconds, `%N` nanoseconds by default; the width is the number of digits, and
    digits are cut, not rounded (`%3N` of .123456 is 123)."""
    assert strftime(datetime(2021, 6, 3, 17, 13, 41, 123456, tzinfo=UTC), pattern) == expected


@pytest.mark.parametrize(("zone", "expected"), [
    (UTC, "UTC +0000 +00:00"),
    (timezone(timedelta(hours=9)), " +0900 +09:00"),  # a bare offset has no zone name in Ruby
    (timezone(timedelta(hours=-3, minutes=-30)), " -0330 -03:30"),
])
def test_zone_name_and_offsets(zone: timezone, expected: str) -> None:
    assert strftime(datetime(2021, 1, 1, tzinfo=zone), "%Z %z %:z") == expected


def test_date_filter_uses_ruby_strftime() -> None:
    """standardfilters.rb `date`: `date.strftime(format.to_s)`, Ruby's directives, not the C library's."""
    when = {"t": datetime(2021, 6, 3, 7, 5, 9, 250000, tzinfo=UTC)}
    assert r("{{ t | date: '%-d/%-m %e %l%P %L %:z %s' }}", when) == "3/6  3  7am 250 +00:00 1622703909"
    assert r("{{ '2021-06-03T17:13:41.5+09:00' | date: '%H:%M:%S.%L %::z %v' }}") == \
        "17:13:41.500 +09:00:00  3-JUN-2021"


def test_a_huge_strftime_width_is_a_liquid_error_not_a_gigabyte() -> None:
    with pytest.raises(BrazeLiquidError, match="width"):
        r("{{ 'now' | date: '%999999999d' }}")
