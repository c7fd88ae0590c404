"""Properties of the Braze Liquid renderer: `${}` names resolve whatever they hold, arbitrary user data never
crashes a template (it renders, aborts, or fails as a Liquid error), and the encoding filters agree with
the standard library."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import string
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.braze.liquid.render import AbortMessage, BrazeLiquidError, render
from mocks.braze.liquid.strftime import strftime

SETTINGS = settings(max_examples=100, deadline=None)

names = st.text(alphabet=string.ascii_letters + string.digits + " _", min_size=1, max_size=30)
# Anything but `}`, which ends a `${...}` reference: quotes, brackets, `%`, `{`, newlines.
odd_names = st.text(alphabet=st.characters(exclude_characters="}", exclude_categories=("Cs",)), max_size=20)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
namespaces = st.dictionaries(st.sampled_from(["items", "profile", "score", "Favorite Color", "name", "when", "vip"])
                             | st.text(max_size=8), values, max_size=6)

TEMPLATES = [
    "Hi {{${first_name} | default: 'there'}} {{${last_name}}}!",
    "{{custom_attribute.${Favorite Color}}}|{{custom_attribute}}|{{custom_attribute.${items}[0]}}",
    "{% if ${first_name} == blank %}b{% elsif ${first_name} == null %}n{% else %}{{${first_name} | upcase}}{% endif %}",
    "{% for item in custom_attribute.${items} limit:3 %}{{ item.name | append: '!' }}{{ item }}{% endfor %}",
    "{{ custom_attribute.${items} | join: ',' }} {{ custom_attribute.${items} | size }}"
    " {{ custom_attribute.${items} | first }}",
    "{{ custom_attribute.${score} | plus: 1 | times: 2 }} {{ custom_attribute.${score} | number_with_delimiter }}",
    "{% if custom_attribute.${score} > 10 %}high{% endif %}{{ custom_attribute.${score} | money }}",
    "{{ custom_attribute.${profile} | property_accessor: 'name' }} {{ custom_attribute.${profile} | as_json_string }}",
    '{"to": "{{ custom_attribute.${name} | json_escape }}",'
    ' "c": "{{ api_trigger_properties.${coupon} | url_escape }}"}',
    "{{ event_properties.${when} | date: '%Y-%m-%d %s' }} {{ event_properties.${when} | time_zone: ${time_zone} }}",
    "{{ custom_attribute.${name} | md5 }} {{ custom_attribute.${name} | sha2 }} {{ custom_attribute.${name} | base64 }}"
    " {{ custom_attribute.${name} | truncate: 5 }} {{ custom_attribute.${name} | split: 'a' | sort | join: '+' }}",
    "{% case context.${score} %}{% when 1 %}one{% when 'x' %}x{% else %}{{ context.${score} | divided_by: 3 }}"
    "{% endcase %}",
    "{% assign total = custom_attribute.${score} | plus: context.${score} %}{% capture s %}{{ total }}{% endcapture %}"
    "{% unless s == blank %}{{ s | strip }}{% endunless %}",
    "{% if custom_attribute.${vip} %}{% abort_message('vip') %}{% endif %}"
    "{{ custom_attribute.${items} | map: 'name' }}",
    "{{ custom_attribute.${items} | where: 'name', 'x' | compact | uniq | reverse | last }}",
    "{{ custom_attribute.${name} | json_parse | as_json_string }}",
    "{{ custom_attribute.${score} | round: 2 }} {{ custom_attribute.${score} | modulo: 3 }}"
    " {{ event_properties.${when} | date: '%L %:z %v %-d %10A %s' }}",
    "{{ custom_attribute.${items} | sort_natural | uniq | join: ',' }} {{ custom_attribute.${items} | sort | size }}"
    " {{ custom_attribute.${items} | where: 'name' | map: 'name' | compact: 'name' | size }}",
    "{{ custom_attribute.${name} | escape_once | strip_html | truncatewords: 3 | replace: 'a', '\\0\\\\'"
    " | slice: -2, 5 }} {{ custom_attribute.${name} | split: ' ' | size }}",
]


def ok(template: str, variables: dict[str, Any]) -> str | None:
    try:
        return render(template, variables)
    except (AbortMessage, BrazeLiquidError):
        return None


@SETTINGS
@given(name=names, value=st.text())
def test_dollar_reference_renders_the_attribute(name, value):
    assert render("{{custom_attribute.${" + name + "}}}", {"custom_attribute": {name: value}}) == value
    assert render("[{{ event_properties.${" + name + "} }}]", {"event_properties": {name: value}}) == f"[{value}]"


@SETTINGS
@given(name=odd_names, value=st.text(alphabet=string.ascii_letters, max_size=10))
def test_any_name_without_a_closing_brace_resolves(name, value):
    template = "{% if custom_attribute.${" + name + "} != blank %}{{custom_attribute.${" + name + "}}}{% endif %}"
    assert render(template, {"custom_attribute": {name: value}}) == value


@SETTINGS
@given(first=values, last=values, custom=namespaces, context=namespaces, events=namespaces,
       trigger=namespaces, zone=st.sampled_from(["UTC", "Europe/Berlin", "Nowhere/Else", ""]) | values)
def test_random_user_data_never_crashes_the_renderer(first, last, custom, context, events, trigger, zone):
    variables = {"first_name": first, "last_name": last, "time_zone": zone, "custom_attribute": custom,
                 "context": context, "event_properties": events, "api_trigger_properties": trigger}
    for template in TEMPLATES:
        result = ok(template, variables)
        assert result is None or isinstance(result, str)


@SETTINGS
@given(text=st.text())
def test_hash_and_encoding_filters_agree_with_the_standard_library(text):
    data = text.encode("utf-8")
    out = render("{{ v | md5 }} {{ v | sha1 }} {{ v | sha2 }} {{ v | base64 }}", {"v": text}).split(" ")
    assert out == [hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest(),
                   base64.b64encode(data).decode("ascii")]


@SETTINGS
@given(text=st.text())
def test_url_escapes_agree_with_urllib_and_round_trip(text):
    escaped = render("{{ v | url_escape }}", {"v": text})
    assert escaped == urllib.parse.quote(text, safe="!*'();:@&=+$,/?[]")
    assert urllib.parse.unquote(escaped) == text
    assert not set(escaped) & set(' "<>\\^`{|}#')
    param = render("{{ v | url_param_escape }}", {"v": text})
    assert param == urllib.parse.quote(text, safe="")
    assert urllib.parse.unquote(param) == text


@SETTINGS
@given(n=st.integers())
def test_number_with_delimiter_agrees_with_python_grouping(n):
    assert render("{{ n | number_with_delimiter }}", {"n": n}) == f"{n:,}"
    assert render("{{ n | number_with_delimiter }}", {"n": str(n)}) == f"{n:,}"


@SETTINGS
@given(text=st.text())
def test_json_escape_embeds_in_a_json_string(text):
    body = render('{"name": "{{ v | json_escape }}"}', {"v": text})
    assert json.loads(body) == {"name": text}


# -- Ruby's Time#strftime (mocks.braze.liquid.strftime) ------------------------------------------
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets | st.just(UTC))
# Directives Python's C-library strftime writes as Ruby does (on glibc, in the C locale).
PORTABLE = "%Y %m %d %H %M %S %j %a %A %b %B %y %U %W %G %V %u %w %p %I %C %%"


@SETTINGS
@given(when=times)
def test_epoch_seconds_round_trip(when):
    """`%s` is the Unix time of the instant, whatever the zone: Time.at(t.strftime('%s').to_i) == t (to the second)."""
    seconds = int(strftime(when, "%s"))
    assert datetime.fromtimestamp(seconds, UTC) == when.replace(microsecond=0)
    assert int(strftime(when, "%Q")) == seconds * 1000 + when.microsecond // 1000


@SETTINGS
@given(when=times, digits=st.integers(min_value=1, max_value=30))
def test_fractions_have_the_width_in_digits(when, digits):
    assert strftime(when, "%L") == f"{when.microsecond // 1000:03d}"
    fraction = strftime(when, f"%{digits}N")
    assert len(fraction) == digits and fraction.isdigit()
    assert (fraction + "0" * 6)[:6] == f"{when.microsecond:06d}" or digits < 6


@SETTINGS
@given(when=times)
def test_portable_directives_agree_with_python(when):
    assert strftime(when, PORTABLE) == when.strftime(PORTABLE)


@SETTINGS
@given(when=times, width=st.integers(min_value=1, max_value=40), conversion=st.sampled_from("YmdeHkIlMSjyCuwUWGgVsQ"))
def test_number_flags_pad_as_ruby_describes(when, width, conversion):
    """`-` drops the padding, a width pads to at least that many characters, `_` with spaces and `0` with
    zeros (a leading 0 is the flag, as in Ruby, so widths start at 1)."""
    bare = strftime(when, f"%-{conversion}")
    assert bare == str(int(strftime(when, f"%{conversion}")))
    assert strftime(when, f"%_{width}{conversion}") == bare.rjust(width)
    assert strftime(when, f"%0{width}{conversion}") == bare.rjust(width, "0")


@SETTINGS
@given(when=times, width=st.integers(min_value=1, max_value=40), conversion=st.sampled_from("AaBbhpPZ"))
def test_word_flags_pad_and_case_as_ruby_describes(when, width, conversion):
    plain = strftime(when, f"%{conversion}")
    assert strftime(when, f"%^{conversion}") == plain.upper()
    assert strftime(when, f"%{width}{conversion}") == plain.rjust(width)
    assert strftime(when, f"%^{width}{conversion}") == plain.upper().rjust(width)


@SETTINGS
@given(when=times, colons=st.integers(min_value=0, max_value=2))
def test_offsets_read_back_as_the_offset(when, colons):
    text = strftime(when, "%" + ":" * colons + "z")
    sign = -1 if text[0] == "-" else 1
    parts = [int(part) for part in (text[1:].split(":") if colons else (text[1:3], text[3:]))]
    assert sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2] if colons == 2 else 0) == \
        when.utcoffset()


# -- Ruby numbers (mocks.braze.liquid.math_filters) ----------------------------------------------
decimals = st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(value=decimals, places=st.integers(min_value=0, max_value=3))
def test_round_is_symmetric_and_sends_halves_away_from_zero(value, places):
    """BigDecimal's ROUND_HALF_UP: round(-x) is -round(x), and a value exactly halfway goes away from zero."""
    out = render("{{ v | round: p }}|{{ w | round: p }}", {"v": float(value), "w": float(-value), "p": places})
    up, down = (Decimal(part) for part in out.split("|"))
    assert up == -down
    step = Decimal(1).scaleb(-places)
    assert abs(up - value) <= step / 2
    if abs(up - value) == step / 2:
        assert abs(up) > abs(value)


