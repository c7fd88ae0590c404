"""Webhook delivery: Braze's send, retry and give-up rules, played on the harness scheduler.

The bridge (or any receiver) is judged by how Braze reacts to its answers, so the fake keeps the
real rules: a 2xx is received; a 3xx or another 4xx fails at once; a 408, 429 or 5xx is retried
up to five times within 30 minutes with exponential backoff; an unreachable host is retried over
up to 24 hours; a flood of overload answers halts the host for a minute (598). Every attempt goes
to the Message Activity Log, the Currents export and the journal. Nothing sleeps: each attempt is
a scheduler task on the runtime clock, so a simulated run plays a day of retries in milliseconds.

Braze documents the rules but not the numbers; the harness's choices:
- Backoff after a 408, 429, 5xx or 598: 30 s doubling (30, 60, 120, 240, 480 s; the sixth and
  last attempt comes 15.5 minutes after the first), inside a 30-minute window from the first
  attempt.
- Backoff after a 599 (host unreachable): 1 minute growing fivefold (60, 300, 1500, 7500,
  37500 s; the last attempt about 13 hours after the first), inside a 24-hour window. The window
  of a retry is chosen by the status of the attempt that just failed.
- `Retry-After` (seconds or an HTTP date) on any retriable answer, and `X-RateLimit-Reset` on a
  429 (UTC epoch seconds, Braze's own meaning; a value below 10^9 is read as seconds to wait),
  can lengthen a wait, never shorten it. A retry that would land after its window is not made:
  the delivery fails.
- A connection failure, a connect timeout included, is 599, and so is a connection that breaks mid-answer (a
  body cut short); a response that does not arrive
  within `timeout` is recorded as 408 (it counts toward the unhealthy-host detector, as a 408 does).
- Redirects are not followed: the 3xx itself is the (failed) outcome.
- Targets obey the service's outbound policy (`harness.outbound`, `--allow-outbound`; loopback only by
  default), asked by the transport on every connection: a refused target is a failed delivery at once,
  never retried (the same call is refused again), with the policy's reason. In simulated mode every
  host is in-process: an unregistered one is a service that is down and answers 599, as the transport
  makes it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from harness.outbound import OutboundRefused
from harness.runtime import Runtime
from harness.scheduler import TaskGroup, TaskHandle
from harness.urls import check_url
from mocks.braze.delivery.activity import (
    WEBHOOK_FAILURE,
    WEBHOOK_RETRY,
    WEBHOOK_SEND,
    ActivityLog,
    CurrentsExport,
    iso_time,
)
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.webhook_templates import METHODS
from mocks.braze.state import StateError, Swap, as_fields, build, detached, expect, moment, record

RETRY_BACKOFF = (30.0, 60.0, 120.0, 240.0, 480.0)
UNREACHABLE_BACKOFF = (60.0, 300.0, 1500.0, 7500.0, 37500.0)
MAX_RETRIES = 5
RETRY_WINDOW = timedelta(minutes=30)
UNREACHABLE_WINDOW = timedelta(hours=24)
MAX_SERVER_WAIT = 86_400.0  # a longer Retry-After lands past every window anyway; keeps datetimes in range

UNHEALTHY_STATUSES = frozenset({408, 429, 502, 503, 504, 529})
TIMEOUT_STATUS = 408
HALTED_STATUS = 598
CONNECTION_ERROR_STATUS = 599
RESPONSE_EXCERPT_CHARS = 500
EPOCH_HINT = 1_000_000_000  # X-RateLimit-Reset at or above this is an epoch time, below it a delay

# Braze sends "Braze Sender <build hash>"; receivers are told to match the prefix only.
USER_AGENT = "Braze Sender 290f81d32aba65a8f696cd92c0c50ed55c3215c1"

# Currents `webhook_failure_source`: who produced the failure
SOURCE_ENDPOINT = "External Endpoint"
SOURCE_UNREACHABLE = "Host Unreachable"
SOURCE_BRAZE = "Braze"


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook exactly as it goes out, already rendered by Liquid."""

    url: str
    method: str  # POST | PUT | DELETE | GET | PATCH
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


