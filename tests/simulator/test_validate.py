"""`bsim validate`: every problem of a file in one pass, field errors and cross-reference errors
together, each at the line and column of the value it concerns, with a hint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator import metric_paths, references
from simulator.cli import cli
from simulator.loader import ScenarioYAML, check_text
from simulator.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]


def bsim(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def where(text: str, snippet: str, target: str | None = None) -> str:
    """`line:column` of `target` (default: all of it) inside the one place `snippet` occurs in `text`."""
    assert text.count(snippet) == 1, snippet
    index = text.index(snippet) + (snippet.index(target) if target else 0)
    return f"{text.count(chr(10), 0, index) + 1}:{index - text.rfind(chr(10), 0, index)}"


def printed(output: str, source: str) -> dict[str, tuple[str, str, str]]:
    """`bsim validate`'s lines for one file: path -> (line:column, message, hint)."""
    found, last = {}, None
    for line in output.splitlines():
        match = re.match(rf"{re.escape(source)}:(\d+:\d+): (?:warning: )?(\S+): (.*)", line)
        if match:
            last = match.group(2)
            found[last] = (match.group(1), match.group(3), "")
        elif line.startswith("    hint: ") and last:
            found[last] = (*found[last][:2], line.removeprefix("    hint: "))
    return found


BROKEN = """\
name: broken
run_for: 1d
populaton: {size: 3}
population:
  size: 0
  behaviours:
    - name: a
      open_probability: 0.5
      audience: {segment: payers}
sendbird:
  templates:
    - key: welcome
      name: Welcome
      ui_template: {title: "Hi {first_name}", body: "Your {plan} plan"}
      variable_schema:
        - {key: first_name, required: true}
braze:
  segments:
    - name: paying
      filter: {custom_attribute: {custom_attribute_name: plan, comparison: equals, value: pro}}
  campaigns:
    - id: welcome
      name: Welcome
      sendbird: {template_key: welcom}
    - id: promo
      name: Promo
      sendbird: {template_key: welcome, variables: {plan: pro}}
  canvases:
    - id: flow
      name: Flow
      steps:
        - id: first
          type: message
          sendbird: {template_key: welcome, endpoint: fast, variables: {first_name: x}}
        - id: wait
          type: delay
          second: 60
timeline:
  - at: 2d
    trigger_campaign: {campaign: welcome}
  - at: 1h
    trigger_canvas: {canvas: flw}
  - at: soon
    trigger_campaign: {campaign: nope, recipients: {segment: payng}}
expectations:
  - {metric: funnel.reads, min: 1}
  - {metric: canvases.flow.steps.first.sent, min: 1}
  - {metric: canvases.flow.steps.frist.snt, min: 1}
"""


