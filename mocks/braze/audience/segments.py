"""The audience language of the fake Braze: Braze's connected-audience object, used for segments too.

Scenario authors should be able to paste a filter into a real `/messages/send` `audience`, so the
grammar is Braze's, plus three harness contracts (`custom_event`, the dashboard's "X custom event in Y
days"; `subscription_group`, the dashboard's "Subscription Group": Braze's connected audience has no
subscription group filter; and `profile_field`, the dashboard's default-attribute filters (Country,
Language, Gender, First Name, ...): the connected audience object documents filters on custom attributes,
subscription statuses and last app use only). A segment is evaluated against up to 100,000 profiles on
every send, so a spec is validated and compiled once into nested closures: nothing is parsed per
profile, regexes and ISO times are prepared up front, and a bad spec fails at creation with the path of
the offending part instead of silently matching nobody.

Semantics, where Braze documents them (custom attribute data types, regex and segmentation filter
pages):
- String `equals` is case-sensitive; `not_equal` is documented as *not* case-sensitive, so
  `not_equal "blue"` excludes "Blue" too. `matches_regex` / `does_not_match_regex` search anywhere in
  the value, case-insensitively (Braze adds `/gi`).
- `does_not_match_regex` only matches profiles that have a string value (Braze: "you must already
  have a custom attribute with a value assigned").
- Numbers: "Exactly 0" and "Less Than" include users without the attribute, so an absent number
  matches `equals 0`, `less_than` and (by extension) `less_than_or_equal_to`, whatever the value;
  `not_equal 0` is the negation of `equals 0` and so excludes them.
- "Less than X days ago" never includes future times and "less than X days in the future" never past
  ones; a day is 24 hours for custom attribute times.
- Custom event windows are UTC calendar days: `days` 1 counts from 00:00 UTC today up to now.

Choices where the docs are silent:
- A blank value (None, "", [] or {}) is the same as no value: `exists` needs a non-blank value.
- The negative comparisons `not_equal`, `does_not_equal` and `does_not_include_value` are the exact
  negation of their positive twins, so they match profiles without the attribute or with a value of
  another type (the docs single out `does_not_match_regex` as needing a value, implying the others
  do not).
- Otherwise a value of another type than the comparison's never matches; booleans are not numbers,
  and array elements match only values of their own kind (`1` is not `true`).
- `after` / `before` and the day-count comparisons are strict at their bounds; `less_than_x_days_ago`
  includes now, as does `less_than_x_days_in_the_future`.
- Empty strings are refused as comparison values (the dashboard cannot express them; use
  `exists` / `does_not_exist`), as are unknown fields in a filter body. Day counts may be
  fractional, 0..36500; custom event counts are any non-negative integer (the dashboard stops at 50).
- Regexes are Python's `re`, which agrees with Braze's PCRE on the common subset.
- `subscription_group` `is` / `is_not` "subscribed" | "unsubscribed" reads the profile's state in that group;
  a profile with no state in it ("unknown" to `/subscription/status/get`) is neither, so `is_not` matches it.
  The group's existence is not checked here (groups may be defined after the segment).
- An absent subscription status reads as "subscribed"; a profile that never used the app matches
  neither `after` nor `before`. Custom event counts ignore events timestamped after `now`.
- `profile_field` compares a default field as `/users/track` stores it, with the string comparisons of
  custom attributes and their semantics. An `equals` / `not_equal` value is read as `/users/track` reads
  that field (`"United States"` is `US`, `"EN"` is `en`, a Rails zone its IANA name), and one no profile
  could hold (`"Atlantis"`, a `dob` that is no date) is refused rather than matching nobody. `email_subscribe`
  and `push_subscribe` read as the subscription status filters read them (absent is "subscribed").
"""

from __future__ import annotations

import bisect
import copy
import math
import operator
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from mocks.braze.state import StateError, Swap, detached, expect, record
from mocks.braze.users.profiles import Profile
from mocks.braze.users.values import InvalidValue, default_attribute

Predicate = Callable[[Profile, datetime], bool]

