"""Compiled filters agree with a naive oracle written straight from the semantics, on random profiles and trees.

The oracle re-reads everything per call and shares no code with mocks.braze.audience.segments, so a
shortcut taken for speed in the compiler (cached windows, closures, type tests) shows up as a
disagreement. Profile values are steered onto the filter's own constants and boundaries (±1µs,
case variants, ±0.5) because random values alone almost never land on an edge. Profiles are made
by a Random that Hypothesis seeds: its own strategies reuse choices within an example, which made
all attributes of all profiles share one type and let planted bugs in single comparisons survive.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.braze.audience.segments import SegmentError, compile_filter
from mocks.braze.users.profiles import EventSeries, Profile

SETTINGS = settings(max_examples=200, deadline=None)

NAMES = ["color", "score", "tags", "vip", "seen at"]
TEXTS = ["blue", "Blue", "BLUE", "red", "navy blue", "bleu", "x1"]
PATTERNS = ["blue", "^b", "E$", "b.u", "red|navy", "[0-9]", ".*", "^$"]
EVENTS = ["login", "purchase"]
STATES = ["opted_in", "subscribed", "unsubscribed"]
GROUPS = ["g1", "g2"]
GROUP_STATES = ["subscribed", "unsubscribed"]
NUMBER_VALUES = [-3, -2, -1, 0, 1, 2, 3, 0.0, 0.5, -1.5, 2.0]
NUMBERS = st.sampled_from(NUMBER_VALUES)
BASE_SCALARS = [*TEXTS, 0, 1, 2, True, False]
DAY_COUNTS = [0, 0.5, 1, 2, 7, 30]
TICK = timedelta(microseconds=1)
# `profile_field` (harness contract): what a filter may say for a default field -> what `/users/track` stores
PROFILE_VALUES = {
    "country": {"US": "US", "us": "US", "United States": "US", "DEU": "DE", "DE": "DE"},
    "language": {"en": "en", "EN": "en", "fr": "fr"},
    "gender": {"M": "M", "F": "F", "O": "O"},
    "time_zone": {"Europe/Berlin": "Europe/Berlin", "Eastern Time (US & Canada)": "America/New_York",
                  "America/New_York": "America/New_York"},
    "dob": {"1990-01-02": "1990-01-02", "2000-12-31": "2000-12-31"},
    "first_name": {"Ann": "Ann", "ann": "ann", "Bo": "Bo"},
    "last_name": {"Lee": "Lee"},
    "home_city": {"Berlin": "Berlin", "berlin": "berlin", "New York": "New York"},
    "email": {"ann@example.com": "ann@example.com", "ANN@example.com": "ANN@example.com"},
    "phone": {"+1 555 0100": "+1 555 0100"},
    **{field: {state: state for state in STATES} for field in ("email_subscribe", "push_subscribe")},
}
PROFILE_PATTERNS = ["^a", "n$", "us|de", "[0-9]", ".*", "^$", "/", "sub"]
PROFILE_COMPARISONS = ["equals", "not_equal", "matches_regex", "does_not_match_regex", "exists", "does_not_exist"]


# --- the oracle ------------------------------------------------------------------------------------------------

def blank(a: Any) -> bool:
    return a is None or a == "" or a == [] or a == {}


def is_number(a: Any) -> bool:
    return isinstance(a, int | float) and not isinstance(a, bool)


def kind(a: Any) -> str:
    if isinstance(a, bool):
        return "bool"
    return "number" if is_number(a) else type(a).__name__


def parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def attribute_matches(name: str, comparison: str, value: Any, profile: Profile, now: datetime) -> bool:
    a = profile.custom.get(name)
    has_value = not blank(a)
    if comparison == "exists":
        return has_value
    if comparison == "does_not_exist":
        return not has_value
    if comparison in ("after", "before", "less_than_x_days_ago", "greater_than_x_days_ago",
                      "less_than_x_days_in_the_future", "greater_than_x_days_in_the_future"):
        if not isinstance(a, datetime):
            return False
        if comparison == "after":
            return a > parse_time(value)
        if comparison == "before":
            return a < parse_time(value)
        span = timedelta(days=value)
        if comparison == "less_than_x_days_ago":
            return timedelta(0) <= now - a < span
        if comparison == "greater_than_x_days_ago":
            return now - a > span
        if comparison == "less_than_x_days_in_the_future":
            return timedelta(0) <= a - now < span
        return a - now > span
    if comparison == "equals":
        if isinstance(value, bool):
            return isinstance(a, bool) and a == value
        if isinstance(value, str):
            return isinstance(a, str) and a == value
        if is_number(a):
            return a == value
        return value == 0 and not has_value
    if comparison == "not_equal":
        if isinstance(value, str):
            return not (isinstance(a, str) and a.lower() == value.lower())
        return not attribute_matches(name, "equals", value, profile, now)
    if comparison == "does_not_equal":
        return not (isinstance(a, bool) and a == value)
    if comparison == "matches_regex":
        return isinstance(a, str) and a != "" and re.search(value, a, re.IGNORECASE) is not None
    if comparison == "does_not_match_regex":
        return isinstance(a, str) and a != "" and re.search(value, a, re.IGNORECASE) is None
    if comparison in ("includes_value", "does_not_include_value"):
        found = isinstance(a, list) and any(kind(item) == kind(value) and item == value for item in a)
        return found if comparison == "includes_value" else not found
    if is_number(a):
        return {"greater_than": a > value, "greater_than_or_equal_to": a >= value,
                "less_than": a < value, "less_than_or_equal_to": a <= value}[comparison]
    return comparison in ("less_than", "less_than_or_equal_to") and not has_value


def profile_field_matches(body: dict[str, Any], profile: Profile) -> bool:
    """A default field as stored; an absent subscription state reads "subscribed"; an equality value is read as
    `/users/track` would store it."""
    field, comparison, value = body["field"], body["comparison"], body.get("value")
    stored = profile.attributes.get(field)
    if field in ("email_subscribe", "push_subscribe") and stored in (None, ""):
        stored = "subscribed"
    has_value = isinstance(stored, str) and stored != ""
    if comparison == "exists":
        return has_value
    if comparison == "does_not_exist":
        return not has_value
    if comparison in ("equals", "not_equal"):
        wanted = PROFILE_VALUES[field][value]
        if comparison == "equals":
            return has_value and stored == wanted
        return not (has_value and stored.lower() == wanted.lower())
    found = has_value and re.search(value, stored, re.IGNORECASE) is not None
    return found if comparison == "matches_regex" else has_value and not found


def event_count_matches(body: dict[str, Any], profile: Profile, now: datetime) -> bool:
    today = now.astimezone(UTC)
    start = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=body["days"] - 1)
    series = profile.events.get(body["name"])
    n = 0 if series is None else len([t for t in series.times if start <= t <= now])
    v = body["value"]
    return {"equals": n == v, "not_equal": n != v, "greater_than": n > v, "greater_than_or_equal_to": n >= v,
            "less_than": n < v, "less_than_or_equal_to": n <= v}[body["comparison"]]


def oracle(spec: dict[str, Any], profile: Profile, now: datetime) -> bool:
    (key, body), = spec.items()
    if key == "AND":
        return all(oracle(part, profile, now) for part in body)
    if key == "OR":
        return any(oracle(part, profile, now) for part in body)
    if key == "custom_attribute":
        return attribute_matches(body["custom_attribute_name"], body["comparison"], body.get("value"), profile, now)
    if key in ("push_subscription_status", "email_subscription_status"):
        status = profile.attributes.get("push_subscribe" if key.startswith("push") else "email_subscribe")
        if status is None:
            status = "subscribed"
        return (status == body["value"]) == (body["comparison"] == "is")
    if key == "subscription_group":  # harness contract: no state in the group is neither state
        state = profile.subscription_groups.get(body["subscription_group_id"])
        return (state == body["value"]) == (body["comparison"] == "is")
    if key == "profile_field":
        return profile_field_matches(body, profile)
    if key == "last_used_app":
        last = profile.last_used_app
        if last is None:
            return False
        bound = parse_time(body["value"])
        return last > bound if body["comparison"] == "after" else last < bound
    return event_count_matches(body, profile, now)


# --- generators ------------------------------------------------------------------------------------------------

def midnight(now: datetime) -> datetime:
    day = now.astimezone(UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def times_near(now: datetime) -> st.SearchStrategy[datetime]:
    """Times within ±40 days, with extra weight on UTC midnights and `now` ± whole day counts (±1µs)."""
    utc_now = now.astimezone(UTC)
    nudges = st.sampled_from([timedelta(0), TICK, -TICK])
    return st.one_of(
        st.integers(-40 * 1440, 40 * 1440).map(lambda m: utc_now + timedelta(minutes=m)),
        st.tuples(st.integers(-31, 1), nudges).map(lambda kd: midnight(now) + timedelta(days=kd[0]) + kd[1]),
        st.tuples(st.sampled_from(DAY_COUNTS), st.sampled_from([-1, 1]), nudges).map(
            lambda dsn: utc_now + dsn[1] * timedelta(days=dsn[0]) + dsn[2]),
        st.tuples(st.sampled_from(DAY_COUNTS[:4]), st.sampled_from([-1, 1]), nudges).map(
            lambda dsn: utc_now + dsn[1] * timedelta(days=dsn[0]) + dsn[2]),
    )


def iso_near(now: datetime) -> st.SearchStrategy[str]:
    def spell(t: datetime, style: int) -> str:
        if style == 0:
            return t.isoformat()
        if style == 1:
            return t.isoformat().replace("+00:00", "Z")
        if style == 2:
            return t.replace(tzinfo=None).isoformat()
        return t.astimezone(timezone(timedelta(hours=2))).isoformat()
    return st.builds(spell, times_near(now), st.integers(0, 3))


def random_time(rnd: random.Random, now: datetime, pool: list[datetime]) -> datetime:
    """Often one of the filter's own boundaries (±1µs), else near `now` or on a UTC day boundary."""
    utc_now, r = now.astimezone(UTC), rnd.random()
    if pool and r < 0.5:
        return rnd.choice(pool)
    if r < 0.7:
        return utc_now + timedelta(minutes=rnd.randint(-40 * 1440, 40 * 1440))
    nudge = rnd.choice([timedelta(0), TICK, -TICK])
    if r < 0.85:
        return midnight(now) + timedelta(days=rnd.randint(-31, 1)) + nudge
    return utc_now + rnd.choice([-1, 1]) * timedelta(days=rnd.choice(DAY_COUNTS)) + nudge


