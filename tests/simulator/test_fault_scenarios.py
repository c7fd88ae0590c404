"""A scenario's `faults:` on the virtual timeline, and the report's Faults section: a Sendbird 503 for a window is
reported with its firings, the bridge's retries and the notifications that still arrived; the same seed gives the
same bytes; a run without faults has no such section; a bad fault is refused before the run, in the file's terms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from simulator.cli import cli
from simulator.fault_report import faults_section
from simulator.loader import load, parse
from simulator.namespace import Namespace
from simulator.runner import run_simulated

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = ROOT / "scenarios" / "sendbird_outage.yaml"


def bsim(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def outage(**changes) -> dict:
    data = yaml.safe_load(OUTAGE.read_text())
    data.update(changes)
    return data


def scenario_text(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def test_a_sendbird_503_window_is_reported_with_its_firings_the_retries_and_the_notifications_that_arrived(journal):
    report = run_simulated(load(OUTAGE))
    assert report["passed"] is True, [e for e in report["expectations"] if not e["passed"]]
    rule = report["faults"]["rules"]["sendbird-503"]
    fired = [r for r in journal if r["kind"] == "fault.fired" and r["rule"] == rule["rule"]]
    assert rule["fired"] == len(fired) > 0
    assert (rule["service"], rule["effect"], rule["status"]) == ("sendbird", "status", 503)
    assert (rule["added_at"], rule["end"]) == ("2026-01-05T09:01:00.000Z", "2026-01-05T09:06:00Z")
    assert all("2026-01-05T09:01:00" <= r["ts"] < "2026-01-05T09:06:00" for r in fired)
    retries = [r for r in journal if r["kind"] == "sendbird.retry"]
    assert rule["retries"] == len(retries) >= 60  # every row of every refused batch, each naming the rule
    assert all(f"fault rule {rule['rule']}" in r["reason"] for r in retries)
    assert (rule["traces"], rule["delivered"], rule["lost"], rule["dead_letters"]) == (60, 60, 0, 0)
    assert report["funnel"]["notifications"] == 60 and report["checks"]["lost"] == 0
    webhook = report["faults"]["rules"]["webhook-599"]
    assert (webhook["direction"], webhook["fired"], webhook["retries"], webhook["delivered"]) == ("outbound", 3, 3, 3)
    braze_retries = [r for r in journal
                     if (r["service"], r["kind"], r.get("outcome")) == ("braze", "webhook.attempt", "retry")]
    assert len(braze_retries) == 3 and all(r["status"] == 599 for r in braze_retries)


def test_the_same_seed_gives_the_same_report_byte_for_byte(tmp_path):
    for name in ("a", "b"):
        result = bsim("run", str(OUTAGE), "--json", str(tmp_path / f"{name}.json"), "--report", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a" / "index.html").read_bytes() == (tmp_path / "b" / "index.html").read_bytes()
    assert json.loads((tmp_path / "a.json").read_text())["faults"]["fired"] > 0


def test_the_text_and_html_reports_show_each_rule_and_what_it_caused(tmp_path):
    result = bsim("run", str(OUTAGE), "--report", str(tmp_path))
    report = run_simulated(load(OUTAGE))
    faults = report["faults"]
    out = result.output
    assert "Faults" in out and "sendbird-503" in out and "status 599 outbound" in out
    assert "09:01:00-09:06:00" in out
    summary = (f"{faults['fired']} firings caused {faults['retries']} retries and 0 dead letters; of the 60 "
               "notifications they touched, 60 were delivered and 0 lost")
    assert " ".join(out.split()).count(summary) == 1
    html = (tmp_path / "index.html").read_text()
    assert "<h2>Faults</h2>" in html and summary + "." in html
    assert "<td>sendbird</td><td>sendbird-503</td><td>status 503</td><td>09:01:00-09:06:00</td>" in html


def test_a_run_without_faults_has_no_faults_section_anywhere(tmp_path):
    demo = ROOT / "scenarios" / "onboarding_demo.yaml"
    result = bsim("run", str(demo), "--json", str(tmp_path / "r.json"), "--report", str(tmp_path))
    assert "faults" not in json.loads((tmp_path / "r.json").read_text())
    assert "Faults" not in result.output and "Faults" not in (tmp_path / "index.html").read_text()


def test_latency_is_added_per_service_and_drawn_from_the_rules_seed():
    slow = {"name": "slow-reads", "service": "sendbird", "at": "1m", "match": {"path": "/v3/*"},
            "effect": {"latency_ms": {"distribution": "uniform", "min_ms": 50, "max_ms": 400}}, "seed": 3}
    data = outage()
    data["faults"].append(slow)
    report = run_simulated(parse(scenario_text(data)))
    rule = report["faults"]["rules"]["slow-reads"]
    added = report["faults"]["added_latency_ms"]["sendbird"]
    assert rule["fired"] == added["firings"] > 0 and rule["retries"] == 0
    assert 50 <= added["mean"] <= 400 and added["sum"] == rule["added_latency_ms"]
    assert list(report["faults"]["added_latency_ms"]) == ["sendbird"]


def test_a_namespaced_run_reports_its_faults_as_a_plain_run_does():
    data = outage()
    data["faults"].append({"name": "one-user", "service": "sendbird", "at": "1m", "count": 1,
                           "match": {"user": "sb-user-3", "template": "welcome"}, "effect": {"status": 500}})
    plain = run_simulated(parse(scenario_text(data)))
    namespaced = run_simulated(parse(scenario_text(data)), namespace=Namespace("r0a1b2c"))
    assert plain["faults"]["rules"]["one-user"]["match"] == {"user": "sb-user-3", "template": "welcome"}
    assert json.dumps(namespaced, sort_keys=True) == json.dumps(plain, sort_keys=True)


@pytest.mark.parametrize(("fault", "where", "complaint"), [
    ({"service": "twilio"}, "faults.0.service", "Input should be 'braze', 'sendbird' or 'bridge'"),
    ({"effect": {"status": 503, "drop": True}}, "faults.0.effect", "drop sends no answer, so it takes no status"),
    ({"effect": {}}, "faults.0.effect", "an effect needs one of status, latency_ms, hang, drop and malformed"),
    ({"effect": {"explode": True}}, "faults.0.effect.explode", "Extra inputs are not permitted"),
    ({"match": {"host": "bridge.local"}}, "faults.0", "match.host is for outbound rules"),
    ({"direction": "outbound", "effect": {"latency_ms": 100}}, "faults.0", "latency cannot be added to an outbound"),
    ({"for": 0}, "faults.0", "'for' must be longer than 0 s"),
    ({"at": "2d"}, "faults.0.at", "it would never act"),
    ({"probability": 0}, "faults.0.probability", "greater than 0"),
])
def test_a_bad_fault_is_refused_before_the_run_with_its_place_in_the_file(tmp_path, fault, where, complaint):
    data = outage()
    data["faults"] = [{**data["faults"][0], **fault}]
    path = tmp_path / "bad.yaml"
    path.write_text(scenario_text(data))
    result = bsim("validate", str(path))
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if complaint in line]
    assert f"{path}:" in line and f": {where}: " in line


def test_two_faults_of_one_name_and_an_expectation_on_an_unknown_rule_are_refused(tmp_path):
    data = outage()
    data["faults"][1]["name"] = "sendbird-503"
    data["expectations"] = [{"metric": "faults.rules.nope.fired", "min": 1}]
    path = tmp_path / "bad.yaml"
    path.write_text(scenario_text(data))
    result = bsim("validate", str(path))
    assert result.exit_code == 2
    assert "a second fault named 'sendbird-503'" in result.output
    assert "unknown metric 'faults.rules.nope.fired'" in result.output


def record(kind: str, service: str, trace: str | None = None, **attrs) -> dict:
    return {"kind": kind, "service": service, "trace_id": trace, "ts": "2026-01-05T09:00:00.000Z", **attrs}


def test_a_consequence_goes_to_the_rule_it_names_else_to_the_oldest_unclaimed_firing_on_its_trace():
    a, b = "fault-aaaaaaaaaaaa", "fault-bbbbbbbbbbbb"
    records = [
        record("fault.fired", "bridge", "t1", rule=a, effect="status", status=503),
        record("fault.fired", "bridge", "t1", rule=a, effect="status", status=503),
        record("fault.fired", "sendbird", None, rule=b, effect="status", status=503),
        record("fault.fired", "bridge", "t2", rule=a, effect="latency", latency_ms=40.0),
        record("webhook.attempt", "braze", "t1", outcome="retry", error="HTTP 503"),
        record("webhook.attempt", "braze", "t1", outcome="retry", error="HTTP 503"),
        record("webhook.attempt", "braze", "t1", outcome="retry", error="HTTP 503"),  # no firing left to claim it
        record("sendbird.retry", "bridge", "t3", reason=f"HTTP 503: Internal server error. (fault rule {b})"),
        record("sendbird.dead", "bridge", "t3", reason=f"retries exhausted; last: HTTP 503 (fault rule {b})"),
        record("webhook.attempt", "braze", "t2", outcome="retry", error="HTTP 500"),  # latency alone caused none
    ]
    section = faults_section(records, {"t1": {"accept": 1, "delivered": 2}, "t3": {"accept": 1}})
    rule_a, rule_b = section["rules"][a], section["rules"][b]
    assert (rule_a["fired"], rule_a["retries"], rule_a["traces"], rule_a["delivered"]) == (3, 2, 2, 1)
    assert (rule_b["retries"], rule_b["dead_letters"], rule_b["traces"], rule_b["lost"]) == (1, 1, 1, 1)
    assert section["added_latency_ms"] == {"bridge": {"firings": 1, "sum": 40.0, "mean": 40.0}}
    assert faults_section([record("webhook.attempt", "braze", "t1", outcome="retry")], {}) is None


def test_a_retry_that_names_its_rule_counts_even_when_it_sorts_before_the_firing():
    """Live, the services' clocks may run a little apart: the bridge's retry can carry an earlier time."""
    c = "fault-cccccccccccc"
    records = [record("sendbird.retry", "bridge", "t1", reason=f"HTTP 503: Internal server error. (fault rule {c})"),
               record("fault.fired", "sendbird", None, rule=c, name="late", effect="status", status=503)]
    section = faults_section(records, {"t1": {"accept": 1, "delivered": 2}})
    assert list(section["rules"]) == ["late"]
    assert section["rules"]["late"]["service"] == "sendbird"
    assert (section["rules"]["late"]["retries"], section["rules"]["late"]["delivered"]) == (1, 1)
