"""Admin bodies the fuzzer found answering 500, pinned: each is a 400 in the service's error format."""

from __future__ import annotations

import pytest

from .services import BRAZE_AUTH, EVENT, HOOK, braze_env, braze_error, bridge_env, sendbird_error

DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
BRIDGE_WRITES = [("PUT", "/_admin/integration"), ("POST", "/_admin/dead_letters/replay"), ("PUT", "/_admin/sending")]


@pytest.fixture
def braze():
    env = braze_env()
    yield env
    env.runtime.close()


@pytest.fixture
def bridge():
    env = bridge_env()
    yield env
    env.runtime.close()


def assert_bridge_error(response, code: int) -> dict:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert sendbird_error(body) and body["code"] == code, body
    return body


@pytest.mark.parametrize(("method", "path"), BRIDGE_WRITES)
@pytest.mark.parametrize("raw", [DEEP_LIST, DEEP_OBJECT, b'{"paused": NaN}', b'{"ids": [Infinity]}', b"\xff"],
                         ids=["deep-list", "deep-object", "nan", "infinity", "not-utf8"])
def test_bridge_admin_bodies_that_are_not_json_are_invalid_json(bridge, method, path, raw):
    response = bridge.client.open(path, method=method, data=raw, content_type="application/json")
    assert_bridge_error(response, 400403)


@pytest.mark.parametrize("ids", [[True], [False, 1], [1.0], ["1"], [None], 1, {"1": 1}])
def test_replay_ids_must_be_a_list_of_integers(bridge, ids):
    """`true` is no dead letter id, though Python counts it as the integer 1 (it replayed letter 1)."""
    response = bridge.client.post("/_admin/dead_letters/replay", json={"ids": ids})
    assert_bridge_error(response, 400111)
    assert bridge.client.get("/_admin/dead_letters").get_json()["dead_letters"][0]["replayed_at"] is None


@pytest.mark.parametrize("ids", [[2**63], [10**30], [-1], []])
def test_replay_of_ids_that_name_no_dead_letter_replays_nothing(bridge, ids):
    response = bridge.client.post("/_admin/dead_letters/replay", json={"ids": ids})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"replayed": []}