def random_profile(rnd: random.Random, now: datetime, times: list[datetime], scalars: list[Any]) -> Profile:
    """Each attribute name usually holds its own type (an attribute has one type in Braze) and
    sometimes any other, and values are often exactly the filter's constants or their case and ±0.5
    variants, so matches, near misses and type mismatches are all common."""
    pool = [*BASE_SCALARS, *scalars]
    texts = [v for v in scalars if isinstance(v, str)]
    numbers = [v for v in scalars if is_number(v)]
    typical = {
        "color": lambda: rnd.choice(texts if texts and rnd.random() < 0.5 else ["", *TEXTS]),
        "score": lambda: rnd.choice(numbers if numbers and rnd.random() < 0.5 else NUMBER_VALUES),
        "tags": lambda: [rnd.choice(pool) for _ in range(rnd.randint(0, 3))],
        "vip": lambda: rnd.random() < 0.5,
        "seen at": lambda: random_time(rnd, now, times),
    }
    anything = [lambda: rnd.choice([None, "", [], {}, {"a": 1}]), lambda: rnd.choice(pool),
                lambda: rnd.choice(NUMBER_VALUES), *typical.values()]
    custom = {}
    for name, usual in typical.items():
        r = rnd.random()
        if r > 0.15:
            custom[name] = usual() if r < 0.75 else rnd.choice(anything)()
    events = {}
    for name in EVENTS:
        if rnd.random() < 0.75:
            series = events[name] = EventSeries()
            for _ in range(rnd.randint(0, 6)):
                series.add(random_time(rnd, now, times), {})
    attributes = {}
    for key in ("push_subscribe", "email_subscribe"):
        if rnd.random() < 0.8:
            attributes[key] = rnd.choice([*STATES, None])
    for key, said in PROFILE_VALUES.items():
        if key not in ("push_subscribe", "email_subscribe") and rnd.random() < 0.75:
            stored = rnd.choice(list(said.values()))
            attributes[key] = rnd.choice([stored, stored, stored.lower(), stored.upper(), ""])
    groups = {group: rnd.choice(GROUP_STATES) for group in GROUPS if rnd.random() < 0.6}
    return Profile(braze_id=f"{rnd.getrandbits(64):016x}", created_at=now, random_bucket_number=0, custom=custom,
                   attributes=attributes, events=events, subscription_groups=groups,
                   last_used_app=random_time(rnd, now, times) if rnd.random() < 0.75 else None)


