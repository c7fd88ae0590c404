"""Liquid is checked when a webhook template, campaign or canvas is saved: a syntax error is a 400 naming the field,
the line within it and the construct, as Braze's composer refuses to save it, not an abort per user at send time.
What only a user's render can tell (an undefined variable, a failing filter, `abort_message`) still saves."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.braze.delivery.webhook_templates import SENDBIRD_TEMPLATE_ID, fill_sendbird_template
from mocks.braze.liquid.render import BrazeLiquidSyntaxError, compile_template

from .braze_fixtures import HOOK_URL, BrazeEnv, recipients, webhook


def refused(braze: BrazeEnv, path: str, spec: dict) -> str:
    response = braze.client.post(path, json=spec)
    assert response.status_code == 400, response.get_json()
    return response.get_json()["message"]


def refused_campaign(braze: BrazeEnv, hook: dict) -> str:
    return refused(braze, "/_admin/campaigns", {"name": "Bad Liquid", "webhook": hook})


@pytest.mark.parametrize(("body", "message"), [
    ('{"x": "{{ first_name "}',
     """'webhook.body' line 1: output '{{ first_name "}': expected '}}', found end of file"""),
    ("line one\nline two\n{% frobnicate %}", "'webhook.body' line 3: unknown tag 'frobnicate'"),
    ("{\n  {% if ${first_name} %}\n  \"a\": 1\n}", "'webhook.body' line 2: tag 'if' was never closed (expected "
                                                 "{% endif %})"),
    ("a\nb\nc\n{{ x | }}", "'webhook.body' line 4: output '{{ x | }}': expected word, found end of expression"),
    ("{{ ${first_name} | shout }}", "'webhook.body' line 1: unknown filter 'shout'"),
    ("\n{{ 'x' | pluralize }}", "'webhook.body' line 2: Braze Liquid does not support the 'pluralize' filter"),
    ("{% include 'snippet' %}", "'webhook.body' line 1: Braze Liquid does not support the 'include' tag"),
    ("x\n{% endif %}", "'webhook.body' line 2: unexpected tag 'endif'"),
    ("{% for item in %}{{ item }}{% endfor %}",
     "'webhook.body' line 1: tag 'for': expected a primitive expression, found end of expression"),
    ("{% if x %}\n{% elsif %}\n{% endif %}", "'webhook.body' line 2: tag 'elsif': missing expression"),
    ("{% comment %}\nnever closed", "'webhook.body' line 1: tag 'comment' was never closed (expected "
                                    "{% endcomment %})"),
    ("{% raw %}{{ x }}", "'webhook.body' line 1: tag 'raw' was never closed (expected {% endraw %})"),
    ("\n\n{% abort_message(reason) %}",
     "'webhook.body' line 3: abort_message takes one quoted string, as in abort_message('reason')"),
    ("{% connected_content %}", "'webhook.body' line 1: connected_content needs a URL"),
    ("a\n{% connected_content http://cc.local/{{ ${user_id} | shout }} :save x %}",
     "'webhook.body' line 2: unknown filter 'shout'"),
    ("{% if x\n", "'webhook.body' line 1: tag '{% if x': missing tag name or closing delimiter"),
])
def test_each_construct_is_refused_with_its_line(braze, body, message):
    assert refused_campaign(braze, webhook(body)) == message
    assert braze.client.get("/_admin/campaigns").get_json()["campaigns"] == []


def test_the_line_is_counted_in_the_source_as_written():
    """`${...}` references and `{{ }}` inside a tag are rewritten before parsing; the line stays the author's."""
    with pytest.raises(BrazeLiquidSyntaxError) as caught:
        compile_template("{% if {{ ${first\nname} }}\n == 1 %}\n{{ custom_attribute.${a b} }}\n{% endif %}\n{{ x | }}")
    assert caught.value.line == 6


