"""`bsim run --live`: the demo scenario against real servers on ephemeral ports, clocks sped up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.processes import free_port, start_service
from simulator.cli import cli

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
SPEED = "240"


@pytest.fixture
def stack(tmp_path):
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    services = [
        start_service("braze", "mocks.braze", ports["braze"], ("--speed", SPEED)),
        start_service("sendbird", "mocks.sendbird", ports["sendbird"], ("--speed", SPEED)),
        start_service("bridge", "bridge", ports["bridge"], (
            "--sendbird-url", urls["sendbird"], "--braze-url", urls["braze"], "--db", str(tmp_path / "o.sqlite3"),
            "--speed", SPEED)),
    ]
    yield urls
    for service in services:
        service.stop()


def test_the_demo_scenario_passes_live(stack, tmp_path):
    scenario = yaml.safe_load((ROOT / "scenarios" / "onboarding_demo.yaml").read_text())
    scenario["population"]["size"] = 30  # a shorter day: 40 virtual minutes at 240x is 10 s
    scenario["run_for"] = "40m"
    for behaviour in scenario["population"]["behaviours"]:
        behaviour["read_delay"] = {"median": "3m", "spread": 0.5}
        if "conversion" in behaviour:
            behaviour["conversion"]["delay"] = {"median": "2m", "spread": 0.3}
    scenario["expectations"] = [
        {"metric": "funnel.notifications", "equals": 30}, {"metric": "funnel.sent_events", "equals": 30},
        {"metric": "ratios.read_rate", "min": 0.5}, {"metric": "ratios.read_event_rate", "equals": 1},
        {"metric": "checks.duplicates", "equals": 0}, {"metric": "checks.lost", "equals": 0}]
    path = tmp_path / "live_demo.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(cli, [
        "run", str(path), "--live", "--speed", SPEED, "--json", str(tmp_path / "r.json"),
        "--braze-url", stack["braze"], "--sendbird-url", stack["sendbird"], "--bridge-url", stack["bridge"]],
        catch_exceptions=False)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["mode"] == "live"
    assert result.exit_code == 0, [e for e in report["expectations"] if not e["passed"]]
    assert report["latency_ms"]["accept_to_sent"]["count"] == 30
