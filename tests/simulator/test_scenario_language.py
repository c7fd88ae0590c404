"""The scenario language's constructs end to end, in simulated runs: attributes a share of users lacks (so a
Liquid `default` shows) and boolean ones, timeline actions that change attributes, and stub endpoints that
Connected Content calls."""

from __future__ import annotations

import json
import textwrap

from click.testing import CliRunner

from harness.transport import Transport
from simulator import stubs
from simulator.cli import cli
from simulator.loader import check_text, parse
from simulator.namespace import Namespace
from simulator.population import build_population
from simulator.runner import run_simulated

TEMPLATE = """\
sendbird:
  templates:
    - key: hello
      name: Hello
      ui_template: {title: "Hi {name}", body: "{detail}"}
      variable_schema: [{key: name, required: true}, {key: detail}]
    - key: note
      name: Note
      ui_template: {title: "{text}"}
"""


def scenario_text(body: str, size: int = 20) -> str:
    head = textwrap.dedent(f"""\
        name: language
        seed: 11
        run_for: 6h
        population:
          size: {size}
          custom_attributes:
            nickname: {{values: {{Ace: 1}}, unset: 0.25}}
            vip: {{boolean: 0.3}}
          behaviours:
            - {{name: readers, open_probability: 1, read_delay: {{median: 1m}}}}
        """)
    return head + TEMPLATE + textwrap.dedent(body)


def result(report: dict, name: str) -> dict:
    return next(e for e in report["expectations"] if e["name"] == name)


UNSET = """\
braze:
  segments:
    - {name: VIPs, filter: {custom_attribute: {custom_attribute_name: vip, comparison: equals, value: true}}}
  campaigns:
    - id: greet
      name: Greet
      sendbird:
        template_key: hello
        variables:
          name: "{{custom_attribute.${nickname} | default: 'friend'}}"
          detail: "vip={{custom_attribute.${vip}}}"
    - id: vips
      name: VIPs only
      audience: {segment: VIPs}
      sendbird: {template_key: note, variables: {text: "for VIPs"}}
timeline:
  - {at: 1m, trigger_campaign: {campaign: greet}}
  - {at: 2m, trigger_campaign: {campaign: vips}}
expectations:
  - {name: named Ace, content: {template: hello, variable: name, matches: "^Ace$"}}
  - {name: Ace or friend, content: {template: hello, variable: name, matches: "^(Ace|friend)$"}}
  - {name: vip is a boolean, content: {template: hello, variable: detail, matches: "^vip=(true|false)$"}}
  - {metric: campaigns.vips.sent, min: 0}
"""


def test_users_without_an_attribute_get_the_liquid_default_and_boolean_attributes_reach_segments():
    scenario = parse(scenario_text(UNSET))
    users = build_population(scenario.population, scenario.seed, scenario.start)
    unset = sorted(u.sendbird_id for u in users if "nickname" not in u.custom_attributes)
    vips = [u for u in users if u.custom_attributes["vip"] is True]
    assert 0 < len(unset) < len(users) and 0 < len(vips) < len(users)

    report = run_simulated(scenario)
    named_ace = result(report, "named Ace")  # fails exactly for the users without a nickname, who read 'friend'
    assert named_ace["failed"] == len(unset)
    failures = named_ace["failures"]  # the first five are listed
    assert len(failures) == min(5, len(unset)) and {f["user_id"] for f in failures} <= set(unset)
    assert {f["value"] for f in failures} == {"friend"}
    assert result(report, "Ace or friend")["passed"] and result(report, "vip is a boolean")["passed"]
    assert report["campaigns"]["vips"]["sent"] == len(vips)
    assert report["campaigns"]["greet"]["sent"] == len(users)


def segment(name: str, attribute: str, value) -> str:
    return (f"    - {{name: {name}, filter: {{custom_attribute: {{custom_attribute_name: {attribute}, "
            f"comparison: equals, value: {value}}}}}}}\n")


