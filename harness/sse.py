"""Server-sent event streams fed by subscriptions (the journal, Sendbird's feeds).

A `SubscriptionStream` is the description of one stream: how to subscribe, how to render an item,
what to say first, how often to send a heartbeat. It is one thing with two ways of being served:
- iterated as a WSGI body (in-process through `harness.transport`, or any WSGI server): the
  generator blocks on a queue in the caller's thread (it starts none) and sends a heartbeat comment
  so a dead client is noticed and unsubscribed;
- live, by the gateway (`harness.gateway`) on its event loop, holding no thread: the gateway offers
  a slot in the request's environ (`NATIVE_STREAMS`), the stream made by the view claims it, and the
  gateway serves the claimed stream natively once the view has answered (status and headers, auth
  and rate limits included, stay the view's).

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

from flask import has_request_context, request

from harness.journal import Cursor, Journal, Record, format_cursor

HEARTBEAT_SECONDS = 15.0
HELLO = b": connected\n\n"
HEARTBEAT = b": heartbeat\n\n"
NATIVE_STREAMS = "harness.sse.native_streams"  # environ key: a list a server that serves streams itself offers

Subscribe = Callable[[Callable[[Any], None]], Callable[[], None]]


def format_event(data: Any, event: str | None = None, event_id: str | int | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class SubscriptionStream:
    """`render(item)` for each item a subscription delivers, until the client goes away."""

    def __init__(self, subscribe: Subscribe, render: Callable[[Any], bytes], hello: bytes = HELLO,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.subscribe = subscribe
        self.render = render
        self.hello = hello
        self.heartbeat = heartbeat
        self._iterator: Iterator[bytes] | None = None
        if has_request_context():
            offered = request.environ.get(NATIVE_STREAMS)
            if offered is not None:
                offered.append(self)

    def __iter__(self) -> Iterator[bytes]:
        if self._iterator is None:
            self._iterator = self._blocking()
        return self._iterator

    def close(self) -> None:
        if self._iterator is not None:
            self._iterator.close()

    def _blocking(self) -> Iterator[bytes]:
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        unsubscribe = self.subscribe(inbox.put)
        try:
            yield self.hello
            while True:
                try:
                    item = inbox.get(timeout=self.heartbeat)
                except queue.Empty:
                    yield HEARTBEAT
                    continue
                yield self.render(item)
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


def subscription_stream(subscribe: Subscribe, render: Callable[[Any], bytes], hello: bytes = HELLO,
                        heartbeat: float = HEARTBEAT_SECONDS) -> SubscriptionStream:
    """The stream of a subscription, for a view to answer with (`Response(stream, mimetype=...)`)."""
    return SubscriptionStream(subscribe, render, hello, heartbeat)


def journal_stream(journal: Journal, keep: Callable[[Record], bool],
                   resume: Cursor | None = None) -> SubscriptionStream:
    def subscribe(put: Callable[[Record], None]) -> Callable[[], None]:
        return journal.subscribe(lambda rec: put(rec) if keep(rec) else None)

    epoch = journal.epoch
    return subscription_stream(subscribe, lambda rec: journal_event(epoch, rec), hello=journal_hello(journal, resume))
