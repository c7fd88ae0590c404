"""Counts a team checks through the API as it would against Braze: `/events/list` and
`/events/data_series` (custom events per day or hour)."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from mocks.braze.state import StateError, Swap, detached, expect
from mocks.braze.users.track import CustomEvent

UNITS = {"day": timedelta(days=1), "hour": timedelta(hours=1)}


def _bucket(when: datetime, unit: str) -> datetime:
    if unit == "day":
        return when.replace(hour=0, minute=0, second=0, microsecond=0)
    return when.replace(minute=0, second=0, microsecond=0)


class EventAnalytics:
    def __init__(self) -> None:
        self._hourly: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
        self._lock = threading.Lock()

    def on_event(self, event: CustomEvent) -> None:
        with self._lock:
            self._hourly[event.name][_bucket(event.time, "hour")] += 1

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._hourly)

    def series(self, name: str, length: int, unit: str, ending_at: datetime) -> list[dict]:
        """`length` buckets ending with the one holding `ending_at`; ValueError when the first would start
        before year 1, where no calendar goes."""
        step = UNITS[unit]
        end = _bucket(ending_at, unit)
        if end - datetime.min.replace(tzinfo=end.tzinfo) < step * (length - 1):
            raise ValueError(f"'ending_at' is too early: a series of {length} {unit}s ending there would start "
                             "before the year 1")
        starts = [end - step * i for i in range(length - 1, -1, -1)]
        with self._lock:
            hourly = dict(self._hourly.get(name, {}))
        counts = defaultdict(int)
        for hour, count in hourly.items():
            counts[_bucket(hour, unit)] += count
        fmt = "%Y-%m-%d" if unit == "day" else "%Y-%m-%dT%H:%M:%SZ"
        return [{"time": start.strftime(fmt), "count": counts.get(start, 0)} for start in starts]

    def total(self, name: str) -> int:
        with self._lock:
            return sum(self._hourly.get(name, {}).values())

    def reset(self) -> None:
        with self._lock:
            self._hourly.clear()

    def snapshot_state(self) -> dict[str, dict[datetime, int]]:
        """Custom event counts per name and UTC hour."""
        with self._lock:
            return detached({name: dict(hours) for name, hours in self._hourly.items()})

    def stage_state(self, state: Any) -> Swap:
        hourly: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
        for name, hours in expect(state, dict, "analytics").items():
            for hour, count in expect(hours, dict, f"analytics[{name!r}]").items():
                if not isinstance(hour, datetime) or isinstance(count, bool) or not isinstance(count, int):
                    raise StateError(f"analytics[{name!r}]", "expected UTC hours -> counts")
                hourly[name][hour] = count

        def swap() -> None:
            with self._lock:
                self._hourly = hourly
        return swap
