"""Comparison expectations: a metric against an expression of other metrics (`equals_metric`, `min_metric`,
`max_metric`) and an equality with a tolerance (`within`). Their verdicts on a report, the message that gives both
sides' values, what the JSON, JUnit and HTML say, and what `bsim validate` refuses, at the line and column."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from simulator.analysis import check
from simulator.cli import cli
from simulator.loader import check_text
from simulator.report_html import render_html
from simulator.reports import bounds_text, expectation_message, write_junit
from simulator.scenario import Expectation

ROOT = Path(__file__).resolve().parents[2]
REPORT = {
    "funnel": {"read": 131, "notifications": 200},
    "ratios": {"read_rate": 0.7, "read_event_rate": 0.65},
    "canvases": {"followup": {"steps": {"split": {"entered": 40}, "read_path": {"entered": 30},
                                        "reminder": {"sent": 12}, "wait": {"path:Everyone Else": 10}}}},
}


def verdict(**fields) -> dict:
    return check(Expectation.model_validate(fields), REPORT)


def test_a_metric_that_is_not_the_difference_of_two_others_fails_saying_both_sides():
    item = verdict(metric="canvases.followup.steps.reminder.sent",
                   equals_metric="canvases.followup.steps.split.entered - canvases.followup.steps.read_path.entered")
    assert item["passed"] is False
    assert (item["value"], item["expected"]) == (12, {"equals": 10})
    assert item["terms"] == {"canvases.followup.steps.split.entered": 40,
                             "canvases.followup.steps.read_path.entered": 30}
    assert expectation_message(item) == (
        "canvases.followup.steps.reminder.sent = 12, expected == canvases.followup.steps.split.entered (40) - "
        "canvases.followup.steps.read_path.entered (30) = 10 ± 0")
    assert item["name"] == ("canvases.followup.steps.reminder.sent == canvases.followup.steps.split.entered - "
                            "canvases.followup.steps.read_path.entered")


def test_a_metric_equal_to_an_expression_with_a_number_and_a_quoted_path_passes():
    item = verdict(metric="canvases.followup.steps.reminder.sent",
                   equals_metric="`canvases.followup.steps.wait.path:Everyone Else` + 2")
    assert item["passed"] is True and item["expected"] == {"equals": 12}


@pytest.mark.parametrize(("within", "passed", "shown"), [
    (0.05, True, "± 0.05"), (0.049, False, "± 0.049"), ("10%", True, "± 0.065 (10%)"), ("7%", False, "± 0.0455 (7%)"),
])
def test_a_ratio_within_a_tolerance_of_another(within, passed, shown):
    item = verdict(metric="ratios.read_rate", equals_metric="ratios.read_event_rate", within=within)
    assert item["passed"] is passed
    assert item["within"] == within
    assert expectation_message(item) == (f"ratios.read_rate = 0.7, expected == ratios.read_event_rate (0.65) = 0.65 "
                                         f"{shown}")


def test_a_tolerance_applies_to_a_number_too():
    assert verdict(metric="funnel.read", equals=130, within=1)["passed"] is True
    item = verdict(metric="funnel.read", equals=130, within="0.5%")
    assert (item["passed"], item["tolerance"]) == (False, 0.65)
    assert expectation_message(item) == "funnel.read = 131, expected == 130 ± 0.65 (0.5%)"
    assert bounds_text(item) == "== 130 ± 0.5%"


def test_min_and_max_expressions_bound_the_metric_from_either_side():
    item = verdict(metric="canvases.followup.steps.reminder.sent", min_metric="canvases.followup.steps.split.entered "
                   "- canvases.followup.steps.read_path.entered", max_metric="canvases.followup.steps.split.entered")
    assert item["passed"] is True and item["expected"] == {"min": 10, "max": 40}
    assert verdict(metric="funnel.read", max_metric="funnel.notifications - 70")["passed"] is False
    failed = verdict(metric="funnel.read", min=100, max_metric="funnel.notifications - 70")
    assert expectation_message(failed) == ("funnel.read = 131, expected >= 100 and <= funnel.notifications (200) - 70 "
                                           "= 130")


def test_a_term_the_report_does_not_have_fails_the_expectation_and_is_named():
    item = verdict(metric="funnel.read", equals_metric="funnel.notifications - campaigns.gone.read")
    assert item["passed"] is False
    assert item["expected"] == {"equals": None} and item["terms"]["campaigns.gone.read"] is None
    assert expectation_message(item) == ("funnel.read = 131, expected == funnel.notifications (200) - "
                                         "campaigns.gone.read (—) = — ± 0: campaigns.gone.read is not in the report")
    relative = verdict(metric="funnel.read", equals_metric="campaigns.gone.read", within="5%")
    assert relative["passed"] is False and relative["tolerance"] is None


def test_a_plain_bound_keeps_exactly_the_keys_it_always_had():
    assert verdict(metric="funnel.read", min=100) == {"name": "funnel.read >= 100", "metric": "funnel.read",
                                                      "value": 131, "equals": None, "min": 100, "max": None,
                                                      "passed": True}


def test_junit_and_html_show_the_expression_and_what_it_came_to(tmp_path):
    item = verdict(metric="canvases.followup.steps.reminder.sent",
                   equals_metric="canvases.followup.steps.split.entered - canvases.followup.steps.read_path.entered",
                   name="non-readers get the reminder")
    report = {"scenario": "s", "seed": 1, "mode": "simulated", "passed": False, "expectations": [item]}
    write_junit(report, tmp_path / "j.xml")
    failure = ET.parse(tmp_path / "j.xml").getroot().find("testcase/failure")
    assert failure.get("message") == expectation_message(item)
    assert 'expected: {"equals": 10}\n' in failure.text
    assert '"canvases.followup.steps.split.entered": 40' in failure.text
    html = render_html(report)
    assert ("<td>== canvases.followup.steps.split.entered - canvases.followup.steps.read_path.entered</td>" in html)
    assert "(40) - canvases.followup.steps.read_path.entered (30) = 10 ± 0" in html


@pytest.mark.parametrize(("fields", "error"), [
    ({"metric": "funnel.read", "equals": 1, "equals_metric": "funnel.audience"}, "not both"),
    ({"metric": "funnel.read", "min": 1, "within": 2}, "'within' is the tolerance of an equality"),
    ({"metric": "funnel.read", "within": 2}, "needs 'equals', 'min' or 'max'"),
    ({"metric": "funnel.read", "equals_metric": "funnel.audience", "within": "five"}, "is not a tolerance"),
    ({"metric": "funnel.read", "equals_metric": "funnel.audience", "within": -1}, "is not a tolerance"),
    ({"metric": "funnel.read", "equals_metric": 3}, "a metric expression is text"),
    ({"metric": "funnel.read", "max_metric": "funnel.audience *"}, "found '*' at position 17"),
    ({"content": {"template": "t", "title_matches": "x"}, "equals_metric": "funnel.read"}, "takes no 'metric'"),
])
def test_a_comparison_that_cannot_be_checked_is_refused(fields, error):
    with pytest.raises(ValidationError, match=re.escape(error)):
        Expectation.model_validate(fields)


DEMO = (ROOT / "scenarios" / "onboarding_demo.yaml").read_text()


def where(text: str, snippet: str) -> tuple[int, int]:
    index = text.index(snippet)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def test_validate_places_a_malformed_expression_and_names_its_position():
    line = "  - {metric: funnel.read, equals_metric: funnel.audience - * 2}\n"
    text = DEMO + line
    [problem] = check_text(text).problems
    assert (problem.line, problem.column) == where(text, "funnel.audience - * 2")
    assert problem.path == f"expectations.{DEMO.count(chr(10) + '  - {')}.equals_metric"
    assert problem.message == "expected a metric path or a number, found '*' at position 19"


def test_validate_refuses_an_unknown_metric_in_an_expression_with_a_hint():
    text = DEMO + "  - {metric: funnel.read, min_metric: funnel.audience - campaigns.welcome.reads}\n"
    [problem] = check_text(text).problems
    assert problem.message == ("unknown metric 'campaigns.welcome.reads' at position 19 of the expression: the report "
                               "has no number there")
    assert problem.hint.startswith("did you mean `campaigns.welcome.read`?")
    assert (problem.line, problem.column) == where(text, "funnel.audience - campaigns")


def test_validate_says_a_dash_in_a_name_needs_backquotes():
    text = DEMO.replace("id: welcome", "id: spring-sale").replace("campaign: welcome", "campaign: spring-sale")
    assert check_text(text).problems == []
    broken = text + "  - {metric: funnel.read, equals_metric: campaigns.spring-sale.read}\n"
    problems = check_text(broken).problems
    assert [p.message.split(" at ")[0] for p in problems] == ["unknown metric 'campaigns.spring'",
                                                              "unknown metric 'sale.read'"]
    assert all("put a path with a '-' in a name whole in backquotes" in p.hint for p in problems)
    quoted = text + '  - {metric: funnel.read, equals_metric: "`campaigns.spring-sale.read`"}\n'
    assert check_text(quoted).problems == []


def test_bsim_run_prints_both_sides_and_exits_1_when_a_comparison_fails(tmp_path):
    path = tmp_path / "compare.yaml"
    path.write_text(DEMO + "  - {name: every read was a conversion, metric: funnel.conversions, "
                           "equals_metric: funnel.read}\n")
    result = CliRunner().invoke(cli, ["run", str(path), "--json", str(tmp_path / "r.json")], catch_exceptions=False)
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    item = next(e for e in report["expectations"] if e["name"] == "every read was a conversion")
    assert item["terms"] == {"funnel.read": report["funnel"]["read"]}
    assert (f"funnel.conversions = {report['funnel']['conversions']}, expected == funnel.read "
            f"({report['funnel']['read']}) = {report['funnel']['read']} ± 0") in " ".join(result.output.split())
