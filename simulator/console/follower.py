"""The console's follower: reads the three journals on the harness scheduler and tells the pages what changed.

Every `interval` it reads each service's journal from its cursor (`GET /_admin/journal?since=`), up to
`max_pages` pages per service per round, feeds the records to the `Pipeline`, and publishes one update
to every subscriber (the browsers' event streams): the rows that changed, the funnel, and the follower's
own state. Updates are batched by the round, so a stack making thousands of records a second costs the
browser a few messages a second; each stream cuts the update to its own filters and size (`simulator.console.live`).

It never falls behind silently: a round that ends with a full page left unread says `behind`, a page the
journal could no longer answer in full says how many records were missed, and a restarted service (a new
journal epoch) is followed from the start of its new life and said. A service that does not answer is
`down` until it does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.subscribers import Subscribers
from simulator.console.pipeline import Pipeline
from simulator.console.stack_client import SERVICES, StackClient, StackError

PAGE = 5_000
MAX_PAGES = 4  # per service per round: a round stays short, and what is left is read next round (and said)
INTERVAL = 0.25  # seconds between rounds

Subscriber = Callable[[dict[str, Any]], None]


class Follower:
    def __init__(self, stack: StackClient, pipeline: Pipeline, page: int = PAGE, max_pages: int = MAX_PAGES) -> None:
        self.stack = stack
        self.pipeline = pipeline
        self.page = page
        self.max_pages = max_pages
        self.cursors: dict[str, str | None] = dict.fromkeys(SERVICES)
        self.state: dict[str, dict[str, Any]] = {name: {"status": "starting"} for name in SERVICES}
        self.records = 0  # read since the console started
        self.rounds = 0
        self._subscribers: Subscribers[Subscriber] = Subscribers()
        self._round = threading.Lock()  # a reset waits for the round in progress: none feeds old rows back

    # -- subscribers -----------------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(callback)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, update: dict[str, Any]) -> None:
        for callback in self._subscribers.snapshot():
            callback(update)

    # -- a round -----------------------------------------------------------------------------------------
    def poll(self) -> dict[str, Any]:
        """One round over the three journals (a scheduler task); the update it published."""
        with self._round:
            return self._poll()

    def _poll(self) -> dict[str, Any]:
        started = time.monotonic()
        records: list[dict[str, Any]] = []
        kinds: set[str] = set()
        for name in SERVICES:
            records += self._read(name)
        # the services' records interleave by time; each service's own stay in order (a stable sort)
        records.sort(key=lambda r: r.get("ts") or "")
        kinds.update(f"{r.get('service')}:{r.get('kind')}" for r in records)
        changed = self.pipeline.feed(records)
        self.records += len(records)
        self.rounds += 1
        update = {"rows": changed, "funnel": self.pipeline.funnel(), "follow": self.status(), "kinds": sorted(kinds),
                  "records": len(records), "round_ms": round((time.monotonic() - started) * 1000, 1)}
        if records or self.rounds % 20 == 1:  # a quiet stack still hears the follower's state every few seconds
            self.publish(update)
        return update

    def _read(self, name: str) -> list[dict[str, Any]]:
        state: dict[str, Any] = {"status": "ok", "missed": self.state[name].get("missed", 0),
                                 "restarts": self.state[name].get("restarts", 0)}
        out: list[dict[str, Any]] = []
        try:
            for _ in range(self.max_pages):
                page = self.stack.journal(name, self.cursors[name], self.page)
                if page.get("restarted") and self.cursors[name] is not None:
                    state["restarts"] += 1
                    state["restarted_at"] = page.get("epoch")
                if page.get("truncated"):
                    first, cursor = page.get("first_seq") or 0, self.cursors[name]
                    seen = int(cursor.rsplit(":", 1)[1]) if cursor else 0
                    state["missed"] += max(0, first - seen - 1)
                self.cursors[name] = page["cursor"]
                out += page["records"]
                if len(page["records"]) < self.page:
                    break
            else:
                state["status"] = "behind"
        except StackError as exc:
            state = {**state, "status": "down", "error": str(exc)}
        state["cursor"] = self.cursors[name]
        self.state[name] = state
        return out

    def status(self) -> dict[str, Any]:
        """Per service: `ok`, `behind` (more to read than a round takes), `down`; records missed, restarts."""
        return {name: dict(state) for name, state in self.state.items()}

    def reset(self, cursors: dict[str, str | None] | None = None) -> None:
        """Forget what was followed (the stack was reset) and read on from `cursors` (each journal's start
        when not given), once the round in progress is over."""
        with self._round:
            self.cursors = {name: (cursors or {}).get(name) for name in SERVICES}
            self.pipeline.clear()
