"""Every `/_admin` route of the three services, found in each Flask app's `url_map` (a new route is
fuzzed without anyone listing it), must answer every input without a 5xx, with every 4xx JSON in the
service's error format, and leave the product answering after whatever it accepted.

Two passes per route: a fixed battery (every query argument the services read with every edge value,
every bad body, each number of a valid body swapped for an edge value) that no luck decides, and a
Hypothesis run (random methods, path arguments, query strings, bodies, content types; several requests
on one fresh app per example). The admin guard (harness.admin_guard) answers a body that is not JSON, or not
a type its route declares, with the service's 415 before any view reads it: the fixed battery sends each body
as JSON and as each declared type, so the views still see all of them. Streams are fuzzed too, read to their
first chunk. The Hypothesis budget is about 150 examples per service; `ADMIN_FUZZ_SCALE=10` makes it ten times
longer for a hunt.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzzing import (
    BAD_BODIES,
    CONTENT_TYPES,
    NUMBER_ARGS,
    OTHER_ARGS,
    OTHER_METHODS,
    Env,
    Route,
    Service,
    admin_routes,
    after_example,
    bodies,
    build_path,
    call,
    check_answer,
    edge_sweep,
    path_values,
    query_strings,
    to_json,
)
from .services import SERVICES

REQUESTS_PER_EXAMPLE = 6  # one fresh app serves a few requests: setting it up is most of the cost
EXAMPLES_PER_SERVICE = 150  # shared by its routes, three shares for a route that writes, one for a read
SCALE = float(os.environ.get("ADMIN_FUZZ_SCALE", "1"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
KERNEL_ROUTES = {"/_admin/health", "/_admin/reset", "/_admin/journal", "/_admin/journal/stream"}
BY_NAME = {s.name: s for s in SERVICES}


def _routes(service: Service) -> list[Route]:
    env = service.make()
    env.runtime.close()
    return admin_routes(env.app)


def _weight(route: Route) -> int:
    return 3 if WRITES & set(route.methods) else 1


def _cases() -> list:
    cases = []
    for service in SERVICES:
        routes = [r for r in _routes(service) if r.rule not in service.skip]
        total = sum(_weight(r) for r in routes)
        for route in routes:
            examples = max(3, math.ceil(EXAMPLES_PER_SERVICE * SCALE * _weight(route) / total))
            cases.append(pytest.param(service.name, route.rule, examples, id=f"{service.name}:{route.rule}"))
    return cases


CASES = _cases()


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_admin_routes_are_discovered_and_only_skipped_with_a_reason(service: Service):
    rules = {r.rule for r in _routes(service)}
    assert rules >= KERNEL_ROUTES, f"discovery missed routes of {service.name}: {KERNEL_ROUTES - rules}"
    for rule, reason in service.skip.items():
        assert rule in rules, f"{service.name} skips {rule}, which is not a route"
        assert reason.strip(), f"{service.name} skips {rule} without a reason"
    assert set(service.examples) <= rules, f"{service.name} has example bodies for routes it does not have"


def _fixed_path(env: Env, route: Route) -> str:
    return build_path(route, {arg: (env.known.get(arg) or ["x"])[0] for arg in route.arguments})


@pytest.mark.parametrize(("name", "rule", "examples"), CASES)
def test_admin_route_answers_the_classic_bad_inputs(name: str, rule: str, examples: int):
    service = BY_NAME[name]
    env = service.make()
    try:
        route = next(r for r in admin_routes(env.app) if r.rule == rule)
        path = _fixed_path(env, route)
        if "GET" in route.methods:
            for key in service.query_keys:
                for value in NUMBER_ARGS + OTHER_ARGS:
                    query = f"{quote(key)}={quote(value, safe='%')}"
                    check_answer(service, "GET", call(env, "GET", path, query), f"GET {path}?{query}")
        for method in sorted(WRITES & set(route.methods)):
            for body in BAD_BODIES:
                for content_type in ("application/json", None, *route.body_types):
                    check_answer(service, method, call(env, method, path, "", body, content_type),
                                 f"{method} {path} {body[:40]!r}")
    finally:
        env.runtime.close()
    for example in service.examples.get(rule, []):
        for body in edge_sweep(example):
            _sweep_one(service, route, body)


def _sweep_one(service: Service, route: Route, body: Any) -> None:
    """One edge-valued body on a fresh app; when it is accepted, the product must still answer."""
    env = service.make()
    try:
        path = _fixed_path(env, route)
        raw = to_json(body).encode()
        for method in sorted(WRITES & set(route.methods) - {"DELETE"}):
            response = call(env, method, path, "", raw, "application/json")
            check_answer(service, method, response, f"{method} {path} {raw[:200]!r}")
            for what, later in after_example(service, env, response.status_code < 400):
                check_answer(service, "GET", later, f"{what} after {method} {path} {raw[:200]!r}")
    finally:
        env.runtime.close()


@pytest.mark.parametrize(("name", "rule", "examples"), CASES)
def test_admin_route_answers_every_input_without_a_server_error(name: str, rule: str, examples: int):
    service = BY_NAME[name]

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def fuzz(data):
        env = service.make()
        try:
            route = next(r for r in admin_routes(env.app) if r.rule == rule)
            changed = False
            for _ in range(data.draw(st.integers(1, REQUESTS_PER_EXAMPLE), label="requests")):
                method = data.draw(st.sampled_from(route.methods) | st.sampled_from(OTHER_METHODS), label="method")
                path = build_path(route, {arg: data.draw(path_values(env.known.get(arg, [])), label=arg)
                                          for arg in route.arguments})
                query = data.draw(query_strings(service.query_keys), label="query")
                body = data.draw(bodies(service.examples.get(route.rule, [])), label="body")
                content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content_type")
                response = call(env, method, path, query, body, content_type)
                check_answer(service, method, response, f"{method} {path}")
                changed |= method in WRITES and response.status_code < 400
            for what, response in after_example(service, env, changed):
                check_answer(service, "GET", response, what)
        finally:
            env.runtime.close()

    fuzz()
