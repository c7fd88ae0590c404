"""The durable outbox: every accepted webhook and every SENT/READ callback, in SQLite (WAL).

A webhook is answered 200 only after its row is committed, and the row holds that first answer,
so Braze's retry of the same `message_id` gets the same answer and sends nothing new. Rows move
pending → sending → sent (or dead, with a reason); callbacks move pending → posting → posted, keyed
by (message_id, status) so each reaches Braze once. A restart finds what was mid-flight in the
`sending` and `posting` states.

A callback whose post has an unknown outcome (the process died during it, or the answer was lost after the
request left) moves posting → checking: Braze takes no idempotency key, so it is posted again only once
Braze's event count proves it absent (→ pending), marked posted when the count holds it (→ posted), and
set aside after too many checks that could not tell (→ dead). The count is only exact while `posted` means
"landed at Braze", so a row is marked posted only on Braze's success for that event (`bridge.callback_check`).

A send whose outcome is not known (the process died during it, or something broke after the request
left) moves sending → checking: it is sent again only once Sendbird's feed proves it absent (→ pending),
marked sent when the feed holds it (→ sent), and after too many checks that could not tell, set aside
(→ dead). `checks` counts those checks and `next_attempt_at` holds the next one.

A sent row keeps when Sendbird created its message (`created_at_ms`, Sendbird's clock), because Sendbird's
read webhook names a reader and a read time, not messages: the rows of that receiver created at or before
the read time are the ones read. `read_at` is set, with the READ callback, in one transaction, the first
time a read covers the row; a row with `read_at` set is never read again (docs/bridge.md, "READ"). The newest
receipt per receiver and channel is kept too, for a send recorded only after a receipt covering it arrived.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    message_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    body TEXT NOT NULL,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    trace_id TEXT,
    received_at REAL NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    sending_since REAL,
    notification_id TEXT,
    sent_at REAL,
    answer TEXT NOT NULL,
    checks INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER,
    read_at REAL
);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks(state, mode, group_key, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhooks_notification ON webhooks(notification_id, receiver);
CREATE TABLE IF NOT EXISTS callbacks (
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    external_id TEXT NOT NULL,
    event TEXT NOT NULL,
    trace_id TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    checks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, status)
);
DROP INDEX IF EXISTS callbacks_due;
CREATE INDEX IF NOT EXISTS callbacks_due_in_order ON callbacks(state, next_attempt_at, created_at);
CREATE TABLE IF NOT EXISTS read_receipts (
    receiver TEXT NOT NULL,
    channel_url TEXT NOT NULL,
    read_ts INTEGER NOT NULL,
    PRIMARY KEY (receiver, channel_url)
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    replayed_at REAL
);
"""

# The posted callbacks of a user, counted against Braze's event count by the callback check.
CALLBACKS_BY_USER_INDEX = "CREATE INDEX IF NOT EXISTS callbacks_by_user ON callbacks(external_id, state)"
# A user's callbacks wait while any of theirs is being checked: then every checking callback of a user comes from
# one request, which Braze records whole or not at all, and its count says which ones landed, not just how many.
NOT_HELD = ("NOT EXISTS (SELECT 1 FROM callbacks AS held INDEXED BY callbacks_by_user"
            " WHERE held.external_id = callbacks.external_id AND held.state = 'checking')")
RECEIPT_LOOKUP_CHUNK = 500  # receivers per query, under SQLite's limit on bound parameters
# The sent rows a read can still cover, by receiver and creation time: what a read webhook looks up.
UNREAD_INDEX = ("CREATE INDEX IF NOT EXISTS webhooks_unread ON webhooks(receiver, created_at_ms)"
                " WHERE state = 'sent' AND read_at IS NULL")
# The sends in flight to a receiver: a feed check may not take a matching message while one is (it may be theirs).
SENDING_INDEX = "CREATE INDEX IF NOT EXISTS webhooks_sending ON webhooks(receiver) WHERE state = 'sending'"
# A batch group's waiting webhooks in the order they are sent: a claim reads the next hundred from it instead of
# sorting the whole group (a claim of a 10,000-webhook group took 100 us a recipient, benchmarks/outbox_batch.py).
BATCH_QUEUE_INDEX = ("CREATE INDEX IF NOT EXISTS webhooks_batch_queue ON webhooks(group_key, received_at, message_id)"
                     " WHERE state = 'pending' AND mode = 'batch'")
