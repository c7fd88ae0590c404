"""The trace journal: every hop writes one record, so a notification can be followed end to end.

Reports, the console, Locust's end-to-end figures and scenario expectations all read this; none of
them re-derive state another way. Bounded in memory; readers page with a cursor, and subscribers get
each record as it is appended (for SSE streams and live tails).

A journal lives as long as its process, so it has an `epoch` (a boot id) and an HTTP cursor is
`"<epoch>:<seq>"`: a follower whose cursor names another epoch is talking to a restarted service,
and is told so (`restarted`) instead of waiting, silently, for seqs the new journal will only
reach much later. The contract is in docs/journal.md.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.clock import EPOCH, Clock
from harness.subscribers import Subscribers

log = logging.getLogger(__name__)

EPOCH_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,64}")
SEQ_PATTERN = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() takes other scripts' digits, spaces, "_"
MAX_SEQ = 2**63 - 1
# A page stops adding records past about this many bytes, as well as at its count (docs/journal.md)
PAGE_BUDGET = 8 * 1024 * 1024
_RECORD_OVERHEAD = 120  # the fixed fields of a record as JSON
_MICROSECOND = timedelta(microseconds=1)


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


def _approx_size(record: Record) -> int:
    """About what `record` takes as JSON: exact for text attributes, which are what grow (reasons, URLs)."""
    size = _RECORD_OVERHEAD
    for key, value in record.attrs.items():
        if isinstance(value, str):
            size += len(key) + len(value) + 6
        elif isinstance(value, dict | list | tuple):
            size += len(key) + len(json.dumps(value, default=str)) + 4
        else:
            size += len(key) + 24
    return size


def _within_budget(records: list[Record], cursor: int, budget: int = PAGE_BUDGET) -> tuple[list[Record], int]:
    """The records that fit a page's byte budget (at least one), and the cursor after the last of them."""
    used = 0
    for index, record in enumerate(records):
        used += _approx_size(record)
        if used > budget and index:
            return records[:index], records[index - 1].seq
    return records, cursor


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a follower stands: after `seq` of `epoch`; no epoch (a bare seq, as older clients send)
    means the journal's current one."""

    seq: int
    epoch: str | None = None


def format_cursor(epoch: str, seq: int) -> str:
    return f"{epoch}:{seq}"


def parse_cursor(text: str | None) -> Cursor | None:
    """`"<epoch>:<seq>"`, a bare seq, or None (from the start). Raises ValueError saying what is wrong."""
    if text is None:
        return None
    epoch, colon, seq = text.rpartition(":")
    if colon and not EPOCH_PATTERN.fullmatch(epoch):
        raise ValueError("the cursor's epoch must be 1 to 64 letters, digits, '-' or '_' (cursors are "
                         "'<epoch>:<seq>' as /_admin/journal answers them)")
    if not SEQ_PATTERN.fullmatch(seq) or int(seq) > MAX_SEQ:
        raise ValueError(f"the cursor's seq must be a whole number from 0 to {MAX_SEQ} (cursors are "
                         "'<epoch>:<seq>' as /_admin/journal answers them, or a bare seq)")
    return Cursor(int(seq), epoch if colon else None)


@dataclass(frozen=True, slots=True)
class Page:
    """One answer of `Journal.page`: the records, the cursor to pass next time, and what the
    follower must know to trust its counts."""

    records: list[Record]
    cursor: str
    epoch: str
    restarted: bool  # the cursor was from another life of the service: records start at this epoch's start
    first_seq: int | None = None  # set when records after the cursor were dropped: the oldest seq still held

    @property
    def truncated(self) -> bool:
        return self.first_seq is not None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"records": [r.to_dict() for r in self.records], "cursor": self.cursor,
                                "epoch": self.epoch, "restarted": self.restarted, "truncated": self.truncated}
        if self.first_seq is not None:
            body["first_seq"] = self.first_seq
        return body


Subscriber = Callable[[Record], None]


