"""A user's inbox as their phone shows it, and the device the console lends them.

The feed comes from the fake Sendbird's admin view (`/_admin/feeds/{user}/{channel}`): each message with its
template already rendered. A template's UI JSON is free-form in the fake (the scenarios use flat
`{"title", "body", "cta"}`), and Sendbird's own message templates nest `body.items` of `Text`, `Image` and
`*Button` items; a card takes its title, body, image and buttons from either. Images and links show only for
http(s) URLs: a `javascript:` URL from a template variable must not become a live link.

The device acts through the fake Sendbird's device API exactly as `simulator/devices.py` does (login for a
session key, the SDK's statistics batch, mark-as-read by notification id), so what the console does is what
an app would do and the bridge turns it into the same READ event at Braze. Session keys are kept per
Sendbird user for the console's life, and renewed once when the fake forgot them (a reset: 400309).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mocks.sendbird.sdk_shapes import STATS_PATH, sdk_statistic
from simulator.console.stack_client import StackClient, StackError

CHANNEL = "notifications_feed"
FEED_READ = 1000  # newest messages read per inbox: the badge counts the unread among them
FEED_SHOWN = 50  # newest messages drawn on the phone
NOT_FOUND = 400201  # Sendbird: no such user or channel (a user nothing was sent to yet)
SESSION_EXPIRED = 400309
ACTIONS = ("view", "open", "click")
IMAGE_KEYS = ("image", "image_url", "imageUrl", "thumbnail")
TEXT_KEYS = ("title", "body")


def web_url(value: Any) -> str | None:
    """`value` if it is an http(s) URL a card may link or load, else None."""
    if isinstance(value, str) and value.strip().lower().startswith(("https://", "http://")):
        return value.strip()
    return None


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


@dataclass
class Card:
    """One notification as the phone draws it."""

    message_id: int
    notification_id: str
    channel_url: str
    template_key: str | None
    created_at: str
    read_at: str | None
    title: str = ""
    body: list[str] = field(default_factory=list)
    image: str | None = None
    buttons: list[dict[str, str | None]] = field(default_factory=list)  # {"label", "url"}
    message: dict[str, Any] = field(default_factory=dict, repr=False)  # the feed message, for the device

    @property
    def unread(self) -> bool:
        return self.read_at is None


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, int):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _button(label: Any, url: Any) -> dict[str, str | None]:
    return {"label": as_text(label) or "Open", "url": web_url(url)}


def _flat(card: Card, rendered: dict[str, Any]) -> None:
    """The fake's flat UI JSON: title, body, an image key, `buttons` and/or a `cta`."""
    card.title = as_text(rendered.get("title"))
    if rendered.get("body") not in (None, ""):
        card.body.append(as_text(rendered["body"]))
    card.image = next((url for key in IMAGE_KEYS if (url := web_url(rendered.get(key)))), None)
    buttons = rendered.get("buttons")
    for button in buttons if isinstance(buttons, list) else []:
        if isinstance(button, dict):
            card.buttons.append(_button(button.get("label") or button.get("text") or button.get("title"),
                                        button.get("url") or button.get("link")))
        else:
            card.buttons.append(_button(button, None))
    if rendered.get("cta") not in (None, ""):
        card.buttons.append(_button(rendered["cta"], rendered.get("cta_url") or rendered.get("url")))


def _items(card: Card, items: list[Any]) -> None:
    """Sendbird's message template items, depth first: the first text is the title."""
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type") or "")
        if kind == "Text":
            text = as_text(item.get("text"))
            if not card.title:
                card.title = text
            elif text:
                card.body.append(text)
        elif kind == "Image" and card.image is None:
            card.image = web_url(item.get("imageUrl"))
        elif kind.endswith("Button"):
            action = item.get("action") if isinstance(item.get("action"), dict) else {}
            card.buttons.append(_button(item.get("text"), action.get("data")))
        if isinstance(item.get("items"), list):
            _items(card, item["items"])


