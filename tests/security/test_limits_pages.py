"""Listings are bounded in bytes as well as in count (docs/security.md, "Limits"): a feed page stops at its
byte budget and says there is more, and paging on from what it returned misses nothing; a journal page does
the same with its cursor."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clock import SimClock
from harness.journal import PAGE_BUDGET, Journal, parse_cursor
from mocks.sendbird.api import FEED_PAGE_BUDGET
from tests.security import limits_apps
from tests.security.limits_apps import JSON, SENDBIRD_AUTH, call

TEMPLATE = {"key": "promo", "name": "Promo", "ui_template": {"body": {"items": [{"type": "text", "text": "{name}"}]}}}
FEED = "/v3/group_channels/notifications_feed/messages"


def feed_of(count: int, variable_size: int):
    app = limits_apps.sendbird()
    runtime = app.extensions["runtime"]
    assert call(app, "POST", "/v1/templates", json.dumps(TEMPLATE).encode(), {**SENDBIRD_AUTH, **JSON}).status == 200
    for i in range(count):
        body = {"template": {"key": "promo", "variables": {"u1": {"name": f"{i}:" + "x" * variable_size}}},
                "mode": "realtime", "targets": ["u1"]}
        reply = call(app, "POST", "/v1/notifications", json.dumps(body).encode(), {**SENDBIRD_AUTH, **JSON})
        assert reply.status == 200, reply
        runtime.clock.advance(timedelta(seconds=1))
    return app


def page(app, **query):
    """A page anchored at the newest message unless `message_ts` says otherwise (an anchor is required)."""
    text = "&".join(f"{k}={v}" for k, v in {"user_id": "u1", "message_ts": 2**53 - 1, "next_limit": 0,
                                            **query}.items())
    return call(app, "GET", f"{FEED}?{text}", headers=SENDBIRD_AUTH)


def test_a_feed_page_of_large_messages_stops_at_its_byte_budget_and_says_there_is_more():
    app = feed_of(60, 30_000)
    reply = page(app, prev_limit=200)
    assert reply.status == 200
    size = len(json.dumps(reply.body))
    assert size <= FEED_PAGE_BUDGET + 100_000
    assert 0 < len(reply.body["messages"]) < 60
    assert reply.body["prev_hasmore"] is True and reply.body["next_hasmore"] is False


def test_paging_back_from_a_cut_page_reaches_every_message_once():
    app = feed_of(60, 30_000)
    seen: list[int] = []
    anchor = None
    while True:
        reply = page(app, prev_limit=200, **({"message_ts": anchor} if anchor is not None else {}))
        messages = reply.body["messages"]
        seen = [m["message_id"] for m in messages] + seen
        if not reply.body["prev_hasmore"]:
            break
        anchor = messages[0]["created_at"] - 1
    assert len(seen) == 60 and seen == sorted(set(seen))


def test_one_message_larger_than_the_budget_still_comes_back():
    app = feed_of(2, 30_000)
    from mocks.sendbird.device_api import feed_page_json

    listing = app.extensions["sendbird"].feeds.list_messages("notifications_feed", "u1", 10**15, 15, 0)
    body = json.loads(feed_page_json(listing, budget=10))
    assert len(body["messages"]) == 1 and body["prev_hasmore"] is True


def test_small_pages_are_cut_by_count_only_and_say_so():
    app = feed_of(5, 10)
    reply = page(app, prev_limit=3)
    assert len(reply.body["messages"]) == 3 and reply.body["prev_hasmore"] is True
    assert page(app, prev_limit=5).body["prev_hasmore"] is False


def journal_with(reason_sizes: list[int]) -> Journal:
    journal = Journal(SimClock())
    for i, size in enumerate(reason_sizes):
        journal.record("braze", "webhook.aborted", f"t{i}", reason="r" * size)
    return journal


def test_a_journal_page_of_huge_records_stops_near_its_byte_budget():
    journal = journal_with([1024 * 1024] * 40)
    first = journal.page(None, 10_000)
    assert 0 < len(first.records) < 40
    assert len(json.dumps(first.to_dict())) <= PAGE_BUDGET + 1024 * 1024 + 10_000


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.sampled_from([10, 1000, 3 * 1024 * 1024]), min_size=1, max_size=12))
def test_following_the_journal_page_by_page_reads_every_record_once(sizes):
    journal = journal_with(sizes)
    cursor, seqs = None, []
    for _ in range(len(sizes) + 1):
        got = journal.page(cursor, 10_000)
        if not got.records:
            break
        seqs += [r.seq for r in got.records]
        cursor = parse_cursor(got.cursor)
    assert seqs == list(range(1, len(sizes) + 1))


def test_a_braze_users_page_stops_at_its_byte_budget_and_paging_by_offset_reaches_everyone(monkeypatch):
    from mocks.braze.rest import admin_api

    monkeypatch.setattr(admin_api, "USERS_PAGE_BUDGET", 20_000)
    app = limits_apps.braze()
    attributes = [{"external_id": f"u{i}", **{f"a{k}": "x" * 250 for k in range(20)}} for i in range(30)]
    for start in range(0, 30, 10):
        body = json.dumps({"attributes": attributes[start:start + 10]}).encode()
        assert call(app, "POST", "/users/track", body, {**limits_apps.BRAZE_AUTH, **JSON}).status == 201
    first = call(app, "GET", "/_admin/users?limit=1000").body
    assert first["total"] == 30 and 0 < len(first["users"]) < 30
    seen, offset = [], 0
    while offset < 30:
        users = call(app, "GET", f"/_admin/users?offset={offset}&limit=1000").body["users"]
        seen += [u["external_id"] for u in users]
        offset += len(users)
    assert sorted(seen) == sorted(a["external_id"] for a in attributes)