@SETTINGS
@given(left=st.integers(-10**6, 10**6), right=st.integers(-10**6, 10**6).filter(bool))
def test_integer_division_and_modulo_floor_as_ruby_does(left, right):
    quotient, remainder = (int(part) for part in
                           render("{{ a | divided_by: b }}|{{ a | modulo: b }}", {"a": left, "b": right}).split("|"))
    assert quotient * right + remainder == left
    assert remainder == 0 or (remainder < 0) == (right < 0)


@SETTINGS
@given(left=decimals, right=decimals.filter(bool))
def test_decimal_modulo_takes_the_divisors_sign(left, right):
    remainder = Decimal(render("{{ a | modulo: b }}", {"a": float(left), "b": float(right)}))
    assert abs(remainder) < abs(right)
    assert remainder == 0 or (remainder < 0) == (right < 0)


# -- Ruby's String#split (mocks.braze.liquid.string_filters) -------------------------------------
@SETTINGS
@given(text=st.text(alphabet="ab,; \t\n\u00a0", max_size=30), separator=st.sampled_from([",", ";", "ab", ", "]))
def test_split_then_join_gives_back_the_text_without_trailing_separators(text, separator):
    parts = json.loads(render("{{ t | split: s | as_json_string }}", {"t": text, "s": separator}))
    assert parts[-1:] != [""]
    rebuilt = separator.join(parts)
    assert text.startswith(rebuilt)
    assert set(text[len(rebuilt):].split(separator)) <= {""}