def note_campaign(campaign_id: str, text: str, audience: str, trigger: str = "{type: api}") -> str:
    return (f"    - {{id: {campaign_id}, name: {campaign_id}, trigger: {trigger}, audience: {{segment: {audience}}}, "
            f"sendbird: {{template_key: note, variables: {{text: \"{text}\"}}}}}}\n")


GAINS_A_TIER = ("braze:\n  segments:\n" + segment("Gold", "tier", "gold") + segment("Beta", "beta", "true")
                + segment("Lounge", "perk", "lounge") + segment("Nobody", "tier", "platinum") + "  campaigns:\n"
                + note_campaign("early", "{{custom_attribute.${tier}}}", "Gold")
                + note_campaign("late", "{{custom_attribute.${tier}}}", "Gold")
                + note_campaign("reward", "reward", "Gold", "{type: action, event: qualified}")
                + note_campaign("betas", "beta", "Beta") + note_campaign("lounge", "lounge", "Lounge") + """\
timeline:
  - {at: 30m, trigger_campaign: {campaign: early}}
  - {at: 30m, track_event: {name: qualified}}
  - {at: 1h, set_attributes: {recipients: {users: [user-1, user-3]}, attributes: {tier: gold}}}
  - {at: 90m, track_event: {name: qualified}}
  - {at: 100m, set_attributes: {recipients: {segment: Gold}, attributes: {perk: lounge}}}
  - {at: 100m, set_attributes: {recipients: {count: 3}, attributes: {beta: true}}}
  - {at: 100m, set_attributes: {recipients: {segment: Nobody}, attributes: {beta: true}}}
  - {at: 110m, set_attributes: {recipients: {users: [user-3]}, attributes: {perk: null}}}
  - {at: 2h, trigger_campaign: {campaign: late}}
  - {at: 2h, trigger_campaign: {campaign: betas}}
  - {at: 2h, trigger_campaign: {campaign: lounge}}
expectations:
  - {name: the tier shows, content: {template: note, variable: text, matches: "^(gold|reward|beta|lounge)$"}}
""")


def test_attributes_set_on_the_timeline_reach_later_segment_and_action_campaigns_and_not_earlier_ones():
    report = run_simulated(parse(scenario_text(GAINS_A_TIER, size=10)))
    namespaced = run_simulated(parse(scenario_text(GAINS_A_TIER, size=10)), namespace=Namespace("r0a1b2c"))
    assert json.dumps(namespaced, sort_keys=True) == json.dumps(report, sort_keys=True)  # as a live run sets them
    sent = {campaign: stats["sent"] for campaign, stats in report["campaigns"].items()}
    assert sent == {"early": 0, "late": 2, "reward": 2, "betas": 3, "lounge": 1}
    assert report["funnel"]["notifications"] == 8
    assert result(report, "the tier shows")["passed"]


def test_set_attributes_names_no_user_identifier_and_leaves_the_sendbird_id_alone():
    base = scenario_text(GAINS_A_TIER, size=10)
    for attributes, message in (("{external_id: x}", "'external_id': /users/track's own key(s)"),
                                ("{sendbird_id: x}", "may not change 'sendbird_id'")):
        checked = check_text(base.replace("attributes: {perk: null}", f"attributes: {attributes}"))
        assert [p.message for p in checked.errors if message in p.message], checked.report()


