"""A bounded pool of threads for the blocking calls an event loop must not make itself.

The gateway (`harness.gateway`) answers requests on one event loop and hands the blocking ones (a
Flask view, a SQLite commit) to this pool. Its threads are daemons, so a call stuck in a view that
never returns (an undeclared event stream, say) cannot hold the process up when it shuts down;
the event loop awaits each call's result as an asyncio future.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class BlockingPool:
    def __init__(self, size: int, name: str = "harness-pool") -> None:
        self.size = max(1, size)
        self._jobs: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(self.size)]
        for thread in self._threads:
            thread.start()

    def run(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` on a pool thread; a future of the loop that settles with its result or error."""
        future = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def close(self) -> None:
        """Let each thread finish its current call and stop; calls still queued are dropped."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            result, error = None, None
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting coroutine, which decides
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed: nobody waits for this result any more
                log.debug("pool result dropped: the event loop is closed")
