"""Golden samples: what the ready scenarios' users see, word for word.

Counting notifications cannot tell "Welcome, Candice!" from "Welcome, !", and every run once passed while the
runner sent each user an empty name. These pin the exact title and body of the first notifications of each
template (journal order, which a seed fixes) for known users, so any rendering regression, from Braze's
Liquid through the bridge to Sendbird's placeholders, fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from simulator.cli import cli
from simulator.loader import load
from simulator.runner import run_simulated

ROOT = Path(__file__).resolve().parents[2]

GOLDEN = {
    "onboarding_demo": {"welcome": [
        ("sb-user-0", "Welcome, Candice!", "Your free plan is ready."),
        ("sb-user-1", "Welcome, Ryan!", "Your free plan is ready."),
        ("sb-user-10", "Welcome, Ian!", "Your free plan is ready."),
    ]},
    "marketing_batch_campaign": {"spring_promo": [
        ("sb-user-0", "Peter, spring is here", "Use SPRING-B01A0E for 20% off"),
        ("sb-user-1", "Michael, spring is here", "Use SPRING-D6D770 for 20% off"),
        ("sb-user-100", "Shane, spring is here", "Use SPRING-EBB4BC for 20% off"),
    ]},
    "transactional_realtime_canvas": {"order_update": [
        ("user-0", "Order A-1001", "Thanks Audrey, we got your order."),
        ("user-1", "Order A-1001", "Thanks Jamie, we got your order."),
        ("user-2", "Order A-1001", "Thanks Susan, we got your order."),
    ]},
    "tier_upgrade": {"gold_welcome": [  # a nickname or the Liquid default, the stub's code, the boolean's branch
        ("sb-user-0", "You're gold, Ace!", "Your lounge code: GOLD-user-0. Enjoy."),
        ("sb-user-1", "You're gold, friend!", "Your lounge code: GOLD-user-1. Enjoy."),
        ("sb-user-2", "You're gold, Ace!", "Your lounge code: GOLD-user-2. Thanks for testing the beta!"),
    ]},
    "read_followup_canvas": {
        "feature": [
            ("sb-user-0", "New: Smart folders", "Hi Lee, try it today."),
            ("sb-user-1", "New: Smart folders", "Hi Jeannine, try it today."),
            ("sb-user-2", "New: Smart folders", "Hi Jeffrey, try it today."),
        ],
        "reminder": [
            ("sb-user-2", "Did you see Smart folders?", "It only takes a minute."),
            ("sb-user-3", "Did you see Smart folders?", "It only takes a minute."),
            ("sb-user-4", "Did you see Smart folders?", "It only takes a minute."),
        ],
    },
    "read_split_followup": {
        "feature": [
            ("sb-user-0", "New: Smart folders", "Hi Connor, try it today."),
            ("sb-user-1", "New: Smart folders", "Hi Joshua, try it today."),
            ("sb-user-2", "New: Smart folders", "Hi Michael, try it today."),
        ],
        "reminder": [
            ("sb-user-3", "Did you see Smart folders?", "It only takes a minute."),
            ("sb-user-14", "Did you see Smart folders?", "It only takes a minute."),
            ("sb-user-15", "Did you see Smart folders?", "It only takes a minute."),
        ],
        "tip": [  # in the order the readers read the announcement
            ("sb-user-226", "A tip for Smart folders", "Drag a file onto a folder to file it."),
            ("sb-user-52", "A tip for Smart folders", "Drag a file onto a folder to file it."),
            ("sb-user-203", "A tip for Smart folders", "Drag a file onto a folder to file it."),
        ],
    },
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_first_notifications_of_each_template_read_exactly_so(name):
    report = run_simulated(load(ROOT / "scenarios" / f"{name}.yaml"))
    seen = {key: [(s["user_id"], s["title"], s["body"]) for s in tally["samples"]]
            for key, tally in report["content"].items()}
    assert seen == GOLDEN[name]
    assert report["checks"]["empty_variables"] == 0


def bsim(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def demo_with_the_old_bug(tmp_path: Path, **fields) -> Path:
    """The demo as the old runner sent it: its regex turned `{{${first_name}}}` into this, which renders empty.
    Only the demo's numeric expectations are kept, so nothing but the implicit check can catch it."""
    scenario = yaml.safe_load((ROOT / "scenarios" / "onboarding_demo.yaml").read_text())
    scenario["braze"]["campaigns"][0]["sendbird"]["variables"]["first_name"] = "{{${first_name | json_escape }}}"
    scenario["expectations"] = [e for e in scenario["expectations"] if "metric" in e]
    scenario.update(fields)
    path = tmp_path / "old_bug.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_a_run_that_sends_every_user_an_empty_name_fails_by_default(tmp_path):
    result = bsim("run", str(demo_with_the_old_bug(tmp_path)), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert result.exit_code == 1
    assert report["passed"] is False
    assert report["funnel"]["notifications"] == 60 and report["checks"]["lost"] == 0  # the counts look fine
    assert report["checks"]["empty_variables"] == 60
    assert report["checks"]["empty_variable_details"][0]["empty_variables"] == ["first_name"]
    [failed] = [e for e in report["expectations"] if not e["passed"]]
    assert failed["metric"] == "checks.empty_variables" and failed["implicit"] is True
    assert report["content"]["welcome"]["samples"][0]["title"] == "Welcome, !"
    assert "Welcome, !" in result.output and "60 with empty variables" in result.output


def test_the_same_run_passes_when_the_scenario_allows_empty_variables(tmp_path):
    for allowed in (True, ["welcome"]):
        result = bsim("run", str(demo_with_the_old_bug(tmp_path, allow_empty_variables=allowed)),
                      "--json", str(tmp_path / "r.json"))
        report = json.loads((tmp_path / "r.json").read_text())
        assert result.exit_code == 0, allowed
        assert report["passed"] is True and report["checks"]["empty_variables"] == 60
