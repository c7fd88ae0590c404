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


# -- numbers: utils.rb to_number and apply_operation --------------------------------------------
@pytest.mark.parametrize(("template", "expected"), [
    # round: `Utils.to_number(input).round(n)`, a BigDecimal rounding half up (away from zero); `.to_i` when n == 0
    ("{{ 2.5 | round }}", "3"), ("{{ -2.5 | round }}", "-3"), ("{{ 0.5 | round }}", "1"), ("{{ 3.5 | round }}", "4"),
    ("{{ 1.005 | round: 2 }}", "1.01"), ("{{ 2.675 | round: 2 }}", "2.68"), ("{{ -2.675 | round: 2 }}", "-2.68"),
    ("{{ 3.0 | round: 2 }}", "3.0"), ("{{ 5 | round: 2 }}", "5"), ("{{ '2.5' | round }}", "3"),
    # Integer#round with negative digits rounds to tens, hundreds, half up
    ("{{ 1234 | round: -2 }}", "1200"), ("{{ 15 | round: -1 }}", "20"), ("{{ -15 | round: -1 }}", "-20"),
    # divided_by: Integer#/ floors; a decimal division is exact before `to_f` (0.3 / 0.1 is 3.0 in BigDecimal)
    ("{{ 7 | divided_by: 2 }} {{ -7 | divided_by: 2 }} {{ 7 | divided_by: 2.0 }}", "3 -4 3.5"),
    ("{{ 0.3 | divided_by: 0.1 }}", "3.0"),
    # modulo: Ruby's % takes the divisor's sign, for BigDecimal as for Integer
    ("{{ -7 | modulo: 3 }} {{ -7.5 | modulo: 2 }} {{ 7.5 | modulo: -2 }} {{ 7.5 | modulo: 2 }}", "2 0.5 -0.5 1.5"),
    ("{{ 3 | times: 1.1 }} {{ 3 | times: 2.0 }} {{ 0.1 | plus: 0.2 }} {{ 1 | minus: 0.9 }}", "3.3 6.0 0.3 0.1"),
    # to_number of text: "3.5" is a decimal, other text its leading integer (String#to_i), "1e3" is 1
    ("{{ '3.5' | plus: 1 }} {{ '3.5abc' | plus: 1 }} {{ '1e3' | plus: 0 }} {{ '+3' | plus: 0 }} {{ 'abc' | plus: 1 }}",
     "4.5 4 1 3 1"),
    ("{{ '1_000' | plus: 0 }} {{ ' 12 ' | times: 2 }} {{ '.5' | plus: 0 }}", "1000 24 0"),
    # true, nil and a missing value are not Numeric: to_number gives 0
    ("{{ true | plus: 1 }} {{ nil | plus: 1 }} {{ missing | times: 5 }}", "1 1 0"),
    ("{{ '-3' | abs }} {{ -2.5 | abs }} {{ '3.5abc' | ceil }} {{ 'abc' | floor }} {{ '-1.5' | ceil }}", "3 2.5 3 0 -1"),
    ("{{ 5 | at_least: 6.0 }} {{ 5.5 | at_most: 6 }} {{ '7' | at_most: 3 }}", "6.0 5.5 3"),
])
def test_numbers_follow_ruby(template: str, expected: str) -> None:
    assert r(template) == expected


@pytest.mark.parametrize("template", ["{{ 7 | divided_by: 0 }}", "{{ 7.0 | divided_by: 0 }}", "{{ 7 | modulo: 0.0 }}"])
def test_division_by_zero_is_a_liquid_error(template: str) -> None:
    """standardfilters.rb: `rescue ::ZeroDivisionError => e; raise Liquid::ZeroDivisionError, e.message`."""
    with pytest.raises(BrazeLiquidError, match="divided by 0"):
        r(template)


@pytest.mark.parametrize("digits", [float("nan"), float("inf"), float("-inf")])
def test_rounding_to_a_digit_count_that_is_no_number_is_a_liquid_error(digits: float) -> None:
    """standardfilters.rb `round`: `rescue ::FloatDomainError => e; raise Liquid::FloatDomainError, e.message` -
    `2.5.round(Float::NAN)` cannot make an Integer of its digits (found by the number-filter property test)."""
    with pytest.raises(BrazeLiquidError, match="integer value"):
        r("{{ 2.5 | round: d }}", {"d": digits})


def test_size_of_an_integer_is_its_bytes() -> None:
    """standardfilters.rb `size`: `input.respond_to?(:size) ? input.size : 0`; Ruby's `Integer#size` is 8."""
    assert r("{{ n | size }} {{ f | size }} {{ s | size }} {{ h | size }}", {"n": 5, "f": 1.5, "s": "abc",
                                                                            "h": {"a": 1}}) == "8 0 3 1"


