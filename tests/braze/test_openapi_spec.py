"""The fake Braze's answers checked against Braze's OpenAPI description (tests/braze/spec/braze-openapi.json).

Source: braze-community/braze-specification `openapi/spec.json` at 77bbe79 (generated from Braze's Postman
collection). Its 2XX response schemas are all a bare `{"type": "object"}` with no `example`, so the answers are
checked two ways (docs/braze-fake.md, "Checked against Braze's OpenAPI description"):
- schemathesis drives every operation the fake serves and the description has, with requests generated from
  the description's request schemas, and checks status code, content type and response schema (its error
  schema is real: `{"message": string, "errors": [...]}`), plus the success shape below on any 2XX;
- `SAMPLES`, valid requests per operation, whose answers must have the shape of the success example in the
  operation's description (`openapi_shapes`).
`spec_departures.SPEC_DEPARTURES` lists where the fake follows Braze's newer docs instead; exactly those are
skipped. The fake runs in-process (its WSGI app on a simulated runtime): schemathesis calls it through WSGI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.braze import openapi_shapes
from tests.braze.braze_fixtures import API_KEY, BrazeEnv, iso, recipients, webhook
from tests.braze.openapi_shapes import Shape, departures, success_shape
from tests.braze.spec_departures import HARNESS_ADDITIONS, SPEC_DEPARTURES

SCHEMA = schemathesis.openapi.from_dict(openapi_shapes.spec())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "braze-fake.md"
FUZZ_EXAMPLES = 8  # per operation and source: bounded so the module stays well under a minute on a loaded machine

# Served REST routes the description does not have, each with why it cannot be checked here.
NOT_IN_SPEC: dict[tuple[str, str], str] = {
    ("POST", "/users/track/sync"): "newer than the description (post_user_track_synchronous.md); "
                                   "tests/braze/test_identity.py checks it against that page",
    ("GET", "/_exports/{name}"): "not Braze's REST API: the fake's stand-in for the file URL a segment export "
                                 "answers (harness contract, docs/braze-fake.md)",
}


def served_routes(env: BrazeEnv) -> set[tuple[str, str]]:
    """(METHOD, path) of every REST route the fake serves: its url_map less `/_admin` and Flask's static."""
    found = set()
    for rule in env.app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/_admin"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        found |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def checked_operations() -> list[tuple[str, str]]:
    env = BrazeEnv()
    try:
        return sorted(served_routes(env) & set(openapi_shapes.operations()))
    finally:
        env.close()


# -- what is skipped ---------------------------------------------------------------------------------------
def _listed(operation: str, status: int, where: str) -> bool:
    status_class = "2XX" if 200 <= status < 300 else str(status)
    return any(d.operation == operation and d.status == status_class and d.where == where for d in SPEC_DEPARTURES) \
        or (status_class == "2XX" and any(h.operation == operation and h.where == where for h in HARNESS_ADDITIONS))


def _where(instance_path: list[Any]) -> str:
    """`["users", 0, "random_bucket"]` -> `users[].random_bucket`."""
    text = ""
    for part in instance_path:
        text += "[]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def shape_findings(method: str, path: str, status: int, body: Any) -> list[tuple[str, str]]:
    """(where, what) of each departure of a 2XX answer from the operation's success example."""
    shape: Shape | None = success_shape(method, path)
    if shape is None or not 200 <= status < 300:
        return []
    found = []
    for text in departures(body, shape):
        where, _, what = text.partition(": ")
        found.append((re.sub(r"\[\d+\]", "[]", where), what))
    return found


def schema_findings(case: Any, response: Any) -> list[tuple[str, str]]:
    """(where, what) of each schemathesis check that fails on the answer."""
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        failures: list[Failure] = list(group.exceptions)
    except Failure as failure:
        failures = [failure]
    else:
        return []
    return [(f"status {f.status_code}" if isinstance(f, UndefinedStatusCode)
             else _where(list(getattr(f, "instance_path", []) or [])), f.title) for f in failures]


def answer_json(response: Any) -> Any:
    """The answer's JSON, None when it has none (the content-type check then reports it)."""
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def unlisted(method: str, path: str, case: Any, response: Any) -> list[str]:
    """What the answer breaks of the description, less the listed departures: empty when it conforms."""
    operation = f"{method} {path}"
    body = answer_json(response)
    status = response.status_code
    return [f"{status} {where}: {what}"
            for where, what in schema_findings(case, response) + shape_findings(method, path, status, body)
            if not _listed(operation, status, where)]


# -- valid requests per operation --------------------------------------------------------------------------
@dataclass
class World:
    """A workspace with a user, events, a campaign, a Canvas and a segment: what valid requests refer to."""

    env: BrazeEnv
    campaign_id: str
    canvas_id: str
    segment_id: str
    group_id: str  # an email subscription group

    def later(self, days: int) -> str:
        """A schedule time `days` ahead of the simulated now (the create pages allow up to 90 days)."""
        return iso(self.env.now() + timedelta(days=days))


