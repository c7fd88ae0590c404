"""Each service behind the gateway answers as Flask answers it: the same requests sent to two identical
apps (same seed, same simulated clock), one through Flask's test client and one through the gateway
(fast routes inline or pooled, the rest on its pool), give the same status, JSON body and key headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge.app import create_app as create_bridge
from harness.gateway import Gateway
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.sendbird.app import create_app as create_sendbird

from .rsgi_doubles import answer, request, run_gateway

SB = {"Api-Token": "local-sendbird-token", "Content-Type": "application/json"}
BRAZE = {"Authorization": "Bearer local-braze-key", "Content-Type": "application/json"}
BRIDGE = {"Api-Token": "local-integration-token", "Content-Type": "application/json"}
KEY_HEADERS = ("content-type", "x-ratelimit-limit", "x-ratelimit-remaining", "cache-control")
TEMPLATE = {"key": "hello", "name": "Hello", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "required": True}]}

Request = tuple[str, str, Any, dict[str, str]]  # method, path (with query), JSON body or None, headers

SENDBIRD: list[Request] = [
    ("POST", "/v1/templates", TEMPLATE, SB),
    ("POST", "/v1/notifications", {"template": {"key": "hello", "variables": {"u1": {"name": "Ada"}}},
                                   "mode": "realtime", "targets": ["u1"]}, SB),
    ("POST", "/v1/notifications", {"mode": "realtime"}, SB),
    ("POST", "/v1/notifications", {}, {"Api-Token": "wrong", "Content-Type": "application/json"}),
    ("GET", "/v1/templates?limit=5", None, SB),
    ("GET", "/v1/templates/nope", None, SB),
    ("GET", "/v3/users/u1/unread_message_count", None, SB),
    ("GET", "/_admin/health", None, {}),
    ("GET", "/no/such/route", None, SB),
]
BRAZE_REQUESTS: list[Request] = [
    ("POST", "/users/track", {"attributes": [{"external_id": "u1", "first_name": "Ada"}]}, BRAZE),
    ("POST", "/users/track", {"events": [{"external_id": "u1", "name": "x", "time": "not a time"}]}, BRAZE),
    ("POST", "/users/track", {}, {"Authorization": "Bearer nope", "Content-Type": "application/json"}),
    ("POST", "/users/export/ids", {"external_ids": ["u1"]}, BRAZE),
    ("GET", "/_admin/health", None, {}),
]
BRIDGE_REQUESTS: list[Request] = [
    ("POST", "/braze/notifications/realtime", {"template_key": "hello", "receiver": "sb1", "user_id": "u1",
                                               "variables": {"name": "Ada"}, "event_name": "n", "message_id": "m1",
                                               "campaign_id": "c1"}, BRIDGE),
    ("POST", "/braze/notifications/batch", {"receiver": "sb1"}, BRIDGE),
    ("POST", "/braze/notifications/realtime", {}, {"Api-Token": "nope", "Content-Type": "application/json"}),
    ("GET", "/_admin/outbox", None, {}),
    ("GET", "/_admin/health", None, {}),
]
SERVICES: dict[str, tuple[Callable[[Runtime], Any], list[Request], tuple[str, ...]]] = {
    "sendbird": (lambda rt: create_sendbird(rt), SENDBIRD, ()),
    "braze": (lambda rt: create_braze(rt), BRAZE_REQUESTS, ()),
    "bridge": (lambda rt: create_bridge(rt, sendbird_url="http://sendbird.local", db=":memory:"), BRIDGE_REQUESTS,
               ("/braze/notifications/realtime", "/braze/notifications/batch")),
}


def split(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path, query


def through_flask(make: Callable[[Runtime], Any], requests: list[Request]) -> list[tuple[int, Any, dict]]:
    runtime = Runtime.simulation(seed=7)
    client = make(runtime).test_client()
    out = []
    for method, target, body, headers in requests:
        response = client.open(target, method=method, data=None if body is None else json.dumps(body),
                               headers=headers)
        out.append((response.status_code, response.get_json(silent=True),
                    {k: response.headers.get(k) for k in KEY_HEADERS}))
    runtime.close()
    return out


def through_gateway(make: Callable[[Runtime], Any], requests: list[Request],
                    pooled: tuple[str, ...]) -> list[tuple[int, Any, dict]]:
    runtime = Runtime.simulation(seed=7)
    gateway = Gateway(make(runtime), threads=2, pooled_routes=pooled)

    async def scenario(gw: Gateway) -> list[tuple[int, Any, dict]]:
        out = []
        for method, target, body, headers in requests:
            path, query = split(target)
            proto = await answer(gw, *request(method, path, b"" if body is None else json.dumps(body).encode(),
                                              query=query, headers=headers))
            out.append((proto.status, json.loads(proto.payload) if proto.payload else None,
                        {k: proto.header(k) for k in KEY_HEADERS}))
        return out

    try:
        return run_gateway(gateway, scenario)
    finally:
        runtime.close()


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_gateway_answers_as_flask_does(service: str):
    make, requests, pooled = SERVICES[service]
    flask_answers = through_flask(make, requests)
    gateway_answers = through_gateway(make, requests, pooled)
    for req, expected, got in zip(requests, flask_answers, gateway_answers, strict=True):
        assert got == expected, req[:2]
