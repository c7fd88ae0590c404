"""No admin answer holds a configured secret, in a world a scenario has run in; `GET /_admin/secrets` is the one
way to read them, on every service (docs/security.md, "The admin surface").

Admin answers end up on screens, in logs and in bug reports. The world here is the onboarding demo, run
in-process: Braze's API keys, Sendbird's token and the bridge's integration token all in use, campaigns and
canvases holding the integration token in their webhooks, journals full of the hops between them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from simulator.devices import DeviceFleet
from simulator.loader import load
from simulator.runner import SIMULATED, Run
from simulator.stack import SimulatedStack, build
from tests.admin.fuzzing import admin_routes, first_chunk

SCENARIO = "scenarios/onboarding_demo.yaml"
EXTRA_KEY = "planted-rest-key-7f3a"
OTHER_BRAZE_KEY = "bridge-side-braze-key-91c2"
SECRETS = [SIMULATED.braze_key, SIMULATED.sendbird_token, SIMULATED.integration_token, EXTRA_KEY, OTHER_BRAZE_KEY]


@pytest.fixture(scope="module")
def world() -> SimulatedStack:
    scenario = load(SCENARIO)
    stack = build()
    run = Run(scenario, stack.runtime, SIMULATED, scenario.seed)
    run.setup()
    fleet = DeviceFleet(stack.runtime, run.users, run.http, SIMULATED.sendbird, run.http,
                        SIMULATED.braze, SIMULATED.braze_key, scenario.seed)
    fleet.attach_simulated(stack.sendbird)
    run.schedule_timeline()
    stack.runtime.scheduler.run_until(run.start + timedelta(seconds=scenario.run_for))
    braze, bridge = stack.braze_app.test_client(), stack.bridge_app.test_client()
    _add_a_segment_and_a_canvas(stack, run.users[0].external_id)
    assert braze.post("/_admin/api_keys", json={"key": EXTRA_KEY, "permissions": ["users.track"]}).status_code == 201
    # a Braze key the bridge knows that Braze also accepts, so callbacks keep working
    assert braze.post("/_admin/api_keys", json={"key": OTHER_BRAZE_KEY, "permissions": ["users.track"]}).status_code \
        == 201
    assert bridge.put("/_admin/integration", json={"braze_rest_api_key": OTHER_BRAZE_KEY}).status_code == 200
    yield stack
    stack.runtime.close()


def _add_a_segment_and_a_canvas(stack: SimulatedStack, user: str) -> None:
    """What the demo lacks: a segment, and a canvas whose message is the Sendbird webhook, entered by one user."""
    braze = stack.braze_app.test_client()
    assert braze.post("/_admin/segments", json={"name": "everyone", "filter": {"custom_attribute": {
        "custom_attribute_name": "first_name", "comparison": "exists"}}}).status_code == 201
    webhook = stack.sendbird_webhook_template("realtime", "welcome", "sendbird_notification")
    canvas = braze.post("/_admin/canvases", json={"name": "Nudge", "steps": [
        {"id": "send", "type": "message", "webhook": webhook, "next": "done"}, {"id": "done", "type": "exit"}]})
    assert canvas.status_code == 201, canvas.get_json()
    entered = braze.post("/canvas/trigger/send", headers={"Authorization": f"Bearer {SIMULATED.braze_key}"},
                         json={"canvas_id": canvas.get_json()["canvas_id"], "recipients": [{"external_user_id": user}]})
    assert entered.status_code == 201, entered.get_json()
    stack.runtime.scheduler.run_until_idle(max_tasks=10_000)


def _ids(client, path: str, key: str, field: str) -> list[str]:
    return [item[field] for item in client.get(path).get_json()[key]]


def _argument_values(name: str, app: Flask) -> dict[str, list[str]]:
    """Path arguments that name real objects of the world, so every parameterised route answers something."""
    client = app.test_client()
    if name == "braze":
        campaigns = _ids(client, "/_admin/campaigns", "campaigns", "campaign_id")
        canvases = _ids(client, "/_admin/canvases", "canvases", "canvas_id")
        users = [u["external_id"] for u in client.get("/_admin/users?limit=3").get_json()["users"]]
        segments = _ids(client, "/_admin/segments", "segments", "id")
        return {"campaign_id": campaigns, "canvas_id": canvases, "key": users + segments,
                "template_id": _ids(client, "/_admin/webhook_templates", "templates", "template_id")}
    if name == "bridge":
        rows = client.get("/_admin/outbox/webhooks?limit=5").get_json()["webhooks"]
        return {"message_id": [row["message_id"] for row in rows]}
    return {}


def _paths(name: str, app: Flask) -> list[tuple[str, str]]:
    """(rule, path) of every admin GET but the secrets route, with each combination of real path arguments."""
    values = _argument_values(name, app)
    paths = []
    for route in admin_routes(app):
        if "GET" not in route.methods or route.rule == "/_admin/secrets":
            continue
        combos = [route.rule]
        for arg in route.arguments:
            combos = [c.replace(f"<{arg}>", quote(v, safe="")) for c in combos for v in values.get(arg, [])]
        paths += [(route.rule, path) for path in combos]
    return paths


def _journal_pages(client) -> list[bytes]:
    pages, cursor = [], None
    while True:
        query = {"limit": 10_000, **({"since": cursor} if cursor else {})}
        response = client.get("/_admin/journal", query_string=query)
        page = response.get_json()
        pages.append(response.get_data())
        if not page["records"]:
            return pages
        cursor = page["cursor"]


def _answers(stack: SimulatedStack) -> list[tuple[str, bytes]]:
    answers: list[tuple[str, bytes]] = []
    for name, app in (("braze", stack.braze_app), ("sendbird", stack.sendbird_app), ("bridge", stack.bridge_app)):
        client = app.test_client()
        answered: dict[str, bool] = {}
        for rule, path in _paths(name, app):
            response = client.get(path, buffered=False)
            data = first_chunk(response) if response.mimetype == "text/event-stream" else response.get_data()
            assert response.status_code in (200, 404), (name, path, response.status_code, data[:200])
            answered[rule] = answered.get(rule, False) or response.status_code == 200
            answers.append((f"{name} GET {path}", data))
        assert all(answered.values()), f"{name}: routes that never answered 200: {answered}"
        answers += [(f"{name} journal page", page) for page in _journal_pages(client)]
    return answers


def test_no_admin_answer_holds_a_configured_secret(world: SimulatedStack):
    answers = _answers(world)
    assert len(answers) > 40
    records = sum(page.count(b'"kind"') for what, page in answers if what.endswith("journal page"))
    assert records > 1000  # the run happened: the journal holds its hops
    for what, data in answers:
        text = data.decode("utf-8", "replace")
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, (what, leaked, text[:300])


def test_masked_values_keep_the_last_four_characters(world: SimulatedStack):
    braze, bridge = world.braze_app.test_client(), world.bridge_app.test_client()
    keys = [k["key"] for k in braze.get("/_admin/api_keys").get_json()["api_keys"]]
    assert keys[:3] == ["…-key", "…7f3a", "…91c2"]
    integration = bridge.get("/_admin/integration").get_json()
    assert (integration["api_token"], integration["braze_rest_api_key"]) == ("…oken", "…91c2")
    campaign = braze.get("/_admin/campaigns").get_json()["campaigns"][0]["definition"]["webhook"]
    assert campaign["replace"]["SENDBIRD_API_TOKEN"] == "…oken"
    assert campaign["replace"]["SENDBIRD_TEMPLATE_KEY"] == "welcome"  # a template key is no secret
    template = braze.get("/_admin/webhook_templates/sendbird-webhook-template").get_json()
    assert template["headers"]["Api-Token"] == "SENDBIRD_API_TOKEN"  # a placeholder says where it comes from


def test_writes_echo_masked_values(world: SimulatedStack):
    braze, bridge = world.braze_app.test_client(), world.bridge_app.test_client()
    echo = braze.post("/_admin/api_keys", json={"key": "echoed-key-0000", "permissions": []}).get_json()
    assert echo == {"key": "…0000", "permissions": []}
    view = bridge.put("/_admin/integration", json={"braze_rest_api_key": OTHER_BRAZE_KEY}).get_json()
    assert view["braze_rest_api_key"] == "…91c2" and OTHER_BRAZE_KEY not in str(view)
    hook = {"url": "http://bridge.local/hook", "method": "POST", "body": "{}",
            "headers": {"Authorization": "Bearer inline-secret-5555", "X-Who": "{{${user_id}}}"}}
    saved = braze.post("/_admin/campaigns", json={"name": "inline", "webhook": hook}).get_json()
    assert saved["definition"]["webhook"]["headers"] == {"Authorization": "…5555", "X-Who": "{{${user_id}}}"}
    stored = world.braze.campaigns.get(saved["campaign_id"]).spec.webhook["headers"]["Authorization"]
    assert stored == "Bearer inline-secret-5555"  # masked in the answer, sent in clear


def test_secrets_are_readable_on_every_service_through_get_admin_secrets(world: SimulatedStack):
    clients = {name: getattr(world, f"{name}_app").test_client() for name in ("braze", "sendbird", "bridge")}
    answers: dict[str, Any] = {}
    for name, client in clients.items():
        response = client.get("/_admin/secrets")
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        answers[name] = response.get_json()
        assert answers[name]["service"] == name
    assert {k["key"] for k in answers["braze"]["api_keys"]} >= {SIMULATED.braze_key, EXTRA_KEY, OTHER_BRAZE_KEY}
    assert answers["sendbird"] == {"service": "sendbird", "app_id": "LOCAL", "api_token": SIMULATED.sendbird_token}
    assert answers["bridge"] == {"service": "bridge", "api_token": SIMULATED.integration_token,
                                 "sendbird_token": SIMULATED.sendbird_token, "braze_rest_api_key": OTHER_BRAZE_KEY}


def test_the_secrets_route_is_guarded_like_every_admin_route(world: SimulatedStack):
    client = world.bridge_app.test_client()
    assert client.get("/_admin/secrets", headers={"Host": "rebind.evil.example"}).status_code == 403
    assert client.get("/_admin/secrets", headers={"Origin": "https://evil.example"}).status_code == 403
