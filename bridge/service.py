"""The bridge: Sendbird's Braze integration, run locally.

Inbound webhooks are committed to the outbox before they are answered. Realtime ones leave at once
as `mode: realtime` sends; batch ones wait, grouped by template, event, label and tags, until the
group is full or has lingered long enough, and leave as one `mode: batch` send. Every successful
send queues one SENT callback per recipient, every notification a Sendbird read receipt covers one READ
callback (`bridge.reads`);
callbacks leave for Braze `/users/track` in requests of at most 75 events. All waiting is tasks on
the harness scheduler; all state that must survive a restart is in the outbox.

A send whose outcome is unknown (in flight when the process died, or broken after the request left)
is never sent again on a guess: the receiver's feed is checked (`bridge.feed_check`) until it proves
the send arrived or did not, and what no check can settle is set aside with the reason. No task ends
in an exception: what it held is retried, checked or set aside, and `bridge.task_error` says so.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge import reads
from bridge.callback_check import CallbackCheck
from bridge.clients import BRAZE_TIMEOUT, CONNECT_TIMEOUT, SENDBIRD_READ_TIMEOUT, CallResult, call, named_receivers
from bridge.errors import INTERNAL, BridgeError
from bridge.feed_check import ABSENT, FeedCheck, Verdict
from bridge.metrics import BridgeMetrics
from bridge.models import MAX_VARIABLES, InboundWebhook, json_size
from bridge.outbox import CallbackRow, Outbox, WebhookRow
from bridge.recovery import Recovery
from harness.clock import EPOCH
from harness.runtime import Runtime
from harness.scheduler import TaskGroup, TaskHandle
from harness.urls import check_url

log = logging.getLogger(__name__)

MAX_EVENTS_PER_TRACK = 75
MAX_ATTEMPTS = 20
BACKOFF_BASE = 0.5
BACKOFF_CAP = 300.0
DUE_TOLERANCE = 1e-5
TRACEBACK_FRAMES = 6
# The most a batch send's variables and targets take as JSON: half the fake Sendbird's default body limit, so
# 10,000 receivers with large variables leave in several sends instead of one that Sendbird refuses (413).
SEND_BODY_BUDGET = 8 * 1024 * 1024
# Realtime sends share their SQLite transactions: a claim takes up to this many queued webhooks, and up to this
# many sent ones are marked in one commit; at most this many sender tasks send them (docs/bridge.md, "Realtime
# sends").
REALTIME_SHARE = 32
REALTIME_SENDERS = 4


def transient(exc: Exception) -> bool:
    """Worth another try later: I/O failing or the database busy. Anything else is a bug that will fail
    the same way again, so what it held is set aside with the reason instead of retried forever."""
    return isinstance(exc, OSError | sqlite3.OperationalError)


def traceback_summary(exc: BaseException) -> list[str]:
    """The innermost frames, `file:line in function`, for the journal (the full traceback goes to the log)."""
    frames = traceback.extract_tb(exc.__traceback__)[-TRACEBACK_FRAMES:]
    return [f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}" for frame in frames]


INTEGRATION_SETTING = "integration"  # its name in the outbox's settings table


@dataclass
class IntegrationSettings:
    """What Sendbird's Braze integration page holds. A bad endpoint is refused here (ValueError), where it
    is set, not at the first callback; whether its host may be called is the bridge's outbound policy's
    question (`Bridge.update_integration`)."""

    event_callback: bool = True
    braze_rest_endpoint: str = "http://127.0.0.1:7100"
    braze_rest_api_key: str = "local-braze-key"

    def __post_init__(self) -> None:
        self.braze_rest_endpoint = check_url(self.braze_rest_endpoint)

    def to_dict(self) -> dict[str, Any]:
        return {"event_callback": self.event_callback, "braze_rest_endpoint": self.braze_rest_endpoint,
                "braze_rest_api_key": self.braze_rest_api_key}


class Bridge:
    def __init__(self, runtime: Runtime, outbox: Outbox, sendbird_url: str, sendbird_token: str,
                 integration: IntegrationSettings, api_token: str = "local-integration-token",
                 batch_max: int = 10_000, batch_linger_ms: int = 1000,
                 sendbird_timeout: float = SENDBIRD_READ_TIMEOUT) -> None:
        if not 1 <= batch_max <= 10_000:
            raise ValueError("batch_max must be 1..10,000 (Sendbird's batch limit)")
        if not sendbird_timeout > 0:
            raise ValueError("sendbird_timeout must be > 0 seconds")
        self.runtime = runtime
        self.outbox = outbox
        self.sendbird_url = runtime.transport.check_url(sendbird_url).rstrip("/")
        runtime.transport.check_url(integration.braze_rest_endpoint)
        self.sendbird_token = sendbird_token
        self.sendbird_timeout = (min(CONNECT_TIMEOUT, sendbird_timeout), sendbird_timeout)
        self.api_token = api_token
        self.batch_max = batch_max
        self.linger = timedelta(milliseconds=batch_linger_ms)
        # the flags decide at the first start; PUT /_admin/integration edits it live and stores it in the outbox
        # db, so a restarted bridge on the same db keeps what was set there (docs/bridge.md)
        self.integration = self._stored_integration() or integration
        self.metrics = BridgeMetrics(outbox.depth)
        self.tasks = TaskGroup(runtime.scheduler)
        self.http = runtime.transport.client()
        self._group_tasks: dict[str, TaskHandle] = {}
        self._group_counts: dict[str, int] = {}  # pending batch webhooks per group, between flushes
        self._group_locks: dict[str, threading.Lock] = {}
        self._callback_task: TaskHandle | None = None
        self._callback_lock = threading.Lock()
        self._callbacks_not_before = 0.0
        self._task_failures: dict[str, int] = {}  # task kind -> errors in a row, for the retry's backoff
        # realtime webhooks due for a send, in order; rows claimed and not yet sent; sent rows not yet marked
        # (each with its notification id and creation time); sender tasks running or planned
        self._queued: dict[str, None] = {}
        self._claimed: dict[str, WebhookRow] = {}
        self._unmarked: list[tuple[WebhookRow, str, int]] = []
        self._senders = 0
        self._realtime_lock = threading.Lock()
        feed = FeedCheck(self.http, self.sendbird_url, sendbird_token, self.sendbird_timeout)
        self.recovery = Recovery(self, feed, MAX_ATTEMPTS)
        self.callback_check = CallbackCheck(self, MAX_ATTEMPTS, lambda: (self.integration.braze_rest_endpoint,
                                                                         self.integration.braze_rest_api_key))
        self._lock = threading.RLock()
        self.paused = False
        self._settle_interrupted()
        self.tasks.soon(self.recover, name="bridge.recover")

    # -- time -------------------------------------------------------------------------------------
    def now(self) -> float:
        return (self.runtime.clock.now() - EPOCH).total_seconds()

    def due(self) -> float:
        """The cut-off for 'due now': a stored due time and the clock time its task wakes at can
        differ by the microsecond rounding of datetimes."""
        return self.now() + DUE_TOLERANCE

    def at(self, seconds: float) -> datetime:
        return EPOCH + timedelta(seconds=seconds)

    def journal(self, kind: str, trace_id: str | None, **attrs: Any) -> None:
        self.runtime.journal.record("bridge", kind, trace_id, **attrs)

    def backoff(self, attempts: int, server_wait: float | None) -> float:
        """Exponential backoff with full jitter, never shorter than what the server asked for."""
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
        delay = ceiling / 2 + self.runtime.ids.fraction() * ceiling / 2
        return max(delay, server_wait or 0.0)

    # -- inbound ----------------------------------------------------------------------------------
    def accept(self, webhook: InboundWebhook, mode: str, trace_id: str | None) -> tuple[dict[str, Any], bool]:
        """Commit one webhook and plan its send; (the answer, whether it is a duplicate)."""
        started = time.perf_counter()
        now = self.now()
        answer = {"message_id": webhook.message_id, "status": "accepted", "mode": mode}
        first, duplicate = self.outbox.accept(webhook.message_id, mode, webhook.model_dump(), webhook.receiver,
                                              webhook.group_key, trace_id, now, answer)
        path = f"/braze/notifications/{mode}"
        if duplicate:
            self.metrics.duplicates.labels(path=path).inc()
            self.journal("webhook.duplicate", trace_id, message_id=webhook.message_id, mode=mode)
            return first, True
        self.metrics.accepted.labels(path=path).inc()
        self.metrics.accept_latency.observe(time.perf_counter() - started)
        self.journal("webhook.accepted", trace_id, message_id=webhook.message_id, mode=mode,
                     receiver=webhook.receiver, user_id=webhook.braze_user, template_key=webhook.template_key)
        if self.paused:  # the resume plans everything pending
            return first, False
        if mode == "realtime":
            self.queue_realtime(webhook.message_id)
        else:
            self._count_batch(webhook.group_key)
        return first, False

    # -- realtime ---------------------------------------------------------------------------------
    def queue_realtime(self, *message_ids: str) -> None:
        """Due realtime webhooks join the queue, and a sender task starts unless `REALTIME_SENDERS` run. Under
        load the running senders take each new webhook: an accept plans no task of its own, and wakes no
        thread, which cost a context switch per notification on the bridge's one core."""
        with self._realtime_lock:
            for message_id in message_ids:
                self._queued[message_id] = None
            start = self._senders < REALTIME_SENDERS and bool(self._queued or self._claimed)
            if start:
                self._senders += 1
        if start:
            self.tasks.soon(self.send_realtime, name="bridge.realtime")

    def send_realtime(self) -> None:
        """One sender: claims a share of the queue at a time and sends it, one request per webhook, until the
        queue is empty or sending is paused; then commits what it sent."""
        try:
            self.guarded("send", self._send_queued,
                         retry=lambda delay: self.tasks.after(delay, self.queue_realtime, name="bridge.realtime_retry"))
        finally:
            with self._realtime_lock:
                self._senders = max(0, self._senders - 1)  # a reset in between already counted it out
            self.mark_realtime()

    def _send_queued(self) -> None:
        while (row := self._next_realtime()) is not None:
            self._send([row], "realtime")

    def _next_realtime(self) -> WebhookRow | None:
        """The next claimed row; when none is left, the sends so far are marked and the next share of the queue
        is claimed in one transaction. A queued webhook that is no longer due and pending (sent by a check,
        released for a later retry, a duplicate) is dropped: whatever comes next for it is planned elsewhere."""
        while True:
            with self._realtime_lock:
                if self.paused:
                    return None
                if self._claimed:
                    first = next(iter(self._claimed))
                    return self._claimed.pop(first)
                share = [m for m, _ in zip(self._queued, range(REALTIME_SHARE), strict=False)]
                for message_id in share:
                    del self._queued[message_id]
            if not share:
                return None
            self.mark_realtime()
            try:
                rows = self.outbox.claim_realtime(share, self.due())
            except Exception:
                self.queue_realtime(*share)  # still due: the retry's sender takes them
                raise
            with self._realtime_lock:
                self._claimed.update((row.message_id, row) for row in rows)

    def _sent_realtime(self, row: WebhookRow, notification_id: str, created_at_ms: int) -> None:
        """A realtime send answered: marked in one commit with the others its sender sent since its last claim
        (at most `REALTIME_SHARE`), before the next claim or when the sender ends. Until then the row is
        `sending` in the outbox, as it is while the answer travels: a process that dies first leaves it to
        the feed check, which finds the notification."""
        with self._realtime_lock:
            self._unmarked.append((row, notification_id, created_at_ms))
            full = len(self._unmarked) >= REALTIME_SHARE
        if full:
            self.mark_realtime()

    def mark_realtime(self) -> None:
        """Commit the answered realtime sends: sent, with their SENT callbacks, in one transaction."""
        with self._realtime_lock:
            sent, self._unmarked = self._unmarked, []
        if not sent:
            return
        now = self.now()
        callbacks = [c for row, notification_id, _ in sent for c in self.sent_callbacks([row], notification_id, now)]
        try:
            self.outbox.mark_each_sent([(row.message_id, notification_id, created) for row, notification_id, created
                                        in sent], now, callbacks)
        except Exception as exc:  # the sends left: the feed check finds them
            self._send_outcome_lost([row for row, _, _ in sent], exc)
            return
        for row, notification_id, created in sent:
            self.report_sent([row], "realtime", notification_id, now, False)
            self.read_earlier([row], created)
        if callbacks:
            self._kick_callbacks()

    def _release_claimed(self) -> None:
        """Rows claimed ahead go back to pending (a pause or a reset): their requests never left."""
        with self._realtime_lock:
            claimed, self._claimed = list(self._claimed), {}
        if claimed:
            self.outbox.unclaim(claimed)

    # -- batch ------------------------------------------------------------------------------------
    def _count_batch(self, group_key: str) -> None:
        """One more webhook waits in `group_key`: flush at once when the group is full, else make sure a
        flush is planned a linger after the oldest. Counting in memory keeps an accept O(1)."""
        with self._lock:
            count = self._group_counts.get(group_key, 0) + 1
            self._group_counts[group_key] = count
        now = self.runtime.clock.now()
        self._kick_group(group_key, now if count >= self.batch_max else now + self.linger)

    def _plan_group(self, group_key: str) -> None:
        """Flush now if the group is full, else when its oldest webhook has lingered long enough."""
        count, oldest = self.outbox.group_stats(group_key, self.due())
        with self._lock:
            self._group_counts[group_key] = count
        if count == 0:
            nxt = self.outbox.next_batch_attempt(group_key)
            if nxt is not None:
                self._kick_group(group_key, self.at(nxt))
            return
        when = self.runtime.clock.now() if count >= self.batch_max else self.at(oldest) + self.linger
        self._kick_group(group_key, when)

    def _kick_group(self, group_key: str, when: datetime) -> None:
        with self._lock:
            current = self._group_tasks.get(group_key)
            if current is not None and not current.done and not current.cancelled:
                if current.when <= when:
                    return
                self.runtime.scheduler.cancel(current)
            self._group_tasks[group_key] = self.tasks.at(max(when, self.runtime.clock.now()), self.flush_group,
                                                         group_key, name="bridge.batch_flush")

    def flush_group(self, group_key: str) -> None:
        self.guarded("batch_flush", self._flush_group, group_key,
                     retry=lambda delay: self._kick_group(group_key, self.at(self.now() + delay)))

    def _flush_group(self, group_key: str) -> None:
        with self._lock:
            lock = self._group_locks.setdefault(group_key, threading.Lock())
            self._group_tasks.pop(group_key, None)
        if self.paused:
            return
        with lock:
            while True:
                rows = self.outbox.claim_group(group_key, self.batch_max, self.due())
                if not rows:
                    break
                fits = within_budget(rows)
                if fits < len(rows):  # the rest goes in the next send, at once
                    self.outbox.release([r.message_id for r in rows[fits:]], self.now())
                    self._send(rows[:fits], "batch" if fits > 1 else "realtime")
                    continue
                self._send(rows, "batch" if len(rows) > 1 else "realtime")
                # after a full batch, go on only while another full one is waiting; a smaller
                # remainder waits for its linger like any other
                if len(rows) < self.batch_max or self.outbox.group_stats(group_key, self.due())[0] < self.batch_max:
                    break
        self._plan_group(group_key)

    # -- the Sendbird call ------------------------------------------------------------------------
    def _send(self, rows: list[WebhookRow], mode: str) -> None:
        """One Sendbird send for claimed rows. Whatever breaks, the rows leave `sending`: before the
        request left they are retried or set aside; after, only the feed can tell, so they are checked."""
        try:
            body, headers = self._request(rows, mode)
        except Exception as exc:
            self._send_failed_here(rows, mode, exc)
            return
        try:
            self.metrics.batch_size.observe(len(rows))
            started = time.perf_counter()
            result = call(self.http, "POST", f"{self.sendbird_url}/v1/notifications", self.runtime.clock.now(),
                          self.sendbird_timeout, (200,), json=body, headers=headers)
            self.metrics.send_latency.observe(time.perf_counter() - started)
            if result.ok and result.body.get("notification_id"):
                self._sent(rows, mode, result.body["notification_id"], result.body.get("created_at"))
            elif result.ok:
                self._failed(rows, mode, CallResult(False, False, result.status, "Sendbird answered without an id"))
            elif result.unknown:
                self._send_unanswered(rows, result)
            else:
                self._failed(rows, mode, result)
        except Exception as exc:
            self._send_outcome_lost(rows, exc)

    def _request(self, rows: list[WebhookRow], mode: str) -> tuple[dict[str, Any], dict[str, str]]:
        first = rows[0].body
        body: dict[str, Any] = {"template": {"key": first["template_key"],
                                             "variables": {r.receiver: r.body["variables"] for r in rows}},
                                "mode": mode, "targets": [r.receiver for r in rows]}
        if first.get("label"):
            body["label"] = first["label"]
        if first.get("tags"):
            body["tags"] = first["tags"]
        headers = {"Api-Token": self.sendbird_token}
        if mode == "realtime" and rows[0].trace_id:
            headers["X-Trace-Id"] = rows[0].trace_id
        return body, headers

    def _sent(self, rows: list[WebhookRow], mode: str, notification_id: str, created_at: Any) -> None:
        now = self.now()
        created_at_ms = self.created_at_ms(created_at, now)
        if rows[0].mode == "realtime":  # a realtime webhook is always sent alone
            self._sent_realtime(rows[0], notification_id, created_at_ms)
            return
        callbacks = self.sent_callbacks(rows, notification_id, now)
        self.outbox.mark_sent([r.message_id for r in rows], notification_id, now, callbacks, created_at_ms)
        self.report_sent(rows, mode, notification_id, now, bool(callbacks))
        self.read_earlier(rows, created_at_ms)

    @staticmethod
    def created_at_ms(created_at: Any, now: float) -> int:
        """When Sendbird created a sent message, as its answer (or feed) says; without a usable one, the
        bridge's time of learning of the send, which is later: a read between the two waits for the next read
        instead of reporting a notification the reader may not have had."""
        given = reads.epoch_ms(created_at)
        return given if given is not None else int(now * 1000)

    def sent_callbacks(self, rows: list[WebhookRow], notification_id: str, now: float) -> list[CallbackRow]:
        if not self.integration.event_callback:
            return []
        stamp = self.stamp(now)
        return [self._callback(r, "SENT", notification_id, stamp) for r in rows]

    def report_sent(self, rows: list[WebhookRow], mode: str, notification_id: str, now: float,
                    callbacks: bool) -> None:
        self.metrics.sends.labels(mode=mode, outcome="sent").inc()
        for row in rows:
            self.metrics.accept_to_sent.observe(max(0.0, now - row.received_at))
            self.journal("sendbird.sent", row.trace_id, message_id=row.message_id, notification_id=notification_id,
                         mode=mode, batch_size=len(rows), receiver=row.receiver)
        if callbacks:
            self._kick_callbacks()

    def _failed(self, rows: list[WebhookRow], mode: str, result: CallResult) -> None:
        now = self.now()
        if not result.retriable:
            blamed = named_receivers(result.reason, [r.receiver for r in rows]) if len(rows) > 1 else []
            buried = [r for r in rows if r.receiver in blamed] if blamed else rows
            self.bury(buried, mode, result.reason)
            rest = [r.message_id for r in rows if r not in buried]
            if rest:  # the batch failed for one target: send the others again at once
                self.outbox.release(rest, now)
                self._plan_group(rows[0].group_key)
            return
        attempts = max(r.attempts for r in rows)
        if attempts >= MAX_ATTEMPTS:
            self.bury(rows, mode, f"retries exhausted after {attempts} attempts; last: {result.reason}")
            return
        delay = self.backoff(attempts, result.wait_seconds)
        self.outbox.release([r.message_id for r in rows], now + delay)
        self.metrics.sends.labels(mode=mode, outcome="retry").inc()
        self.metrics.retries.labels(target="sendbird").inc(len(rows))
        for row in rows:
            self.journal("sendbird.retry", row.trace_id, message_id=row.message_id, attempt=row.attempts,
                         reason=result.reason, delay_seconds=round(delay, 3))
        if rows[0].mode == "realtime":
            self.tasks.after(delay, self.queue_realtime, rows[0].message_id, name="bridge.realtime_retry")
        else:
            self._kick_group(rows[0].group_key, self.at(now + delay))

    def bury(self, rows: list[WebhookRow], mode: str, reason: str) -> None:
        self.outbox.bury([r.message_id for r in rows], reason, self.now())
        self.metrics.sends.labels(mode=mode, outcome="dead").inc()
        self.metrics.dead_letters.labels(kind="webhook").inc(len(rows))
        for row in rows:
            self.journal("sendbird.dead", row.trace_id, message_id=row.message_id, reason=reason)

    # -- callbacks to Braze -------------------------------------------------------------------------
    def stamp(self, when: float) -> str:
        """ISO-8601 in UTC, as Braze's `time` field takes it."""
        return self.at(when).astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _callback(self, row: WebhookRow, status: str, notification_id: str, stamp: str) -> CallbackRow:
        body = row.body
        properties = {"status": status, "template_key": body["template_key"], "notification_id": notification_id,
                      "message_id": row.message_id}
        if body.get("campaign_id"):
            properties["campaign_id"] = body["campaign_id"]
        if body.get("canvas_id"):
            properties["canvas_id"] = body["canvas_id"]
        external_id = body.get("user_id") or row.receiver
        event = {"external_id": external_id, "name": body["event_name"],
                 "time": stamp, "properties": properties}
        return CallbackRow.of(row.message_id, status, external_id, event, row.trace_id)

    def on_read(self, payload: dict[str, Any]) -> int:
        """A `group_channel:message_read` webhook from Sendbird: one READ for each notification its read
        receipts newly cover (`bridge.reads`); how many READs were queued. BridgeError for a webhook that
        does not say who read when, and a 503 when a template's channel cannot be learnt (nothing is marked:
        Sendbird's retry of the webhook decides)."""
        webhook = reads.parse_read_webhook(payload)
        queued = 0
        for update in webhook.updates:
            self.outbox.note_receipt(update.user_id, webhook.channel_url, update.read_ts)
            rows = reads.covered(self.outbox, update, webhook.channel_url, self._channel_of)
            newly = self._report_read(rows, update.read_ts)
            self.journal("sendbird.receipt", None, user_id=update.user_id, channel_url=webhook.channel_url,
                         read_ts=update.read_ts, newly_read=newly)
            queued += newly if self.integration.event_callback else 0
        if queued:
            self._kick_callbacks()
        return queued

    def _report_read(self, rows: list[WebhookRow], read_ts: int) -> int:
        """Mark `rows` read by the receipt `read_ts`, each with its READ callback unless the event callback is off;
        how many rows were newly read."""
        if not rows:
            return 0
        stamp = self.stamp(read_ts / 1000)
        callbacks = {r.message_id: self._callback(r, "READ", r.notification_id or "", stamp)
                     if self.integration.event_callback else None for r in rows}
        newly = set(self.outbox.mark_read(callbacks, self.now()))
        for row in rows:
            if row.message_id in newly:
                self.journal("sendbird.read", row.trace_id, message_id=row.message_id,
                             notification_id=row.notification_id, receiver=row.receiver, read_ts=read_ts)
        return len(newly)

    def read_earlier(self, rows: list[WebhookRow], created_at_ms: int) -> None:
        """Just marked sent: queue the READs owed by receipts that arrived before the bridge recorded the send (its
        answer was on the way, or the send was being checked). Only a channel the bridge can learn now counts; one
        that cannot be learnt leaves the row to the receiver's next receipt."""
        def known_channel(template_key: str) -> str | None:
            channel = self.recovery.feed.channel(template_key, self.runtime.clock.now())
            return channel if isinstance(channel, str) else None

        newly = sum(self._report_read([row], read_ts)
                    for row, read_ts in reads.covered_when_sent(self.outbox, rows, created_at_ms, known_channel))
        if newly and self.integration.event_callback:
            self._kick_callbacks()

    def _channel_of(self, template_key: str) -> str | None:
        """The channel of a template's notifications; None for a template Sendbird no longer has."""
        channel = self.recovery.feed.channel(template_key, self.runtime.clock.now())
        if not isinstance(channel, Verdict):
            return channel
        if channel.outcome == ABSENT:
            return None
        raise BridgeError(INTERNAL, f"Could not tell which notifications were read: {channel.reason}; nothing was "
                                    "reported, and a retry of this webhook will.", status=503)

    def _kick_callbacks(self, at: datetime | None = None) -> None:
        when = max(at or self.runtime.clock.now(), self.at(self._callbacks_not_before), self.runtime.clock.now())
        with self._lock:
            current = self._callback_task
            if current is not None and not current.done and not current.cancelled:
                if current.when <= when:
                    return
                self.runtime.scheduler.cancel(current)
            self._callback_task = self.tasks.at(when, self.flush_callbacks, name="bridge.callbacks")

    def flush_callbacks(self) -> None:
        self.guarded("callback_flush", self._flush_callbacks,
                     retry=lambda delay: self._kick_callbacks(self.at(self.now() + delay)))

    def _flush_callbacks(self) -> None:
        if not self._callback_lock.acquire(blocking=False):
            self._kick_callbacks(self.runtime.clock.now() + timedelta(milliseconds=50))
            return
        try:
            with self._lock:
                self._callback_task = None
            # before any post, with none in flight: Braze's count and the outbox's then agree on what was posted
            self.callback_check.run_due()
            while self.due() >= self._callbacks_not_before:
                batch = self.outbox.claim_callbacks(MAX_EVENTS_PER_TRACK, self.due())
                if not batch:
                    break
                try:
                    self._post_callbacks(batch)
                except Exception as exc:
                    self._callbacks_failed_here(batch, exc)
        finally:
            self._callback_lock.release()
        nxt = self.outbox.next_callback_at()
        if nxt is not None:
            self._kick_callbacks(self.at(nxt))

    def _post_callbacks(self, batch: list[CallbackRow]) -> None:
        settings = self.integration
        headers = {"Authorization": f"Bearer {settings.braze_rest_api_key}"}
        traces = [c.trace_id or "" for c in batch]
        if any(traces):
            headers["X-Trace-Ids"] = ",".join(traces)
        headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        result = call(self.http, "POST", settings.braze_rest_endpoint.rstrip("/") + "/users/track",
                      self.runtime.clock.now(), BRAZE_TIMEOUT, (200, 201), data=track_body(batch), headers=headers)
        try:
            self.metrics.callback_latency.observe(time.perf_counter() - started)
            if result.ok:
                self._callbacks_posted(batch, result)
            elif result.unknown:
                self._callbacks_unanswered(batch, result)
            else:
                self._callbacks_failed(batch, result)
        except Exception as exc:
            self._callbacks_outcome_lost(batch, exc)

    def _callbacks_posted(self, batch: list[CallbackRow], result: CallResult) -> None:
        """Braze accepted the request. An event it names in `errors` was refused (skipped, not recorded): that
        callback goes to the dead letters with Braze's reason, so `posted` keeps meaning "recorded by Braze",
        which the callback check counts on."""
        now = self.now()
        refused = refused_events(result.body.get("errors"), len(batch))
        done = [c for i, c in enumerate(batch) if i not in refused]
        self.outbox.callbacks_done([c.key for c in done])
        for status, count in Counter(c.status for c in done).items():
            self.metrics.callbacks.labels(status=status).inc(count)
        for c in done:
            self.journal("callback.posted", c.trace_id, message_id=c.message_id, status=c.status,
                         external_id=c.external_id)
        if result.body.get("errors"):
            self.journal("callback.partial", None, errors=result.body["errors"])
        for index, reason in refused.items():
            self.bury_callbacks([batch[index]], f"Braze refused the event: {reason}")
        remaining = result.headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.isdigit() and int(remaining) == 0 and result.wait_seconds:
            self._callbacks_not_before = now + result.wait_seconds  # slow down until the window resets

    def _callbacks_unanswered(self, batch: list[CallbackRow], result: CallResult) -> None:
        """The request left and its answer was lost: Braze may have recorded the events, and it does not
        deduplicate, so its count is asked before any second post (`bridge.callback_check`)."""
        self.metrics.retries.labels(target="braze").inc(len(batch))
        for c in batch:
            self.journal("callback.unknown", c.trace_id, message_id=c.message_id, status=c.status,
                         attempt=c.attempts, reason=result.reason)
        self.outbox.callbacks_to_checking([c.key for c in batch], self.now())

    def _callbacks_outcome_lost(self, batch: list[CallbackRow], exc: Exception) -> None:
        """Handling Braze's answer broke (recording it failed, say): the events may be at Braze, so the
        callbacks still `posting` are checked instead of posted again."""
        self._task_error("callback_flush", exc, message_ids=sorted({c.message_id for c in batch}),
                         action="checked against Braze's count")
        self.outbox.callbacks_to_checking([c.key for c in batch], self.now())

    def bury_callbacks(self, batch: list[CallbackRow], reason: str) -> None:
        """→ dead with the reason, each journaled `callback.dead`."""
        self.outbox.callbacks_bury([c.key for c in batch], reason, self.now())
        self.metrics.dead_letters.labels(kind="callback").inc(len(batch))
        for c in batch:
            self.journal("callback.dead", c.trace_id, message_id=c.message_id, status=c.status, reason=reason)

    def _callbacks_failed(self, batch: list[CallbackRow], result: CallResult) -> None:
        keys = [(c.message_id, c.status) for c in batch]
        now = self.now()
        attempts = max(c.attempts for c in batch)
        if not result.retriable or attempts >= MAX_ATTEMPTS:
            self.bury_callbacks(batch, result.reason)
            return
        delay = self.backoff(attempts, result.wait_seconds)
        self.outbox.callbacks_retry(keys, now + delay)
        if result.wait_seconds:
            self._callbacks_not_before = now + result.wait_seconds
        self.metrics.retries.labels(target="braze").inc(len(batch))
        for c in batch:
            self.journal("callback.retry", c.trace_id, message_id=c.message_id, status=c.status,
                         reason=result.reason, delay_seconds=round(delay, 3))

    # -- restart ----------------------------------------------------------------------------------
    def _settle_interrupted(self) -> None:
        """At start, before this process can have sent or posted anything, every `sending` and `posting`
        row is a previous process's: its sends are checked against the feed, its posts against Braze's count."""
        interrupted = [row.message_id for row in self.outbox.in_flight()]
        if interrupted:
            self.outbox.to_checking(interrupted, self.now())
            self.journal("recovery.interrupted", None, count=len(interrupted))
        interrupted_posts = self.outbox.recover_callbacks(self.now())
        if interrupted_posts:
            self.journal("callback.recovered", None, count=interrupted_posts, state="checking")

    def recover(self) -> None:
        """After a restart: plan everything pending and every check."""
        self.guarded("recover", self.plan_pending,
                     retry=lambda delay: self.tasks.after(delay, self.recover, name="bridge.recover"))

    def plan_next_step(self, message_id: str) -> None:
        """Make sure what comes next for a webhook is planned, at its due time: its send if it is pending,
        its check if it is checking (nothing for one sent, dead or gone)."""
        row = self.outbox.webhook(message_id)
        if row is None:
            return
        if row.state == "checking":
            self.recovery.plan(message_id, row.next_attempt_at)
        elif row.state == "pending" and row.mode == "realtime":
            self._plan_realtime(message_id, row.next_attempt_at)
        elif row.state == "pending":
            self._plan_group(row.group_key)

    def _plan_realtime(self, message_id: str, due: float) -> None:
        """A pending realtime webhook joins the queue at its due time."""
        if due <= self.due():
            self.queue_realtime(message_id)
        else:
            self.tasks.at(self.at(due), self.queue_realtime, message_id, name="bridge.realtime_due")

    def set_paused(self, paused: bool) -> None:
        """Hold Sendbird sends (webhooks are still accepted and wait in the outbox), or let them go.

        For tests and benchmarks: a backlog on demand, the accept path measured on its own, and the
        drain after a resume. Callbacks to Braze are not held."""
        was = self.paused
        self.paused = paused
        if was and not paused:
            self.journal("sending.resumed", None)
            self.plan_pending()
        elif paused and not was:
            self.journal("sending.paused", None)
            self._release_claimed()
            self.mark_realtime()

    def plan_pending(self) -> None:
        for message_id, due in self.outbox.pending_realtime():
            self._plan_realtime(message_id, due)
        for group_key, _, _ in self.outbox.batch_groups():
            self._plan_group(group_key)
        if self.outbox.next_callback_at() is not None:
            self._kick_callbacks()
        self.recovery.plan_all()

    # -- when a task breaks -------------------------------------------------------------------------
    def guarded(self, task: str, work: Callable[..., None], *args: Any, retry: Callable[[float], Any]) -> None:
        """Run one scheduled task's work; if anything escapes it (the handlers below failing too, say the
        database), journal it and run the task again after a backoff, instead of dying silently."""
        try:
            work(*args)
        except Exception as exc:
            with self._lock:
                failures = self._task_failures[task] = self._task_failures.get(task, 0) + 1
            delay = self.backoff(failures, None)
            self._task_error(task, exc, action="task retried", delay_seconds=round(delay, 3))
            retry(delay)
        else:
            if task in self._task_failures:
                with self._lock:
                    self._task_failures.pop(task, None)

    def _task_error(self, task: str, exc: Exception, **attrs: Any) -> None:
        log.error("bridge task %s failed", task, exc_info=exc)
        self.metrics.task_errors.labels(task=task).inc()
        self.journal("bridge.task_error", None, task=task, error=f"{type(exc).__name__}: {exc}",
                     traceback=traceback_summary(exc), **attrs)

    def _send_failed_here(self, rows: list[WebhookRow], mode: str, exc: Exception) -> None:
        """The send broke before its request left: nothing reached Sendbird, so it is safe to retry."""
        ids = [r.message_id for r in rows]
        reason = f"the bridge failed to send it: {type(exc).__name__}: {exc}"
        if transient(exc):
            self._task_error("send", exc, message_ids=ids, action="retried")
            self._failed(rows, mode, CallResult(False, True, None, reason))
        else:
            self._task_error("send", exc, message_ids=ids, action="dead letter")
            self.bury(rows, mode, reason)

    def _send_unanswered(self, rows: list[WebhookRow], result: CallResult) -> None:
        """The request left and its answer was lost (a timeout, a connection broken, an answer cut short): the
        send may have reached Sendbird, which takes no idempotency key, so the feed is asked before any resend."""
        ids = [r.message_id for r in rows]
        self.metrics.retries.labels(target="sendbird").inc(len(rows))
        for row in rows:
            self.journal("sendbird.unknown", row.trace_id, message_id=row.message_id, attempt=row.attempts,
                         reason=result.reason)
        self.outbox.to_checking(ids, self.now())
        for message_id in ids:
            self.plan_next_step(message_id)

    def _send_outcome_lost(self, rows: list[WebhookRow], exc: Exception) -> None:
        """The send broke after its request left: it may have reached Sendbird, so sending it again on a
        guess could send it twice. The rows still `sending` are checked against the feed instead."""
        ids = [r.message_id for r in rows]
        self._task_error("send", exc, message_ids=ids, action="checked against the feed")
        self.outbox.to_checking(ids, self.now())  # rows already sent or released (the break came later) stay so
        for message_id in ids:  # whatever state the break left each row in, its next step is planned
            self.plan_next_step(message_id)
        if self.outbox.next_callback_at() is not None:  # the break may have come before the callbacks' kick
            self._kick_callbacks()

    def _callbacks_failed_here(self, batch: list[CallbackRow], exc: Exception) -> None:
        """A callback post broke: its rows leave `posting`, back to pending after a backoff, or, for a bug
        that would break every try, to the dead letters with the reason."""
        retried = transient(exc) and max(c.attempts for c in batch) < MAX_ATTEMPTS
        self._task_error("callback_flush", exc, message_ids=sorted({c.message_id for c in batch}),
                         action="retried" if retried else "dead letter")
        reason = f"the bridge failed to post it: {type(exc).__name__}: {exc}"
        self._callbacks_failed(batch, CallResult(False, transient(exc), None, reason))

    # -- admin --------------------------------------------------------------------------------------
    def update_integration(self, changes: dict[str, Any]) -> IntegrationSettings:
        """The settings with `changes`; ValueError (and nothing changed) for an endpoint that is not a URL or
        that the outbound policy refuses."""
        current = self.integration.to_dict()
        current.update(changes)
        updated = IntegrationSettings(**current)
        self.runtime.transport.check_url(updated.braze_rest_endpoint)
        self.outbox.store_setting(INTEGRATION_SETTING, updated.to_dict())
        self.integration = updated
        return self.integration

    def _stored_integration(self) -> IntegrationSettings | None:
        """The integration settings a PUT stored in the outbox db, if any; ValueError when this bridge's outbound
        policy refuses the stored endpoint (the bridge does not start calling elsewhere than it was told)."""
        stored = self.outbox.setting(INTEGRATION_SETTING)
        if stored is None:
            return None
        settings = IntegrationSettings(**stored)
        try:
            self.runtime.transport.check_url(settings.braze_rest_endpoint)
        except ValueError as exc:
            raise ValueError(f"the Braze endpoint stored in {self.outbox.path} ({settings.braze_rest_endpoint}) is "
                             f"refused: {exc}; set another with PUT /_admin/integration or start on a new --db"
                             ) from None
        return settings

    def replay(self, ids: list[int] | None) -> list[dict[str, Any]]:
        replayed = self.outbox.replay(ids, self.now())
        self.plan_pending()
        return replayed

    def reset(self) -> None:
        self.tasks.cancel_all()
        with self._realtime_lock:
            self._queued.clear()
            self._claimed.clear()
            self._unmarked.clear()
            self._senders = 0
        with self._lock:
            self._group_tasks.clear()
            self._group_counts.clear()
            self._callback_task = None
        self._callbacks_not_before = 0.0
        self.recovery.forget()
        self.outbox.clear()


