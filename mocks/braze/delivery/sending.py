"""Turning a webhook message into a request for one user: Liquid, then the dispatcher.

Shared by campaigns, canvases and `/messages/send`. A `{% abort_message %}` (or a Liquid error at
send time) is recorded as an abort, never a send. A per-minute delivery limit moves sends beyond a
minute's quota into the next minute, as Braze's delivery speed setting does.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from harness.runtime import Runtime
from harness.scheduler import TaskGroup
from mocks.braze.audience.audiences import AudienceResolver, Predicate
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.dispatch import WebhookDispatcher, WebhookRequest
from mocks.braze.delivery.webhook_templates import WebhookContent, WebhookTemplateStore
from mocks.braze.engagement.conversions import ConversionTracker
from mocks.braze.liquid.connected import ConnectedContentCache
from mocks.braze.liquid.render import AbortMessage, BrazeLiquidError, compile_template
from mocks.braze.users.profiles import Profile, UserStore


class Throttle:
    """At most `per_minute` sends in each clock minute; the rest wait for the next free minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._minute: datetime | None = None
        self._used = 0
        self._lock = threading.Lock()

    def slot(self, now: datetime) -> datetime:
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            if self._minute is None or minute > self._minute:
                self._minute, self._used = minute, 0
            if self._used >= self.per_minute:
                self._minute, self._used = self._minute + timedelta(minutes=1), 0
            self._used += 1
            return max(now, self._minute)

    def snapshot_state(self) -> tuple[datetime | None, int]:
        with self._lock:
            return self._minute, self._used

    @classmethod
    def from_state(cls, per_minute: int, state: Any) -> Throttle:
        throttle = cls(per_minute)
        if state is not None:
            minute, used = state
            if not isinstance(minute, datetime | None) or isinstance(used, bool) or not isinstance(used, int):
                raise ValueError(f"a throttle is (minute, sends in it), not {state!r}")
            throttle._minute, throttle._used = minute, used
        return throttle


class Sender:
    def __init__(self, runtime: Runtime, dispatcher: WebhookDispatcher) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self._session = runtime.transport.session()
        self.connected_cache = ConnectedContentCache()

    def render(self, source: str, variables: dict[str, Any]) -> str:
        if "{" not in source:
            return source
        return compile_template(source).render(variables, transport_session=self._session,
                                               cache=self.connected_cache, now=self.runtime.clock.now)

    def deliver(self, content: WebhookContent, profile: Profile, namespaces: dict[str, Any], ctx: DeliveryContext,
                throttle: Throttle | None = None) -> str:
        """Render and queue one webhook; 'queued' or 'aborted'."""
        variables = {**profile.liquid_variables(), **namespaces}
        try:
            url = self.render(content.url, variables)
            headers = {k: self.render(v, variables) for k, v in content.headers.items()}
            if isinstance(content.body, dict):
                body = content.body_text({k: self.render(v, variables) for k, v in content.body.items()})
            else:
                body = self.render(content.body, variables)
        except AbortMessage as abort:
            self.dispatcher.record_abort(ctx, abort.reason or "abort_message")
            return "aborted"
        except BrazeLiquidError as exc:
            self.dispatcher.record_abort(ctx, f"Liquid error: {exc}")
            return "aborted"
        at = throttle.slot(self.runtime.clock.now()) if throttle else None
        self.dispatcher.send(WebhookRequest(url, content.method, headers, body), ctx, at=at)
        return "queued"


class Engine:
    """What campaigns and canvases both send with: the users, audiences, templates, the sender, the
    conversion tracker, and a task group so a reset cancels only their own work."""

    def __init__(self, runtime: Runtime, users: UserStore, audiences: AudienceResolver,
                 templates: WebhookTemplateStore, sender: Sender, conversions: ConversionTracker) -> None:
        self.runtime = runtime
        self.users = users
        self.audiences = audiences
        self.templates = templates
        self.sender = sender
        self.conversions = conversions
        self.tasks = TaskGroup(runtime.scheduler)
        self._lock = threading.RLock()

    @staticmethod
    def in_audience(profile: Profile, now: datetime, *audiences: Predicate | None) -> bool:
        """In every given audience (None means everyone): the definition's and the request's."""
        return all(audience is None or audience(profile, now) for audience in audiences)

    @staticmethod
    def eligible(last: datetime | None, window: float | None, now: datetime) -> bool:
        """Braze's re-eligibility: never received, or longer ago than the window (None: only once)."""
        return last is None or (window is not None and now - last >= timedelta(seconds=window))
