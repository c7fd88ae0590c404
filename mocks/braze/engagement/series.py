"""Daily analytics of the webhook channel, as `/campaigns/data_series`, `/canvas/data_series`,
`/canvas/data_summary` and `/sends/data_series` report them, filled from what actually happened.

Fed by the dispatcher's final outcome of each delivery ("sent" after a 2xx, "failed" once retries are over:
Braze's webhook `errors`), by the conversion tracker, and by canvas entries, so the numbers count what the
dispatcher did, not what was attempted: a delivery retried three times and then answered 2xx is one `sent`.
Buckets are UTC days per campaign, canvas, canvas step and tracked send, holding counters and the day's
recipients (for `unique_recipients` and for attributing a conversion to the day of the send or entry); memory
grows with days and users, never with messages. Days older than the longest series Braze serves are dropped
(100 days; send analytics are kept "for 14 days after the send", `get_send_analytics.md`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from harness.journal import Record
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.state import StateError, Swap, as_fields, build, detached, expect, record

KEEP_DAYS = 100
KEEP_SEND_DAYS = 14
CONVERSION_EVENTS = 4  # "up to 4 per campaign" (braze.md); reported as conversions, conversions1..3


@dataclass
class Day:
    sent: int = 0
    errors: int = 0
    entries: int = 0
    conversions: list[int] = field(default_factory=lambda: [0] * CONVERSION_EVENTS)
    by_origin_time: list[int] = field(default_factory=lambda: [0] * CONVERSION_EVENTS)  # by send/entry time
    recipients: set[str] = field(default_factory=set)  # sent to this day (entered, for a canvas)

    def add(self, other: Day) -> None:
        self.sent += other.sent
        self.errors += other.errors
        self.entries += other.entries
        self.conversions = [a + b for a, b in zip(self.conversions, other.conversions, strict=True)]
        self.by_origin_time = [a + b for a, b in zip(self.by_origin_time, other.by_origin_time, strict=True)]
        self.recipients |= other.recipients


class Days:
    """One owner's buckets by UTC day."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.days: dict[date, Day] = {}

    def on(self, day: date) -> Day:
        bucket = self.days.get(day)
        if bucket is None:
            bucket = self.days[day] = Day()
            oldest = day - timedelta(days=self.keep)
            for old in [d for d in self.days if d < oldest]:
                del self.days[old]
        return bucket

    def get(self, day: date) -> Day:
        return self.days.get(day) or Day()

    def last_with(self, braze_id: str) -> date | None:
        """The latest day this user was a recipient: where a conversion "by send time" belongs."""
        return max((d for d, b in self.days.items() if braze_id in b.recipients), default=None)

    def between(self, first: date, last: date) -> list[tuple[date, Day]]:
        return [(first + timedelta(days=i), self.get(first + timedelta(days=i)))
                for i in range((last - first).days + 1)]


def _convert(days: Days, origin_days: Days, braze_id: str, index: int, today: date) -> None:
    """A conversion on `today` in `days`, and "by send (entry) time" in `days` on the user's last day in
    `origin_days`."""
    origin = origin_days.last_with(braze_id)
    if origin is not None:
        days.on(today).conversions[index] += 1
        days.on(origin).by_origin_time[index] += 1


