"""What a notification says, as the journal tells it: templates carry their UI JSON, each delivery its variables
and the names that came out empty or unfilled, and a required variable sent empty is accepted but named.

Placeholders are found as Sendbird's UIKit finds them (`\\{([^{}]+)\\}`): names may contain spaces."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.sendbird.models import TemplateCreate
from mocks.sendbird.templates import TemplateStore, render_value

from .conftest import AUTH

UI = {"title": "Welcome, {first_name}!", "body": "Your {plan} plan is ready. {promo code}",
      "buttons": [{"label": "Open {plan}"}]}
SCHEMA = [{"key": "first_name", "required": True}, {"key": "plan"}, {"key": "promo code"}, {"key": "unused"}]


def _welcome(api, ui=UI, schema=SCHEMA) -> None:
    api.create_template("welcome", ui_template=ui, variable_schema=schema)


def _delivered(api) -> dict[str, dict]:
    return {r["user_id"]: r for r in api.records("message.delivered")}


# -- placeholders -----------------------------------------------------------------------------------
def test_a_placeholder_whose_name_holds_a_space_is_filled_as_uikit_fills_it(api):
    _welcome(api)
    api.send_ok(["u1"], variables={"u1": {"first_name": "Ann", "plan": "pro", "promo code": "SPRING"}})
    [msg] = api.messages("u1")
    assert msg["rendered_template"] == {"title": "Welcome, Ann!", "body": "Your pro plan is ready. SPRING",
                                        "buttons": [{"label": "Open pro"}]}


names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="{}"), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(name=names, value=st.text(max_size=12), other=names)
def test_any_name_without_braces_is_a_placeholder_and_a_missing_one_stays_literal(name, value, other):
    ui = {"t": f"<{{{name}}}|{{{other}}}>"}
    rendered = render_value(ui, {name: value})["t"]
    assert rendered == (f"<{value}|{value}>" if other == name else f"<{value}|{{{other}}}>")


# -- the journal --------------------------------------------------------------------------------------
def test_template_records_carry_the_ui_json_and_schema_of_their_version(api):
    _welcome(api)
    edited_ui = {"title": "Hi {first_name}"}
    assert api.put("/v1/templates/welcome", {"ui_template": edited_ui}).status_code == 200
    [created] = api.records("template.created")
    [edited] = api.records("template.edited")
    assert (created["version"], created["ui_template"]) == (1, UI)
    assert [s["key"] for s in created["variable_schema"]] == ["first_name", "plan", "promo code", "unused"]
    assert created["variable_schema"][0]["required"] is True
    assert (edited["version"], edited["ui_template"]) == (2, edited_ui)
    assert edited["variable_schema"] == created["variable_schema"]


def test_a_filled_delivery_carries_its_variables_and_no_gaps(api, service):
    _welcome(api)
    variables = {"first_name": "Ann", "plan": "pro", "promo code": "X", "unused": 0}
    api.send_ok(["u1"], variables={"u1": variables})
    [rec] = api.records("message.delivered")
    assert rec["variables"] == variables and rec["template_version"] == 1
    assert "empty_variables" not in rec and "unfilled_placeholders" not in rec
    [raw] = [r for r in api.runtime.journal.read(kinds=["message.delivered"])[0]]
    assert raw.attrs["variables"] is service.feeds.messages[rec["message_id"]].variables  # shared, not copied


def test_empty_and_unfilled_names_are_listed_sorted(api):
    _welcome(api)
    api.send_ok(["a", "b", "c"], mode="batch", variables={
        "a": {"first_name": "", "plan": "  \n", "promo code": "X", "unused": None},
        "b": {"first_name": "Bob"},
        "c": {"first_name": "Cy", "plan": "pro", "promo code": "Y", "extra": ""}})
    delivered = _delivered(api)
    assert delivered["a"]["empty_variables"] == ["first_name", "plan", "unused"]
    assert "unfilled_placeholders" not in delivered["a"]
    assert "empty_variables" not in delivered["b"]
    assert delivered["b"]["unfilled_placeholders"] == ["plan", "promo code"]  # `unused` is no placeholder
    assert "empty_variables" not in delivered["c"] and "unfilled_placeholders" not in delivered["c"]


def test_a_required_variable_sent_empty_is_accepted_and_named_once_per_send(api):
    _welcome(api)
    targets = [f"u{i:02d}" for i in range(12)]
    variables = {u: {"first_name": "" if i < 11 else "Zed", "plan": " "} for i, u in enumerate(targets)}
    resp = api.send(targets, mode="batch", variables=variables, headers={**AUTH, "X-Trace-Id": "t-1"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    api.settle()
    nid = resp.get_json()["notification_id"]
    assert len(api.records("message.delivered")) == 12
    [rec] = api.records("send.empty_required_variables")
    assert rec["notification_id"] == nid and rec["template_key"] == "welcome"
    assert rec["trace_id"] == "t-1"
    assert rec["variables"] == {"first_name": {"users": 11, "user_ids": targets[:10]}}  # `plan` is not required


def test_a_send_with_every_required_variable_filled_writes_no_empty_record(api):
    _welcome(api)
    api.send_ok(["u1"], variables={"u1": {"first_name": "Ann", "plan": ""}})
    assert api.records("send.empty_required_variables") == []
    assert _delivered(api)["u1"]["empty_variables"] == ["plan"]


def test_a_required_variable_left_out_is_still_refused(api):
    _welcome(api)
    resp = api.send(["u1"], variables={"u1": {"plan": "pro"}})
    assert resp.status_code == 400
    assert re.search(r'"first_name" is required for user "u1"', resp.get_json()["message"])


values = st.none() | st.text(alphabet=" \tab", max_size=3) | st.integers(0, 3)
VERSION = TemplateStore().create(TemplateCreate.model_validate(
    {"key": "welcome", "name": "Welcome", "ui_template": UI, "variable_schema": SCHEMA}), 0).current


@settings(max_examples=200, deadline=None)
@given(variables=st.dictionaries(st.sampled_from(["first_name", "plan", "promo code", "unused", "other"]), values))
def test_gaps_are_exactly_the_blank_names_and_the_placeholders_nothing_fills(variables):
    """Checked against a plain restatement of the rule, for any mix of present, missing and blank values."""
    blank = sorted(n for n in ("first_name", "plan", "promo code", "unused") if n in variables
                   and (variables[n] is None or (isinstance(variables[n], str) and not variables[n].strip())))
    unfilled = sorted(n for n in ("first_name", "plan", "promo code") if n not in variables)
    assert VERSION.gaps(variables) == (blank, unfilled)
