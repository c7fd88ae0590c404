"""Braze's filter set, and values printed the way Braze prints them.

Braze runs Shopify's Ruby Liquid, so output follows Ruby: nil prints as nothing, true as `true`, an
array as its items run together, a hash in Ruby's `inspect` form (`{"a"=>1}`), a time as
`2021-06-03 17:13:41 UTC`. python-liquid would print Python's forms (`None`, `{'a': 1}`), so output and
the string filters go through `to_output` here. Times come from the render's clock, never the wall
clock, so a simulated send formats the simulated `now`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from datetime import time as dt_time
from decimal import Decimal
from functools import wraps
from typing import Any

from dateutil import parser as date_parser
from liquid.exceptions import FilterArgumentError
from liquid.filter import decimal_arg, with_context
from liquid.undefined import Undefined

from mocks.braze.liquid.math_filters import MATH_FILTERS
from mocks.braze.liquid.strftime import strftime

# python-liquid filters Braze lacks: `lstrip`/`rstrip` are marked unsupported in Braze's filter table,
# `safe`/`escapejs`/`squish` are not Shopify Liquid, and the rest arrived after Liquid 5.4.
_REMOVED = frozenset({"lstrip", "rstrip", "safe", "escapejs", "squish", "find", "find_index", "has", "reject",
                      "sum"})
UNSUPPORTED_FILTERS = _REMOVED | {"camelcase", "handle", "handleize", "pluralize", "money_with_currency",
                                  "money_without_currency", "format_address", "highlight"}

# String filters whose input (and arguments) Ruby turns into text before working on it; the others Ruby runs
# differently are rewritten in mocks.braze.liquid.string_filters.
_RUBY_STRING_FILTERS = ("append", "prepend", "capitalize", "downcase", "upcase", "newline_to_br", "strip_newlines",
                        "url_encode", "base64_encode", "base64_url_safe_encode")

# Ruby's URI.escape leaves unreserved and reserved URL characters alone; quote() always keeps `_.-~`.
_URL_SAFE = "!*'();:@&=+$,/?[]"
_NUMBER = re.compile(r"(-?)(\d+)(\.\d+)?")
_RUBY_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f",
                               "\v": "\\v", "\b": "\\b", "\a": "\\a", "\x1b": "\\e", "\x7f": "\\x7F",
                               **{chr(c): f"\\u{c:04X}" for c in range(32) if chr(c) not in "\n\t\r\f\v\b\a\x1b"}})
_RUBY_INTERPOLATION = re.compile(r"#(?=[{$@])")
# Ruby's Date._parse reads `03/06/2021`, `03.06.2021` and `03-06-2021` day first (dateutil reads them month first).
_DAY_MONTH_YEAR = re.compile(r"(?P<day>\d{1,2})[/.-](?P<month>\d{1,2})[/.-]\d{2,4}(?!\d)")


def to_output(value: Any) -> str:
    """`value` as Braze writes it into a message."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ruby_float(value)
    if isinstance(value, list | tuple):
        return "".join(to_output(item) for item in value)
    if isinstance(value, Mapping):
        return ruby_inspect(value)
    if isinstance(value, datetime):
        return ruby_time(value)
    if isinstance(value, range):
        return f"{value.start}..{value.stop - 1}"
    return str(value)


def to_s(value: Any) -> str:
    """Ruby's `to_s`, which the string filters call on their input: as `to_output`, except that an array is
    written in its `inspect` form (`["a", nil]`), not run together."""
    return ruby_inspect(value) if isinstance(value, list | tuple) else to_output(value)


