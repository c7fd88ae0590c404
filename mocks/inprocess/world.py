"""The one simulated runtime a mock's fakes share, and how a test moves it.

The fakes run on a simulated clock, as `bsim run` does: nothing happens between two calls of the test
unless the test moves time. What is due *now* (a triggered webhook, the bridge's realtime send, its `SENT`
callback) runs before the call that caused it returns to the team's code, so a test reads its results on
the next line; what is due later (a canvas delay, the bridge's batch linger, a webhook retry) waits for
`advance` or `run_until_idle`, as it waits for time in the real products. The clock starts at the wall
clock's current second unless a start is given, so timestamps a team's code sends (`time` on
`/users/track`) are not in the fake's future.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import requests

from harness.runtime import Runtime
from simulator.durations import parse_duration

T = TypeVar("T")
# a world that keeps scheduling work for itself (a recurring task) would never be idle
IDLE_TASK_LIMIT = 1_000_000


class MockError(RuntimeError):
    """A mock used in a way it cannot answer: a setup the fake refused, a world that never goes idle."""


def as_seconds(duration: float | str | timedelta) -> float:
    """A duration as a scenario writes it (`"90s"`, `"3d"`), a number of seconds, or a timedelta."""
    try:
        return parse_duration(duration.total_seconds() if isinstance(duration, timedelta) else duration)
    except ValueError as exc:
        raise ValueError(f"not a duration: {duration!r} ({exc})") from None


class HTTP(Protocol):
    """What the helpers call a fake with: the in-process transport's client, or a `requests.Session` live."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response: ...

    def get(self, url: str, **kwargs: Any) -> requests.Response: ...


class Driver(Protocol):
    """What the fakes' helpers need of the world they are in: in-process a `World`, live a `mocks.live.LiveWorld`."""

    @property
    def now(self) -> datetime: ...

    def serving(self) -> AbstractContextManager[None]: ...

    def journal(self, kind: str | None = None, service: str | None = None, **attrs: Any) -> list[dict[str, Any]]: ...

    def poll(self, check: Callable[[], T]) -> T: ...


class World:
    """The in-process world: one simulated runtime for every fake of a mock."""

    def __init__(self, seed: int = 0, start: datetime | None = None, passthrough: bool = False) -> None:
        """`passthrough`: the fakes' own calls to hosts no fake serves (a webhook to the team's server on
        loopback) go over real HTTP, under the outbound policy (loopback only), as the team's calls then do."""
        start = start if start is not None else datetime.now(UTC).replace(microsecond=0)
        self.runtime = Runtime.simulation(seed=seed, start=start)
        if passthrough:
            self.runtime.transport.reach_network()
        self._lock = threading.RLock()  # one request or one move of the clock at a time
        self._depth = 0

    @property
    def now(self) -> datetime:
        return self.runtime.clock.now()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around one request of the team's code: it runs alone, and what it made due now runs before it returns
        (only at the outermost level: a fake calling back into a routed host does not drive the clock)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            if self._depth == 0:
                self.settle()

    def settle(self) -> int:
        """Run everything due by now, without moving the clock; the number of tasks run."""
        with self._lock:
            return self.runtime.scheduler.run_until(self.now)

    def advance(self, duration: float | str | timedelta) -> int:
        """Move the clock forward by `duration` (`"3d"`, `"90s"`, seconds, a timedelta), running every task due on
        the way, each at its own time; the number of tasks run."""
        seconds = as_seconds(duration)
        with self._lock:
            return self.runtime.scheduler.run_for(seconds)

    def run_until_idle(self) -> int:
        """Run every pending task, jumping the clock to each, until nothing is left to do."""
        with self._lock:
            ran = self.runtime.scheduler.run_until_idle(max_tasks=IDLE_TASK_LIMIT)
            if ran >= IDLE_TASK_LIMIT:
                raise MockError(f"the world was still busy after {IDLE_TASK_LIMIT:,} tasks: something keeps "
                                "scheduling work; move the clock with advance() instead")
            return ran

    def journal(self, kind: str | None = None, service: str | None = None, **attrs: Any) -> list[dict[str, Any]]:
        """Every hop recorded so far, oldest first, as dicts (`docs/journal.md`); filtered by kind, service and
        attribute values (`trace_id=...`, `external_id=...`)."""
        records, _ = self.runtime.journal.read(kinds=[kind] if kind else None, service=service)
        entries = (record.to_dict() for record in records)
        return [entry for entry in entries if all(entry.get(name) == value for name, value in attrs.items())]

    def poll(self, check: Callable[[], T]) -> T:
        """`check()` once: in-process, what is due has happened by the time the team's call returned (live, the
        same helpers wait for it)."""
        __tracebackhide__ = True
        return check()

    def take_task_errors(self) -> list[tuple[str, str]]:
        """The fakes' background tasks that raised since the last call, as (task, error): a harness bug, never
        the team's, which the pytest plugin fails the test on."""
        errors = self.runtime.scheduler.errors
        taken = list(errors)
        errors.clear()
        return taken