@pytest.mark.parametrize(("hook", "message"), [
    (webhook(url=HOOK_URL + "/{{ ${user_id} | }}"),
     "'webhook.url' line 1: output '{{ ${user_id} | }}': expected word, found end of expression"),
    (webhook(headers={"Authorization": "Bearer {{ custom_attribute.${token} "}),
     "'webhook.headers.Authorization' line 1: output '{{ custom_attribute.${token} ': expected '}}', found end of "
     "file"),
    (webhook({"greeting": "Hi {{ ${first_name} }}", "code": "{% unless x %}"}),
     "'webhook.body.code' line 1: tag 'unless' was never closed (expected {% endunless %})"),
])
def test_every_liquid_field_is_checked_by_name(braze, hook, message):
    assert refused_campaign(braze, hook) == message


def test_a_template_message_is_checked_after_its_replacements(braze):
    hook = fill_sendbird_template(HOOK_URL, "token", "welcome", "notification", {})
    hook["replace"]["SENDBIRD_LABEL"] = "{{ x | }}"  # the label is on line 11 of the Sendbird body
    assert refused_campaign(braze, hook) == ("'webhook.body' line 11: output '{{ x | }}': expected word, found end "
                                             "of expression")
    template = braze.client.post("/_admin/webhook_templates", json={
        "name": "Greeting", "url": HOOK_URL, "body": "Hello {{ NAME }}"})
    assert template.status_code == 201, template.get_json()
    template_id = template.get_json()["template_id"]
    message = refused_campaign(braze, {"template_id": template_id, "replace": {"NAME": "${first_name} |"}})
    assert message == ("'webhook.body' line 1: output '{{ ${first_name} | }}': expected word, found end of "
                       "expression")
    braze.campaign(webhook={"template_id": template_id, "replace": {"NAME": "${first_name} | upcase"}})


def test_the_sendbird_webhook_template_still_saves(braze):
    variables = {"name": "{{${first_name} | default: 'there'}}",
                 "vip": "{% if custom_attribute.${vip} %}yes{% endif %}"}
    braze.campaign(webhook=fill_sendbird_template(HOOK_URL, "token", "welcome", "notification", variables,
                                                  tags=["a"], label="l"))
    braze.campaign(webhook=fill_sendbird_template(HOOK_URL, "token", "welcome", "notification", {},
                                                  by_external_id=True))
    braze.campaign(webhook={"template_id": SENDBIRD_TEMPLATE_ID})


def test_a_webhook_template_is_checked_when_saved(braze):
    message = refused(braze, "/_admin/webhook_templates",
                      {"name": "Broken", "url": HOOK_URL, "body": "{\n  \"a\": \"{{ x | frob }}\"\n}"})
    assert message == "'template.body' line 2: unknown filter 'frob'"
    names = [t["name"] for t in braze.client.get("/_admin/webhook_templates").get_json()["templates"]]
    assert "Broken" not in names


def test_every_canvas_message_step_is_checked(braze):
    steps = [{"id": "hello", "type": "message", "webhook": webhook("{{ ${user_id} }}"), "next": "later"},
             {"id": "later", "type": "message", "webhook": webhook("one\n{% frobnicate %}")}]
    message = refused(braze, "/_admin/canvases", {"name": "Bad", "steps": steps})
    assert message == "'steps[later].webhook.body' line 2: unknown tag 'frobnicate'"
    assert braze.client.get("/_admin/canvases").get_json()["canvases"] == []


def test_a_refused_edit_keeps_the_saved_definition(braze):
    receiver = braze.receiver()
    braze.users("u1", first_name="Ann")
    campaign_id = braze.campaign(webhook=webhook("Hi {{ ${first_name} }}"))
    response = braze.client.put(f"/_admin/campaigns/{campaign_id}", json={
        "name": "Campaign", "webhook": webhook("Hi {{ ${first_name} ")})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("'webhook.body' line 1: output")
    assert braze.trigger_campaign(campaign_id, recipients=recipients("u1")).status_code == 201
    braze.run()
    assert receiver.bodies == ["Hi Ann"]


