"""Where Braze tells you what happened to a message: the Message Activity Log and a Currents export.

Real Braze shows webhook errors in the dashboard's Message Activity Log and streams message
engagement events (`users.messages.webhook.Send`, `.Failure`, `.Retry`, `.Abort`) and custom events
(`users.behaviors.CustomEvent`) to a warehouse through Currents. The fake keeps both in memory,
bounded, so a QA engineer can read the same evidence they would read in Braze, and a test can
assert on it. Currents records use the flat Cloud Storage shape (`user_id` is the braze_id,
`time` is epoch seconds) and `currents_ndjson()` writes them as Braze's storage files do: one JSON
object per line.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import datetime
from typing import Any

from harness.ids import IdFactory
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.state import StateError, Swap, detached, expect

ACTIVITY_LOG_CAPACITY = 50_000
CURRENTS_CAPACITY = 200_000
ABORT_LOG_CHARS = 128  # Currents: "abort_log ... (up to 128 chars)"

WEBHOOK_SEND = "users.messages.webhook.Send"
WEBHOOK_FAILURE = "users.messages.webhook.Failure"
WEBHOOK_RETRY = "users.messages.webhook.Retry"
WEBHOOK_ABORT = "users.messages.webhook.Abort"
CUSTOM_EVENT = "users.behaviors.CustomEvent"


def iso_time(when: datetime) -> str:
    """ISO-8601 UTC with milliseconds, the format the journal uses."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class ActivityLog:
    """The Message Activity Log: one entry per webhook attempt or abort, newest last."""

    def __init__(self, capacity: int = ACTIVITY_LOG_CAPACITY) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, ctx: DeliveryContext, when: datetime, **fields: Any) -> dict[str, Any]:
        entry = {
            "time": iso_time(when),
            "channel": "webhook",
            "dispatch_id": ctx.dispatch_id,
            "campaign_id": ctx.campaign_id,
            "campaign_name": ctx.campaign_name,
            "canvas_id": ctx.canvas_id,
            "canvas_name": ctx.canvas_name,
            "step_id": ctx.step_id,
            "step_name": ctx.step_name,
            "braze_id": ctx.braze_id,
            "external_id": ctx.external_id,
            "trace_id": ctx.trace_id,
            **fields,
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def snapshot_state(self) -> list[dict[str, Any]]:
        with self._lock:
            return detached(list(self._entries))

    def stage_state(self, state: Any) -> Swap:
        entries = expect(state, list, "dispatcher.activity_log")
        for i, entry in enumerate(entries):
            expect(entry, dict, f"dispatcher.activity_log[{i}]")
        staged = deque(entries, maxlen=self._entries.maxlen)

        def swap() -> None:
            with self._lock:
                self._entries = staged
        return swap


class CurrentsExport:
    """Currents events in Braze's flat storage shape, oldest first, with an NDJSON writer."""

    def __init__(self, ids: IdFactory, capacity: int = CURRENTS_CAPACITY) -> None:
        self._ids = ids
        # each record keeps its exact time beside it, so `since` is not rounded to whole seconds
        self._records: deque[tuple[datetime, dict[str, Any]]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def _add(self, when: datetime, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._records.append((when, record))
        return record

    def message_event(self, event_type: str, ctx: DeliveryContext, when: datetime, **fields: Any) -> dict[str, Any]:
        return self._add(when, {
            "id": self._ids.uuid(),
            "event_type": event_type,
            "user_id": ctx.braze_id,
            "external_user_id": ctx.external_id,
            "time": int(when.timestamp()),
            "dispatch_id": ctx.dispatch_id,
            "campaign_id": ctx.campaign_id,
            "campaign_name": ctx.campaign_name,
            "canvas_id": ctx.canvas_id,
            "canvas_name": ctx.canvas_name,
            "canvas_step_id": ctx.step_id,
            "canvas_step_name": ctx.step_name,
            **fields,
        })

    def abort(self, ctx: DeliveryContext, when: datetime, reason: str) -> dict[str, Any]:
        return self.message_event(WEBHOOK_ABORT, ctx, when, abort_type="liquid_abort_message",
                                  abort_log=reason[:ABORT_LOG_CHARS])

    def custom_event(self, braze_id: str, external_id: str | None, name: str, when: datetime,
                     properties: dict[str, Any]) -> dict[str, Any]:
        return self._add(when, {
            "id": self._ids.uuid(),
            "event_type": CUSTOM_EVENT,
            "user_id": braze_id,
            "external_user_id": external_id,
            "time": int(when.timestamp()),
            "name": name,
            "properties": dict(properties),
        })

    def records(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Records that happened at or after `since` (all when None), oldest first."""
        with self._lock:
            return [record for when, record in self._records if since is None or when >= since]

    def ndjson(self, since: datetime | None = None) -> str:
        return "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in self.records(since))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def snapshot_state(self) -> list[tuple[datetime, dict[str, Any]]]:
        with self._lock:
            return detached(list(self._records))

    def stage_state(self, state: Any) -> Swap:
        records = expect(state, list, "dispatcher.currents")
        for i, item in enumerate(records):
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], datetime)
                    and isinstance(item[1], dict)):
                raise StateError(f"dispatcher.currents[{i}]", "expected a (time, record) pair")
        staged = deque(records, maxlen=self._records.maxlen)

        def swap() -> None:
            with self._lock:
                self._records = staged
        return swap