OFFERS = """\
stubs:
  - url: https://api.example.com/offers/{user}
    json: {code: "OFFER-{user}", tags: ["{user}"]}
  - {url: "https://api.example.com/broken", status: 500, json: {error: down}}
  - {url: "http://127.0.0.1:9/text/{word}", text: "said {word}"}
braze:
  campaigns:
    - id: offers
      name: Offers
      sendbird:
        template_key: hello
        variables:
          name: "{% connected_content https://api.example.com/offers/{{${user_id}}} :save offer %}{{offer.code}}"
          detail: "{% connected_content http://127.0.0.1:9/text/hi %}"
    - id: retried
      name: Retried
      sendbird:
        template_key: note
        variables: {text: "{% connected_content https://api.example.com/broken :save x :retry %}{{x.error}}"}
    - id: checked
      name: Checked
      sendbird:
        template_key: note
        variables:
          text: >-
            {% connected_content https://api.example.com/broken :save x %}{% if x.__http_status_code__ != 200 %}{%
            abort_message('offers are down') %}{% endif %}{{x.error}}
    - id: unstubbed
      name: Unstubbed
      sendbird:
        template_key: note
        variables: {text: "{% connected_content https://api.example.com/nothing/here :save x %}{{x.error}}"}
timeline:
  - {at: 1m, trigger_campaign: {campaign: offers}}
  - {at: 2m, trigger_campaign: {campaign: retried}}
  - {at: 3m, trigger_campaign: {campaign: checked}}
  - {at: 4m, trigger_campaign: {campaign: unstubbed}}
expectations:
  - {name: each user's own offer, content: {template: hello, variable: name, matches: "^OFFER-user-[0-9]+$"}}
  - {name: a text answer, content: {template: hello, variable: detail, matches: "^said hi$"}}
  - name: no stub, no answer
    content: {template: note, variable: text, matches: "^no stub answers GET /nothing/here$"}
"""


def test_connected_content_renders_the_stubs_answer_and_a_failing_stub_aborts_the_message():
    report = run_simulated(parse(scenario_text(OFFERS, size=8)))
    campaigns = report["campaigns"]
    assert campaigns["offers"]["sent"] == 8
    for sample in report["content"]["hello"]["samples"]:  # each user's own: the url's {user} came back
        assert sample["title"] == f"Hi OFFER-{sample['user_id'].removeprefix('sb-')}"
    assert result(report, "each user's own offer")["passed"] and result(report, "a text answer")["passed"]
    assert (campaigns["retried"]["sent"], campaigns["retried"]["aborted"]) == (0, 8)  # :retry gives up on a 500
    assert (campaigns["checked"]["sent"], campaigns["checked"]["aborted"]) == (0, 8)  # the template checks the status
    assert campaigns["unstubbed"]["sent"] == 8 and result(report, "no stub, no answer")["passed"]  # a 404's JSON


def test_stubs_are_checked_as_the_file_is_read():
    def problems(stub: str) -> list[str]:
        return [p.message for p in check_text(scenario_text(f"stubs:\n  - {stub}\n")).errors]

    assert problems("{url: 'https://api.example.com/offers/{user}', json: {code: '{user}'}}") == []
    assert problems("{url: 'https://api.example.com/offers', json: {code: '{user}'}}") == [
        "the answer uses {user}, which the url's path does not capture (it has none)"]
    assert problems("{url: 'http://braze.local/x'}") == [
        "braze.local is the simulated stack's own host: a stub takes another"]
    assert problems("{url: 'https://api.example.com/x?a=1'}") == [
        "a stub matches the path only: leave the query and fragment out of its url"]
    assert problems("{url: 'ftp://a.example/x'}") == ["'ftp://a.example/x' is not an http(s) URL with a host"]
    assert problems("{url: 'https://a.example/x', json: {}, text: t}") == ["give 'json' or 'text', not both"]
    assert problems("{url: 'https://a.example/x', method: PUT}") == ["Input should be 'GET' or 'POST'"]
    assert problems("{url: 'https://a.example/{a}/{a}'}") == ["the url's path captures {a} more than once"]
    assert problems("{url: 'https://a.example/x'}\n  - {url: 'https://a.example/x', method: POST}") == []
    assert problems("{url: 'https://a.example/x'}\n  - {url: 'https://a.example/x', status: 500}") == [
        "a second stub for GET https://a.example/x: the first one answers every request"]


