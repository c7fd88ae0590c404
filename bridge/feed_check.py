"""Did a send whose outcome the bridge never learnt reach Sendbird? Ask the receiver's feed.

Sendbird takes no idempotency key, so a send that was interrupted (the process died during it, or
something broke after the request left) may or may not have arrived, and sending it again on a guess
sends it twice. The feed answers one of three ways:

- DELIVERED: the feed holds a message of this template with these variables that no other webhook of
  the outbox claims; its notification id is the send's.
- ABSENT: Sendbird positively said it is not there: 200 with a feed that does not hold it, or 400201
  for the channel or the user (Sendbird has never delivered anything to them there).
- UNKNOWN: anything else (429, 5XX, another 4XX, a timeout, a connection error, an answer that cannot
  be read, a feed longer than one read). Only ABSENT may lead to a second send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.clients import CallResult, call
from harness.transport import Client

DELIVERED = "delivered"
ABSENT = "absent"
UNKNOWN = "unknown"
NOT_FOUND = 400201
FEED_PAGE = 200  # Sendbird's largest page
LOOKBACK_MS = 2000  # clock skew between the bridge and Sendbird's created_at


@dataclass(frozen=True)
class Verdict:
    outcome: str  # DELIVERED, ABSENT or UNKNOWN
    reason: str
    notification_id: str | None = None
    wait_seconds: float | None = None  # what Sendbird asked for (Retry-After, X-RateLimit-Reset)
    created_at_ms: int | None = None  # of the message found (DELIVERED), when the feed says


def channel_of(template: dict[str, Any]) -> str | None:
    """The feed channel a template's notifications land in, from `GET /v1/templates/{key}`."""
    channel = template.get("channel_url")
    return channel if isinstance(channel, str) and channel else None


def notifications_matching(messages: list[Any], template_key: str,
                           variables: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(notification id, created_at ms or None) of the feed messages sent with this template and these variables.

    The one place that reads the shape of Sendbird's message objects (`notification_message_id`, and the
    notification data as a JSON string in `extended_message.sub_data`): adapt it here when that changes."""
    found = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        data = _notification_data(message)
        notification_id = message.get("notification_message_id")
        if (data.get("template_key") == template_key and data.get("template_variables") == variables
                and isinstance(notification_id, str)):
            created_at = message.get("created_at")
            found.append((notification_id, created_at if isinstance(created_at, int)
                          and not isinstance(created_at, bool) else None))
    return found


def _notification_data(message: dict[str, Any]) -> dict[str, Any]:
    extended = message.get("extended_message")
    raw = extended.get("sub_data") if isinstance(extended, dict) and extended.get("sub_type") == 0 else None
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _unknown(result: CallResult, what: str) -> Verdict:
    return Verdict(UNKNOWN, f"{what}: {result.reason}", wait_seconds=result.wait_seconds)


def _proves_absence(result: CallResult) -> bool:
    """400201 for the channel or the user: Sendbird has never put a message there. (A 404 is an unknown
    route, not an unknown resource, so it proves nothing.)"""
    return result.status == 400 and result.body.get("code") == NOT_FOUND


class FeedCheck:
    def __init__(self, http: Client, sendbird_url: str, token: str, timeout: Any) -> None:
        self.http = http
        self.sendbird_url = sendbird_url
        self.headers = {"Api-Token": token}
        self.timeout = timeout
        self._channels: dict[str, str] = {}  # template key -> channel url; a template keeps its channel
        self._lock = threading.Lock()

    def channel(self, template_key: str, now: datetime) -> str | Verdict:
        """The channel of a template's notifications (cached: a template keeps its channel); else a verdict:
        ABSENT when Sendbird says the template does not exist, UNKNOWN when it could not tell."""
        with self._lock:
            channel = self._channels.get(template_key)
        if channel is not None:
            return channel
        result = call(self.http, "GET", f"{self.sendbird_url}/v1/templates/{template_key}", now, self.timeout,
                      (200,), headers=self.headers)
        if _proves_absence(result):
            return Verdict(ABSENT, f"looking up template {template_key!r}: {result.reason}")
        if not result.ok:
            return _unknown(result, f"looking up template {template_key!r}")
        channel = channel_of(result.body)
        if channel is None:
            return Verdict(UNKNOWN, f"template {template_key!r} names no channel_url")
        with self._lock:
            self._channels[template_key] = channel
        return channel

    def check(self, template_key: str, receiver: str, variables: dict[str, Any], since: float, now: datetime,
              claimed: Callable[[str], bool]) -> Verdict:
        """Look for the send begun at `since` (epoch seconds) in `receiver`'s feed. `claimed(id)` says
        whether another webhook already owns a notification (an identical earlier one is not this one)."""
        channel = self.channel(template_key, now)
        if isinstance(channel, Verdict):  # without the template's channel the feed cannot be read: no proof
            return Verdict(UNKNOWN, channel.reason, wait_seconds=channel.wait_seconds)
        since_ms = int(since * 1000) - LOOKBACK_MS
        result = call(self.http, "GET", f"{self.sendbird_url}/v3/group_channels/{channel}/messages", now,
                      self.timeout, (200,), headers=self.headers,
                      params={"user_id": receiver, "message_ts": since_ms, "prev_limit": 0, "next_limit": FEED_PAGE})
        if _proves_absence(result):
            return Verdict(ABSENT, f"Sendbird has no such feed: {result.reason}")
        if not result.ok:
            return _unknown(result, f"reading the feed of {receiver!r}")
        messages = result.body.get("messages")
        if not isinstance(messages, list):
            return Verdict(UNKNOWN, f"reading the feed of {receiver!r}: HTTP 200 without a list of messages")
        for notification_id, created_at in notifications_matching(messages, template_key, variables):
            if not claimed(notification_id):
                return Verdict(DELIVERED, f"found in the feed of {receiver!r}", notification_id,
                               created_at_ms=created_at)
        if len(messages) >= FEED_PAGE:
            return Verdict(UNKNOWN, f"reading the feed of {receiver!r}: {FEED_PAGE} or more messages since the "
                                    "attempt, more than one read can rule out")
        return Verdict(ABSENT, f"not in the feed of {receiver!r} since {since_ms} ms")