def leaf_kinds(now: datetime) -> list[st.SearchStrategy[dict[str, Any]]]:
    """One strategy per family of filters (comparisons that share a value type)."""
    def ca(name: str, comparison: str, value: Any = None) -> dict[str, Any]:
        body = {"custom_attribute_name": name, "comparison": comparison}
        if value is not None:
            body["value"] = value
        return {"custom_attribute": body}

    def attribute(usual: str, comparisons: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[
            dict[str, Any]]:
        names = st.one_of(st.just(usual), st.just(usual), st.sampled_from(NAMES))
        return st.builds(ca, names, st.sampled_from(comparisons), values)

    return [
        attribute("color", ["equals", "not_equal"], st.sampled_from(TEXTS)),
        attribute("score", ["equals", "not_equal"], NUMBERS),
        attribute("vip", ["equals", "does_not_equal"], st.booleans()),
        attribute("color", ["matches_regex", "does_not_match_regex"], st.sampled_from(PATTERNS)),
        attribute("tags", ["includes_value", "does_not_include_value"],
                  st.sampled_from(TEXTS) | st.integers(-2, 2) | st.booleans()),
        attribute("score", ["greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to"],
                  NUMBERS),
        attribute("seen at", ["less_than_x_days_ago", "greater_than_x_days_ago", "less_than_x_days_in_the_future",
                              "greater_than_x_days_in_the_future"], st.sampled_from(DAY_COUNTS)),
        attribute("seen at", ["after", "before"], iso_near(now)),
        st.builds(ca, st.sampled_from(NAMES), st.sampled_from(["exists", "does_not_exist"])),
        st.builds(lambda key, comparison, value: {key: {"comparison": comparison, "value": value}},
                  st.sampled_from(["push_subscription_status", "email_subscription_status"]),
                  st.sampled_from(["is", "is_not"]), st.sampled_from(STATES)),
        st.builds(lambda group, comparison, value: {"subscription_group": {
            "subscription_group_id": group, "comparison": comparison, "value": value}},
            st.sampled_from([*GROUPS, "never"]), st.sampled_from(["is", "is_not"]), st.sampled_from(GROUP_STATES)),
        st.sampled_from(list(PROFILE_VALUES)).flatmap(lambda field: st.builds(
            lambda comparison, said, pattern: {"profile_field": {
                "field": field, "comparison": comparison,
                **({} if comparison.endswith("exist") else
                   {"value": pattern if comparison.endswith("regex") else said})}},
            st.sampled_from(PROFILE_COMPARISONS), st.sampled_from(list(PROFILE_VALUES[field])),
            st.sampled_from(PROFILE_PATTERNS))),
        st.builds(lambda comparison, value: {"last_used_app": {"comparison": comparison, "value": value}},
                  st.sampled_from(["after", "before"]), iso_near(now)),
        st.builds(lambda name, comparison, value, days: {"custom_event": {
            "name": name, "comparison": comparison, "value": value, "days": days}},
            st.sampled_from([*EVENTS, "never"]),
            st.sampled_from(["equals", "not_equal", "greater_than", "greater_than_or_equal_to", "less_than",
                             "less_than_or_equal_to"]),
            st.integers(0, 4), st.integers(1, 30) | st.sampled_from([1, 2, 30])),
    ]


def filters(now: datetime, depth: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(leaf_kinds(now))
    if depth == 0:
        return leaves
    children = st.lists(filters(now, depth - 1), min_size=1, max_size=3)
    return leaves | children.map(lambda parts: {"AND": parts}) | children.map(lambda parts: {"OR": parts})


def subtrees(spec: dict[str, Any]) -> list[dict[str, Any]]:
    (key, body), = spec.items()
    found = [spec]
    if key in ("AND", "OR"):
        for part in body:
            found += subtrees(part)
    return found


def constants(spec: dict[str, Any], whens: list[datetime]) -> tuple[list[datetime], list[Any]]:
    """The times (boundaries, each ±1µs) and scalars (case and ±0.5 variants) a spec compares against."""
    marks: list[datetime] = list(whens)
    scalars: list[Any] = []
    for node in subtrees(spec):
        (key, body), = node.items()
        if key == "last_used_app":
            marks.append(parse_time(body["value"]))
        elif key == "custom_event":
            marks += [midnight(w) - timedelta(days=body["days"] - 1) for w in whens]
        elif key == "custom_attribute" and "value" in body:
            value, comparison = body["value"], body["comparison"]
            if comparison in ("after", "before"):
                marks.append(parse_time(value))
            elif comparison.endswith(("_ago", "_future")):
                marks += [w + sign * timedelta(days=value) for w in whens for sign in (-1, 1)]
            elif isinstance(value, str):
                scalars += [value, value.upper(), value.lower(), value.title()]
            elif isinstance(value, bool):
                scalars += [value, int(value)]
            else:
                scalars += [value, float(value), value - 0.5, value + 0.5]
    return [m + nudge for m in marks for nudge in (-TICK, timedelta(0), TICK)], scalars


# A few fixed `now`s (mid-day, exact midnight, a microsecond before midnight, non-UTC offsets whose UTC day
# differs from the local one) so that filter strategies are built once, not per example.
NOWS = [
    datetime(2024, 5, 15, 12, 0, tzinfo=UTC),
    datetime(2024, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 3, 9, 20, 15, tzinfo=timezone(timedelta(hours=-8))),
]
# One filter of every family per example, so that each family is checked against every batch of profiles.
BATTERIES = {now: st.tuples(*leaf_kinds(now)).map(lambda parts: {"OR": list(parts)}) for now in NOWS}
TREES = {now: filters(now) for now in NOWS}


@st.composite
def cases(draw: st.DrawFn, specs: dict[datetime, st.SearchStrategy[dict[str, Any]]]) -> tuple[
        dict[str, Any], list[Profile], list[datetime]]:
    now = draw(st.sampled_from(NOWS))
    later = now + timedelta(days=draw(st.integers(1, 3)))
    spec = draw(specs[now])
    times, scalars = constants(spec, [now, later])
    rnd = draw(st.randoms(use_true_random=True))
    members = [random_profile(rnd, now, times, scalars) for _ in range(draw(st.integers(2, 8)))]
    return spec, members, [now, later, now]  # one predicate serves many evaluations


def assert_agrees(spec: dict[str, Any], members: list[Profile], whens: list[datetime]) -> None:
    for node in subtrees(spec):  # every leaf and branch, so a wrong leaf cannot hide behind AND/OR
        predicate = compile_filter(node)
        for when in whens:
            for profile in members:
                assert predicate(profile, when) is oracle(node, profile, when), (node, profile, when)


@SETTINGS
@given(cases(BATTERIES))
def test_each_filter_agrees_with_the_oracle(case: tuple[dict[str, Any], list[Profile], list[datetime]]) -> None:
    assert_agrees(*case)


@SETTINGS
@given(cases(TREES))
def test_filter_trees_agree_with_the_oracle(case: tuple[dict[str, Any], list[Profile], list[datetime]]) -> None:
    assert_agrees(*case)


# --- junk in, SegmentError out ---------------------------------------------------------------------------------

WORDS = ["AND", "OR", "custom_attribute", "custom_attribute_name", "comparison", "value", "custom_event", "name",
         "days", "push_subscription_status", "email_subscription_status", "last_used_app", "equals", "exists",
         "matches_regex", "after", "less_than_x_days_ago", "includes_value", "is", "opted_in", "(", "2024-05-01",
         "subscription_group", "subscription_group_id", "subscribed", "profile_field", "field", "country", "US",
         "time_zone", "not_equal"]
junk_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6)
                | st.sampled_from(WORDS))
junk = st.recursive(junk_scalars, lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=4), children, max_size=3),
                    max_leaves=15)


@SETTINGS
@given(junk, st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_any_spec_compiles_or_raises_segment_error(spec: Any, now: datetime) -> None:
    try:
        predicate = compile_filter(spec)
    except SegmentError as exc:
        assert str(exc).startswith(exc.path + ": ")
        return
    profile = Profile(braze_id="b", created_at=now, random_bucket_number=0,
                      custom={name: "blue" for name in WORDS})
    assert predicate(profile, now) in (True, False)
