"""Every `/_admin` route of the three services, found in each app's `url_map` (tests/admin's discovery), refuses
what a web page on another site, or a DNS-rebinding page, can send it, and the refused requests change nothing;
what the operator and the console send still works (docs/security.md, "The admin surface").

A browser lets any page post a text/plain body, a form or multipart to 127.0.0.1 without asking, tells the
service which page sent it (Origin, Sec-Fetch-Site), and addresses a rebinding page's requests to the page's own
name (Host). Each attack here is sent to every method of every route, with a body the route would take."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.gateway import Gateway
from simulator.stack import build as build_stack
from tests.admin.fuzzing import Env, Route, Service, admin_routes, build_path, call, first_chunk, to_json
from tests.admin.services import SERVICES
from tests.harness.rsgi_doubles import answer, run_gateway
from tests.harness.rsgi_doubles import request as rsgi_request

BY_NAME = {s.name: s for s in SERVICES}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
REBINDING_HOSTS = ["rebind.evil.example", "evil.example:7100", "127.0.0.1.evil.example", "0x7f.1",
                   "localhost.evil.example", "[::2]:7100", "10.0.0.5"]
MULTIPART = (b'--x\r\nContent-Disposition: form-data; name="key"\r\n\r\nstolen\r\n--x--\r\n',
             "multipart/form-data; boundary=x")
# (what the page does, headers, body or None for the route's own, content type or None for the route's own,
#  status, the header the refusal must name)
ATTACKS = [
    ("text/plain body", {}, None, "text/plain", 415, "text/plain"),
    ("text/plain no-cors fetch", {}, None, "text/plain;charset=UTF-8", 415, "text/plain"),
    ("form body", {}, b"key=stolen&permissions=users.track", "application/x-www-form-urlencoded", 415,
     "application/x-www-form-urlencoded"),
    ("multipart body", {}, MULTIPART[0], MULTIPART[1], 415, "multipart/form-data"),
    ("body without a type", {}, None, "", 415, "without a Content-Type"),
    ("foreign origin", {"Origin": "https://evil.example"}, None, None, 403, "https://evil.example"),
    ("null origin", {"Origin": "null"}, None, None, 403, "null"),
    ("look-alike origin", {"Origin": "http://localhost.evil.example"}, None, None, 403, "localhost.evil.example"),
    ("cross-site fetch", {"Sec-Fetch-Site": "cross-site"}, None, None, 403, "cross-site"),
    *[(f"rebinding host {host}", {"Host": host, "Origin": f"http://{host}"}, None, None, 403, f'Host "{host}"')
      for host in REBINDING_HOSTS],
]


def _own_body(service: Service, route: Route) -> tuple[bytes, str]:
    """A body the route takes: its first example, else an empty JSON object; with its type."""
    example = (service.examples.get(route.rule) or [{}])[0]
    if isinstance(example, bytes):
        return example, route.body_types[0]
    return to_json(example).encode(), "application/json"


def snapshot(env: Env) -> dict[str, Any]:
    """What the service holds, as its plain admin reads answer it (streams aside), and its pending work."""
    seen: dict[str, Any] = {"pending": env.runtime.scheduler.pending}
    for route in admin_routes(env.app):
        if "GET" in route.methods and not route.arguments and not route.rule.endswith("/stream"):
            seen[route.rule] = env.client.get(route.rule).get_data()
    return seen


def _path(env: Env, route: Route) -> str:
    return build_path(route, {arg: (env.known.get(arg) or ["x"])[0] for arg in route.arguments})


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_every_admin_route_refuses_cross_site_requests_and_they_change_nothing(service: Service):
    env = service.make()
    try:
        before = snapshot(env)
        routes = admin_routes(env.app)
        assert len(routes) > 5
        for route in routes:
            path = _path(env, route)
            own_body, own_type = _own_body(service, route)
            for method in METHODS:
                for what, headers, body, content_type, status, named in ATTACKS:
                    sent_type = own_type if content_type is None else content_type
                    response = env.client.open(path, method=method, data=own_body if body is None else body,
                                               headers={**headers, **({"Content-Type": sent_type} if sent_type
                                                                      else {})}, buffered=False)
                    data = first_chunk(response)
                    where = f"{service.name} {method} {path}: {what}"
                    assert response.status_code == status, (where, response.status_code, data[:300])
                    body_json = json.loads(data)
                    assert service.is_error(body_json), (where, body_json)
                    assert named in body_json["message"], (where, body_json["message"])
        assert snapshot(env) == before, f"a refused request changed {service.name}"
    finally:
        env.runtime.close()


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_the_operator_and_the_console_still_get_answers(service: Service):
    """Origin-less (curl, a server), same-origin and console requests, on every plain admin read, each example
    write, and every loopback spelling of the host."""
    env = service.make()
    try:
        readers = [{}, {"Origin": "http://localhost"}, {"Origin": "http://127.0.0.1:7000"},
                   {"Origin": "http://localhost:7000", "Sec-Fetch-Site": "same-site"},
                   {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                   {"Host": "127.0.0.1:7100", "Origin": "http://127.0.0.1:7100"}, {"Host": "[::1]:7100"},
                   {"Host": "app.localhost"}, {"Host": "LOCALHOST."}]
        for route in admin_routes(env.app):
            if "GET" in route.methods and not route.arguments:
                for headers in readers:
                    response = env.client.get(route.rule, headers=headers, buffered=False)
                    first_chunk(response)
                    assert response.status_code == 200, (route.rule, headers, response.status_code)
        for rule, examples in service.examples.items():
            route = next(r for r in admin_routes(env.app) if r.rule == rule)
            method = next(m for m in ("POST", "PUT", "PATCH") if m in route.methods)
            _, content_type = _own_body(service, route)
            for example in examples:
                raw = example if isinstance(example, bytes) else to_json(example).encode()
                response = env.client.open(_path(env, route), method=method, data=raw,
                                           headers={"Origin": "http://localhost", "Content-Type": content_type})
                assert response.status_code < 400, (rule, response.get_data(as_text=True)[:300])
    finally:
        env.runtime.close()


def test_csv_import_takes_text_csv_and_only_the_types_it_declares():
    """`text/csv` is not a type a page may send to another site without a preflight, so the import keeps it."""
    env = BY_NAME["braze"].make()
    try:
        csv = b"external_id,first_name\nu7,Cy\n"
        assert call(env, "POST", "/_admin/users/import", body=csv, content_type="text/csv").status_code == 201
        assert call(env, "POST", "/_admin/users/import", body=csv, content_type="text/plain").status_code == 415
        refused = call(env, "POST", "/_admin/segments", body=csv, content_type="text/csv")
        assert refused.status_code == 415 and "application/json" in refused.get_json()["message"]
    finally:
        env.runtime.close()


def test_product_routes_are_not_the_guard_s():
    """A product call keeps the product's own answer whatever its Host or Origin (the product's auth and content
    rules apply there)."""
    env = BY_NAME["braze"].make()
    try:
        response = env.client.get("/segments/list", headers={"Host": "rebind.evil.example", "Origin": "null",
                                                              "Authorization": "Bearer local-braze-key"})
        assert response.status_code == 200
    finally:
        env.runtime.close()


def test_in_process_each_service_answers_its_own_registered_names_only():
    stack = build_stack()
    try:
        http = stack.runtime.transport.session()
        for url in ("http://braze.local", "http://sendbird.local", "http://bridge.local"):
            assert http.get(f"{url}/_admin/health").status_code == 200, url
        refused = stack.braze_app.test_client().get("/_admin/api_keys", headers={"Host": "sendbird.local"})
        assert refused.status_code == 403 and 'Host "sendbird.local"' in refused.get_json()["message"]
        assert "braze.local" in refused.get_json()["message"]  # what it does answer to
    finally:
        stack.runtime.close()


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_through_the_gateway_the_same_refusals(service: Service):
    """Live, the gateway hands admin requests to the WSGI app, whose outer layer is the guard."""
    env = service.make()
    gateway = Gateway(env.app, threads=2, service=service.name)

    async def scenario(gw: Gateway):
        return [await answer(gw, *rsgi_request("GET", "/_admin/health", headers={"Host": "rebind.evil.example"})),
                await answer(gw, *rsgi_request("POST", "/_admin/reset", b"x", headers={
                    "Host": "127.0.0.1:7100", "Content-Type": "text/plain"})),
                await answer(gw, *rsgi_request("GET", "/_admin/health", headers={"Host": "127.0.0.1:7100"}))]

    try:
        rebound, plain, ok = run_gateway(gateway, scenario)
    finally:
        env.runtime.close()
    assert rebound.status == 403 and service.is_error(rebound.json())
    assert plain.status == 415 and service.is_error(plain.json())
    assert ok.status == 200


def test_a_fast_route_on_a_guarded_path_is_left_to_the_guard():
    """The gateway answers fast routes on its loop, ahead of the WSGI stack: one under a guarded prefix (the
    console declares `/`) would skip the guard, so the gateway leaves it to the app."""
    from flask import Flask

    from harness.admin_guard import AdminGuard, AdminPolicy
    from harness.fast_routes import FastRoutes

    app = Flask("console-like")
    fast = FastRoutes(app.wsgi_app, {"/_admin/fast": lambda environ, raw: (200, {}, {"fast": True}),
                                     "/open": lambda environ, raw: (200, {}, {"fast": True})},
                      lambda exc: (500, {}, {}))
    app.wsgi_app = AdminGuard(fast, AdminPolicy(), lambda refusal: {"refused": refusal.reason})
    gateway = Gateway(app, threads=1)
    assert set(gateway.routes) == {"/open"}

    async def scenario(gw: Gateway):
        return await answer(gw, *rsgi_request("POST", "/_admin/fast", b"{}", headers={
            "Host": "rebind.evil.example", "Content-Type": "application/json"}))

    refused = run_gateway(gateway, scenario)
    assert (refused.status, refused.json()) == (403, {"refused": "host"})
