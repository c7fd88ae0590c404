"""The admin fuzzer's parts: how a service is set up for one example, which routes it has, the
inputs thrown at them, and what every answer must look like.

Routes come from each Flask app's `url_map`, so a route added under `/_admin` is fuzzed without
anyone remembering to add it; `Service.skip` is the only way out, and it needs a reason. Event streams
never end, so an answer is read to its first chunk (the stream's hello) and closed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Flask
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from harness.runtime import Runtime

ADMIN = "/_admin"
OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_TASKS = 100  # a fuzzed recurring campaign must not keep the scheduler busy for ever


@dataclass(frozen=True)
class Route:
    """One URL pattern and every method Flask answers on it; `body_types` are what its views declare they
    take besides JSON (`harness.admin_guard.accepts_body`)."""

    rule: str
    arguments: tuple[str, ...]
    methods: tuple[str, ...]
    body_types: tuple[str, ...] = ()


def is_admin_rule(rule: str) -> bool:
    return rule == ADMIN or rule.startswith(ADMIN + "/")


def routes_where(app: Flask, keep: Callable[[str], bool]) -> list[Route]:
    """The app's URL patterns that `keep` keeps, from its `url_map`."""
    methods: dict[str, set[str]] = {}
    arguments: dict[str, tuple[str, ...]] = {}
    body_types: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if keep(rule.rule):
            methods.setdefault(rule.rule, set()).update(rule.methods or ())
            arguments[rule.rule] = tuple(sorted(rule.arguments))
            view = app.view_functions.get(rule.endpoint)
            body_types.setdefault(rule.rule, set()).update(getattr(view, "admin_body_types", ()))
    return [Route(r, arguments[r], tuple(sorted(m)), tuple(sorted(body_types[r]))) for r, m in sorted(methods.items())]


def admin_routes(app: Flask) -> list[Route]:
    return routes_where(app, is_admin_rule)


@dataclass
class Env:
    """One fresh app for one example, with ids of the objects it was seeded with."""

    app: Flask
    runtime: Runtime
    known: dict[str, list[str]]  # path argument name -> values that name a seeded object

    @property
    def client(self):
        return self.app.test_client()


Probe = Callable[[Env], Iterable[TestResponse]]


@dataclass
class Service:
    """What the fuzzer needs to know about one service."""

    name: str
    make: Callable[[], Env]
    is_error: Callable[[Any], bool]  # the service's error body
    examples: dict[str, list[Any]]  # rule -> valid bodies (JSON values, or raw bytes), mutated by the fuzzer
    probes: list[Probe]  # product calls made after each example: an accepted setting must not break them
    query_keys: list[str]
    skip: dict[str, str] = field(default_factory=dict)  # rule -> why it is not fuzzed


# -- inputs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Raw:
    """JSON text spliced in as is: tokens Python's encoder would not write, or nesting it would refuse."""

    text: str


RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "1e-300", "-0", "1" * 5000,
              "99999999999999999999", "-99999999999999999999", "1.5e308", "0.000000000000000000001"]
DEPTHS = [50, 500, 990, 1100, 5000, 100_000]


def nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
    return json.dumps(value)


raw_tokens = st.sampled_from(RAW_TOKENS).map(Raw)
deep = st.builds(lambda d, k: Raw(nested(d, k)), st.sampled_from(DEPTHS), st.sampled_from(["list", "dict"]))
EDGE_NUMBERS = [0, 1, -1, 0.5, -0.0, 1e-7, 1e-300, 5e-324, 1e300, 1.7976931348623157e308, 2**31, 2**53 + 1, 2**63,
                2**64, -(2**63), 10**20, -(10**20), 10**400, math.inf, -math.inf, math.nan]
edge_numbers = st.sampled_from(EDGE_NUMBERS)
numbers = edge_numbers | st.integers() | st.floats()
TIMES = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+00:00",
         "9999-12-31T23:59:59-14:00", "2026-13-45T99:99:99Z", "1969-12-31T23:59:59Z"]