# What `checked_delivered` did
SETTLED, NOT_CHECKING, OWNED, IN_FLIGHT = "settled", "not checking", "owned", "in flight"
# An older outbox knew no creation time: its sent rows take the time the bridge recorded the send (a little
# after Sendbird created the message, so a read between the two waits for the next read), and a row that
# already has its READ callback counts as read, so the new rule reports it no second time.
LEGACY_SENT_ROWS = """
    UPDATE webhooks SET created_at_ms = CAST(sent_at * 1000 AS INTEGER) WHERE sent_at IS NOT NULL;
    UPDATE webhooks SET read_at = (SELECT created_at FROM callbacks c
                                   WHERE c.message_id = webhooks.message_id AND c.status = 'READ')
    WHERE EXISTS (SELECT 1 FROM callbacks c WHERE c.message_id = webhooks.message_id AND c.status = 'READ');
"""


class OutboxInUse(RuntimeError):
    """Another process holds the outbox file."""


# Rows are plain slotted dataclasses, not frozen ones: a frozen one's __init__ sets each field through
# object.__setattr__, 1.2 us a row against 0.13, paid for every row a claim reads (a batch claim reads 10,000).
@dataclass(slots=True)
class WebhookRow:
    message_id: str
    mode: str
    body: dict[str, Any]
    receiver: str
    group_key: str
    trace_id: str | None
    received_at: float
    state: str
    attempts: int
    sending_since: float | None
    notification_id: str | None
    checks: int = 0  # recovery checks that could not tell whether the send arrived
    next_attempt_at: float = 0.0  # of the next send (pending) or check (checking)
    created_at_ms: int | None = None  # when Sendbird created the sent message (Sendbird's clock)
    read_at: float | None = None  # when the bridge learnt that a read covers it
    body_chars: int = 0  # of the stored body's JSON: at least its variables' compact JSON (a send's size bound)


@dataclass(slots=True)
class CallbackRow:
    """A SENT or READ event owed to Braze. The event is held as the JSON text the outbox stores, which is what
    the post to /users/track carries: a callback is written once and never decoded on its way out."""

    message_id: str
    status: str
    external_id: str
    event_json: str  # the /users/track event object, as JSON
    trace_id: str | None
    attempts: int
    checks: int = 0  # checks at Braze that could not tell whether its post landed
    created_at: float = 0.0

    @classmethod
    def of(cls, message_id: str, status: str, external_id: str, event: dict[str, Any], trace_id: str | None,
           attempts: int = 0) -> CallbackRow:
        return cls(message_id, status, external_id, json.dumps(event), trace_id, attempts)

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.event_json)

    @property
    def key(self) -> tuple[str, str]:
        return self.message_id, self.status

    @property
    def name(self) -> str:
        return str(self.event.get("name", ""))


WEBHOOK_COLUMNS = ("message_id, mode, body, receiver, group_key, trace_id, received_at, state, attempts, "
                   "sending_since, notification_id, checks, next_attempt_at, created_at_ms, read_at")


# Many rows changed by one statement: their keys go in as one JSON array, which costs a third less a row than
# executemany's statement step and binding per row (4.3 us against 3.2 for 10,000 rows).
LISTED = "(SELECT value FROM json_each(?))"
KEYS_LISTED = "(message_id, status) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"


def _listed(values: Iterable[Any]) -> str:
    return json.dumps(list(values))


def _webhook(row: tuple) -> WebhookRow:
    return WebhookRow(row[0], row[1], json.loads(row[2]), *row[3:], len(row[2]))


def _claimed(row: tuple, now: float) -> WebhookRow:
    """The row as the claim leaves it: sending since `now`, one more attempt."""
    return WebhookRow(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6], "sending", row[8] + 1, now,
                      row[10], row[11], row[12], row[13], row[14], len(row[2]))