_NUMBER = (int, float)
_BLANK_TYPES = (str, list, dict)
_MAX_DAYS = 36_500  # a century: keeps `now ± days` inside datetime's range
_SUBSCRIPTION_STATES = ("opted_in", "subscribed", "unsubscribed")
_GROUP_STATES = ("subscribed", "unsubscribed")
_ORDERING = {
    "equals": operator.eq, "not_equal": operator.ne, "greater_than": operator.gt,
    "greater_than_or_equal_to": operator.ge, "less_than": operator.lt, "less_than_or_equal_to": operator.le,
}
_DAY_COMPARISONS = (
    "less_than_x_days_ago", "greater_than_x_days_ago", "less_than_x_days_in_the_future",
    "greater_than_x_days_in_the_future",
)
# Which attribute types each comparison applies to; the type is read from the spec's `value`.
_ATTRIBUTE_COMPARISONS: dict[str, tuple[str, ...]] = {
    "equals": ("string", "number", "boolean"),
    "not_equal": ("string", "number"),
    "matches_regex": ("string",),
    "does_not_match_regex": ("string",),
    "includes_value": ("array",),
    "does_not_include_value": ("array",),
    "greater_than": ("number",),
    "greater_than_or_equal_to": ("number",),
    "less_than": ("number",),
    "less_than_or_equal_to": ("number",),
    "does_not_equal": ("boolean",),
    **dict.fromkeys(_DAY_COMPARISONS, ("time",)),
    "after": ("time",),
    "before": ("time",),
    "exists": ("string", "array", "number", "boolean", "time"),
    "does_not_exist": ("string", "array", "number", "boolean", "time"),
}
_FILTER_KEYS = ("AND", "OR", "custom_attribute", "push_subscription_status", "email_subscription_status",
                "last_used_app", "custom_event", "subscription_group", "profile_field")
# The default profile fields a `profile_field` filter reads, each as `Profile.attributes` holds it.
PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "dob", "gender", "country", "language", "home_city",
                  "time_zone", "email_subscribe", "push_subscribe")
_SUBSCRIBE_FIELDS = ("email_subscribe", "push_subscribe")
_STRING_COMPARISONS = ("equals", "not_equal", "matches_regex", "does_not_match_regex", "exists", "does_not_exist")


class SegmentError(ValueError):
    """A filter spec Braze would refuse; `path` locates the offending part (e.g. `AND[1].custom_event.days`)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path or "filter"
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DuplicateSegmentError(ValueError):
    pass


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _one_of(options: Iterable[str]) -> str:
    return ", ".join(options)


def _blank(value: Any) -> bool:
    return value is None or (type(value) in _BLANK_TYPES and not value)


def _kind(value: Any) -> str:
    """The JSON name of a spec value's type, for choosing comparisons and for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBER):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _check_fields(body: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    if not isinstance(body, dict):
        raise SegmentError(path, f"expected an object with {_one_of(required + optional)}, got {_kind(body)}")
    for key in body:
        if key not in required and key not in optional:
            raise SegmentError(_join(path, str(key)), f"unknown field (expected {_one_of(required + optional)})")
    for key in required:
        if key not in body:
            raise SegmentError(_join(path, key), "is required")


def _name(body: dict[str, Any], key: str, path: str) -> str:
    name = body[key]
    if not isinstance(name, str) or not name:
        raise SegmentError(_join(path, key), f"must be a non-empty string, got {name!r}")
    return name


def _choice(body: dict[str, Any], key: str, path: str, allowed: Iterable[str], what: str) -> str:
    value = body[key]
    if not isinstance(value, str) or value not in allowed:
        raise SegmentError(_join(path, key), f"{value!r} is not {what} (expected one of {_one_of(allowed)})")
    return value


