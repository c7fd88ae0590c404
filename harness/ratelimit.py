"""Fixed-window rate limits on the runtime clock, shared by the fakes.

Both products publish limits as "N requests per window" and answer with `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds of the window's end). Windows are
aligned to the epoch on the runtime clock, so a simulated run is deterministic. Both fakes read the
limit table of their admin API with `parse_limit_table`, so they take and refuse the same tables.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from harness.clock import EPOCH, Clock

MAX_LIMIT = 10**12  # far above any published limit, and exact in a double (as JavaScript reads JSON numbers)
# A window shorter than a millisecond means nothing on a clock read in microseconds (and at 1e-300 the
# window arithmetic overflows); longer than a leap year is no rate limit a product publishes.
MIN_WINDOW_SECONDS = 0.001
MAX_WINDOW_SECONDS = 366 * 24 * 3600
SPEC = '{"limit": n, "window_seconds": s}'


@dataclass(frozen=True)
class Limit:
    limit: int
    window_seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 0 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer from 0 to {MAX_LIMIT}")
        if (isinstance(self.window_seconds, bool) or not isinstance(self.window_seconds, int | float)
                or not MIN_WINDOW_SECONDS <= self.window_seconds <= MAX_WINDOW_SECONDS):  # NaN fails this too
            raise ValueError(f"window_seconds must be a number of seconds from {MIN_WINDOW_SECONDS} to "
                             f"{MAX_WINDOW_SECONDS} (366 days)")

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "window_seconds": float(self.window_seconds)}


class LimitTableError(ValueError):
    """A rate-limit table that cannot be applied; the message says which key and what is wrong."""


def parse_limit_table(body: Any, known: Collection[str], current: Mapping[str, Limit] | None = None
                      ) -> dict[str, Limit]:
    """The limit table an admin request body asks for, shared by both fakes so they agree.

    Without `current` (PUT) the body is the whole new table: a key it leaves out has no limit. With
    `current` (PATCH) the body changes only the keys it names, and `null` removes one."""
    if not isinstance(body, dict):
        raise LimitTableError(f"The body must be a JSON object of limit names to {SPEC}.")
    table = dict(current) if current is not None else {}
    for key, spec in body.items():
        if key not in known:
            raise LimitTableError(f'Unknown rate limit "{key}"; known: {", ".join(known)}.')
        if spec is None and current is not None:
            table.pop(key, None)
            continue
        if not isinstance(spec, dict) or set(spec) != {"limit", "window_seconds"}:
            removal = " (or null to remove it)" if current is not None else ""
            raise LimitTableError(f'"{key}" must be exactly {SPEC}{removal}.')
        try:
            table[key] = Limit(spec["limit"], spec["window_seconds"])
        except ValueError as exc:
            raise LimitTableError(f'"{key}": {exc}.') from None
    return table


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
    """Counts requests per key in fixed windows; keys without a limit are always allowed.

    A `scope` counts apart under one key's limit: Braze's "10 broadcasts per minute per unique audience"
    is one configured limit with a count for each audience."""

    MAX_COUNTERS = 4096  # past this, counters of ended windows are dropped (scopes are open-ended)

    def __init__(self, clock: Clock, limits: dict[str, Limit] | None = None) -> None:
        self.clock = clock
        self._limits: dict[str, Limit] = dict(limits or {})
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # (key, scope) -> (window index, count)
        self._lock = threading.Lock()

    @property
    def limits(self) -> dict[str, Limit]:
        return dict(self._limits)

    def configure(self, limits: dict[str, Limit]) -> None:
        with self._lock:
            self._limits = dict(limits)
            self._counts.clear()

    def hit(self, key: str, cost: int = 1, scope: str = "") -> Verdict | None:
        """Count one request against `key`'s limit (in `scope`'s own count); None when `key` has no limit."""
        limit = self._limits.get(key)
        if limit is None:
            return None
        elapsed = (self.clock.now() - EPOCH).total_seconds()
        window = math.floor(elapsed / limit.window_seconds)
        reset = math.ceil((window + 1) * limit.window_seconds)
        counter = (key, scope)
        with self._lock:
            if counter not in self._counts and len(self._counts) >= self.MAX_COUNTERS:
                self._drop_ended(elapsed)
            current, count = self._counts.get(counter, (window, 0))
            if current != window:
                count = 0
            if count + cost > limit.limit:
                self._counts[counter] = (window, count)
                return Verdict(False, limit.limit, max(0, limit.limit - count), reset)
            count += cost
            self._counts[counter] = (window, count)
            return Verdict(True, limit.limit, limit.limit - count, reset)

    def _drop_ended(self, elapsed: float) -> None:
        """Forget the counters whose window has ended: they would restart at 0 anyway."""
        for (key, scope), (window, _) in list(self._counts.items()):
            limit = self._limits.get(key)
            if limit is None or window != math.floor(elapsed / limit.window_seconds):
                del self._counts[(key, scope)]


def limit_table_routes(bp: Any, limiter: RateLimiter, known: Collection[str], read_body: Callable[[], Any],
                       refuse: Callable[[str], Exception]) -> None:
    """`GET|PUT|PATCH /rate_limits` on a service's admin blueprint, the same on every fake: PUT is the whole table
    (a limit it leaves out is gone, so `{}` turns them all off), PATCH only the limits it names (null removes one).
    `read_body` reads the request's JSON as the service reads admin bodies; `refuse` words a bad table as the
    product words a 400."""
    from flask import jsonify

    def table():
        return jsonify({k: v.to_dict() for k, v in limiter.limits.items()})

    def configure(current: Mapping[str, Limit] | None):
        try:
            limiter.configure(parse_limit_table(read_body(), known, current))
        except LimitTableError as exc:
            raise refuse(str(exc)) from None
        return table()

    bp.add_url_rule("/rate_limits", "rate_limits_get", table, methods=["GET"])
    bp.add_url_rule("/rate_limits", "rate_limits_put", lambda: configure(None), methods=["PUT"])
    bp.add_url_rule("/rate_limits", "rate_limits_patch", lambda: configure(limiter.limits), methods=["PATCH"])
