"""`FakeStack`: both fakes and the bridge (Sendbird's Braze integration) on one simulated world.

The bridge is wired as a workspace wires the real integration: Braze's webhooks reach its realtime and batch
endpoints, it sends through Sendbird's Notifications API at the real host and reports `SENT` and `READ` to
Braze's `/users/track` at the real instance, and Sendbird's read webhook points at it. A team's code then
triggers a campaign or canvas at Braze, and the test reads the user's feed and the events that came back.
"""

from __future__ import annotations

from typing import Any, Literal

import responses
from flask import Flask

from bridge.app import DEFAULT_API_TOKEN as INTEGRATION_TOKEN
from bridge.app import create_app as create_bridge
from bridge.service import Bridge
from mocks.braze.delivery.webhook_templates import fill_sendbird_template
from mocks.braze.rest.auth import DEFAULT_API_KEY
from mocks.inprocess.braze import Event, FakeBraze
from mocks.inprocess.hosts import BRAZE_DEFAULT_URL
from mocks.inprocess.routing import Router
from mocks.inprocess.sendbird import FakeSendbird, Notification
from mocks.inprocess.world import Driver, MockError, World
from mocks.sendbird.app import DEFAULT_API_TOKEN, DEFAULT_APP_ID
from simulator.analysis import pipeline_summary

BRIDGE_HOST = "bridge.local"  # the integration's endpoints are Sendbird's and unpublished: a name of the harness's
EVENT_NAME = "sendbird_notification"
READ_WEBHOOK = "group_channel:message_read"


