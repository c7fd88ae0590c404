"""The real products' hostnames, which a team's code already calls: inside a mock they reach the fakes.

Braze lists one REST endpoint per instance ("API and SDK endpoints",
braze.com/docs/user_guide/administrative/access_braze/sdk_endpoints); a team's code holds the one its
workspace lives on, so every one of them is served. Sendbird names its hosts after the application id:
`api-{APP_ID}.notifications.sendbird.com` for the Notifications API (the reference's base URL) and
`api-{APP_ID}.sendbird.com` for the Chat Platform API and the SDK (`customApiHost`'s default).
"""

from __future__ import annotations

BRAZE_INSTANCES = {
    **{f"US-0{n}": f"rest.iad-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "rest.us-10.braze.com",
    "EU-01": "rest.fra-01.braze.eu",
    "EU-02": "rest.fra-02.braze.eu",
    "AU-01": "rest.au-01.braze.com",
    "ID-01": "rest.id-01.braze.com",
}
BRAZE_DEFAULT_URL = f"https://{BRAZE_INSTANCES['US-01']}"


def sendbird_hosts(app_id: str) -> tuple[str, str]:
    """(the Notifications API's host, the Chat Platform API's host) of application `app_id`."""
    app = app_id.lower()
    return f"api-{app}.notifications.sendbird.com", f"api-{app}.sendbird.com"