def ruby_inspect(value: Any) -> str:
    """Ruby's `inspect` (before Ruby 3.4): how a hash, and everything inside one, prints."""
    if value is None or isinstance(value, Undefined):
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ruby_float(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{ruby_inspect(k)}=>{ruby_inspect(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(ruby_inspect(item) for item in value) + "]"
    if isinstance(value, datetime):
        return ruby_time(value)
    text = value if isinstance(value, str) else str(value)
    return '"' + _RUBY_INTERPOLATION.sub(r"\\#", text.translate(_RUBY_ESCAPES)) + '"'


def ruby_float(value: float) -> str:
    """Ruby's `Float#to_s`: `1.0`, `1.0e+20`, `NaN`, `Infinity`."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').rjust(2, '0')}"


def ruby_time(value: datetime) -> str:
    """Ruby's `Time#to_s`: `2021-06-03 17:13:41 UTC`, or the offset (`-0700`) outside UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    offset = value.utcoffset()
    zone = "UTC" if not offset else value.strftime("%z")
    return value.strftime("%Y-%m-%d %H:%M:%S ") + zone


def _ruby_strings(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a python-liquid string filter so nil, booleans, hashes and times reach it as Ruby text."""

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, bool | Mapping | list | tuple | datetime | date):
            return to_s(value)
        return value

    @wraps(func)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        return func(convert(value), *(convert(arg) for arg in args), **kwargs)

    return wrapper


def _bytes(value: Any) -> bytes:
    return to_output(value).encode("utf-8")


def md5(value: Any) -> str:
    return hashlib.md5(_bytes(value)).hexdigest()


def sha1(value: Any) -> str:
    return hashlib.sha1(_bytes(value)).hexdigest()


def sha2(value: Any) -> str:
    return hashlib.sha256(_bytes(value)).hexdigest()


def _hmac(digest: str, encoding: str) -> Callable[[Any, Any], str]:
    def sign(value: Any, key: Any) -> str:
        mac = hmac.new(_bytes(key), _bytes(value), digest)
        return mac.hexdigest() if encoding == "hex" else base64.b64encode(mac.digest()).decode("ascii")

    return sign


def base64_filter(value: Any) -> str:
    return base64.b64encode(_bytes(value)).decode("ascii")


def url_escape(value: Any) -> str:
    return urllib.parse.quote(to_output(value), safe=_URL_SAFE)


def url_param_escape(value: Any) -> str:
    return urllib.parse.quote(to_output(value), safe="")


def property_accessor(value: Any, key: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    try:
        return value[key]
    except (KeyError, TypeError):
        return None


def number_with_delimiter(value: Any) -> str:
    """Commas between thousands of the whole part: 1234567.891 -> "1,234,567.891"; other input unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    text = to_output(value)
    match = _NUMBER.fullmatch(text)
    if match is None:
        return text
    sign, whole, fraction = match.groups()
    return f"{sign}{int(whole):,}{fraction or ''}"


def json_escape(value: Any) -> str:
    """Text safe between the quotes of a JSON string."""
    return json.dumps(to_output(value), ensure_ascii=False)[1:-1]


def json_parse(value: Any) -> Any:
    try:
        return json.loads(to_output(value))
    except (ValueError, RecursionError) as exc:
        raise FilterArgumentError(f"json_parse: not valid JSON ({exc})", token=None) from exc


def as_json_string(value: Any) -> str:
    if isinstance(value, Undefined):
        return "null"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=to_output)


def money(value: Any) -> str:
    """Braze's `money`: two decimal places and no currency symbol (145 -> "145.00")."""
    return f"{decimal_arg(value, default=0):.2f}"


def to_datetime(value: Any, now: datetime) -> datetime | None:
    """A time from what a template holds: a datetime, a date, epoch seconds, text, or "now"."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime.combine(value, dt_time.min, UTC)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("now", "today"):
            return now
        if not (text.isascii() and text.isdigit()):
            day_first = _DAY_MONTH_YEAR.match(text)
            if day_first is not None and not (1 <= int(day_first["month"]) <= 12 and 1 <= int(day_first["day"]) <= 31):
                return None  # Ruby reads 12/25/2020 as day 12 of month 25: an invalid date, so no time
            try:
                parsed = date_parser.parse(text, default=now.replace(hour=0, minute=0, second=0, microsecond=0),
                                           dayfirst=day_first is not None)
            except (ValueError, OverflowError):
                return None
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        value = int(text)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None


@with_context
def date_filter(value: Any, fmt: Any = None, *, context: Any) -> Any:
    """Liquid's `date`, on the render's clock, formatted by Ruby's `Time#strftime` (`%L`, `%-d`, `%:z`...)."""
    if fmt is None or isinstance(fmt, Undefined) or to_output(fmt) == "" or to_output(value) == "":
        return value
    if isinstance(value, float):  # utils.rb to_date reads an Integer or digits as epoch seconds, never a Float
        return value
    when = to_datetime(value, context.braze.now())
    if when is None:
        return value
    try:
        return strftime(when, to_output(fmt))
    except ValueError as exc:
        raise FilterArgumentError(f"date: {exc}", token=None) from exc


@with_context
def time_zone(value: Any, zone: Any, *, context: Any) -> Any:
    """The same instant in time zone `zone` (an IANA name); an unknown zone leaves it in UTC."""
    when = to_datetime(value, context.braze.now())
    if when is None:
        return value
    try:
        return when.astimezone(zoneinfo.ZoneInfo(to_output(zone)))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return when.astimezone(UTC)


BRAZE_FILTERS: dict[str, Callable[..., Any]] = {
    "md5": md5, "sha1": sha1, "sha2": sha2, "base64": base64_filter,
    "hmac_sha1": _hmac("sha1", "hex"), "hmac_sha1_hex": _hmac("sha1", "hex"),
    "hmac_sha1_base64": _hmac("sha1", "base64"), "hmac_sha256": _hmac("sha256", "hex"),
    "hmac_sha256_hex": _hmac("sha256", "hex"), "hmac_sha256_base64": _hmac("sha256", "base64"),
    "hmac_sha512": _hmac("sha512", "hex"),
    "url_escape": url_escape, "url_param_escape": url_param_escape, "property_accessor": property_accessor,
    "number_with_delimiter": number_with_delimiter, "json_escape": json_escape, "json_parse": json_parse,
    "as_json_string": as_json_string, "money": money, "date": date_filter, "time_zone": time_zone,
}


def install(filters: dict[str, Callable[..., Any]]) -> None:
    """Turn python-liquid's filter register into Braze's."""
    for name in _REMOVED:
        del filters[name]
    for name in _RUBY_STRING_FILTERS:
        filters[name] = _ruby_strings(filters[name])
    filters.update(MATH_FILTERS)
    filters.update(BRAZE_FILTERS)
