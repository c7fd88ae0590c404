"""The pipeline as the console shows it: one row per notification, filled in hop by hop from journal records.

A notification is followed by the trace id the fake Braze put on its webhook (as the run report does,
`simulator.analysis`). Sendbird traces a batch delivery as `<notification_id>:<user_id>`; the bridge's
`sendbird.sent` record ties it back. The three journals are read separately, so a Sendbird record can
arrive before the bridge's: it waits in `_unmatched` until the tie comes (bounded, oldest dropped). A
conversion carries no trace: it goes to the newest row of its campaign or canvas for that user.

The model is fed dicts (`/_admin/journal` records) and knows nothing of HTTP, so it is tested on its own
and the follower is only plumbing. Rows are bounded (`capacity`, oldest dropped): the console pages the
newest ones; the journals are the record of everything.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HOPS = ("send", "accepted", "notification", "sent", "read", "read_event", "conversion")
HOP_LABELS = {"send": "Braze send", "accepted": "bridge accepted", "notification": "Sendbird notification",
              "sent": "SENT at Braze", "read": "read on device", "read_event": "READ at Braze",
              "conversion": "conversion"}
RENDER_KINDS = {"campaign.send", "canvas.send", "messages.send"}
# A problem on the way, by (service, kind): the row's status, worst wins (ok < retrying < failed < aborted/dead).
PROBLEMS = {("braze", "webhook.aborted"): "aborted", ("braze", "webhook.failed"): "failed",
            ("bridge", "sendbird.retry"): "retrying", ("bridge", "sendbird.dead"): "dead",
            ("bridge", "callback.retry"): "retrying", ("bridge", "callback.dead"): "dead",
            ("bridge", "callback.unknown"): "retrying", ("bridge", "callback.check.unknown"): "retrying"}
RETRIED_ATTEMPTS = {"retry", "halted"}  # Braze's webhook.attempt outcomes that Braze tries again after
# The leg a retry or a dead letter was on got through after all (a retry that worked, a replayed dead letter):
# the row is `recovered`, its problems still listed.
RECOVERED_BY = {("braze", "webhook.sent"), ("bridge", "sendbird.sent"), ("bridge", "callback.posted"),
                ("bridge", "callback.check.landed")}
SEVERITY = {"ok": 0, "recovered": 1, "retrying": 2, "failed": 3, "aborted": 4, "dead": 4}
STATUSES = tuple(SEVERITY)
FUNNEL = ("sends", "accepted", "notifications", "sent_events", "read", "read_events", "conversions")
# The funnel counts records as the run report does (simulator.analysis.Trail), rows or not: a notification
# older than the window of rows still counts.
FUNNEL_KINDS = {**{("braze", k): "sends" for k in RENDER_KINDS}, ("bridge", "webhook.accepted"): "accepted",
                ("sendbird", "message.delivered"): "notifications", ("sendbird", "message.read"): "read",
                ("braze", "conversion"): "conversions"}
EVENT_COUNTERS = {"SENT": "sent_events", "READ": "read_events"}
PROBLEM_COUNTERS = ("retries", "failed", "aborted", "dead")
UNMATCHED_CAPACITY = 50_000
WEBHOOKS_KEPT = 50_000  # Sendbird's newest webhook attempts, for the Deliveries page
EVENTS_PER_USER = 50


@dataclass(slots=True)
class Row:
    trace_id: str
    seq: int = 0  # bumped on every change: the console sends what changed since a version
    user: str | None = None  # external id
    receiver: str | None = None  # Sendbird user id
    campaign_id: str | None = None
    canvas_id: str | None = None
    step_id: str | None = None
    template_key: str | None = None
    mode: str | None = None  # realtime | batch
    message_id: str | None = None  # the bridge's idempotency key
    notification_id: str | None = None
    batch_size: int | None = None
    status: str = "ok"
    problems: list[str] = field(default_factory=list)
    hops: dict[str, str] = field(default_factory=dict)  # hop -> ts (ISO-8601 UTC, ms)

    def to_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "version": self.seq, "user": self.user, "receiver": self.receiver,
                "campaign_id": self.campaign_id, "canvas_id": self.canvas_id, "step_id": self.step_id,
                "template_key": self.template_key, "mode": self.mode, "message_id": self.message_id,
                "notification_id": self.notification_id, "batch_size": self.batch_size, "status": self.status,
                "problems": list(self.problems), "hops": dict(self.hops)}


FILTER_KEYS = ("campaign_id", "canvas_id", "template_key", "status", "user", "since", "until")


def row_matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    """Whether a row (as `Row.to_dict` gives it) passes the pipeline page's filters, each absent or empty
    meaning any; `since`/`until` compare the row's first hop time (ISO-8601 text, so as strings)."""
    for key in ("campaign_id", "canvas_id", "template_key", "status"):
        wanted = filters.get(key)
        if wanted and row.get(key) != wanted:
            return False
    user = filters.get("user")
    if user and user not in (row.get("user"), row.get("receiver")):
        return False
    hops = row.get("hops") or {}
    first = hops.get("send") or min(hops.values(), default="")
    since, until = filters.get("since"), filters.get("until")
    return not ((since and first < since) or (until and first > until))


