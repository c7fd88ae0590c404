"""Sends, reads and template changes interleaved with snapshots, restores and resets, against a model: after a
restore the fake answers what the model held when that snapshot was taken, and message ids never repeat."""

from __future__ import annotations

import copy
import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from harness.runtime import Runtime
from tests.sendbird.conftest import FEED, Api, make_app

USERS = ("u1", "u2", "u3")
KEYS = ("welcome", "promo")


class SnapshotMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runtime = Runtime.simulation(seed=3)
        self.app = make_app(self.runtime)
        self.api = Api(self.app.test_client(), self.runtime)
        self.keeper = self.app.extensions["snapshots"]
        self.model = {"templates": set(), "messages": {u: 0 for u in USERS}, "unread": {u: 0 for u in USERS}}
        self.saved: list[tuple[bytes, dict]] = []
        self.seen_ids: set[int] = set()

    @rule(key=st.sampled_from(KEYS))
    def create_template(self, key: str) -> None:
        resp = self.api.post("/v1/templates", self.api.template_body(key))
        assert resp.status_code == (400 if key in self.model["templates"] else 200)
        self.model["templates"].add(key)

    @precondition(lambda self: self.model["templates"])
    @rule(users=st.lists(st.sampled_from(USERS), min_size=1, max_size=3, unique=True), data=st.data())
    def send(self, users: list[str], data) -> None:
        key = data.draw(st.sampled_from(sorted(self.model["templates"])))
        resp = self.api.send(users, key=key, mode="batch" if len(users) > 1 else "realtime")
        assert resp.status_code == 200, resp.get_json()
        for user in users:
            self.model["messages"][user] += 1
            self.model["unread"][user] += 1

    @rule(user=st.sampled_from(USERS))
    def read_all(self, user: str) -> None:
        if self.model["messages"][user]:
            assert self.api.mark_as_read(user).status_code == 200
            self.model["unread"][user] = 0

    @rule()
    def snapshot(self) -> None:
        self.saved.append((self.api.client.post("/_admin/snapshot").data, copy.deepcopy(self.model)))

    @precondition(lambda self: self.saved)
    @rule(data=st.data())
    def restore(self, data) -> None:
        blob, model = data.draw(st.sampled_from(self.saved))
        self.keeper.restore(blob)
        self.model = copy.deepcopy(model)

    @rule()
    def reset(self) -> None:
        assert self.api.client.post("/_admin/reset").status_code == 200
        self.model = {"templates": set(), "messages": {u: 0 for u in USERS}, "unread": {u: 0 for u in USERS}}

    @invariant()
    def matches_the_model(self) -> None:
        keys = {t["key"] for t in self.api.get("/v1/templates?limit=100").get_json()["templates"]}
        assert keys == self.model["templates"]
        for user in USERS:
            resp = self.api.client.get(f"/_admin/feeds/{user}/{FEED}")
            messages = resp.get_json()["messages"] if resp.status_code == 200 else []
            assert len(messages) == self.model["messages"][user]
            unread = sum(m["message_status"] != "READ" for m in messages)
            assert unread == self.model["unread"][user]

    @invariant()
    def message_ids_are_never_reused_for_another_message(self) -> None:
        service = self.app.extensions["sendbird"]
        for message in service.feeds.messages.values():
            self.seen_ids.add(message.message_id)
        with service._lock:
            upcoming = next(service._message_ids)
            service._message_ids = itertools.count(upcoming)
        assert upcoming > max(self.seen_ids, default=0)

    def teardown(self) -> None:
        self.runtime.close()


SnapshotMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25)
test_snapshots_against_a_model = SnapshotMachine.TestCase