texts = st.text(max_size=12) | st.sampled_from(["", " ", "0", "-1", "true", "null", "ü", "🙂", "\x00", "a/b", "..",
                                                 "%2F", "x" * 300, *TIMES])
scalars = st.none() | st.booleans() | numbers | texts | raw_tokens


def json_trees(leaves: st.SearchStrategy = scalars) -> st.SearchStrategy:
    return st.recursive(leaves | deep, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(texts, inner, max_size=4), max_leaves=10)


def _like(value: Any) -> st.SearchStrategy:
    """A value in place of `value`: mostly one of its own kind at the edges (a number for a number),
    sometimes anything at all."""
    if isinstance(value, bool):
        return st.booleans() | json_trees()
    if isinstance(value, int | float):
        return edge_numbers | edge_numbers | numbers | raw_tokens | st.sampled_from(["5", "1e-300", ""]) | json_trees()
    if isinstance(value, str):
        return texts | st.sampled_from(TIMES) | json_trees()
    return json_trees()


@st.composite
def _mutated_once(draw, example: Any) -> Any:
    if isinstance(example, bytes):
        at = draw(st.integers(0, len(example)))
        return example[:at] + draw(st.binary(max_size=8)) + example[at + draw(st.integers(0, 3)):]
    if isinstance(example, dict) and example:
        key = draw(st.sampled_from(sorted(example)))
        action = draw(st.sampled_from(["change", "change", "change", "drop", "add"]))
        copy = dict(example)
        if action == "change":
            copy[key] = draw(_mutated_once(example[key]))
        elif action == "drop":
            del copy[key]
        else:
            copy[draw(texts)] = draw(json_trees())
        return copy
    if isinstance(example, list) and example:
        at = draw(st.integers(0, len(example) - 1))
        action = draw(st.sampled_from(["change", "change", "drop", "add"]))
        copy = list(example)
        if action == "change":
            copy[at] = draw(_mutated_once(example[at]))
        elif action == "drop":
            del copy[at]
        else:
            copy.insert(at, draw(_like(example[at])))
        return copy
    return draw(_like(example))


@st.composite
def mutated(draw, example: Any) -> Any:
    """`example` with one to three parts changed: a value replaced, a key dropped or added, a list grown."""
    for _ in range(draw(st.integers(1, 3))):
        example = draw(_mutated_once(example))
    return example


NUMBER_EDGES = [Raw("1e-300"), Raw("1e300"), -1, 10**400, Raw("NaN"), Raw("Infinity"), True, "5"]
DEEP_VALUE = Raw(nested(900, "list"))  # JSON the parser takes, nested deeper than copying and encoding can go


def edge_sweep(example: Any) -> Iterator[Any]:
    """`example` with one part at a time replaced: each number by each edge value (tiny, huge, negative,
    NaN: what broke limits and schedules), each object member by a deep tree. The deterministic cut of the
    fuzzing."""
    if isinstance(example, dict):
        for key, value in example.items():
            yield {**example, key: DEEP_VALUE}
            for changed in edge_sweep(value):
                yield {**example, key: changed}
    elif isinstance(example, list):
        for at, value in enumerate(example):
            for changed in edge_sweep(value):
                yield [*example[:at], changed, *example[at + 1:]]
    elif isinstance(example, int | float) and not isinstance(example, bool):
        yield from NUMBER_EDGES


def _encode(value: Any) -> bytes:
    return value if isinstance(value, bytes) else to_json(value).encode("utf-8")


BAD_BODIES = [b"", b"{", b"[1,", b"nul", b"{'a': 1}", b"\xff\xfe", b'"\xed\xa0\x80"', b"\x00", "[1]".encode("utf-16"),
              b"[" * 100_000, nested(100_000, "list").encode(), nested(100_000, "dict").encode(), b"1" * 5000,
              b"NaN", b'{"a": NaN}', b"[Infinity]", b"1e400", b"99999999999999999999", b"[]", b"{}", b"null", b"0",
              b'"x"', b"true"]


