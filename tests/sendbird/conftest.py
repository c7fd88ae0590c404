"""Fixtures for the fake Sendbird tests: a simulated runtime, the app, its test client and helpers.

The contract under test is docs/sendbird-fake.md (plus /work/shared/reference/sendbird.md).
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project is not installed into the venv
    sys.path.insert(0, str(ROOT))

from harness.clock import to_ms  # noqa: E402
from harness.runtime import Runtime  # noqa: E402

TOKEN = "local-sendbird-token"
AUTH = {"Api-Token": TOKEN}
APP_ID = "LOCAL"
FEED = "notifications_feed"
HOOK_HOST = "hooks.local"
HOOK_URL = f"http://{HOOK_HOST}/hook"

UI_TEMPLATE = {
    "version": 1,
    "body": {
        "items": [
            {"type": "text", "text": "Hello {name}!"},
            {"type": "text", "text": "{name}, your code is {code}"},
            {"type": "button", "action": {"data": "https://example.com/{name}"}, "width": 3},
        ]
    },
}


def make_app(runtime: Runtime, webhook_url: str | None = None) -> Flask:
    from mocks.sendbird import create_app

    return create_app(runtime=runtime, app_id=APP_ID, api_token=TOKEN, webhook_url=webhook_url)


def assert_error(resp, status: int, code: int, *mentions: str) -> dict[str, Any]:
    """The response is `status` with exactly Sendbird's error body and `code`; the message names `mentions`."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    body = resp.get_json(silent=True)
    assert isinstance(body, dict), resp.get_data(as_text=True)
    assert set(body) == {"error", "code", "message"}, body
    assert body["error"] is True, body
    assert type(body["code"]) is int, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    for word in mentions:
        assert word in body["message"], (word, body)
    return body


def is_error_shape(body: Any) -> bool:
    return (isinstance(body, dict) and set(body) == {"error", "code", "message"} and body["error"] is True
            and type(body["code"]) is int and isinstance(body["message"], str))


