"""The three services wired together in one process on one runtime (simulated mode).

Braze's webhooks reach the bridge at `http://bridge.local`, the bridge calls
`http://sendbird.local` and `http://braze.local`, and the fake Sendbird's webhooks come back to the
bridge, all through the in-process transport. The same wiring, with URLs instead of hosts, is
what `bsim up` starts as processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from bridge.app import DEFAULT_API_TOKEN as INTEGRATION_TOKEN
from bridge.app import create_app as create_bridge
from bridge.service import Bridge
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.braze.rest.auth import DEFAULT_API_KEY as BRAZE_KEY
from mocks.braze.service import BrazeService
from mocks.sendbird.app import DEFAULT_API_TOKEN as SENDBIRD_TOKEN
from mocks.sendbird.app import create_app as create_sendbird
from mocks.sendbird.service import SendbirdService

BRAZE_URL = "http://braze.local"
SENDBIRD_URL = "http://sendbird.local"
BRIDGE_URL = "http://bridge.local"


@dataclass
class SimulatedStack:
    runtime: Runtime
    braze_app: Flask
    sendbird_app: Flask
    bridge_app: Flask

    @property
    def braze(self) -> BrazeService:
        return self.braze_app.extensions["braze"]

    @property
    def sendbird(self) -> SendbirdService:
        return self.sendbird_app.extensions["sendbird"]

    @property
    def bridge(self) -> Bridge:
        return self.bridge_app.extensions["bridge"]

    def sendbird_webhook_template(self, mode: str, template_key: str, event_name: str,
                                  variables: str = "{}", receiver: str | None = None) -> dict:
        """A campaign's `webhook`: the Sendbird Webhook Template with its placeholders filled in."""
        replace = {"SENDBIRD_INTEGRATION_URL": f"{BRIDGE_URL}/braze/notifications/{mode}",
                   "SENDBIRD_API_TOKEN": INTEGRATION_TOKEN, "SENDBIRD_TEMPLATE_KEY": template_key,
                   "SENDBIRD_EVENT_NAME": event_name, "SENDBIRD_VARIABLES": variables}
        if receiver is not None:
            replace["{{custom_attribute.${sendbird_id} | json_escape}}"] = receiver
        return {"template_id": "sendbird-webhook-template", "replace": replace}


def build(seed: int = 0, event_callback: bool = True, batch_max: int = 10_000, batch_linger_ms: int = 1000,
          runtime: Runtime | None = None) -> SimulatedStack:
    runtime = runtime or Runtime.simulation(seed=seed)
    braze = create_braze(runtime, api_key=BRAZE_KEY)
    sendbird = create_sendbird(runtime, api_token=SENDBIRD_TOKEN, webhook_url=f"{BRIDGE_URL}/sendbird/webhooks")
    sendbird.extensions["sendbird"].webhooks.configure(f"{BRIDGE_URL}/sendbird/webhooks",
                                                       ["group_channel:message_read"])
    bridge = create_bridge(runtime, sendbird_url=SENDBIRD_URL, sendbird_token=SENDBIRD_TOKEN, braze_url=BRAZE_URL,
                           braze_key=BRAZE_KEY, db=":memory:", event_callback=event_callback, batch_max=batch_max,
                           batch_linger_ms=batch_linger_ms)
    runtime.transport.register("braze.local", braze)
    runtime.transport.register("sendbird.local", sendbird)
    runtime.transport.register("bridge.local", bridge)
    return SimulatedStack(runtime, braze, sendbird, bridge)
