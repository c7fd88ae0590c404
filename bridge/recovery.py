"""Sends whose outcome the bridge never learnt, settled by proof and never by a guess.

A webhook ends up `checking` when its send was in flight as the process died, or when something broke
after the request left. Each check looks in the receiver's feed (`bridge.feed_check`):

- delivered → marked sent with the notification id found (`recovery.delivered`), not sent again; unless that
  message became another webhook's meanwhile, or another send to the receiver is in flight (the same words to
  the same user: its answer may name that message), when it is unknown still;
- absent → pending, sent again after the send backoff of its attempts so far (`recovery.absent`): a Sendbird that
  keeps losing answers is not called in a loop; after the bridge's MAX_ATTEMPTS sends it is a dead letter;
- unknown (429, 5XX, a timeout, ...) → checked again after the bridge's backoff, no sooner than
  Sendbird's `Retry-After`/`X-RateLimit-Reset` (`recovery.unknown`); after MAX_ATTEMPTS checks it is
  set aside in the dead letters with the reason (`recovery.gave_up`), still not sent.

One check at a time per webhook: two could both find it absent and send it twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from bridge.feed_check import ABSENT, DELIVERED, UNKNOWN, FeedCheck, Verdict
from bridge.metrics import BridgeMetrics
from bridge.outbox import IN_FLIGHT, OWNED, SETTLED, CallbackRow, Outbox, WebhookRow
from harness.runtime import Runtime
from harness.scheduler import TaskGroup, TaskHandle

log = logging.getLogger(__name__)


class Bridge(Protocol):
    """What recovery asks of the bridge that owns it (`bridge.service.Bridge`), named here so that this
    module does not import the service that builds it."""

    runtime: Runtime
    outbox: Outbox
    metrics: BridgeMetrics
    tasks: TaskGroup

    def now(self) -> float: ...
    def at(self, seconds: float) -> datetime: ...
    def stamp(self, when: float) -> str: ...
    def journal(self, kind: str, trace_id: str | None, **attrs: Any) -> None: ...
    def backoff(self, attempts: int, server_wait: float | None) -> float: ...
    def created_at_ms(self, created_at: Any, now: float) -> int: ...
    def sent_callbacks(self, rows: list[WebhookRow], notification_id: str, now: float) -> list[CallbackRow]: ...
    def report_sent(self, rows: list[WebhookRow], mode: str, notification_id: str, now: float,
                    callbacks: bool) -> None: ...
    def read_earlier(self, rows: list[WebhookRow], created_at_ms: int) -> None: ...
    def plan_next_step(self, message_id: str) -> None: ...
    def bury(self, rows: list[WebhookRow], mode: str, reason: str) -> None: ...
    def guarded(self, task: str, work: Callable[..., None], *args: Any, retry: Callable[[float], Any]) -> None: ...


class Recovery:
    """The `checking` webhooks of one bridge, and the check task of each."""

    def __init__(self, bridge: Bridge, feed: FeedCheck, max_checks: int) -> None:
        self.bridge = bridge
        self.feed = feed
        self.max_checks = max_checks
        self._tasks: dict[str, TaskHandle] = {}
        self._lock = threading.Lock()

    def plan(self, message_id: str, due: float) -> None:
        """Check `message_id` at `due` (epoch seconds), unless a check of it is already planned."""
        bridge = self.bridge
        with self._lock:
            current = self._tasks.get(message_id)
            if current is not None and not current.done and not current.cancelled:
                return
            when = max(bridge.at(due), bridge.runtime.clock.now())
            self._tasks[message_id] = bridge.tasks.at(when, self.check, message_id, name="bridge.recovery_check")

    def plan_all(self) -> None:
        for message_id, due in self.bridge.outbox.checking():
            self.plan(message_id, due)

    def forget(self) -> None:
        """After a reset: the tasks are cancelled with the bridge's, the rows are gone."""
        with self._lock:
            self._tasks.clear()

    def check(self, message_id: str) -> None:
        self.bridge.guarded("recovery_check", self._check, message_id,
                            retry=lambda delay: self.plan(message_id, self.bridge.now() + delay))

    def _check(self, message_id: str) -> None:
        with self._lock:
            self._tasks.pop(message_id, None)
        bridge = self.bridge
        row = bridge.outbox.webhook(message_id)
        if row is None or row.state != "checking":  # replayed, reset or settled meanwhile
            return
        try:
            verdict = self.feed.check(row.body["template_key"], row.receiver, row.body["variables"],
                                      row.sending_since or row.received_at, bridge.runtime.clock.now(),
                                      lambda nid: bridge.outbox.by_notification(nid, row.receiver) is not None)
        except Exception as exc:  # a check that breaks proves nothing
            log.exception("checking Sendbird for %s failed", message_id)
            verdict = Verdict(UNKNOWN, f"the check failed: {type(exc).__name__}: {exc}")
        bridge.metrics.recovery_checks.labels(outcome=verdict.outcome).inc()
        if verdict.outcome == DELIVERED:
            self._delivered(row, verdict)
        elif verdict.outcome == ABSENT:
            self._absent(row, verdict)
        else:
            self._unknown(row, verdict)

    def _delivered(self, row: WebhookRow, verdict: Verdict) -> None:
        bridge = self.bridge
        notification_id = verdict.notification_id or ""
        now = bridge.now()
        callbacks = bridge.sent_callbacks([row], notification_id, now)
        created_at_ms = bridge.created_at_ms(verdict.created_at_ms, now)
        settled = bridge.outbox.checked_delivered(row.message_id, notification_id, now, callbacks, created_at_ms)
        if settled == SETTLED:
            bridge.journal("recovery.delivered", row.trace_id, message_id=row.message_id,
                           notification_id=notification_id, checks=row.checks + 1)
            bridge.report_sent([row], row.mode, notification_id, now, bool(callbacks))
            bridge.read_earlier([row], created_at_ms)
        elif settled == OWNED:  # another webhook's answer named it meanwhile: this one's is still to be found
            self._unknown(row, Verdict(UNKNOWN, f"the message found ({notification_id}) is another webhook's"))
        elif settled == IN_FLIGHT:
            self._unknown(row, Verdict(UNKNOWN, f"another send to {row.receiver!r} is in flight: the message found "
                                                f"({notification_id}) may be its"))

    def _absent(self, row: WebhookRow, verdict: Verdict) -> None:
        bridge = self.bridge
        if row.attempts >= self.max_checks:
            bridge.journal("recovery.absent", row.trace_id, message_id=row.message_id, reason=verdict.reason,
                           checks=row.checks + 1)
            bridge.bury([row], row.mode, f"retries exhausted after {row.attempts} attempts whose answers were lost "
                                         f"(the feed shows it never arrived: {verdict.reason})")
            return
        due = bridge.now() + (bridge.backoff(row.attempts, None) if row.attempts else 0.0)
        if bridge.outbox.checked_absent(row.message_id, due):
            bridge.journal("recovery.absent", row.trace_id, message_id=row.message_id, reason=verdict.reason,
                           checks=row.checks + 1)
            bridge.plan_next_step(row.message_id)

    def _unknown(self, row: WebhookRow, verdict: Verdict) -> None:
        bridge = self.bridge
        checks = row.checks + 1
        if checks >= self.max_checks:
            bridge.journal("recovery.gave_up", row.trace_id, message_id=row.message_id, checks=checks,
                           reason=verdict.reason)
            bridge.bury([row], row.mode, f"could not tell whether the interrupted send reached Sendbird after "
                                         f"{checks} checks (last: {verdict.reason}); not sent again without proof, "
                                         "a replay sends it")
            return
        delay = bridge.backoff(checks, verdict.wait_seconds)
        due = bridge.now() + delay
        if bridge.outbox.checked_unknown(row.message_id, due):
            bridge.journal("recovery.unknown", row.trace_id, message_id=row.message_id, reason=verdict.reason,
                           checks=checks, next_check_at=bridge.stamp(due), delay_seconds=round(delay, 3))
            self.plan(row.message_id, due)