def card_of(message: dict[str, Any]) -> Card:
    data = message.get("notification_data") or {}
    card = Card(message_id=message["message_id"], notification_id=as_text(message.get("notification_id")),
                channel_url=as_text(message.get("channel_url")) or CHANNEL, template_key=data.get("template_key"),
                created_at=_iso(message.get("created_at")) or "", read_at=_iso(message.get("read_at")),
                message=message)
    rendered = message.get("rendered_template")
    if isinstance(rendered, dict):
        body = rendered.get("body")
        if isinstance(body, dict) and isinstance(body.get("items"), list):
            _items(card, body["items"])
        else:
            _flat(card, rendered)
    return card


@dataclass
class Inbox:
    sendbird_id: str
    cards: list[Card]  # newest first, at most FEED_SHOWN
    unread: int  # among the newest FEED_READ
    total: int
    error: str | None = None  # the feed could not be read: why


def _sendbird_code(exc: StackError) -> Any:
    return exc.body.get("code") if isinstance(exc.body, dict) else None


def _feed(stack: StackClient, sendbird_id: str) -> list[dict[str, Any]]:
    """The newest FEED_READ messages of the user's feed, oldest first; none for a user Sendbird has not heard
    of yet (nothing was sent to them and they never logged in)."""
    try:
        feed = stack.admin("sendbird", "GET", stack.path("feeds", sendbird_id, CHANNEL), params={"limit": FEED_READ})
    except StackError as exc:
        if _sendbird_code(exc) == NOT_FOUND:
            return []
        raise
    return feed.get("messages") or []


def read_inbox(stack: StackClient, sendbird_id: str) -> Inbox:
    """The user's notifications, newest first, or why they could not be read (the profile beside still shows)."""
    try:
        messages = list(reversed(_feed(stack, sendbird_id)))
    except StackError as exc:
        return Inbox(sendbird_id, [], 0, 0, error=str(exc))
    unread = sum(1 for m in messages if m.get("read_at") is None)
    return Inbox(sendbird_id, [card_of(m) for m in messages[:FEED_SHOWN]], unread, len(messages))


def find_card(stack: StackClient, sendbird_id: str, message_id: int) -> Card | None:
    return next((card_of(m) for m in _feed(stack, sendbird_id) if m.get("message_id") == message_id), None)


class Device:
    """The phone the console lends every user: one session key per Sendbird user, kept in memory."""

    def __init__(self, stack: StackClient) -> None:
        self.stack = stack
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()  # the console serves on several threads

    def act(self, sendbird_id: str, card: Card, action: str) -> dict[str, Any]:
        """Do `action` (view, open, click) on a notification as the app would; Sendbird's answer."""
        if action == "open":
            return self._call(sendbird_id, "PUT", self.stack.path("v3", "group_channels", card.channel_url)
                              + "/messages/mark_as_read", {"message_ids": [card.notification_id]})
        # no `ts`: the console's clock is not a sped-up stack's
        stat = sdk_statistic(card.message, f"console-{sendbird_id}", None, "viewed" if action == "view" else "clicked")
        return self._call(sendbird_id, "POST", STATS_PATH, stat)

    def _call(self, sendbird_id: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        def send(key: str) -> dict[str, Any]:
            return self.stack.call("sendbird", method, path, json=body, headers={"Session-Key": key}).body

        try:
            return send(self._session(sendbird_id, fresh=False))
        except StackError as exc:
            if _sendbird_code(exc) != SESSION_EXPIRED:
                raise
        return send(self._session(sendbird_id, fresh=True))

    def _session(self, sendbird_id: str, fresh: bool) -> str:
        """The user's session key, logging in the first time (as the app's `authenticateFeed` does)."""
        with self._lock:
            key = None if fresh else self._keys.get(sendbird_id)
        if key is None:
            answer = self.stack.call("sendbird", "POST", self.stack.path("v3", "sdk", "users", sendbird_id,
                                                                         "authentication"),
                                     json={"expiring_session": True}).body
            key = answer["key"]
            with self._lock:
                self._keys[sendbird_id] = key
        return key
