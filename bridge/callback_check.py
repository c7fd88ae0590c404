"""Callbacks whose post may or may not have reached Braze, settled by Braze's own count and never by a guess.

Braze `/users/track` takes no idempotency key and does not deduplicate events, so a callback whose post has
an unknown outcome (the process died during it: `posting` at start; or its answer was lost after the request
left: a timeout, a connection broken once made, an answer cut short) is `checking` until Braze proves it
landed or not. The proof is Braze's event count: `POST /users/export/ids` with `fields_to_export:
["custom_events", "external_id"]` gives, per user, `count` of each custom event name. Harness contract
(docs/bridge.md, "Exactly once"): the bridge is the only writer of its callback event names for a user, and
a callback is `posted` in the outbox only when Braze accepted that event. Then, per user and event name,

    landed = Braze's count - the outbox's posted callbacks of that user and name

and of that user's `checking` callbacks of that name:
- landed >= all of them → all posted (`callback.check.landed`), not posted again;
- landed <= 0 → all pending, posted again at once (`callback.check.absent`);
- in between → the `landed` oldest posted, the rest posted again (each record says `landed` and `checking`).
A count below what the outbox posted (Braze was reset while the outbox file was kept) gives landed <= 0:
posted again.

The check runs inside the callback flush, under its lock, so no post of this process is in flight while
Braze counts and the outbox counts: both see the same posts. A check that cannot tell (429, 5XX, a timeout,
an answer that cannot be read) is tried again after the bridge's backoff, no sooner than Braze's
`Retry-After`/`X-RateLimit-Reset` (`callback.check.unknown`); after `max_checks` the callbacks go to the dead
letters with the reason, not posted (`callback.check.gave_up`). Another 4XX (a key without
`users.export.ids`) fails the same way every time: dead letter at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.clients import BRAZE_TIMEOUT, CallResult, call
from bridge.metrics import BridgeMetrics
from bridge.outbox import CallbackRow, Outbox
from harness.runtime import Runtime
from harness.transport import Client

MAX_IDS = 50  # external ids per /users/export/ids request
FIELDS = ["custom_events", "external_id"]


class Bridge(Protocol):
    """What the check asks of the bridge that owns it (`bridge.service.Bridge`)."""

    runtime: Runtime
    outbox: Outbox
    metrics: BridgeMetrics
    http: Client

    def now(self) -> float: ...
    def stamp(self, when: float) -> str: ...
    def journal(self, kind: str, trace_id: str | None, **attrs: Any) -> None: ...
    def backoff(self, attempts: int, server_wait: float | None) -> float: ...
    def bury_callbacks(self, batch: list[CallbackRow], reason: str) -> None: ...


@dataclass(frozen=True)
class Counts:
    """Braze's answer: external_id -> event name -> count; or why it proves nothing (`failure`)."""

    by_user: dict[str, dict[str, int]]
    failure: CallResult | None = None


def read_counts(body: dict[str, Any], asked: list[str]) -> dict[str, dict[str, int]] | str:
    """Event counts per asked user from an export answer, or what makes it unreadable. A user Braze lists in
    `invalid_user_ids` has no events (it does not exist); one it neither lists nor exports proves nothing.

    The one place that reads the shape of Braze's export objects: adapt it here when that changes."""
    users = body.get("users")
    if not isinstance(users, list):
        return "HTTP 201 without a list of users"
    invalid = body.get("invalid_user_ids", [])
    found: dict[str, dict[str, int]] = {str(i): {} for i in invalid if isinstance(i, str | int)} \
        if isinstance(invalid, list) else {}
    for user in users:
        if not isinstance(user, dict) or not isinstance(user.get("external_id"), str):
            continue
        events = user.get("custom_events", [])
        if not isinstance(events, list):
            return f"custom_events of {user['external_id']!r} is not a list"
        counts: dict[str, int] = {}
        for event in events:
            count = event.get("count") if isinstance(event, dict) else None
            if not isinstance(event, dict) or not isinstance(event.get("name"), str) \
                    or not isinstance(count, int) or isinstance(count, bool) or count < 0:
                return f"an unreadable custom_events entry of {user['external_id']!r}"
            counts[event["name"]] = count
        found[user["external_id"]] = counts
    missing = [u for u in asked if u not in found]
    if missing:
        return f"the answer says nothing of {', '.join(repr(u) for u in missing[:5])}"
    return found


