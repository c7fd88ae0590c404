"""The runner's Sendbird Webhook Template: every template variable arrives in the webhook body as valid JSON
holding exactly what its Liquid renders to, whatever the user's attributes hold and however the Liquid is
written (Braze's `{{${first_name}}}`, filters, tags, literal text with quotes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.braze.delivery.webhook_templates import WebhookTemplateStore
from mocks.braze.liquid.render import AbortMessage, render
from simulator.loader import load
from simulator.runner import SIMULATED, sendbird_webhook
from simulator.scenario import SendbirdMessage

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load(ROOT / "scenarios" / "onboarding_demo.yaml")

# The Liquid the ready scenarios use, and the other shapes a marketer writes.
VARIABLES = {
    "first_name": "{{${first_name}}}",
    "spaced": "{{ ${first_name} }}",
    "plan": "{{custom_attribute.${plan} | default: 'free'}}",
    "feature": "{{context.${feature}}}",
    "status_text": 'Thanks {{${first_name}}}, we got your "order" \\o/.',
    "tagged": "{% if ${first_name} == blank %}friend{% else %}{{${first_name} | upcase}}{% endif %}",
    "literal": "Your order is on its way.",
    "json_like": '{"not": "liquid"}',
}

# What a user's attributes may hold: quotes, backslashes, newlines and other control characters, any unicode,
# and the braces of Liquid and of Sendbird's placeholders.
values = st.text(st.characters(exclude_categories=("Cs",)), max_size=30) | st.sampled_from(
    ['"', "\\", "\\\"", "\n\r\t", "{{x}}", "{first_name}", "}}}", "{%", "O'Brien", "Zoë 🎉", "\u2028", "\x00"])


def webhook_body(message: SendbirdMessage, variables: dict) -> str:
    content = WebhookTemplateStore().resolve(sendbird_webhook(message, SCENARIO, SIMULATED), "webhook")
    return render(content.body, variables)


def user_variables(first_name: str, plan: str, feature: str) -> dict:
    return {"first_name": first_name, "user_id": "user-1", "custom_attribute": {"plan": plan, "sendbird_id": "sb-1"},
            "context": {"feature": feature}, "campaign": {"dispatch_id": "d-1", "api_id": "welcome"}, "canvas": {}}


@settings(max_examples=150, deadline=None)
@given(first_name=values, plan=values, feature=values)
def test_every_variable_arrives_as_valid_json_holding_exactly_what_its_liquid_renders(first_name, plan, feature):
    variables = user_variables(first_name, plan, feature)
    body = json.loads(webhook_body(SendbirdMessage(template_key="welcome", variables=VARIABLES), variables))
    assert body["variables"] == {name: render(liquid, variables) for name, liquid in VARIABLES.items()}
    assert body["variables"]["first_name"] == first_name
    assert body["variables"]["feature"] == feature
    assert body["receiver"] == "sb-1" and body["user_id"] == "user-1"


def test_brazes_dollar_reference_renders_the_name_not_an_empty_string():
    """The bug this guards: `{{${first_name}}}` was cut at its first `}}` and rendered empty for everyone."""
    message = SendbirdMessage(template_key="welcome", variables={"first_name": "{{${first_name}}}"})
    body = json.loads(webhook_body(message, user_variables("Ann", "pro", "x")))
    assert body["variables"] == {"first_name": "Ann"}


def test_a_variable_may_abort_the_message_as_in_braze():
    liquid = "{% if ${first_name} == blank %}{% abort_message('no name') %}{% endif %}{{${first_name}}}"
    message = SendbirdMessage(template_key="welcome", variables={"first_name": liquid})
    with pytest.raises(AbortMessage, match="no name"):
        webhook_body(message, user_variables("", "pro", "x"))
    assert json.loads(webhook_body(message, user_variables("Ann", "pro", "x")))["variables"] == {"first_name": "Ann"}
