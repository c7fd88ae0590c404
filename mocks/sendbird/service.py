"""The fake Sendbird's domain: sends, templates, feeds, reads, stats and the notification log.

No Flask here: the HTTP layer parses and maps errors, this layer decides. Every step writes a
journal record (service `sendbird`) carrying the delivery's trace id.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.clock import to_ms
from harness.ratelimit import Limit, RateLimiter
from harness.runtime import Runtime
from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError, invalid, missing, not_found
from mocks.sendbird.feeds import FeedStore, Message
from mocks.sendbird.models import (
    SdkStats,
    SendRequest,
    StatData,
    TemplateCreate,
    TemplateUpdate,
    UserCreate,
    UserUpdate,
)
from mocks.sendbird.sessions import Sessions
from mocks.sendbird.storage import TargetsFileStore
from mocks.sendbird.templates import Template, TemplateStore, TemplateVersion
from mocks.sendbird.users import ChatUser, UserStore, new_access_token
from mocks.sendbird.webhooks import WebhookDispatcher, message_read_payload

T = TypeVar("T")

MODE_TARGETS = {"realtime": (1, 1), "batch": (2, 10_000), "auto": (1, 10_000), "single": (1, 9),
                "multi": (1, 10_000)}
EMPTY_USERS_SHOWN = 10  # user ids named per empty required variable; the count covers them all
UNKNOWN_USERS_SHOWN = 5  # user ids named when a send to users nobody created is refused
STATE_VERSION = 1  # of snapshot_state's shape; a snapshot of another is refused
RESTORE_ID_GAP = 10**9  # message ids skipped at a restore: ids a lost process handed out after its snapshot stay unused
STAT_METRICS = {"viewed": "impressions", "clicked": "clicks"}  # "custom" is journaled, not counted


@dataclass
class Notification:
    notification_id: str
    template_key: str
    mode: str
    created_at: int
    targets_count: int
    label: str | None
    tags: list[str]
    title: str | None
    metrics: dict[str, int] = field(default_factory=lambda: {"sent": 0, "read": 0, "impressions": 0, "clicks": 0})
    stats_seen: set[tuple[int, str]] = field(default_factory=set)

    def resource(self) -> dict[str, Any]:
        return {"notification_id": self.notification_id, "template_key": self.template_key, "mode": self.mode,
                "created_at": self.created_at, "sent_from": {"type": "api"}, "targets_count": self.targets_count,
                "label": self.label, "tags": self.tags, "priority": "normal", "title": self.title,
                "metrics": dict(self.metrics)}


class SendbirdService:
    def __init__(self, runtime: Runtime, app_id: str = "LOCAL", api_token: str = "local-sendbird-token",
                 webhook_url: str | None = None, create_unknown_users: bool = True,
                 require_access_token: bool = False) -> None:
        """`create_unknown_users`: a send to a user nobody created makes it (else the send is refused, 400201);
        `require_access_token`: a device logs in only with its user's access token (docs/sendbird-fake.md)."""
        self.runtime = runtime
        self.app_id = app_id
        self.api_token = api_token
        self.create_unknown_users = create_unknown_users
        self.require_access_token = require_access_token
        self.sessions = Sessions()
        self.users = UserStore()
        self.templates = TemplateStore()
        self.feeds = FeedStore()
        self.files = TargetsFileStore(api_token)
        self.webhooks = WebhookDispatcher(runtime, api_token, webhook_url)
        self.limiter = RateLimiter(runtime.clock)
        self.notifications: dict[str, Notification] = {}
        self._message_ids = itertools.count(runtime.ids.integer(12))
        self._lock = threading.Lock()

    def within_limit(self, key: str, call: Callable[[], T]) -> tuple[T, dict[str, str]]:
        """`call()` under the endpoint's rate limit; (its result, the limit's headers). A SendbirdError
        on the way carries the limit's headers too, as a success does."""
        verdict = self.limiter.hit(key)
        if verdict is None:
            return call(), {}
        headers = verdict.headers()
        try:
            if not verdict.allowed:
                raise SendbirdError(errors.RATE_LIMITED, "Too many requests: rate limit exceeded.")
            return call(), headers
        except SendbirdError as exc:
            exc.headers = headers
            raise

    def now_ms(self) -> int:
        return to_ms(self.runtime.clock.now())

    def _journal(self, kind: str, trace_id: str | None, **attrs: Any) -> None:
        self.runtime.journal.record("sendbird", kind, trace_id, **attrs)

    # -- templates ----------------------------------------------------------------------------
    def create_template(self, req: TemplateCreate) -> Template:
        now = self.now_ms()
        template = self.templates.create(req, now)
        self.feeds.ensure_channel(template.channel_url, now)
        self._template_event("notification:template_create", "template.created", template, content=True)
        return template

    def update_template(self, key: str, req: TemplateUpdate) -> Template:
        template = self.templates.update(key, req, self.now_ms())
        self._template_event("notification:template_edit", "template.edited", template, content=True)
        return template

    def archive_template(self, key: str, archived: bool) -> Template:
        template = self.templates.set_archived(key, archived, self.now_ms())
        if archived:
            self._template_event("notification:template_archive", "template.archived", template)
        else:
            self._template_event("notification:template_unarchive", "template.unarchived", template)
        return template

    def _template_event(self, category: str, kind: str, template: Template, content: bool = False) -> None:
        """`content`: the record carries the version's UI JSON and schema, so a report can render any
        message of it from the journal alone, as a device would."""
        version = template.current
        extra = {"ui_template": version.ui_template, "variable_schema": list(version.variable_schema)} \
            if content else {}
        self._journal(kind, None, template_key=template.key, version=version.version, **extra)
        self.webhooks.emit(category, {"app_id": self.app_id, "template": template.resource()})

    # -- sends --------------------------------------------------------------------------------
    def send(self, req: SendRequest, trace_id: str | None = None) -> Notification:
        targets = self._targets(req)
        if self.create_unknown_users:
            self.users.ensure(targets, self.now_ms() // 1000)
        else:
            unknown = self.users.unknown(targets)
            if unknown:
                named = ", ".join(f'"{u}"' for u in unknown[:UNKNOWN_USERS_SHOWN])
                raise SendbirdError(errors.NOT_FOUND, f"{len(unknown):,} target user(s) not found: {named}.")
        template = self.templates.sendable(req.template.key)
        variables = req.template.variables
        required = template.current.required
        if required:
            for user_id in targets:
                given = variables.get(user_id, {})
                for name in sorted(required):
                    if given.get(name) is None:
                        raise invalid(f'Template variable "{name}" is required for user "{user_id}".')
        now = self.now_ms()
        notification_id = self.runtime.ids.uuid()
        label = req.label if req.label is not None else template.label
        tags = list(req.tags or [])
        notification = Notification(notification_id, template.key, req.mode, now, len(targets), label, tags,
                                    req.push_template.title if req.push_template else None)
        with self._lock:
            self.notifications[notification_id] = notification
            first_id = next(self._message_ids)
            self._message_ids = itertools.count(first_id + len(targets))
        single_trace = trace_id if req.mode == "realtime" and trace_id else None
        self._journal("send.accepted", trace_id or notification_id, notification_id=notification_id, mode=req.mode,
                      template_key=template.key, targets_count=len(targets))
        version = template.current
        messages = [
            Message(first_id + i, now, template.channel_url, user_id, notification_id, version,
                    variables.get(user_id, {}), label, tags, single_trace or f"{notification_id}:{user_id}")
            for i, user_id in enumerate(targets)
        ]
        self.feeds.ensure_channel(template.channel_url, now)
        self._journal_deliveries(self.feeds.deliver(messages, now), notification_id, version, trace_id)
        notification.metrics["sent"] = len(messages)
        category = "notification:send_realtime" if req.mode == "realtime" else "notification:send_batch"
        payload = {"app_id": self.app_id, "notification_id": notification_id, "template_key": template.key,
                   "mode": req.mode, "targets_count": len(targets), "created_at": now, "sent_from": {"type": "api"}}
        if len(targets) == 1:
            payload["user_id"] = targets[0]
        self.webhooks.emit(category, payload, trace_id)
        return notification

    def _journal_deliveries(self, delivered: list[Message], notification_id: str, version: TemplateVersion,
                            trace_id: str | None) -> None:
        """One `message.delivered` per message, carrying the variables it was sent with (the request's own dict,
        not a copy: a run may journal a million) and, only when there are any, the names that came out empty
        and the placeholders nothing fills. A required variable sent empty is accepted, as Sendbird accepts it,
        but one record per send names it, so nobody mistakes an accepted send for a filled one."""
        required_empty: dict[str, list[str]] = {}
        for msg in delivered:
            empty, unfilled = version.gaps(msg.variables)
            gaps: dict[str, list[str]] = {}
            if empty:
                gaps["empty_variables"] = empty
                for name in version.required.intersection(empty):
                    required_empty.setdefault(name, []).append(msg.user_id)
            if unfilled:
                gaps["unfilled_placeholders"] = unfilled
            self._journal("message.delivered", msg.trace_id, message_id=msg.message_id,
                          notification_id=notification_id, user_id=msg.user_id, template_key=version.key,
                          template_version=version.version, channel_url=msg.channel_url, variables=msg.variables,
                          **gaps)
        if required_empty:
            self._journal("send.empty_required_variables", trace_id or notification_id,
                          notification_id=notification_id, template_key=version.key,
                          variables={name: {"users": len(users), "user_ids": users[:EMPTY_USERS_SHOWN]}
                                     for name, users in sorted(required_empty.items())})

    def _targets(self, req: SendRequest) -> list[str]:
        if req.targets is not None and req.targets_filename is not None:
            raise invalid('Use either "targets" or "targets_filename", not both.')
        if req.targets_filename is not None:
            if req.mode != "batch":
                raise invalid('"targets_filename" needs "mode": "batch".')
            return list(dict.fromkeys(self.files.targets(req.targets_filename)))
        if req.targets is None:
            raise missing("targets")
        targets = list(dict.fromkeys(req.targets))
        low, high = MODE_TARGETS[req.mode]
        if not low <= len(targets) <= high:
            span = f"exactly {low}" if low == high else f"{low} to {high:,}"
            raise invalid(f'Mode "{req.mode}" takes {span} targets; got {len(targets):,}.')
        return targets

    def notification(self, notification_id: str) -> Notification:
        notification = self.notifications.get(notification_id)
        if notification is None:
            raise not_found(f"notification {notification_id}")
        return notification

    # -- users and sessions -------------------------------------------------------------------
    def create_user(self, req: UserCreate) -> ChatUser:
        now = self.now_ms()
        user = self.users.create(req.user_id, now // 1000, req.nickname, req.profile_url, req.issue_access_token,
                                 req.metadata)
        self.feeds.ensure_user(req.user_id, now)
        return user

    def update_user(self, user_id: str, req: UserUpdate) -> ChatUser:
        user = self.users.get(user_id)
        for name in ("nickname", "profile_url", "is_active"):
            value = getattr(req, name)
            if value is not None:
                setattr(user, name, value)
        if req.metadata is not None:
            user.metadata = dict(req.metadata)
        if req.issue_access_token:
            user.access_token = new_access_token()
        return user

    def delete_user(self, user_id: str) -> None:
        self.users.delete(user_id)
        self.sessions.revoke_user(user_id)
        self.feeds.remove_user(user_id)

    def issue_token(self, user_id: str) -> str:
        user = self.users.get(user_id)
        user.access_token = new_access_token()
        return user.access_token

    def login(self, user_id: str, access_token: str | None) -> str:
        """A new session key for a device; creates the user on a first login unless tokens are required."""
        user = self.users.find(user_id)
        if self.require_access_token:
            if user is None:
                raise SendbirdError(errors.USER_NOT_FOUND, f'User "{user_id}" not found.')
            if not user.access_token or access_token != user.access_token:
                raise SendbirdError(errors.INVALID_ACCESS_TOKEN, "Invalid value: the access token is not valid.")
        now = self.now_ms()
        if user is None:
            self.users.ensure([user_id], now // 1000)
        elif not user.is_active:
            raise SendbirdError(errors.DEACTIVATED_USER, f'User "{user_id}" is deactivated.')
        self.feeds.ensure_user(user_id, now)
        self._journal("session.login", None, user_id=user_id)
        return self.sessions.issue(user_id)

    # -- device side --------------------------------------------------------------------------
    def mark_as_read(self, channel_url: str, user_id: str, notification_ids: list[str] | None,
                     timestamp: int | None) -> tuple[int, int]:
        """Mark the named notifications, or everything up to `timestamp`, or the whole channel READ;
        (the read time in ms, the channel's unread count after it)."""
        now = self.now_ms()
        message_ids = None if notification_ids is None else \
            [m.message_id for m in self.feeds.by_notification_ids(channel_url, user_id, notification_ids)]
        changed = self.feeds.mark_as_read(channel_url, user_id, now, message_ids, timestamp)
        if message_ids is None:
            user = self.users.find(user_id)
            if user is not None:
                read_to = now if timestamp is None else timestamp
                user.last_read[channel_url] = max(read_to, user.last_read.get(channel_url, 0))
        for msg in changed:
            notification = self.notifications.get(msg.notification_id)
            if notification is not None:
                notification.metrics["read"] += 1
            self._journal("message.read", msg.trace_id, message_id=msg.message_id,
                          notification_id=msg.notification_id, user_id=user_id, template_key=msg.template.key,
                          channel_url=channel_url)
        if changed:
            self._read_receipt_moved(channel_url, user_id, now, changed)
        return now, self.feeds.unread_count(user_id, channel_url)

    def _read_receipt_moved(self, channel_url: str, user_id: str, now: int, changed: list[Message]) -> None:
        """After a read: when the user's read receipt moved, the `group_channel:message_read` webhook says so, and
        each message newly behind it gets a `message.receipt` record (what a webhook subscriber can now learn)."""
        moved = self.feeds.move_read_receipt(channel_url, user_id, now)
        if moved is None:
            return
        receipt, covered = moved
        for msg in covered:
            self._journal("message.receipt", msg.trace_id, message_id=msg.message_id,
                          notification_id=msg.notification_id, user_id=user_id, template_key=msg.template.key,
                          channel_url=channel_url, read_ts=receipt)
        payload = message_read_payload(self.app_id, channel_url, user_id, receipt,
                                       self.feeds.unread_count(user_id, channel_url), self.feeds.unread_count(user_id))
        self.webhooks.emit("group_channel:message_read", payload, changed[0].trace_id if len(changed) == 1 else None)

    def record_stats(self, user_id: str, req: SdkStats) -> int:
        """Count the SDK's notification statistics (`viewed`, `clicked`; `custom` is journaled only) into their
        notifications' metrics, each (message, action) once. Entries for messages the user does not have are
        journaled and skipped: the SDK never shows a stats error, it would only retry the batch."""
        updated = 0
        for entry in req.log_entries:
            if entry.stat_type != "noti:stats":
                continue
            data: StatData = entry.stat_data()
            try:
                msg = self.feeds.by_notification_ids(data.channel_url, user_id, [data.message_id])[0]
            except SendbirdError:
                self._journal("stats.unknown_message", None, user_id=user_id, action=data.action,
                              channel_url=data.channel_url, notification_id=data.message_id)
                continue
            notification = self.notifications.get(msg.notification_id)
            key = (msg.message_id, data.action)  # the topic is not part of the pair
            with self._lock:
                first = notification is not None and key not in notification.stats_seen
                if first:
                    notification.stats_seen.add(key)
                    metric = STAT_METRICS.get(data.action)
                    if metric:
                        notification.metrics[metric] += 1
            updated += first
            self._journal(f"stats.{data.action}", msg.trace_id, message_id=msg.message_id,
                          notification_id=msg.notification_id, user_id=user_id, first=first,
                          topic=data.topic, template_key=msg.template.key)
        return updated

    # -- admin --------------------------------------------------------------------------------
    def reset(self) -> None:
        self.webhooks.reset()
        self.sessions.clear()
        self.users.clear()
        with self._lock:
            self.notifications.clear()
        self.templates.clear()
        self.feeds.clear()
        self.files.clear()
        self.limiter.configure({})

    # -- snapshots (harness.snapshots) ----------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """Everything the fake holds, as a snapshot keeps it: users, templates with their versions, feeds with
        read state and receipts, sends with their metrics, targets files, sessions, the webhook settings and
        the deliveries still to make, the rate-limit table, and the next message id."""
        with self._lock:
            notifications = {nid: dataclasses.replace(n, metrics=dict(n.metrics), stats_seen=set(n.stats_seen),
                                                      tags=list(n.tags))
                             for nid, n in self.notifications.items()}
            next_message_id = next(self._message_ids)
            self._message_ids = itertools.count(next_message_id)
        return {"version": STATE_VERSION, "users": self.users.export(), "templates": self.templates.export(),
                "feeds": self.feeds.export(), "notifications": notifications, "files": self.files.export(),
                "sessions": self.sessions.export(), "webhooks": self.webhooks.export(),
                "limits": self.limiter.limits, "next_message_id": next_message_id}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Hold a snapshot's state instead of the current one. Everything is built and checked first and
        swapped in only when all of it built, so a bad state (ValueError, KeyError, TypeError) changes
        nothing. Message ids go on past the snapshot's with a gap: a process lost after an unclean snapshot may
        have handed out ids past it, and none may be handed out twice."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"this is not a version {STATE_VERSION} fake Sendbird state")
        users = UserStore.build(state["users"])
        templates = TemplateStore.build(state["templates"])
        feeds = FeedStore.build(state["feeds"])
        notifications = dict(state["notifications"])
        if not all(isinstance(n, Notification) for n in notifications.values()):
            raise ValueError("a notification is not a notification")
        files = TargetsFileStore.build(state["files"])
        webhooks = self.webhooks.build(state["webhooks"])
        limits = dict(state["limits"])
        if not all(isinstance(v, Limit) for v in limits.values()):
            raise ValueError("a rate limit is not a limit")
        sessions = dict(state["sessions"])
        next_id = state["next_message_id"]
        if not isinstance(next_id, int) or any(m >= next_id for m in feeds["messages"]):
            raise ValueError("the next message id is not past every message's")
        self.sessions.replace(sessions)
        self.users.replace(users)
        self.templates.replace(templates)
        self.feeds.replace(feeds)
        self.files.replace(files)
        with self._lock:
            self.notifications = notifications
            self._message_ids = itertools.count(max(next_id + RESTORE_ID_GAP, next(self._message_ids)))
        self.limiter.configure(limits)
        self.webhooks.replace(webhooks)

    def counts(self) -> dict[str, int]:
        return {"templates": len(self.templates.page(1000, 0)[0]), "users": len(self.feeds.users),
                "messages": len(self.feeds.messages), "notifications": len(self.notifications),
                "delivery_subscribers": self.feeds.subscribers}

