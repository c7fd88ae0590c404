"""What the mocks' tests share: a welcome template and campaign, and the team's own calls to Braze's real host."""

from __future__ import annotations

import requests

WELCOME = {"title": "Welcome, {first_name}!", "body": "Hello from {city}"}
WELCOME_VARIABLES = {"first_name": "{{${first_name}}}", "city": "{{custom_attribute.${city}}}"}


def add_welcome(stack, endpoint: str = "realtime", **definition) -> str:
    """The `welcome` template at Sendbird and a Braze campaign sending it through the bridge; the campaign's id."""
    stack.sendbird.add_template("welcome", WELCOME)
    return stack.add_sendbird_campaign("Welcome", "welcome", WELCOME_VARIABLES, endpoint=endpoint, **definition)


def team_tracks(braze, external_id: str, **attributes) -> None:
    """The team's own code saving a profile at Braze's real host."""
    answer = requests.post(f"{braze.url}/users/track", headers=braze.headers,
                           json={"attributes": [{"external_id": external_id, **attributes}]})
    answer.raise_for_status()


def team_triggers(braze, campaign_id: str, *external_ids: str) -> requests.Response:
    """The team's own code triggering an API campaign at Braze's real host."""
    answer = requests.post(f"{braze.url}/campaigns/trigger/send", headers=braze.headers,
                           json={"campaign_id": campaign_id,
                                 "recipients": [{"external_user_id": user} for user in external_ids]})
    answer.raise_for_status()
    return answer
