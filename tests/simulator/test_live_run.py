"""The pieces of a live run that need no servers: its namespace (the world it creates is all its own,
and its report reads as a simulated run's), the records it keeps, its journal windows across a
restart, the stack checks it makes before anything (one line on a clock-speed mismatch), and the
progress lines it prints into a pipe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from click.testing import CliRunner

from harness.runtime import Runtime
from simulator.analysis import build_report
from simulator.cli import PlainProgress, cli
from simulator.live import JournalWindow
from simulator.loader import load, parse
from simulator.namespace import RUN_ATTRIBUTE, Namespace, OwnRecords
from simulator.population import build_population
from simulator.runner import SIMULATED, Run, run_simulated
from simulator.stack import build as build_stack

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NS = Namespace("r0a1b2c")
# Everything a namespace renames: templates, a segment (named by a behaviour, a campaign audience, a
# canvas split and a recipients list), an API and an action-triggered campaign, one whose webhook is
# written out, a canvas, explicit recipients, a count and a tracked event.
WORLD = """
name: namespaced
seed: 3
start: 2026-01-05T09:00:00Z
run_for: 2d
population:
  size: 40
  custom_attributes:
    plan: {values: {free: 0.5, pro: 0.5}}
  behaviours:
    - {name: pro_readers, audience: {segment: pro}, open_probability: 0.9, read_delay: {median: 10m}}
    - {name: others, open_probability: 0.5, read_delay: {median: 1h}}
sendbird:
  templates:
    - {key: hello, name: Hello, ui_template: {title: "Hi {first_name}"}, variable_schema: [{key: first_name}]}
    - {key: nudge, name: Nudge, ui_template: {title: "Still there?"}}
braze:
  segments:
    - {name: pro, filter: {custom_attribute: {custom_attribute_name: plan, comparison: equals, value: pro}}}
  campaigns:
    - id: hello
      name: Hello
      audience: {segment: pro}
      sendbird: {template_key: hello, endpoint: batch, variables: {first_name: "{{${first_name}}}"}}
    - id: on_signup
      name: On signup
      trigger: {type: action, event: signed_up}
      sendbird: {template_key: nudge, endpoint: realtime}
    - id: written_out
      name: Written out
      webhook:
        template_id: sendbird-webhook-template
        replace: {SENDBIRD_INTEGRATION_URL: "http://bridge.local/braze/notifications/realtime",
                  SENDBIRD_API_TOKEN: local-integration-token, SENDBIRD_TEMPLATE_KEY: nudge,
                  SENDBIRD_EVENT_NAME: sendbird_notification}
  canvases:
    - id: followup
      name: Follow-up
      steps:
        - {id: split, type: decision_split, audience: {segment: pro}, "yes": ask, "no": done}
        - {id: ask, type: message, sendbird: {template_key: nudge, endpoint: realtime}, next: done}
        - {id: done, type: exit}
timeline:
  - {at: 1m, trigger_campaign: {campaign: hello}}
  - {at: 2m, trigger_canvas: {canvas: followup, recipients: {users: [user-1, user-2, user-3]}}}
  - {at: 3m, trigger_canvas: {canvas: followup, recipients: {segment: pro}}}
  - {at: 4m, track_event: {name: signed_up, recipients: {count: 5}}}
  - {at: 5m, trigger_campaign: {campaign: written_out, recipients: {count: 2}}}
expectations:
  - {metric: campaigns.hello.sent, min: 1}
  - {metric: canvases.followup.entered, min: 3}
  - {metric: campaigns.on_signup.sent, equals: 5}
  - {metric: campaigns.written_out.sent, equals: 2}
  - {metric: checks.lost, equals: 0}
