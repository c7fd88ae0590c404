"""The three services as the admin fuzzer sees them: each example gets a fresh app seeded with a few
objects (so path arguments can name real ones), valid bodies to mutate, and product calls to make
afterwards (a setting the admin API accepted must not break the product)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from bridge.app import create_app as create_bridge
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.sendbird.app import create_app as create_sendbird

from .fuzzing import MAX_TASKS, Env, Service

BRAZE_AUTH = {"Authorization": "Bearer local-braze-key"}
SENDBIRD_AUTH = {"Api-Token": "local-sendbird-token"}
BRIDGE_AUTH = {"Api-Token": "local-integration-token"}
HOOK = {"url": "http://hooks.local/hook", "method": "POST", "body": "{{${user_id}}}"}
EVENT = {"external_id": "u1", "name": "opened", "time": "2026-01-01T00:00:00Z"}
COMMON_QUERY_KEYS = ["since", "limit", "kind", "service", "trace_id"]


def sendbird_error(body: Any) -> bool:
    return (isinstance(body, dict) and set(body) == {"error", "code", "message"} and body["error"] is True
            and type(body["code"]) is int and isinstance(body["message"], str) and bool(body["message"]))


def braze_error(body: Any) -> bool:
    return (isinstance(body, dict) and set(body) <= {"message", "errors"} and isinstance(body.get("message"), str)
            and bool(body["message"]))


def _ok(response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


# -- Braze ----------------------------------------------------------------------------------------

BRAZE_CAMPAIGN = {"name": "C", "webhook": HOOK, "re_eligible_after_seconds": 0, "tags": ["t"],
                  "trigger": {"type": "scheduled", "at": "2026-01-01T01:00:00Z", "every_seconds": 3600,
                              "until": "2026-01-02T00:00:00Z"},
                  "conversion_events": [{"event": "opened", "deadline_seconds": 60}]}
BRAZE_ACTION_CAMPAIGN = {"name": "A", "webhook": {"template_id": "sendbird-webhook-template",
                                                  "replace": {"SENDBIRD_INTEGRATION_URL": "http://hooks.local/i"}},
                         "audience": {"segment": "named"}, "rate_limit_per_minute": 10,
                         "trigger": {"type": "action", "event": "opened", "delay_seconds": 10,
                                     "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z",
                                     "property_filters": [{"property_name": "s", "comparison": "equals", "value": 1}]}}
BRAZE_CANVAS = {"name": "Cv", "re_eligible_after_seconds": 60, "steps": [
    {"id": "a", "type": "message", "webhook": HOOK, "next": "d"},
    {"id": "d", "type": "delay", "seconds": 30, "next": "p"},
    {"id": "p", "type": "action_paths", "window_seconds": 60, "paths": [{"name": "opened", "event": "opened",
                                                                         "next": "u"}], "everyone_else": "x"},
    {"id": "u", "type": "delay", "until": "2026-01-03T00:00:00Z", "next": "s"},
    {"id": "s", "type": "experiment_paths", "paths": [{"name": "A", "percent": 50, "next": "q"},
                                                      {"name": "B", "percent": 50}]},
    {"id": "q", "type": "decision_split", "audience": {"segment": "named"}, "yes": "x"},
    {"id": "x", "type": "exit"}]}

def _hook_receiver() -> Flask:
    """Answers every webhook with 200, so deliveries end at once instead of retrying."""
    app = Flask("hooks")
    app.add_url_rule("/<path:path>", "hook", lambda path: "ok", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    return app


def braze_env() -> Env:
    runtime = Runtime.simulation(seed=1)
    runtime.transport.register("hooks.local", _hook_receiver())
    app = create_braze(runtime)
    client = app.test_client()
    _ok(client.post("/users/track", json={"attributes": [{"external_id": "u1", "first_name": "Ann"}]},
                    headers=BRAZE_AUTH), 201)
    segment = _ok(client.post("/_admin/segments", json={"name": "named", "filter": {
        "custom_attribute": {"custom_attribute_name": "first_name", "comparison": "equals", "value": "Ann"}}}), 201)
    campaign = _ok(client.post("/_admin/campaigns", json={**BRAZE_CAMPAIGN, "trigger": {"type": "api"}}), 201)
    canvas = _ok(client.post("/_admin/canvases", json=BRAZE_CANVAS), 201)
    _ok(client.post("/canvas/trigger/send", json={"canvas_id": canvas["canvas_id"],
                                                  "recipients": [{"external_user_id": "u1"}]}, headers=BRAZE_AUTH), 201)
    braze_id = app.extensions["braze"].users.by_external_id("u1").braze_id
    return Env(app, runtime, {"campaign_id": [campaign["campaign_id"]], "canvas_id": [canvas["canvas_id"]],
                              "key": ["u1", braze_id, segment["id"], "named"],
                              "template_id": ["sendbird-webhook-template"]})


def braze_track(env: Env):
    yield env.client.post("/users/track", json={"events": [EVENT]}, headers=BRAZE_AUTH)
    yield env.client.get("/segments/list", headers=BRAZE_AUTH)


def braze_send_everything(env: Env):
    """Every campaign and canvas sent to u1 (and once more, for re-eligibility), so that a definition's
    numbers are used, not only stored."""
    campaigns = env.client.get("/_admin/campaigns").get_json()["campaigns"]
    canvases = env.client.get("/_admin/canvases").get_json()["canvases"]
    for _ in range(2):
        for campaign in campaigns:
            yield env.client.post("/campaigns/trigger/send", headers=BRAZE_AUTH, json={
                "campaign_id": campaign["campaign_id"], "recipients": [{"external_user_id": "u1"}]})
        for canvas in canvases:
            yield env.client.post("/canvas/trigger/send", headers=BRAZE_AUTH, json={
                "canvas_id": canvas["canvas_id"], "recipients": [{"external_user_id": "u1"}]})
        env.runtime.scheduler.run_until_idle(max_tasks=MAX_TASKS)


BRAZE = Service(
    name="braze", make=braze_env, is_error=braze_error,
    examples={
        "/_admin/api_keys": [{"key": "k2", "permissions": ["users.track"]}],
        "/_admin/users/import": [b"external_id,first_name,points\nu9,Bo,3\n"],
        "/_admin/segments": [{"name": "s2", "filter": {"custom_attribute": {
            "custom_attribute_name": "points", "comparison": "greater_than", "value": 1}}}],
        "/_admin/webhook_templates": [{"name": "T", "url": "http://hooks.local/t", "method": "POST",
                                       "headers": {"X": "1"}, "body": {"a": "b"}}],
        "/_admin/campaigns": [BRAZE_CAMPAIGN, BRAZE_ACTION_CAMPAIGN],
        "/_admin/campaigns/<campaign_id>": [BRAZE_CAMPAIGN, BRAZE_ACTION_CAMPAIGN],
        "/_admin/canvases": [BRAZE_CANVAS],
        "/_admin/canvases/<canvas_id>": [BRAZE_CANVAS],
        "/_admin/rate_limits": [{"users.track": {"limit": 5, "window_seconds": 60},
                                 "rest": {"limit": 100, "window_seconds": 1}}],
    },
    probes=[braze_track, braze_send_everything],
    query_keys=[*COMMON_QUERY_KEYS, "offset", "members"],
)


# -- Sendbird -------------------------------------------------------------------------------------

TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "type": "string"}]}


def sendbird_env() -> Env:
    runtime = Runtime.simulation(seed=1)
    app = create_sendbird(runtime)
    client = app.test_client()
    _ok(client.post("/v1/templates", json=TEMPLATE, headers=SENDBIRD_AUTH))
    _ok(client.post("/v1/notifications", json={"template": {"key": "welcome"}, "targets": ["u1"], "mode": "realtime"},
                    headers=SENDBIRD_AUTH))
    runtime.scheduler.run_until_idle()
    return Env(app, runtime, {})


def sendbird_send(env: Env):
    yield env.client.post("/v1/notifications", json={"template": {"key": "welcome"}, "targets": ["u2"],
                                                     "mode": "realtime"}, headers=SENDBIRD_AUTH)
    yield env.client.get("/v1/templates", headers=SENDBIRD_AUTH)


SENDBIRD = Service(
    name="sendbird", make=sendbird_env, is_error=sendbird_error,
    examples={
        "/_admin/webhooks": [{"url": "http://hooks.local/hook", "events": ["group_channel:message_read"]}],
        "/_admin/rate_limits": [{"send": {"limit": 5, "window_seconds": 1},
                                 "templates": {"limit": 100, "window_seconds": 60}}],
    },
    probes=[sendbird_send],
    query_keys=COMMON_QUERY_KEYS,
)


# -- the bridge -----------------------------------------------------------------------------------

def bridge_env() -> Env:
    """The bridge with a fake Sendbird on the simulated transport: one webhook sent, one dead letter."""
    runtime = Runtime.simulation(seed=1)
    sendbird = create_sendbird(runtime)
    _ok(sendbird.test_client().post("/v1/templates", json={**TEMPLATE, "key": "promo"}, headers=SENDBIRD_AUTH))
    runtime.transport.register("sendbird.local", sendbird)
    app = create_bridge(runtime, sendbird_url="http://sendbird.local", braze_url="http://braze.local", db=":memory:",
                        event_callback=False)
    client = app.test_client()
    for message_id, key in (("m1", "promo"), ("dead-1", "no-such-template")):
        _ok(client.post("/braze/notifications/realtime", headers=BRIDGE_AUTH,
                        json={"template_key": key, "receiver": "u1", "variables": {"name": "N"},
                              "event_name": "promo_status", "message_id": message_id}))
    runtime.scheduler.run_until_idle(max_tasks=1000)
    return Env(app, runtime, {"message_id": ["m1", "dead-1"]})


def bridge_realtime(env: Env):
    yield env.client.post("/braze/notifications/realtime", headers=BRIDGE_AUTH,
                          json={"template_key": "promo", "receiver": "u2", "variables": {"name": "N"},
                                "event_name": "promo_status", "message_id": "m2"})
    yield env.client.get("/metrics")


BRIDGE = Service(
    name="bridge", make=bridge_env, is_error=sendbird_error,
    examples={
        "/_admin/integration": [{"event_callback": True, "braze_rest_endpoint": "http://braze.local",
                                 "braze_rest_api_key": "k"}],
        "/_admin/dead_letters/replay": [{"ids": [1]}, {}],
        "/_admin/sending": [{"paused": True}],
    },
    probes=[bridge_realtime],
    query_keys=[*COMMON_QUERY_KEYS, "include_replayed"],
)

SERVICES = [BRAZE, SENDBIRD, BRIDGE]
