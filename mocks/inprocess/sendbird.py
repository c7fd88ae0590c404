"""`FakeSendbird`: the fake Sendbird of a mock, as a test drives and reads it.

The team's code calls `https://api-{APP_ID}.notifications.sendbird.com` (the Notifications API) and
`https://api-{APP_ID}.sendbird.com` (the Chat Platform API, which `sendbird-platform-sdk` calls) with the
mock's API token. A test reads a user's feed as `Notification`s, each with its template's variables and the
template rendered with them (what the user's app shows), and acts as the user's device: `open`, `read` and
`click` go through the SDK's own routes (a login for a session key, the statistics batch, mark-as-read), so
a read moves the read receipt and fires the `group_channel:message_read` webhook exactly as the app's would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask

from harness.clock import from_ms, to_ms
from mocks.inprocess.fake import Fake
from mocks.inprocess.hosts import sendbird_hosts
from mocks.inprocess.routing import Router
from mocks.inprocess.world import HTTP, Driver, MockError, World
from mocks.sendbird.app import DEFAULT_API_TOKEN, DEFAULT_APP_ID, create_app
from mocks.sendbird.sdk_shapes import STATS_PATH, sdk_statistic
from mocks.sendbird.service import SendbirdService

FEED_CHANNEL = "notifications_feed"
ADMIN_HOST = "sendbird.local"  # the harness's name for the fake, where its /_admin answers (never at Sendbird's)


@dataclass(frozen=True)
class Notification:
    """One notification in a user's feed."""

    notification_id: str
    template_key: str
    variables: dict[str, Any]
    rendered: dict[str, Any]  # the template's UI JSON with the variables filled in, as the app renders it
    created_at: datetime
    read_at: datetime | None
    channel_url: str
    user_id: str
    message_id: int
    label: str | None
    tags: list[str]
    raw: dict[str, Any]  # the fake's whole view of the message

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @classmethod
    def of(cls, message: dict[str, Any]) -> Notification:
        data = message["notification_data"]
        return cls(message["notification_id"], data["template_key"], data["template_variables"],
                   message["rendered_template"], from_ms(message["created_at"]),
                   from_ms(message["read_at"]) if message["read_at"] is not None else None,
                   message["channel_url"], message["user_id"], message["message_id"], data.get("label"),
                   data.get("tags") or [], message)

    def describe(self) -> str:
        state = f"read {self.read_at.isoformat()}" if self.read_at else "unread"
        return f"{self.template_key} {self.variables} -> {self.rendered} ({state}, {self.notification_id})"


