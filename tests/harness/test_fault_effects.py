"""What a caller meets when a fault rule fires, in-process (the simulated transport over each service's app)
and through the gateway (RSGI doubles): each product's own error body, a timeout, a broken connection, a body
cut short, a delay on the loop's timer; and `/_admin` never faulted, so rules stay removable."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests

from bridge.app import create_app as create_bridge
from harness.faults.inbound import FAULT_HEADER
from harness.gateway import Gateway
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.sendbird.app import create_app as create_sendbird

from .rsgi_doubles import answer, run_gateway
from .rsgi_doubles import request as rsgi_request

SB = {"Api-Token": "local-sendbird-token"}
TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "type": "string"}]}


@pytest.fixture
def world():
    runtime = Runtime.simulation(seed=3)
    apps = {"sendbird": create_sendbird(runtime), "braze": create_braze(runtime),
            "bridge": create_bridge(runtime, db=":memory:")}
    for name, app in apps.items():
        runtime.transport.register(f"{name}.local", app)
    http = runtime.transport.session(timeout=(1.0, 5.0))
    created = http.post("http://sendbird.local/v1/templates", json=TEMPLATE, headers=SB)
    assert created.status_code == 200, created.text
    yield runtime, apps, http
    runtime.close()


def add(http: requests.Session, service: str, rule: dict) -> dict:
    response = http.post(f"http://{service}.local/_admin/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


def send(http: requests.Session, user: str = "u-1") -> requests.Response:
    return http.post("http://sendbird.local/v1/notifications", headers=SB, json={
        "mode": "realtime", "targets": [user], "template": {"key": "welcome", "variables": {user: {"name": "Ada"}}}})


def notifications(apps) -> int:
    return len(apps["sendbird"].extensions["sendbird"].notifications)


@pytest.mark.parametrize(("service", "method", "path", "status", "body"), [
    ("sendbird", "GET", "/v1/templates", 503, {"error": True, "code": 500901, "message": "Internal server error."}),
    ("sendbird", "GET", "/v1/templates", 429, {"error": True, "code": 500910,
                                               "message": "Too many requests: rate limit exceeded."}),
    ("braze", "GET", "/segments/list", 503, {"message": "Internal Server Error"}),
    ("braze", "GET", "/segments/list", 429, {"message": "API Rate Limit Exceeded"}),
    ("bridge", "POST", "/braze/notifications/realtime", 502,
     {"error": True, "code": 500901, "message": "Internal server error."}),
])
def test_a_status_fault_answers_in_the_products_own_error_format(world, service, method, path, status, body):
    _, _, http = world
    rule = add(http, service, {"match": {"path": path}, "effect": {"status": status, "headers": {"Retry-After": "7"}}})
    response = http.request(method, f"http://{service}.local{path}", json={} if method == "POST" else None)
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers["Retry-After"] == "7" and response.headers[FAULT_HEADER] == rule["id"]


def test_a_status_fault_is_answered_before_the_product_acts(world):
    _, apps, http = world
    add(http, "sendbird", {"match": {"path": "/v1/notifications"}, "effect": {"status": 500}, "count": 1})
    assert send(http).status_code == 500 and notifications(apps) == 0
    assert send(http).status_code == 200 and notifications(apps) == 1  # the count is spent


def test_hang_is_the_callers_read_timeout_and_nothing_happens(world):
    _, apps, http = world
    add(http, "sendbird", {"match": {"path": "/v1/notifications"}, "effect": {"hang": True}})
    with pytest.raises(requests.ReadTimeout, match="no answer before the timeout"):
        send(http)
    assert notifications(apps) == 0


def test_drop_is_a_connection_error_and_nothing_happens(world):
    _, apps, http = world
    add(http, "sendbird", {"match": {"path": "/v1/notifications"}, "effect": {"drop": True}})
    with pytest.raises(requests.ConnectionError, match="connection closed with no answer"):
        send(http)
    assert notifications(apps) == 0


def test_a_latency_within_the_timeout_is_recorded_and_the_answer_comes(world):
    runtime, apps, http = world
    rule = add(http, "sendbird", {"match": {"path": "/v1/notifications"}, "effect": {"latency_ms": 800}})
    assert send(http).status_code == 200 and notifications(apps) == 1
    (fired,) = runtime.journal.read(kinds=["fault.fired"])[0]
    assert fired.attrs["latency_ms"] == 800 and fired.attrs["effect"] == "latency"
    listed = http.get(f"http://sendbird.local/_admin/faults/{rule['id']}").json()
    assert listed["added_latency_ms"] == 800 and listed["fired"] == 1


def test_a_latency_past_the_callers_timeout_times_out_after_the_request_took_effect(world):
    _, apps, http = world
    add(http, "sendbird", {"match": {"path": "/v1/notifications"}, "effect": {"latency_ms": 5000}})
    with pytest.raises(requests.ReadTimeout):
        send(http)
    assert notifications(apps) == 1  # the late answer a client gave up on: a retry would send it twice


def test_malformed_takes_effect_and_the_caller_reads_a_connection_broken_mid_answer(world):
    _, apps, http = world
    add(http, "sendbird", {"match": {"path": "/v1/notifications"}, "effect": {"malformed": True}})
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        send(http)
    assert notifications(apps) == 1
    # a test client (no socket) sees the half body itself
    client = apps["sendbird"].test_client()
    raw = client.get("/v1/templates", headers=SB)
    assert raw.status_code == 200  # the rule is on /v1/notifications only
    add(http, "sendbird", {"match": {"path": "/v1/templates"}, "effect": {"malformed": True, "status": 500}})
    cut = client.get("/v1/templates", headers=SB)
    assert cut.status_code == 500 and int(cut.headers["Content-Length"]) > len(cut.data) > 0
    with pytest.raises(ValueError):
        json.loads(cut.data)


def test_admin_paths_are_never_faulted_so_a_rule_can_always_be_removed(world):
    _, _, http = world
    rule = add(http, "sendbird", {"match": {"path": "/*"}, "effect": {"drop": True}})
    assert http.get("http://sendbird.local/_admin/health").status_code == 200
    assert http.delete(f"http://sendbird.local/_admin/faults/{rule['id']}").json() == {"deleted": rule["id"]}
    assert http.get("http://sendbird.local/v1/templates", headers=SB).status_code == 200


def test_the_admin_api_lists_reads_and_deletes_rules_in_each_products_error_format(world):
    _, _, http = world
    add(http, "braze", {"effect": {"status": 503}, "name": "a"})
    add(http, "braze", {"effect": {"drop": True}, "name": "b"})
    listing = http.get("http://braze.local/_admin/faults").json()["faults"]
    assert [r["name"] for r in listing] == ["a", "b"]
    assert http.get("http://braze.local/_admin/faults/fault-nope").status_code == 404
    assert http.delete("http://braze.local/_admin/faults").json() == {"deleted": 2}
    refused = http.post("http://sendbird.local/_admin/faults", json={"effect": {"status": 42}})
    assert refused.status_code == 400
    assert refused.json() == {"error": True, "code": 400111,
                              "message": "effect.status: Input should be greater than or equal to 100"}
    braze_refused = http.post("http://braze.local/_admin/faults", data="{",
                              headers={"Content-Type": "application/json"})
    assert braze_refused.status_code == 400 and "JSON object" in braze_refused.json()["message"]
    missing = http.delete("http://bridge.local/_admin/faults/fault-nope")
    assert missing.json() == {"error": True, "code": 400201, "message": '"fault-nope" not found.'}


def test_reset_clears_the_rules(world):
    _, _, http = world
    add(http, "sendbird", {"effect": {"status": 503}})
    assert http.post("http://sendbird.local/_admin/reset", json={}).status_code == 200
    assert http.get("http://sendbird.local/_admin/faults").json() == {"faults": []}


def test_an_outbound_rule_fails_the_callers_own_call(world):
    runtime, apps, http = world
    sendbird = apps["sendbird"].extensions["sendbird"]
    caller = sendbird.runtime.transport.client()
    add(http, "sendbird", {"direction": "outbound", "match": {"host": "bridge.local"}, "effect": {"status": 599}})
    with pytest.raises(requests.ConnectionError, match="connection closed with no answer"):
        caller.get("http://bridge.local/_admin/health")
    http.delete("http://sendbird.local/_admin/faults")
    add(http, "sendbird", {"direction": "outbound", "match": {"path": "/_admin/*"}, "effect": {"status": 418}})
    teapot = caller.get("http://bridge.local/_admin/health")
    assert teapot.status_code == 418
    add(http, "braze", {"direction": "outbound", "effect": {"hang": True}})
    assert http.get("http://braze.local/_admin/health").status_code == 200  # not the caller: the test's own session
    (fired,) = [r for r in runtime.journal.read(kinds=["fault.fired"])[0] if r.attrs["status"] == 418]
    assert fired.attrs["direction"] == "outbound" and fired.attrs["host"] == "bridge.local"


# -- the gateway (live front): the same rules, applied on its loop -------------------------------------------
def sendbird_gateway() -> Gateway:
    app = create_sendbird(Runtime.simulation(seed=4))
    app.extensions["faults"].add({"match": {"path": "/v1/templates"}, "effect": {"status": 503}, "name": "s"})
    return Gateway(app, threads=2)


def test_the_gateway_answers_a_status_fault_in_the_products_format():
    scope, proto = rsgi_request("GET", "/v1/templates", headers=SB)
    done = run_gateway(sendbird_gateway(), lambda gw: answer(gw, scope, proto))
    assert done.status == 503 and done.json()["code"] == 500901 and done.header(FAULT_HEADER)


def test_the_gateway_waits_a_latency_on_a_timer_then_serves():
    app = create_sendbird(Runtime.simulation(seed=4))
    app.extensions["faults"].add({"match": {"path": "/v1/templates"}, "effect": {"latency_ms": 150}})
    gateway = Gateway(app, threads=2)

    async def scenario(gw):
        loop = asyncio.get_running_loop()
        scope, proto = rsgi_request("GET", "/v1/templates", headers=SB)
        started = loop.time()
        other = rsgi_request("GET", "/_admin/health")
        task = asyncio.ensure_future(gw.__rsgi__(scope, proto))
        await gw.__rsgi__(*other)  # the loop is free while the delayed request waits
        assert other[1].status == 200 and not task.done()
        await task
        return proto, loop.time() - started

    proto, took = run_gateway(gateway, scenario)
    assert proto.status == 200 and took >= 0.15


def test_the_gateway_holds_a_hung_request_until_the_client_leaves_without_serving_it():
    app = create_sendbird(Runtime.simulation(seed=4))
    app.extensions["faults"].add({"match": {"path": "/v1/notifications"}, "effect": {"hang": True}})
    body = json.dumps({"mode": "realtime", "targets": ["u"], "template": {"key": "welcome", "variables": {}}}).encode()

    async def scenario(gw):
        scope, proto = rsgi_request("POST", "/v1/notifications", body,
                                    headers={**SB, "Content-Type": "application/json"})
        task = asyncio.ensure_future(gw.__rsgi__(scope, proto))
        await asyncio.sleep(0.05)
        assert not task.done()
        proto.gone.set()
        await task
        return proto

    proto = run_gateway(Gateway(app, threads=2), scenario)
    assert proto.payload == b"" and len(app.extensions["sendbird"].notifications) == 0


def test_the_gateway_cuts_a_malformed_answer_under_its_full_length_and_a_dropped_one_before_its_body():
    app = create_sendbird(Runtime.simulation(seed=4))
    faults = app.extensions["faults"]
    faults.add({"match": {"path": "/v1/templates"}, "effect": {"malformed": True}})
    scope, proto = rsgi_request("GET", "/v1/templates", headers=SB)
    done = run_gateway(Gateway(app, threads=2), lambda gw: answer(gw, scope, proto))
    whole = int(done.header("Content-Length"))
    assert done.status == 200 and 0 < len(done.transport.text) < whole
    faults.clear()
    faults.add({"match": {"path": "/v1/templates"}, "effect": {"drop": True}})
    scope, proto = rsgi_request("GET", "/v1/templates", headers=SB)
    dropped = run_gateway(Gateway(app, threads=2), lambda gw: answer(gw, scope, proto))
    assert dropped.header("Content-Length") == "2" and dropped.transport.chunks == [b" "]


def test_the_gateway_never_faults_admin_paths():
    app = create_sendbird(Runtime.simulation(seed=4))
    app.extensions["faults"].add({"match": {"path": "/*"}, "effect": {"status": 500}})
    scope, proto = rsgi_request("GET", "/_admin/faults")
    done = run_gateway(Gateway(app, threads=2), lambda gw: answer(gw, scope, proto))
    assert done.status == 200 and len(done.json()["faults"]) == 1
