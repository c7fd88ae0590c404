"""`/_admin/rate_limits` on both fakes: one parser (`harness.ratelimit.parse_limit_table`), one contract.

PUT replaces the whole table, PATCH changes only the keys it names (null removes one); every bad table is a
400 in the fake's own error format and changes nothing; nothing accepted can break a later request.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clock import SimClock
from harness.ratelimit import (
    MAX_LIMIT,
    MAX_WINDOW_SECONDS,
    MIN_WINDOW_SECONDS,
    Limit,
    LimitTableError,
    RateLimiter,
    parse_limit_table,
)
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.sendbird.app import create_app as create_sendbird

from .services import BRAZE_AUTH, SENDBIRD_AUTH, TEMPLATE, braze_error, sendbird_error

KEYS = ("a", "b", "c")
limits = st.integers(0, MAX_LIMIT)
windows = st.floats(MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS) | st.integers(1, MAX_WINDOW_SECONDS)
specs = st.fixed_dictionaries({"limit": limits, "window_seconds": windows})
anything = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                     max_size=3), max_leaves=8)
near_specs = st.fixed_dictionaries({}, optional={"limit": limits | anything, "window_seconds": windows | anything,
                                                 "extra": anything})


@settings(max_examples=200, deadline=None)
@given(table=st.dictionaries(st.sampled_from(KEYS), specs))
def test_a_valid_table_is_taken_as_it_is(table):
    parsed = parse_limit_table(table, KEYS)
    assert {k: v.to_dict() for k, v in parsed.items()} == {
        k: {"limit": s["limit"], "window_seconds": float(s["window_seconds"])} for k, s in table.items()}


@settings(max_examples=300, deadline=None)
@given(body=anything | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3),
                                       st.none() | specs | near_specs | anything, max_size=4),
       patch=st.booleans())
def test_any_body_gives_a_table_of_valid_limits_or_a_clear_error(body, patch):
    current = {"a": Limit(1, 1.0)} if patch else None
    try:
        parsed = parse_limit_table(body, KEYS, current)
    except LimitTableError as exc:
        assert str(exc)
        return
    for key, limit in parsed.items():
        assert key in KEYS
        assert 0 <= limit.limit <= MAX_LIMIT and type(limit.limit) is int
        assert MIN_WINDOW_SECONDS <= limit.window_seconds <= MAX_WINDOW_SECONDS


@settings(max_examples=200, deadline=None)
@given(limit=limits, window=windows, at=st.datetimes(datetime(1970, 1, 2), datetime(9999, 1, 1)))
def test_every_accepted_limit_counts_at_any_time(limit, window, at):
    """What the table accepts, the limiter can count with: the window arithmetic stays finite."""
    clock = SimClock(at.replace(tzinfo=UTC))
    verdict = RateLimiter(clock, {"k": Limit(limit, window)}).hit("k")
    assert verdict is not None and verdict.allowed == (limit >= 1)
    assert verdict.reset >= math.floor(clock.now().timestamp())


# -- the two fakes, one contract --------------------------------------------------------------------------

class Fake:
    def __init__(self, name: str) -> None:
        self.name = name
        runtime = Runtime.simulation(seed=1)
        if name == "braze":
            self.app, self.keys, self.is_error = create_braze(runtime), ("users.track", "rest"), braze_error
        else:
            self.app, self.keys, self.is_error = create_sendbird(runtime), ("send", "templates"), sendbird_error
            assert self.client.post("/v1/templates", json=TEMPLATE, headers=SENDBIRD_AUTH).status_code == 200

    @property
    def client(self):
        return self.app.test_client()

    def table(self) -> dict[str, Any]:
        return self.client.get("/_admin/rate_limits").get_json()

    def request(self, key: str):
        """One product request counted against `key`."""
        return {
            "users.track": lambda: self.client.post("/users/track", json={"attributes": [{"external_id": "u1"}]},
                                                    headers=BRAZE_AUTH),
            "rest": lambda: self.client.get("/segments/list", headers=BRAZE_AUTH),
            "send": lambda: self.client.post("/v1/notifications", headers=SENDBIRD_AUTH, json={
                "template": {"key": "welcome"}, "targets": ["u1"], "mode": "realtime"}),
            "templates": lambda: self.client.get("/v1/templates", headers=SENDBIRD_AUTH),
        }[key]()


@pytest.fixture(params=["braze", "sendbird"])
def fake(request) -> Fake:
    return Fake(request.param)


def test_put_replaces_the_whole_table(fake):
    first, second = fake.keys
    assert fake.client.put("/_admin/rate_limits", json={first: {"limit": 1, "window_seconds": 60},
                                                       second: {"limit": 1, "window_seconds": 60}}).status_code == 200
    response = fake.client.put("/_admin/rate_limits", json={first: {"limit": 2, "window_seconds": 60}})
    assert response.status_code == 200
    assert response.get_json() == fake.table() == {first: {"limit": 2, "window_seconds": 60.0}}
    assert all(fake.request(second).status_code != 429 for _ in range(3))
    assert "X-RateLimit-Limit" not in fake.request(second).headers


def test_put_of_an_empty_table_turns_every_limit_off(fake):
    assert fake.client.put("/_admin/rate_limits", json={}).get_json() == {}
    assert all(fake.request(fake.keys[0]).status_code != 429 for _ in range(5))


def test_patch_changes_only_the_keys_it_names_and_null_removes_one(fake):
    first, second = fake.keys
    fake.client.put("/_admin/rate_limits", json={first: {"limit": 5, "window_seconds": 60},
                                                 second: {"limit": 1, "window_seconds": 60}})
    response = fake.client.patch("/_admin/rate_limits", json={first: {"limit": 7, "window_seconds": 30}})
    assert response.status_code == 200
    assert response.get_json() == {first: {"limit": 7, "window_seconds": 30.0}, second: {"limit": 1,
                                                                                          "window_seconds": 60.0}}
    assert fake.request(second).status_code != 429
    assert fake.request(second).status_code == 429
    removed = fake.client.patch("/_admin/rate_limits", json={second: None})
    assert removed.get_json() == {first: {"limit": 7, "window_seconds": 30.0}}
    assert fake.request(second).status_code != 429


BAD_ENTRIES = [
    pytest.param({"limit": 1, "window_seconds": 1e-300}, id="window-1e-300"),
    pytest.param({"limit": 1, "window_seconds": 5e-324}, id="window-subnormal"),
    pytest.param({"limit": 1, "window_seconds": 1e300}, id="window-huge"),
    pytest.param({"limit": 1, "window_seconds": 10**400}, id="window-huge-int"),
    pytest.param({"limit": 1, "window_seconds": 0}, id="window-0"),
    pytest.param({"limit": 1, "window_seconds": -5}, id="window-negative"),
    pytest.param({"limit": 1, "window_seconds": True}, id="window-bool"),
    pytest.param({"limit": 1, "window_seconds": "60"}, id="window-string"),
    pytest.param({"limit": 1}, id="window-missing"),
    pytest.param({"limit": -1, "window_seconds": 1}, id="limit-negative"),
    pytest.param({"limit": 10**13, "window_seconds": 1}, id="limit-huge"),
    pytest.param({"limit": 2**64, "window_seconds": 1}, id="limit-past-64-bits"),
    pytest.param({"limit": 1.5, "window_seconds": 1}, id="limit-float"),
    pytest.param({"limit": True, "window_seconds": 1}, id="limit-bool"),
    pytest.param({"limit": "5", "window_seconds": 1}, id="limit-string"),
    pytest.param({"limit": None, "window_seconds": 1}, id="limit-null"),
    pytest.param({"window_seconds": 1}, id="limit-missing"),
    pytest.param({"limit": 1, "window_seconds": 1, "burst": 2}, id="extra-field"),
    pytest.param([1, 60], id="not-an-object"),
    pytest.param(None, id="null-in-a-put"),
]


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("entry", BAD_ENTRIES)
def test_a_bad_entry_is_a_400_in_the_fakes_format_and_changes_nothing(fake, method, entry):
    if method == "patch" and entry is None:
        return  # null removes a limit in a PATCH
    before = fake.table()
    response = getattr(fake.client, method)("/_admin/rate_limits", json={fake.keys[0]: entry})
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert fake.is_error(body), body
    assert fake.keys[0] in body["message"], body
    assert fake.table() == before
    assert fake.request(fake.keys[0]).status_code < 500


@pytest.mark.parametrize("raw", [b'{"K": {"limit": 1, "window_seconds": NaN}}',
                                 b'{"K": {"limit": 1, "window_seconds": Infinity}}',
                                 b'{"K": {"limit": Infinity, "window_seconds": 1}}'])
def test_nan_and_infinity_are_refused(fake, raw):
    response = fake.client.put("/_admin/rate_limits", data=raw.replace(b"K", fake.keys[0].encode()),
                               content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert fake.is_error(response.get_json())
    assert fake.request(fake.keys[0]).status_code < 500


@pytest.mark.parametrize("body", [[], "x", 1, None, {"no.such.limit": {"limit": 1, "window_seconds": 1}}])
def test_a_body_that_is_not_a_table_of_known_keys_is_refused(fake, body):
    response = fake.client.put("/_admin/rate_limits", json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert fake.is_error(response.get_json())


def test_the_smallest_window_still_counts(fake):
    fake.client.put("/_admin/rate_limits", json={fake.keys[0]: {"limit": 1, "window_seconds": MIN_WINDOW_SECONDS}})
    assert fake.request(fake.keys[0]).status_code != 429
    assert fake.request(fake.keys[0]).status_code == 429
    fake.app.extensions["runtime"].clock.advance(timedelta(milliseconds=1))
    assert fake.request(fake.keys[0]).status_code != 429
