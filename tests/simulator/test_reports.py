"""The run report's writers (simulator/reports.py, simulator/report_html.py) against hand-built report dicts that
follow docs/report.md: a passing run, a failing one, and one whose sections are all empty."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from simulator.report_html import write_html
from simulator.reports import expectation_message, format_ms, print_summary, write_json, write_junit

HOPS = ("braze_to_bridge", "bridge_to_sendbird", "sendbird_to_sent_event", "delivery_to_read", "read_to_read_event",
        "accept_to_sent")
BUCKETS_MS = (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 60_000.0, 600_000.0, 3_600_000.0, 21_600_000.0, 86_400_000.0)


def expectation(metric: str, value, *, min=None, max=None, equals=None, passed: bool, name: str | None = None):
    bounds = [f"{op} {v:g}" for op, v in (("==", equals), (">=", min), ("<=", max)) if v is not None]
    return {"name": name or f"{metric} " + " and ".join(bounds), "metric": metric, "value": value, "min": min,
            "max": max, "equals": equals, "passed": passed}


def histogram(counts: list[int]) -> list[dict]:
    return [{"le_ms": le, "count": c} for le, c in zip((*BUCKETS_MS, None), counts, strict=True)]


def passing_report() -> dict:
    return {
        "scenario": "onboarding_demo",
        "description": "Welcome campaign, then a follow-up canvas.",
        "seed": 7,
        "mode": "simulated",
        "passed": True,
        "start": "2026-01-05T09:00:00Z",
        "end": "2026-01-08T09:00:00Z",
        "population": {"size": 200, "behaviours": {"engaged": 60, "casual": 140}},
        "funnel": {"audience": 200, "webhooks": 200, "accepted": 200, "notifications": 200, "sent_events": 200,
                   "read": 131, "read_events": 131, "conversions": 22},
        "ratios": {"webhook_rate": 1.0, "accept_rate": 1.0, "delivery_rate": 1.0, "sent_event_rate": 1.0,
                   "read_rate": 0.655, "read_event_rate": 1.0, "conversion_rate": 0.168},
        "latency_ms": {
            "braze_to_bridge": {"count": 200, "p50": 2.0, "p95": 4.0, "p99": 6.0, "max": 9.0},
            "bridge_to_sendbird": {"count": 200, "p50": 1000.0, "p95": 1010.0, "p99": 1020.0, "max": 1100.0},
            "sendbird_to_sent_event": {"count": 200, "p50": 5.0, "p95": 8.0, "p99": 9.0, "max": 10.0},
            "delivery_to_read": {"count": 131, "p50": 600000.0, "p95": 5400000.0, "p99": 20000000.0,
                                 "max": 90000000.0},
            "read_to_read_event": {"count": 131, "p50": 3.0, "p95": 5.0, "p99": 7.0, "max": 8.0},
            "accept_to_sent": {"count": 200, "p50": 1005.0, "p95": 1015.0, "p99": 1025.0, "max": 1110.0},
        },
        "latency_histograms": {
            "braze_to_bridge": histogram([0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "bridge_to_sendbird": histogram([0, 0, 0, 120, 80, 0, 0, 0, 0, 0, 0]),
            "sendbird_to_sent_event": histogram([0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "delivery_to_read": histogram([0, 0, 0, 0, 3, 20, 45, 40, 18, 4, 1]),
            "read_to_read_event": histogram([0, 131, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "accept_to_sent": histogram([0, 0, 0, 110, 90, 0, 0, 0, 0, 0, 0]),
        },
        "campaigns": {"welcome": {"targeted": 200, "sent": 200, "failed": 0, "aborted": 0, "unique_conversions": 22,
                                  "conversion_rate": 0.11, "conversions_by_event": {"purchase": 22}}},
        "canvases": {"followup": {"entered": 200, "completed": 180, "active": 20, "steps": {
            "first": {"name": "First", "type": "message", "entered": 200, "sent": 200},
            "wait": {"name": "Wait a day", "type": "delay", "entered": 200},
            "reminder": {"name": "Reminder", "type": "message", "entered": 69, "sent": 69}}}},
        "checks": {"duplicates": 0, "lost": 0, "duplicate_details": [], "lost_details": []},
        "reads_over_time": [{"at": f"2026-01-0{5 + h // 24}T{h % 24:02d}:00:00Z", "reads": max(0, 30 - h),
                             "read_events": max(0, 30 - h)} for h in range(0, 72, 2)],
        "expectations": [
            expectation("funnel.read_events", 131, min=100, passed=True),
            expectation("ratios.read_rate", 0.655, min=0.5, max=0.9, passed=True),
            expectation("checks.duplicates", 0, equals=0, passed=True),
            expectation("canvases.followup.steps.reminder.sent", 69, min=1, passed=True, name="reminders go out"),
        ],
    }


def failing_report() -> dict:
    report = passing_report()
    report["passed"] = False
    report["funnel"]["read_events"] = 95
    report["checks"] = {"duplicates": 1, "lost": 36,
                        "duplicate_details": [{"message_id": "m-1", "status": "SENT", "count": 2}],
                        "lost_details": [{"trace_id": f"t-{i:03d}", "missing": "READ event"} for i in range(36)]}
    report["expectations"] = [
        expectation("funnel.read_events", 95, min=100, passed=False),
        expectation("ratios.read_rate", 0.655, min=0.5, max=0.9, passed=True),
        expectation("checks.lost", 36, equals=0, passed=False),
        expectation("campaigns.nope.sent", None, min=1, passed=False),
    ]
    return report


def empty_report() -> dict:
    """A run where nothing happened: no canvases or campaigns, zero reads, no latency samples, no expectations."""
    return {
        "scenario": "empty", "description": "", "seed": 0, "mode": "simulated", "passed": True,
        "start": "2026-01-05T09:00:00Z", "end": "2026-01-05T09:00:00Z",
        "population": {"size": 1, "behaviours": {"ghost": 1}},
        "funnel": dict.fromkeys(("audience", "webhooks", "accepted", "notifications", "sent_events", "read",
                                 "read_events", "conversions"), 0),
        "ratios": {},
        "latency_ms": {hop: {"count": 0, "p50": None, "p95": None, "p99": None, "max": None} for hop in HOPS},
        "latency_histograms": {hop: histogram([0] * 11) for hop in HOPS} | {"accept_to_sent": []},
        "campaigns": {}, "canvases": {},
        "checks": {"duplicates": 0, "lost": 0, "duplicate_details": [], "lost_details": []},
        "reads_over_time": [],
        "expectations": [],
    }


def large_report() -> dict:
    """What a 100k-user, one-week run aggregates to: the same sections, only bigger numbers and longer lists."""
    report = failing_report()
    report["population"] = {"size": 100_000, "behaviours": {"engaged": 30_000, "casual": 70_000}}
    report["funnel"] = {k: v * 500 for k, v in report["funnel"].items()}
    report["reads_over_time"] = [{"at": f"2026-01-{5 + m // 1440:02d}T{m // 60 % 24:02d}:{m % 60:02d}:00Z",
                                  "reads": (m * 37) % 400, "read_events": (m * 37) % 390} for m in range(0, 10_080, 5)]
    report["campaigns"] = {f"campaign-{i}": dict(report["campaigns"]["welcome"]) for i in range(50)}
    report["canvases"] = {f"canvas-{i}": copy.deepcopy(report["canvases"]["followup"]) for i in range(20)}
    report["checks"]["lost"] = 5_000
    report["checks"]["lost_details"] = [{"trace_id": f"t-{i:06d}", "missing": "notification"} for i in range(50)]
    return report


def html_of(report: dict, tmp_path: Path) -> str:
    path = write_html(report, tmp_path / "html")
    assert path == tmp_path / "html" / "index.html"
    return path.read_text(encoding="utf-8")


def summary_of(report: dict) -> str:
    console = Console(record=True, width=120)
    print_summary(report, console)
    return console.export_text()


# -- expectation_message --------------------------------------------------------------------------
@pytest.mark.parametrize(("item", "message"), [
    (expectation("funnel.read_events", 131, min=100, passed=True), "value 131 is >= 100"),
    (expectation("funnel.read_events", 95, min=100, passed=False), "value 95 is not >= 100"),
    (expectation("ratios.read_rate", 0.95, min=0.5, max=0.9, passed=False), "value 0.95 is not <= 0.9"),
    (expectation("ratios.read_rate", 0.7, min=0.5, max=0.9, passed=True), "value 0.7 is >= 0.5 and <= 0.9"),
    (expectation("checks.lost", 3, equals=0.0, passed=False), "value 3 is not == 0"),
    (expectation("latency_ms.accept_to_sent.p99", 1500.0, max=1000.0, passed=False), "value 1500 is not <= 1000"),
    (expectation("campaigns.nope.sent", None, min=1, passed=False),
     "value null is not >= 1: campaigns.nope.sent is not in the report"),
])
def test_expectation_message_states_value_against_bound(item: dict, message: str) -> None:
    assert expectation_message(item) == message


@pytest.mark.parametrize(("ms", "text"), [
    (0.0, "0 ms"), (0.4, "0.4 ms"), (250.0, "250 ms"), (999.6, "1 s"), (1500.0, "1.5 s"), (600_000.0, "10 min"),
    (5_400_000.0, "1.5 h"), (86_400_000.0, "1 d"), (None, "—"),
])
def test_latencies_read_in_the_unit_that_fits(ms: float | None, text: str) -> None:
    assert format_ms(ms) == text


# -- JSON -----------------------------------------------------------------------------------------
def test_json_round_trips_with_sorted_keys_and_a_final_newline(tmp_path: Path) -> None:
    report = passing_report()
    report["description"] = "Café ☕ for everyone"
    write_json(report, tmp_path / "out" / "report.json")
    data = (tmp_path / "out" / "report.json").read_bytes()
    assert json.loads(data) == report
    assert data.endswith(b"}\n")
    assert "Café ☕".encode() in data  # ensure_ascii=False
    text = data.decode()
    assert text.index('"campaigns"') < text.index('"funnel"') < text.index('"scenario"')


def test_json_is_byte_identical_for_the_same_report_whatever_the_key_order(tmp_path: Path) -> None:
    report = passing_report()
    reordered = json.loads(json.dumps(report), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    write_json(report, tmp_path / "a.json")
    write_json(copy.deepcopy(report), tmp_path / "b.json")
    write_json(reordered, tmp_path / "c.json")
    first, second, third = ((tmp_path / name).read_bytes() for name in ("a.json", "b.json", "c.json"))
    assert first == second == third


# -- JUnit ----------------------------------------------------------------------------------------
def test_junit_passing_run_has_one_testcase_per_expectation_and_the_run_properties(tmp_path: Path) -> None:
    report = passing_report()
    write_junit(report, tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("onboarding_demo", "4", "0")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {"seed": "7", "mode": "simulated"}
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [e["name"] for e in report["expectations"]]
    assert {c.get("classname") for c in cases} == {"bsim.onboarding_demo"}
    assert {c.get("time") for c in cases} == {"0"}
    assert suite.find(".//failure") is None


def test_junit_failed_expectations_carry_value_and_bound(tmp_path: Path) -> None:
    write_junit(failing_report(), tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("4", "3")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["funnel.read_events >= 100"].find("failure")
    assert failure is not None
    assert failure.get("message") == "value 95 is not >= 100"
    assert "value: 95" in failure.text and "bounds: >= 100" in failure.text
    assert cases["checks.lost == 0"].find("failure").get("message") == "value 36 is not == 0"
    assert "not in the report" in cases["campaigns.nope.sent >= 1"].find("failure").get("message")
    assert cases["ratios.read_rate >= 0.5 and <= 0.9"].find("failure") is None


def test_junit_is_deterministic_and_escapes_markup(tmp_path: Path) -> None:
    report = failing_report()
    report["scenario"] = 'a <b> & "c"'
    write_junit(report, tmp_path / "a.xml")
    write_junit(copy.deepcopy(report), tmp_path / "b.xml")
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()
    assert ET.parse(tmp_path / "a.xml").getroot().get("name") == 'a <b> & "c"'


def test_junit_with_no_expectations_is_an_empty_suite(tmp_path: Path) -> None:
    write_junit(empty_report(), tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.findall("testcase")) == ("0", "0", [])


# -- HTML -----------------------------------------------------------------------------------------
def test_html_passing_report_has_verdict_expectations_and_a_chart_per_section(tmp_path: Path) -> None:
    report = passing_report()
    html = html_of(report, tmp_path)
    assert html.startswith("<!DOCTYPE html>")
    assert "PASSED" in html and "FAILED" not in html
    for item in report["expectations"]:
        assert item["name"].replace(">", "&gt;").replace("<", "&lt;") in html
    # one funnel, one histogram per hop, one reads-over-time chart
    assert html.count("<svg") == 1 + len(HOPS) + 1
    for stage in report["funnel"]:
        assert f">{stage}</text>" in html
    assert "65.5%" in html  # read / sent_events, step to step
    for text in ("followup", "Reminder", "welcome", "onboarding_demo", "seed</b> 7", "2026-01-08T09:00:00Z"):
        assert text in html
    assert "p99 5.56 h" in html  # a percentile marker on the delivery_to_read histogram


def test_html_is_self_contained(tmp_path: Path) -> None:
    html = html_of(failing_report(), tmp_path)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=""", html)


