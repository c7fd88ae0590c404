"""The ready scenarios, end to end, through `bsim` itself: they pass, they replay byte for byte, a
broken file is refused with line and column, and an expectation that cannot hold fails the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def bsim(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_there_are_the_four_ready_scenarios():
    assert {p.stem for p in SCENARIOS} >= {"onboarding_demo", "marketing_batch_campaign",
                                           "transactional_realtime_canvas", "read_followup_canvas"}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_each_ready_scenario_passes_simulated(path, tmp_path):
    result = bsim("run", str(path), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "j.xml"),
                  "--report", str(tmp_path / "html"))
    report = json.loads((tmp_path / "r.json").read_text())
    failed = [e for e in report["expectations"] if not e["passed"]]
    assert result.exit_code == 0, failed
    assert report["passed"] is True and report["mode"] == "simulated"
    assert report["checks"] == {**report["checks"], "duplicates": 0, "lost": 0}
    assert report["funnel"]["notifications"] > 0
    assert (tmp_path / "html" / "index.html").stat().st_size > 1000
    assert "<testsuite" in (tmp_path / "j.xml").read_text()


def test_same_seed_same_bytes(tmp_path):
    demo = str(ROOT / "scenarios" / "onboarding_demo.yaml")
    for name in ("a", "b"):
        assert bsim("run", demo, "--json", str(tmp_path / f"{name}.json")).exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_another_seed_gives_another_world(tmp_path):
    demo = str(ROOT / "scenarios" / "onboarding_demo.yaml")
    bsim("run", demo, "--json", str(tmp_path / "a.json"))
    bsim("run", demo, "--seed", "8", "--json", str(tmp_path / "b.json"))
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("a", "b"))
    assert a["seed"] == 7 and b["seed"] == 8
    assert a["funnel"]["read"] != b["funnel"]["read"] or a["latency_ms"] != b["latency_ms"]


def test_an_expectation_that_cannot_hold_fails_the_run(tmp_path):
    text = (ROOT / "scenarios" / "onboarding_demo.yaml").read_text()
    text += "  - {name: impossible, metric: funnel.notifications, min: 61}\n"
    path = tmp_path / "strict.yaml"
    path.write_text(text)
    result = bsim("run", str(path), "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    verdicts = {e["name"]: e for e in report["expectations"]}
    assert report["passed"] is False
    assert verdicts["impossible"]["passed"] is False and verdicts["impossible"]["value"] == 60


def test_an_expectation_on_a_number_the_report_never_has_is_refused_before_the_run(tmp_path):
    text = (ROOT / "scenarios" / "onboarding_demo.yaml").read_text()
    text += "  - {name: missing metric, metric: funnel.nothing_here, min: 0}\n"
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    result = bsim("run", str(path), "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 2 and not (tmp_path / "r.json").exists()
    assert "unknown metric 'funnel.nothing_here'" in result.output


BROKEN = """name: broken
seed: 1
populaton: {size: 3}
population:
  size: 0
  behaviours:
    - name: a
      open_probabilty: 0.5
sendbird:
  templates:
    - {key: t, name: T, ui_template: {}}
timeline:
  - at: soon
    trigger_campaign: {campaign: nope}
"""


def test_validate_reports_each_problem_with_line_column_and_hint(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = bsim("validate", str(path))
    assert result.exit_code == 2
    out = result.output
    assert f"{path}:3:1: populaton" in out and "did you mean `population`?" in out
    assert f"{path}:5:9: population.size" in out
    assert f"{path}:8:7: population.behaviours.0.open_probabilty" in out and "`open_probability`" in out
    assert "population.behaviours.0.open_probability: Field required" in out
    assert "timeline.0.at" in out and "not a duration" in out


def test_run_refuses_an_invalid_file_the_same_way(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = bsim("run", str(path))
    assert result.exit_code == 2
    assert f"{path}:3:1: populaton" in result.output


def test_validate_reports_bad_yaml_and_unknown_references(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\npopulation: [1, 2\n")
    result = bsim("validate", str(bad))
    assert result.exit_code == 2 and "not valid YAML" in result.output
    demo = (ROOT / "scenarios" / "onboarding_demo.yaml").read_text().replace("campaign: welcome", "campaign: nope")
    ref = tmp_path / "ref.yaml"
    ref.write_text(demo)
    result = bsim("validate", str(ref))
    assert result.exit_code == 2 and "unknown campaign 'nope'" in result.output


def test_ready_scenarios_validate_and_the_schema_is_current(tmp_path):
    assert bsim("validate", *map(str, SCENARIOS)).exit_code == 0
    out = tmp_path / "schema.json"
    assert bsim("schema", "--output", str(out)).exit_code == 0
    assert json.loads(out.read_text()) == json.loads((ROOT / "scenarios" / "schema.json").read_text())


def _run_with_country_segment(tmp_path, comparison: str) -> dict:
    """The demo sent to a segment on a default profile field (`profile_field`, docs/scenarios.md)."""
    text = (ROOT / "scenarios" / "onboarding_demo.yaml").read_text()
    segment = ("braze:\n  segments:\n    - name: germany\n      filter: {profile_field: {field: country, comparison: "
               f"{comparison}, value: DE}}}}\n  campaigns:")
    text = text.replace("braze:\n  campaigns:", segment)
    text = text.replace("recipients: {all: true}", "recipients: {segment: germany}")
    path = tmp_path / f"{comparison}.yaml"
    path.write_text(text.split("\nexpectations:")[0] + "\n")
    result = bsim("run", str(path), "--json", str(tmp_path / f"{comparison}.json"))
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / f"{comparison}.json").read_text())


def test_a_scenario_segment_on_a_default_profile_field(tmp_path):
    german = _run_with_country_segment(tmp_path, "equals")["funnel"]
    others = _run_with_country_segment(tmp_path, "not_equal")["funnel"]
    assert 0 < german["audience"] < 60 and german["audience"] + others["audience"] == 60
    assert german["notifications"] == german["audience"]
