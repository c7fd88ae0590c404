"""Validation of Braze's default profile fields and of attribute and property values.

Each check returns the cleaned value or raises `InvalidValue` with the reason Braze would give;
`/users/track` turns that into a per-object error and goes on with the rest of the request.
"""

from __future__ import annotations

import json
import math
import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache, lru_cache
from typing import Any

import pycountry

from mocks.braze.users.rails_time_zones import RAILS_TIME_ZONES

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()\-.]{3,32}$")
ISO_TIME_HINT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# Ruby's Time#to_s, what Ruby clients send for a time (braze_ruby's recorded 201s: "2019-02-15 00:00:00 -0500");
# a UTC time prints its zone as "UTC"
RUBY_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) (?:([+-])([01]\d|2[0-3])([0-5]\d)|UTC)$")
SUBSCRIPTION_STATES = ("opted_in", "subscribed", "unsubscribed")
GENDERS = ("M", "F", "O", "N", "P")
MAX_STRING = 255
SOCIAL_FIELDS = {  # `user_attributes_object.md`: the keys of each hash and their types
    "facebook": {"id": "string", "likes": "strings", "num_friends": "integer"},
    "twitter": {"id": "integer", "screen_name": "string", "followers_count": "integer", "friends_count": "integer",
                "statuses_count": "integer"},
}
MAX_INT = 2**63
MAX_EVENT_PROPERTIES_BYTES = 100 * 1024


class InvalidValue(ValueError):
    pass


@cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def languages() -> frozenset[str]:
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@cache
def currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_time(value: Any, field: str = "time") -> datetime:
    """An ISO-8601 string, or Ruby's `2019-02-15 00:00:00 -0500`, as an aware UTC datetime (naive means UTC,
    as Braze reads it)."""
    if not isinstance(value, str):
        raise InvalidValue(f"'{field}' must be an ISO-8601 string")
    text = value.strip()
    try:
        if " " in text.partition(" ")[2]:  # date, time and zone apart: Ruby's form, or nothing (not ISO's)
            ruby = RUBY_TIME.match(text)
            if ruby is None:
                raise ValueError(text)
            return _ruby_time(ruby).astimezone(UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset pushing year 1 or 9999 off the calendar
        raise InvalidValue(f"'{field}' is not a valid ISO-8601 time: {value!r}") from None


def _ruby_time(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    sign, hours, minutes = match.group(7), match.group(8), match.group(9)
    offset = timedelta(hours=int(hours), minutes=int(minutes)) if sign else timedelta(0)
    zone = timezone(-offset if sign == "-" else offset)
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def id_string(value: Any) -> Any:
    """A JSON integer where Braze expects an id string (`external_id`, `product_id`) is read as its decimal form,
    as braze_ruby's recorded 201 for `"external_id": 1, "product_id": 1` shows. Anything else is returned as
    it came, for the caller to refuse: the docs type these fields as strings, and a float, a boolean or an
    object has no one string form Braze documents (1.5 or 1.50, true or "true")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """Braze's "best effort to map countries received in different formats" (`user_attributes_object.md`):
    an ISO-3166-1 alpha-2 or alpha-3 code, the numeric code or the English name (any case) gives the alpha-2
    code; pycountry's exact lookup, no guessing, so a value it does not know is None."""
    try:
        return pycountry.countries.lookup(value.strip()).alpha_2
    except LookupError:
        return None


def time_zone(value: str) -> str | None:
    """An IANA name as given, or the IANA name of a Rails zone name (`Eastern Time (US & Canada)`); else None."""
    if value in time_zones():
        return value
    return RAILS_TIME_ZONES.get(value)


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"'{name}' must be a string")
    if len(value) > MAX_STRING:
        raise InvalidValue(f"'{name}' is longer than {MAX_STRING} characters")
    return value


def default_attribute(name: str, value: Any) -> Any:
    """Validate one default profile field; None (null) clears it."""
    if value is None:
        return None
    if name in ("first_name", "last_name", "home_city", "bio", "image_url"):
        return _string(name, value)
    if name == "email":
        if not isinstance(value, str) or not EMAIL.match(value):
            raise InvalidValue(f"'email' is not a valid email address: {value!r}")
        return value
    if name == "phone":
        if not isinstance(value, str) or not PHONE.match(value):
            raise InvalidValue(f"'phone' is not a valid phone number: {value!r}")
        return value
    if name == "dob":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise InvalidValue("'dob' must be a date as YYYY-MM-DD")
        try:
            date.fromisoformat(value)
        except ValueError:
            raise InvalidValue(f"'dob' is not a valid date: {value!r}") from None
        return value
    if name == "gender":
        if value not in GENDERS:
            raise InvalidValue(f"'gender' must be one of {', '.join(GENDERS)}")
        return value
    if name == "country":
        code = country_code(value) if isinstance(value, str) else None
        if code is None:
            raise InvalidValue(f"'country' must be an ISO-3166-1 alpha-2 code or a country's name: {value!r}")
        return code
    if name == "language":
        if not isinstance(value, str) or value.lower() not in languages():
            raise InvalidValue(f"'language' must be an ISO-639-1 code: {value!r}")
        return value.lower()
    if name == "time_zone":
        zone = time_zone(value) if isinstance(value, str) else None
        if zone is None:
            raise InvalidValue(f"'time_zone' must be an IANA or Rails time zone name: {value!r}")
        return zone
    if name in ("email_subscribe", "push_subscribe"):
        if value not in SUBSCRIPTION_STATES:
            raise InvalidValue(f"'{name}' must be one of {', '.join(SUBSCRIPTION_STATES)}")
        return value
    if name in ("date_of_first_session", "date_of_last_session"):
        return parse_time(value, name)
    if name in ("email_open_tracking_disabled", "email_click_tracking_disabled"):
        if not isinstance(value, bool):
            raise InvalidValue(f"'{name}' must be true or false")
        return value
    if name == "current_location":
        return _location(value)
    if name in SOCIAL_FIELDS:
        return _social(name, value)
    raise InvalidValue(f"'{name}' is not a default attribute")


def _location(value: Any) -> dict[str, float]:
    """`{"longitude": -73.991443, "latitude": 40.753824}` (`user_attributes_object.md`), both on the globe."""
    if not isinstance(value, dict) or set(value) != {"latitude", "longitude"}:
        raise InvalidValue("'current_location' must be an object with exactly 'latitude' and 'longitude'")
    for key, bound in (("latitude", 90), ("longitude", 180)):
        coordinate = value[key]
        if isinstance(coordinate, bool) or not isinstance(coordinate, int | float) \
                or not math.isfinite(coordinate) or abs(coordinate) > bound:
            raise InvalidValue(f"'current_location.{key}' must be a number from -{bound} to {bound}")
    return {"latitude": value["latitude"], "longitude": value["longitude"]}


def _social(name: str, value: Any) -> dict[str, Any]:
    """`facebook`, `twitter`: a "hash containing any of" the keys `user_attributes_object.md` lists, as typed there."""
    fields = SOCIAL_FIELDS[name]
    if not isinstance(value, dict):
        raise InvalidValue(f"'{name}' must be an object")
    for key, item in value.items():
        kind = fields.get(key)
        if kind is None:
            raise InvalidValue(f"'{name}' takes only {', '.join(fields)}; not {key!r}")
        if kind == "strings":
            valid = isinstance(item, list) and all(isinstance(v, str) and len(v) <= MAX_STRING for v in item)
        elif kind == "string":
            valid = isinstance(item, str) and len(item) <= MAX_STRING
        else:
            valid = isinstance(item, int) and not isinstance(item, bool) and abs(item) < MAX_INT
        if not valid:
            raise InvalidValue(f"'{name}.{key}' must be {'an array of strings' if kind == 'strings' else 'a ' + kind}")
    return dict(value)


def number(name: str, value: int | float) -> int | float:
    """Braze stores 64-bit numbers: no infinities (JSON's 1e400 parses as one), no 400-digit integers."""
    if isinstance(value, bool):
        return value
    out_of_range = not math.isfinite(value) if isinstance(value, float) else abs(value) >= MAX_INT
    if out_of_range:
        raise InvalidValue(f"'{name}' is out of range for a number")
    return value


def custom_value(name: str, value: Any, detect_time: bool = True) -> Any:
    """A custom attribute value as stored: ISO-8601 strings become times when `detect_time` (not for a
    quoted CSV cell, which stays a string)."""
    if not name or name.startswith("$"):
        raise InvalidValue(f"custom attribute name {name!r} must be non-empty and not start with '$'")
    if len(name) > MAX_STRING:
        raise InvalidValue(f"custom attribute name is longer than {MAX_STRING} characters")
    if isinstance(value, bool | int | float):
        return number(name, value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if detect_time and ISO_TIME_HINT.match(value):
            try:
                return parse_time(value, name)
            except InvalidValue:
                pass
        return _string(name, value)
    if isinstance(value, list):  # its length is the workspace's array rule (users/arrays.py), applied when stored
        return _nested(name, list(value))
    if isinstance(value, dict):
        return _nested(name, value)
    raise InvalidValue(f"custom attribute '{name}' has an unsupported value type")


def _nested(name: str, value: Any) -> Any:
    """Braze caps a nested custom attribute (an object, an array of objects) at 100 KB."""
    if len(json.dumps(value, default=str)) > MAX_EVENT_PROPERTIES_BYTES:
        raise InvalidValue(f"custom attribute '{name}' exceeds 100 KB")
    return value


def event_properties(properties: Any) -> dict[str, Any]:
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise InvalidValue("'properties' must be an object")
    for key, value in properties.items():
        if not key or len(key) > MAX_STRING or key.startswith("$"):
            raise InvalidValue(f"property name {key!r} must be 1-255 characters and not start with '$'")
        if key in ("time", "event_name"):
            raise InvalidValue(f"property name '{key}' is reserved")
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise InvalidValue(f"property '{key}' is longer than {MAX_STRING} characters")
        if value is not None and not isinstance(value, str | int | float | bool | list | dict):
            raise InvalidValue(f"property '{key}' has an unsupported type")
    if len(json.dumps(properties, default=str)) > MAX_EVENT_PROPERTIES_BYTES:
        raise InvalidValue("event properties exceed 100 KB")
    return properties