class Journal:
    def __init__(self, clock: Clock, capacity: int = 200_000, epoch: str | None = None) -> None:
        """`epoch` names this journal's life; the default is random, so a restarted process has a new one."""
        if epoch is not None and not EPOCH_PATTERN.fullmatch(epoch):
            raise ValueError(f"a journal epoch must match {EPOCH_PATTERN.pattern}")
        self.clock = clock
        self.capacity = capacity
        self.epoch = epoch or os.urandom(6).hex()
        self._records: deque[Record] = deque(maxlen=capacity)
        self._last_seq = 0
        self._lock = threading.Lock()
        self._subscribers: Subscribers[Subscriber] = Subscribers()

    def record(self, service: str, kind: str, trace_id: str | None = None, **attrs: Any) -> Record:
        now = self.clock.now()
        with self._lock:
            self._last_seq += 1
            rec = Record(self._last_seq, now, service, kind, trace_id, attrs)
            self._records.append(rec)
            subscribers = self._subscribers.snapshot()  # with the append: a reader added later starts after it
        for callback in subscribers:
            try:
                callback(rec)
            except Exception:  # a broken reader must not break the writer
                log.exception("journal subscriber failed")
        return rec

    @property
    def cursor(self) -> int:
        """The seq of the newest record written (0 before any); read(since=cursor) returns only newer ones."""
        with self._lock:
            return self._last_seq

    @property
    def position(self) -> str:
        """`cursor` as followers over HTTP pass it: `"<epoch>:<seq>"`."""
        return format_cursor(self.epoch, self.cursor)

    def restarted_since(self, cursor: Cursor | None) -> bool:
        """Whether `cursor` comes from another life of this journal: another epoch, or a seq this one
        never reached (a bare seq from before a restart)."""
        if cursor is None:
            return False
        with self._lock:
            return cursor.epoch not in (None, self.epoch) or cursor.seq > self._last_seq

    def _snapshot(self, since: int) -> tuple[list[Record], int, int]:
        """Under the lock: the records newer than `since`, the newest seq held (or `since`), the oldest held."""
        with self._lock:
            oldest = self._records[0].seq if self._records else self._last_seq + 1
            if oldest > since:
                snapshot = list(self._records)
            else:  # records are contiguous by seq, so skip straight to the first newer one
                snapshot = list(itertools.islice(self._records, since - oldest + 1, None))
            newest = self._records[-1].seq if self._records else since
        return snapshot, newest, oldest

    def read(self, since: int = 0, limit: int | None = None, kinds: Iterable[str] | None = None,
             service: str | None = None, trace_id: str | None = None) -> tuple[list[Record], int]:
        """Records with seq > since, oldest first, and the cursor to pass next time."""
        snapshot, newest, _ = self._snapshot(since)
        return self._filter(snapshot, since, newest, limit, kinds, service, trace_id)

    def page(self, since: Cursor | None, limit: int, kinds: Iterable[str] | None = None,
             service: str | None = None, trace_id: str | None = None) -> Page:
        """What `GET /_admin/journal` answers: records after `since` in this epoch, or from this epoch's
        start when `since` is from another life (`restarted`), saying when some were dropped (`first_seq`)."""
        restarted = self.restarted_since(since)
        start = 0 if since is None or restarted else since.seq
        snapshot, newest, oldest = self._snapshot(start)
        records, cursor = self._filter(snapshot, start, newest, limit, kinds, service, trace_id)
        records, cursor = _within_budget(records, cursor)
        first_seq = oldest if oldest > start + 1 else None
        return Page(records, format_cursor(self.epoch, cursor), self.epoch, restarted, first_seq)

    @staticmethod
    def _filter(snapshot: list[Record], since: int, newest: int, limit: int | None, kinds: Iterable[str] | None,
                service: str | None, trace_id: str | None) -> tuple[list[Record], int]:
        kind_set = set(kinds) if kinds else None
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
            return self._subscribers.add(callback)

    def export_state(self) -> dict[str, Any]:
        """The records, the last seq and the epoch, as a snapshot keeps them (`harness.snapshots`). Records go as
        tuples, their times as integer microseconds since 1970: 100,000 records pickle in a fraction of the time
        their objects and datetimes take."""
        with self._lock:
            records = list(self._records)
            last_seq, epoch = self._last_seq, self.epoch
        micro = _MICROSECOND
        return {"records": [(r.seq, (r.at - EPOCH) // micro, r.service, r.kind, r.trace_id, r.attrs) for r in records],
                "last_seq": last_seq, "epoch": epoch}

    def restore_state(self, state: dict[str, Any], keep_epoch: bool) -> None:
        """Hold a snapshot's records and seq. `keep_epoch` (a clean snapshot): its epoch too, so followers read
        on; otherwise a new epoch, so a follower learns the service restarted (records after the snapshot are
        gone). Checked whole before anything changes: ValueError when it is not a journal's state."""
        self.apply_state(self.prepare_state(state), keep_epoch)

    def prepare_state(self, state: dict[str, Any]) -> tuple[deque[Record], int, str]:
        """A snapshot's journal state checked and built, changing nothing (ValueError, KeyError when it is not
        one): what `apply_state` swaps in."""
        rows, last_seq, epoch = state["records"], state["last_seq"], state["epoch"]
        if not isinstance(rows, list):
            raise ValueError("the journal's records are not journal records")
        micro = _MICROSECOND
        try:
            records = [Record(seq, EPOCH + at * micro, service, kind, trace_id, attrs)
                       for seq, at, service, kind, trace_id, attrs in rows]
        except (TypeError, ValueError, OverflowError):
            raise ValueError("the journal's records are not journal records") from None
        if not all(type(r.seq) is int and isinstance(r.attrs, dict) for r in records):
            raise ValueError("the journal's records are not journal records")
        if not isinstance(last_seq, int) or not isinstance(epoch, str) or not EPOCH_PATTERN.fullmatch(epoch):
            raise ValueError("the journal's seq or epoch is not valid")
        if any(b.seq <= a.seq for a, b in itertools.pairwise(records)) or (records and records[-1].seq > last_seq):
            raise ValueError("the journal's records are out of order")
        return deque(records, maxlen=self.capacity), last_seq, epoch

    def apply_state(self, prepared: tuple[deque[Record], int, str], keep_epoch: bool) -> None:
        records, last_seq, epoch = prepared
        with self._lock:
            self._records = records
            self._last_seq = last_seq
            self.epoch = epoch if keep_epoch else os.urandom(6).hex()

    def clear(self) -> None:
        """Forget the records; seq keeps counting so old cursors stay meaningful."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