def bodies(examples: list[Any]) -> st.SearchStrategy[bytes]:
    shaped = [st.sampled_from(examples).flatmap(mutated).map(_encode)] * 3 + [
        st.sampled_from(examples).map(_encode)] if examples else []
    return st.one_of(*shaped, json_trees().map(_encode), deep.map(lambda raw: raw.text.encode()),
                     st.sampled_from(BAD_BODIES), st.binary(max_size=40))


CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
                 "text/plain", "text/csv", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
NUMBER_ARGS = ["0", "-1", "99999999999999999999", "9223372036854775808", "-99999999999999999999", "1" * 5000, "1.5",
               "1e9", "nan", "inf", ""]
OTHER_ARGS = [" 5", "5 ", "1_0", "١٢", "true", "false", "null", "[]", "%", "%ZZ", "%FF", "\u00e9", "🙂"]
number_args = st.sampled_from(NUMBER_ARGS)  # most query arguments are numbers (cursors, limits, offsets)
query_values = number_args | number_args | number_args | st.sampled_from(OTHER_ARGS) | st.integers().map(str) \
    | st.floats().map(str) | st.text(max_size=10)


def query_strings(keys: list[str]) -> st.SearchStrategy[str]:
    """Mostly the keys the service reads, with edge values; repeated keys and strangers too."""
    known = st.sampled_from(keys)
    pair = st.tuples(known | known | known | st.text(max_size=6), query_values)
    return st.lists(pair, max_size=5).map(lambda pairs: "&".join(f"{quote(k)}={quote(v, safe='%')}" for k, v in pairs))


def path_values(env_known: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(env_known) | texts.filter(bool) if env_known else texts.filter(bool)


# -- answers --------------------------------------------------------------------------------------

def first_chunk(response: TestResponse) -> bytes:
    """At most the first chunk of a streamed answer: an event stream never ends on its own."""
    try:
        return next(iter(response.response), b"")
    finally:
        response.close()


def check_answer(service: Service, method: str, response: TestResponse, what: str) -> None:
    """No 5xx, ever; a 4xx is JSON in the service's error format."""
    streamed = response.mimetype == "text/event-stream"
    data = first_chunk(response) if streamed else response.get_data()
    assert response.status_code < 500, (what, response.status_code, data[:500])
    if response.status_code >= 400 and method != "HEAD":
        try:
            body = json.loads(data)
        except ValueError:
            raise AssertionError((what, response.status_code, "not JSON", data[:500])) from None
        assert service.is_error(body), (what, response.status_code, body)


def call(env: Env, method: str, path: str, query: str = "", body: bytes = b"",
         content_type: str | None = None) -> TestResponse:
    headers = {"Content-Type": content_type} if content_type else {}
    return env.client.open(path, method=method, query_string=query or None, data=body, headers=headers,
                           buffered=False)


def build_path(route: Route, values: dict[str, str]) -> str:
    path = route.rule
    for name in route.arguments:
        path = path.replace(f"<{name}>", quote(values[name], safe=""))
    return path


def after_example(service: Service, env: Env, changed: bool) -> Iterator[tuple[str, TestResponse]]:
    """What a user does next, when the example changed something: the product calls and every plain
    admin read; and always the scheduled work."""
    if changed:
        for probe in service.probes:
            for response in probe(env):
                yield f"probe {probe.__name__}", response
        for route in admin_routes(env.app):
            if not route.arguments and "GET" in route.methods:
                yield f"GET {route.rule}", call(env, "GET", route.rule)
    env.runtime.scheduler.run_until_idle(max_tasks=MAX_TASKS)
    assert not env.runtime.scheduler.errors, list(env.runtime.scheduler.errors)
