"""Error bodies as Braze writes them, and the one table of messages (`mocks/braze/rest/errors.py`).

Sources: `_docs/_api/errors.md`, `_docs/_api/objects_filters/recipient_object.md`,
`_docs/_api/objects_filters/messaging/webhook_object.md` in braze-inc/braze-docs; recorded answers in
jonallured/braze_ruby `spec/fixtures/responses/` (named per test).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocks.braze.engagement.messaging import parse_recipients
from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError

from .braze_fixtures import HOOK_URL, BrazeEnv, recipients, webhook

PACKAGE = Path(errors.__file__).resolve().parent.parent  # mocks/braze
TABLE = {name: value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)}
RAISERS = {"BrazeError": 1, "bad_request": 0}  # callable -> index of its message argument


# -- the table stays the one place --------------------------------------------------------------------------
def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _table_name(node: ast.expr) -> str | None:
    """The constant `node` names: `errors.X`, `X` imported from the table, or `....format(...)` of one."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        node = node.func.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "errors":
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _caught(tree: ast.Module) -> set[str]:
    return {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}


def _is_pass_through(node: ast.expr, caught: set[str]) -> bool:
    """`str(exc)` of a caught exception: a parser's own words about the value it refused."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id in caught)


def test_every_braze_error_names_a_constant_of_the_table():
    strays = []
    for path, tree in _modules():
        if path.name == "errors.py" and path.parent.name == "rest":
            continue  # the table's own helpers pass their argument on
        caught = _caught(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RAISERS):
                continue
            index = RAISERS[node.func.id]
            message = node.args[index] if len(node.args) > index else next(
                (k.value for k in node.keywords if k.arg == "message"), None)
            if message is None or (_table_name(message) not in TABLE and not _is_pass_through(message, caught)):
                strays.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    assert strays == []


def test_every_constant_of_the_table_is_used():
    used: set[str] = set()
    for path, tree in _modules():
        if path.name == "errors.py" and path.parent.name == "rest":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "errors":
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "mocks.braze.rest.errors":
                used.update(alias.name for alias in node.names)
    assert sorted(set(TABLE) - used) == []


def test_the_stray_check_would_see_an_inline_message():
    tree = ast.parse('def f(exc):\n    raise bad_request("inline")\n')
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert _table_name(call.args[0]) is None and not _is_pass_through(call.args[0], _caught(tree))


# -- messages Braze documents or recorded --------------------------------------------------------------------
def test_an_unknown_key_is_named_in_the_401():
    """Recorded: `{"message":"Invalid API key: non-existent"}` (braze_ruby send_messages/unauthorized/
    responds_with_unauthorized.yml); the fake used to answer "Invalid API Key"."""
    env = BrazeEnv()
    try:
        response = env.post("/messages/send", {"messages": {"apple_push": {"alert": "hello"}},
                                               "external_user_ids": [12345]}, key="non-existent")
        assert (response.status_code, response.get_json()) == (401, {"message": "Invalid API key: non-existent"})
    finally:
        env.close()


def test_canvas_details_of_an_unknown_id(braze):
    """Recorded: canvas/details/returns_error_when_no_canvas.yml (`?canvas_id=non-existing`)."""
    response = braze.get("/canvas/details", canvas_id="non-existing")
    assert (response.status_code, response.get_json()) == (
        400, {"message": "canvas_id must be a string of the Canvas api identifier"})


@pytest.mark.parametrize("key", ["external_user_ids", "user_aliases"])
def test_messages_send_over_50_ids(braze, key):
    """`_docs/_api/errors.md`: "400 The max number of external_ids and aliases per request was exceeded"."""
    ids = [f"x{i}" for i in range(51)] if key == "external_user_ids" else [
        {"alias_name": f"a{i}", "alias_label": "l"} for i in range(51)]
    response = braze.post("/messages/send", {key: ids, "messages": {"webhook": webhook(request_method="POST")}})
    assert response.get_json() == {"message": "The max number of external_ids and aliases per request was exceeded"}


def test_trigger_over_50_recipients(braze):
    """`_docs/_api/errors.md`: "400 The max number of ids per request was exceeded" (more than 50 ids)."""
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, recipients=recipients(*(f"u{i}" for i in range(51))))
    assert response.get_json() == {"message": "The max number of ids per request was exceeded"}


def test_users_delete_over_50_ids(braze):
    response = braze.post("/users/delete", {"external_ids": [f"u{i}" for i in range(51)]})
    assert (response.status_code, response.get_json()) == (
        400, {"message": "The max number of ids per request was exceeded"})


@pytest.mark.parametrize("path", ["/campaigns/trigger/send", "/messages/send"])
def test_no_recipients(braze, path):
    """`_docs/_api/errors.md`: "400 No Recipients"."""
    body = {"campaign_id": braze.campaign()} if path.startswith("/campaigns") else {
        "messages": {"webhook": webhook(request_method="POST")}}
    response = braze.post(path, body)
    assert (response.status_code, response.get_json()) == (400, {"message": "No Recipients"})


@pytest.mark.parametrize("messages", [None, {}])
def test_no_message_to_send(braze, messages):
    """`_docs/_api/errors.md`: "400 No message to send"."""
    response = braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": messages})
    assert (response.status_code, response.get_json()) == (400, {"message": "No message to send"})


def test_invalid_campaign_id(braze):
    response = braze.post("/campaigns/trigger/send", {"campaign_id": "nope", "broadcast": True})
    assert (response.status_code, response.get_json()) == (400, {"message": "Invalid Campaign ID"})


# -- messages.webhook.request_method --------------------------------------------------------------------------
@pytest.mark.parametrize(("hook", "message"), [
    ({"url": HOOK_URL}, "'messages.webhook.request_method' is required"),
    ({"url": HOOK_URL, "method": "POST"}, "'messages.webhook.request_method' is required"),
    ({"url": HOOK_URL, "request_method": "PATCH"}, "'messages.webhook.request_method' must be one of POST, PUT, "
                                                   "DELETE, GET"),
    ({"url": HOOK_URL, "request_method": "post"}, "'messages.webhook.request_method' must be one of POST, PUT, "
                                                  "DELETE, GET"),
])
def test_request_method_is_required_and_one_of_four(braze, hook, message):
    """`_docs/_api/objects_filters/messaging/webhook_object.md`: `"request_method": (required, string) one of
    "POST", "PUT", "DELETE", or "GET"`. The fake used to default it to POST."""
    target = braze.receiver()
    braze.users("u1")
    response = braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": {"webhook": hook}})
    assert (response.status_code, response.get_json()) == (400, {"message": message})
    braze.run()
    assert target.requests == []


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "GET"])
def test_each_documented_request_method_is_sent(braze, method):
    target = braze.receiver()
    braze.users("u1")
    response = braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": {"webhook": {
        "url": HOOK_URL, "request_method": method}}})
    assert response.status_code == 201
    braze.run()
    assert [r["method"] for r in target.requests] == [method]


# -- recipients -------------------------------------------------------------------------------------------------
def test_a_numeric_external_user_id_is_its_string(braze):
    """Recorded 201: braze_ruby send_messages/with_success/responds_with_created.yml sends
    `"external_user_ids":[12345]`; the same holds for a recipient's `external_user_id`."""
    target = braze.receiver()
    braze.users("12345")
    cid = braze.campaign(re_eligible_after_seconds=0)
    assert braze.trigger_campaign(cid, recipients=[{"external_user_id": 12345}]).status_code == 201
    sent = braze.post("/messages/send", {"external_user_ids": [12345], "messages": {"webhook": webhook(
        request_method="POST")}})
    assert sent.status_code == 201
    braze.run()
    assert target.bodies == ["12345", "12345"]


