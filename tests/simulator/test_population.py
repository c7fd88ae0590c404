"""The simulated population (`simulator/population.py`): deterministic for a seed, faithful to the
spec's weights, shares and audiences, and accepted as is by the fake Braze's `/users/track`."""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be installed into the venv
    sys.path.insert(0, str(ROOT))

from mocks.braze.rest.auth import DEFAULT_API_KEY  # noqa: E402
from mocks.braze.users.track import MAX_OBJECTS  # noqa: E402
from mocks.braze.users.values import default_attribute  # noqa: E402
from simulator.population import TIME_ZONES, build_population, track_payloads  # noqa: E402
from simulator.scenario import Behaviour, PastEvent, PastPurchases, Population  # noqa: E402
from simulator.stack import build  # noqa: E402

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PRO = {"custom_attribute": {"custom_attribute_name": "plan", "comparison": "equals", "value": "pro"}}
LANGUAGES = {"US": "en", "DE": "de", "JP": "ja", "BR": "pt", "KR": "ko", "MX": "es", "PL": "pl"}


def population(size: int = 1000, **overrides) -> Population:
    fields = {
        "size": size,
        "countries": {"US": 0.5, "DE": 0.2, "JP": 0.1, "BR": 0.1, "KR": 0.05, "MX": 0.05},
        "custom_attributes": {"plan": {"values": {"free": 3, "pro": 1}}, "age": {"range": [18, 80]},
                              "score": {"range": [0, 1], "integer": False}},
        "past_events": [PastEvent(name="app_open", per_user=(1, 3), within=7 * 86_400),
                        PastEvent(name="viewed_item", per_user=(0, 2))],
        "past_purchases": PastPurchases(probability=0.3, products=["sku-1", "sku-2"], price=(5, 50)),
        "behaviours": [Behaviour(name="eager", share=0.25, open_probability=0.9),
                       Behaviour(name="casual", share=0.5, open_probability=0.5),
                       Behaviour(name="rest", open_probability=0.1)],
    }
    fields.update(overrides)
    return Population(**fields)


@pytest.fixture(scope="module")
def users():
    return build_population(population(), seed=7, start=START)


def test_same_seed_gives_the_same_users(users):
    assert build_population(population(), seed=7, start=START) == users


def test_another_seed_gives_other_users(users):
    other = build_population(population(), seed=8, start=START)
    assert [u.email for u in other] != [u.email for u in users]
    assert [u.country for u in other] != [u.country for u in users]


def test_size_and_ids(users):
    assert len(users) == 1000
    assert [u.external_id for u in users] == [f"user-{i}" for i in range(1000)]
    for user in users:
        assert user.sendbird_id == f"sb-{user.external_id}"
        assert user.custom_attributes["sendbird_id"] == user.sendbird_id


def test_external_id_mapping_uses_the_external_id_as_sendbird_id():
    users = build_population(population(50, id_mapping="external_id", external_id_prefix="cust_"), 1, START)
    assert [u.external_id for u in users][:3] == ["cust_0", "cust_1", "cust_2"]
    for user in users:
        assert user.sendbird_id == user.external_id
        assert "sendbird_id" not in user.custom_attributes


def test_country_weights_are_roughly_respected():
    users = build_population(population(5000), seed=3, start=START)
    share = {country: n / len(users) for country, n in Counter(u.country for u in users).items()}
    for country, weight in {"US": 0.5, "DE": 0.2, "JP": 0.1, "BR": 0.1, "KR": 0.05, "MX": 0.05}.items():
        assert abs(share[country] - weight) < 0.03, (country, share[country])


def test_language_and_time_zone_follow_the_country(users):
    for user in users:
        assert user.language == LANGUAGES[user.country]
        assert user.time_zone in {zone for zone, _ in TIME_ZONES[user.country]}
        ZoneInfo(user.time_zone)
    us_zones = Counter(u.time_zone for u in users if u.country == "US")
    assert len(us_zones) >= 3  # spread over the country, not all in one zone


def test_countries_outside_the_table_get_their_own_locale_and_zone():
    users = build_population(population(20, countries={"PL": 1}), 1, START)
    assert {(u.language, u.time_zone) for u in users} == {("pl", "Europe/Warsaw")}


def test_unknown_country_code_is_refused():
    with pytest.raises(ValueError, match="XX"):
        build_population(population(10, countries={"US": 1, "XX": 1}), 1, START)