@SETTINGS
@given(text=st.text(alphabet="ab \t\n\r\v\f\u00a0\u2003", max_size=30))
def test_split_on_a_space_splits_on_ascii_whitespace_runs(text):
    parts = json.loads(render("{{ t | split: ' ' | as_json_string }}", {"t": text}))
    assert parts == [part for part in re.split(r"[ \t\n\r\v\f]+", text) if part]
    assert all(part for part in parts)


NUMBER_FILTERS = ("plus", "minus", "times", "divided_by", "modulo", "round", "at_least", "at_most")
numbers_or_text = st.floats() | st.integers() | st.text(max_size=12) | st.none() | st.booleans() | decimals.map(str)


@SETTINGS
@given(left=numbers_or_text, right=numbers_or_text, name=st.sampled_from(NUMBER_FILTERS))
def test_number_filters_answer_any_input_with_a_number_or_a_liquid_error(left, right, name):
    """NaN, Infinity, text and nil go through Ruby's to_number: the answer prints as a Ruby number, or the render
    fails as a Liquid error (division by zero), never as a Python exception."""
    try:
        out = render(f"{{{{ a | {name}: b }}}}|{{{{ a | abs }}}}|{{{{ a | ceil }}}}", {"a": left, "b": right})
    except BrazeLiquidError as exc:
        assert "divided by 0" in str(exc) or "integer value" in str(exc) or "cannot be rounded" in str(exc)
        return
    for part in out.split("|"):
        assert part in ("NaN", "Infinity", "-Infinity") or re.fullmatch(r"-?\d+(\.\d+(e[+-]\d+)?)?", part), out


@SETTINGS
@given(text=st.text(max_size=30), length=st.integers(min_value=0, max_value=40), ellipsis=st.text(max_size=5))
def test_truncate_fits_the_length_with_the_ellipsis(text, length, ellipsis):
    """standardfilters.rb truncate: the text when it fits, else `input[0...l] + ellipsis` with l = length - ellipsis."""
    out = render("{{ t | truncate: n, e }}", {"t": text, "n": length, "e": ellipsis})
    if len(text) <= length:
        assert out == text
    else:
        assert out.endswith(ellipsis) and text.startswith(out[:len(out) - len(ellipsis)])
        assert len(out) == max(length, len(ellipsis))


@SETTINGS
@given(words=st.lists(st.text(alphabet="ab", min_size=1, max_size=4), max_size=8), count=st.integers(1, 10),
       gaps=st.sampled_from([" ", "  ", "\t", " \n "]))
def test_truncatewords_keeps_the_input_when_it_fits(words, count, gaps):
    text = gaps + gaps.join(words)
    out = render("{{ t | truncatewords: n }}", {"t": text, "n": count})
    assert out == (text if len(words) <= count else " ".join(words[:count]) + "...")