def test_html_failing_report_marks_failures_and_lists_the_first_details(tmp_path: Path) -> None:
    html = html_of(failing_report(), tmp_path)
    assert "FAILED" in html and ">PASSED<" not in html
    assert html.count('<tr class="fail">') == 3 and html.count('<tr class="ok">') == 1
    assert "value 95 is not &gt;= 100" in html
    assert "t-019" in html and "t-020" not in html  # the first 20 lost details only
    assert "… and 16 more" in html


def test_html_escapes_text_from_the_report(tmp_path: Path) -> None:
    report = failing_report()
    report["scenario"] = "<script>alert(1)</script>"
    report["description"] = "a & b"
    report["campaigns"] = {"<img onerror=x>": report["campaigns"]["welcome"]}
    report["checks"]["lost_details"][0] = {"trace_id": "</code><script>"}
    html = html_of(report, tmp_path)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &amp; b" in html


def test_html_copes_with_empty_sections(tmp_path: Path) -> None:
    html = html_of(empty_report(), tmp_path)
    assert "PASSED" in html
    assert html.count("<svg") == 1  # the funnel, all zero; no histogram has a sample, no reads over time
    for text in ("No canvases in this run.", "No campaigns in this run.", "No reads in this run.",
                 "No samples in the histogram.", "The scenario sets no expectations."):
        assert text in html