def test_custom_attribute_may_not_overwrite_what_the_population_sets():
    with pytest.raises(ValueError, match="email"):
        build_population(population(10, custom_attributes={"email": {"values": {"a@b.co": 1}}}), 1, START)


def test_emails_are_valid_unique_and_name_the_user(users):
    emails = [u.email for u in users]
    assert len(set(emails)) == len(emails)
    for user in users:
        assert default_attribute("email", user.email) == user.email
        assert user.email.isascii()
        assert user.email.split("@")[0].endswith(user.external_id.replace("-", ""))


def test_names_come_from_the_locale(users):
    japanese = [u for u in users if u.country == "JP"]
    assert japanese and all(not u.last_name.isascii() for u in japanese)
    assert len({u.first_name for u in users if u.country == "US"}) > 50


def test_custom_attributes_are_drawn_from_the_spec(users):
    plans = Counter(u.custom_attributes["plan"] for u in users)
    assert set(plans) == {"free", "pro"} and 0.18 < plans["pro"] / len(users) < 0.32
    assert all(type(u.custom_attributes["age"]) is int and 18 <= u.custom_attributes["age"] <= 80 for u in users)
    assert all(isinstance(u.custom_attributes["score"], float) and 0 <= u.custom_attributes["score"] <= 1
               for u in users)


def test_past_events_and_purchases(users):
    for user in users:
        counts = Counter(name for name, _, _ in user.past_events)
        assert 1 <= counts["app_open"] <= 3 and counts["viewed_item"] <= 2
        times = [when for _, when, _ in user.past_events]
        assert times == sorted(times)
        for name, when, _ in user.past_events:
            within = timedelta(days=7 if name == "app_open" else 14)
            assert START - within <= when <= START
        for purchase in user.purchases:
            assert purchase["product_id"] in ("sku-1", "sku-2") and 5 <= purchase["price"] <= 50
            assert START - timedelta(days=30) <= purchase["time"] <= START
    buyers = sum(1 for u in users if u.purchases)
    assert 0.25 < buyers / len(users) < 0.35


def test_behaviours_are_split_by_share(users):
    assert Counter(u.behaviour.name for u in users) == {"eager": 250, "casual": 500, "rest": 250}


def test_without_a_shareless_behaviour_the_last_one_takes_the_rest():
    spec = population(100, behaviours=[Behaviour(name="a", share=0.3, open_probability=1),
                                       Behaviour(name="b", share=0.3, open_probability=1)])
    assert Counter(u.behaviour.name for u in build_population(spec, 1, START)) == {"a": 30, "b": 70}


def test_audience_behaviours_take_the_users_they_match():
    spec = population(behaviours=[Behaviour(name="pros", audience={"filter": PRO}, open_probability=1),
                                  Behaviour(name="half", share=0.5, open_probability=0.5),
                                  Behaviour(name="rest", open_probability=0)])
    users = build_population(spec, 7, START)
    pros = [u for u in users if u.custom_attributes["plan"] == "pro"]
    assert pros and all(u.behaviour.name == "pros" for u in pros)
    others = Counter(u.behaviour.name for u in users if u.custom_attributes["plan"] != "pro")
    assert set(others) == {"half", "rest"}
    assert others["half"] == 500  # a share is of the whole population
    assert build_population(spec, 7, START) == users


def test_audiences_see_past_events_and_saved_segments():
    busy = {"custom_event": {"name": "app_open", "comparison": "greater_than", "value": 2, "days": 30}}
    spec = population(300, behaviours=[Behaviour(name="busy", audience={"segment": "Busy"}, open_probability=1),
                                       Behaviour(name="rest", open_probability=0)])
    users = build_population(spec, 2, START, segments={"Busy": busy})
    for user in users:
        opens = sum(1 for name, _, _ in user.past_events if name == "app_open")
        assert (user.behaviour.name == "busy") == (opens == 3)
    with pytest.raises(ValueError, match="unknown segment"):
        build_population(spec, 2, START)


def test_users_outside_every_audience_need_a_behaviour():
    spec = population(50, behaviours=[Behaviour(name="pros", audience={"filter": PRO}, open_probability=1)])
    with pytest.raises(ValueError, match="match no behaviour"):
        build_population(spec, 1, START)


