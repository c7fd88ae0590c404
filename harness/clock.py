"""Clocks: the wall clock (optionally sped up) and a simulated clock that only moves when told.

Everything time-dependent in the project asks a clock, never `datetime.now()` or `time.time()`,
so a three-day canvas can run in seconds and the same seed replays byte for byte.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("clock times must be timezone-aware (UTC)")
    return value.astimezone(UTC)


class Clock(Protocol):
    simulated: bool

    def now(self) -> datetime: ...

    def seconds_until(self, when: datetime) -> float:
        """Real seconds to wait until `when` on this clock (0 when it is due)."""
        ...


def to_ms(value: datetime) -> int:
    """Epoch milliseconds, the unit Sendbird uses for `created_at`."""
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class RealClock:
    """The wall clock, running `speed` times faster from the moment it is made.

    `origin` is the time it reads at that moment (default: the wall clock's), so a process can
    follow another's sped-up clock: a live run keeps the time of the stack it drives.
    """

    simulated = False

    def __init__(self, speed: float = 1.0, origin: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = _aware(origin) if origin is not None else datetime.now(UTC)
        self._mono0 = time.monotonic()
        self.epoch: float | None = None  # set when the clock is shared (`since`)

    @classmethod
    def since(cls, epoch: float, speed: float = 1.0) -> RealClock:
        """The clock that read the wall clock at Unix time `epoch` and has run `speed` times faster
        since: processes started at different moments with the same epoch read the same time, so
        the hops of one notification across a sped-up stack are timed on one clock."""
        wall = time.time()
        clock = cls(speed, EPOCH + timedelta(seconds=epoch + (wall - epoch) * speed))
        clock.epoch = epoch
        return clock

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._mono0
        if self.speed == 1.0:
            return self._origin + timedelta(seconds=elapsed)
        return self._origin + timedelta(seconds=elapsed * self.speed)

    def seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds() / self.speed)


class SimClock:
    """A clock that stands still until the scheduler (or a test) moves it forward."""

    simulated = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start) if start is not None else datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def seconds_until(self, when: datetime) -> float:
        return 0.0

    def advance_to(self, when: datetime) -> None:
        """Move to `when`; a simulated clock never goes backwards."""
        when = _aware(when)
        with self._lock:
            if when > self._now:
                self._now = when

    def advance(self, delta: timedelta | float) -> None:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        if delta < timedelta(0):
            raise ValueError("a simulated clock never goes backwards")
        self.advance_to(self._now + delta)