"""


def world():
    return parse(WORLD, "namespaced.yaml")


# -- the namespace --------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", [world, lambda: load("scenarios/onboarding_demo.yaml")],
                         ids=["every-kind-of-object", "onboarding_demo"])
def test_a_namespaced_run_reports_exactly_what_a_run_without_one_reports(scenario):
    plain = run_simulated(scenario())
    namespaced = run_simulated(scenario(), namespace=NS)
    assert plain["passed"] is True
    assert json.dumps(namespaced, sort_keys=True) == json.dumps(plain, sort_keys=True)


def test_a_namespaced_run_creates_nothing_outside_its_namespace():
    runtime = Runtime.simulation(seed=3, start=START)
    stack = build_stack(runtime=runtime)
    Run(world(), runtime, SIMULATED, 3, namespace=NS).setup()
    braze, sendbird = stack.braze, stack.sendbird
    users = list(braze.users.profiles.values())
    assert len(users) == 40
    assert all(p.external_id.startswith("r0a1b2c-user-") and p.custom[RUN_ATTRIBUTE] == "r0a1b2c" for p in users)
    assert all(p.custom["sendbird_id"].startswith("r0a1b2c-sb-user-") for p in users)
    assert sorted(braze.campaigns.campaigns) == ["r0a1b2c-hello", "r0a1b2c-on_signup", "r0a1b2c-written_out"]
    assert sorted(braze.canvases.canvases) == ["r0a1b2c-followup"]
    assert [s.name for s in braze.segments.list()] == ["r0a1b2c-pro"]
    assert sorted(t.key for t in sendbird.templates.page(100, 0)[0]) == ["r0a1b2c-hello", "r0a1b2c-nudge"]
    assert all(c.name.startswith("r0a1b2c-") for c in braze.campaigns.campaigns.values())


def test_the_namespace_keeps_every_audience_to_the_run_and_renames_what_it_names():
    renamed = NS.apply(world())
    members = NS.members()
    segment = renamed.braze.segments[0]
    assert segment["filter"] == {"AND": [world().braze.segments[0]["filter"], members]}
    hello, on_signup, written_out = renamed.braze.campaigns
    assert (hello.audience.segment, hello.audience.filter) == ("r0a1b2c-pro", members)
    assert on_signup.audience.filter == members and hello.sendbird.template_key == "r0a1b2c-hello"
    assert written_out.webhook["replace"]["SENDBIRD_TEMPLATE_KEY"] == "r0a1b2c-nudge"
    canvas = renamed.braze.canvases[0]
    assert canvas.audience.filter == members
    assert canvas.steps[0].audience.segment == "r0a1b2c-pro" and canvas.steps[0].audience.filter is None
    assert canvas.steps[1].webhook["sendbird"]["template_key"] == "r0a1b2c-nudge"
    timeline = renamed.timeline
    assert timeline[0].trigger_campaign.campaign == "r0a1b2c-hello"
    assert timeline[1].trigger_canvas.recipients.users == ["r0a1b2c-user-1", "r0a1b2c-user-2", "r0a1b2c-user-3"]
    assert timeline[2].trigger_canvas.recipients.segment == "r0a1b2c-pro"
    behaviours = {b.name: b.audience.segment if b.audience else None for b in renamed.population.behaviours}
    assert behaviours["pro_readers"] == "r0a1b2c-pro"
    assert [s for name, s in behaviours.items() if name != "pro_readers"] == [None] * (len(behaviours) - 1)
    # otherwise the users are as they were: build_population names them
    assert renamed.population.model_copy(update={"behaviours": []}) == world().population.model_copy(
        update={"behaviours": []})
    assert Namespace().apply(world()) == world()


def test_a_namespaced_population_is_the_same_people_under_the_run_s_ids():
    spec, segments = world().population, {"pro": world().braze.segments[0]["filter"]}
    plain = build_population(spec, 3, START, segments)
    named = build_population(spec, 3, START, segments, namespace=NS)
    assert [(u.first_name, u.last_name, u.behaviour.name) for u in named] == \
           [(u.first_name, u.last_name, u.behaviour.name) for u in plain]
    assert [u.external_id for u in named] == [NS(u.external_id) for u in plain]
    assert [u.sendbird_id for u in named] == [NS(u.sendbird_id) for u in plain]
    assert all(u.custom_attributes[RUN_ATTRIBUTE] == NS.run_id for u in named)
    assert not {u.email for u in named} & {u.email for u in plain}
    assert all(RUN_ATTRIBUTE not in u.custom_attributes for u in plain)


def test_fresh_run_ids_are_short_random_and_make_valid_sendbird_template_keys():
    ids = {Namespace.fresh().run_id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 7 and i[0] == "r" and int(i[1:], 16) >= 0 for i in ids)


# -- the run's own records -------------------------------------------------------------------------
def test_only_the_run_s_records_and_those_on_its_traces_are_kept():
    own = OwnRecords(NS.prefix)
    mine = [{"kind": "campaign.send", "trace_id": "t1", "external_id": "r0a1b2c-user-0"},
            {"kind": "webhook.attempt", "trace_id": "t1"},
            {"kind": "send.accepted", "trace_id": "n1", "template_key": "r0a1b2c-welcome"},
            {"kind": "message.read", "trace_id": "n1:r0a1b2c-sb-user-0", "user_id": "r0a1b2c-sb-user-0"},
            {"kind": "webhook.attempt", "trace_id": "n1:r0a1b2c-sb-user-0"},
            {"kind": "campaign.triggered", "trace_id": None, "campaign_id": "r0a1b2c-welcome"}]
    theirs = [{"kind": "campaign.send", "trace_id": "t2", "external_id": "demo-3"},
              {"kind": "webhook.attempt", "trace_id": "t2"},
              {"kind": "event.recorded", "trace_id": "t2", "external_id": "demo-3", "properties": {}},
              {"kind": "campaign.saved", "trace_id": None, "campaign_id": "welcome"},
              {"kind": "sending.paused", "trace_id": None},
              {"kind": "message.read", "trace_id": "n2:sb-demo-3", "user_id": "sb-demo-3"}]
    records = [r for pair in zip(mine, theirs, strict=True) for r in pair]
    assert own.take(records) == mine


# -- journal windows ---------------------------------------------------------------------------------
@responses.activate
def test_a_journal_window_reads_from_its_cursor_and_notes_a_restart():
    url = "http://127.0.0.1:7200/_admin/journal"
    rec = {"kind": "message.read", "trace_id": "x", "user_id": "r0a1b2c-sb-user-0"}
    pages = [({"since": "1:40"}, {"records": [rec], "cursor": "1:41", "epoch": "1", "restarted": False}),
             ({"since": "1:41"}, {"records": [rec], "cursor": "2:1", "epoch": "2", "restarted": True}),
             ({"since": "2:1"}, {"records": [], "cursor": "2:1", "epoch": "2", "restarted": False})]
    for params, body in pages:
        responses.get(url, json=body, match=[responses.matchers.query_param_matcher({**params, "limit": "10000"})])
    window = JournalWindow("sendbird", "http://127.0.0.1:7200", "1:40")
    window.pull(Runtime.live().transport.session(), NS.owner())
    assert window.records == [rec, rec] and window.cursor == "2:1"
    assert window.restarts == [{"service": "sendbird", "epoch": "2"}]


@responses.activate
def test_a_journal_window_reads_the_integer_cursors_of_older_services():
    url = "http://127.0.0.1:7100/_admin/journal"
    rec = {"kind": "campaign.send", "trace_id": "t", "external_id": "r0a1b2c-user-0"}
    responses.get(url, json={"records": [rec], "cursor": 8},
                  match=[responses.matchers.query_param_matcher({"since": "7", "limit": "10000"})])
    responses.get(url, json={"records": [], "cursor": 8},
                  match=[responses.matchers.query_param_matcher({"since": "8", "limit": "10000"})])
    window = JournalWindow("braze", "http://127.0.0.1:7100", 7)
    window.pull(Runtime.live().transport.session(), NS.owner())
    assert window.records == [rec] and window.cursor == 8 and window.restarts == []


def report_with(restarts, expectations):
    scenario = parse(WORLD.split("expectations:")[0] + "expectations:\n" + expectations, "r.yaml")
    return build_report([], scenario=scenario, seed=1, mode="live", start=START, end=START + timedelta(hours=1),
                        population={}, campaigns={}, canvases={}, event_callback=True, restarts=restarts)


def test_a_restart_fails_the_run_unless_the_scenario_expects_it():
    restart = [{"service": "sendbird", "epoch": "2"}]
    unexpected = report_with(restart, "  - {metric: funnel.audience, equals: 0}\n")
    assert unexpected["checks"]["restarts"] == 1 and unexpected["checks"]["restart_details"] == restart
    assert unexpected["passed"] is False
    assert [e for e in unexpected["expectations"] if e["metric"] == "checks.restarts"][-1] == {
        "name": "no service restarted during the run", "metric": "checks.restarts", "value": 1, "equals": 0,
        "min": None, "max": None, "passed": False}
    expected = report_with(restart, "  - {metric: checks.restarts, equals: 1}\n")
    assert expected["passed"] is True
    assert [e["metric"] for e in expected["expectations"] if not e.get("implicit")] == ["checks.restarts"]
    calm = report_with([], "  - {metric: checks.restarts, equals: 0}\n")
    assert calm["passed"] is True and calm["checks"]["restart_details"] == []


# -- before anything: the stack's clock -----------------------------------------------------------
STACK = {"braze": "http://127.0.0.1:7100", "sendbird": "http://127.0.0.1:7200", "bridge": "http://127.0.0.1:7300"}


def health(speeds: dict[str, float | None]) -> None:
    for service, url in STACK.items():
        body = {"status": "ok", "service": service, "time": START.isoformat(), "pending_tasks": 0,
                "journal_cursor": "1:0"}
        if speeds[service] is not None:
            body["clock_speed"] = speeds[service]
        responses.get(f"{url}/_admin/health", json=body)


def bsim_live(tmp_path, *args: str):
    path = tmp_path / "demo.yaml"
    path.write_text(WORLD)
    return CliRunner().invoke(cli, ["run", str(path), "--live", *args], catch_exceptions=False)


@responses.activate
def test_a_run_at_another_speed_than_the_stack_refuses_in_one_line_with_exit_3(tmp_path):
    health({"braze": 60.0, "sendbird": 60.0, "bridge": 60.0})
    result = bsim_live(tmp_path, "--speed", "1")
    assert result.exit_code == 3
    assert result.output.splitlines()[-1] == ("run failed: clock speed mismatch: this run has --speed 1 but the "
                                              "stack runs braze at 60x, sendbird at 60x, bridge at 60x: run with "
                                              "--speed 60")
    assert [c.request.method for c in responses.calls] == ["GET"] * 3  # nothing was created


@responses.activate
def test_a_stack_at_mixed_speeds_is_told_to_restart_with_one(tmp_path):
    health({"braze": 60.0, "sendbird": 1.0, "bridge": 60.0})
    result = bsim_live(tmp_path, "--speed", "60")
    assert result.exit_code == 3
    assert "sendbird at 1x" in result.output and "restart the stack with one --speed" in result.output


@responses.activate
def test_an_older_stack_without_clock_speeds_gets_a_warning_and_sendbird_webhooks_elsewhere_stop_the_run(tmp_path):
    health({"braze": None, "sendbird": None, "bridge": 60.0})
    responses.get(f"{STACK['sendbird']}/_admin/webhooks", json={"url": "http://elsewhere.test/hook", "events": []})
    result = bsim_live(tmp_path, "--speed", "60")
    assert result.exit_code == 3
    assert "warning: braze, sendbird did not report a clock speed: make sure the stack runs at --speed 60" \
        in result.output
    assert "run failed: Sendbird's webhooks go to http://elsewhere.test/hook, not to the bridge" in result.output
    assert all(c.request.method == "GET" for c in responses.calls)  # nothing was changed


@responses.activate
def test_a_run_claims_unset_sendbird_webhooks_but_never_changes_the_integration(tmp_path):
    health({"braze": 60.0, "sendbird": 60.0, "bridge": 60.0})
    responses.get(f"{STACK['sendbird']}/_admin/webhooks", json={"url": None, "events": ["x"], "enabled": False})
    hooked = responses.put(f"{STACK['sendbird']}/_admin/webhooks", json={})
    responses.get(f"{STACK['bridge']}/_admin/integration",
                  json={"event_callback": False, "braze_rest_endpoint": STACK["braze"] + "/"})
    result = bsim_live(tmp_path, "--speed", "60")
    assert result.exit_code == 3
    assert json.loads(hooked.calls[0].request.body) == {"url": f"{STACK['bridge']}/sendbird/webhooks",
                                                        "events": ["group_channel:message_read"]}
    assert ("run failed: the bridge's integration settings do not fit the scenario (event_callback is False, the "
            "scenario needs True) and a live run leaves them to the stack") in result.output
    assert [c.request.method for c in responses.calls].count("PUT") == 1


# -- progress in a pipe -------------------------------------------------------------------------------
def test_plain_progress_prints_each_step_and_each_tenth(capsys):
    progress = PlainProgress("demo")
    progress(0.0, "building 3 users")
    progress(0.0, "building 3 users")
    progress(0.0, "loading users 3/3")
    for i in range(1, 51):
        progress(i / 50, f"clock {i}")
    progress(1.0, "waiting for the run's notifications in flight")
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["demo: building 3 users", "demo: loading users 3/3"]
    assert lines[2:-1] == [f"demo: {t:3d}% clock {t // 2}" for t in range(10, 101, 10)]
    assert lines[-1] == "demo: 100% waiting for the run's notifications in flight"
