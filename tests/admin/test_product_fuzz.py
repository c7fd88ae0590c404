"""Every product route of the three services (Braze's REST API, Sendbird's Platform, Notifications and device
routes, the bridge's integration endpoints and Sendbird webhook receiver), found in each Flask app's `url_map`,
must answer every JSON input without a 5xx, with every 4xx in the product's error format, and leave the
scheduled work it started running without errors.

As for `/_admin` (test_admin_fuzz.py), two passes per route: a fixed battery (each query argument the views read
with each edge value, each bad body, each number and member of a valid body swapped for an edge value), and a
Hypothesis run of random methods, path arguments, query strings, bodies and credentials (valid most of the time,
so the fuzzing gets past authentication) on a fresh app per example. Bodies are sent as `application/json`;
which other content types a product endpoint takes is the body-limits suite's question. About 40 s in all;
`PRODUCT_FUZZ_SCALE=10` makes the Hypothesis part ten times longer for a hunt.
"""

from __future__ import annotations

import math
import os
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzzing import (
    BAD_BODIES,
    MAX_TASKS,
    NUMBER_ARGS,
    OTHER_ARGS,
    OTHER_METHODS,
    TIMES,
    Env,
    Route,
    bodies,
    build_path,
    check_answer,
    edge_sweep,
    path_values,
    query_values,
    routes_where,
    to_json,
)
from .products import PRODUCTS, WRONG, ProductService, is_product_rule

EXAMPLES_PER_SERVICE = 100  # shared by its routes, three shares for a route that writes, one for a read
REQUESTS_PER_EXAMPLE = 5
SCALE = float(os.environ.get("PRODUCT_FUZZ_SCALE", "1"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
JSON_TYPES = ["application/json", "application/json; charset=utf-8"]
BY_NAME = {s.name: s for s in PRODUCTS}


def product_routes(env: Env) -> list[Route]:
    return routes_where(env.app, is_product_rule)


def _routes(service: ProductService) -> list[Route]:
    env = service.make()
    env.runtime.close()
    return [r for r in product_routes(env) if r.rule not in service.skip]


def _weight(route: Route) -> int:
    return 3 if WRITES & set(route.methods) else 1


def _cases() -> list:
    cases = []
    for service in PRODUCTS:
        routes = _routes(service)
        total = sum(_weight(r) for r in routes)
        for route in routes:
            examples = max(3, math.ceil(EXAMPLES_PER_SERVICE * SCALE * _weight(route) / total))
            cases.append(pytest.param(service.name, route.rule, examples, id=f"{service.name}:{route.rule}"))
    return cases


CASES = _cases()


def send(env: Env, service: ProductService, method: str, path: str, query: str = "", body: bytes = b"",
         auth: str = "valid", content_type: str = "application/json"):
    headers = {"valid": service.auth(path, body), "none": {}, "wrong": WRONG}[auth]
    return env.client.open(path, method=method, query_string=query or None, data=body,
                           headers={**headers, "Content-Type": content_type}, buffered=False)


def settle(env: Env) -> None:
    """What the requests scheduled runs, and runs without an error."""
    env.runtime.scheduler.run_until_idle(max_tasks=MAX_TASKS)
    assert not env.runtime.scheduler.errors, list(env.runtime.scheduler.errors)


def _fixed_path(env: Env, route: Route) -> str:
    return build_path(route, {arg: (env.known.get(arg) or ["x"])[0] for arg in route.arguments})


@pytest.mark.parametrize("service", PRODUCTS, ids=[s.name for s in PRODUCTS])
def test_product_routes_are_discovered(service: ProductService):
    env = service.make()
    try:
        rules = {r.rule for r in product_routes(env)}
        assert set(service.examples(env)) <= rules, f"{service.name} has examples for routes it does not have"
        assert all(not r.startswith("/_admin") for r in rules) and len(rules) >= 4
        for rule, reason in service.skip.items():
            assert rule in rules and reason.strip()
    finally:
        env.runtime.close()


@pytest.mark.parametrize(("name", "rule", "examples"), CASES)
def test_product_route_answers_the_classic_bad_inputs(name: str, rule: str, examples: int):
    service = BY_NAME[name]
    env = service.make()
    try:
        route = next(r for r in product_routes(env) if r.rule == rule)
        path = _fixed_path(env, route)
        if "GET" in route.methods:
            base = service.queries(env).get(rule, {})
            if base:
                assert send(env, service, "GET", path, urlencode(base)).status_code == 200, (path, base)
            for key in service.query_keys:  # each argument at each edge value, the others as a good query has them
                for value in [*NUMBER_ARGS, *OTHER_ARGS, *TIMES, *env.known.get("query", [])]:
                    query = urlencode({**base, key: value})
                    check_answer(service, "GET", send(env, service, "GET", path, query), f"GET {path}?{query}")
        for method in sorted(WRITES & set(route.methods)):
            for body in BAD_BODIES:
                check_answer(service, method, send(env, service, method, path, body=body),
                             f"{method} {path} {body[:40]!r}")
            for example in service.examples(env).get(rule, []):
                for changed in edge_sweep(example):
                    raw = to_json(changed).encode()
                    check_answer(service, method, send(env, service, method, path, body=raw),
                                 f"{method} {path} {raw[:200]!r}")
                    settle(env)
        settle(env)
    finally:
        env.runtime.close()


@pytest.mark.parametrize(("name", "rule", "examples"), CASES)
def test_product_route_answers_every_input_without_a_server_error(name: str, rule: str, examples: int):
    service = BY_NAME[name]

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def fuzz(data):
        env = service.make()
        try:
            route = next(r for r in product_routes(env) if r.rule == rule)
            known_query = st.sampled_from([*TIMES, *env.known.get("query", [])])
            for _ in range(data.draw(st.integers(1, REQUESTS_PER_EXAMPLE), label="requests")):
                method = data.draw(st.sampled_from(route.methods) | st.sampled_from(OTHER_METHODS), label="method")
                path = build_path(route, {arg: data.draw(path_values([str(v) for v in env.known.get(arg, [])]),
                                                         label=arg) for arg in route.arguments})
                pairs = data.draw(st.lists(st.tuples(st.sampled_from(service.query_keys) | st.text(max_size=6),
                                                     known_query | query_values), max_size=4), label="query")
                base = service.queries(env).get(route.rule, {}) if data.draw(st.booleans(), label="base") else {}
                query = "&".join(f"{quote(k)}={quote(v, safe='%')}" for k, v in [*base.items(), *pairs])
                body = data.draw(bodies(service.examples(env).get(route.rule, [])), label="body")
                auth = data.draw(st.sampled_from(["valid"] * 8 + ["none", "wrong"]), label="auth")
                content_type = data.draw(st.sampled_from(JSON_TYPES), label="content_type")
                response = send(env, service, method, path, query, body, auth, content_type)
                check_answer(service, method, response, f"{method} {path}?{query} {body[:200]!r}")
            settle(env)
        finally:
            env.runtime.close()

    fuzz()