@pytest.fixture
def world() -> Iterator[World]:
    env = BrazeEnv()
    env.receiver()
    env.users("ada", first_name="Ada", email="ada@example.com", favourite=["tea"])
    env.event("ada", "played", level=3)
    campaign_id = env.campaign(name="Welcome", conversion_events=[{"event": "played"}])
    canvas_id = env.canvas(name="Journey", steps=[{"id": "a", "type": "message", "webhook": webhook()}])
    assert env.trigger_campaign(campaign_id, recipients=recipients("ada")).status_code == 201
    assert env.trigger_canvas(canvas_id, recipients=recipients("ada")).status_code == 201
    env.run()
    segment = env.client.post("/_admin/segments", json={"name": "Tea", "filter": {"custom_attribute": {
        "custom_attribute_name": "favourite", "comparison": "includes_value", "value": "tea"}}})
    assert segment.status_code == 201, segment.get_json()
    group = env.client.post("/_admin/subscription_groups", json={"name": "News", "channel": "email"})
    assert group.status_code == 201, group.get_json()
    env.post("/users/alias/new", {"user_aliases": [{"alias_name": "anon", "alias_label": "device"}]})
    env.users("cy", email="cy@example.com")
    assert env.post("/sends/id/create", {"campaign_id": campaign_id, "send_id": "spring"}).status_code == 201
    yield World(env, campaign_id, canvas_id, segment.get_json()["id"], group.get_json()["subscription_group_id"])
    env.close()