def test_a_broken_file_gets_every_problem_in_one_run_each_at_its_value(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = bsim("validate", str(path))
    assert result.exit_code == 2
    assert f"✗ {path}: 14 errors, 1 warning" in result.output
    expected = {  # path: (where, message, hint)
        "populaton": (where(BROKEN, "populaton"), "Extra inputs are not permitted", "did you mean `population`?"),
        "population.size": (where(BROKEN, "size: 0", "0"), "greater than or equal to 1", ""),
        "population.behaviours.0.audience.segment": (
            where(BROKEN, "payers"), "unknown segment 'payers'", "known segments: paying"),
        "braze.campaigns.0.sendbird.template_key": (
            where(BROKEN, "welcom}"), "campaign 'welcome' uses unknown Sendbird template 'welcom'",
            "did you mean `welcome`?"),
        "braze.campaigns.1.sendbird.variables": (
            where(BROKEN, "{plan: pro}"), "campaign 'promo' does not supply the variable 'first_name', required by "
            "template 'welcome'", "add `first_name:` under `variables:`"),
        "braze.canvases.0.steps.0.sendbird.endpoint": (
            where(BROKEN, "fast"), "Input should be 'realtime' or 'batch'", "use one of the values listed"),
        "braze.canvases.0.steps.0.sendbird.variables": (
            where(BROKEN, "{first_name: x}"), "step 'first' does not supply the variable 'plan', used by template",
            "would show `{plan}` as written"),
        "braze.canvases.0.steps.1.second": (
            where(BROKEN, "second: 60", "second"), "Extra inputs are not permitted", "did you mean `seconds`?"),
        "timeline.0.at": (where(BROKEN, "2d"), "at 2d (172800 s) is not before the end of the run, run_for 1d",
                          "make `run_for` longer"),
        "timeline.1.trigger_canvas.canvas": (where(BROKEN, "flw"), "triggers unknown canvas 'flw'",
                                             "did you mean `flow`?"),
        "timeline.2.at": (where(BROKEN, "soon"), "'soon' is not a duration", ""),
        "timeline.2.trigger_campaign.campaign": (where(BROKEN, "nope"), "triggers unknown campaign 'nope'",
                                                 "known campaigns: promo, welcome"),
        "timeline.2.trigger_campaign.recipients.segment": (where(BROKEN, "payng"), "unknown segment 'payng'",
                                                           "did you mean `paying`?"),
        "expectations.0.metric": (where(BROKEN, "funnel.reads"), "unknown metric 'funnel.reads'",
                                  "did you mean `funnel.read`?"),
        "expectations.2.metric": (where(BROKEN, "canvases.flow.steps.frist.snt"), "unknown metric",
                                  "did you mean `canvases.flow.steps.first.sent`?"),
    }
    found = printed(result.output, str(path))
    assert set(found) == set(expected)
    for key, (place, message, hint) in expected.items():
        assert found[key][0] == place, key
        assert message in found[key][1], key
        assert hint in found[key][2], key
    assert f"{path}:{where(BROKEN, '{first_name: x}')}: warning: braze.canvases.0.steps.0.sendbird.variables" \
        in result.output
    lines = [found[k][0] for k in found]
    assert lines == sorted(lines, key=lambda lc: tuple(map(int, lc.split(":"))))  # in file order


def test_the_ready_scenarios_validate_clean():
    paths = sorted((ROOT / "scenarios").glob("*.yaml"))
    result = bsim("validate", *map(str, paths))
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == len(paths) and "warning" not in result.output


BASE = """\
name: base
run_for: 1d
population:
  size: 4
  behaviours:
    - {name: readers, open_probability: 1, audience: {segment: paying}}
    - {name: others, open_probability: 0.5}
sendbird:
  templates:
    - key: welcome
      name: Welcome
      ui_template: {title: "Hi {first_name}", body: "Your {plan} plan"}
      variable_schema:
        - {key: first_name, required: true}
        - {key: plan}
braze:
  segments:
    - {name: paying, filter: {custom_attribute: {custom_attribute_name: plan, comparison: equals, value: pro}}}
  campaigns:
    - id: welcome
      name: Welcome
      audience: {segment: paying}
      sendbird: {template_key: welcome, variables: {first_name: "{{${first_name}}}", plan: pro}}
  canvases:
    - id: flow
      name: Flow
      steps:
        - id: first
          type: message
          sendbird: {template_key: welcome, variables: {first_name: x, plan: pro}}
          next: split
        - id: split
          type: decision_split
          audience:
            segment: paying
          yes: done
        - {id: done, type: exit}
timeline:
  - at: 1m
    trigger_campaign: {campaign: welcome, recipients: {segment: paying}}
  - at: 23h
    trigger_canvas: {canvas: flow}
expectations:
  - {metric: campaigns.welcome.sent, min: 0}
  - {metric: canvases.flow.steps.split.yes, min: 0}
"""


def test_the_base_scenario_of_these_tests_is_clean():
    checked = check_text(BASE)
    assert checked.problems == [] and checked.scenario is not None


def mutate(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# (the file, the problem's path, where (snippet, target), message, hint)
CROSS_REFERENCE_CASES = {
    "unknown template in a campaign": (
        mutate("template_key: welcome, variables: {first_name: \"", "template_key: welcom, variables: {first_name: \""),
        "braze.campaigns.0.sendbird.template_key", ("welcom,", "welcom"),
        "campaign 'welcome' uses unknown Sendbird template 'welcom'", "did you mean `welcome`?"),
    "unknown template in a canvas step": (
        mutate("template_key: welcome, variables: {first_name: x", "template_key: hello, variables: {first_name: x"),
        "braze.canvases.0.steps.0.sendbird.template_key", ("hello", None),
        "canvas 'flow' step 'first' uses unknown Sendbird template 'hello'", "known templates: welcome"),
    "unknown campaign in the timeline": (
        mutate("campaign: welcome,", "campaign: welcme,"), "timeline.0.trigger_campaign.campaign",
        ("welcme", None), "triggers unknown campaign 'welcme'", "did you mean `welcome`?"),
    "unknown canvas in the timeline": (
        mutate("canvas: flow}", "canvas: onboarding}"), "timeline.1.trigger_canvas.canvas",
        ("onboarding", None), "triggers unknown canvas 'onboarding'", "known canvases: flow"),
    "unknown segment in the timeline": (
        mutate("recipients: {segment: paying}", "recipients: {segment: payng}"),
        "timeline.0.trigger_campaign.recipients.segment", ("payng", None), "names unknown segment 'payng'",
        "did you mean `paying`?"),
    "unknown segment in a campaign's audience": (
        mutate("      audience: {segment: paying}", "      audience: {segment: vip}"),
        "braze.campaigns.0.audience.segment", ("vip", None), "unknown segment 'vip'", "known segments: paying"),
    "unknown segment in a canvas step's audience": (
        mutate("            segment: paying", "            segment: payingg"),
        "braze.canvases.0.steps.1.audience.segment", ("payingg", None), "unknown segment 'payingg'",
        "did you mean `paying`?"),
    "unknown segment in a behaviour's audience": (
        mutate("audience: {segment: paying}}", "audience: {segment: paid}}"),
        "population.behaviours.0.audience.segment", ("paid", None), "unknown segment 'paid'",
        "did you mean `paying`?"),
    "a timeline action at the end of the run": (
        mutate("at: 23h", "at: 24h"), "timeline.1.at", ("24h", None),
        "at 24h (86400 s) is not before the end of the run, run_for 1d (86400 s): it would never happen",
        "move it earlier or make `run_for` longer"),
    "a timeline action after the default run length": (
        mutate("run_for: 1d\n", "").replace("at: 23h", "at: 3d"), "timeline.1.at", ("3d", None),
        "at 3d (259200 s) is not before the end of the run, run_for 259200 s: it would never happen",
        "make `run_for` longer"),
    "a required variable left out": (
        mutate('{first_name: "{{${first_name}}}", plan: pro}', "{plan: pro}"), "braze.campaigns.0.sendbird.variables",
        ("{plan: pro}}", "{plan: pro}"),
        "campaign 'welcome' does not supply the variable 'first_name', required by template 'welcome'",
        "add `first_name:` under `variables:`"),
    "a second campaign of the same id": (
        mutate("  canvases:\n", "    - {id: welcome, name: Again, webhook: {}}\n  canvases:\n"),
        "braze.campaigns.1.id", ("id: welcome, name: Again", "welcome"), "a second campaign named 'welcome'",
        "give each campaign its own `id`"),
}


@pytest.mark.parametrize("case", CROSS_REFERENCE_CASES, ids=str)
def test_each_cross_reference_check_on_its_own(case):
    text, path, (snippet, target), message, hint = CROSS_REFERENCE_CASES[case]
    checked = check_text(text, "case.yaml")
    assert [(p.path, f"{p.line}:{p.column}", p.message, p.level) for p in checked.problems] == [
        (path, where(text, snippet, target), message, "error")]
    assert hint in checked.problems[0].hint
    assert checked.scenario is None


@pytest.mark.parametrize("case", CROSS_REFERENCE_CASES, ids=str)
def test_the_model_refuses_the_same_problems_for_programmatic_use(case):
    text, path, _, message, _ = CROSS_REFERENCE_CASES[case]
    with pytest.raises(ValidationError, match=re.escape(f"{path}: {message}")):
        Scenario.model_validate(yaml.load(text, Loader=ScenarioYAML))


def test_a_required_variable_with_no_variables_at_all_is_reported_at_the_message():
    text = mutate("sendbird: {template_key: welcome, variables: {first_name: x, plan: pro}}",
                  "sendbird: {template_key: welcome}")
    problems = check_text(text).problems
    place = where(text, "{template_key: welcome}")
    assert [(p.path, f"{p.line}:{p.column}", p.level) for p in problems] == [
        ("braze.canvases.0.steps.0.sendbird.variables", place, "error"),
        ("braze.canvases.0.steps.0.sendbird.variables", place, "warning")]
    assert "'first_name', required" in problems[0].message and "'plan', used" in problems[1].message


def test_a_placeholder_the_message_leaves_out_is_a_warning_that_does_not_fail(tmp_path):
    text = mutate("{first_name: x, plan: pro}", "{first_name: x}")
    path = tmp_path / "warn.yaml"
    path.write_text(text)
    result = bsim("validate", str(path))
    assert result.exit_code == 0
    assert f"✓ {path}: base (1 warning)" in result.output
    assert (f"{path}:{where(text, '{first_name: x}')}: warning: braze.canvases.0.steps.0.sendbird.variables: "
            "canvas 'flow' step 'first' does not supply the variable 'plan', used by template 'welcome'") \
        in result.output
    assert "hint: the notification would show `{plan}` as written" in result.output
    assert Scenario.model_validate(yaml.load(text, Loader=ScenarioYAML)).name == "base"


METRIC_CASES = {
    "a typo in a stage": ("funnel.reads", "did you mean `funnel.read`? after `funnel.` comes one of: accepted, "
                                          "audience, conversions, notifications, read, read_events, sent_events, "
                                          "webhooks"),
    "a typo in a canvas step": ("canvases.flow.steps.splt.yes",
                                "did you mean `canvases.flow.steps.split.yes`? after `canvases.flow.steps.` comes one "
                                "of: done, first, split"),
    "a stat a step of that type does not count": ("canvases.flow.steps.done.sent", "after `canvases.flow.steps.done.` "
                                                                                 "comes one of: entered"),
    "a campaign the file does not define": ("campaigns.spring_promo.sent", "after `campaigns.` comes one of: welcome"),
    "no such section": ("totals.sent", "a metric starts with one of: campaigns, canvases, checks, content, funnel, "
                                       "journal_records, latency_ms, population, ratios"),
}


@pytest.mark.parametrize("case", METRIC_CASES, ids=str)
def test_an_unknown_metric_is_reported_at_it_with_the_closest_path(case):
    metric, hint = METRIC_CASES[case]
    text = mutate("metric: campaigns.welcome.sent", f"metric: {metric}")
    problems = check_text(text).problems
    assert [(p.path, f"{p.line}:{p.column}", p.message) for p in problems] == [
        ("expectations.0.metric", where(text, metric), f"unknown metric {metric!r}: the report has no number there")]
    assert problems[0].hint.endswith(hint)


@pytest.mark.parametrize("metric", [
    "funnel.read_events", "ratios.read_rate", "latency_ms.accept_to_sent.p99", "checks.duplicates",
    "population.size", "population.behaviours.readers", "journal_records", "campaigns.welcome.conversion_rate",
    "canvases.flow.completed", "canvases.flow.steps.first.sent", "canvases.flow.steps.split.no",
    "content.welcome.notifications", "content.welcome.variables.plan.empty"])
def test_the_numbers_a_report_has_are_accepted(metric):
    assert check_text(mutate("metric: campaigns.welcome.sent", f"metric: {metric}")).problems == []


def test_content_expectations_name_a_template_and_are_no_metric():
    data = yaml.load(BASE, Loader=ScenarioYAML)
    data["expectations"] = [{"content": {"template": "welcom", "variable": "first_name", "not_empty": True}},
                            {"content": {"template": "welcome", "variable": "plan", "not_empty": True}}]
    assert [(f.loc, f.message, f.hint) for f in references.check(data, 86_400)] == [
        (("expectations", 0, "content", "template"), "unknown Sendbird template 'welcom'", "did you mean `welcome`?")]
    assert list(metric_paths.check(data)) == []


def test_a_file_that_is_not_yaml_or_not_a_mapping_gets_one_problem():
    assert [p.message[:14] for p in check_text("name: x\npopulation: [1, 2\n").problems] == ["not valid YAML"]
    assert len(check_text("- 1\n- 2\n").problems) == 1


EVERY_STEP = """\
name: every_step
run_for: 3d
population:
  size: 12
  countries: {NO: 0.5, US: 0.5}
  custom_attributes:
    plan: {values: {free: 0.5, pro: 0.5}}
  behaviours:
    - {name: readers, share: 0.5, open_probability: 1, read_delay: {median: 1m}}
    - {name: others, open_probability: 0.3}
sendbird:
  templates:
    - key: note
      name: Note
      ui_template: {title: "Hi {first_name}"}
      variable_schema: [{key: first_name, required: true}]
braze:
  segments:
    - {name: pro, filter: {custom_attribute: {custom_attribute_name: plan, comparison: equals, value: pro}}}
  campaigns:
    - id: hello
      name: Hello
      sendbird: {template_key: note, variables: {first_name: "{{${first_name}}}"}}
  canvases:
    - id: walk
      name: Walk
      steps:
        - {id: first, type: message, sendbird: {template_key: note, variables: {first_name: a}}, next: pause}
        - {id: pause, type: delay, seconds: 60, next: split}
        - {id: split, type: decision_split, audience: {segment: pro}, yes: paths, no: test}
        - id: paths
          type: audience_paths
          paths: [{name: Pro, audience: {segment: pro}, next: wait}]
          everyone_else: wait
        - id: test
          type: experiment_paths
          paths: [{name: A, percent: 50, next: wait}, {name: B, percent: 50, next: wait}]
        - id: wait
          type: action_paths
          window_seconds: 3600
          paths: [{name: Read, event: sendbird_notification, next: done}]
          everyone_else: done
        - {id: done, type: exit}
timeline:
  - at: 1m
    trigger_campaign: {campaign: hello}
  - at: 2m
    trigger_canvas: {canvas: walk}
"""


def numbers(node, prefix=""):
    """The dotted path of every number (or empty statistic) in a report section."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from numbers(value, f"{prefix}{key}.")
    elif node is None or (isinstance(node, int | float) and not isinstance(node, bool)):
        yield prefix.rstrip(".")


def test_every_number_a_real_report_holds_is_a_metric_validate_accepts():
    from simulator.runner import run_simulated

    checked = check_text(EVERY_STEP)
    assert checked.problems == [] and checked.scenario is not None
    report = run_simulated(checked.scenario)
    sections = {k: v for k, v in report.items() if k not in ("seed", "expectations", "latency_histograms")}
    reported = set(numbers(sections))
    assert {"canvases.walk.steps.split.yes", "canvases.walk.steps.wait.path:Read", "campaigns.hello.sent",
            "population.behaviours.readers", "latency_ms.delivery_to_read.p50"} <= reported
    assert reported - metric_paths.metric_paths(yaml.load(EVERY_STEP, Loader=ScenarioYAML)) == set()


def test_yes_no_and_norway_stay_keys_as_editors_read_them():
    scenario = check_text(EVERY_STEP).scenario
    split = next(s for s in scenario.braze.canvases[0].steps if s.id == "split")
    assert (split.yes, split.no) == ("paths", "test")
    assert scenario.population.countries == {"NO": 0.5, "US": 0.5}


def places(node, prefix=()):
    """Every location in parsed YAML, for a change to land anywhere."""
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        yield from places(value, (*prefix, key))


ANY_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                     max_size=3), max_leaves=6)
BASE_PLACES = [p for p in places(yaml.load(BASE, Loader=ScenarioYAML)) if p]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(BASE_PLACES), ANY_VALUE), min_size=1, max_size=3))
def test_any_change_anywhere_gets_problems_placed_in_the_file_never_a_crash(changes):
    data = yaml.load(BASE, Loader=ScenarioYAML)
    for place, value in changes:
        parent = references.get(data, *place[:-1])
        if isinstance(parent, dict) or (isinstance(parent, list) and isinstance(place[-1], int)
                                        and place[-1] < len(parent)):
            parent[place[-1]] = value
    text = yaml.safe_dump(data, sort_keys=False)
    checked = check_text(text)
    lines = text.count("\n") + 1
    assert all(1 <= p.line <= lines and p.column >= 1 and p.message for p in checked.problems)
    assert (checked.scenario is None) == bool(checked.errors)


def test_a_variables_liquid_that_does_not_parse_is_an_error_at_its_line_naming_the_construct():
    """Braze's composer refuses to save it, and so does the fake when the run creates the campaign; validate says
    so first, where the author wrote it."""
    scenario = yaml.safe_load((ROOT / "scenarios" / "onboarding_demo.yaml").read_text())
    variables = scenario["braze"]["campaigns"][0]["sendbird"]["variables"]
    variables["first_name"] = "{{ ${first_name} | frob }}"
    variables["plan"] = "{% if custom_attribute.${plan} %}\n  pro"
    text = yaml.safe_dump(scenario, sort_keys=False)
    problems = {p.path: p for p in check_text(text).problems}

    name = problems["braze.campaigns.0.sendbird.variables.first_name"]
    assert name.message == "variable 'first_name' of campaign 'welcome': unknown filter 'frob'"
    assert text.splitlines()[name.line - 1].strip().startswith("first_name:")
    plan = problems["braze.campaigns.0.sendbird.variables.plan"]
    assert plan.message == ("variable 'plan' of campaign 'welcome' (line 1): tag 'if' was never closed "
                            "(expected {% endif %})")
    assert {p.level for p in problems.values()} == {"error"}


def test_every_ready_scenarios_liquid_parses():
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert [p for p in check_text(path.read_text()).problems if "variable '" in p.message] == [], path.name


def test_a_written_out_webhooks_liquid_that_does_not_parse_is_an_error_at_its_field():
    scenario = yaml.safe_load((ROOT / "scenarios" / "onboarding_demo.yaml").read_text())
    scenario["braze"]["campaigns"].append({
        "id": "hook", "name": "Hook", "webhook": {
            "url": "https://hooks.example.com/{{ ${user_id} }}", "method": "POST",
            "headers": {"X-Plan": "{{ custom_attribute.${plan} | frob }}"},
            "body": {"who": "{% if x %}", "fine": "{{${first_name}}}"}}})
    problems = {p.path: p.message for p in check_text(yaml.safe_dump(scenario, sort_keys=False)).problems}
    index = len(scenario["braze"]["campaigns"]) - 1
    assert problems == {
        f"braze.campaigns.{index}.webhook.headers.X-Plan":
            "webhook headers.X-Plan of campaign 'hook': unknown filter 'frob'",
        f"braze.campaigns.{index}.webhook.body.who":
            "webhook body.who of campaign 'hook': tag 'if' was never closed (expected {% endif %})"}