def test_track_payloads_are_accepted_by_the_fake_braze(users):
    payloads = track_payloads(users, START)
    assert all(sum(len(v) for v in p.values()) <= MAX_OBJECTS for p in payloads)
    assert sum(len(p.get("attributes", [])) for p in payloads) == len(users)
    assert sum(len(p.get("events", [])) for p in payloads) == sum(len(u.past_events) for u in users)
    assert sum(len(p.get("purchases", [])) for p in payloads) == sum(len(u.purchases) for u in users)

    stack = build(7)
    client = stack.braze_app.test_client()
    for payload in payloads:
        response = client.post("/users/track", json=payload, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"})
        assert response.status_code == 201, response.get_json()
        assert "errors" not in response.get_json(), response.get_json()
    assert len(stack.braze.users) == len(users)
    user = users[0]
    profile = stack.braze.users.by_external_id(user.external_id)
    for key in ("first_name", "last_name", "email", "country", "language", "time_zone"):
        assert profile.attributes[key] == getattr(user, key)
    assert profile.custom["sendbird_id"] == user.sendbird_id
    assert profile.custom["plan"] == user.custom_attributes["plan"]
    assert profile.events["app_open"].count == sum(1 for name, _, _ in user.past_events if name == "app_open")


def test_build_time_of_10000_users():
    began = time.perf_counter()
    users = build_population(population(10_000), seed=1, start=START)
    elapsed = time.perf_counter() - began
    print(f"\nbuilt {len(users):,} users in {elapsed:.2f} s")


def attribute_population(size: int = 1000, **attributes) -> Population:
    return population(size, custom_attributes=attributes, past_events=[], past_purchases=None)


def test_an_attribute_may_be_unset_for_a_share_of_users_and_the_others_keep_their_values():
    spec = attribute_population(plan={"values": {"free": 3, "pro": 1}, "unset": 0.2}, age={"range": [18, 80]})
    users = build_population(spec, seed=7, start=START)
    without = [u for u in users if "plan" not in u.custom_attributes]
    assert 0.15 < len(without) / len(users) < 0.25
    assert all("age" in u.custom_attributes for u in users)
    assert build_population(spec, seed=7, start=START) == users
    assert build_population(spec, seed=8, start=START) != users
    always = build_population(attribute_population(plan={"values": {"free": 3, "pro": 1}}, age={"range": [18, 80]}),
                              seed=7, start=START)
    for user, full in zip(users, always, strict=True):  # the same draws: leaving some out renames no one
        kept = {k: v for k, v in full.custom_attributes.items() if k in user.custom_attributes}
        assert user.custom_attributes == kept


def test_boolean_attributes_are_true_for_their_share():
    users = build_population(attribute_population(vip={"boolean": 0.3}), seed=3, start=START)
    values = Counter(u.custom_attributes["vip"] for u in users)
    assert set(values) == {True, False} and all(type(v) is bool for v in values)
    assert 0.25 < values[True] / len(users) < 0.35


def test_an_attribute_gets_one_source():
    for sources in ({}, {"values": {"a": 1}, "boolean": 0.5}, {"range": [0, 1], "boolean": 0.5}):
        with pytest.raises(ValueError, match="exactly one of 'values'"):
            attribute_population(plan=sources)
    with pytest.raises(ValueError, match="less than or equal to 1"):
        attribute_population(vip={"boolean": 1.5})


def test_an_unset_attribute_is_left_out_of_the_payload_and_the_braze_profile_lacks_it():
    spec = attribute_population(200, nickname={"values": {"Ace": 1}, "unset": 0.5}, vip={"boolean": 0.5})
    users = build_population(spec, seed=5, start=START)
    rows = {row["external_id"]: row for payload in track_payloads(users, START) for row in payload["attributes"]}
    stack = build(5)
    client = stack.braze_app.test_client()
    for payload in track_payloads(users, START):
        response = client.post("/users/track", json=payload, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"})
        assert response.status_code == 201 and "errors" not in response.get_json(), response.get_json()
    unset = {u.external_id for u in users if "nickname" not in u.custom_attributes}
    assert unset and len(unset) < len(users)
    for user in users:
        profile = stack.braze.users.by_external_id(user.external_id)
        has = user.external_id not in unset
        assert ("nickname" in rows[user.external_id]) == ("nickname" in profile.custom) == has
        assert profile.custom["vip"] is user.custom_attributes["vip"]