Request = Callable[[World], dict[str, Any]]  # -> {"body": ...} or {"query": ...}
SAMPLES: list[tuple[str, str, str, Request]] = [
    ("track all three arrays", "POST", "/users/track", lambda w: {"body": {
        "attributes": [{"external_id": "bo", "first_name": "Bo"}],
        "events": [{"external_id": "bo", "name": "played", "time": iso(w.env.now())}],
        "purchases": [{"external_id": "bo", "product_id": "p1", "currency": "USD", "price": 1.5,
                       "time": iso(w.env.now())}]}}),
    ("track with a non-fatal error", "POST", "/users/track", lambda w: {"body": {
        "events": [{"external_id": "bo", "name": "played", "time": iso(w.env.now())}, {"external_id": "bo"}]}}),
    ("track with nothing valid (fatal)", "POST", "/users/track", lambda w: {"body": {"events": [{"name": "x"}]}}),
    ("export by id", "POST", "/users/export/ids", lambda w: {"body": {"external_ids": ["ada", "nobody"]}}),
    ("delete by id", "POST", "/users/delete", lambda w: {"body": {"external_ids": ["ada"]}}),
    ("campaign trigger", "POST", "/campaigns/trigger/send",
     lambda w: {"body": {"campaign_id": w.campaign_id, "recipients": recipients("ada")}}),
    ("canvas trigger", "POST", "/canvas/trigger/send",
     lambda w: {"body": {"canvas_id": w.canvas_id, "recipients": recipients("ada")}}),
    ("messages send", "POST", "/messages/send", lambda w: {"body": {"external_user_ids": ["ada"], "messages": {
        "webhook": {"url": "http://bridge.local/hook", "request_method": "POST", "body": "hi"}}}}),
    ("send id", "POST", "/sends/id/create", lambda w: {"body": {"campaign_id": w.campaign_id}}),
    ("campaign list", "GET", "/campaigns/list", lambda w: {"query": {"page": 0}}),
    ("campaign details", "GET", "/campaigns/details", lambda w: {"query": {"campaign_id": w.campaign_id}}),
    ("canvas list", "GET", "/canvas/list", lambda w: {"query": {"page": 0}}),
    ("canvas details", "GET", "/canvas/details", lambda w: {"query": {"canvas_id": w.canvas_id}}),
    ("event list", "GET", "/events/list", lambda w: {"query": {"page": 0}}),
    ("event series", "GET", "/events/data_series", lambda w: {"query": {"event": "played", "length": 2}}),
    ("segment list", "GET", "/segments/list", lambda w: {"query": {"page": 0}}),
    ("segment details", "GET", "/segments/details", lambda w: {"query": {"segment_id": w.segment_id}}),
    ("segment export", "POST", "/users/export/segment", lambda w: {"body": {
        "segment_id": w.segment_id, "fields_to_export": ["external_id", "first_name"]}}),
    ("campaign series", "GET", "/campaigns/data_series",
     lambda w: {"query": {"campaign_id": w.campaign_id, "length": 2}}),
    ("canvas series", "GET", "/canvas/data_series", lambda w: {"query": {
        "canvas_id": w.canvas_id, "length": 2, "include_variant_breakdown": "true", "include_step_breakdown": "true",
        "include_deleted_step_data": "true"}}),
    ("canvas summary", "GET", "/canvas/data_summary", lambda w: {"query": {
        "canvas_id": w.canvas_id, "length": 2, "include_variant_breakdown": "true", "include_step_breakdown": "true",
        "include_deleted_step_data": "true"}}),
    ("send series", "GET", "/sends/data_series",
     lambda w: {"query": {"campaign_id": w.campaign_id, "send_id": "spring", "length": 2}}),
    ("campaign schedule", "POST", "/campaigns/trigger/schedule/create", lambda w: {"body": {
        "campaign_id": w.campaign_id, "recipients": recipients("ada"), "schedule": {"time": w.later(7)}}}),
    ("messages schedule", "POST", "/messages/schedule/create", lambda w: {"body": {
        "external_user_ids": ["ada"], "schedule": {"time": w.later(7)}, "messages": {
            "webhook": {"url": "http://bridge.local/hook", "request_method": "POST", "body": "hi"}}}}),
    ("scheduled broadcasts", "GET", "/messages/scheduled_broadcasts", lambda w: {"query": {"end_time": w.later(30)}}),
    ("alias new", "POST", "/users/alias/new", lambda w: {"body": {"user_aliases": [
        {"external_id": "ada", "alias_name": "ada-crm", "alias_label": "crm"},
        {"alias_name": "new-anon", "alias_label": "device"}]}}),
    ("alias new for an unknown external_id (non-fatal error)", "POST", "/users/alias/new", lambda w: {"body": {
        "user_aliases": [{"external_id": "nobody", "alias_name": "n", "alias_label": "crm"}]}}),
    ("identify an alias", "POST", "/users/identify", lambda w: {"body": {"aliases_to_identify": [
        {"external_id": "dee", "user_alias": {"alias_name": "anon", "alias_label": "device"}}]}}),
    ("identify an unknown alias (non-fatal error)", "POST", "/users/identify", lambda w: {"body": {
        "aliases_to_identify": [{"external_id": "dee", "user_alias": {"alias_name": "nobody", "alias_label": "x"}}]}}),
    ("merge", "POST", "/users/merge", lambda w: {"body": {"merge_updates": [
        {"identifier_to_merge": {"external_id": "cy"}, "identifier_to_keep": {"external_id": "ada"}}]}}),
    ("external id rename", "POST", "/users/external_ids/rename", lambda w: {"body": {"external_id_renames": [
        {"current_external_id": "cy", "new_external_id": "cy2"}]}}),
    ("external id remove", "POST", "/users/external_ids/remove", lambda w: {"body": {"external_ids": ["nope"]}}),
    ("subscription status get", "GET", "/subscription/status/get",
     lambda w: {"query": {"subscription_group_id": w.group_id, "external_id": "ada"}}),
    ("subscription status set", "POST", "/subscription/status/set", lambda w: {"body": {
        "subscription_group_id": w.group_id, "subscription_state": "subscribed", "external_id": "ada"}}),
    ("subscription status set v2", "POST", "/v2/subscription/status/set", lambda w: {"body": {"subscription_groups": [
        {"subscription_group_id": w.group_id, "subscription_state": "unsubscribed", "external_ids": ["ada"]}]}}),
]


def answer_sample(world: World, method: str, path: str, request: Request) -> tuple[Any, Any]:
    case = SCHEMA[path][method].Case(**request(world), media_type="application/json" if method == "POST" else None)
    return case, case.call(app=world.env.app, headers=HEADERS)


