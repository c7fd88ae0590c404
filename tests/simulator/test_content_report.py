"""What the report says about the notifications' content, from hand-built journal records: the `content`
section, `checks.empty_variables`, the implicit expectation that fails a run with empty variables, content
expectations, and why a lost notification was lost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from simulator.analysis import build_report
from simulator.content import IMPLICIT_NAME
from simulator.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "scenarios" / "onboarding_demo.yaml").read_text())
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
UI = {"title": "Welcome, {first_name}!", "body": "Your {plan} plan is ready."}
SCHEMA = [{"key": "first_name", "required": True}, {"key": "plan"}]


def scenario(expectations: list | None = None, **fields) -> Scenario:
    data = {**DEMO, "expectations": expectations or [], **fields}
    data["sendbird"] = {"templates": [*DEMO["sendbird"]["templates"],
                                      {"key": "promo", "name": "Promo", "ui_template": {"title": "{coupon}"}}]}
    return Scenario.model_validate(data)


class Journal:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def add(self, service: str, kind: str, trace: str | None, **attrs) -> None:
        self.records.append({**attrs, "seq": len(self.records) + 1, "ts": "2026-01-05T09:00:00.000Z",
                             "service": service, "kind": kind, "trace_id": trace})

    def template(self, key: str = "welcome", version: int = 1, ui: dict = UI, schema: list = SCHEMA) -> None:
        kind = "template.created" if version == 1 else "template.edited"
        self.add("sendbird", kind, None, template_key=key, version=version, ui_template=ui, variable_schema=schema)

    def notification(self, user: str, variables: dict, key: str = "welcome", version: int = 1, **gaps) -> str:
        """One webhook accepted by the bridge and delivered by Sendbird (realtime: one trace throughout)."""
        trace = f"t-{user}-{len(self.records)}"
        self.add("bridge", "webhook.accepted", trace, message_id=f"m-{trace}")
        self.add("sendbird", "message.delivered", trace, user_id=user, template_key=key, template_version=version,
                 notification_id=f"n-{trace}", variables=variables, **gaps)
        return trace

    def report(self, scenario: Scenario) -> dict:
        return build_report(self.records, scenario=scenario, seed=1, mode="simulated", start=T0, end=T0,
                            population={}, campaigns={}, canvases={}, event_callback=False)


@pytest.fixture
def journal() -> Journal:
    j = Journal()
    j.template()
    j.template("promo", ui={"title": "{coupon}"}, schema=[])
    return j


def by_name(report: dict) -> dict[str, dict]:
    return {e["name"]: e for e in report["expectations"]}


# -- the content section ----------------------------------------------------------------------------------
def test_content_counts_notifications_with_gaps_and_renders_the_first_three_as_a_device_does(journal):
    journal.notification("u1", {"first_name": "Ann", "plan": "pro"})
    journal.notification("u2", {"first_name": "", "plan": "free"}, empty_variables=["first_name"])
    journal.notification("u3", {"first_name": " "}, empty_variables=["first_name"], unfilled_placeholders=["plan"])
    journal.notification("u4", {"first_name": "Dee", "plan": "team"})
    content = journal.report(scenario())["content"]
    welcome = content["welcome"]
    assert (welcome["notifications"], welcome["empty_variables"], welcome["unfilled_placeholders"]) == (4, 2, 1)
    assert welcome["variables"] == {"first_name": {"empty": 2, "unfilled": 0}, "plan": {"empty": 0, "unfilled": 1}}
    assert [(s["user_id"], s["title"], s["body"]) for s in welcome["samples"]] == [
        ("u1", "Welcome, Ann!", "Your pro plan is ready."),
        ("u2", "Welcome, !", "Your free plan is ready."),
        ("u3", "Welcome,  !", "Your {plan} plan is ready.")]  # a missing variable stays literal, as on a device
    assert welcome["samples"][0]["rendered"] == {"title": "Welcome, Ann!", "body": "Your pro plan is ready."}
    assert content["promo"] == {"notifications": 0, "empty_variables": 0, "unfilled_placeholders": 0,
                                "variables": {"coupon": {"empty": 0, "unfilled": 0}}, "samples": []}


def test_each_delivery_renders_with_the_template_version_it_was_sent_with(journal):
    journal.notification("u1", {"first_name": "Ann", "plan": "pro"})
    journal.template(version=2, ui={"title": "Hi {first_name}", "body": "{plan}"})
    journal.notification("u2", {"first_name": "Bob", "plan": "free"}, version=2)
    samples = journal.report(scenario())["content"]["welcome"]["samples"]
    assert [(s["title"], s["body"]) for s in samples] == [("Welcome, Ann!", "Your pro plan is ready."),
                                                         ("Hi Bob", "free")]


def test_checks_count_notifications_with_an_empty_variable_or_an_unfilled_placeholder(journal):
    journal.notification("u1", {"first_name": "Ann", "plan": "pro"})
    gap = journal.notification("u2", {"first_name": ""}, empty_variables=["first_name"],
                               unfilled_placeholders=["plan"])
    journal.notification("u3", {"coupon": ""}, key="promo", empty_variables=["coupon"])
    checks = journal.report(scenario())["checks"]
    assert checks["empty_variables"] == 2
    assert checks["empty_variable_details"][0] == {"trace_id": gap, "user_id": "u2", "template_key": "welcome",
                                                   "empty_variables": ["first_name"],
                                                   "unfilled_placeholders": ["plan"]}
    assert [d["template_key"] for d in checks["empty_variable_details"]] == ["welcome", "promo"]


def test_a_batch_delivery_is_listed_under_the_trace_of_its_webhook(journal):
    journal.add("bridge", "webhook.accepted", "braze-trace", message_id="m1")
    journal.add("bridge", "sendbird.sent", "braze-trace", notification_id="n1", receiver="u1")
    journal.add("sendbird", "message.delivered", "n1:u1", user_id="u1", notification_id="n1", template_key="welcome",
                template_version=1, variables={"first_name": ""}, empty_variables=["first_name"])
    [detail] = journal.report(scenario())["checks"]["empty_variable_details"]
    assert detail["trace_id"] == "braze-trace"


# -- the implicit expectation ------------------------------------------------------------------------------
def test_a_run_with_an_empty_variable_fails_with_no_expectation_about_it(journal):
    journal.notification("u1", {"first_name": ""}, empty_variables=["first_name"])
    report = journal.report(scenario())
    assert report["passed"] is False
    [implicit] = report["expectations"]
    assert implicit == {"name": f"{IMPLICIT_NAME} (implicit)", "metric": "checks.empty_variables", "value": 1,
                        "equals": 0, "min": None, "max": None, "passed": False, "implicit": True}


def test_a_clean_run_shows_the_implicit_expectation_held(journal):
    journal.notification("u1", {"first_name": "Ann", "plan": "pro"})
    report = journal.report(scenario())
    assert report["passed"] is True
    assert [(e["name"], e["passed"]) for e in report["expectations"]] == [(f"{IMPLICIT_NAME} (implicit)", True)]


def test_a_scenario_may_allow_empty_variables_everywhere_or_for_some_templates(journal):
    journal.notification("u1", {"first_name": ""}, empty_variables=["first_name"])
    everywhere = journal.report(scenario(allow_empty_variables=True))
    assert everywhere["passed"] is True and everywhere["expectations"] == []
    assert everywhere["checks"]["empty_variables"] == 1  # still counted and listed
    some = journal.report(scenario(allow_empty_variables=["welcome"]))
    assert some["passed"] is True
    [implicit] = some["expectations"]
    assert implicit["value"] == 0 and implicit["name"] == f"{IMPLICIT_NAME} (implicit; allowed for welcome)"
    journal.notification("u2", {"coupon": ""}, key="promo", empty_variables=["coupon"])
    assert journal.report(scenario(allow_empty_variables=["welcome"]))["passed"] is False


def test_an_explicit_bound_on_empty_variables_replaces_the_implicit_one(journal):
    journal.notification("u1", {"first_name": ""}, empty_variables=["first_name"])
    report = journal.report(scenario([{"metric": "checks.empty_variables", "max": 1}]))
    assert report["passed"] is True
    assert [e["metric"] for e in report["expectations"]] == ["checks.empty_variables"]


# -- content expectations -----------------------------------------------------------------------------------
def test_content_expectations_check_every_notification_and_show_the_first_five_failures(journal):
    for i in range(8):
        name = "Ann" if i % 2 else ""
        journal.notification(f"u{i}", {"first_name": name, "plan": "pro"},
                             **({} if name else {"empty_variables": ["first_name"]}))
    report = journal.report(scenario([
        {"name": "names", "content": {"template": "welcome", "variable": "first_name", "not_empty": True}},
        {"content": {"template": "welcome", "title_matches": "^Welcome, [A-Z]"}},
        {"content": {"template": "welcome", "variable": "plan", "matches": "^(free|pro)$"}},
    ], allow_empty_variables=True))
    names, title, plan = report["expectations"]
    assert (names["checked"], names["failed"], names["passed"]) == (8, 4, False)
    assert names["failures"] == [{"user_id": f"u{i}", "field": "first_name", "value": ""} for i in (0, 2, 4, 6)]
    assert names["content"] == {"template": "welcome", "variable": "first_name", "not_empty": True}
    assert title["name"] == "welcome: title matches /^Welcome, [A-Z]/"
    assert (title["checked"], title["failed"]) == (8, 4)
    assert title["failures"][0] == {"user_id": "u0", "field": "title", "value": "Welcome, !"}
    assert plan["passed"] is True and (plan["checked"], plan["failed"], plan["failures"]) == (8, 0, [])
    assert report["passed"] is False


def test_failures_shown_stop_at_five(journal):
    for i in range(9):
        journal.notification(f"u{i}", {"first_name": "x", "plan": "gold"})
    [item, _] = journal.report(scenario([{"content": {"template": "welcome", "variable": "plan",
                                                      "matches": "^(free|pro)$"}}]))["expectations"]
    assert item["failed"] == 9 and len(item["failures"]) == 5
    assert item["failures"][0] == {"user_id": "u0", "field": "plan", "value": "gold"}


def test_a_content_expectation_with_no_notification_fails(journal):
    journal.notification("u1", {"first_name": "Ann", "plan": "pro"})
    [item, _] = journal.report(scenario([{"content": {"template": "promo", "variable": "coupon",
                                                      "not_empty": True}}]))["expectations"]
    assert (item["checked"], item["passed"]) == (0, False)


def test_a_missing_variable_fails_a_value_check_and_keeps_its_placeholder_in_the_title(journal):
    journal.notification("u1", {"plan": "pro"}, unfilled_placeholders=["first_name"])
    names, title, _ = journal.report(scenario([
        {"content": {"template": "welcome", "variable": "first_name", "matches": "."}},
        {"content": {"template": "welcome", "title_matches": "^Welcome, [A-Z][a-z]+!$"}},
    ]))["expectations"]
    assert names["failures"] == [{"user_id": "u1", "field": "first_name", "value": None}]
    assert title["failures"] == [{"user_id": "u1", "field": "title", "value": "Welcome, {first_name}!"}]


@pytest.mark.parametrize(("content", "error"), [
    ({"template": "welcome"}, "needs 'variable'"),
    ({"template": "welcome", "variable": "first_name"}, "not_empty: true"),
    ({"template": "welcome", "not_empty": True}, "name it with 'variable'"),
    ({"template": "welcome", "title_matches": "(unclosed"}, "not a valid regular expression"),
    ({"template": "nope", "title_matches": "x"}, "unknown template 'nope'"),
])
def test_a_content_expectation_that_checks_nothing_or_cannot_check_is_refused(content, error):
    with pytest.raises(ValidationError, match=error):
        scenario([{"content": content}])


def test_an_expectation_is_either_a_bound_on_a_metric_or_a_content_check():
    with pytest.raises(ValidationError, match="takes no 'metric'"):
        scenario([{"metric": "funnel.read", "min": 1, "content": {"template": "welcome", "title_matches": "x"}}])
    with pytest.raises(ValidationError, match="needs a 'metric'"):
        scenario([{"name": "nothing"}])
    with pytest.raises(ValidationError, match="needs 'equals', 'min' or 'max'"):
        scenario([{"metric": "funnel.read"}])
    with pytest.raises(ValidationError, match="unknown template 'nope'"):
        scenario(allow_empty_variables=["nope"])


# -- why a notification was lost -------------------------------------------------------------------------------
def test_lost_details_say_why_from_the_bridges_journal(journal):
    reason = 'HTTP 400: Template variable "first_name" is required for user "u1".'
    for trace in ("dead", "retrying", "pending", "sent"):
        journal.add("bridge", "webhook.accepted", trace, message_id=trace)
    journal.add("bridge", "sendbird.retry", "dead", reason="HTTP 503: busy")
    journal.add("bridge", "sendbird.dead", "dead", reason=reason)
    journal.add("bridge", "sendbird.retry", "retrying", reason="HTTP 503: first")
    journal.add("bridge", "sendbird.retry", "retrying", reason="HTTP 503: last")
    journal.add("bridge", "sendbird.sent", "sent", notification_id="n1", receiver="u9")
    lost = {d["trace_id"]: d for d in journal.report(scenario())["checks"]["lost_details"]}
    assert lost["dead"] == {"trace_id": "dead", "missing": "notification", "state": "dead", "reason": reason}
    assert (lost["retrying"]["state"], lost["retrying"]["reason"]) == ("retrying", "HTTP 503: last")
    assert lost["pending"]["state"] == "pending" and "no attempt" in lost["pending"]["reason"]
    assert lost["sent"]["state"] == "sent" and "no delivery" in lost["sent"]["reason"]


def test_a_lost_sent_event_names_the_callback_that_died(journal):
    trace = journal.notification("u1", {"first_name": "Ann", "plan": "pro"})
    journal.add("bridge", "callback.dead", trace, status="SENT", reason="HTTP 401: bad key")
    report = build_report(journal.records, scenario=scenario(), seed=1, mode="simulated", start=T0, end=T0,
                          population={}, campaigns={}, canvases={}, event_callback=True)
    [lost] = report["checks"]["lost_details"]
    assert lost == {"trace_id": trace, "missing": "SENT event", "state": "dead", "reason": "HTTP 401: bad key"}