class FakeSendbird(Fake):
    """The fake Sendbird, in-process (`in_process`) or a live server (`mocks.live`): the same helpers over HTTP."""

    service_name = "sendbird"

    def __init__(self, world: Driver, http: HTTP, base: str, app_id: str, api_token: str, url: str, chat_url: str,
                 router: Router | None = None, app: Flask | None = None) -> None:
        super().__init__(world, router, {(urlsplit(u).hostname or "").lower() for u in (url, chat_url)})
        self.app_id = app_id
        self.api_token = api_token
        self.url = url  # the Notifications API, where the team's code calls it
        self.chat_url = chat_url  # the Chat Platform API and the SDK's host
        self.app = app
        self._http = http
        self._internal = base  # where the helpers call it
        self._devices: dict[str, Device] = {}

    @classmethod
    def in_process(cls, world: World, router: Router, app_id: str = DEFAULT_APP_ID,
                   api_token: str = DEFAULT_API_TOKEN) -> FakeSendbird:
        app = create_app(world.runtime, app_id=app_id, api_token=api_token)
        notifications_host, chat_host = sendbird_hosts(app_id)
        transport = world.runtime.transport
        for host in (notifications_host, chat_host):
            transport.register(host, app, public=True)
        transport.register(ADMIN_HOST, app)
        router.intercept(notifications_host, chat_host)
        return cls(world, transport.client(), f"http://{ADMIN_HOST}", app_id, api_token, f"https://{notifications_host}",
                   f"https://{chat_host}", router, app)

    @property
    def service(self) -> SendbirdService:
        """The fake's domain, for what the helpers here do not show (in-process only)."""
        if self.app is None:
            raise MockError("a live fake's domain is in its own process: read it over HTTP")
        return self.app.extensions["sendbird"]

    @property
    def headers(self) -> dict[str, str]:
        """What the team's code sends on every Platform or Notifications API call."""
        return {"Api-Token": self.api_token, "Content-Type": "application/json"}

    # -- what Sendbird's dashboard makes -------------------------------------------------------------
    def add_template(self, key: str, ui_template: dict[str, Any], name: str | None = None,
                     variable_schema: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
        """A notification template, through the Notifications API (`POST /v1/templates`), so a template Sendbird
        would refuse is refused here. `ui_template`: `{"title": "Welcome, {first_name}!", "body": ...}`."""
        body = {"key": key, "name": name or key, "ui_template": ui_template,
                "variable_schema": variable_schema or [], **fields}
        return self.call("POST", "/v1/templates", body, expect=200)

    def configure_webhooks(self, url: str, events: list[str]) -> None:
        """Where Sendbird posts its webhooks (the dashboard's Settings > Chat > Webhooks)."""
        self.call("PUT", "/_admin/webhooks", {"url": url, "events": events})

    def call(self, method: str, path: str, body: Any = None, expect: int = 200,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        """One API call for the test's own setup (kept out of `calls`), with the API token unless `headers` say
        otherwise; its JSON answer, or MockError with the fake's reason."""
        with self.world.serving():
            response = self._http.request(method, self._internal + path, json=body,
                                          headers=headers if headers is not None else self.headers)
        answer = response.json() if response.content else {}
        if response.status_code != expect:
            raise MockError(f"the fake Sendbird refused {method} {path} ({response.status_code}): "
                            f"{answer.get('message', response.text)} (code {answer.get('code')})")
        return answer

    # -- what happened --------------------------------------------------------------------------------
    def feed(self, user_id: str, channel_url: str = FEED_CHANNEL) -> list[Notification]:
        """The user's notifications, oldest first (none for a user Sendbird has never seen)."""
        with self.world.serving():
            response = self._http.get(f"{self._internal}/_admin/feeds/{quote(user_id, safe='')}/"
                                      f"{quote(channel_url, safe='')}")
        if response.status_code != 200:
            return []
        return [Notification.of(message) for message in response.json()["messages"]]

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user as the Platform API's `GET /v3/users/{user_id}` shows it, or None."""
        with self.world.serving():
            response = self._http.get(f"{self._internal}/v3/users/{quote(user_id, safe='')}", headers=self.headers)
        return response.json() if response.status_code == 200 else None

    def assert_notified(self, user_id: str, template_key: str | None = None, **variables: Any) -> Notification:
        """The user's newest notification of `template_key` (any template when None) whose variables include
        `variables`; else AssertionError listing what the user got, with each one's variables and rendering."""
        __tracebackhide__ = True

        def found() -> Notification:
            __tracebackhide__ = True
            feed = self.feed(user_id)
            for notification in reversed(feed):
                if template_key is not None and notification.template_key != template_key:
                    continue
                if all(notification.variables.get(k) == v for k, v in variables.items()):
                    return notification
            wanted = " ".join(filter(None, [template_key or "any template",
                                            f"with {variables}" if variables else ""]))
            got = "\n".join(f"  - {n.describe()}" for n in feed) or "  (nothing)"
            raise AssertionError(f"Sendbird user {user_id!r} got no notification {wanted}; they got:\n{got}")

        return self.world.poll(found)

    def assert_not_notified(self, user_id: str, template_key: str | None = None) -> None:
        """AssertionError listing them when the user has any notification (of `template_key`, when given)."""
        __tracebackhide__ = True
        feed = [n for n in self.feed(user_id) if template_key is None or n.template_key == template_key]
        if feed:
            got = "\n".join(f"  - {n.describe()}" for n in feed)
            raise AssertionError(f"Sendbird user {user_id!r} was not to get {template_key or 'any notification'}; "
                                 f"they got:\n{got}")

    # -- the user's device ----------------------------------------------------------------------------
    def device(self, user_id: str) -> Device:
        """The user's app, logged in on its first action."""
        if user_id not in self._devices:
            self._devices[user_id] = Device(self, user_id)
        return self._devices[user_id]

    def open(self, user_id: str, notification: Notification | None = None) -> Notification:
        return self.device(user_id).open(notification)

    def read(self, user_id: str, notification: Notification | None = None) -> Notification:
        return self.device(user_id).read(notification)

    def click(self, user_id: str, notification: Notification | None = None) -> Notification:
        return self.device(user_id).click(notification)


class Device:
    """One user's app with Sendbird's SDK: what it logs and marks goes through the SDK's routes, with its session
    key. An action without a notification acts on the user's newest one."""

    def __init__(self, sendbird: FakeSendbird, user_id: str) -> None:
        self.sendbird = sendbird
        self.user_id = user_id
        self._session: str | None = None

    def _pick(self, notification: Notification | None) -> Notification:
        if notification is not None:
            return notification
        feed = self.sendbird.feed(self.user_id)
        if not feed:
            raise MockError(f"Sendbird user {self.user_id!r} has no notification to act on")
        return feed[-1]

    def _sdk(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            login = self.sendbird.call("POST", f"/v3/sdk/users/{quote(self.user_id, safe='')}/authentication",
                                       {"expiring_session": True}, headers={})
            self._session = login["key"]
        return self.sendbird.call(method, path, body, headers={"Session-Key": self._session})

    def _stat(self, notification: Notification, action: str) -> None:
        now = to_ms(self.sendbird.world.now)
        self._sdk("POST", STATS_PATH, sdk_statistic(notification.raw, f"mock-{self.user_id}", now, action))

    def open(self, notification: Notification | None = None) -> Notification:
        """The notification shown on screen: the SDK's `logImpression` (a `viewed` statistic)."""
        notification = self._pick(notification)
        self._stat(notification, "viewed")
        return notification

    def read(self, notification: Notification | None = None) -> Notification:
        """Shown and marked read (`markAsReadBy`): the read webhook fires, and through the bridge a READ event."""
        notification = self.open(notification)
        channel = quote(notification.channel_url, safe="")
        self._sdk("PUT", f"/v3/group_channels/{channel}/messages/mark_as_read",
                  {"message_ids": [notification.notification_id]})
        return notification

    def click(self, notification: Notification | None = None) -> Notification:
        """Read, then tapped (`markAsClicked`, a `clicked` statistic)."""
        notification = self.read(notification)
        self._stat(notification, "clicked")
        return notification