class Outbox:
    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1.0)
        # One process owns an outbox: two bridges sending from one file would send twice. The
        # exclusive lock says so at start, and saves the per-transaction file locking.
        self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise OutboxInUse(f"outbox {self.path} is in use by another bridge process ({exc})") from None
        self._db.execute(f"PRAGMA synchronous={synchronous}")  # NORMAL survives a killed process
        self._db.executescript(SCHEMA)
        self._migrate()
        self._lock = threading.RLock()

    def _migrate(self) -> None:
        """Bring an outbox file written by an older bridge up to this schema, keeping every row."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(webhooks)")}
        if "checks" not in columns:  # an outbox written before recovery checks were counted
            self._db.execute("ALTER TABLE webhooks ADD COLUMN checks INTEGER NOT NULL DEFAULT 0")
        if "created_at_ms" not in columns:  # written before reads were worked out from a read time
            self._db.executescript(f"""
                BEGIN IMMEDIATE;
                ALTER TABLE webhooks ADD COLUMN created_at_ms INTEGER;
                ALTER TABLE webhooks ADD COLUMN read_at REAL;
                {LEGACY_SENT_ROWS}
                COMMIT;
            """)
        callback_columns = {row[1] for row in self._db.execute("PRAGMA table_info(callbacks)")}
        if "checks" not in callback_columns:  # written before callbacks of unknown outcome were checked at Braze
            self._db.execute("ALTER TABLE callbacks ADD COLUMN checks INTEGER NOT NULL DEFAULT 0")
        self._db.execute(UNREAD_INDEX)
        self._db.execute(SENDING_INDEX)
        self._db.execute(BATCH_QUEUE_INDEX)
        self._db.execute(CALLBACKS_BY_USER_INDEX)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- accepting --------------------------------------------------------------------------------
    def accept(self, message_id: str, mode: str, body: dict[str, Any], receiver: str, group_key: str,
               trace_id: str | None, now: float, answer: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Commit a webhook; for a `message_id` seen before, the first answer and True (a duplicate)."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO webhooks (message_id, mode, body, receiver, group_key, trace_id, received_at,"
                " state, next_attempt_at, answer) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (message_id, mode, json.dumps(body), receiver, group_key, trace_id, now, now, json.dumps(answer)))
            if cursor.rowcount == 1:
                return answer, False
            first = db.execute("SELECT answer FROM webhooks WHERE message_id = ?", (message_id,)).fetchone()
            return json.loads(first[0]), True

    # -- sending ----------------------------------------------------------------------------------
    def claim_realtime(self, message_ids: list[str], now: float) -> list[WebhookRow]:
        """pending → sending, in one transaction, for those of `message_ids` that are due realtime webhooks; in
        the order given. A claim of one costs several times a row of a claim of 32
        (`benchmarks/outbox_transactions.py`)."""
        with self._tx() as db:
            marks = ",".join("?" * len(message_ids))
            found = {row[0]: row for row in db.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE message_id IN ({marks}) AND state = 'pending'"
                " AND mode = 'realtime' AND next_attempt_at <= ?", (*message_ids, now))}
            chosen = [_claimed(found[m], now) for m in message_ids if m in found]
            db.executemany("UPDATE webhooks SET state = 'sending', sending_since = ?, attempts = attempts + 1"
                           " WHERE message_id = ?", [(now, r.message_id) for r in chosen])
            return chosen

    def unclaim(self, message_ids: Iterable[str]) -> None:
        """sending → pending for claimed rows whose request never left: the claim's attempt is taken back."""
        with self._tx() as db:
            db.executemany("UPDATE webhooks SET state = 'pending', sending_since = NULL, attempts = attempts - 1"
                           " WHERE message_id = ? AND state = 'sending'", [(m,) for m in message_ids])

    def claim_group(self, group_key: str, limit: int, now: float) -> list[WebhookRow]:
        """Up to `limit` due batch webhooks of one group, oldest first, at most one per receiver
        (Sendbird sends one message per target and keys variables by user id)."""
        with self._tx() as db:
            rows = db.execute(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks INDEXED BY webhooks_batch_queue"
                              " WHERE state = 'pending' AND mode = 'batch' AND group_key = ? AND next_attempt_at <= ?"
                              " ORDER BY received_at, message_id", (group_key, now))
            chosen: list[WebhookRow] = []
            receivers: set[str] = set()
            for row in rows:  # read lazily: the index gives the order, so only what is taken (and skipped) is read
                if row[3] in receivers:
                    continue
                receivers.add(row[3])
                chosen.append(_claimed(row, now))
                if len(chosen) >= limit:
                    break
            rows.close()
            db.execute("UPDATE webhooks SET state = 'sending', sending_since = ?, attempts = attempts + 1"
                       f" WHERE message_id IN {LISTED}", (now, _listed(r.message_id for r in chosen)))
            return chosen

    def batch_groups(self, now: float | None = None) -> list[tuple[str, int, float]]:
        """(group_key, pending count, oldest received_at) of batch webhooks, due by `now` if given."""
        sql = ("SELECT group_key, COUNT(*), MIN(received_at) FROM webhooks WHERE state = 'pending' AND mode = 'batch'"
               + (" AND next_attempt_at <= ?" if now is not None else "") + " GROUP BY group_key")
        with self._lock:
            return self._db.execute(sql, (now,) if now is not None else ()).fetchall()

    def in_flight_sends(self, limit: int) -> list[dict[str, Any]]:
        """The oldest `limit` webhooks being sent or checked right now (an operator's view of what is out)."""
        with self._lock:
            rows = self._db.execute("SELECT message_id, mode, receiver, state, attempts, sending_since, trace_id"
                                    " FROM webhooks WHERE state IN ('sending', 'checking')"
                                    " ORDER BY sending_since, message_id LIMIT ?", (limit,)).fetchall()
        return [{"message_id": r[0], "mode": r[1], "receiver": r[2], "state": r[3], "attempts": r[4],
                 "sending_since": r[5], "trace_id": r[6]} for r in rows]

    def group_stats(self, group_key: str, now: float) -> tuple[int, float | None]:
        """(due pending batch webhooks, oldest received_at) of one group."""
        with self._lock:
            count, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(received_at) FROM webhooks WHERE state = 'pending' AND mode = 'batch'"
                " AND group_key = ? AND next_attempt_at <= ?", (group_key, now)).fetchone()
        return count, oldest

    def next_batch_attempt(self, group_key: str) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(next_attempt_at) FROM webhooks WHERE state = 'pending'"
                                   " AND mode = 'batch' AND group_key = ?", (group_key,)).fetchone()
            return row[0]

    def mark_sent(self, message_ids: list[str], notification_id: str, now: float,
                  callbacks: list[CallbackRow], created_at_ms: int) -> None:
        """sending → sent (Sendbird created the messages at `created_at_ms`), and the SENT callbacks, in one
        transaction."""
        with self._tx() as db:
            db.execute("UPDATE webhooks SET state = 'sent', notification_id = ?, sent_at = ?, created_at_ms = ?"
                       f" WHERE message_id IN {LISTED}", (notification_id, now, created_at_ms, _listed(message_ids)))
            self._insert_callbacks(db, callbacks, now)

    def mark_each_sent(self, sends: list[tuple[str, str, int]], now: float, callbacks: list[CallbackRow]) -> None:
        """sending → sent for several realtime sends, each (message_id, notification_id, created_at_ms), and
        their SENT callbacks, in one transaction: a commit per send was most of `mark_sent`'s 120 us."""
        with self._tx() as db:
            db.executemany("UPDATE webhooks SET state = 'sent', notification_id = ?, sent_at = ?, created_at_ms = ?"
                           " WHERE message_id = ?", [(n, now, created, m) for m, n, created in sends])
            self._insert_callbacks(db, callbacks, now)

    def release(self, message_ids: Iterable[str], next_attempt_at: float) -> None:
        """sending → pending, to be tried again at `next_attempt_at`."""
        with self._tx() as db:
            db.executemany("UPDATE webhooks SET state = 'pending', next_attempt_at = ?, sending_since = NULL"
                           " WHERE message_id = ?", [(next_attempt_at, m) for m in message_ids])

    def bury(self, message_ids: Iterable[str], reason: str, now: float) -> None:
        """→ dead, each with a dead letter holding the reason."""
        ids = list(message_ids)
        with self._tx() as db:
            db.executemany("UPDATE webhooks SET state = 'dead', sending_since = NULL WHERE message_id = ?",
                           [(m,) for m in ids])
            db.executemany("INSERT INTO dead_letters (kind, ref, reason, at) VALUES ('webhook', ?, ?, ?)",
                           [(m, reason, now) for m in ids])

    # -- checking what an interrupted send did ---------------------------------------------------------
    def to_checking(self, message_ids: Iterable[str], now: float) -> int:
        """sending → checking, first check due `now`; how many rows moved."""
        with self._tx() as db:
            before = db.total_changes
            db.executemany("UPDATE webhooks SET state = 'checking', checks = 0, next_attempt_at = ?"
                           " WHERE message_id = ? AND state = 'sending'", [(now, m) for m in message_ids])
            return db.total_changes - before

    def checking(self) -> list[tuple[str, float]]:
        """(message_id, when its next check is due) of every webhook waiting for a check."""
        with self._lock:
            return self._db.execute("SELECT message_id, next_attempt_at FROM webhooks WHERE state = 'checking'"
                                    " ORDER BY next_attempt_at").fetchall()

    def checked_delivered(self, message_id: str, notification_id: str, now: float,
                          callbacks: list[CallbackRow], created_at_ms: int) -> str:
        """checking → sent (the feed holds it, created at `created_at_ms`), with its SENT callbacks: SETTLED. A
        feed message that matches could be another webhook's when the two say the same thing, so it is not
        taken (and the row stays checking) when another row of the receiver owns it (OWNED), or when another
        send to the receiver is in flight (IN_FLIGHT): its answer, still to come, may name that very message.
        NOT_CHECKING when the row was not checking."""
        with self._tx() as db:
            row = db.execute("SELECT receiver FROM webhooks WHERE message_id = ? AND state = 'checking'",
                             (message_id,)).fetchone()
            if row is None:
                return NOT_CHECKING
            if db.execute("SELECT 1 FROM webhooks WHERE notification_id = ? AND receiver = ?",
                          (notification_id, row[0])).fetchone():
                return OWNED
            if db.execute("SELECT 1 FROM webhooks INDEXED BY webhooks_sending WHERE receiver = ? AND state = 'sending'",
                          (row[0],)).fetchone():
                return IN_FLIGHT
            db.execute("UPDATE webhooks SET state = 'sent', notification_id = ?, sent_at = ?, created_at_ms = ?"
                       " WHERE message_id = ?", (notification_id, now, created_at_ms, message_id))
            self._insert_callbacks(db, callbacks, now)
            return SETTLED

    def checked_absent(self, message_id: str, now: float) -> bool:
        """checking → pending, due `now` (the feed proves it never arrived; `now` is when to send it again);
        False when it was not checking."""
        with self._tx() as db:
            return bool(db.execute("UPDATE webhooks SET state = 'pending', next_attempt_at = ?, sending_since = NULL"
                                   " WHERE message_id = ? AND state = 'checking'", (now, message_id)).rowcount)

    def checked_unknown(self, message_id: str, next_check_at: float) -> bool:
        """One more check that could not tell, the next one due `next_check_at`; False when not checking."""
        with self._tx() as db:
            return bool(db.execute("UPDATE webhooks SET checks = checks + 1, next_attempt_at = ?"
                                   " WHERE message_id = ? AND state = 'checking'",
                                   (next_check_at, message_id)).rowcount)

    def in_flight(self) -> list[WebhookRow]:
        """Webhooks a previous process was sending when it stopped."""
        with self._lock:
            rows = self._db.execute(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE state = 'sending'").fetchall()
        return [_webhook(r) for r in rows]

    def pending_realtime(self) -> list[tuple[str, float]]:
        with self._lock:
            return self._db.execute("SELECT message_id, next_attempt_at FROM webhooks WHERE state = 'pending'"
                                    " AND mode = 'realtime' ORDER BY next_attempt_at").fetchall()

    def by_notification(self, notification_id: str, receiver: str) -> WebhookRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE notification_id = ? AND receiver = ?",
                                   (notification_id, receiver)).fetchone()
        return _webhook(row) if row else None

    def webhook(self, message_id: str) -> WebhookRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE message_id = ?",
                                   (message_id,)).fetchone()
        return _webhook(row) if row else None

    def callbacks_of(self, message_id: str) -> list[dict[str, Any]]:
        """The SENT/READ callbacks of one webhook, with the `/users/track` event each posts (the console's trace)."""
        with self._lock:
            rows = self._db.execute("SELECT status, state, attempts, event FROM callbacks WHERE message_id = ?"
                                    " ORDER BY created_at", (message_id,)).fetchall()
        return [{"status": r[0], "state": r[1], "attempts": r[2], "event": json.loads(r[3])} for r in rows]

    def first_answer(self, message_id: str) -> dict[str, Any] | None:
        """What the bridge answered Braze for this webhook (a retry of it gets the same)."""
        with self._lock:
            row = self._db.execute("SELECT answer FROM webhooks WHERE message_id = ?", (message_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # -- reads ------------------------------------------------------------------------------------
    def unread_sent(self, receiver: str, read_ts_ms: int) -> list[WebhookRow]:
        """The sent rows of `receiver` created at or before `read_ts_ms` that no read has covered yet."""
        with self._lock:
            rows = self._db.execute(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks INDEXED BY webhooks_unread"
                                    " WHERE receiver = ? AND state = 'sent' AND read_at IS NULL AND created_at_ms <= ?"
                                    " ORDER BY created_at_ms, message_id", (receiver, read_ts_ms)).fetchall()
        return [_webhook(r) for r in rows]

    def note_receipt(self, receiver: str, channel_url: str, read_ts_ms: int) -> None:
        """Keep the newest read receipt of a receiver in a channel, for sends recorded after it arrived."""
        with self._tx() as db:
            db.execute("INSERT INTO read_receipts (receiver, channel_url, read_ts) VALUES (?, ?, ?)"
                       " ON CONFLICT (receiver, channel_url) DO UPDATE SET read_ts = MAX(read_ts, excluded.read_ts)",
                       (receiver, channel_url, read_ts_ms))

    def receipts_of(self, receivers: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        """receiver -> [(channel_url, newest read_ts)] of those receivers that have any."""
        wanted = sorted(set(receivers))
        found: dict[str, list[tuple[str, int]]] = {}
        with self._lock:
            for start in range(0, len(wanted), RECEIPT_LOOKUP_CHUNK):
                chunk = wanted[start:start + RECEIPT_LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                for receiver, channel, read_ts in self._db.execute(
                        f"SELECT receiver, channel_url, read_ts FROM read_receipts WHERE receiver IN ({marks})", chunk):
                    found.setdefault(receiver, []).append((channel, read_ts))
        return found

    def mark_read(self, callbacks: dict[str, CallbackRow | None], now: float) -> list[str]:
        """Mark rows read, each with its READ callback (None: event callback off), in one transaction; only
        rows no read covered before change. Returns the message ids newly read."""
        newly: list[str] = []
        with self._tx() as db:
            for message_id, callback in callbacks.items():
                if db.execute("UPDATE webhooks SET read_at = ? WHERE message_id = ? AND state = 'sent'"
                              " AND read_at IS NULL", (now, message_id)).rowcount:
                    newly.append(message_id)
                    if callback is not None:
                        self._insert_callbacks(db, [callback], now)
        return newly

    # -- callbacks --------------------------------------------------------------------------------
    def _insert_callbacks(self, db: sqlite3.Connection, callbacks: list[CallbackRow], now: float) -> int:
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO callbacks (message_id, status, external_id, event, trace_id, state,"
                       " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                       [(c.message_id, c.status, c.external_id, c.event_json, c.trace_id, now, now)
                        for c in callbacks])
        return db.total_changes - before

    def claim_callbacks(self, limit: int, now: float) -> list[CallbackRow]:
        """pending → posting for up to `limit` due callbacks, oldest first; a user with callbacks being checked
        waits (`NOT_HELD`)."""
        with self._tx() as db:
            rows = db.execute("SELECT message_id, status, external_id, event, trace_id, attempts FROM callbacks"
                              f" WHERE state = 'pending' AND next_attempt_at <= ? AND {NOT_HELD}"
                              " ORDER BY next_attempt_at, created_at LIMIT ?", (now, limit)).fetchall()
            db.execute(f"UPDATE callbacks SET state = 'posting', attempts = attempts + 1 WHERE {KEYS_LISTED}",
                       (_listed([r[0], r[1]] for r in rows),))
        return [CallbackRow(r[0], r[1], r[2], r[3], r[4], r[5] + 1) for r in rows]

    def callbacks_done(self, keys: list[tuple[str, str]]) -> None:
        with self._tx() as db:
            db.execute(f"UPDATE callbacks SET state = 'posted' WHERE {KEYS_LISTED}", (_listed(keys),))

    def callbacks_retry(self, keys: list[tuple[str, str]], next_attempt_at: float) -> None:
        with self._tx() as db:
            db.executemany("UPDATE callbacks SET state = 'pending', next_attempt_at = ? WHERE message_id = ?"
                           " AND status = ?", [(next_attempt_at, m, s) for m, s in keys])

    def callbacks_bury(self, keys: list[tuple[str, str]], reason: str, now: float) -> None:
        with self._tx() as db:
            db.executemany("UPDATE callbacks SET state = 'dead' WHERE message_id = ? AND status = ?", keys)
            db.executemany("INSERT INTO dead_letters (kind, ref, reason, at) VALUES ('callback', ?, ?, ?)",
                           [(f"{m}:{s}", reason, now) for m, s in keys])

    def recover_callbacks(self, now: float) -> int:
        """posting → checking after a restart, first check due `now` (the post may or may not have reached
        Braze, which does not deduplicate: only its count can tell)."""
        with self._tx() as db:
            return db.execute("UPDATE callbacks SET state = 'checking', checks = 0, next_attempt_at = ?"
                              " WHERE state = 'posting'", (now,)).rowcount

    def callbacks_to_checking(self, keys: list[tuple[str, str]], now: float) -> int:
        """posting → checking, first check due `now` (a post whose answer was lost); how many rows moved."""
        with self._tx() as db:
            before = db.total_changes
            db.executemany("UPDATE callbacks SET state = 'checking', checks = 0, next_attempt_at = ?"
                           " WHERE message_id = ? AND status = ? AND state = 'posting'", [(now, m, s) for m, s in keys])
            return db.total_changes - before

    def checking_callbacks(self, now: float, users: int) -> list[CallbackRow]:
        """Every checking callback of the first `users` users (by due time) that have a check due by `now`.
        All of a user's checking rows are checked together: Braze's count is per user and event name."""
        with self._tx() as db:
            chosen = [r[0] for r in db.execute(
                "SELECT external_id FROM callbacks WHERE state = 'checking' AND next_attempt_at <= ?"
                " GROUP BY external_id ORDER BY MIN(next_attempt_at), MIN(created_at) LIMIT ?", (now, users))]
            rows = []
            for external_id in chosen:
                rows.extend(db.execute(
                    "SELECT message_id, status, external_id, event, trace_id, attempts, checks, created_at"
                    " FROM callbacks WHERE external_id = ? AND state = 'checking' ORDER BY created_at, message_id,"
                    " status", (external_id,)).fetchall())
        return [CallbackRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def posted_counts(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """(external_id, event name) -> how many of that user's callbacks of that name are posted."""
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for external_id, name in set(pairs):
                counts[(external_id, name)] = self._db.execute(
                    "SELECT COUNT(*) FROM callbacks INDEXED BY callbacks_by_user WHERE external_id = ?"
                    " AND state = 'posted' AND json_extract(event, '$.name') = ?", (external_id, name)).fetchone()[0]
        return counts

    def callbacks_checked(self, landed: list[tuple[str, str]], absent: list[tuple[str, str]], now: float) -> int:
        """checking → posted (Braze's count holds them) and checking → pending due `now` (it proves them absent;
        `now` is when to post them again), in one transaction; how many rows moved (rows no longer checking are
        left alone)."""
        with self._tx() as db:
            before = db.total_changes
            db.executemany("UPDATE callbacks SET state = 'posted' WHERE message_id = ? AND status = ?"
                           " AND state = 'checking'", landed)
            db.executemany("UPDATE callbacks SET state = 'pending', next_attempt_at = ? WHERE message_id = ?"
                           " AND status = ? AND state = 'checking'", [(now, m, s) for m, s in absent])
            return db.total_changes - before

    def callbacks_check_unknown(self, keys: list[tuple[str, str]], next_check_at: float) -> None:
        """One more check that could not tell, the next one due `next_check_at`."""
        with self._tx() as db:
            db.executemany("UPDATE callbacks SET checks = checks + 1, next_attempt_at = ? WHERE message_id = ?"
                           " AND status = ? AND state = 'checking'", [(next_check_at, m, s) for m, s in keys])

    def next_callback_at(self) -> float | None:
        with self._lock:
            return self._db.execute("SELECT MIN(next_attempt_at) FROM callbacks WHERE state = 'checking'"
                                    f" OR (state = 'pending' AND {NOT_HELD})").fetchone()[0]

    # -- dead letters -----------------------------------------------------------------------------
    def dead_letters(self, include_replayed: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT id, kind, ref, reason, at, replayed_at FROM dead_letters"
        if not include_replayed:
            sql += " WHERE replayed_at IS NULL"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id").fetchall()
        return [{"id": r[0], "kind": r[1], "ref": r[2], "reason": r[3], "at": r[4], "replayed_at": r[5]} for r in rows]

    def replay(self, ids: list[int] | None, now: float) -> list[dict[str, Any]]:
        """Dead letters (all, or those listed) back to pending; returns the replayed letters."""
        with self._tx() as db:
            sql = "SELECT id, kind, ref FROM dead_letters WHERE replayed_at IS NULL"
            rows = db.execute(sql).fetchall()
            if ids is not None:
                wanted = set(ids)
                rows = [r for r in rows if r[0] in wanted]
            for letter_id, kind, ref in rows:
                if kind == "webhook":
                    db.execute("UPDATE webhooks SET state = 'pending', next_attempt_at = ?, attempts = 0"
                               " WHERE message_id = ? AND state = 'dead'", (now, ref))
                else:
                    message_id, _, status = ref.rpartition(":")
                    db.execute("UPDATE callbacks SET state = 'pending', next_attempt_at = ?, attempts = 0"
                               " WHERE message_id = ? AND status = ? AND state = 'dead'", (now, message_id, status))
                db.execute("UPDATE dead_letters SET replayed_at = ? WHERE id = ?", (now, letter_id))
        return [{"id": r[0], "kind": r[1], "ref": r[2]} for r in rows]

    # -- introspection -------------------------------------------------------------
    def depth(self) -> dict[str, int]:
        with self._lock:
            webhooks = dict(self._db.execute("SELECT state, COUNT(*) FROM webhooks GROUP BY state").fetchall())
            callbacks = dict(self._db.execute("SELECT state, COUNT(*) FROM callbacks GROUP BY state").fetchall())
        return {**{f"webhooks_{k}": v for k, v in webhooks.items()},
                **{f"callbacks_{k}": v for k, v in callbacks.items()}}

    # -- settings the bridge keeps across restarts (its integration page) ----------------------------
    def setting(self, name: str) -> Any:
        """A stored setting's JSON value; None when it was never stored."""
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def store_setting(self, name: str, value: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                       "value = excluded.value", (name, json.dumps(value, separators=(",", ":"))))

    def clear(self) -> None:
        """Forget the webhooks, callbacks, receipts and dead letters (a reset); the settings stay, as the
        integration page's settings outlive a reset."""
        with self._tx() as db:
            for table in ("webhooks", "callbacks", "dead_letters", "read_receipts"):
                db.execute(f"DELETE FROM {table}")

    # -- what a test window holds (read-only: the durable count a load test reconciles with) ------------
    def window_summary(self, since_received: float) -> dict[str, Any]:
        """Webhooks received at or after `since_received` by state, and their callbacks by status and state."""
        with self._lock:
            webhooks = self._db.execute("SELECT state, COUNT(*) FROM webhooks WHERE received_at >= ?"
                                        " GROUP BY state", (since_received,)).fetchall()
            notified = self._db.execute("SELECT COUNT(*) FROM webhooks WHERE received_at >= ? AND state = 'sent'"
                                        " AND notification_id IS NOT NULL", (since_received,)).fetchone()[0]
            callbacks = self._db.execute(
                "SELECT c.status, c.state, COUNT(*) FROM callbacks c JOIN webhooks w ON w.message_id = c.message_id"
                " WHERE w.received_at >= ? GROUP BY c.status, c.state", (since_received,)).fetchall()
        states = dict.fromkeys(("pending", "sending", "sent", "dead"), 0) | dict(webhooks)
        by_status = {status: dict.fromkeys(("pending", "posting", "checking", "posted", "dead"), 0)
                     for status in ("SENT", "READ")}
        for status, state, count in callbacks:
            by_status.setdefault(status, {})[state] = count
        return {"webhooks": {"accepted": sum(states.values()), **states, "sent_with_notification_id": notified},
                "callbacks": by_status}

    def window_webhooks(self, since_received: float, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Up to `limit` webhooks received at or after `since_received`, in the order they were stored, from
        after the position `after`; and the position to pass next (None at the end)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT w.rowid, w.message_id, w.mode, w.state, w.receiver, w.trace_id, w.received_at,"
                " w.notification_id, w.sent_at,"
                " (SELECT state FROM callbacks WHERE message_id = w.message_id AND status = 'SENT'),"
                " (SELECT state FROM callbacks WHERE message_id = w.message_id AND status = 'READ')"
                " FROM webhooks w WHERE w.rowid > ? AND w.received_at >= ? ORDER BY w.rowid LIMIT ?",
                (after, since_received, limit)).fetchall()
        webhooks = [{"message_id": r[1], "mode": r[2], "state": r[3], "receiver": r[4], "trace_id": r[5],
                     "received_at": r[6], "notification_id": r[7], "sent_at": r[8],
                     "callbacks": {status: state for status, state in (("SENT", r[9]), ("READ", r[10])) if state}}
                    for r in rows]
        return webhooks, rows[-1][0] if len(rows) == limit else None
