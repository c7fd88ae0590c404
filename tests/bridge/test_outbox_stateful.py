"""A Hypothesis state machine over the outbox (bridge/outbox.py) on a real SQLite file.

The rules call the outbox the way the bridge does (accept, claim one realtime webhook or a group of batch
ones, mark sent, release for a retry, bury, replay dead letters, queue/claim/finish/retry/bury callbacks,
settle a `checking` webhook as delivered, absent or still unknown, work out what a Sendbird read receipt
covers with `bridge.reads.covered` and mark it read, including the same receipt again as Sendbird's retries
and duplicates deliver it, older receipts arriving after newer ones, and receipts that arrive while a send is
in flight or being checked, read when the send is recorded) and RESTART it: close it and open a new `Outbox` on
the same file, then apply the bridge's restart semantics (`in_flight()` rows to `checking`,
`recover_callbacks()`). A model alongside says what each row must be.

`RecoveryMachine` drives the whole bridge on such a file, the way a hostile world would: webhooks arrive, the
process is killed during a send (after Sendbird took it, or before) and restarted, and Sendbird answers the
recovery's feed checks (and the sends) with 429, 5XX, timeouts, connection errors, or properly. Whatever
happens, Sendbird never holds two notifications for one message id, and once Sendbird recovers every accepted
webhook ends sent (held once by Sendbird) or in the dead letters with a reason.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import responses
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bridge.outbox import IN_FLIGHT, NOT_CHECKING, OWNED, SETTLED, CallbackRow, Outbox
from bridge.reads import ReadUpdate, covered, covered_when_sent

from .conftest import Answer, Call, Crash, Outbound, run_idle, sendbird_error, webhook_body

MESSAGE_IDS = [f"m{i}" for i in range(10)] + ["m:colon"]
RECEIVERS = ["r0", "r1", "r2", "r3"]
GROUPS = ["g0", "g1"]
TEMPLATES = {"g0": "t0", "g1": "t1"}  # a batch group is one template ...
CHANNELS = {"t0": "c0", "t1": "c1"}  # ... and each template sends into its own channel
FAR_FUTURE = 1e12


class OutboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-"))
        self.path = self.dir / "bridge.sqlite3"
        self.outbox = Outbox(self.path)
        self.now = 1_000.0
        self.notifications = 0
        # the model
        self.answers: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, dict[str, Any]] = {}  # message_id -> mode, receiver, group, state, due, received
        self.claimed: set[str] = set()  # rows this process holds in `sending`
        self.sent_times: Counter[str] = Counter()
        self.callbacks: dict[tuple[str, str], dict[str, Any]] = {}  # key -> state, due
        self.cb_claimed: set[tuple[str, str]] = set()
        self.posted_times: Counter[tuple[str, str]] = Counter()
        self.letters: list[tuple[str, str]] = []  # (kind, ref) of dead letters not replayed, in order
        self.receipts: list[tuple[str, str, int]] = []  # (receiver, channel, read_ts) of every read webhook so far

    def teardown(self) -> None:
        try:
            self.drain()
        finally:
            self.outbox.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------
    def _callback(self, message_id: str, status: str) -> CallbackRow:
        event = {"external_id": self.rows[message_id]["receiver"], "name": "e",
                 "properties": {"status": status, "message_id": message_id}}
        return CallbackRow.of(message_id, status, self.rows[message_id]["receiver"], event, f"t-{message_id}")

    def _queue_callbacks(self, keys: list[tuple[str, str]]) -> int:
        new = 0
        for key in keys:
            if key not in self.callbacks:
                self.callbacks[key] = {"state": "pending", "due": self.now}
                new += 1
        return new

    def _checking(self) -> list[str]:
        return sorted(m for m, r in self.rows.items() if r["state"] == "checking")

    def _due(self, mode: str | None = None, group: str | None = None) -> list[str]:
        return [m for m, r in self.rows.items() if r["state"] == "pending" and r["due"] <= self.now
                and (mode is None or r["mode"] == mode) and (group is None or r["group"] == group)]

    # -- time -------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([0.0, 0.001, 0.5, 3.0, 60.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    # -- accepting --------------------------------------------------------------------------
    @rule(message_id=st.sampled_from(MESSAGE_IDS), mode=st.sampled_from(["realtime", "batch"]),
          receiver=st.sampled_from(RECEIVERS), group=st.sampled_from(GROUPS))
    def accept(self, message_id: str, mode: str, receiver: str, group: str) -> None:
        answer = {"message_id": message_id, "status": "accepted", "mode": mode, "at": self.now}
        body = {"receiver": receiver, "variables": {}, "template_key": TEMPLATES[group]}
        first, duplicate = self.outbox.accept(message_id, mode, body, receiver, group, f"t-{message_id}", self.now,
                                              answer)
        if message_id in self.answers:
            assert duplicate is True
            assert first == self.answers[message_id]  # the first answer, whatever this one says
        else:
            assert duplicate is False and first == answer
            self.answers[message_id] = answer
            self.rows[message_id] = {"mode": mode, "receiver": receiver, "group": group, "state": "pending",
                                     "due": self.now, "received": self.now, "checks": 0, "created": None,
                                     "read": False}

    # -- sending ----------------------------------------------------------------------------
    @rule(message_id=st.sampled_from(MESSAGE_IDS))
    def claim_realtime(self, message_id: str) -> None:
        row = self.rows.get(message_id)
        if row is not None and row["mode"] != "realtime":
            return  # the bridge claims one by one only realtime webhooks
        claimed = next(iter(self.outbox.claim_realtime([message_id], self.now)), None)
        expected = row is not None and row["state"] == "pending" and row["due"] <= self.now
        assert (claimed is not None) == expected, (message_id, row, claimed)
        if claimed is not None:
            assert claimed.message_id == message_id and claimed.receiver == row["receiver"]
            row["state"] = "sending"
            self.claimed.add(message_id)

    @rule(group=st.sampled_from(GROUPS), limit=st.integers(min_value=1, max_value=4))
    def claim_group(self, group: str, limit: int) -> None:
        due = self._due("batch", group)
        claimed = self.outbox.claim_group(group, limit, self.now)
        ids = [r.message_id for r in claimed]
        receivers = [r.receiver for r in claimed]
        assert len(claimed) <= limit
        assert len(set(receivers)) == len(receivers), receivers  # never the same receiver twice in one claim
        assert set(ids) <= set(due), (ids, due)
        assert len(claimed) == min(limit, len({self.rows[m]["receiver"] for m in due}))
        for message_id in ids:
            self.rows[message_id]["state"] = "sending"
            self.claimed.add(message_id)

    @precondition(lambda self: self.claimed)
    @rule(data=st.data(), lag_ms=st.sampled_from([0, 1, 250]))
    def mark_sent(self, data: st.DataObject, lag_ms: int) -> None:
        """Sendbird created the messages `lag_ms` before the bridge learnt of it."""
        ids = data.draw(st.lists(st.sampled_from(sorted(self.claimed)), min_size=1, unique=True))
        self.notifications += 1
        callbacks = [self._callback(m, "SENT") for m in ids]
        created = int(self.now * 1000) - lag_ms
        self.outbox.mark_sent(ids, f"noti-{self.notifications}", self.now, callbacks, created)
        for message_id in ids:
            self.rows[message_id].update(state="sent", created=created, notification=f"noti-{self.notifications}")
            self.sent_times[message_id] += 1
            assert self.sent_times[message_id] == 1, f"{message_id} marked sent twice"
            self.claimed.discard(message_id)
        self._queue_callbacks([(m, "SENT") for m in ids])
        self._read_on_send(ids, created)

    @rule(message_id=st.sampled_from(MESSAGE_IDS), receiver=st.sampled_from(RECEIVERS),
          group=st.sampled_from(GROUPS), lag_ms=st.sampled_from([0, 1, 250]))
    def realtime_send(self, message_id: str, receiver: str, group: str, lag_ms: int) -> None:
        """A realtime webhook accepted, claimed and sent in one go, as most are: gives the reads something
        to read."""
        if message_id in self.rows:
            return
        self.accept(message_id, "realtime", receiver, group)
        self.claim_realtime(message_id)
        self.notifications += 1
        created = int(self.now * 1000) - lag_ms
        self.outbox.mark_sent([message_id], f"noti-{self.notifications}", self.now,
                              [self._callback(message_id, "SENT")], created)
        self.rows[message_id].update(state="sent", created=created, notification=f"noti-{self.notifications}")
        self.sent_times[message_id] += 1
        self.claimed.discard(message_id)
        self._queue_callbacks([(message_id, "SENT")])
        self._read_on_send([message_id], created)

    @precondition(lambda self: self.claimed)
    @rule(data=st.data(), delay=st.sampled_from([0.0, 0.25, 7.0]))
    def release(self, data: st.DataObject, delay: float) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.claimed)), min_size=1, unique=True))
        self.outbox.release(ids, self.now + delay)
        for message_id in ids:
            self.rows[message_id].update(state="pending", due=self.now + delay)
            self.claimed.discard(message_id)

    @precondition(lambda self: self.claimed)
    @rule(data=st.data())
    def bury(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.claimed)), min_size=1, unique=True))
        self.outbox.bury(ids, "HTTP 400: no", self.now)
        for message_id in ids:
            self.rows[message_id]["state"] = "dead"
            self.claimed.discard(message_id)
            self.letters.append(("webhook", message_id))

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        letters = self.outbox.dead_letters()
        chosen = None
        if letters and data.draw(st.booleans()):
            chosen = data.draw(st.lists(st.sampled_from([d["id"] for d in letters]), unique=True))
        replayed = self.outbox.replay(chosen, self.now)
        expected = letters if chosen is None else [d for d in letters if d["id"] in set(chosen)]
        assert [r["id"] for r in replayed] == [d["id"] for d in expected]
        for letter in expected:
            self.letters.remove((letter["kind"], letter["ref"]))
            if letter["kind"] == "webhook":
                row = self.rows[letter["ref"]]
                if row["state"] == "dead":
                    row.update(state="pending", due=self.now)
            else:
                message_id, _, status = letter["ref"].rpartition(":")
                callback = self.callbacks[(message_id, status)]
                if callback["state"] == "dead":
                    callback.update(state="pending", due=self.now)

    # -- checking what an interrupted send did -----------------------------------------------
    @precondition(lambda self: self._checking())
    @rule(data=st.data())
    def check_delivered(self, data: st.DataObject) -> None:
        """The feed holds a matching message: a new one, or (the same words to the same user) one another row of
        the receiver owns. It is taken only when no other row owns it and no other send to the receiver is in
        flight (whose answer may name it)."""
        message_id = data.draw(st.sampled_from(self._checking()))
        receiver = self.rows[message_id]["receiver"]
        owned = sorted(r["notification"] for m, r in self.rows.items()
                       if m != message_id and r["receiver"] == receiver and r.get("notification"))
        notification = data.draw(st.sampled_from([None, *owned]))
        if notification is None:
            self.notifications += 1
            notification = f"noti-{self.notifications}"
        created = int(self.now * 1000) - 1
        in_flight = any(r["state"] == "sending" and r["receiver"] == receiver and m != message_id
                        for m, r in self.rows.items())
        settled = self.outbox.checked_delivered(message_id, notification, self.now,
                                                [self._callback(message_id, "SENT")], created)
        expected = OWNED if notification in owned else IN_FLIGHT if in_flight else SETTLED
        assert settled == expected, (message_id, notification, settled)
        if settled != SETTLED:
            return
        self.rows[message_id].update(state="sent", created=created, notification=notification)
        self.sent_times[message_id] += 1
        assert self.sent_times[message_id] == 1, f"{message_id} marked sent twice"
        self._queue_callbacks([(message_id, "SENT")])
        self._read_on_send([message_id], created)

    @precondition(lambda self: self._checking())
    @rule(data=st.data())
    def check_absent(self, data: st.DataObject) -> None:
        message_id = data.draw(st.sampled_from(self._checking()))
        assert self.outbox.checked_absent(message_id, self.now)
        self.rows[message_id].update(state="pending", due=self.now)

    @precondition(lambda self: self._checking())
    @rule(data=st.data(), delay=st.sampled_from([0.25, 7.0]))
    def check_unknown(self, data: st.DataObject, delay: float) -> None:
        message_id = data.draw(st.sampled_from(self._checking()))
        assert self.outbox.checked_unknown(message_id, self.now + delay)
        row = self.rows[message_id]
        row.update(checks=row["checks"] + 1, due=self.now + delay)

    @precondition(lambda self: self._checking())
    @rule(data=st.data())
    def give_up_checking(self, data: st.DataObject) -> None:
        message_id = data.draw(st.sampled_from(self._checking()))
        self.outbox.bury([message_id], "could not tell after 20 checks", self.now)
        self.rows[message_id]["state"] = "dead"
        self.letters.append(("webhook", message_id))

    @rule(message_id=st.sampled_from(MESSAGE_IDS))
    def settling_what_is_not_checking_changes_nothing(self, message_id: str) -> None:
        row = self.rows.get(message_id)
        if row is not None and row["state"] == "checking":
            return
        assert self.outbox.checked_delivered(message_id, "noti-never", self.now,
                                             [self._callback(message_id, "SENT")] if row else [], 0) == NOT_CHECKING
        assert not self.outbox.checked_absent(message_id, self.now)
        assert not self.outbox.checked_unknown(message_id, self.now)

    # -- callbacks --------------------------------------------------------------------------
    def _read_on_send(self, ids: list[str], created: int) -> None:
        """Just marked sent: what receipts kept from before cover is read now (`covered_when_sent`)."""
        rows = [self.outbox.webhook(m) for m in ids]
        covered_rows = covered_when_sent(self.outbox, rows, created, CHANNELS.get)
        # a receipt kept from before covers a message created strictly before it: one created in its millisecond
        # came after the read
        expected = {m for m in ids if any(receiver == self.rows[m]["receiver"] and read_ts > created
                                          and channel == CHANNELS[TEMPLATES[self.rows[m]["group"]]]
                                          for receiver, channel, read_ts in self.receipts)}
        assert {r.message_id for r, _ in covered_rows} == expected, (ids, created, self.receipts)
        newly = self.outbox.mark_read({r.message_id: self._callback(r.message_id, "READ") for r, _ in covered_rows},
                                      self.now)
        assert sorted(newly) == sorted(expected)
        for message_id in newly:
            self.rows[message_id]["read"] = True
        assert self._queue_callbacks([(m, "READ") for m in newly]) == len(newly)

    def _receive_read(self, receiver: str, channel: str, read_ts: int) -> None:
        """A read webhook reaches the bridge: what `covered` picks is marked read with its READ callback."""
        expected = {m for m, r in self.rows.items() if r["state"] == "sent" and not r["read"]
                    and r["receiver"] == receiver and CHANNELS[TEMPLATES[r["group"]]] == channel
                    and r["created"] <= read_ts}
        self.outbox.note_receipt(receiver, channel, read_ts)
        rows = covered(self.outbox, ReadUpdate(receiver, read_ts), channel, CHANNELS.get)
        assert {r.message_id for r in rows} == expected, (receiver, channel, read_ts)
        newly = self.outbox.mark_read({r.message_id: self._callback(r.message_id, "READ") for r in rows}, self.now)
        assert sorted(newly) == sorted(expected)
        for message_id in newly:
            self.rows[message_id]["read"] = True
        assert self._queue_callbacks([(m, "READ") for m in newly]) == len(newly)
        self.receipts.append((receiver, channel, read_ts))

    @rule(receiver=st.sampled_from(RECEIVERS), channel=st.sampled_from(sorted(CHANNELS.values())),
          offset_ms=st.sampled_from([-5_000, 0, 5_000]))
    def read_webhook(self, receiver: str, channel: str, offset_ms: int) -> None:
        """A new read receipt of anyone in any channel, around now."""
        self._receive_read(receiver, channel, int(self.now * 1000) + offset_ms)

    @precondition(lambda self: any(r["created"] is not None for r in self.rows.values()))
    @rule(data=st.data(), offset_ms=st.sampled_from([-1, 0, 1]))
    def read_webhook_at_a_message(self, data: st.DataObject, offset_ms: int) -> None:
        """A receipt of a sent message's receiver in its channel, just before, at or just after its creation:
        a partial read when other messages of theirs are newer."""
        row = self.rows[data.draw(st.sampled_from(sorted(m for m, r in self.rows.items() if r["created"] is not None)))]
        self._receive_read(row["receiver"], CHANNELS[TEMPLATES[row["group"]]], row["created"] + offset_ms)

    @precondition(lambda self: self.receipts)
    @rule(data=st.data())
    def read_webhook_again(self, data: st.DataObject) -> None:
        """An earlier receipt once more: Sendbird's retry, a duplicate, or an older one arriving late."""
        self._receive_read(*data.draw(st.sampled_from(self.receipts)))

    @rule(limit=st.sampled_from([1, 2, 75]))
    def claim_callbacks(self, limit: int) -> None:
        held = {self.rows[m]["receiver"] for (m, _), c in self.callbacks.items() if c["state"] == "checking"}
        due = [k for k, c in self.callbacks.items() if c["state"] == "pending" and c["due"] <= self.now
               and self.rows[k[0]]["receiver"] not in held]  # a user being checked at Braze waits
        claimed = self.outbox.claim_callbacks(limit, self.now)
        keys = [(c.message_id, c.status) for c in claimed]
        assert len(keys) == len(set(keys)) == min(limit, len(due))
        assert set(keys) <= set(due)
        for key, row in zip(keys, claimed, strict=True):
            assert row.event["properties"] == {"status": key[1], "message_id": key[0]}
            self.callbacks[key]["state"] = "posting"
            self.cb_claimed.add(key)

    @precondition(lambda self: self.cb_claimed)
    @rule(data=st.data(), outcome=st.sampled_from(["posted", "retry", "dead"]))
    def finish_callbacks(self, data: st.DataObject, outcome: str) -> None:
        keys = data.draw(st.lists(st.sampled_from(sorted(self.cb_claimed)), min_size=1, unique=True))
        if outcome == "posted":
            self.outbox.callbacks_done(keys)
        elif outcome == "retry":
            self.outbox.callbacks_retry(keys, self.now + 0.5)
        else:
            self.outbox.callbacks_bury(keys, "HTTP 401: Invalid API Key", self.now)
        for key in keys:
            self.cb_claimed.discard(key)
            callback = self.callbacks[key]
            if outcome == "posted":
                callback["state"] = "posted"
                self.posted_times[key] += 1
                assert self.posted_times[key] == 1, f"{key} posted twice"
            elif outcome == "retry":
                callback.update(state="pending", due=self.now + 0.5)
            else:
                callback["state"] = "dead"
                self.letters.append(("callback", f"{key[0]}:{key[1]}"))

    @precondition(lambda self: any(c["state"] == "checking" for c in self.callbacks.values()))
    @rule(data=st.data(), outcome=st.sampled_from(["landed", "absent", "unknown"]))
    def check_callbacks(self, data: st.DataObject, outcome: str) -> None:
        """Braze's count settles some checking callbacks: landed (posted once, by the interrupted post), absent
        (pending, posted again) or could not tell (one more check, later)."""
        found = self.outbox.checking_callbacks(self.now, 75)
        users = {self.rows[m]["receiver"] for (m, _), c in self.callbacks.items()
                 if c["state"] == "checking" and c["due"] <= self.now}
        assert {c.external_id for c in found} == users  # each user with a check due, with all its checking rows
        assert sorted(c.key for c in found) == sorted(k for k, c in self.callbacks.items() if c["state"] == "checking"
                                                      and self.rows[k[0]]["receiver"] in users)
        checking = sorted(k for k, c in self.callbacks.items() if c["state"] == "checking")
        keys = data.draw(st.lists(st.sampled_from(checking), min_size=1, unique=True))
        if outcome == "unknown":
            self.outbox.callbacks_check_unknown(keys, self.now + 1.0)
        else:
            moved = self.outbox.callbacks_checked(keys if outcome == "landed" else [],
                                                  keys if outcome == "absent" else [], self.now)
            assert moved == len(keys)
        for key in keys:
            callback = self.callbacks[key]
            if outcome == "landed":
                callback["state"] = "posted"
                self.posted_times[key] += 1
                assert self.posted_times[key] == 1, f"{key} posted twice"
            elif outcome == "absent":
                callback.update(state="pending", due=self.now)
            else:
                callback.update(due=self.now + 1.0, checks=callback["checks"] + 1)

    # -- restart ----------------------------------------------------------------------------
    @rule()
    def restart(self) -> None:
        """The process dies; a new one opens the same file and does what `Bridge.recover` does."""
        self.outbox.close()
        self.outbox = Outbox(self.path)
        in_flight = sorted(r.message_id for r in self.outbox.in_flight())
        assert in_flight == sorted(m for m, r in self.rows.items() if r["state"] == "sending")
        assert self.outbox.to_checking(in_flight, self.now) == len(in_flight)  # sent again only on proof
        for message_id in in_flight:
            self.rows[message_id].update(state="checking", due=self.now, checks=0)
        recovered = self.outbox.recover_callbacks(self.now)  # posted again only on Braze's proof
        posting = [k for k, c in self.callbacks.items() if c["state"] == "posting"]
        assert recovered == len(posting)
        for key in posting:
            self.callbacks[key].update(state="checking", due=self.now, checks=0)
        self.claimed.clear()
        self.cb_claimed.clear()

    # -- invariants -------------------------------------------------------------------------
    @invariant()
    def every_accepted_webhook_is_in_exactly_its_state(self) -> None:
        for message_id, row in self.rows.items():
            stored = self.outbox.webhook(message_id)
            assert stored is not None, f"{message_id} was lost"
            assert stored.state == row["state"], (message_id, stored.state, row["state"])
        depth = self.outbox.depth()
        expected = Counter(f"webhooks_{r['state']}" for r in self.rows.values())
        assert {k: v for k, v in depth.items() if k.startswith("webhooks_")} == dict(expected)

    @invariant()
    def checks_and_their_due_times_match_the_model(self) -> None:
        checking = self.outbox.checking()
        assert sorted(checking) == sorted((m, self.rows[m]["due"]) for m in self._checking())
        assert [due for _, due in checking] == sorted(due for _, due in checking)  # soonest first
        for message_id in self._checking():
            assert self.outbox.webhook(message_id).checks == self.rows[message_id]["checks"]

    @invariant()
    def callbacks_match_the_model(self) -> None:
        depth = self.outbox.depth()
        expected = Counter(f"callbacks_{c['state']}" for c in self.callbacks.values())
        assert {k: v for k, v in depth.items() if k.startswith("callbacks_")} == dict(expected)

    @invariant()
    def exactly_the_read_notifications_have_one_read(self) -> None:
        """A READ is queued once for each notification a receipt covers (whether it came before or after the send
        was recorded), and never for any other."""
        for message_id, row in self.rows.items():
            assert (self.outbox.webhook(message_id).read_at is not None) == row["read"], message_id
        assert {m for m, s in self.callbacks if s == "READ"} == {m for m, r in self.rows.items() if r["read"]}

    @invariant()
    def dead_letters_match_the_model(self) -> None:
        assert [(d["kind"], d["ref"]) for d in self.outbox.dead_letters()] == self.letters

    @initialize()
    def nothing_yet(self) -> None:
        assert self.outbox.depth() == {} and self.outbox.dead_letters() == []

    # -- the end ----------------------------------------------------------------------------
    def drain(self) -> None:
        """Restart once more and post everything: each queued, not-dead callback is posted exactly once."""
        self.restart()
        checking = [k for k, c in self.callbacks.items() if c["state"] == "checking"]
        assert self.outbox.callbacks_checked([], checking, self.now) == len(checking)  # proven absent
        for key in checking:
            self.callbacks[key].update(state="pending", due=self.now)
        while True:
            batch = self.outbox.claim_callbacks(75, FAR_FUTURE)
            if not batch:
                break
            keys = [(c.message_id, c.status) for c in batch]
            self.outbox.callbacks_done(keys)
            for key in keys:
                self.posted_times[key] += 1
                self.callbacks[key]["state"] = "posted"
        for key, callback in self.callbacks.items():
            if callback["state"] == "dead":
                assert self.posted_times[key] == 0
            else:
                assert callback["state"] == "posted" and self.posted_times[key] == 1, (key, self.posted_times[key])
        for message_id, times in self.sent_times.items():
            assert times == 1 and self.rows[message_id]["state"] == "sent"


OutboxMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=40, deadline=None)
TestOutbox = OutboxMachine.TestCase


# -- the bridge's recovery against a Sendbird that fails in every way ---------------------------------------------

SENDBIRD_MODES: dict[str, Answer | None] = {
    "ok": None,
    "429": sendbird_error(429, 500910, "Too many requests.", {"Retry-After": "2"}),
    "500": sendbird_error(500, 500901, "Internal server error."),
    "503": (503, {}, "<html>Service Unavailable</html>"),
    "timeout": requests.exceptions.ReadTimeout("read timed out"),
    "connection-error": requests.ConnectionError("connection refused"),
}


class RecoveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="recovery-"))
        self.rsps = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.rsps.start()
        self.out = Outbound(self.rsps, db=str(self.dir / "bridge.sqlite3"), batch_linger_ms=200)
        self.healthy = {"send": self.out.sendbird.default, "template": self.out.templates.default,
                        "feed": self.out.feed.default}
        self.accepted: dict[str, str] = {}  # message id -> mode
        self.crashes = 0

    def teardown(self) -> None:
        try:
            self.sendbird_recovers()
        finally:
            self.out.runtime.close()
            self.rsps.stop()
            self.rsps.reset()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the world ----------------------------------------------------------------------------
    @rule(message_id=st.sampled_from(MESSAGE_IDS), mode=st.sampled_from(["realtime", "batch"]),
          receiver=st.sampled_from(RECEIVERS))
    def webhook_arrives(self, message_id: str, mode: str, receiver: str) -> None:
        response = self.out.post(mode, webhook_body(message_id, receiver, variables={"m": message_id}))
        assert response.status_code == 200, response.get_json()
        self.accepted.setdefault(message_id, mode)

    @rule(mode=st.sampled_from(list(SENDBIRD_MODES)))
    def sendbird_answers(self, mode: str) -> None:
        """From now on Sendbird answers template lookups, feed reads and sends this way."""
        fault = SENDBIRD_MODES[mode]

        def failing(call: Call) -> Answer:
            assert fault is not None
            return fault

        self.out.sendbird.default = self.healthy["send"] if fault is None else failing
        self.out.templates.default = self.healthy["template"] if fault is None else failing
        self.out.feed.default = self.healthy["feed"] if fault is None else failing

    @rule(reached=st.booleans())
    def the_next_send_kills_the_process(self, reached: bool) -> None:
        if not self.out.sendbird.script:  # one armed crash at a time
            self.out.crash_during_send(reached)

    @rule(seconds=st.sampled_from([0.0, 0.3, 2.0, 30.0, 400.0]))
    def time_passes(self, seconds: float) -> None:
        try:
            self.out.run_for(seconds)
        except Crash:
            self.crashes += 1
            self.out.restart(after_seconds=1.0)

    @rule()
    def restart(self) -> None:
        self.out.restart(after_seconds=0.5)

    # -- what must always hold -----------------------------------------------------------------
    @invariant()
    def sendbird_never_holds_a_message_twice(self) -> None:
        for message_id in self.accepted:
            assert self.out.delivered(message_id) <= 1, f"{message_id} was sent twice"

    @invariant()
    def nothing_accepted_is_missing_from_the_outbox(self) -> None:
        for message_id in self.accepted:
            assert self.out.state(message_id) in ("pending", "sending", "checking", "sent", "dead"), message_id

    # -- the end ----------------------------------------------------------------------------------
    def sendbird_recovers(self) -> None:
        self.sendbird_answers("ok")
        self.out.sendbird.script.clear()  # no more kills
        run_idle(self.out.runtime)
        letters = {d["ref"]: d["reason"] for d in self.out.bridge.outbox.dead_letters() if d["kind"] == "webhook"}
        for message_id in self.accepted:
            row = self.out.bridge.outbox.webhook(message_id)
            if row.state == "sent":
                assert self.out.delivered(message_id) == 1, (message_id, self.out.delivered(message_id))
                [held] = [m for feed in self.out.feeds.values() for m in feed
                          if m["notification_data"]["template_variables"]["m"] == message_id]
                assert held["notification_id"] == row.notification_id
            else:
                assert row.state == "dead", (message_id, row.state)
                assert letters.get(message_id), f"{message_id} is dead without a reason"
                assert self.out.delivered(message_id) <= 1


RecoveryMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestRecovery = RecoveryMachine.TestCase
