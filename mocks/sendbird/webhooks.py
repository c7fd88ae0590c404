"""Sendbird's outgoing webhooks: signed with the API token, delivered on the scheduler.

Like Chat webhooks: a 5-second timeout and up to 3 tries; any non-2xx answer or connection error
counts as a failure. Every attempt is a journal record, so a test can see the retry schedule.
The URL obeys the service's outbound policy (`harness.outbound`): refused where it is configured
(ValueError, a 400 on `PUT /_admin/webhooks`), and asked again on every connection, where a refusal is
a failed attempt with the reason and no retry (the same call would be refused again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import requests

from harness.outbound import OutboundRefused
from harness.runtime import Runtime
from harness.scheduler import TaskGroup

EVENTS = (
    "notification:send_realtime",
    "notification:send_batch",
    "notification:template_create",
    "notification:template_edit",
    "notification:template_archive",
    "notification:template_unarchive",
    "group_channel:message_read",
)
TIMEOUT_SECONDS = 5.0
RETRY_DELAYS = (1.0, 5.0)  # before the 2nd and 3rd try


def message_read_payload(app_id: str, channel_url: str, user_id: str, read_ts: int, channel_unread: int,
                         total_unread: int) -> dict[str, Any]:
    """A `group_channel:message_read` webhook's body (without `category`, which `emit` adds), in Sendbird's chat
    webhook shape: Chat Platform API v3, "Webhook events: group channel"
    (https://sendbird.com/docs/chat/platform-api/v3/webhook/events/group-channel), whose example is
    `{"category", "members": [{...}], "channel": {"name", "channel_url", "custom_type", "is_distinct", "is_public",
    "is_super", "is_ephemeral", "is_discoverable", "data"}, "read_updates": [{"user_id", "read_ts",
    "channel_unread_message_count", "total_unread_message_count"}], "app_id"}`.

    It names the reader and the read receipt, never messages. A feed channel's one member is its user; the fake
    has no nicknames or presence, so those fields hold Sendbird's empty values."""
    member = {"user_id": user_id, "nickname": "", "profile_url": "", "is_active": True, "is_online": False,
              "is_hidden": 0, "state": "joined", "unread_message_count": channel_unread,
              "total_unread_message_count": total_unread, "channel_unread_message_count": channel_unread,
              "channel_mention_count": 0, "push_enabled": False, "push_trigger_option": "default",
              "do_not_disturb": False, "metadata": {}}
    channel = {"name": channel_url, "channel_url": channel_url, "custom_type": "", "is_distinct": False,
               "is_public": False, "is_super": False, "is_ephemeral": False, "is_discoverable": False, "data": ""}
    update = {"user_id": user_id, "read_ts": read_ts, "channel_unread_message_count": channel_unread,
              "total_unread_message_count": total_unread}
    return {"members": [member], "channel": channel, "read_updates": [update], "app_id": app_id}


def signature(api_token: str, body: bytes) -> str:
    return hmac.new(api_token.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookConfig:
    url: str | None = None
    events: set[str] = field(default_factory=lambda: set(EVENTS))

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "events": sorted(self.events), "enabled": self.url is not None}


class WebhookDispatcher:
    def __init__(self, runtime: Runtime, api_token: str, url: str | None = None) -> None:
        self.runtime = runtime
        self.api_token = api_token
        self.config = WebhookConfig(self._checked(url))
        self.tasks = TaskGroup(runtime.scheduler)
        self._http = runtime.transport.client(timeout=TIMEOUT_SECONDS)

    def _checked(self, url: str | None) -> str | None:
        """The URL normalised; ValueError when it is not one or the outbound policy refuses its host."""
        return None if url is None else self.runtime.transport.check_url(url)

    def configure(self, url: str | None, events: list[str] | None) -> None:
        unknown = set(events or ()) - set(EVENTS)
        if unknown:
            raise ValueError(f"unknown webhook events: {', '.join(sorted(unknown))}")
        self.config = WebhookConfig(self._checked(url), set(events) if events is not None else set(EVENTS))

    def wants(self, category: str) -> bool:
        return self.config.url is not None and category in self.config.events

    def emit(self, category: str, payload: dict[str, Any], trace_id: str | None = None) -> None:
        """Queue a webhook when one is configured for `category`."""
        if not self.wants(category):
            return
        body = json.dumps({"category": category, **payload}, separators=(",", ":")).encode("utf-8")
        self.tasks.soon(self._attempt, self.config.url, category, body, trace_id, 1, name="sendbird.webhook")

    def _attempt(self, url: str, category: str, body: bytes, trace_id: str | None, attempt: int) -> None:
        headers = {"user-agent": "SendBird", "content-type": "application/json",
                   "x-sendbird-signature": signature(self.api_token, body)}
        if trace_id:
            headers["x-trace-id"] = trace_id
        outcome: dict[str, Any]
        retriable = True
        try:
            response = self._http.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
            ok = 200 <= response.status_code < 300
            outcome = {"status": response.status_code}
        except OutboundRefused as exc:
            ok, retriable = False, False
            outcome = {"error": type(exc).__name__, "reason": str(exc)}
        except requests.RequestException as exc:
            ok = False
            outcome = {"error": type(exc).__name__}
        self.runtime.journal.record("sendbird", "webhook.attempt", trace_id, category=category, url=url,
                                    attempt=attempt, ok=ok, **outcome)
        if not ok and retriable and attempt <= len(RETRY_DELAYS):
            self.tasks.after(RETRY_DELAYS[attempt - 1], self._attempt, url, category, body, trace_id, attempt + 1,
                             name="sendbird.webhook.retry")

    def export(self) -> dict[str, Any]:
        """The configuration and the deliveries not yet made (each try still to come, with its due time), so a
        restored fake makes them: a webhook accepted into the queue is not lost with the process."""
        pending = [{"when": h.when, "url": h.args[0], "category": h.args[1], "body": h.args[2],
                    "trace_id": h.args[3], "attempt": h.args[4]}
                   for h in self.tasks.pending() if getattr(h.fn, "__func__", None) is WebhookDispatcher._attempt]
        return {"url": self.config.url, "events": sorted(self.config.events), "pending": pending}

    def build(self, state: dict[str, Any]) -> dict[str, Any]:
        """A snapshot's webhook state checked (ValueError: unknown events, or a URL this service's outbound
        policy refuses), ready for `replace`."""
        events = state["events"]
        unknown = set(events) - set(EVENTS)
        if unknown:
            raise ValueError(f"unknown webhook events: {', '.join(sorted(unknown))}")
        pending = []
        for item in state["pending"]:
            if not isinstance(item["body"], bytes) or not isinstance(item["attempt"], int):
                raise ValueError("a pending webhook delivery is not one")
            pending.append((item["when"], item["url"], item["category"], item["body"], item["trace_id"],
                            item["attempt"]))
        return {"config": WebhookConfig(self._checked(state["url"]), set(events)), "pending": pending}

    def replace(self, built: dict[str, Any]) -> None:
        """Take the built configuration and schedule its deliveries again, each at its due time (at once when
        that has passed)."""
        self.tasks.cancel_all()
        self.config = built["config"]
        for when, url, category, body, trace_id, attempt in built["pending"]:
            self.tasks.at(when, self._attempt, url, category, body, trace_id, attempt, name="sendbird.webhook")

    def reset(self) -> None:
        self.tasks.cancel_all()
