"""Feed channels, their users' notification messages, read state and delivery subscriptions.

Devices learn of new messages by push, as the SDK does: in-process subscribers (simulated mode)
or server-sent event streams (live mode) are told of each delivery; nobody polls every user.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mocks.sendbird.errors import not_found
from mocks.sendbird.templates import TemplateVersion

log = logging.getLogger(__name__)

SENT = "SENT"
READ = "READ"


class Message:
    __slots__ = ("channel_url", "created_at", "label", "message_id", "notification_id", "read_at", "status",
                 "tags", "template", "trace_id", "user_id", "variables")

    def __init__(self, message_id: int, created_at: int, channel_url: str, user_id: str, notification_id: str,
                 template: TemplateVersion, variables: dict[str, Any], label: str | None, tags: list[str],
                 trace_id: str) -> None:
        self.message_id = message_id
        self.created_at = created_at
        self.channel_url = channel_url
        self.user_id = user_id
        self.notification_id = notification_id
        self.template = template
        self.variables = variables
        self.label = label
        self.tags = tags
        self.trace_id = trace_id
        self.status = SENT
        self.read_at: int | None = None

    def as_tuple(self) -> tuple:
        """The message's fields, its read state as of now (the template version, variables and tags are never
        changed after a send, so they are shared): what a snapshot keeps."""
        return (self.message_id, self.created_at, self.channel_url, self.user_id, self.notification_id, self.template,
                self.variables, self.label, self.tags, self.trace_id, self.status, self.read_at)

    @classmethod
    def from_tuple(cls, row: tuple) -> Message:
        (message_id, created_at, channel_url, user_id, notification_id, template, variables, label, tags, trace_id,
         status, read_at) = row
        if not isinstance(template, TemplateVersion) or type(message_id) is not int or status not in (SENT, READ):
            raise ValueError("a feed holds something that is not a message")
        msg = cls(message_id, created_at, channel_url, user_id, notification_id, template, variables, label, tags,
                  trace_id)
        msg.status, msg.read_at = status, read_at
        return msg

    def notification_data(self) -> dict[str, Any]:
        return {"template_key": self.template.key, "template_variables": self.variables, "label": self.label,
                "tags": self.tags}

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id, "type": "MESG", "created_at": self.created_at,
            "message_status": self.status, "channel_url": self.channel_url, "channel_type": "feed",
            "user_id": self.user_id, "notification_id": self.notification_id,
            "notification_data": self.notification_data(), "rendered_template": self.template.render(self.variables),
            "read_at": self.read_at,
        }


@dataclass
class Channel:
    channel_url: str
    created_at: int


@dataclass
class User:
    user_id: str
    created_at: int
    feeds: dict[str, list[Message]] = field(default_factory=dict)
    unread: dict[str, int] = field(default_factory=dict)


Subscriber = Callable[[Message], None]
ReadSubscriber = Callable[[str, str, int], None]  # (user_id, channel_url, read time in ms)


@dataclass
class FeedPage:
    """The messages around an anchor, oldest first on each side, and whether more lie beyond either end."""

    older: list[Message]
    newer: list[Message]
    more_older: bool
    more_newer: bool


class FeedStore:
    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.messages: dict[int, Message] = {}
        self._subscribers: list[Subscriber] = []
        self._user_subscribers: dict[str, list[Subscriber]] = {}
        self._read_subscribers: dict[str, list[ReadSubscriber]] = {}
        self._behind_receipt: dict[tuple[str, str], int] = {}  # (user, channel) -> messages behind its read receipt
        self._lock = threading.RLock()

    # -- channels and users -------------------------------------------------------------------
    def ensure_channel(self, channel_url: str, now_ms: int) -> Channel:
        with self._lock:
            channel = self.channels.get(channel_url)
            if channel is None:
                channel = self.channels[channel_url] = Channel(channel_url, now_ms)
            return channel

    def channel(self, channel_url: str) -> Channel:
        channel = self.channels.get(channel_url)
        if channel is None:
            raise not_found(f"channel {channel_url}")
        return channel

    def ensure_user(self, user_id: str, now_ms: int) -> None:
        """A user with an empty feed (logged in or created before anything was sent to them)."""
        with self._lock:
            if user_id not in self.users:
                self.users[user_id] = User(user_id, now_ms)

    def remove_user(self, user_id: str) -> None:
        with self._lock:
            user = self.users.pop(user_id, None)
            for feed in user.feeds.values() if user else ():
                for msg in feed:
                    self.messages.pop(msg.message_id, None)

    def user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise not_found(f"user {user_id}")
        return user

    # -- delivery -----------------------------------------------------------------------------
    def deliver(self, messages: Iterable[Message], now_ms: int) -> list[Message]:
        """Append messages to their users' feeds (creating users), then notify subscribers."""
        delivered = []
        with self._lock:
            for msg in messages:
                user = self.users.get(msg.user_id)
                if user is None:
                    user = self.users[msg.user_id] = User(msg.user_id, now_ms)
                feed = user.feeds.get(msg.channel_url)
                if feed is None:
                    feed = user.feeds[msg.channel_url] = []
                feed.append(msg)
                user.unread[msg.channel_url] = user.unread.get(msg.channel_url, 0) + 1
                self.messages[msg.message_id] = msg
                delivered.append(msg)
            everyone = tuple(self._subscribers)
            per_user = {msg.user_id: tuple(self._user_subscribers.get(msg.user_id, ())) for msg in delivered}
        for msg in delivered:
            for callback in (*everyone, *per_user[msg.user_id]):
                try:
                    callback(msg)
                except Exception:  # a broken device must not fail the send: it is already stored
                    log.exception("delivery subscriber failed")
        return delivered

    def subscribe(self, callback: Subscriber, user_id: str | None = None) -> Callable[[], None]:
        """Push each new message (for one user, or for everyone) to `callback`; returns unsubscribe."""
        with self._lock:
            target = self._subscribers if user_id is None else self._user_subscribers.setdefault(user_id, [])
            target.append(callback)
        return self._unsubscriber(target, callback)

    def subscribe_reads(self, callback: ReadSubscriber, user_id: str) -> Callable[[], None]:
        """Tell `callback(user_id, channel_url, ts_ms)` of each whole-channel read by `user_id` (how the
        user's other devices learn of it); returns unsubscribe. A read of chosen messages is not told: the
        SDK zeroes a channel's unread count on any read event, which would be wrong for a partial read."""
        with self._lock:
            target = self._read_subscribers.setdefault(user_id, [])
            target.append(callback)
        return self._unsubscriber(target, callback)

    def _unsubscriber(self, target: list[Any], callback: Any) -> Callable[[], None]:
        def unsubscribe() -> None:
            with self._lock:
                if callback in target:
                    target.remove(callback)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        """Live subscriptions to every delivery (device hubs following the stream)."""
        return len(self._subscribers)

    # -- reading ------------------------------------------------------------------------------
    def list_messages(self, channel_url: str, user_id: str, message_ts: int, prev_limit: int,
                      next_limit: int, include: bool = True, anchor_id: int | None = None) -> FeedPage:
        """Sendbird's window around an anchor: up to `prev_limit` messages before it and `next_limit` after.
        The anchor is a time (`message_ts`: messages at that time count as before it when `include`, else are
        left out) or, with `anchor_id`, that message of the feed (returned itself when `include`, on top of
        the limits)."""
        self.channel(channel_url)
        with self._lock:
            feed = self.user(user_id).feeds.get(channel_url, [])
            if anchor_id is not None:
                at = next((i for i, m in enumerate(feed) if m.message_id == anchor_id), None)
                if at is None:
                    raise not_found(f"message {anchor_id}")
                start, stop = max(0, at - prev_limit), min(len(feed), at + 1 + next_limit)
                older = feed[start:at + 1] if include else feed[start:at]  # the anchor is on top of the limits
                return FeedPage(older, feed[at + 1:stop], start > 0, stop < len(feed))
            after = bisect.bisect_right(feed, message_ts, key=lambda m: m.created_at)
            cut = after if include else bisect.bisect_left(feed, message_ts, key=lambda m: m.created_at)
            start, stop = max(0, cut - prev_limit), min(len(feed), after + next_limit)
            return FeedPage(feed[start:cut], feed[after:stop], start > 0, stop < len(feed))

    def between(self, channel_url: str, user_id: str, low_ms: int, high_ms: int, limit: int) -> tuple[list[Message],
                                                                                                   bool]:
        """The user's messages created in [low_ms, high_ms], oldest first, at most `limit`; and whether more
        lie in the range."""
        self.channel(channel_url)
        with self._lock:
            feed = self.user(user_id).feeds.get(channel_url, [])
            start = bisect.bisect_left(feed, low_ms, key=lambda m: m.created_at)
            stop = bisect.bisect_right(feed, high_ms, key=lambda m: m.created_at)
            return feed[start:min(stop, start + limit)], stop - start > limit

    def newest(self, user_id: str, channel_url: str) -> Message | None:
        user = self.users.get(user_id)
        feed = user.feeds.get(channel_url) if user else None
        return feed[-1] if feed else None

    def unread_count_or_zero(self, user_id: str, channel_url: str) -> int:
        user = self.users.get(user_id)
        return user.unread.get(channel_url, 0) if user else 0

    def by_notification_ids(self, channel_url: str, user_id: str, notification_ids: list[str]) -> list[Message]:
        """The user's messages of these sends in the channel, as the SDK names them (`notification_message_id`)."""
        self.channel(channel_url)
        with self._lock:
            feed = {m.notification_id: m for m in self.user(user_id).feeds.get(channel_url, [])}
        found = []
        for notification_id in notification_ids:
            msg = feed.get(notification_id)
            if msg is None:
                raise not_found(f"message {notification_id}")
            found.append(msg)
        return found

    def unread_count(self, user_id: str, channel_url: str | None = None) -> int:
        with self._lock:
            user = self.user(user_id)
            if channel_url is not None:
                return user.unread.get(channel_url, 0)
            return sum(user.unread.values())

    def mark_as_read(self, channel_url: str, user_id: str, now_ms: int, message_ids: list[int] | None = None,
                     timestamp: int | None = None) -> list[Message]:
        """Mark messages READ; returns only those that changed (each message is read once). A whole-channel
        read (no `message_ids`) is told to the user's read subscribers, changed or not, as Sendbird tells it."""
        self.channel(channel_url)
        with self._lock:
            user = self.user(user_id)
            feed = user.feeds.get(channel_url, [])
            if message_ids is not None:
                chosen = self.find(channel_url, user_id, message_ids)
            elif timestamp is not None:
                chosen = feed[:bisect.bisect_right(feed, timestamp, key=lambda m: m.created_at)]
            else:
                chosen = feed
            changed = []
            for msg in chosen:
                if msg.status != READ:
                    msg.status = READ
                    msg.read_at = now_ms
                    changed.append(msg)
            if changed:
                user.unread[channel_url] = user.unread.get(channel_url, 0) - len(changed)
            readers = tuple(self._read_subscribers.get(user_id, ())) if message_ids is None else ()
        for callback in readers:
            try:
                callback(user_id, channel_url, now_ms)
            except Exception:  # a broken device must not fail the read: it is already stored
                log.exception("read subscriber failed")
        return changed

    def move_read_receipt(self, channel_url: str, user_id: str, now_ms: int) -> tuple[int, list[Message]] | None:
        """Move the user's read receipt in a channel past the messages read since it last moved; the new receipt
        (epoch ms) and the messages newly behind it, or None when it did not move.

        A receipt is Sendbird's chat read state: everything created at or before it is read. Once every message
        is read it is `now_ms`; while one is unread it stops just before the oldest of them, so a receipt never
        covers an unread message (harness contract, docs/sendbird-fake.md)."""
        with self._lock:
            feed = self.user(user_id).feeds.get(channel_url, [])
            behind = before = self._behind_receipt.get((user_id, channel_url), 0)
            while behind < len(feed) and feed[behind].status == READ:
                behind += 1
            if behind == before:
                return None
            self._behind_receipt[(user_id, channel_url)] = behind
            receipt = now_ms if behind == len(feed) else min(now_ms, feed[behind].created_at - 1)
            return receipt, feed[before:behind]

    def find(self, channel_url: str, user_id: str, message_ids: list[int]) -> list[Message]:
        self.channel(channel_url)
        self.user(user_id)
        found = []
        for message_id in message_ids:
            msg = self.messages.get(message_id)
            if msg is None or msg.user_id != user_id or msg.channel_url != channel_url:
                raise not_found(f"message {message_id}")
            found.append(msg)
        return found

    def export(self) -> dict[str, Any]:
        """Channels, users with their feeds (messages copied with their read state) and read receipts, taken at
        one instant (under the store's lock), for a snapshot."""
        with self._lock:
            users = [(u.user_id, u.created_at, {url: [m.as_tuple() for m in feed] for url, feed in u.feeds.items()},
                      dict(u.unread)) for u in self.users.values()]
            return {"channels": [(c.channel_url, c.created_at) for c in self.channels.values()],
                    "users": users, "behind_receipt": dict(self._behind_receipt)}

    @staticmethod
    def build(state: dict[str, Any]) -> dict[str, Any]:
        """A snapshot's feed state checked and indexed (ValueError when it is not one), ready for `replace`."""
        channels = {url: Channel(url, created_at) for url, created_at in state["channels"]}
        messages: dict[int, Message] = {}
        users: dict[str, User] = {}
        from_tuple = Message.from_tuple
        for user_id, created_at, feeds, unread in state["users"]:
            user = users[user_id] = User(user_id, created_at, {}, dict(unread))
            for url, rows in feeds.items():
                feed = user.feeds[url] = [from_tuple(row) for row in rows]
                for msg in feed:
                    messages[msg.message_id] = msg
        return {"channels": channels, "users": users, "messages": messages,
                "behind_receipt": dict(state["behind_receipt"])}

    def replace(self, built: dict[str, Any]) -> None:
        """Hold what `build` made instead of the current state (subscribers stay: they are live connections)."""
        with self._lock:
            self.channels = built["channels"]
            self.users = built["users"]
            self.messages = built["messages"]
            self._behind_receipt = built["behind_receipt"]

    def clear(self) -> None:
        with self._lock:
            self.channels.clear()
            self.users.clear()
            self.messages.clear()
            self._behind_receipt.clear()
