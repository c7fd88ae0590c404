"""Server-sent event streams fed by journal subscriptions.

The generator blocks on a queue inside the server's own request thread (it starts none), and
sends a comment line as a heartbeat so a dead client is noticed and unsubscribed.

A journal stream opens with an `event: hello` naming the journal's epoch and cursor, and each
record's event `id:` is its cursor (`"<epoch>:<seq>"`), so an EventSource that reconnects sends
`Last-Event-ID` from the life it knew, and the hello says `restarted` when that life is over.
The content is made by `journal_hello` and `journal_event`, apart from how a stream is served.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from typing import Any

from harness.journal import Cursor, Journal, Record, format_cursor

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


def journal_hello(journal: Journal, resume: Cursor | None = None) -> bytes:
    """The first event: where the stream starts, and whether `resume` (the client's Last-Event-ID) is
    from another life of the journal, whose records after it are gone."""
    position = journal.position
    return format_event({"epoch": journal.epoch, "cursor": position, "restarted": journal.restarted_since(resume)},
                        "hello", position)


def journal_event(epoch: str, rec: Record) -> bytes:
    return format_event(rec.to_dict(), rec.kind, format_cursor(epoch, rec.seq))


def journal_stream(journal: Journal, keep: Callable[[Record], bool], resume: Cursor | None = None) -> Iterator[bytes]:
    def subscribe(put: Callable[[Record], None]) -> Callable[[], None]:
        return journal.subscribe(lambda rec: put(rec) if keep(rec) else None)

    epoch = journal.epoch
    return subscription_stream(subscribe, lambda rec: journal_event(epoch, rec), hello=journal_hello(journal, resume))
