"""Realtime sends share their outbox transactions (docs/bridge.md, "Realtime sends"): a send's claim takes the
queued webhooks behind it, sent ones are marked several to a commit, and none of that may lose, double or strand
a webhook: a pause gives back what was claimed ahead, and a restart finds the unmarked ones in the feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.service import REALTIME_SENDERS, REALTIME_SHARE

from .conftest import Crash, Outbound, webhook_body


def counted(out: Outbound, name: str) -> list[int]:
    """The sizes of each call of `out.bridge.outbox.<name>` from now on (its first argument's length)."""
    sizes: list[int] = []
    original = getattr(out.bridge.outbox, name)

    def spy(first, *args, **kwargs):
        sizes.append(len(first))
        return original(first, *args, **kwargs)

    setattr(out.bridge.outbox, name, spy)
    return sizes


def test_a_burst_of_realtime_webhooks_is_claimed_and_marked_a_share_at_a_time(out: Outbound):
    claims, marks = counted(out, "claim_realtime"), counted(out, "mark_each_sent")
    count = 2 * REALTIME_SHARE + 5
    for i in range(count):
        out.accept("realtime", webhook_body(f"m{i}", f"u{i}", variables={"m": f"m{i}"}))
    out.run()
    assert [out.delivered(f"m{i}") for i in range(count)] == [1] * count
    assert len(out.sendbird.calls) == count
    assert {out.state(f"m{i}") for i in range(count)} == {"sent"}
    assert sorted(e["properties"]["message_id"] for e in out.events()) == sorted(f"m{i}" for i in range(count))
    assert all(e["properties"]["status"] == "SENT" for e in out.events())
    # every claim asked for its own row and the queued ones behind it: three claims, not one per webhook
    assert claims == [REALTIME_SHARE, REALTIME_SHARE, 5]
    assert sum(marks) == count and max(marks) <= REALTIME_SHARE and len(marks) < count
    # the journal still says each send once, with its notification
    sent = out.journal("sendbird.sent")
    assert sorted(r["message_id"] for r in sent) == sorted(f"m{i}" for i in range(count))
    assert len({r["notification_id"] for r in sent}) == count


def test_a_lone_webhook_is_marked_without_waiting_for_others(out: Outbound):
    out.accept("realtime", webhook_body("m1", "ada"))
    out.run()
    assert out.state("m1") == "sent"
    assert [(e["properties"]["message_id"], e["properties"]["status"]) for e in out.events()] == [("m1", "SENT")]


def test_a_pause_gives_back_the_rows_claimed_ahead_with_their_attempt(out: Outbound):
    def pause_during_the_first_send(call):
        out.bridge.set_paused(True)
        return out._sendbird_ok(call)

    out.sendbird.then(pause_during_the_first_send)
    for i in range(4):
        out.accept("realtime", webhook_body(f"m{i}", f"u{i}", variables={"m": f"m{i}"}))
    out.run()  # one send: its claim took the three queued behind it, which the pause gave back
    assert len(out.sendbird.calls) == 1
    assert [out.state(f"m{i}") for i in range(4)] == ["sent", "pending", "pending", "pending"]
    assert [out.bridge.outbox.webhook(f"m{i}").attempts for i in range(4)] == [1, 0, 0, 0]
    out.bridge.set_paused(False)
    out.run()
    assert [out.delivered(f"m{i}") for i in range(4)] == [1, 1, 1, 1]
    assert {out.state(f"m{i}") for i in range(4)} == {"sent"}
    assert {out.bridge.outbox.webhook(f"m{i}").attempts for i in range(4)} == {1}


def test_sends_answered_but_not_yet_marked_when_the_process_dies_are_found_in_the_feed(make_outbound,
                                                                                      tmp_path: Path):
    out = make_outbound(db=str(tmp_path / "bridge.sqlite3"))

    def killed(*args, **kwargs):
        raise Crash("killed before the sends were marked")

    out.bridge.outbox.mark_each_sent = killed
    for i in range(3):
        out.accept("realtime", webhook_body(f"m{i}", f"u{i}", variables={"m": f"m{i}"}))
    with pytest.raises(Crash):
        out.run()
    assert [out.delivered(f"m{i}") for i in range(3)] == [1, 1, 1]
    assert {out.state(f"m{i}") for i in range(3)} == {"sending"}
    out.restart()
    out.run()
    assert {out.state(f"m{i}") for i in range(3)} == {"sent"}
    assert [out.delivered(f"m{i}") for i in range(3)] == [1, 1, 1] and len(out.sendbird.calls) == 3
    assert sorted(r["message_id"] for r in out.journal("recovery.delivered")) == ["m0", "m1", "m2"]
    assert sorted(e["properties"]["message_id"] for e in out.events()) == ["m0", "m1", "m2"]


def test_more_webhooks_than_one_sender_starts_no_more_than_the_senders_allowed(out: Outbound):
    started = []
    original = out.bridge.tasks.soon

    def counting(fn, *args, **kwargs):
        if kwargs.get("name") == "bridge.realtime":
            started.append(fn)
        return original(fn, *args, **kwargs)

    out.bridge.tasks.soon = counting
    for i in range(50):
        out.accept("realtime", webhook_body(f"m{i}", f"u{i}", variables={"m": f"m{i}"}))
    assert len(started) == REALTIME_SENDERS  # the 46 others joined the queue the running senders take from
    out.run()
    assert [out.delivered(f"m{i}") for i in range(50)] == [1] * 50