OutcomeCallback = Callable[[DeliveryContext, str, int | None], None]


@dataclass
class _Delivery:
    """One webhook's progress through its attempts."""

    request: WebhookRequest
    ctx: DeliveryContext
    generation: int
    host: str | None = None  # lower-case host name; None when the URL cannot be parsed
    path: str | None = None
    host_key: str = ""  # the unhealthy-host detector's key, host:port (Braze counts per host, not per path)
    url_error: str | None = None
    attempt: int = 0
    first_attempt_at: datetime | None = None


@dataclass
class _Result:
    """What one attempt came to."""

    status: int | None
    error: str | None = None
    response_body: str | None = None
    retriable: bool = False
    wait: float = 0.0  # the least wait before a retry that the receiver (or a halt) asks for
    source: str = SOURCE_ENDPOINT
    content_length: int = 0
    duration_ms: int = 0


class HostHealth:
    """Braze's unhealthy-host detector: too many overload failures in a moving window halt a host.

    More than `threshold` failures with an overload status within `window` seconds halt requests
    to that host for `halt` seconds. The count starts afresh with each halt, so a host that is
    still failing after the halt has to trip the detector again ("waits another minute").
    """

    def __init__(self, threshold: int, window: float, halt: float) -> None:
        self.threshold = threshold
        self.window = timedelta(seconds=window)
        self.halt = timedelta(seconds=halt)
        self._failures: dict[str, deque[datetime]] = {}
        self._halted_until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def halted_until(self, host: str, now: datetime) -> datetime | None:
        with self._lock:
            until = self._halted_until.get(host)
            if until is not None and now >= until:
                del self._halted_until[host]
                return None
            return until

    def record_failure(self, host: str, now: datetime) -> datetime | None:
        """Count one overload failure; returns the end of the halt when this one trips the detector."""
        with self._lock:
            failures = self._failures.setdefault(host, deque())
            failures.append(now)
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if len(failures) <= self.threshold:
                return None
            failures.clear()
            until = now + self.halt
            self._halted_until[host] = until
            return until

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._halted_until.clear()

    def snapshot_state(self) -> dict[str, Any]:
        with self._lock:
            return {"failures": {host: list(times) for host, times in self._failures.items()},
                    "halted_until": dict(self._halted_until)}

    def stage_state(self, state: Any) -> Swap:
        record(state, "dispatcher.health", ("failures", "halted_until"))
        failures = {host: deque(expect(times, list, f"dispatcher.health.failures[{host!r}]"))
                    for host, times in expect(state["failures"], dict, "dispatcher.health.failures").items()}
        halted = dict(expect(state["halted_until"], dict, "dispatcher.health.halted_until"))

        def swap() -> None:
            with self._lock:
                self._failures, self._halted_until = failures, halted
        return swap


def _seconds(value: float) -> float:
    """A server-requested wait, made safe: negative, NaN or absurd values become usable numbers."""
    if not math.isfinite(value):
        return 0.0
    return min(max(value, 0.0), MAX_SERVER_WAIT)


def _retry_after(value: str, now: datetime) -> float:
    """`Retry-After`: delay-seconds or an HTTP date; 0 when unreadable."""
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _seconds((when - now).total_seconds())


def _rate_limit_reset(value: str, now: datetime) -> float:
    try:
        reset = float(value)
    except ValueError:
        return 0.0
    return _seconds(reset - now.timestamp() if reset >= EPOCH_HINT else reset)


