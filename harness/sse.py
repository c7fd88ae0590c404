"""Server-sent event streams fed by journal subscriptions.

The generator blocks on a queue inside the server's own request thread (it starts none), and
sends a comment line as a heartbeat so a dead client is noticed and unsubscribed.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from typing import Any

from harness.journal import Journal, Record

HEARTBEAT_SECONDS = 15.0


def format_event(data: Any, event: str | None = None, event_id: str | int | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def subscription_stream(subscribe: Callable[[Callable[[Any], None]], Callable[[], None]],
                        render: Callable[[Any], bytes], hello: bytes = b": connected\n\n",
                        heartbeat: float = HEARTBEAT_SECONDS) -> Iterator[bytes]:
    """Yield `render(item)` for each item a subscription delivers, until the client goes away."""
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    unsubscribe = subscribe(inbox.put)
    try:
        yield hello
        while True:
            try:
                item = inbox.get(timeout=heartbeat)
            except queue.Empty:
                yield b": heartbeat\n\n"
                continue
            yield render(item)
    finally:
        unsubscribe()


def journal_stream(journal: Journal, keep: Callable[[Record], bool]) -> Iterator[bytes]:
    def subscribe(put: Callable[[Record], None]) -> Callable[[], None]:
        return journal.subscribe(lambda rec: put(rec) if keep(rec) else None)

    return subscription_stream(subscribe, lambda rec: format_event(rec.to_dict(), rec.kind, rec.seq))
