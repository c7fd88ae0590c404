"""The scenario language's constructs end to end, in simulated runs: attributes a share of users lacks (so a
Liquid `default` shows) and boolean ones, timeline actions that change attributes, and stub endpoints that
Connected Content calls."""

from __future__ import annotations

import textwrap

from simulator.loader import parse
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