class DataSeries:
    def __init__(self) -> None:
        self.campaigns: dict[str, Days] = {}
        self.canvases: dict[str, Days] = {}  # entries, conversions, and the canvas's webhook totals
        self.canvas_entered: dict[str, Days] = {}  # who entered each day: conversions by entry time
        self.steps: dict[str, dict[str, Days]] = {}  # canvas -> step -> its webhook stats
        self.step_names: dict[tuple[str, str], str] = {}
        self.sends: dict[tuple[str, str], Days] = {}  # (campaign, send_id)
        self._send_of: dict[str, tuple[str, str, date]] = {}  # dispatch_id -> (campaign, send_id, day opened)
        self._pruned_on: date | None = None
        self._lock = threading.Lock()

    # -- recording ------------------------------------------------------------------------------
    def track_send(self, campaign_id: str, send_id: str, dispatch_id: str, now: datetime) -> None:
        """A dispatch that carries a tracked `send_id` (told before anything of it is sent)."""
        today = now.date()
        with self._lock:
            self._send_of[dispatch_id] = (campaign_id, send_id, today)
            if today != self._pruned_on:  # once a day, so a busy day costs no more than a quiet one
                self._pruned_on = today
                oldest = today - timedelta(days=KEEP_SEND_DAYS)
                for dispatch in [k for k, (_, _, d) in self._send_of.items() if d < oldest]:
                    del self._send_of[dispatch]

    def on_outcome(self, ctx: DeliveryContext, outcome: str, now: datetime) -> None:
        if outcome not in ("sent", "failed"):
            return  # an abort is no delivery and no error (Liquid's abort_message)
        today = now.date()
        with self._lock:
            buckets: list[Day] = []
            if ctx.canvas_id is not None:
                buckets.append(self.canvases.setdefault(ctx.canvas_id, Days(KEEP_DAYS)).on(today))
                if ctx.step_id is not None:
                    steps = self.steps.setdefault(ctx.canvas_id, {})
                    buckets.append(steps.setdefault(ctx.step_id, Days(KEEP_DAYS)).on(today))
                    self.step_names[(ctx.canvas_id, ctx.step_id)] = ctx.step_name or ctx.step_id
            elif ctx.campaign_id is not None:
                buckets.append(self.campaigns.setdefault(ctx.campaign_id, Days(KEEP_DAYS)).on(today))
                send = self._send_of.get(ctx.dispatch_id)
                if send is not None:
                    buckets.append(self.sends.setdefault(send[:2], Days(KEEP_SEND_DAYS)).on(today))
            for bucket in buckets:
                if outcome == "sent":
                    bucket.sent += 1
                    bucket.recipients.add(ctx.braze_id)
                else:
                    bucket.errors += 1

    def on_entry(self, record: Record) -> None:
        """A journal record; counts `canvas.entered` ones (a canvas entry is no webhook outcome)."""
        if record.kind != "canvas.entered" or record.service != "braze":
            return
        canvas_id, braze_id, today = record.attrs["canvas_id"], record.attrs["braze_id"], record.at.date()
        with self._lock:
            self.canvases.setdefault(canvas_id, Days(KEEP_DAYS)).on(today).entries += 1
            self.canvas_entered.setdefault(canvas_id, Days(KEEP_DAYS)).on(today).recipients.add(braze_id)

    def on_conversion(self, owner: str, index: int, braze_id: str, now: datetime) -> None:
        """Counted on the day of the conversion, and "by send time" (campaigns) or "by entry time" (canvases) on
        the day the user last received the campaign or entered the canvas."""
        if index >= CONVERSION_EVENTS:
            return
        today = now.date()
        with self._lock:
            if owner in self.campaigns:
                _convert(self.campaigns[owner], self.campaigns[owner], braze_id, index, today)
                sends = [(d, key) for key, days in self.sends.items() if key[0] == owner
                         for d in [days.last_with(braze_id)] if d is not None]
                if sends:  # "attributed toward the most recent send_id that a given user has received"
                    key = max(sends)[1]
                    _convert(self.sends[key], self.sends[key], braze_id, index, today)
            elif owner in self.canvases:
                entered = self.canvas_entered.get(owner)
                if entered is not None:
                    _convert(self.canvases[owner], entered, braze_id, index, today)
                steps = [(d, sid) for sid, days in self.steps.get(owner, {}).items()
                         for d in [days.last_with(braze_id)] if d is not None]
                if steps:  # the step that last messaged the user
                    step = self.steps[owner][max(steps)[1]]
                    _convert(step, step, braze_id, index, today)

    # -- reading --------------------------------------------------------------------------------
    def campaign_days(self, campaign_id: str, first: date, last: date) -> list[tuple[date, Day]]:
        with self._lock:
            return _copy(self.campaigns.get(campaign_id), first, last)

    def send_days(self, campaign_id: str, send_id: str, first: date, last: date) -> list[tuple[date, Day]]:
        with self._lock:
            return _copy(self.sends.get((campaign_id, send_id)), first, last)

    def canvas_days(self, canvas_id: str, first: date, last: date) -> list[tuple[date, Day]]:
        with self._lock:
            return _copy(self.canvases.get(canvas_id), first, last)

    def step_days(self, canvas_id: str, first: date, last: date) -> dict[str, list[tuple[date, Day]]]:
        with self._lock:
            return {sid: _copy(days, first, last) for sid, days in self.steps.get(canvas_id, {}).items()}

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        with self._lock:
            return detached({
                "campaigns": {k: _days_state(v) for k, v in self.campaigns.items()},
                "canvases": {k: _days_state(v) for k, v in self.canvases.items()},
                "canvas_entered": {k: _days_state(v) for k, v in self.canvas_entered.items()},
                "steps": {k: {s: _days_state(d) for s, d in v.items()} for k, v in self.steps.items()},
                "step_names": self.step_names,
                "sends": {k: _days_state(v) for k, v in self.sends.items()},
                "send_of": self._send_of, "pruned_on": self._pruned_on})

    def stage_state(self, state: Any) -> Swap:
        record(state, "series", ("campaigns", "canvases", "canvas_entered", "steps", "step_names", "sends", "send_of",
                                 "pruned_on"))
        tables = {name: {k: _days_from(v, f"series.{name}[{k!r}]")
                         for k, v in expect(state[name], dict, f"series.{name}").items()}
                  for name in ("campaigns", "canvases", "canvas_entered", "sends")}
        steps = {k: {s: _days_from(d, f"series.steps[{k!r}][{s!r}]")
                     for s, d in expect(v, dict, f"series.steps[{k!r}]").items()}
                 for k, v in expect(state["steps"], dict, "series.steps").items()}
        step_names = dict(expect(state["step_names"], dict, "series.step_names"))
        send_of = dict(expect(state["send_of"], dict, "series.send_of"))
        pruned_on = expect(state["pruned_on"], (date, type(None)), "series.pruned_on")

        def swap() -> None:
            with self._lock:
                self.campaigns, self.canvases = tables["campaigns"], tables["canvases"]
                self.canvas_entered, self.sends = tables["canvas_entered"], tables["sends"]
                self.steps, self.step_names, self._send_of, self._pruned_on = steps, step_names, send_of, pruned_on
        return swap

    def step_name(self, canvas_id: str, step_id: str) -> str:
        return self.step_names.get((canvas_id, step_id), step_id)

    def reset(self) -> None:
        with self._lock:
            for table in (self.campaigns, self.canvases, self.canvas_entered, self.steps, self.step_names,
                          self.sends, self._send_of):
                table.clear()


