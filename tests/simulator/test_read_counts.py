"""Reads per campaign and per canvas step: each campaign and each canvas message step of the report says how many of
its notifications were read (Sendbird's `message.read`) and how many READ events Braze recorded for them, tied to it
through the journal's trace ids. Checked against the journal by another road (the template each read and each READ
event names), and in the terminal, the HTML and `bsim validate`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from simulator.analysis import build_report
from simulator.cli import cli
from simulator.loader import check_text, load
from simulator.report_html import render_html
from simulator.reports import print_summary
from simulator.runner import run_simulated
from simulator.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def reads_by_template(records: list[dict]) -> tuple[Counter, Counter]:
    """(Sendbird reads, Braze READ events) per template key, as each record names it."""
    reads = Counter(r["template_key"] for r in records if (r["service"], r["kind"]) == ("sendbird", "message.read"))
    events = Counter(r["properties"]["template_key"] for r in records
                     if (r["service"], r["kind"]) == ("braze", "event.recorded")
                     and r["properties"].get("status") == "READ")
    return reads, events


def test_each_canvas_message_step_counts_the_reads_and_read_events_of_its_own_notifications(journal):
    report = run_simulated(load(ROOT / "scenarios" / "read_followup_canvas.yaml"))
    reads, events = reads_by_template(journal)
    steps = report["canvases"]["followup"]["steps"]
    for step, template in (("announce", "feature"), ("remind", "reminder")):  # one template per step here
        assert (steps[step]["read"], steps[step]["read_events"]) == (reads[template], events[template])
    assert 0 < steps["remind"]["read"] < steps["remind"]["sent"] < steps["announce"]["read"]
    # a reminder read while the announcement is still unread is not behind the read receipt: no READ event yet
    assert steps["remind"]["read_events"] < steps["remind"]["read"]
    assert "read" not in steps["wait_read"] and "read" not in steps["done"]  # no notification of their own
    assert steps["announce"]["read"] + steps["remind"]["read"] == report["funnel"]["read"]


def test_a_batch_campaign_is_credited_with_the_reads_of_its_batch_deliveries(journal):
    """Sendbird traces a batch delivery as `<notification_id>:<user_id>`: the bridge's `sendbird.sent` ties it back."""
    report = run_simulated(load(ROOT / "scenarios" / "marketing_batch_campaign.yaml"))
    reads, events = reads_by_template(journal)
    promo = report["campaigns"]["spring_promo"]
    assert any(":" in (r["trace_id"] or "") for r in journal if r["kind"] == "message.read")
    assert (promo["read"], promo["read_events"]) == (reads["spring_promo"], events["spring_promo"])
    assert promo["read"] == report["funnel"]["read"] > 0


def test_the_read_counts_replay_byte_for_byte(tmp_path):
    """The same seed gives the same report, read counts and comparison verdicts included."""
    path = str(ROOT / "scenarios" / "read_split_followup.yaml")
    for name in ("a", "b"):
        assert CliRunner().invoke(cli, ["run", path, "--json", str(tmp_path / f"{name}.json")]).exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    steps = json.loads((tmp_path / "a.json").read_text())["canvases"]["followup"]["steps"]
    assert steps["tip"]["sent"] == steps["announce"]["read"] > 0
    assert steps["remind"]["sent"] == steps["announce"]["sent"] - steps["announce"]["read"] > 0


def record(kind: str, service: str, trace: str, **attrs) -> dict:
    return {"seq": 0, "ts": "2026-01-05T09:00:00.000Z", "service": service, "kind": kind, "trace_id": trace, **attrs}


def read_trace(trace: str, send: dict, read_event: bool = True) -> list[dict]:
    records = [send, record("message.delivered", "sendbird", trace, message_id=f"m-{trace}"),
               record("message.read", "sendbird", trace, message_id=f"m-{trace}")]
    if read_event:
        records.append(record("event.recorded", "braze", trace, properties={"status": "READ",
                                                                             "message_id": f"m-{trace}"}))
    return records