# -- text: standardfilters.rb on Ruby's String ----------------------------------------------------
@pytest.mark.parametrize(("template", "expected"), [
    # split: `input.to_s.split(pattern.to_s)`; String#split drops trailing empty strings, keeps leading ones
    ("{{ 'a,b,,c,,' | split: ',' | size }}", "4"), ("{{ ',a' | split: ',' | size }}", "2"),
    ("{{ ',,' | split: ',' | size }}", "0"), ("{{ '' | split: ',' | size }}", "0"),
    # String#split(" "): awk-style, on runs of ASCII whitespace, leading whitespace ignored; "" gives characters
    ("{{ s | split: ' ' | join: '|' }}", "a|b|c"), ("{{ nbsp | split: ' ' | size }}", "1"),
    ("{{ 'abc' | split: '' | join: '|' }}", "a|b|c"),
    # truncate: `input_str[0...l].concat(truncate_string_str)` with l = length - ellipsis length, at least 0
    ("{{ 'a b' | truncate: 2 }}", "..."), ("{{ 'hello world' | truncate: 8 }}", "hello..."),
    ("{{ 'hello' | truncate: 5 }}", "hello"), ("{{ 'hello' | truncate: 3, '' }}", "hel"),
    # truncatewords: `return input if wordlist.length <= words` (spacing kept); at least one word
    ("{{ 'one two' | truncatewords: 2 }}", "one two"), ("{{ s | truncatewords: 5 }}", "  a  b\tc "),
    ("{{ 'one two three' | truncatewords: 0 }}", "one..."), ("{{ 'a  b c' | truncatewords: 2, '!' }}", "a b!"),
    # slice: String#slice(start, length), nil (so '') outside the text or for a negative length
    ("{{ 'hello' | slice: -3, 2 }}", "ll"), ("{{ 'hello' | slice: 5 }}|{{ 'hello' | slice: 1, -1 }}", "|"),
    ("{{ list | slice: 1, 5 | join: ',' }}|{{ list | slice: -1 | join: ',' }}", "b,c|c"),
    # strip: Ruby's whitespace is ASCII (and NUL): a no-break space is text
    ("{{ nbsp | strip | size }} {{ ' x ' | strip }}", "3 x"),
    # escape: CGI.escapeHTML writes ' as &#39;; escape_once leaves named and decimal entities alone
    ("{{ q | escape }}", "&quot;it&#39;s&quot; &lt;b&gt; &amp;"),
    ("{{ '&eacute; &#x41; &amp; < &#39;' | escape_once }}", "&eacute; &amp;#x41; &amp; &lt; &#39;"),
    # strip_html: STRIP_HTML_BLOCKS, then STRIP_HTML_TAGS = /<.*?>/m
    ("{{ '<script>x</script>a<!-- c -->b<style>p{}</style><p class=\"y\">c</p>' | strip_html }}", "abc"),
    ("{{ 'a < b and c > d' | strip_html }}", "a  d"),
    # replace_last: `input.rindex(string)`, so a match at the start is replaced; remove_last likewise
    ("{{ 'ab' | remove_last: 'a' }} {{ 'ab' | replace_last: 'a', 'x' }} {{ 'abc' | replace_last: '', 'x' }}",
     "b xb abcx"),
    # replace is gsub, replace_first sub: Ruby expands \0 (the match), \` (before it) and \\ in the replacement
    ("{{ 'abc' | replace: 'b', '[\\0]' }} {{ 'abc' | replace_first: 'b', '\\`' }}", "a[b]c aac"),
    # to_s of an array is its inspect form
    ("{{ list | append: '!' }} {{ mixed | upcase }}", '["a", "b", "c"]! [1, "A", NIL]'),
])
def test_text_filters_follow_ruby(template: str, expected: str) -> None:
    variables = {"s": "  a  b\tc ", "nbsp": "\u00a0x\u00a0", "list": ["a", "b", "c"], "mixed": [1, "a", None],
                 "q": "\"it's\" <b> &"}
    assert r(template, variables) == expected


def test_gsub_turns_two_backslashes_into_one() -> None:
    """Ruby's gsub replacement `\\\\` is one backslash: escaping a backslash needs four (Ruby's String#gsub docs)."""
    assert r("{{ t | replace: '\\', '\\\\' }}|{{ t | replace: '\\', '\\\\\\\\' }}", {"t": "a\\b"}) == "a\\b|a\\\\b"