def test_replay_of_a_dead_letter_by_id_still_works(bridge):
    dead = bridge.client.get("/_admin/dead_letters").get_json()["dead_letters"]
    response = bridge.client.post("/_admin/dead_letters/replay", json={"ids": [dead[0]["id"]]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [r["id"] for r in response.get_json()["replayed"]] == [dead[0]["id"]]


# -- the fake Braze -------------------------------------------------------------------------------

def assert_braze_error(response) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert braze_error(body), body
    return body["message"]


@pytest.mark.parametrize("permissions", [[["users.track"]], [{"a": 1}], [1], [None], "users.track"])
def test_api_key_permissions_must_be_a_list_of_strings(braze, permissions):
    assert "permissions" in assert_braze_error(braze.client.post("/_admin/api_keys", json={
        "key": "k2", "permissions": permissions}))
    assert [k["key"] for k in braze.client.get("/_admin/secrets").get_json()["api_keys"]] == ["local-braze-key"]


def _campaign(**fields) -> dict:
    return {"name": "C", "webhook": HOOK, **fields}


def _canvas(*steps: dict, **fields) -> dict:
    return {"name": "Cv", "steps": list(steps) or [{"id": "m", "type": "message", "webhook": HOOK}], **fields}


FAR = "9999-12-31T23:59:59Z"
TEN_YEARS = 10 * 365 * 86_400  # the longest delay a definition may hold (docs/braze-fake.md)
OUT_OF_RANGE_DEFINITIONS = [
    ("campaigns", _campaign(trigger={"type": "scheduled", "every_seconds": 1e300}), "every_seconds"),
    ("campaigns", _campaign(trigger={"type": "scheduled", "every_seconds": 1e-300}), "every_seconds"),
    ("campaigns", _campaign(trigger={"type": "scheduled", "at": FAR, "every_seconds": 3600}), "trigger.scheduled.at"),
    ("campaigns", _campaign(trigger={"type": "scheduled", "until": "0001-01-01T00:00:00+00:00"}), "until"),
    ("campaigns", _campaign(re_eligible_after_seconds=1e300), "re_eligible_after_seconds"),
    ("campaigns", _campaign(trigger={"type": "action", "event": "opened", "delay_seconds": 1e300}), "delay_seconds"),
    ("campaigns", _campaign(trigger={"type": "action", "event": "opened", "start": FAR}), "start"),
    ("canvases", _canvas(re_eligible_after_seconds=1e300), "re_eligible_after_seconds"),
    ("canvases", _canvas({"id": "d", "type": "delay", "seconds": 1e300}), "seconds"),
    ("canvases", _canvas({"id": "d", "type": "delay", "until": FAR}), "until"),
    ("canvases", _canvas(entry={"type": "scheduled", "at": FAR}), "entry.scheduled.at"),
]


@pytest.mark.parametrize(("kind", "definition", "field"), OUT_OF_RANGE_DEFINITIONS,
                         ids=[f"{k}-{f}-{i}" for i, (k, _, f) in enumerate(OUT_OF_RANGE_DEFINITIONS)])
def test_definitions_whose_times_would_leave_the_calendar_are_refused_when_saved(braze, kind, definition, field):
    """Each was saved; most then answered 500, or failed their scheduled task, at the first send, delay or
    re-entry that did the arithmetic."""
    assert field in assert_braze_error(braze.client.post(f"/_admin/{kind}", json=definition))


def test_definitions_at_the_edges_of_the_ranges_keep_working(braze):
    edge = TEN_YEARS
    saved = [
        braze.client.post("/_admin/campaigns", json=_campaign(re_eligible_after_seconds=edge, trigger={
            "type": "scheduled", "at": "2999-12-31T23:59:59Z", "every_seconds": edge})),
        braze.client.post("/_admin/campaigns", json=_campaign(re_eligible_after_seconds=edge, trigger={
            "type": "action", "event": "opened", "delay_seconds": edge})),
        braze.client.post("/_admin/canvases", json=_canvas(
            {"id": "d", "type": "delay", "seconds": edge, "next": "u"},
            {"id": "u", "type": "delay", "until": "2999-12-31T23:59:59Z", "next": "m"},
            {"id": "m", "type": "message", "webhook": HOOK}, re_eligible_after_seconds=edge)),
    ]
    assert [r.status_code for r in saved] == [201, 201, 201], [r.get_json() for r in saved]
    canvas_id = saved[2].get_json()["canvas_id"]
    for _ in range(2):
        entered = braze.client.post("/canvas/trigger/send", headers=BRAZE_AUTH,
                                    json={"canvas_id": canvas_id, "recipients": [{"external_user_id": "u1"}]})
        assert entered.status_code < 500, entered.get_data(as_text=True)
        tracked = braze.client.post("/users/track", headers=BRAZE_AUTH, json={"events": [EVENT]})
        assert tracked.status_code == 201, tracked.get_data(as_text=True)
        braze.runtime.scheduler.run_until_idle(max_tasks=200)
    assert not braze.runtime.scheduler.errors, list(braze.runtime.scheduler.errors)


@pytest.mark.parametrize("template_id", [[1], {"a": 1}, 5, True])
def test_a_webhook_template_id_must_be_a_string(braze, template_id):
    """A list answered 500; a number was stored under an id no URL can name."""
    message = assert_braze_error(braze.client.post("/_admin/webhook_templates", json={
        "name": "T", "url": "http://hooks.local/t", "template_id": template_id}))
    assert "template_id" in message
    assert [t["template_id"] for t in braze.client.get("/_admin/webhook_templates").get_json()["templates"]] == [
        "sendbird-webhook-template"]


@pytest.mark.parametrize("template_id", [["sendbird-webhook-template"], {"a": 1}, 5, None])
@pytest.mark.parametrize("kind", ["campaigns", "canvases"])
def test_a_message_naming_its_template_by_something_else_than_a_string_is_refused(braze, kind, template_id):
    webhook = {"template_id": template_id}
    definition = _campaign(webhook=webhook) if kind == "campaigns" else _canvas(
        {"id": "m", "type": "message", "webhook": webhook})
    assert "template_id" in assert_braze_error(braze.client.post(f"/_admin/{kind}", json=definition))


def _nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def _action_campaign_with_value(value_json: str) -> bytes:
    """A campaign whose property filter's value is `value_json`: the value sits four containers deep."""
    return ('{"name": "C", "webhook": {"url": "http://hooks.local/h"}, "trigger": {"type": "action", "event": "e", '
            '"property_filters": [{"property_name": "p", "value": ' + value_json + '}]}}').encode()


@pytest.mark.parametrize(("path", "raw"), [
    ("/_admin/segments", b'{"name": "s", "filter": ' + _nested_list(900).encode() + b"}"),
    ("/_admin/campaigns", _action_campaign_with_value(_nested_list(900))),
    ("/_admin/campaigns", _action_campaign_with_value(_nested_list(61))),
    ("/_admin/canvases", b'{"name": "c", "steps": ' + _nested_list(70).encode() + b"}"),
], ids=["segment-900", "campaign-900", "campaign-65", "canvas-70"])
def test_braze_admin_bodies_nested_deeper_than_64_levels_are_invalid_json(braze, path, raw):
    """Nesting the parser takes but copying (segments) or echoing (campaigns) cannot: it answered 500."""
    message = assert_braze_error(braze.client.post(path, data=raw, content_type="application/json"))
    assert message.startswith("Invalid JSON in request body") and "64" in message


def test_a_definition_64_levels_deep_is_still_taken(braze):
    response = braze.client.post("/_admin/campaigns", data=_action_campaign_with_value(_nested_list(60)),
                                 content_type="application/json")
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize("raw", [b'{"name": "s", "filter": {"custom_attribute": {"custom_attribute_name": "n", '
                                 b'"comparison": "equals", "value": NaN}}}',
                                 b'{"users.track": {"limit": 1, "window_seconds": Infinity}}'])
def test_braze_admin_bodies_refuse_nan_and_infinity(braze, raw):
    path = "/_admin/segments" if b"filter" in raw else "/_admin/rate_limits"
    response = braze.client.open(path, method="POST" if b"filter" in raw else "PUT", data=raw,
                                 content_type="application/json")
    assert assert_braze_error(response) == "Invalid JSON in request body"