def test_html_copes_with_missing_sections_and_a_single_time_bucket(tmp_path: Path) -> None:
    report = {"scenario": "bare", "passed": False, "reads_over_time": [{"at": "not a time", "reads": 0,
                                                                        "read_events": 0}]}
    html = html_of(report, tmp_path)
    assert "FAILED" in html and "No funnel in this report." in html and "No latencies were measured." in html
    assert html.count("<svg") == 1 and "<circle" in html


def test_html_is_deterministic_and_small_for_a_large_run(tmp_path: Path) -> None:
    report = large_report()
    first = write_html(report, tmp_path / "a").read_bytes()
    assert write_html(copy.deepcopy(report), tmp_path / "b").read_bytes() == first
    assert len(first) < 1_000_000
    assert "… and 4980 more" in first.decode()


# -- terminal summary -----------------------------------------------------------------------------
def test_summary_of_a_passing_run(tmp_path: Path) -> None:
    report = passing_report()
    text = summary_of(report)
    for stage in report["funnel"]:
        assert stage in text
    assert "65.5%" in text
    for hop in HOPS:
        assert hop in text
    assert "10 min" in text  # delivery_to_read p50, in a readable unit
    assert "reminder" in text and "followup" in text
    assert text.count("✓") == 4 and "✗" not in text
    assert "✓ funnel.read_events >= 100  value 131 is >= 100" in text
    assert "PASSED" in text.splitlines()[-1]


