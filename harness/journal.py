"""The trace journal: every hop writes one record, so a notification can be followed end to end.

Reports, the console, Locust's end-to-end figures and scenario expectations all read this; none of
them re-derive state another way. Bounded in memory; readers page with a cursor (the record's
`seq`), and subscribers get each record as it is appended (for SSE streams and live tails).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    at: datetime  # from the runtime clock
    service: str
    kind: str
    trace_id: str | None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str:
        """ISO-8601 UTC with milliseconds. Formatted when read, not on the hot path that writes."""
        at = self.at
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"

    def to_dict(self) -> dict[str, Any]:
        # the record's own fields win over attributes of the same name, so cursors stay right
        return {**self.attrs, "seq": self.seq, "ts": self.ts, "service": self.service, "kind": self.kind,
                "trace_id": self.trace_id}


Subscriber = Callable[[Record], None]


class Journal:
    def __init__(self, clock: Clock, capacity: int = 200_000) -> None:
        self.clock = clock
        self.capacity = capacity
        self._records: deque[Record] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def record(self, service: str, kind: str, trace_id: str | None = None, **attrs: Any) -> Record:
        now = self.clock.now()
        with self._lock:
            rec = Record(next(self._seq), now, service, kind, trace_id, attrs)
            self._records.append(rec)
            subscribers = tuple(self._subscribers)
        for callback in subscribers:
            try:
                callback(rec)
            except Exception:  # a broken reader must not break the writer
                log.exception("journal subscriber failed")
        return rec

    @property
    def cursor(self) -> int:
        """The seq of the newest record (0 when empty); read(since=cursor) returns only newer ones."""
        with self._lock:
            return self._records[-1].seq if self._records else 0

    def read(self, since: int = 0, limit: int | None = None, kinds: Iterable[str] | None = None,
             service: str | None = None, trace_id: str | None = None) -> tuple[list[Record], int]:
        """Records with seq > since, oldest first, and the cursor to pass next time."""
        kind_set = set(kinds) if kinds else None
        with self._lock:
            snapshot = list(self._records) if not self._records or self._records[0].seq > since else None
            if snapshot is None:
                # records are contiguous by seq, so skip straight to the first newer one
                start = since - self._records[0].seq + 1
                snapshot = list(itertools.islice(self._records, max(start, 0), None))
            newest = self._records[-1].seq if self._records else since
        out: list[Record] = []
        next_cursor = max(since, newest) if limit is None else since
        for rec in snapshot:
            if limit is not None and len(out) >= limit:
                break
            next_cursor = rec.seq
            if kind_set is not None and rec.kind not in kind_set:
                continue
            if service is not None and rec.service != service:
                continue
            if trace_id is not None and rec.trace_id != trace_id:
                continue
            out.append(rec)
        return out, next_cursor

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(record)` for each new record; returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def clear(self) -> None:
        """Forget the records; seq keeps counting so old cursors stay meaningful."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