class WebhookDispatcher:
    """Sends rendered webhooks with Braze's retry rules and records every attempt.

    `on_outcome(ctx, outcome, status)` is called once per delivery: "sent" (a 2xx), "failed" (not
    retriable, or retries exhausted) or "aborted" (`record_abort`), so campaign statistics and
    conversion windows can follow.
    """

    def __init__(self, runtime: Runtime, *, timeout: float = 90.0, on_outcome: OutcomeCallback | None = None,
                 unhealthy_threshold: int = 3000, unhealthy_window: float = 60.0, halt_seconds: float = 60.0) -> None:
        self.runtime = runtime
        self.timeout = timeout
        self.on_outcome = on_outcome
        self.health = HostHealth(unhealthy_threshold, unhealthy_window, halt_seconds)
        self.activity = ActivityLog()
        self.currents_export = CurrentsExport(runtime.ids)
        self._tasks = TaskGroup(runtime.scheduler)
        self._http = runtime.transport.client(timeout=timeout)  # never follows redirects
        # bumped by reset(), so an attempt in flight on a live worker thread leaves no trace
        self._generation = 0
        # token -> (its task, when, the delivery as it was when the attempt was scheduled): what a snapshot keeps.
        # An attempt stays here until it is over, so one in flight at a snapshot is made again after a restore
        # (at least once: receivers dedupe, as Braze's do).
        self._pending: dict[int, tuple[TaskHandle | None, datetime, _Delivery]] = {}
        self._next_token = 0
        self._pending_lock = threading.Lock()

    # -- what callers read ------------------------------------------------------------------------
    @property
    def activity_log(self) -> list[dict[str, Any]]:
        """The Message Activity Log, newest last."""
        return self.activity.entries()

    @property
    def currents(self) -> list[dict[str, Any]]:
        """Currents records, oldest first."""
        return self.currents_export.records()

    def currents_ndjson(self, since: datetime | None = None) -> str:
        """The Currents export as NDJSON (one JSON object per line), from `since` when given."""
        return self.currents_export.ndjson(since)

    # -- what callers do --------------------------------------------------------------------------
    def send(self, request: WebhookRequest, ctx: DeliveryContext, at: datetime | None = None) -> None:
        """Schedule the first attempt: as soon as the scheduler runs, or at `at`."""
        if request.method not in METHODS:
            raise ValueError(f"webhook method must be one of {', '.join(METHODS)}, not {request.method!r}")
        delivery = _Delivery(request, ctx, self._generation)
        try:
            parts = urlsplit(check_url(request.url))
            delivery.host = parts.hostname
            delivery.path = parts.path or "/"
            delivery.host_key = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        except ValueError as exc:
            delivery.url_error = f"invalid webhook URL: {exc}"
        self._schedule(delivery, at if at is not None else self.runtime.clock.now(), "braze.webhook")

    def _schedule(self, delivery: _Delivery, when: datetime, name: str, replacing: int | None = None) -> None:
        """Schedule the delivery's next attempt at `when`, kept as data for snapshots; `replacing` is the token of
        the attempt that led to it, forgotten in the same step, so a snapshot never holds both or neither."""
        with self._pending_lock:
            if replacing is not None:
                self._pending.pop(replacing, None)
            token, self._next_token = self._next_token, self._next_token + 1
            self._pending[token] = (None, when, replace(delivery))
        handle = self._tasks.at(when, self._attempt, delivery, token, name=name)
        with self._pending_lock:
            entry = self._pending.get(token)
            if entry is not None:
                self._pending[token] = (handle, when, entry[2])

    def _forget(self, token: int | None) -> None:
        with self._pending_lock:
            self._pending.pop(token, None)

    def record_abort(self, ctx: DeliveryContext, reason: str) -> None:
        """A Liquid `abort_message`: logged and exported as an Abort, never sent, not a delivery."""
        now = self.runtime.clock.now()
        self.activity.add(ctx, now, url=None, method=None, attempt=None, status=None, outcome="aborted",
                          error=reason or "abort_message() called", response_body=None, next_attempt_at=None)
        self.currents_export.abort(ctx, now, reason)
        self.runtime.journal.record("braze", "webhook.aborted", ctx.trace_id, **_ctx_attrs(ctx), reason=reason)
        if self.on_outcome is not None:
            self.on_outcome(ctx, "aborted", None)

    def record_custom_event(self, braze_id: str, external_id: str | None, name: str, time: datetime,
                            properties: dict[str, Any]) -> None:
        """Export a tracked custom event to Currents (the service journals it as `event.recorded`)."""
        self.currents_export.custom_event(braze_id, external_id, name, time, properties)

    def reset(self) -> None:
        """Cancel pending attempts and forget the logs, the export and host health."""
        self.stop()
        self.activity.clear()
        self.currents_export.clear()
        self.health.clear()

    def stop(self) -> None:
        """Cancel pending attempts; one in flight on a live worker records and schedules nothing."""
        self._generation += 1
        self._tasks.cancel_all()
        with self._pending_lock:
            self._pending.clear()

    def pending_trace_ids(self) -> set[str]:
        """The trace ids of the deliveries still to be attempted."""
        with self._pending_lock:
            return {delivery.ctx.trace_id for _, _, delivery in self._pending.values()}

    # -- snapshots --------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """The logs, the export, host health, and each delivery still to be attempted (with when)."""
        with self._pending_lock:
            pending = [(when, delivery) for handle, when, delivery in self._pending.values()
                       if handle is None or not handle.cancelled]
        deliveries = []
        for when, delivery in pending:
            data = as_fields(delivery)
            del data["generation"]
            data["request"], data["ctx"] = as_fields(delivery.request), as_fields(delivery.ctx)
            deliveries.append({"when": when, "delivery": data})
        return {"activity_log": self.activity.snapshot_state(), "currents": self.currents_export.snapshot_state(),
                "health": self.health.snapshot_state(), "pending": detached(deliveries)}

    def stage_state(self, state: Any) -> tuple[Swap, Callable[[], None]]:
        """(swap, start): `start` schedules the pending deliveries again, after every store is swapped in."""
        record(state, "dispatcher", ("activity_log", "currents", "health", "pending"))
        swaps = [self.activity.stage_state(state["activity_log"]), self.currents_export.stage_state(state["currents"]),
                 self.health.stage_state(state["health"])]
        pending: list[tuple[datetime, _Delivery]] = []
        for i, item in enumerate(expect(state["pending"], list, "dispatcher.pending")):
            where = f"dispatcher.pending[{i}]"
            record(item, where, ("when", "delivery"))
            data = dict(expect(item["delivery"], dict, f"{where}.delivery"))
            request = build(WebhookRequest, data.pop("request", None), f"{where}.delivery.request")
            ctx = build(DeliveryContext, data.pop("ctx", None), f"{where}.delivery.ctx")
            delivery = build(_Delivery, data, f"{where}.delivery", request=request, ctx=ctx, generation=0)
            if request.method not in METHODS:
                raise StateError(f"{where}.delivery.request.method", f"{request.method!r} is no webhook method")
            moment(delivery.first_attempt_at, f"{where}.delivery.first_attempt_at", optional=not delivery.attempt)
            pending.append((moment(item["when"], f"{where}.when"), delivery))

        def swap() -> None:
            for each in swaps:
                each()

        def start() -> None:
            for when, delivery in pending:
                delivery.generation = self._generation
                self._schedule(delivery, when, "braze.webhook.retry" if delivery.attempt else "braze.webhook")
        return swap, start

    # -- one attempt ------------------------------------------------------------------------------
    def _attempt(self, delivery: _Delivery, token: int | None = None) -> None:
        clock = self.runtime.clock
        started = clock.now()
        delivery.attempt += 1
        if delivery.first_attempt_at is None:
            delivery.first_attempt_at = started
        result = self._try(delivery, started)
        if delivery.generation != self._generation:
            return  # reset() ran while the request was in flight (live mode): record and schedule nothing
        now = clock.now()
        result.duration_ms = (now - started) // timedelta(milliseconds=1)
        if result.status is not None and 200 <= result.status < 300:
            self._sent(delivery, result, now)
            self._forget(token)
            return
        next_at, why = self._next_attempt_at(delivery, result, now) if result.retriable else (None, None)
        if next_at is None:
            self._failed(delivery, result, now, why)
            self._forget(token)
        else:
            self._retry(delivery, result, now, next_at, token)

    def _try(self, delivery: _Delivery, now: datetime) -> _Result:
        if delivery.url_error is not None:
            return _Result(None, delivery.url_error, source=SOURCE_BRAZE)
        halted_until = self.health.halted_until(delivery.host_key, now)
        if halted_until is not None:
            return _Result(HALTED_STATUS, f"host {delivery.host_key} is unhealthy: requests halted until "
                                          f"{iso_time(halted_until)}",
                           retriable=True, wait=(halted_until - now).total_seconds(), source=SOURCE_BRAZE)
        request = delivery.request
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(request.headers)
        headers.setdefault("User-Agent", USER_AGENT)
        headers["X-Trace-Id"] = delivery.ctx.trace_id
        try:
            response = self._http.request(request.method, request.url, headers=dict(headers),
                                          data=request.body.encode("utf-8") if request.body else None,
                                          timeout=self.timeout)
        except OutboundRefused as exc:  # before any connection: the same call is refused again
            return _Result(None, str(exc), source=SOURCE_BRAZE)
        except requests.ConnectionError as exc:  # ConnectTimeout is one too: the host was never reached
            return _Result(CONNECTION_ERROR_STATUS, f"connection error: {exc}", retriable=True,
                           source=SOURCE_UNREACHABLE)
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # the connection broke mid-answer: no usable answer, as a connection that never opened
            return _Result(CONNECTION_ERROR_STATUS, f"connection broken mid-answer: {exc}", retriable=True,
                           source=SOURCE_UNREACHABLE)
        except requests.Timeout as exc:
            self._count_failure(delivery, TIMEOUT_STATUS)
            return _Result(TIMEOUT_STATUS, f"no response within {self.timeout:g} s: {exc}", retriable=True,
                           source=SOURCE_UNREACHABLE)
        except requests.RequestException as exc:
            return _Result(None, f"request failed: {exc}", source=SOURCE_BRAZE)
        status = response.status_code
        if 200 <= status < 300:
            return _Result(status)
        self._count_failure(delivery, status)
        retriable = status in (408, 429) or 500 <= status <= 599
        error = f"HTTP {status} {response.reason or ''}".rstrip()
        if 300 <= status < 400:
            error += " (redirects are not followed)"
        return _Result(status, error, response.text[:RESPONSE_EXCERPT_CHARS], retriable,
                       self._server_wait(response, now) if retriable else 0.0, content_length=len(response.content))

    def _count_failure(self, delivery: _Delivery, status: int) -> None:
        if status not in UNHEALTHY_STATUSES:
            return
        until = self.health.record_failure(delivery.host_key, self.runtime.clock.now())
        if until is not None:
            self.runtime.journal.record("braze", "webhook.host_unhealthy", None, host=delivery.host_key,
                                        halted_until=iso_time(until), threshold=self.health.threshold)

    @staticmethod
    def _server_wait(response: requests.Response, now: datetime) -> float:
        """The wait a retriable answer asks for: `Retry-After`, or a 429's `X-RateLimit-Reset`."""
        waits = [0.0]
        if "Retry-After" in response.headers:
            waits.append(_retry_after(response.headers["Retry-After"].strip(), now))
        if response.status_code == 429 and "X-RateLimit-Reset" in response.headers:
            waits.append(_rate_limit_reset(response.headers["X-RateLimit-Reset"].strip(), now))
        return max(waits)

    def _next_attempt_at(self, delivery: _Delivery, result: _Result,
                         now: datetime) -> tuple[datetime | None, str | None]:
        """When to retry, or (None, why not)."""
        if delivery.attempt > MAX_RETRIES:
            return None, f"gave up after {delivery.attempt} attempts"
        unreachable = result.status == CONNECTION_ERROR_STATUS
        backoff = (UNREACHABLE_BACKOFF if unreachable else RETRY_BACKOFF)[delivery.attempt - 1]
        window = UNREACHABLE_WINDOW if unreachable else RETRY_WINDOW
        wait = max(backoff, result.wait)
        next_at = now + timedelta(seconds=wait)
        assert delivery.first_attempt_at is not None
        if next_at > delivery.first_attempt_at + window:
            return None, (f"the next retry (in {wait:g} s) would fall outside the "
                          f"{'24-hour' if unreachable else '30-minute'} retry window")
        return next_at, None

    # -- recording --------------------------------------------------------------------------------
    def _log_attempt(self, delivery: _Delivery, result: _Result, now: datetime, outcome: str,
                     error: str | None, next_at: datetime | None = None) -> None:
        request = delivery.request
        self.activity.add(delivery.ctx, now, url=request.url, method=request.method, attempt=delivery.attempt,
                          status=result.status, outcome=outcome, error=error, response_body=result.response_body,
                          next_attempt_at=iso_time(next_at) if next_at is not None else None)
        self.runtime.journal.record("braze", "webhook.attempt", delivery.ctx.trace_id,
                                    dispatch_id=delivery.ctx.dispatch_id, url=request.url, method=request.method,
                                    attempt=delivery.attempt, status=result.status, outcome=outcome, error=error)

    def _failure_fields(self, delivery: _Delivery, result: _Result, error: str | None) -> dict[str, Any]:
        """Currents' webhook failure fields (Braze's names), plus `url` and `error` for readers."""
        return {
            "endpoint_url": delivery.request.url,
            "url": delivery.request.url,
            "host": delivery.host,
            "url_path": delivery.path,
            "http_status_code": result.status,
            "raw_response": result.response_body,
            "content_length": result.content_length,
            "retry_count": delivery.attempt,
            "webhook_duration": result.duration_ms,
            "webhook_failure_source": result.source,
            "error": error,
        }

    def _sent(self, delivery: _Delivery, result: _Result, now: datetime) -> None:
        ctx = delivery.ctx
        self._log_attempt(delivery, result, now, "sent", None)
        self.currents_export.message_event(WEBHOOK_SEND, ctx, now)
        self.runtime.journal.record("braze", "webhook.sent", ctx.trace_id, **_ctx_attrs(ctx),
                                    url=delivery.request.url, status=result.status, attempts=delivery.attempt)
        if self.on_outcome is not None:
            self.on_outcome(ctx, "sent", result.status)

    def _retry(self, delivery: _Delivery, result: _Result, now: datetime, next_at: datetime,
               token: int | None = None) -> None:
        outcome = "halted" if result.status == HALTED_STATUS else "retry"
        self._log_attempt(delivery, result, now, outcome, result.error, next_at)
        self.currents_export.message_event(WEBHOOK_RETRY, delivery.ctx, now,
                                           **self._failure_fields(delivery, result, result.error),
                                           is_terminal=False, next_attempt_time=int(next_at.timestamp()))
        self._schedule(delivery, next_at, "braze.webhook.retry", replacing=token)

    def _failed(self, delivery: _Delivery, result: _Result, now: datetime, why: str | None) -> None:
        ctx = delivery.ctx
        error = f"{result.error}; {why}" if why else result.error
        self._log_attempt(delivery, result, now, "failed", error)
        self.currents_export.message_event(WEBHOOK_FAILURE, ctx, now, **self._failure_fields(delivery, result, error),
                                           is_terminal=True)
        self.runtime.journal.record("braze", "webhook.failed", ctx.trace_id, **_ctx_attrs(ctx),
                                    url=delivery.request.url, status=result.status, attempts=delivery.attempt,
                                    error=error)
        if self.on_outcome is not None:
            self.on_outcome(ctx, "failed", result.status)


def _ctx_attrs(ctx: DeliveryContext) -> dict[str, Any]:
    return {"dispatch_id": ctx.dispatch_id, "braze_id": ctx.braze_id, "external_id": ctx.external_id,
            "campaign_id": ctx.campaign_id, "canvas_id": ctx.canvas_id, "step_id": ctx.step_id}