def test_summary_of_a_failing_run(tmp_path: Path) -> None:
    text = summary_of(failing_report())
    assert text.count("✗") == 3 and text.count("✓") == 1
    assert "✗ funnel.read_events >= 100  value 95 is not >= 100" in text
    assert "1 duplicates, 36 lost" in text
    assert text.splitlines()[-1] == "FAILED: 3 of 4 expectations failed"


def test_summary_of_an_empty_run_and_names_that_look_like_markup() -> None:
    report = empty_report()
    report["scenario"] = "[bold]odd[/bold]"
    report["expectations"] = [expectation("funnel.read", 0, equals=0, passed=True, name="[red]zero[/red] reads")]
    text = summary_of(report)
    assert "[bold]odd[/bold]" in text and "[red]zero[/red] reads" in text
    assert "audience" in text and "✓" in text
    assert "PASSED: 1 of 1 expectations held" in text


# -- content ----------------------------------------------------------------------------------------
def content_item(passed: bool, checked: int = 60, failures: list | None = None, **spec) -> dict:
    spec = {"template": "welcome", **spec}
    failures = failures or []
    return {"name": spec.get("name") or f"welcome: {spec}", "content": spec, "checked": checked,
            "failed": len(failures), "failures": failures, "passed": passed}


def sample(user: str, title, body) -> dict:
    return {"user_id": user, "title": title, "body": body, "rendered": {"title": title, "body": body}}