def test_a_live_run_refuses_a_scenario_with_stubs_before_it_calls_anything(tmp_path):
    path = tmp_path / "offers.yaml"
    path.write_text(scenario_text(OFFERS, size=8))
    result = CliRunner().invoke(cli, ["run", str(path), "--live", "--braze-url", "http://127.0.0.1:9"])
    assert result.exit_code == 3
    assert "declares 3 stub endpoint(s) (stubs:), which only a simulated run answers" in " ".join(result.output.split())


def test_a_stub_host_answers_as_an_api_would_the_first_match_wins():
    transport = Transport(simulated=True)
    stubs.register(transport, [stub.answer() for stub in parse(scenario_text("""\
        stubs:
          - {url: "https://api.example.com/offers/vip", json: {code: VIP}}
          - {url: "https://api.example.com/offers/{user}", json: {code: "{user}"}, headers: {X-User: "{user}"}}
          - {url: "https://api.example.com/hooks", method: POST, status: 202}
        """)).stubs])
    http = transport.session()
    assert http.get("https://api.example.com/offers/vip").json() == {"code": "VIP"}
    answer = http.get("https://api.example.com/offers/user-7?ignored=1")
    assert (answer.status_code, answer.json(), answer.headers["X-User"]) == (200, {"code": "user-7"}, "user-7")
    assert (http.post("https://api.example.com/hooks").status_code, http.post("https://api.example.com/hooks").text) \
        == (202, "")
    assert http.get("https://api.example.com/hooks").status_code == 405
    assert http.get("https://api.example.com/offers/a/b").json() == {"error": "no stub answers GET /offers/a/b"}


def test_a_live_run_refuses_to_set_the_attribute_that_marks_its_users(tmp_path):
    path = tmp_path / "marks.yaml"
    text = scenario_text(GAINS_A_TIER, size=10).replace("attributes: {perk: null}", "attributes: {bsim_run: x}")
    path.write_text(text)
    assert check_text(path.read_text()).errors == []  # a simulated run has no such mark
    result = CliRunner().invoke(cli, ["run", str(path), "--live", "--braze-url", "http://127.0.0.1:9"])
    assert result.exit_code == 3
    said = " ".join(result.output.split())
    assert "the timeline sets 'bsim_run', the attribute that marks a live run's users" in said


REFUSED_ACTION = """\
braze:
  campaigns:
    - {id: greet, name: Greet, sendbird: {template_key: note, variables: {text: hi}}}
timeline:
  - {at: 1m, set_attributes: {recipients: {users: [user-1, nobody-42]}, attributes: {tier: gold}}}
  - {at: 2m, trigger_campaign: {campaign: greet}}
"""


def test_a_timeline_action_the_stack_refuses_fails_the_run_and_says_which():
    """A refused action changed a different world than the scenario says: the run is never green for it."""
    report = run_simulated(parse(scenario_text(REFUSED_ACTION, size=3)))
    assert report["checks"]["timeline_errors"] == 1
    [detail] = report["checks"]["timeline_error_details"]
    assert detail["index"] == 0 and "No user matches the identifier" in detail["error"]
    implicit = result(report, "every timeline action reached the stack")
    assert implicit["value"] == 1 and not implicit["passed"] and not report["passed"]
    assert report["funnel"]["notifications"] == 3  # the rest of the timeline still ran


def test_a_scenario_that_expects_refused_actions_bounds_them_itself():
    body = REFUSED_ACTION + "expectations:\n  - {metric: checks.timeline_errors, equals: 1}\n"
    report = run_simulated(parse(scenario_text(body, size=3)))
    assert report["passed"]
    assert [e["metric"] for e in report["expectations"]] == ["checks.timeline_errors", "checks.empty_variables"]


def test_a_run_whose_timeline_is_taken_whole_reports_no_timeline_errors():
    report = run_simulated(parse(scenario_text(REFUSED_ACTION.replace(", nobody-42", ""), size=3)))
    assert report["checks"]["timeline_errors"] == 0 and report["checks"]["timeline_error_details"] == []
    assert not any(e["metric"] == "checks.timeline_errors" for e in report["expectations"]) and report["passed"]
