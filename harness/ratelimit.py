"""Fixed-window rate limits on the runtime clock, shared by the fakes.

Both products publish limits as "N requests per window" and answer with `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds of the window's end). Windows are
aligned to the epoch on the runtime clock, so a simulated run is deterministic.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from harness.clock import EPOCH, Clock


@dataclass(frozen=True)
class Limit:
    limit: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.limit < 0 or self.window_seconds <= 0:
            raise ValueError("limit must be >= 0 and window_seconds > 0")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset)}


class RateLimiter:
    """Counts requests per key in fixed windows; keys without a limit are always allowed."""

    def __init__(self, clock: Clock, limits: dict[str, Limit] | None = None) -> None:
        self.clock = clock
        self._limits: dict[str, Limit] = dict(limits or {})
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window index, count)
        self._lock = threading.Lock()

    @property
    def limits(self) -> dict[str, Limit]:
        return dict(self._limits)

    def configure(self, limits: dict[str, Limit]) -> None:
        with self._lock:
            self._limits = dict(limits)
            self._counts.clear()

    def hit(self, key: str, cost: int = 1) -> Verdict | None:
        """Count one request; None when `key` has no limit."""
        limit = self._limits.get(key)
        if limit is None:
            return None
        elapsed = (self.clock.now() - EPOCH).total_seconds()
        window = math.floor(elapsed / limit.window_seconds)
        reset = math.ceil((window + 1) * limit.window_seconds)
        with self._lock:
            current, count = self._counts.get(key, (window, 0))
            if current != window:
                count = 0
            if count + cost > limit.limit:
                self._counts[key] = (window, count)
                return Verdict(False, limit.limit, max(0, limit.limit - count), reset)
            count += cost
            self._counts[key] = (window, count)
            return Verdict(True, limit.limit, limit.limit - count, reset)