def content_report() -> dict:
    """A failing run whose welcome notifications went out with an empty name."""
    report = failing_report()
    report["content"] = {"welcome": {
        "notifications": 200, "empty_variables": 2, "unfilled_placeholders": 0,
        "variables": {"first_name": {"empty": 2, "unfilled": 0}, "plan": {"empty": 0, "unfilled": 0}},
        "samples": [sample("u-1", "Welcome, Ann!", "Your pro plan is ready."),
                    sample("u-2", "Welcome, !", "Your free plan is ready."),
                    sample("u-3", "Welcome, <script>x</script>!", "a & b")]}}
    report["checks"].update(empty_variables=2, empty_variable_details=[
        {"trace_id": "t-7", "user_id": "u-2", "template_key": "welcome", "empty_variables": ["first_name"],
         "unfilled_placeholders": []}])
    report["expectations"] = [
        content_item(False, failures=[{"user_id": "u-2", "field": "first_name", "value": ""}], variable="first_name",
                     not_empty=True),
        content_item(True, title_matches="^Welcome"),
        content_item(False, checked=0, variable="order_id", matches="^ord-[0-9]+$"),
        {"name": "no empty variables or unfilled placeholders (implicit)", "metric": "checks.empty_variables",
         "value": 2, "equals": 0, "min": None, "max": None, "passed": False, "implicit": True},
    ]
    return report


@pytest.mark.parametrize(("item", "message"), [
    (content_item(True, title_matches="^Welcome"), "all 60 notifications hold"),
    (content_item(False, failures=[{"user_id": "u-2", "field": "first_name", "value": ""},
                                   {"user_id": "u-9", "field": "first_name", "value": None}],
                  variable="first_name", not_empty=True),
     '2 of 60 notifications do not: u-2 first_name=""; u-9 first_name=null'),
    (content_item(False, checked=0, variable="order_id", matches="^x"),
     "no notification of template 'welcome' was delivered, so nothing was checked"),
])
def test_a_content_expectation_says_how_many_were_checked_and_which_failed(item: dict, message: str) -> None:
    assert expectation_message(item) == message


def test_junit_content_failures_name_the_template_the_check_and_the_examples(tmp_path: Path) -> None:
    write_junit(content_report(), tmp_path / "junit.xml")
    cases = ET.parse(tmp_path / "junit.xml").getroot().findall("testcase")
    failure = cases[0].find("failure")
    assert failure.get("message") == '1 of 60 notifications do not: u-2 first_name=""'
    assert "template: welcome\ncheck: first_name not empty\nchecked: 60\nfailed: 1\n  u-2 first_name=\"\"" \
        in failure.text
    assert cases[1].find("failure") is None
    assert "nothing was checked" in cases[2].find("failure").get("message")
    assert cases[3].find("failure").get("message") == "value 2 is not == 0"


def test_html_shows_each_templates_counts_and_samples_escaped(tmp_path: Path) -> None:
    html = html_of(content_report(), tmp_path)
    content = html[html.index("<h2>Content</h2>"):html.index("<h2>Latency per hop</h2>")]
    assert "<b>200</b>notifications" in content and "<b>2</b>with an empty variable" in content
    assert "<td>Welcome, Ann!</td><td>Your pro plan is ready.</td>" in content
    assert "<td>Welcome, !</td>" in content
    assert "Welcome, &lt;script&gt;x&lt;/script&gt;!" in content and "a &amp; b" in content
    assert "<script" not in html
    assert '<tr class="fail"><td><code>first_name</code>' in content
    assert "<b>2</b>empty variables" in html and "&quot;user_id&quot;: &quot;u-2&quot;" in html  # the checks
    assert "<code>content of welcome</code>" in html and "60 checked" in html


def test_html_shows_a_layout_without_title_or_body_whole(tmp_path: Path) -> None:
    report = content_report()
    report["content"]["welcome"]["samples"] = [{"user_id": "u-1", "title": None, "body": None,
                                                "rendered": {"items": [{"text": "Hi <b>Ann</b>"}]}}]
    html = html_of(report, tmp_path)
    assert "<th>rendered</th>" in html
    assert "Hi &lt;b&gt;Ann&lt;/b&gt;" in html


def test_summary_shows_the_content_of_each_template_and_the_empty_variables_check() -> None:
    text = summary_of(content_report())
    assert "Content" in text and "welcome" in text
    assert "u-1: Welcome, Ann! — Your pro plan is ready." in text
    assert "u-2: Welcome, ! — Your free plan is ready." in text
    assert "1 duplicates, 36 lost, 2 with empty variables" in text
    assert "✗ welcome: {" in text and '1 of 60 notifications do not: u-2' in text and 'first_name=""' in text
    assert "✗ no empty variables or unfilled placeholders (implicit)  value 2 is not == 0" in text
