"""Conversion events: a custom event within the deadline after a user received a message.

Counted once per user and conversion event. A window opens when a message is sent (the webhook
answered 2xx); it is checked when the event arrives, and expired windows are swept by a periodic
scheduler task so memory stays flat on long runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.runtime import Runtime
from mocks.braze.audience.event_filters import EventMatcher, FilterError, compile_matcher
from mocks.braze.state import StateError, Swap, detached, expect, record
from mocks.braze.users.track import CustomEvent


@dataclass
class Window:
    owner: str  # campaign or canvas id
    index: int  # which conversion event (0 is primary)
    matcher: EventMatcher
    opened: datetime
    deadline: datetime


class ConversionTracker:
    def __init__(self, runtime: Runtime, on_convert: Callable[[str, int, CustomEvent], None]) -> None:
        self.runtime = runtime
        self.on_convert = on_convert
        self._windows: dict[str, list[Window]] = {}  # braze_id -> open windows
        self._converted: dict[tuple[str, int], set[str]] = {}
        self._lock = threading.Lock()
        self._sweeper = runtime.scheduler.every(3600, self.sweep, name="braze.conversions.sweep")

    def open(self, owner: str, braze_id: str, matchers: list[EventMatcher], deadlines: list[float]) -> None:
        now = self.runtime.clock.now()
        with self._lock:
            windows = self._windows.setdefault(braze_id, [])
            for index, (matcher, seconds) in enumerate(zip(matchers, deadlines, strict=True)):
                if braze_id in self._converted.get((owner, index), ()):
                    continue
                windows.append(Window(owner, index, matcher, now, now + timedelta(seconds=seconds)))

    def on_event(self, event: CustomEvent) -> None:
        braze_id = event.profile.braze_id
        hits: list[tuple[str, int]] = []
        with self._lock:
            windows = self._windows.get(braze_id)
            if not windows:
                return
            for window in list(windows):
                if window.opened <= event.time <= window.deadline and window.matcher.matches(event.name,
                                                                                              event.properties):
                    converted = self._converted.setdefault((window.owner, window.index), set())
                    if braze_id not in converted:
                        converted.add(braze_id)
                        hits.append((window.owner, window.index))
                    windows.remove(window)
        for owner, index in hits:
            self.on_convert(owner, index, event)

    def count(self, owner: str, index: int) -> int:
        return len(self._converted.get((owner, index), ()))

    def sweep(self) -> None:
        now = self.runtime.clock.now()
        with self._lock:
            for braze_id in list(self._windows):
                kept = [w for w in self._windows[braze_id] if w.deadline >= now]
                if kept:
                    self._windows[braze_id] = kept
                else:
                    del self._windows[braze_id]

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._converted.clear()

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """Open windows (their matcher as its spec, compiled again on restore) and who converted."""
        with self._lock:
            windows = {braze_id: [{"owner": w.owner, "index": w.index, "matcher": w.matcher.spec, "opened": w.opened,
                                   "deadline": w.deadline} for w in found] for braze_id, found in self._windows.items()}
            return detached({"windows": windows, "converted": self._converted})

    def stage_state(self, state: Any) -> Swap:
        record(state, "conversions", ("windows", "converted"))
        windows: dict[str, list[Window]] = {}
        for braze_id, found in expect(state["windows"], dict, "conversions.windows").items():
            staged = windows[braze_id] = []
            for i, data in enumerate(expect(found, list, f"conversions.windows[{braze_id!r}]")):
                where = f"conversions.windows[{braze_id!r}][{i}]"
                record(data, where, ("owner", "index", "matcher", "opened", "deadline"))
                try:
                    matcher = compile_matcher(data["matcher"], where)
                except FilterError as exc:
                    raise StateError(f"{where}.matcher", str(exc)) from None
                staged.append(Window(expect(data["owner"], str, f"{where}.owner"), expect(data["index"], int, where),
                                     matcher, expect(data["opened"], datetime, f"{where}.opened"),
                                     expect(data["deadline"], datetime, f"{where}.deadline")))
        converted = {key: set(expect(ids, set, f"conversions.converted[{key!r}]"))
                     for key, ids in expect(state["converted"], dict, "conversions.converted").items()}

        def swap() -> None:
            with self._lock:
                self._windows, self._converted = windows, converted
        return swap