def sign(body: bytes, token: str = TOKEN) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class Api:
    """Thin helpers over the Flask test client."""

    def __init__(self, client, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime

    # -- raw --------------------------------------------------------------------------------
    def get(self, path: str, **kw):
        kw.setdefault("headers", AUTH)
        return self.client.get(path, **kw)

    def post(self, path: str, json: Any = None, **kw):
        kw.setdefault("headers", AUTH)
        return self.client.post(path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw):
        kw.setdefault("headers", AUTH)
        return self.client.put(path, json=json, **kw)

    def settle(self) -> int:
        """Run every scheduled task (deliveries, webhooks) on the simulated clock."""
        return self.runtime.scheduler.run_until_idle()

    def now_ms(self) -> int:
        return to_ms(self.runtime.clock.now())

    # -- templates --------------------------------------------------------------------------
    def template_body(self, key: str = "welcome", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"key": key, "name": f"Template {key}", "ui_template": UI_TEMPLATE,
                                "variable_schema": [{"key": "name", "type": "string", "name": "Name"},
                                                    {"key": "code", "type": "string", "name": "Code"}]}
        body.update(fields)
        return body

    def create_template(self, key: str = "welcome", **fields: Any) -> dict[str, Any]:
        resp = self.post("/v1/templates", self.template_body(key, **fields))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    # -- send -------------------------------------------------------------------------------
    def send_body(self, targets: list[str], key: str = "welcome", mode: str | None = "realtime",
                  variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        template: dict[str, Any] = {"key": key}
        if variables is not None:
            template["variables"] = variables
        body: dict[str, Any] = {"template": template, "targets": targets}
        if mode is not None:
            body["mode"] = mode
        body.update(extra)
        return body

    def send(self, targets: list[str], key: str = "welcome", mode: str | None = "realtime",
             variables: dict[str, Any] | None = None, path: str = "/v1/notifications", headers=None,
             **extra: Any):
        return self.post(path, self.send_body(targets, key, mode, variables, **extra),
                         headers=headers or AUTH)

    def send_ok(self, targets: list[str], key: str = "welcome", mode: str | None = "realtime",
                variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        resp = self.send(targets, key, mode, variables, **extra)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        self.settle()
        return resp.get_json()

    # -- device -----------------------------------------------------------------------------
    def messages_resp(self, user_id: str | None, channel: str = FEED, **params: Any):
        """The product listing, as the Platform API calls it (`Api-Token`, `user_id` in the query)."""
        query = dict(params)
        if user_id is not None:
            query["user_id"] = user_id
        return self.get(f"/v3/group_channels/{channel}/messages", query_string=query)

    def messages(self, user_id: str, channel: str = FEED) -> list[dict[str, Any]]:
        """Every message of the user's feed, oldest first, in the harness's decoded view (`/_admin/feeds`)."""
        resp = self.client.get(f"/_admin/feeds/{user_id}/{channel}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["messages"]

    def login(self, user_id: str, **headers: str) -> dict[str, str]:
        """A device session for the user: the headers its SDK sends on every later call."""
        resp = self.client.post(f"/v3/sdk/users/{user_id}/authentication", json={"expiring_session": True},
                                headers=headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return {"Session-key": resp.get_json()["key"]}

    def unread(self, user_id: str) -> int:
        resp = self.get(f"/v3/notifications/users/{user_id}/unread_message_count")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["unread_feed_count"]

    def mark_as_read(self, user_id: str, channel: str = FEED, **fields: Any):
        return self.put(f"/v3/group_channels/{channel}/messages/mark_as_read", {"user_id": user_id, **fields})

    def stats(self, user_id: str, action: str, notification_ids: list[Any], channel: str = FEED, **data: Any):
        """The SDK's statistics for these notifications of the user, from a device session."""
        entries = [{"stat_type": "noti:stats", "ts": self.now_ms(),
                    "data": {"action": action, "channel_url": channel, "message_id": nid, "template_key": "welcome",
                             "tags": [], "source": "notification", "message_ts": 0, **data}}
                   for nid in notification_ids]
        return self.client.post("/v3/sdk/notification_statistics", json={"device_id": "d1", "log_entries": entries},
                                headers=self.login(user_id))

    def log(self, notification_id: str) -> dict[str, Any]:
        resp = self.get(f"/v1/notifications/{notification_id}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    # -- journal ----------------------------------------------------------------------------
    def records(self, kind: str, **filters: Any) -> list[dict[str, Any]]:
        records, _ = self.runtime.journal.read(kinds=[kind])
        out = [r.to_dict() for r in records]
        return [r for r in out if all(r.get(k) == v for k, v in filters.items())]


class HookReceiver:
    """A small Flask app on the simulated transport that records webhook calls.

    `fail_first` answers 500 to that many calls before answering 200.
    """

    def __init__(self, runtime: Runtime, fail_first: int = 0, status: int = 500) -> None:
        self.runtime = runtime
        self.fail_first = fail_first
        self.status = status
        self.calls: list[dict[str, Any]] = []
        self.app = Flask("hook-receiver")

        @self.app.post("/hook")
        def hook():
            raw = request.get_data()
            self.calls.append({"at": runtime.clock.now(), "headers": dict(request.headers), "raw": raw,
                               "json": request.get_json(silent=True, force=True)})
            if len(self.calls) <= self.fail_first:
                return {"ok": False}, self.status
            return {"ok": True}, 200

    def of(self, category: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if (c["json"] or {}).get("category") == category]

    @property
    def categories(self) -> list[str]:
        return [(c["json"] or {}).get("category") for c in self.calls]


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    rt = Runtime.simulation(seed=1)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return make_app(runtime)


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def service(app: Flask):
    return app.extensions["sendbird"]


@pytest.fixture
def api(client, runtime: Runtime) -> Api:
    return Api(client, runtime)


@pytest.fixture
def template(api: Api) -> dict[str, Any]:
    """A template `welcome` in the default feed channel, variables `name` and `code` (not required)."""
    return api.create_template("welcome", label="promo")


@pytest.fixture
def hooks(runtime: Runtime, api: Api) -> HookReceiver:
    """A webhook receiver on http://hooks.local/hook, configured for every event."""
    receiver = HookReceiver(runtime)
    runtime.transport.register(HOOK_HOST, receiver.app)
    resp = api.client.put("/_admin/webhooks", json={"url": HOOK_URL})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return receiver
