"""harness.faults.rules: what a rule accepts (and the one-line refusals), what it matches, and when and how
often it fires: seeded draws replay, a count stops it, a window on the service clock bounds it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clock import SimClock
from harness.faults.rules import FaultInputError, FaultRules, Subject
from harness.ids import IdFactory
from harness.journal import Journal

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rules(seed: int = 1) -> tuple[FaultRules, SimClock, Journal]:
    clock = SimClock(T0)
    journal = Journal(clock)
    return FaultRules("sendbird", journal, clock, IdFactory(seed)), clock, journal


def post(path: str = "/v1/notifications", body: Any = None, method: str = "POST", host: str = "") -> Subject:
    raw = json.dumps(body).encode() if body is not None else b""
    return Subject(method, path, host=host, body=raw)


def test_a_rule_answers_with_its_id_and_counters_and_fires_on_what_it_matches():
    store, _, journal = rules()
    rule = store.add({"match": {"method": "post", "path": "/v1/notifications*"}, "effect": {"status": 503},
                      "name": "sb-503"})
    listed = store.get(rule.id)
    assert listed["id"].startswith("fault-") and listed["name"] == "sb-503" and listed["active"]
    assert (listed["matched"], listed["fired"]) == (0, 0)
    assert store.decide("inbound", post("/v1/templates")) is None
    assert store.decide("inbound", post("/v1/notifications", method="GET")) is None
    firing = store.decide("inbound", post("/v1/notifications/batch"), trace_id="t-1")
    assert (firing.kind, firing.status) == ("status", 503)
    assert store.get(rule.id)["fired"] == 1
    (record,) = [r for r in journal.read()[0] if r.kind == "fault.fired"]
    assert record.trace_id == "t-1"
    assert record.attrs == {"rule": rule.id, "name": "sb-503", "effect": "status", "direction": "inbound",
                            "method": "POST", "path": "/v1/notifications/batch", "status": 503}


def test_outbound_rules_never_act_on_inbound_requests_and_match_the_host():
    store, _, _ = rules()
    store.add({"direction": "outbound", "match": {"host": "bridge.*"}, "effect": {"drop": True}})
    assert store.has_outbound and not store.has_inbound
    assert store.decide("inbound", post()) is None
    assert store.decide("outbound", post(host="sendbird.local")) is None
    assert store.decide("outbound", post(host="BRIDGE.local")).kind == "drop"


@pytest.mark.parametrize(("match", "subject", "fires"), [
    ({"user": "u-7"}, post(body={"targets": ["u-1", "u-7"]}), True),
    ({"user": "u-7"}, post(body={"targets": ["u-1"]}), False),
    ({"user": "u-7"}, post("/v3/users/u-7/unread_message_count", method="GET"), True),
    ({"user": "u-7"}, Subject("GET", "/v1/feed", query="user_id=u-7"), True),
    ({"user": "ext-1"}, post("/users/track", {"events": [{"external_id": "ext-1", "name": "x"}]}), True),
    ({"user": "ext-1"}, post("/campaigns/trigger/send", {"recipients": [{"external_user_id": "ext-1"}]}), True),
    ({"user": "sb-1"}, post("/braze/notifications/realtime", {"receiver": "sb-1", "template_key": "w"}), True),
    ({"template": "welcome"}, post(body={"template": {"key": "welcome"}, "targets": ["u"]}), True),
    ({"template": "welcome"}, post("/v1/templates/welcome", method="PUT", body={}), True),
    ({"template": "welcome"}, post(body={"template": {"key": "other"}}), False),
    ({"template": "welcome"}, Subject("POST", "/v1/notifications", body=b"not json"), False),
])
def test_user_and_template_matchers_read_what_the_request_names(match, subject, fires):
    store, _, _ = rules()
    store.add({"match": match, "effect": {"status": 500}})
    assert (store.decide("inbound", subject) is not None) is fires


def test_count_stops_a_rule_after_that_many_firings():
    store, _, _ = rules()
    rule = store.add({"effect": {"status": 503}, "count": 3})
    fired = [store.decide("inbound", post()) is not None for _ in range(5)]
    assert fired == [True, True, True, False, False]
    assert store.get(rule.id)["active"] is False and store.get(rule.id)["fired"] == 3


def test_a_window_on_the_service_clock_bounds_a_rule():
    store, clock, _ = rules()
    rule = store.add({"effect": {"status": 503}, "start": "+10s", "end": "+30s"})
    assert store.get(rule.id)["start"] == "2026-03-01T12:00:10Z"
    assert store.decide("inbound", post()) is None
    clock.advance(10)
    assert store.decide("inbound", post()) is not None
    clock.advance(19.999)
    assert store.decide("inbound", post()) is not None
    clock.advance(0.001)
    assert store.decide("inbound", post()) is None
    absolute = store.add({"effect": {"status": 500}, "start": "2026-03-01T13:00:00+01:00"})
    assert store.get(absolute.id)["start"] == "2026-03-01T12:00:00Z"


def test_the_first_matching_rule_wins_and_a_probability_miss_lets_the_next_one_try():
    store, _, _ = rules()
    store.add({"effect": {"status": 500}, "probability": 0.5, "seed": 3})
    store.add({"effect": {"status": 429}})
    statuses = Counter(store.decide("inbound", post()).status for _ in range(400))
    assert set(statuses) == {500, 429} and 150 < statuses[500] < 250


def test_the_same_seed_draws_the_same_firings_and_another_seed_others():
    def pattern(seed: int) -> list[bool]:
        store, _, _ = rules()
        store.add({"effect": {"status": 503}, "probability": 0.1, "seed": seed})
        return [store.decide("inbound", post()) is not None for _ in range(500)]

    assert pattern(42) == pattern(42)
    assert pattern(42) != pattern(43)
    assert 25 < sum(pattern(42)) < 80


def test_an_unseeded_rule_takes_a_seed_from_the_runtime_and_says_which():
    first, _, _ = rules(seed=9)
    again, _, _ = rules(seed=9)
    a = first.add({"effect": {"status": 503}, "probability": 0.3})
    b = again.add({"effect": {"status": 503}, "probability": 0.3})
    assert (a.id, a.seed) == (b.id, b.seed)  # a simulated run replays its faults


@pytest.mark.parametrize(("latency", "low", "high"), [
    (250, 0.25, 0.25),
    ({"distribution": "fixed", "ms": 40}, 0.04, 0.04),
    ({"distribution": "uniform", "min_ms": 10, "max_ms": 20}, 0.01, 0.02),
    ({"distribution": "lognormal", "median_ms": 100, "sigma": 0.5}, 0.0, 600.0),
])
def test_latency_is_drawn_from_its_distribution_and_added_up(latency, low, high):
    store, _, _ = rules()
    rule = store.add({"effect": {"latency_ms": latency}, "seed": 5})
    draws = [store.decide("inbound", post()).latency_s for _ in range(200)]
    assert all(low <= d <= high for d in draws)
    assert store.get(rule.id)["added_latency_ms"] == pytest.approx(sum(draws) * 1000, abs=0.01)
    if isinstance(latency, dict) and latency["distribution"] == "lognormal":
        median = sorted(draws)[100]
        assert 0.07 < median < 0.14


def test_remove_and_clear_drop_rules_and_journal_it():
    store, _, journal = rules()
    one = store.add({"effect": {"status": 503}})
    store.add({"effect": {"drop": True}})
    assert store.remove(one.id) is True and store.remove(one.id) is False
    assert store.clear() == 1 and store.listing() == [] and not store.has_inbound
    kinds = [r.kind for r in journal.read()[0]]
    assert kinds == ["fault.added", "fault.added", "fault.removed", "fault.removed"]


@pytest.mark.parametrize(("body", "message"), [
    ([], "a fault rule is a JSON object with match and effect"),
    ({}, "effect: Field required"),
    ({"effect": {}}, "effect: an effect needs one of status, latency_ms, hang, drop and malformed"),
    ({"effect": {"hang": True, "drop": True}},
     "effect: an effect takes one of hang, drop and malformed, not hang and drop"),
    ({"effect": {"drop": True, "status": 503}}, "effect: drop sends no answer, so it takes no status"),
    ({"effect": {"latency_ms": 10, "headers": {"Retry-After": "1"}}}, "effect: headers go with a status"),
    ({"effect": {"status": 503, "headers": {"Bad Name": "1"}}},
     "effect.headers.Bad Name.[key]: String should match pattern"),
    ({"effect": {"status": 503, "headers": {"X": "a\r\nb"}}}, "effect.headers.X: String should match pattern"),
    ({"effect": {"status": 99}}, "effect.status: Input should be greater than or equal to 100"),
    ({"effect": {"status": "503"}}, "effect.status: Input should be a valid integer"),
    ({"effect": {"latency_ms": -1}}, "effect.latency_ms: Input should be greater than or equal to 0"),
    ({"effect": {"latency_ms": "slow"}}, "effect.latency_ms: a number of milliseconds, or an object"),
    ({"effect": {"latency_ms": {"distribution": "uniform", "min_ms": 5, "max_ms": 1}}},
     "effect.latency_ms.uniform: min_ms must not be above max_ms"),
    ({"effect": {"status": 503}, "probability": 0}, "probability: Input should be greater than 0"),
    ({"effect": {"status": 503}, "probability": 1.5}, "probability: Input should be less than or equal to 1"),
    ({"effect": {"status": 503}, "count": 0}, "count: Input should be greater than or equal to 1"),
    ({"effect": {"status": 503}, "start": "soon"},
     "start: 'soon' is neither an ISO-8601 time nor a delay such as '+10s'"),
    ({"effect": {"status": 503}, "start": "+20s", "end": "+10s"}, "end must come after start"),
    ({"effect": {"status": 503}, "match": {"host": "x"}}, "match.host is for outbound rules"),
    ({"effect": {"latency_ms": 5}, "direction": "outbound"}, "latency cannot be added to an outbound call"),
    ({"effect": {"status": 503}, "match": {"path": "v1/*"}}, "match.path: String should match pattern '^/'"),
    ({"effect": {"status": 503}, "surprise": 1}, "surprise: Extra inputs are not permitted"),
])
def test_bad_rules_are_refused_in_one_line_and_nothing_is_added(body, message):
    store, _, journal = rules()
    with pytest.raises(FaultInputError) as refused:
        store.add(body)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert store.listing() == [] and len(journal) == 0


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["match", "effect", "status", "latency_ms", "hang", "drop",
                                                       "malformed", "probability", "count", "path", "user", "start",
                                                       "direction", "distribution", "ms", "headers", "x"]),
                                      inner, max_size=5), max_leaves=12)


@settings(max_examples=300)
@given(JSON)
def test_any_json_body_is_a_rule_or_a_one_line_refusal(body):
    store, _, _ = rules()
    try:
        rule = store.add(body)
    except FaultInputError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert store.listing() == []
    else:
        assert store.get(rule.id)["id"] == rule.id


EFFECTS = st.one_of(
    st.builds(lambda s: {"status": s}, st.integers(100, 599)),
    st.builds(lambda ms: {"latency_ms": ms}, st.floats(0, 600_000)),
    st.builds(lambda lo, span: {"latency_ms": {"distribution": "uniform", "min_ms": lo, "max_ms": lo + span}},
              st.floats(0, 1000), st.floats(0, 1000)),
    st.just({"hang": True}), st.just({"drop": True}), st.just({"malformed": True}))


@settings(max_examples=200)
@given(EFFECTS, st.floats(0.01, 1), st.none() | st.integers(1, 50),
       st.sampled_from(["/v1/*", "/v1/notifications", "/*"]))
def test_a_listed_rule_added_again_is_the_same_rule(effect, probability, count, path):
    store, _, _ = rules()
    rule = store.add({"match": {"path": path}, "effect": effect, "probability": probability, "count": count})
    listed = store.get(rule.id)
    again = store.add({k: listed[k] for k in ("match", "effect", "probability", "count", "seed")})
    copy = store.get(again.id)
    assert {k: v for k, v in copy.items() if k != "id"} == {k: v for k, v in listed.items() if k != "id"}


def test_latency_windows_and_counts_are_read_on_the_service_clock_not_the_wall():
    store, clock, _ = rules()
    store.add({"effect": {"status": 503}, "end": "+1h"})
    clock.advance(timedelta(hours=2))  # a simulated run crosses the hour in no wall time
    assert store.decide("inbound", post()) is None
