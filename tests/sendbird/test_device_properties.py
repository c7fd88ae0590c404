"""Properties of the device side: the anchored listing against a plain model of Sendbird's window, and a
stateful test of users and session keys through the HTTP API."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from harness.runtime import Runtime
from mocks.sendbird.feeds import FeedStore, Message
from mocks.sendbird.templates import TemplateVersion

from .conftest import AUTH, FEED, make_app

VERSION = TemplateVersion("t", 1, {}, (), frozenset())


def _feed(gaps: list[int]) -> tuple[FeedStore, list[Message]]:
    store = FeedStore()
    store.ensure_channel(FEED, 0)
    created, messages = 1000, []
    for i, gap in enumerate(gaps):
        created += gap  # gaps of 0: several messages in one millisecond
        messages.append(Message(i + 1, created, FEED, "u1", f"n{i}", VERSION, {}, None, [], f"t{i}"))
    store.ensure_user("u1", 0)
    store.deliver(messages, 0)
    return store, messages


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(0, 3), max_size=25), prev=st.integers(0, 30), nxt=st.integers(0, 30),
       include=st.booleans(), offset=st.integers(-2, 80))
def test_a_timestamp_window_is_sendbirds(gaps, prev, nxt, include, offset):
    store, messages = _feed(gaps)
    ts = 1000 + offset
    page = store.list_messages(FEED, "u1", ts, prev, nxt, include)
    before = [m for m in messages if m.created_at < ts or (include and m.created_at == ts)]
    after = [m for m in messages if m.created_at > ts]
    assert page.older == before[max(0, len(before) - prev):]
    assert page.newer == after[:nxt]
    assert page.more_older == (len(before) > prev) and page.more_newer == (len(after) > nxt)


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(0, 3), min_size=1, max_size=25), prev=st.integers(0, 30), nxt=st.integers(0, 30),
       include=st.booleans(), data=st.data())
def test_a_message_id_window_has_the_anchor_on_top_of_the_limits(gaps, prev, nxt, include, data):
    store, messages = _feed(gaps)
    at = data.draw(st.integers(0, len(messages) - 1))
    page = store.list_messages(FEED, "u1", 0, prev, nxt, include, messages[at].message_id)
    assert page.older == messages[max(0, at - prev):at] + ([messages[at]] if include else [])
    assert page.newer == messages[at + 1:at + 1 + nxt]


USERS = st.sampled_from(["ada", "bob", "cy"])


class UsersAndSessions(RuleBasedStateMachine):
    """Whatever the order of creations, deletions, logins and resets, a key works exactly while its user
    exists and no reset forgot it, and it always names the user it was issued to."""

    def __init__(self) -> None:
        super().__init__()
        self.runtime = Runtime.simulation(seed=3)
        self.client = make_app(self.runtime).test_client()
        self.users: set[str] = set()
        self.keys: dict[str, str] = {}  # key -> user, the keys that must work
        self.forgotten: set[str] = set()  # keys of deleted users or from before a reset: 400309

    def teardown(self) -> None:
        self.runtime.close()

    @rule(user=USERS)
    def create(self, user):
        resp = self.client.post("/v3/users", json={"user_id": user}, headers=AUTH)
        assert resp.status_code == (400 if user in self.users else 200)
        self.users.add(user)

    @rule(user=USERS)
    def delete(self, user):
        resp = self.client.delete(f"/v3/users/{user}", headers=AUTH)
        assert resp.status_code == (200 if user in self.users else 400)
        self.users.discard(user)
        self.forgotten |= {k for k, u in self.keys.items() if u == user}
        self.keys = {k: u for k, u in self.keys.items() if u != user}

    @rule(user=USERS)
    def login(self, user):
        resp = self.client.post(f"/v3/sdk/users/{user}/authentication", json={})
        assert resp.status_code == 200
        self.keys[resp.get_json()["key"]] = user
        self.users.add(user)  # a first login creates the user

    @rule()
    def reset(self):
        assert self.client.post("/_admin/reset", json={}).status_code == 200
        self.users.clear()
        self.forgotten |= set(self.keys)
        self.keys.clear()

    @invariant()
    def keys_name_their_users(self):
        for key, user in self.keys.items():
            resp = self.client.get(f"/v3/notifications/users/{user}/unread_message_count",
                                   headers={"Session-key": key})
            assert resp.status_code == 200, resp.get_json()
            other = next(u for u in ("ada", "bob", "cy") if u != user)
            refused = self.client.get(f"/v3/notifications/users/{other}/unread_message_count",
                                      headers={"Session-key": key})
            assert refused.get_json()["code"] == 400108
        for key in self.forgotten:
            resp = self.client.get(f"/v3/sdk/group_channels/{FEED}", headers={"Session-key": key})
            assert resp.get_json()["code"] == 400309
        for user in ("ada", "bob", "cy"):
            resp = self.client.get(f"/v3/users/{user}", headers=AUTH)
            assert resp.status_code == (200 if user in self.users else 400)


UsersAndSessions.TestCase.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
test_users_and_sessions = UsersAndSessions.TestCase