class CallbackCheck:
    def __init__(self, bridge: Bridge, max_checks: int, endpoint: Callable[[], tuple[str, str]]) -> None:
        self.bridge = bridge
        self.max_checks = max_checks
        self.endpoint = endpoint  # () -> (Braze REST endpoint, API key), read at each check: both are editable live

    def counts(self, external_ids: list[str], now: datetime) -> Counts:
        base, key = self.endpoint()
        result = call(self.bridge.http, "POST", base.rstrip("/") + "/users/export/ids", now, BRAZE_TIMEOUT,
                      (200, 201), json={"external_ids": external_ids, "fields_to_export": FIELDS},
                      headers={"Authorization": f"Bearer {key}"})
        if not result.ok:
            return Counts({}, result)
        found = read_counts(result.body, external_ids)
        if isinstance(found, str):
            return Counts({}, CallResult(False, True, result.status, f"reading Braze's export: {found}"))
        return Counts(found)

    def run_due(self) -> None:
        """Check the due `checking` callbacks, 50 users a request, until none is due or a check cannot tell
        (a 429 among them: the rest wait with it). Called with the callback flush's lock held."""
        bridge = self.bridge
        while True:
            rows = bridge.outbox.checking_callbacks(bridge.now() + 1e-5, MAX_IDS)
            if not rows:
                return
            users = sorted({r.external_id for r in rows})
            try:
                counts = self.counts(users, bridge.runtime.clock.now())
            except Exception as exc:  # a check that breaks proves nothing
                counts = Counts({}, CallResult(False, True, None, f"the check failed: {type(exc).__name__}: {exc}"))
            if counts.failure is not None:
                self._unknown(rows, counts.failure)
                return
            self._settle(rows, counts.by_user)

    def _settle(self, rows: list[CallbackRow], braze: dict[str, dict[str, int]]) -> None:
        bridge = self.bridge
        groups: dict[tuple[str, str], list[CallbackRow]] = defaultdict(list)
        for row in rows:
            groups[(row.external_id, row.name)].append(row)
        posted = bridge.outbox.posted_counts(groups)
        landed_rows: list[CallbackRow] = []
        absent_rows: list[CallbackRow] = []
        verdicts: dict[tuple[str, str], dict[str, int]] = {}
        for pair, checking in groups.items():
            count = braze.get(pair[0], {}).get(pair[1], 0)
            landed = count - posted[pair]
            checking.sort(key=lambda r: (r.created_at, r.message_id, r.status))
            take = max(0, min(landed, len(checking)))
            landed_rows.extend(checking[:take])
            absent_rows.extend(checking[take:])
            verdicts[pair] = {"braze_count": count, "posted": posted[pair], "landed": landed,
                              "checking": len(checking)}
        # absent again after as many posts as a send may make: set aside, not posted in a loop
        exhausted = [r for r in absent_rows if r.attempts >= self.max_checks]
        absent_rows = [r for r in absent_rows if r.attempts < self.max_checks]
        attempts = max((r.attempts for r in absent_rows), default=0)
        due = bridge.now() + (bridge.backoff(attempts, None) if attempts else 0.0)
        bridge.outbox.callbacks_checked([r.key for r in landed_rows], [r.key for r in absent_rows], due)
        if exhausted:
            bridge.bury_callbacks(exhausted, f"retries exhausted after {max(r.attempts for r in exhausted)} posts "
                                             "whose answers were lost (Braze's count shows it never arrived)")
        for kind, chosen in (("callback.check.landed", landed_rows), ("callback.check.absent", absent_rows)):
            bridge.metrics.callback_checks.labels(outcome=kind.rsplit(".", 1)[1]).inc(len(chosen))
            for row in chosen:
                bridge.journal(kind, row.trace_id, message_id=row.message_id, status=row.status,
                               external_id=row.external_id, name=row.name, checks=row.checks + 1,
                               **verdicts[(row.external_id, row.name)])

    def _unknown(self, rows: list[CallbackRow], failure: CallResult) -> None:
        bridge = self.bridge
        checks = max(r.checks for r in rows) + 1
        bridge.metrics.callback_checks.labels(outcome="unknown").inc(len(rows))
        if not failure.retriable or checks >= self.max_checks:
            why = (f"after {checks} checks (last: {failure.reason})" if failure.retriable
                   else f"Braze refused the check: {failure.reason}")
            for row in rows:
                bridge.journal("callback.check.gave_up", row.trace_id, message_id=row.message_id, status=row.status,
                               checks=checks, reason=failure.reason)
            bridge.bury_callbacks(rows, f"could not tell whether the callback reached Braze {why}; not posted "
                                        "again without proof, a replay posts it")
            return
        delay = bridge.backoff(checks, failure.wait_seconds)
        due = bridge.now() + delay
        bridge.outbox.callbacks_check_unknown([r.key for r in rows], due)
        for row in rows:
            bridge.journal("callback.check.unknown", row.trace_id, message_id=row.message_id, status=row.status,
                           reason=failure.reason, checks=row.checks + 1, next_check_at=bridge.stamp(due),
                           delay_seconds=round(delay, 3))