@pytest.mark.parametrize("value", [True, 1.5, [], ""])
def test_other_external_user_ids_are_refused(braze, value):
    response = braze.trigger_campaign(braze.campaign(), recipients=[{"external_user_id": value}])
    assert (response.status_code, response.get_json()) == (
        400, {"message": "recipients[0].external_user_id must be a non-empty string"})


@pytest.mark.parametrize("prioritization", [None, [], "identified", [1]])
def test_an_email_recipient_requires_prioritization(braze, prioritization):
    """`_docs/_api/objects_filters/recipient_object.md`: `"prioritization": ... required when using email`."""
    recipient = {"email": "e@example.com", **({} if prioritization is None else {"prioritization": prioritization})}
    response = braze.trigger_campaign(braze.campaign(), recipients=[recipient])
    assert (response.status_code, response.get_json()) == (
        400, {"message": "recipients[0]: an 'email' recipient requires 'prioritization'"})


def test_an_email_recipient_with_prioritization_is_sent(braze):
    target = braze.receiver()
    braze.set_attrs({"email": "e@example.com", "first_name": "E"})
    cid = braze.campaign(webhook=webhook("{{${first_name}}}"))
    response = braze.trigger_campaign(cid, recipients=[{"email": "e@example.com", "prioritization": ["unidentified"]}])
    assert response.status_code == 201
    braze.run()
    assert target.bodies == ["E"]


@pytest.mark.parametrize(("recipient", "message"), [
    ({"user_alias": {"alias_name": "a", "alias_label": "l"}, "send_to_existing_only": False, "attributes": {"x": 1}},
     "recipients[0]: 'send_to_existing_only': false cannot be used with 'user_alias'"),
    ({"braze_id": "b", "send_to_existing_only": False, "attributes": {"x": 1}},
     "recipients[0]: 'send_to_existing_only': false needs an 'external_user_id'"),
    ({"external_user_id": "new", "send_to_existing_only": False},
     "recipients[0]: 'attributes' are required when 'send_to_existing_only' is false"),
])
def test_send_to_existing_only_false(braze, recipient, message):
    """`recipient_object.md`: "defaults to true; cannot be used with user aliases"; false "must include an
    attribute"."""
    response = braze.trigger_campaign(braze.campaign(), recipients=[recipient])
    assert (response.status_code, response.get_json()) == (400, {"message": message})
    assert braze.client.get("/_admin/users").get_json()["total"] == 0


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
RECIPIENT = st.fixed_dictionaries({}, optional={
    "external_user_id": JSON | st.integers() | st.text(min_size=1, max_size=5), "braze_id": JSON,
    "email": JSON, "user_alias": JSON | st.fixed_dictionaries({"alias_name": st.text(), "alias_label": st.text()}),
    "prioritization": JSON, "send_to_existing_only": JSON, "attributes": JSON, "trigger_properties": JSON})
PATTERNS = [  # each message of the table, its {placeholders} matching anything
re.compile("^" + re.sub(r"\\\{[^}]*\\\}", ".*", re.escape(v)) + "$", re.S) for v in TABLE.values()]


@given(st.lists(RECIPIENT, max_size=4) | JSON)
def test_any_recipients_either_parse_or_get_a_400_from_the_table(raw):
    try:
        parsed = parse_recipients({"recipients": raw}, ("trigger_properties",))
    except BrazeError as exc:
        assert exc.status == 400
        assert any(p.match(exc.message) for p in PATTERNS), exc.message
        return
    for recipient in parsed:
        kind, value = recipient.identifier
        if kind == "user_alias":
            assert isinstance(value, tuple)
        else:
            assert isinstance(value, str) and value
