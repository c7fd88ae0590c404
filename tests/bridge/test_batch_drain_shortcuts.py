"""The batch drain's shortcuts (issue 17) give what the long way gave.

- The SENT/READ events leave as the JSON the outbox stored: the body posted to /users/track is byte for byte what
  `json.dumps({"events": [...]})` wrote before, for any event.
- A send's size is first bounded by the stored bodies' length; whatever the variables, the number of rows a send
  takes is the one the exact count (each row's variables as compact JSON) gives.
- A batch claim reads its group from the queue index in send order, so it reads only what it takes; an outbox file
  written before the index gains it when it is opened.
"""

from __future__ import annotations

import json
import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.models import json_size
from bridge.outbox import CallbackRow, Outbox, WebhookRow
from bridge.service import track_body, within_budget

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=8)
EVENTS = st.fixed_dictionaries({"external_id": TEXT, "name": TEXT, "time": TEXT,
                                "properties": st.dictionaries(TEXT, JSON_VALUES, max_size=4)})


@given(events=st.lists(EVENTS, max_size=6))
def test_the_posted_body_is_what_encoding_the_events_wrote(events):
    batch = [CallbackRow.of(f"m{i}", "SENT", e["external_id"], e, None) for i, e in enumerate(events)]
    body = track_body(batch)
    assert body == json.dumps({"events": events}).encode()
    assert json.loads(body) == {"events": events}
    assert [c.event for c in batch] == events


def _exact(rows: list[WebhookRow], budget: int) -> int:
    """The count within_budget gave before the stored-length bound: every row's variables measured."""
    size = 0
    for count, row in enumerate(rows):
        size += json_size(row.body.get("variables", {})) + 2 * len(row.receiver) + 8
        if size > budget and count:
            return count
    return len(rows)


@settings(max_examples=60, deadline=None)
@given(variables=st.lists(st.dictionaries(TEXT, JSON_VALUES, max_size=4), min_size=1, max_size=8),
       budget=st.integers(0, 600), stored=st.booleans())
def test_a_send_takes_the_rows_the_exact_count_gives(tmp_path_factory, variables, budget, stored):
    outbox = Outbox(tmp_path_factory.mktemp("budget") / "o.sqlite3")
    try:
        for i, values in enumerate(variables):
            body = {"template_key": "t", "variables": values, "event_name": "e"}
            outbox.accept(f"m{i}", "batch", body, f"r{i}", "g", None, float(i), {})
        rows = outbox.claim_group("g", 100, 1e9)
        if not stored:  # rows made elsewhere, without a stored length: the exact count alone
            rows = [WebhookRow(r.message_id, r.mode, r.body, r.receiver, r.group_key, r.trace_id, r.received_at,
                               r.state, r.attempts, r.sending_since, r.notification_id) for r in rows]
        assert len(rows) == len(variables)
        assert within_budget(rows, budget) == _exact(rows, budget)
        assert all(r.body_chars >= json_size(r.body["variables"]) for r in rows) or not stored
    finally:
        outbox.close()


def test_a_claim_reads_the_group_from_the_queue_index(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    try:
        plan = outbox._db.execute(
            "EXPLAIN QUERY PLAN SELECT message_id FROM webhooks INDEXED BY webhooks_batch_queue WHERE state ="
            " 'pending' AND mode = 'batch' AND group_key = ? AND next_attempt_at <= ? ORDER BY received_at,"
            " message_id", ("g", 1.0)).fetchall()
        assert not any("TEMP B-TREE" in step[3] for step in plan), plan  # no sort of the whole group
        for i in range(30):
            outbox.accept(f"m{i:02}", "batch", {"variables": {}}, f"r{i % 10}", "g", None, float(30 - i), {})
        first = outbox.claim_group("g", 5, 100.0)
        # oldest first (m29 was received first), one per receiver
        assert [r.message_id for r in first] == ["m29", "m28", "m27", "m26", "m25"]
        second = outbox.claim_group("g", 20, 100.0)
        # each receiver once a claim: the next ten in order, then a third claim for the ten after them
        assert [r.message_id for r in second] == [f"m{i}" for i in range(24, 14, -1)]
        assert [r.message_id for r in outbox.claim_group("g", 20, 100.0)] == [f"m{i:02}" for i in range(14, 4, -1)]
    finally:
        outbox.close()


def test_an_outbox_written_before_the_queue_index_gains_it(tmp_path):
    path = tmp_path / "o.sqlite3"
    Outbox(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX webhooks_batch_queue")
    db.commit()
    db.close()
    outbox = Outbox(path)
    try:
        names = {r[0] for r in outbox._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "webhooks_batch_queue" in names
    finally:
        outbox.close()