def test_what_only_a_render_can_tell_still_saves_and_aborts_per_user(braze):
    """An undefined variable renders empty; a failing filter and `abort_message` abort that user's send."""
    receiver = braze.receiver()
    braze.users("u1", first_name="Ann")
    body = ("{{ custom_attribute.${nothing}.deeper }}{% if ${first_name} == 'Ann' %}{% abort_message('no Ann') %}"
            "{% endif %}")
    aborting = braze.campaign(name="Aborts", webhook=webhook(body))
    failing = braze.campaign(name="Fails", webhook=webhook("{{ 1 | divided_by: 0 }}"))
    for campaign_id in (aborting, failing):
        assert braze.trigger_campaign(campaign_id, recipients=recipients("u1")).status_code == 201
    braze.run()
    assert receiver.requests == []
    reasons = [a["reason"] for a in braze.journal("webhook.aborted")]
    assert reasons[0] == "no Ann"
    assert "divided by 0" in reasons[1] and "syntax" not in reasons[1]


# -- the save check and the renderer agree ---------------------------------------------------------------
# Whole constructs that parse, and pieces that break a template (some only as a pair, or only in one place).
SOUND = [
    "text", " ", "\n", "}", '"', "%", "}}", "%}", "{{ ${first_name} }}", "{{${first_name}}}", "${first_name}",
    "{{ custom_attribute.${Favorite Color} | default: 'x' }}", "{{ x | upcase }}", "{% assign a = 1 | plus: 2 %}",
    "{% if ${first_name} == 'Ann' %}yes{% elsif x %}x{% else %}no{% endif %}",
    "{% for i in (1..2) %}{{ i }}{% endfor %}",
    "{% raw %}{{ x }}{% endraw %}", "{% comment %}{{ x | }}{% endcomment %}", "{% capture c %}{{ x }}{% endcapture %}",
    "{% case x %}{% when 1 %}one{% else %}other{% endcase %}", "{% abort_message('stop') %}",
    "{{ 1 | divided_by: 0 }}", "{% if {{ ${first_name} }} %}x{% endif %}", "{% unless x %}u{% endunless %}",
]
BREAKING = [
    "{", "{{", "{%", "{{ x | }}", "{{ x | shout }}", "{{ 'x' | pluralize }}", "{% if x %}", "{% endif %}",
    "{% else %}", "{% for i in %}", "{% endfor %}", "{% frobnicate %}", "{% raw %}", "{% comment %}",
    "{% include 'x' %}", "{% abort_message(x) %}", "{% connected_content %}", "{% when 1 %}", "{% capture %}",
]


def _insert(parts: tuple[list[str], list[tuple[int, str]]]) -> str:
    pieces, breaks = parts
    for at, piece in breaks:
        pieces.insert(min(at, len(pieces)), piece)
    return "".join(pieces)


templates = st.tuples(st.lists(st.sampled_from(SOUND), max_size=8),
                      st.lists(st.tuples(st.integers(0, 8), st.sampled_from(BREAKING)), max_size=2)).map(_insert)


def test_what_the_save_check_accepts_renders_without_a_syntax_error():
    """Saved: every send renders without a syntax error (it is sent, or aborts for its own reasons). Refused:
    the renderer cannot parse it either, and the answer names a line of the field."""
    braze = BrazeEnv()
    receiver = braze.receiver()
    braze.users("u1", first_name="Ann", x="3")

    @settings(max_examples=150, deadline=None)
    @given(body=templates)
    def check(body: str) -> None:
        response = braze.client.post("/_admin/campaigns", json={"name": "Generated", "webhook": webhook(body)})
        if response.status_code == 400:
            message = response.get_json()["message"]
            with pytest.raises(BrazeLiquidSyntaxError) as caught:
                compile_template(body)
            assert message == f"'webhook.body' line {caught.value.line}: {caught.value.reason}"
            assert 1 <= caught.value.line <= body.count("\n") + 1
            return
        assert response.status_code == 201, response.get_json()
        compile_template(body)
        campaign_id = response.get_json()["campaign_id"]
        sent, aborted = len(receiver.requests), len(braze.journal("webhook.aborted"))
        assert braze.trigger_campaign(campaign_id, recipients=recipients("u1")).status_code == 201
        braze.run()
        reasons = [a["reason"] for a in braze.journal("webhook.aborted")[aborted:]]
        assert len(receiver.requests) + len(reasons) == sent + 1
        assert not any("syntax" in reason for reason in reasons), reasons

    try:
        check()
    finally:
        braze.close()
