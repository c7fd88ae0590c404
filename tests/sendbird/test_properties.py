"""Property tests: arbitrary bodies never break the fake; valid sends deliver one message per target."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runtime import Runtime

from .conftest import AUTH, UI_TEMPLATE, Api, is_error_shape, make_app

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=10), children, max_size=5), max_leaves=20)

user_ids = st.text(alphabet="abcde", min_size=1, max_size=3)
maybe_ids = st.one_of(user_ids, json_values)

template_objects = st.fixed_dictionaries(
    {}, optional={"key": st.sampled_from(["welcome", "archived", "nope"]) | json_values,
                  "variables": json_values | st.dictionaries(user_ids, json_values | st.dictionaries(
                      st.sampled_from(["name", "code", "x"]), json_values, max_size=3), max_size=4)})
send_bodies = st.fixed_dictionaries(
    {}, optional={
        "template": template_objects | json_values,
        "mode": st.sampled_from(["realtime", "batch", "auto", "single", "multi", "other"]) | json_values,
        "targets": st.lists(maybe_ids, max_size=12) | json_values,
        "targets_filename": st.sampled_from(["missing.csv"]) | json_values,
        "push_template": st.fixed_dictionaries({}, optional={"title": json_values, "body": json_values})
        | json_values,
        "label": json_values,
        "tags": st.lists(json_values, max_size=3) | json_values,
        "notification_group": json_values,
    })
schema_entries = st.fixed_dictionaries({}, optional={
    "key": st.sampled_from(["name", "code"]) | json_values,
    "type": st.sampled_from(["string", "number", "boolean", "url", "color", "image", "text"]) | json_values,
    "name": json_values, "required": st.booleans() | json_values})
template_bodies = st.fixed_dictionaries(
    {}, optional={
        "key": st.text(alphabet="abcXYZ09_-. ", min_size=0, max_size=12) | st.text(min_size=95, max_size=105)
        | json_values,
        "name": st.text(max_size=10) | json_values,
        "ui_template": st.dictionaries(st.text(max_size=5), json_values, max_size=3) | json_values,
        "variable_schema": st.lists(schema_entries | json_values, max_size=3) | json_values,
        "category": json_values, "label": json_values, "channel_url": st.sampled_from(["feed_x"]) | json_values,
    })


def _fresh_api() -> Api:
    runtime = Runtime.simulation(seed=1)
    api = Api(make_app(runtime).test_client(), runtime)
    api.create_template("welcome")
    api.create_template("required", variable_schema=[{"key": "name", "type": "string", "name": "N",
                                                       "required": True}])
    api.create_template("archived")
    assert api.post("/v1/templates/archived/archive").status_code == 200
    return api


def _check(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code == 200:
        assert isinstance(resp.get_json(silent=True), dict | list), resp.get_data(as_text=True)
        return
    assert 400 <= resp.status_code < 500, resp.status_code
    body = resp.get_json(silent=True)
    assert is_error_shape(body), (resp.status_code, resp.get_data(as_text=True))


def _post_raw(api: Api, path: str, body) -> None:
    resp = api.client.post(path, data=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"})
    _check(resp)
    api.settle()


_api_cache: dict[str, Api] = {}


def _shared_api() -> Api:
    """One app for the fuzzing runs: state accumulated across examples is part of what is fuzzed."""
    if "api" not in _api_cache:
        _api_cache["api"] = _fresh_api()
    return _api_cache["api"]


@SETTINGS
@given(body=json_values)
def test_random_json_to_send_never_breaks(body):
    _post_raw(_shared_api(), "/v1/notifications", body)


@SETTINGS
@given(body=send_bodies)
def test_send_shaped_bodies_never_break(body):
    _post_raw(_shared_api(), "/v1/notifications", body)


@SETTINGS
@given(body=json_values)
def test_random_json_to_templates_never_breaks(body):
    _post_raw(_shared_api(), "/v1/templates", body)


@SETTINGS
@given(body=template_bodies)
def test_template_shaped_bodies_never_break(body):
    _post_raw(_shared_api(), "/v1/templates", body)


@SETTINGS
@given(raw=st.binary(max_size=64))
def test_raw_bytes_never_break(raw):
    api = _shared_api()
    for path in ("/v1/notifications", "/v1/templates"):
        _check(api.client.post(path, data=raw, headers={**AUTH, "Content-Type": "application/json"}))


def _mode_for(count: int, distinct: int):
    """A mode valid for the count both before and after dedupe (the doc leaves that order open)."""
    options: list[str | None] = [None, "auto", "multi"]
    if count == 1:
        options.append("realtime")
    if distinct >= 2:
        options.append("batch")
    if count <= 9:
        options.append("single")
    return st.sampled_from(options)


@st.composite
def valid_sends(draw):
    targets = draw(st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=2), min_size=1, max_size=50))
    distinct = list(dict.fromkeys(targets))
    mode = draw(_mode_for(len(targets), len(distinct)))
    variables = draw(st.dictionaries(st.sampled_from(distinct),
                                     st.fixed_dictionaries({"name": st.text(max_size=8)},
                                                           optional={"code": st.text(max_size=4)}),
                                     max_size=len(distinct)))
    return targets, mode, variables


@settings(max_examples=60, deadline=None)
@given(send=valid_sends())
def test_valid_sends_deliver_one_message_per_distinct_target(send):
    targets, mode, variables = send
    api = _shared_valid_api()
    before = {u: len(api.messages(u)) if api.get(f"/v3/users/{u}/unread_message_count").status_code == 200
              else 0 for u in set(targets)}
    resp = api.send(targets, mode=mode, variables=variables)
    assert resp.status_code == 200, (targets, mode, resp.get_data(as_text=True))
    api.settle()
    nid = resp.get_json()["notification_id"]
    counts = Counter(r["user_id"] for r in api.records("message.delivered", notification_id=nid))
    assert counts == Counter(dict.fromkeys(targets, 1))
    for user in set(targets):
        msgs = api.messages(user)
        assert len(msgs) == before[user] + 1
        mine = [m for m in msgs if m["notification_id"] == nid]
        assert len(mine) == 1
        expected_vars = variables.get(user, {})
        assert mine[0]["notification_data"]["template_variables"] == expected_vars
        rendered_title = mine[0]["rendered_template"]["body"]["items"][0]["text"]
        assert rendered_title == "Hello {}!".format(expected_vars.get("name", "{name}"))


_valid_cache: dict[str, Api] = {}


def _shared_valid_api() -> Api:
    if "api" not in _valid_cache:
        runtime = Runtime.simulation(seed=2)
        api = Api(make_app(runtime).test_client(), runtime)
        api.create_template("welcome", ui_template=UI_TEMPLATE)
        _valid_cache["api"] = api
    api = _valid_cache["api"]
    api.runtime.clock.advance(1)
    return api