def _days_state(days: Days) -> dict[str, Any]:
    return {"keep": days.keep, "days": {day: as_fields(bucket) for day, bucket in days.days.items()}}


def _days_from(data: Any, where: str) -> Days:
    record(data, where, ("keep", "days"))
    days = Days(expect(data["keep"], int, f"{where}.keep"))
    for day, bucket in expect(data["days"], dict, f"{where}.days").items():
        if not isinstance(day, date):
            raise StateError(f"{where}.days", f"expected dates, got {type(day).__name__}")
        staged = days.days[day] = build(Day, bucket, f"{where}.days[{day}]")
        if len(staged.conversions) != CONVERSION_EVENTS or len(staged.by_origin_time) != CONVERSION_EVENTS:
            raise StateError(f"{where}.days[{day}]", f"expected {CONVERSION_EVENTS} conversion counts")
    return days


def _copy(days: Days | None, first: date, last: date) -> list[tuple[date, Day]]:
    if days is None:
        days = Days(KEEP_DAYS)
    out = []
    for day, bucket in days.between(first, last):
        copy = Day()
        copy.add(bucket)
        out.append((day, copy))
    return out


def total(days: list[tuple[date, Day]]) -> Day:
    rollup = Day()
    for _, bucket in days:
        rollup.add(bucket)
    return rollup


def conversion_fields(bucket: Day, origin: str) -> dict[str, Any]:
    """`conversions`, `conversions1`..`3` and their `_by_send_time` / `_by_entry_time` twins."""
    out: dict[str, Any] = {}
    for i in range(CONVERSION_EVENTS):
        suffix = "" if i == 0 else str(i)
        out[f"conversions{suffix}"] = bucket.conversions[i]
        out[f"conversions{suffix}_by_{origin}_time"] = bucket.by_origin_time[i]
    return out


def webhook_stats(bucket: Day) -> list[dict[str, int]]:
    """The webhook channel's entry in `messages` (`get_campaign_analytics.md`: `"webhook": [{"sent", "errors"}]`)."""
    return [{"sent": bucket.sent, "errors": bucket.errors}]
