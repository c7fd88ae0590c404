"""Event streams served on the gateway's event loop, holding no thread while they wait.

A subscription's callback fires on whatever thread made the item (a request, a scheduler task), so
it only appends to the stream's inbox and, when the inbox was empty, wakes the loop once with
`call_soon_threadsafe`; the stream's coroutine then renders and sends everything waiting in one
write. The inbox is bounded: a stream that falls `limit` items behind is dropped (its client sees
the stream end) and the drop is journalled, so a stuck reader never grows memory without bound.

What the inbox cannot see: granian's RSGI stream transport does not push back (`send_bytes` hands
the bytes to an unbounded channel and returns at once; measured: 187 MB queued in 0.5 s to a client
that never reads). A client that stays connected without reading is bounded by what the stream
produces, not by this inbox; one that disconnects is noticed at once (`client_disconnect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from typing import Any

from harness.journal import Journal
from harness.sse import HEARTBEAT, SubscriptionStream

log = logging.getLogger(__name__)

STREAM_LIMIT = 10_000  # items a stream may fall behind before it is dropped


class _Inbox:
    """Items from subscription callbacks on any thread, for one stream's coroutine on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event, limit: int) -> None:
        self._loop = loop
        self._wake = wake
        self._limit = limit
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self.overflowed = False

    def put(self, item: Any) -> None:
        with self._lock:
            if self.overflowed:
                return
            if len(self._items) >= self._limit:
                self.overflowed = True
                self._items.clear()
            else:
                self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the stream is gone with it
            self._loop.call_soon_threadsafe(self._wake.set)

    def take(self) -> list[Any]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._wake_pending = False
        return items


class LiveStream:
    """One client's stream: subscribe, send the hello, then items and heartbeats until it ends."""

    def __init__(self, stream: SubscriptionStream, path: str, limit: int = STREAM_LIMIT) -> None:
        self.stream = stream
        self.path = path
        self.limit = limit
        self._wake = asyncio.Event()
        self.closing = False

    def close(self) -> None:
        """End the stream (server shutdown); call on the loop."""
        self.closing = True
        self._wake.set()

    async def serve(self, proto: Any, status: int, headers: list[tuple[str, str]], journal: Journal | None,
                    service: str) -> None:
        loop = asyncio.get_running_loop()
        inbox = _Inbox(loop, self._wake, self.limit)
        transport = proto.response_stream(status, headers)
        gone = asyncio.ensure_future(proto.client_disconnect())
        gone.add_done_callback(lambda _: self._wake.set())
        unsubscribe = self.stream.subscribe(inbox.put)
        try:
            await transport.send_bytes(self.stream.hello)
            while not self.closing and not gone.done():
                self._wake.clear()
                items = inbox.take()
                if inbox.overflowed:
                    self._dropped(journal, service)
                    return
                if items:
                    await transport.send_bytes(b"".join(self.stream.render(item) for item in items))
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self.stream.heartbeat)
                except TimeoutError:
                    await transport.send_bytes(HEARTBEAT)
        except Exception as exc:  # the client went away mid-write, or a renderer failed: end this stream only
            log.info("stream %s ended: %r", self.path, exc)
        finally:
            unsubscribe()
            gone.cancel()

    def _dropped(self, journal: Journal | None, service: str) -> None:
        log.warning("dropped a client of %s that fell %d items behind", self.path, self.limit)
        if journal is not None:
            journal.record(service, "stream.dropped", None, path=self.path, behind=self.limit)