class FakeStack:
    """The whole stack, in-process (`in_process`) or live (`mocks.live`): the same helpers either way."""

    def __init__(self, world: Driver, braze: FakeBraze, sendbird: FakeSendbird, bridge_url: str,
                 integration_token: str = INTEGRATION_TOKEN, event_name: str = EVENT_NAME,
                 bridge_app: Flask | None = None) -> None:
        self.world = world
        self.braze = braze
        self.sendbird = sendbird
        self.bridge_url = bridge_url
        self.integration_token = integration_token
        self.event_name = event_name
        self.bridge_app = bridge_app

    @classmethod
    def in_process(cls, world: World, router: Router, *, braze_key: str = DEFAULT_API_KEY,
                   braze_url: str = BRAZE_DEFAULT_URL, app_id: str = DEFAULT_APP_ID,
                   sendbird_token: str = DEFAULT_API_TOKEN, event_callback: bool = True,
                   event_name: str = EVENT_NAME, batch_linger_ms: int = 1000) -> FakeStack:
        braze = FakeBraze.in_process(world, router, braze_key, braze_url)
        sendbird = FakeSendbird.in_process(world, router, app_id, sendbird_token)
        bridge_app = create_bridge(world.runtime, sendbird_url=sendbird.url, sendbird_token=sendbird_token,
                                   braze_url=braze.url, braze_key=braze_key, db=":memory:",
                                   event_callback=event_callback, batch_linger_ms=batch_linger_ms)
        world.runtime.transport.register(BRIDGE_HOST, bridge_app)
        stack = cls(world, braze, sendbird, f"http://{BRIDGE_HOST}", event_name=event_name, bridge_app=bridge_app)
        stack.point_sendbird_at_bridge()
        return stack

    def point_sendbird_at_bridge(self) -> None:
        """Sendbird's read webhook to the bridge, as the integration's setup does."""
        self.sendbird.configure_webhooks(f"{self.bridge_url}/sendbird/webhooks", [READ_WEBHOOK])

    @property
    def bridge(self) -> Bridge:
        """The bridge's domain (in-process only)."""
        if self.bridge_app is None:
            raise MockError("a live bridge's domain is in its own process: read it over HTTP")
        return self.bridge_app.extensions["bridge"]

    # -- a Sendbird message in Braze --------------------------------------------------------------------
    def sendbird_webhook(self, template_key: str, variables: dict[str, str] | None = None,
                         endpoint: Literal["realtime", "batch"] = "realtime", tags: list[str] = (),
                         label: str | None = None,
                         receiver: Literal["external_id", "sendbird_id"] = "external_id") -> dict[str, Any]:
        """A campaign's or message step's `webhook`: Braze's Sendbird Webhook Template pointed at the bridge.
        `variables`: template variable -> Braze Liquid (`{"first_name": "{{${first_name}}}"}`). `receiver`: the
        Sendbird user is the Braze external id, or the profile's `sendbird_id` custom attribute."""
        return fill_sendbird_template(f"{self.bridge_url}/braze/notifications/{endpoint}", self.integration_token,
                                      template_key, self.event_name, variables or {}, list(tags), label,
                                      by_external_id=receiver == "external_id")

    def add_sendbird_campaign(self, name: str, template_key: str, variables: dict[str, str] | None = None,
                              endpoint: Literal["realtime", "batch"] = "realtime",
                              receiver: Literal["external_id", "sendbird_id"] = "external_id",
                              **definition: Any) -> str:
        """A Braze campaign whose message is a Sendbird notification; its id (`definition`: `trigger`, `audience`,
        `conversion_events`, ... as `FakeBraze.add_campaign` takes them)."""
        webhook = self.sendbird_webhook(template_key, variables, endpoint, receiver=receiver)
        return self.braze.add_campaign(name, webhook, **definition)

    @property
    def responses(self) -> responses.RequestsMock:
        """The `responses` mock routing the team's calls (in-process only): add stubs for other hosts to it."""
        return self.braze.responses

    def serve(self, host: str, app: Any) -> None:
        """The team's own WSGI app at `host` (in-process only): the fakes' webhooks and the team's calls reach it."""
        self.braze.serve(host, app)

    # -- the world ----------------------------------------------------------------------------------------
    def advance(self, duration: float | str) -> int:
        """Move the simulated clock (in-process; live, the clock is the wall's)."""
        return self._in_process().advance(duration)

    def run_until_idle(self) -> int:
        """Run everything pending, jumping the clock (in-process only)."""
        return self._in_process().run_until_idle()

    def _in_process(self) -> World:
        if not isinstance(self.world, World):
            raise MockError("a live stack runs on the wall clock: wait for what you expect (the assert_* helpers do)")
        return self.world

    def journal(self, kind: str | None = None, **attrs: Any) -> list[dict[str, Any]]:
        return self.world.journal(kind, **attrs)

    def notifications(self, user_id: str) -> list[Notification]:
        return self.sendbird.feed(user_id)

    def read(self, user_id: str, notification: Notification | None = None) -> Notification:
        return self.sendbird.read(user_id, notification)

    def open(self, user_id: str, notification: Notification | None = None) -> Notification:
        return self.sendbird.open(user_id, notification)

    def click(self, user_id: str, notification: Notification | None = None) -> Notification:
        return self.sendbird.click(user_id, notification)

    def status_events(self, external_id: str) -> list[Event]:
        """The `SENT` and `READ` events the bridge reported on the user's Braze profile, oldest first."""
        return self.braze.events(external_id, self.event_name)

    def assert_reported(self, external_id: str, status: Literal["SENT", "READ"],
                        notification: Notification | None = None) -> Event:
        """The user's `status` event at Braze (for `notification`, when given); else AssertionError naming the
        events the user has and the notifications they got."""
        __tracebackhide__ = True
        wanted = {"status": status}
        if notification is not None:
            wanted["notification_id"] = notification.notification_id
        try:
            return self.braze.assert_event(external_id, self.event_name, **wanted)
        except AssertionError as missing:
            got = "\n".join(f"  - {n.describe()}" for n in self.sendbird.feed(external_id)) or "  (nothing)"
            raise AssertionError(f"{missing}\ntheir Sendbird notifications:\n{got}") from None

    def report(self) -> dict[str, Any]:
        """The pipeline so far, read from the journal as `bsim run`'s report reads it: the funnel (webhooks,
        accepted, notifications, SENT events, reads, READ events) and the checks (lost, duplicated, failed)."""
        return pipeline_summary(self.world.journal())
