"""A list of callbacks that readers add and remove while a writer calls them from another thread.

The journal and the console's follower both hand what they write to whoever listens (event streams,
live tails); a writer takes a `snapshot()` and calls it outside any lock, so a slow or departing reader
never holds up the writer or another reader.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

C = TypeVar("C", bound=Callable[..., Any])


class Subscribers(Generic[C]):
    def __init__(self) -> None:
        self._callbacks: list[C] = []
        self._lock = threading.Lock()

    def add(self, callback: C) -> Callable[[], None]:
        """Add `callback`; the function that removes it (safe to call twice)."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def snapshot(self) -> tuple[C, ...]:
        with self._lock:
            return tuple(self._callbacks)

    def __len__(self) -> int:
        with self._lock:
            return len(self._callbacks)