def refused_events(errors: Any, size: int) -> dict[int, str]:
    """index -> Braze's reason, of the events a `/users/track` answer's `errors` name
    (`{"type", "input_array": "events", "index"}`)."""
    refused: dict[int, str] = {}
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and error.get("input_array") == "events":
            index = error.get("index")
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < size:
                refused[index] = str(error.get("type", "refused"))
    return refused


def track_body(batch: list[CallbackRow]) -> bytes:
    """The /users/track body of `batch`'s events: their stored JSON joined as `json.dumps` would write the list,
    so no event is decoded and encoded again on its way out (5 us a callback)."""
    return ('{"events": [' + ", ".join(c.event_json for c in batch) + "]}").encode()


def within_budget(rows: list[WebhookRow], budget: int = SEND_BODY_BUDGET) -> int:
    """How many of `rows` (at least one) one batch send carries without its body passing `budget`."""
    per_row_bound = MAX_VARIABLES + 2 * 255 + 8  # variables, the receiver twice (a key and a target), JSON marks
    if len(rows) * per_row_bound <= budget:
        return len(rows)
    # the stored body's JSON holds the variables (spaced, ASCII-escaped: never shorter than their compact JSON)
    if sum(r.body_chars + 2 * len(r.receiver) + 8 for r in rows) <= budget and all(r.body_chars for r in rows):
        return len(rows)
    size = 0
    for count, row in enumerate(rows):
        size += json_size(row.body.get("variables", {})) + 2 * len(row.receiver) + 8
        if size > budget and count:
            return count
    return len(rows)