def test_reads_go_to_the_campaign_or_step_whose_send_started_the_trace_and_nowhere_else():
    records = [*read_trace("t1", record("campaign.send", "braze", "t1", campaign_id="welcome")),
               *read_trace("t2", record("campaign.send", "braze", "t2", campaign_id="welcome"), read_event=False),
               *read_trace("t3", record("canvas.send", "braze", "t3", canvas_id="flow", step_id="first")),
               *read_trace("t4", record("messages.send", "braze", "t4"))]  # an API send: in the funnel only
    scenario = Scenario.model_validate({
        "name": "reads", "population": {"size": 1, "behaviours": [{"name": "a", "open_probability": 1}]},
        "sendbird": {"templates": [{"key": "t", "name": "T", "ui_template": {}}]}, "allow_empty_variables": True})
    campaigns = {"welcome": {"sent": 2}, "quiet": {"sent": 0}}
    canvases = {"flow": {"entered": 1, "steps": {"first": {"type": "message", "sent": 1},
                                                 "later": {"type": "message", "sent": 0},
                                                 "wait": {"type": "delay", "entered": 1}}}}
    report = build_report(records, scenario=scenario, seed=1, mode="simulated", start=T0, end=T0, population={},
                          campaigns=campaigns, canvases=canvases, event_callback=True)
    assert report["campaigns"] == {"welcome": {"sent": 2, "read": 2, "read_events": 1},
                                   "quiet": {"sent": 0, "read": 0, "read_events": 0}}
    assert report["canvases"]["flow"]["steps"] == {"first": {"type": "message", "sent": 1, "read": 1, "read_events": 1},
                                                   "later": {"type": "message", "sent": 0, "read": 0,
                                                             "read_events": 0},
                                                   "wait": {"type": "delay", "entered": 1}}
    assert (report["funnel"]["read"], report["funnel"]["read_events"]) == (4, 3)
    assert campaigns["welcome"] == {"sent": 2}  # the stats handed in are left as they were


def test_the_terminal_and_the_html_show_reads_per_campaign_and_per_step():
    report = run_simulated(load(ROOT / "scenarios" / "onboarding_demo.yaml"))
    welcome = report["campaigns"]["welcome"]
    console = Console(record=True, width=100)
    print_summary(report, console)
    text = console.export_text()
    header = next(line for line in text.splitlines() if "campaign" in line and "targeted" in line)
    assert [h.strip() for h in header.strip("┃ ").split("┃")] == ["campaign", "targeted", "sent", "failed", "read",
                                                                 "READ events", "conversions"]
    row = next(line for line in text.splitlines() if line.startswith("│ welcome"))
    assert [c.strip() for c in row.strip("│ ").split("│")] == ["welcome", *map(str, (
        welcome["targeted"], welcome["sent"], welcome["failed"], welcome["read"], welcome["read_events"],
        welcome["unique_conversions"]))]
    html = render_html(report)
    campaigns = html[html.index("<h2>Campaigns</h2>"):html.index("<h2>Canvases</h2>")]
    assert "<th class=\"n\">read</th><th class=\"n\">read_events</th>" in campaigns
    assert f'<td class="n">{welcome["read"]}</td><td class="n">{welcome["read_events"]}</td>' in campaigns


def test_the_canvas_steps_table_shows_each_message_steps_reads():
    report = run_simulated(load(ROOT / "scenarios" / "transactional_realtime_canvas.yaml"))
    console = Console(record=True, width=120)
    print_summary(report, console)
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "step" in line and "entered" in line)
    columns = [h.strip() for h in header.strip("┃ ").split("┃")]
    assert columns[3:7] == ["entered", "sent", "read", "read_events"]
    for step_id, step in report["canvases"]["order_flow"]["steps"].items():
        row = next(line for line in lines if f"│ {step_id} " in line)
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        expected = (step["read"], step["read_events"]) if step["type"] == "message" else ("—", "—")
        assert tuple(cells[5:7]) == tuple(map(str, expected))


def test_validate_knows_the_read_counts_of_campaigns_and_message_steps_only():
    text = (ROOT / "scenarios" / "read_followup_canvas.yaml").read_text()
    good = text + ("  - {metric: canvases.followup.steps.announce.read, min: 1}\n"
                   "  - {metric: canvases.followup.steps.remind.read_events, min: 0}\n")
    assert check_text(good).problems == []
    bad = text + "  - {metric: canvases.followup.steps.wait_read.read, min: 1}\n"
    problems = check_text(bad).problems
    assert [p.message for p in problems] == ["unknown metric 'canvases.followup.steps.wait_read.read': the report "
                                             "has no number there"]
    demo = (ROOT / "scenarios" / "onboarding_demo.yaml").read_text()
    assert check_text(demo + "  - {metric: campaigns.welcome.read_events, min: 1}\n").problems == []


def test_no_step_gets_a_read_event_for_a_notification_nobody_read():
    """A follow-up sent on a READ is created in the READ's millisecond on a simulated clock; the bridge once took
    it as covered by the receipt it had just read (26 of the 134 tips were reported READ, never read)."""
    report = run_simulated(load(ROOT / "scenarios" / "read_split_followup.yaml"))
    steps = report["canvases"]["followup"]["steps"]
    assert {sid: s["read_events"] <= s["read"] for sid, s in steps.items() if s["type"] == "message"} == {
        "announce": True, "tip": True, "remind": True}