@pytest.mark.parametrize(("template", "message"), [
    ("{{ 'a%ffb' | url_decode }}", "invalid byte sequence in UTF-8"),
    ("{{ 'aGk=\n' | base64_decode }}", "invalid base64 provided to base64_decode"),
    ("{{ 'hello' | truncate: 'a' }}", "invalid integer"),
    ("{{ 'hello' | truncatewords: 2.5 }}", "invalid integer"),  # Utils.to_integer: Integer("2.5") raises
])
def test_text_filter_errors_are_rubys(template: str, message: str) -> None:
    with pytest.raises(BrazeLiquidError, match=message):
        r(template)


# -- arrays: Ruby's == and <=> -------------------------------------------------------------------
ITEMS = {"mixed": [1, True, 1.0, "1", 1], "vals": [{"v": 0}, {"v": ""}, {"v": None}, {"v": False}, {"v": 1}],
         "flags": [{"v": 1}, {"v": True}, {"v": 1.0}], "names": ["b", "A", "É", "é", None, "c"],
         "nums": [None, 10, 9], "nested": [[3, [1]], 2]}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ mixed | uniq | size }}", "4"),  # uniq is by eql?: 1, true, 1.0 and "1" differ
    ("{{ vals | where: 'v' | size }}", "3"),  # truthy: everything but nil and false, so 0 and "" too
    ("{{ flags | where: 'v', true | size }} {{ flags | where: 'v', 1 | size }}", "1 2"),  # true != 1, 1 == 1.0
    ("{{ nums | sort | join: ',' }}", "9,10,"),  # nil_safe_compare: nil sorts last
    ("{{ nums | sort_natural | join: ',' }}", "10,9,"),  # casecmp of to_s: "10" before "9"
    ("{{ names | sort_natural | join: ',' }}", "A,b,c,É,é,"),  # casecmp folds ASCII letters only
    ("{{ nested | sort | join: ',' }}", "1,2,3"),  # InputIterator flattens the array first
    ("{{ vals | compact: 'v' | size }}", "4"),
    ("{{ nil | reverse | size }} {{ (1..3) | reverse | join: ',' }} {{ nested | reverse | join: ',' }}",
     "0 3,2,1 2,1,3"),
])
def test_array_filters_compare_as_ruby(template: str, expected: str) -> None:
    assert r(template, ITEMS) == expected


def test_sorting_incomparable_values_is_an_error() -> None:
    """standardfilters.rb nil_safe_compare raises Liquid::ArgumentError "cannot sort values of incompatible types"."""
    with pytest.raises(BrazeLiquidError, match="cannot sort values of incompatible types"):
        r("{{ mixed | sort }}", ITEMS)


def test_map_gives_nil_for_items_without_the_property() -> None:
    """standardfilters.rb `map`: `elsif e.respond_to?(:[])` - a text answers `[]` (nil here), nil does not (nil)."""
    assert r("{{ people | map: 'n' | join: ',' }}", {"people": [{"n": "a"}, "x", None, {"n": "b"}]}) == "a,,,b"
    assert r("{{ h | map: 'n' | join: ',' }}", {"h": {"n": "only"}}) == "only"  # a hash is one item


def test_date_leaves_a_float_alone() -> None:
    """utils.rb `to_date`: `when /\\A\\d+\\z/, Integer` reads epoch seconds; a Float matches nothing, so
    `date` returns its input."""
    assert r("{{ f | date: '%Y' }} {{ i | date: '%Y' }} {{ s | date: '%Y' }}",
             {"f": 1622740421.5, "i": 1622740421, "s": "1622740421"}) == "1622740421.5 2021 2021"


@pytest.mark.parametrize(("text", "expected"), [
    ("03/06/2021", "2021-06-03"), ("03.06.2021", "2021-06-03"), ("03-06-2021", "2021-06-03"),
    ("2021-06-03", "2021-06-03"), ("2021/06/03", "2021-06-03"), ("June 3, 2021", "2021-06-03"),
    ("12/25/2020", "12/25/2020"),  # month 25: Ruby's "invalid date", so `date` returns its input
])
def test_date_reads_text_day_first_as_ruby_does(text: str, expected: str) -> None:
    """utils.rb to_date: `Time.parse(obj)`; Ruby's Date._parse reads `31/01/2001` as 31 January and raises
    "invalid date" for `01/31/2001` (then to_date is nil and `date` returns the input)."""
    assert r("{{ s | date: '%Y-%m-%d' }}", {"s": text}) == expected


def test_join_and_concat_take_ruby_arrays() -> None:
    """InputIterator: a range joins as its numbers; `concat` "requires an array argument"."""
    assert r("{{ (1..3) | join: ',' }} {{ 'a' | concat: list | join: ',' }}", {"list": [1, None]}) == "1,2,3 a,1,"
    with pytest.raises(BrazeLiquidError, match="concat filter requires an array argument"):
        r("{{ list | concat: 'x' }}", {"list": [1]})