@pytest.mark.parametrize(("label", "method", "path", "request_of"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_valid_requests_get_answers_the_description_shows(world, label, method, path, request_of):
    case, response = answer_sample(world, method, path, request_of)
    assert response.status_code < 500, response.text
    assert unlisted(method, path, case, response) == []


def test_every_served_operation_with_a_documented_answer_has_a_valid_request_here():
    """An operation the description shows an answer for is checked as soon as the fake serves it: this fails
    until SAMPLES has a valid request for it."""
    sampled = {(method, path) for _, method, path, _ in SAMPLES}
    assert [op for op in checked_operations() if success_shape(*op) is not None and op not in sampled] == []


def test_every_served_route_is_checked_or_listed_as_not_checkable():
    env = BrazeEnv()
    try:
        served = served_routes(env)
    finally:
        env.close()
    described = set(openapi_shapes.operations())
    assert sorted(served - described - set(NOT_IN_SPEC)) == []
    assert sorted(op for op in NOT_IN_SPEC if op not in served or op in described) == []


def test_each_listed_departure_is_still_needed(world):
    """A listed departure that no answer shows any more is removed from the list: the list skips no more than
    what the fake does differently."""
    seen = set()
    for _, method, path, request_of in SAMPLES:
        case, response = answer_sample(world, method, path, request_of)
        body = answer_json(response)
        for where, _ in schema_findings(case, response) + shape_findings(method, path, response.status_code, body):
            seen.add((f"{method} {path}", where))
    listed = {(d.operation, d.where) for d in SPEC_DEPARTURES} | {(h.operation, h.where) for h in HARNESS_ADDITIONS}
    assert sorted(listed - seen) == []


def test_the_docs_list_every_departure_and_nothing_else():
    """docs/braze-fake.md repeats the list as a table; each row names an entry, each entry has a row."""
    text = DOCS.read_text(encoding="utf-8").split("## Checked against Braze's OpenAPI description", 1)[1]
    rows = re.findall(r"^\| `([A-Z]+ [^`]+)` \| (\w+) \| `([^`]+)` \|", text, re.M)
    assert sorted(rows) == sorted((d.operation, d.status, d.where) for d in SPEC_DEPARTURES)


# -- requests generated from the description ---------------------------------------------------------------
SOURCES = ("examples", "positive", "negative")  # the description's own examples; valid and invalid generated data


def strategy(method: str, path: str, source: str) -> SearchStrategy | None:
    operation = SCHEMA[path][method]
    if source == "examples":
        examples = SCHEMA.get_strategies_from_examples(operation)
        return st.one_of(examples) if examples else None
    return operation.as_strategy(generation_mode=GenerationMode(source))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("method", "path"), checked_operations(), ids=lambda v: v)
def test_generated_requests_get_answers_the_description_allows(method, path, source):
    """Requests schemathesis builds from the description (its examples, then data valid and invalid for its
    loose request schemas): mostly refused with 400, which must then be Braze's error shape; a 5XX, an
    undocumented status, another content type or a 2XX that leaves the success example fails."""
    cases = strategy(method, path, source)
    if cases is None:
        pytest.skip(f"the description has no request example for {method} {path}")
    env = BrazeEnv()
    problems: list[str] = []

    @given(case=cases)
    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def answer(case: Any) -> None:
        response = case.call(app=env.app, headers=HEADERS)
        problems.extend(unlisted(method, path, case, response))

    try:
        answer()
    finally:
        env.close()
    assert problems == []


# -- the checker itself ------------------------------------------------------------------------------------
def test_the_checker_reports_an_answer_that_leaves_the_example():
    shape = success_shape("POST", "/users/delete")
    assert departures({"deleted": 2}, shape) == []
    assert departures({"deleted": "2"}, shape) == ["deleted: string, the example says integer"]
    assert departures({}, shape) == ["deleted: required by the example, missing"]
    assert shape_findings("POST", "/users/delete", 201, {"deleted": 1, "message": "success", "gone": []}) == [
        ("message", "not in the example"), ("gone", "not in the example")]
    assert not _listed("POST /users/delete", 201, "gone") and _listed("POST /users/delete", 201, "message")


def test_the_checker_reads_id_keys_and_more_lines():
    """`(optional) {` opens a key's object; `"00000000-...": (API identifier for step) {` and `"1": "Subscribed"`
    stand for ids; `... (more channels)` admits unlisted keys shaped like the listed ones, and only those."""
    summary = success_shape("GET", "/canvas/data_summary")
    step = {"name": "s", "revenue": 0.0, "conversions": 0, "messages": {"webhook": [{"sent": 1, "errors": 0}]}}
    assert departures({"message": "success", "data": {"name": "c", "step_stats": {"a": step}}}, summary) == []
    step["messages"] = {"webhook": [{"sent": "1"}], "email": {"sent": 1}}
    assert departures({"message": "success", "data": {"step_stats": {"a": step}}}, summary) == [
        "data.step_stats.<id>.messages.webhook[0].sent: string, the example says integer",
        "data.step_stats.<id>.messages.email: object, the example's other keys are array"]
    status = success_shape("GET", "/subscription/status/get")
    assert departures({"message": "success", "status": {"ada": "Subscribed"}}, status) == []
    assert departures({"message": "success", "status": {"ada": 1}}, status) == [
        "status.<id>: integer, the example says string"]


def test_the_checker_reads_nested_examples():
    listing = success_shape("GET", "/campaigns/list")
    assert departures({"message": "success", "campaigns": [{"id": "c", "tags": "t"}]}, listing) == [
        "campaigns[0].tags: string, the example says array"]
    export = success_shape("POST", "/users/export/ids")
    assert departures({"message": "success", "users": [{"custom_events": [{"count": "1"}]}]}, export) == [
        "users[0].custom_events[0].count: string, the example says integer"]