def _iso_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise SegmentError(path, f"must be an ISO-8601 time string, got {_kind(value)} {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SegmentError(path, f"{value!r} is not an ISO-8601 time") from None
    # Kept in its own offset: aware datetimes compare correctly across offsets, and converting
    # "0001-01-01T00:00:00+01:00" to UTC would overflow.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _finite_number(value: Any, path: str, comparison: str) -> float:
    if _kind(value) != "number" or (isinstance(value, float) and not math.isfinite(value)):
        raise SegmentError(path, f'"{comparison}" needs a finite number, got {_kind(value)} {value!r}')
    return value


def compile_filter(spec: Any) -> Predicate:
    """Validate a whole connected-audience spec and return `predicate(profile, now) -> bool`."""
    return _compile(spec, "")


def _compile(spec: Any, path: str) -> Predicate:
    if not isinstance(spec, dict):
        raise SegmentError(path, f"a filter must be an object, got {_kind(spec)}")
    if len(spec) != 1:
        found = _one_of(map(str, spec)) or "none"
        raise SegmentError(path, f"a filter must have exactly one key of {_one_of(_FILTER_KEYS)}; got {found}")
    ((key, body),) = spec.items()
    here = _join(path, str(key))
    if key in ("AND", "OR"):
        return _combine(key, body, here)
    if key == "custom_attribute":
        return _custom_attribute(body, here)
    if key == "push_subscription_status":
        return _subscription(body, here, "push_subscribe")
    if key == "email_subscription_status":
        return _subscription(body, here, "email_subscribe")
    if key == "last_used_app":
        return _last_used_app(body, here)
    if key == "custom_event":
        return _custom_event(body, here)
    if key == "subscription_group":
        return _subscription_group(body, here)
    if key == "profile_field":
        return _profile_field(body, here)
    raise SegmentError(here, f"unknown filter (expected one of {_one_of(_FILTER_KEYS)})")


def _combine(key: str, body: Any, path: str) -> Predicate:
    if not isinstance(body, list) or not body:
        got = "an empty list" if body == [] else _kind(body)
        raise SegmentError(path, f"must be a non-empty list of filters, got {got}")
    parts = tuple(_compile(item, f"{path}[{i}]") for i, item in enumerate(body))
    if len(parts) == 1:
        return parts[0]
    # Plain loops, not all()/any() over a generator: that costs ~40% more per profile at 100k profiles.
    if key == "AND":
        def every(profile: Profile, now: datetime) -> bool:
            for part in parts:  # noqa: SIM110
                if not part(profile, now):
                    return False
            return True
        return every

    def some(profile: Profile, now: datetime) -> bool:
        for part in parts:  # noqa: SIM110
            if part(profile, now):
                return True
        return False
    return some


def _subscription(body: Any, path: str, attribute: str) -> Predicate:
    _check_fields(body, path, ("comparison", "value"))
    comparison = _choice(body, "comparison", path, ("is", "is_not"), "a subscription comparison")
    wanted = _choice(body, "value", path, _SUBSCRIPTION_STATES, "a subscription state")
    if comparison == "is":
        return lambda profile, now: (profile.attributes.get(attribute) or "subscribed") == wanted
    return lambda profile, now: (profile.attributes.get(attribute) or "subscribed") != wanted


def _subscription_group(body: Any, path: str) -> Predicate:
    _check_fields(body, path, ("subscription_group_id", "comparison", "value"))
    group_id = _name(body, "subscription_group_id", path)
    comparison = _choice(body, "comparison", path, ("is", "is_not"), "a subscription group comparison")
    wanted = _choice(body, "value", path, _GROUP_STATES, "a subscription group state")
    if comparison == "is":
        return lambda profile, now: profile.subscription_groups.get(group_id) == wanted
    return lambda profile, now: profile.subscription_groups.get(group_id) != wanted


def _last_used_app(body: Any, path: str) -> Predicate:
    _check_fields(body, path, ("comparison", "value"))
    comparison = _choice(body, "comparison", path, ("after", "before"), "a last_used_app comparison")
    bound = _iso_time(body["value"], _join(path, "value"))
    if comparison == "after":
        return lambda profile, now: profile.last_used_app is not None and profile.last_used_app > bound
    return lambda profile, now: profile.last_used_app is not None and profile.last_used_app < bound


def _custom_event(body: Any, path: str) -> Predicate:
    _check_fields(body, path, ("name", "comparison", "value", "days"))
    name = _name(body, "name", path)
    compare = _ORDERING[_choice(body, "comparison", path, _ORDERING, "a custom_event comparison")]
    count, days = body["value"], body["days"]
    if type(count) is not int or count < 0:
        raise SegmentError(_join(path, "value"), f"must be a non-negative integer count, got {count!r}")
    if type(days) is not int or not 1 <= days <= 30:
        raise SegmentError(_join(path, "days"), f"must be an integer number of calendar days in 1..30, got {days!r}")
    back = timedelta(days=days - 1)
    window = [(None, None)]  # (now, window start) of the last call: one `now` serves a whole evaluation

    def performed(profile: Profile, now: datetime) -> bool:
        series = profile.events.get(name)
        if series is None:
            return compare(0, count)
        seen, start = window[0]
        if seen != now:
            start = datetime.combine(now.astimezone(UTC).date() - back, time.min, UTC)
            window[0] = (now, start)
        times = series.times
        return compare(bisect.bisect_right(times, now) - bisect.bisect_left(times, start), count)
    return performed


def _profile_field(body: Any, path: str) -> Predicate:
    _check_fields(body, path, ("field", "comparison"), ("value",))
    name = _choice(body, "field", path, PROFILE_FIELDS, "a default profile field")
    comparison = _choice(body, "comparison", path, _STRING_COMPARISONS, "a profile field comparison")
    absent = "subscribed" if name in _SUBSCRIBE_FIELDS else None

    def read(profile: Profile) -> str | None:
        value = profile.attributes.get(name)
        return value if type(value) is str and value else absent

    if comparison == "exists":
        return lambda profile, now: read(profile) is not None
    if comparison == "does_not_exist":
        return lambda profile, now: read(profile) is None
    value_path = _join(path, "value")
    if "value" not in body:
        raise SegmentError(value_path, f'is required for "{comparison}"')
    value = body["value"]
    if type(value) is not str or not value:
        raise SegmentError(value_path, f"must be a non-empty string, got {_kind(value)} {value!r}")
    if comparison in ("equals", "not_equal"):
        try:
            wanted = default_attribute(name, value)
        except InvalidValue as exc:
            raise SegmentError(value_path, f"no profile can hold {value!r}: {exc}") from None
        if comparison == "equals":
            return lambda profile, now: read(profile) == wanted
        folded = wanted.casefold()

        def differs(profile: Profile, now: datetime) -> bool:
            found = read(profile)
            return found is None or found.casefold() != folded
        return differs
    search = _regex(value, value_path)
    if comparison == "matches_regex":
        def matches(profile: Profile, now: datetime) -> bool:
            found = read(profile)
            return found is not None and search(found) is not None
        return matches

    def does_not_match(profile: Profile, now: datetime) -> bool:
        found = read(profile)
        return found is not None and search(found) is None
    return does_not_match


def _regex(pattern: str, path: str) -> Callable[[str], re.Match[str] | None]:
    """A case-insensitive search anywhere in the value, as Braze adds `/gi`."""
    try:
        return re.compile(pattern, re.IGNORECASE).search
    except (re.error, OverflowError, RecursionError) as exc:  # e.g. "(", "a{99999999999}"
        raise SegmentError(path, f"{pattern!r} is not a valid regular expression: {exc}") from None


def _custom_attribute(body: Any, path: str) -> Predicate:
    _check_fields(body, path, ("custom_attribute_name", "comparison"), ("value",))
    name = _name(body, "custom_attribute_name", path)
    comparison = body["comparison"]
    if not isinstance(comparison, str) or comparison not in _ATTRIBUTE_COMPARISONS:
        raise SegmentError(_join(path, "comparison"), f"{comparison!r} is not a comparison for custom attributes "
                                                       f"(expected one of {_one_of(_ATTRIBUTE_COMPARISONS)})")
    if comparison == "exists":
        return lambda profile, now: not _blank(profile.custom.get(name))
    if comparison == "does_not_exist":
        return lambda profile, now: _blank(profile.custom.get(name))
    value_path = _join(path, "value")
    if "value" not in body:
        raise SegmentError(value_path, f'is required for "{comparison}"')
    value = body["value"]
    if comparison in _DAY_COMPARISONS:
        days = _finite_number(value, value_path, comparison)
        if not 0 <= days <= _MAX_DAYS:
            raise SegmentError(value_path, f"must be a number of days in 0..{_MAX_DAYS}, got {days!r}")
        return _relative_time(name, comparison, timedelta(days=days))
    if comparison in ("after", "before"):
        return _absolute_time(name, comparison, _iso_time(value, value_path))
    if value == "":
        raise SegmentError(value_path, "an empty string never matches; use exists or does_not_exist")
    kind = _kind(value)
    if comparison in ("includes_value", "does_not_include_value"):
        if kind not in ("string", "number", "boolean"):
            raise SegmentError(value_path,
                               f'"{comparison}" looks for a string, number or boolean, got {kind} {value!r}')
        return _array(name, comparison, _finite_number(value, value_path, comparison) if kind == "number" else value)
    if kind not in _ATTRIBUTE_COMPARISONS[comparison]:
        allowed = _one_of(_ATTRIBUTE_COMPARISONS[comparison])
        raise SegmentError(value_path, f'"{comparison}" compares {allowed} values, got {kind} {value!r}')
    if kind == "number":
        return _number(name, comparison, _finite_number(value, value_path, comparison))
    if kind == "string":
        return _string(name, comparison, value, value_path)
    return _boolean(name, comparison, value)


def _string(name: str, comparison: str, wanted: str, path: str) -> Predicate:
    if comparison == "equals":
        return lambda profile, now: profile.custom.get(name) == wanted
    if comparison == "not_equal":
        folded = wanted.casefold()

        def differs(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return type(value) is not str or value.casefold() != folded
        return differs
    search = _regex(wanted, path)
    if comparison == "matches_regex":
        def matches(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return type(value) is str and value != "" and search(value) is not None
        return matches

    def does_not_match(profile: Profile, now: datetime) -> bool:
        value = profile.custom.get(name)
        return type(value) is str and value != "" and search(value) is None
    return does_not_match


def _number(name: str, comparison: str, wanted: float) -> Predicate:
    if comparison in ("equals", "not_equal"):
        absent_equal = wanted == 0  # Braze: "Exactly 0" includes users without the attribute

        def equal(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            if type(value) in _NUMBER:
                return value == wanted
            return absent_equal and _blank(value)
        if comparison == "equals":
            return equal
        return lambda profile, now: not equal(profile, now)
    compare = _ORDERING[comparison]
    absent_matches = comparison in ("less_than", "less_than_or_equal_to")  # Braze: "Less Than" includes NULL

    def ordered(profile: Profile, now: datetime) -> bool:
        value = profile.custom.get(name)
        if type(value) in _NUMBER:
            return compare(value, wanted)
        return absent_matches and _blank(value)
    return ordered


def _boolean(name: str, comparison: str, wanted: bool) -> Predicate:
    if comparison == "equals":
        return lambda profile, now: profile.custom.get(name) is wanted
    return lambda profile, now: profile.custom.get(name) is not wanted


def _array(name: str, comparison: str, wanted: str | float | bool) -> Predicate:
    kind = _kind(wanted)
    if kind == "string":
        def includes(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return type(value) is list and wanted in value
    elif kind == "boolean":
        def includes(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return type(value) is list and any(item is wanted for item in value)
    else:
        def includes(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return type(value) is list and any(type(item) in _NUMBER and item == wanted for item in value)
    if comparison == "includes_value":
        return includes
    return lambda profile, now: not includes(profile, now)


def _relative_time(name: str, comparison: str, span: timedelta) -> Predicate:
    if comparison == "less_than_x_days_ago":
        def recent(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return isinstance(value, datetime) and now - span < value <= now
        return recent
    if comparison == "greater_than_x_days_ago":
        def old(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return isinstance(value, datetime) and value < now - span
        return old
    if comparison == "less_than_x_days_in_the_future":
        def soon(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return isinstance(value, datetime) and now <= value < now + span
        return soon

    def later(profile: Profile, now: datetime) -> bool:
        value = profile.custom.get(name)
        return isinstance(value, datetime) and value > now + span
    return later


def _absolute_time(name: str, comparison: str, bound: datetime) -> Predicate:
    if comparison == "after":
        def after(profile: Profile, now: datetime) -> bool:
            value = profile.custom.get(name)
            return isinstance(value, datetime) and value > bound
        return after

    def before(profile: Profile, now: datetime) -> bool:
        value = profile.custom.get(name)
        return isinstance(value, datetime) and value < bound
    return before


def evaluate(predicate: Predicate, profiles: Iterable[Profile], now: datetime) -> list[Profile]:
    """The profiles a compiled filter selects at `now`, in iteration order."""
    return [profile for profile in profiles if predicate(profile, now)]


@dataclass
class Segment:
    segment_id: str
    name: str
    filter: dict[str, Any]
    predicate: Predicate = field(repr=False, compare=False)
    created_at: datetime | None = field(default=None, compare=False)  # `/segments/list` sorts by it

    def members(self, profiles: Iterable[Profile], now: datetime) -> list[Profile]:
        return evaluate(self.predicate, profiles, now)


class SegmentStore:
    """Named segments, found by id or name; names are unique like in the dashboard."""

    def __init__(self, new_id: Callable[[], str], now: Callable[[], datetime] | None = None) -> None:
        self._new_id = new_id
        self._now = now
        self._by_id: dict[str, Segment] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._by_id)

    def create(self, name: str, spec: dict[str, Any]) -> Segment:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a segment needs a non-empty name, got {name!r}")
        spec = copy.deepcopy(spec)  # the stored spec must keep describing the compiled predicate
        predicate = compile_filter(spec)
        with self._lock:
            if any(segment.name == name for segment in self._by_id.values()):
                raise DuplicateSegmentError(f"a segment named {name!r} already exists")
            segment = Segment(self._new_id(), name, spec, predicate, self._now() if self._now else None)
            self._by_id[segment.segment_id] = segment
            return segment

    def get(self, key: str) -> Segment | None:
        """By id, else by name."""
        with self._lock:
            found = self._by_id.get(key)
            if found is None:
                found = next((segment for segment in self._by_id.values() if segment.name == key), None)
            return found

    def list(self) -> list[Segment]:
        with self._lock:
            return list(self._by_id.values())

    def delete(self, key: str) -> bool:
        with self._lock:
            segment = self.get(key)
            if segment is None:
                return False
            del self._by_id[segment.segment_id]
            return True

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> list[dict[str, Any]]:
        """Each segment's id, name, filter and creation time, in creation order (the predicate is compiled again)."""
        with self._lock:
            return detached([{"segment_id": s.segment_id, "name": s.name, "filter": s.filter,
                              "created_at": s.created_at} for s in self._by_id.values()])

    def stage_state(self, state: Any) -> Swap:
        by_id: dict[str, Segment] = {}
        for i, data in enumerate(expect(state, list, "segments")):
            where = f"segments[{i}]"
            record(data, where, ("segment_id", "name", "filter", "created_at"))
            expect(data["segment_id"], str, f"{where}.segment_id")
            expect(data["name"], str, f"{where}.name")
            expect(data["created_at"], (datetime, type(None)), f"{where}.created_at")
            try:
                predicate = compile_filter(data["filter"])
            except SegmentError as exc:
                raise StateError(f"{where}.filter", str(exc)) from None
            by_id[data["segment_id"]] = Segment(data["segment_id"], data["name"], copy.deepcopy(data["filter"]),
                                                predicate, data["created_at"])

        def swap() -> None:
            with self._lock:
                self._by_id = by_id
        return swap