class Pipeline:
    """Rows by Braze trace id, the live funnel, and each user's recent custom events. Thread-safe: the
    follower feeds it on a scheduler thread while pages read it on the server's."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[str, Row] = OrderedDict()  # least recently changed first
        self._by_delivery: dict[tuple[str, str], str] = {}  # (notification_id, receiver) -> trace
        self._latest: dict[tuple[str, str], str] = {}  # (campaign or canvas id, external id) -> newest trace
        self._unmatched: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._webhooks: deque[dict[str, Any]] = deque(maxlen=WEBHOOKS_KEPT)
        self.counters: Counter = Counter()
        self.version = 0
        self._lock = threading.Lock()

    # -- feeding -------------------------------------------------------------------------------------
    def feed(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take records (any order across services, each service's in order); the rows they changed."""
        changed: dict[str, Row] = {}
        with self._lock:
            for rec in records:
                for row in self._take(rec):
                    self.version += 1
                    row.seq = self.version
                    self._rows.move_to_end(row.trace_id)  # rows stay in version order: newest last
                    changed[row.trace_id] = row
            return [row.to_dict() for row in changed.values()]

    def _take(self, rec: dict[str, Any]) -> list[Row]:
        service, kind, trace = rec.get("service"), rec.get("kind"), rec.get("trace_id")
        ts = rec.get("ts") or ""
        counter = FUNNEL_KINDS.get((service, kind))
        if kind == "event.recorded":
            counter = EVENT_COUNTERS.get((rec.get("properties") or {}).get("status"))
        if counter:
            self.counters[counter] += 1
        changed: list[Row] = []
        if (service, kind) in RECOVERED_BY and trace and (row := self._rows.get(trace)) is not None \
                and row.status in ("retrying", "dead"):
            row.status = "recovered"
            changed.append(row)
        if service == "braze":
            changed += self._braze(kind, trace, ts, rec)
        elif service == "bridge":
            changed += self._bridge(kind, trace, ts, rec)
        elif service == "sendbird" and kind in ("message.delivered", "message.read"):
            changed += self._sendbird(kind, trace, ts, rec)
        elif service == "sendbird" and kind == "webhook.attempt":
            self._webhooks.append(rec)
        return changed

    def _braze(self, kind: str, trace: str | None, ts: str, rec: dict[str, Any]) -> list[Row]:
        if kind in RENDER_KINDS and trace:
            row = self._row(trace)
            row.user = rec.get("external_id") or row.user
            row.campaign_id = rec.get("campaign_id") or row.campaign_id
            row.canvas_id = rec.get("canvas_id") or row.canvas_id
            row.step_id = rec.get("step_id") or row.step_id
            self._hop(row, "send", ts)
            if row.user:
                owner = row.canvas_id or row.campaign_id
                if owner:
                    self._latest[(owner, row.user)] = trace
            return [row]
        if kind == "event.recorded":
            self._note_event(rec)
            status = (rec.get("properties") or {}).get("status")
            if status in ("SENT", "READ") and trace and trace in self._rows:
                row = self._rows[trace]
                self._hop(row, "sent" if status == "SENT" else "read_event", ts)
                return [row]
            return []
        if kind == "conversion":
            owner, user = rec.get("owner"), rec.get("external_id")
            found = self._latest.get((owner, user)) if owner and user else None
            row = self._rows.get(found) if found else None
            if row is None:
                return []
            self._hop(row, "conversion", ts)
            return [row]
        if kind == "webhook.attempt" and rec.get("outcome") in RETRIED_ATTEMPTS and trace:
            return self._problem(self._rows.get(trace), "retrying", rec)
        if (problem := PROBLEMS.get(("braze", kind))) and trace:
            return self._problem(self._rows.get(trace), problem, rec)
        return []

    def _bridge(self, kind: str, trace: str | None, ts: str, rec: dict[str, Any]) -> list[Row]:
        if not trace:
            return []
        if kind == "webhook.accepted":
            row = self._row(trace)
            row.mode, row.message_id = rec.get("mode"), rec.get("message_id")
            row.receiver = rec.get("receiver") or row.receiver
            row.user = row.user or rec.get("user_id")
            row.template_key = rec.get("template_key") or row.template_key
            self._hop(row, "accepted", ts)
            return [row]
        if kind == "sendbird.sent":
            row = self._rows.get(trace)
            if row is None:  # a notification older than the window
                return []
            row.notification_id, row.batch_size = rec.get("notification_id"), rec.get("batch_size")
            receiver = rec.get("receiver") or row.receiver
            changed = [row]
            if row.notification_id and receiver:
                key = (row.notification_id, receiver)
                self._by_delivery[key] = trace
                for waiting in self._unmatched.pop(key, []):
                    changed += self._sendbird(waiting["kind"], waiting.get("trace_id"), waiting.get("ts") or "",
                                              waiting)
            return changed
        if problem := PROBLEMS.get(("bridge", kind)):
            return self._problem(self._rows.get(trace), problem, rec)
        return []

    def _sendbird(self, kind: str, trace: str | None, ts: str, rec: dict[str, Any]) -> list[Row]:
        row = self._rows.get(trace) if trace else None
        if row is None:
            key = (rec.get("notification_id"), rec.get("user_id"))
            found = self._by_delivery.get(key)
            row = self._rows.get(found) if found else None
            if row is None:
                if key[0] and key[1]:
                    self._unmatched.setdefault(key, []).append(rec)
                    while len(self._unmatched) > UNMATCHED_CAPACITY:
                        self._unmatched.popitem(last=False)
                return []
        if kind == "message.delivered":
            row.template_key = rec.get("template_key") or row.template_key
            row.notification_id = row.notification_id or rec.get("notification_id")
            self._hop(row, "notification", ts)
        else:
            self._hop(row, "read", ts)
        return [row]

    def _row(self, trace: str) -> Row:
        """The trace's row, made by the first record of a notification (Braze's send, or the bridge's accept
        of a webhook that did not come from the fake Braze); later records only fill rows in."""
        row = self._rows.get(trace)
        if row is None:
            row = self._rows[trace] = Row(trace)
            while len(self._rows) > self.capacity:
                self._forget(self._rows.popitem(last=False)[1])
        return row

    def _forget(self, row: Row) -> None:
        """Drop what points at a row that left the window, so the indexes stay as bounded as the rows."""
        if row.notification_id and row.receiver:
            self._by_delivery.pop((row.notification_id, row.receiver), None)
        owner = row.canvas_id or row.campaign_id
        if owner and row.user and self._latest.get((owner, row.user)) == row.trace_id:
            del self._latest[(owner, row.user)]

    def _hop(self, row: Row, hop: str, ts: str) -> None:
        row.hops.setdefault(hop, ts)

    def _problem(self, row: Row | None, status: str, rec: dict[str, Any]) -> list[Row]:
        self.counters["retries" if status == "retrying" else status] += 1
        if row is None:  # a notification older than the window: counted, not drawn
            return []
        what = rec["kind"] + (f": {rec['reason']}" if rec.get("reason") else "")
        if rec.get("status") and rec["kind"].startswith("webhook."):
            what += f" (HTTP {rec['status']}" + (f", {rec['outcome']})" if rec.get("outcome") else ")")
        row.problems.append(what)
        del row.problems[:-10]
        if SEVERITY[status] > SEVERITY[row.status]:
            row.status = status
        return [row]

    def _note_event(self, rec: dict[str, Any]) -> None:
        user = rec.get("external_id")
        if not user:
            return
        events = self._events.setdefault(user, [])
        events.append({"name": rec.get("name"), "time": rec.get("time") or rec.get("ts"),
                       "properties": rec.get("properties") or {}})
        del events[:-EVENTS_PER_USER]

    # -- reading -------------------------------------------------------------------------------------
    def rows(self, filters: dict[str, str] | None = None, before: int | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        """The newest rows passing `filters`, newest first; `before`: only rows older than that version
        (the next page)."""
        filters = filters or {}
        out = []
        with self._lock:
            for row in reversed(self._rows.values()):
                if before is not None and row.seq >= before:
                    continue
                view = row.to_dict()
                if row_matches(view, filters):
                    out.append(view)
                    if len(out) >= limit:
                        break
        return out

    def row(self, trace_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._rows.get(trace_id)
            return row.to_dict() if row else None

    def user_rows(self, user: str, limit: int = 50) -> list[dict[str, Any]]:
        return self.rows({"user": user}, limit=limit)

    def events_of(self, user: str) -> list[dict[str, Any]]:
        """The user's custom events the console saw, newest first, with their properties."""
        with self._lock:
            return list(reversed(self._events.get(user, [])))

    def sendbird_webhooks(self) -> list[dict[str, Any]]:
        """Sendbird's webhook attempts the console saw (its newest `WEBHOOKS_KEPT`), newest first."""
        with self._lock:
            return list(reversed(self._webhooks))

    def funnel(self) -> dict[str, int]:
        with self._lock:
            return {name: self.counters[name] for name in (*FUNNEL, *PROBLEM_COUNTERS)}

    def choices(self) -> dict[str, list[str]]:
        """The values the filters offer: the campaigns, canvases and templates seen so far."""
        with self._lock:
            rows = list(self._rows.values())
        return {key: sorted({getattr(r, key) for r in rows if getattr(r, key)})
                for key in ("campaign_id", "canvas_id", "template_key")}

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._by_delivery.clear()
            self._latest.clear()
            self._unmatched.clear()
            self._events.clear()
            self._webhooks.clear()
            self.counters.clear()
